"""arange cases: ONNX's examples (float up, int32 down), a length that rounds up, an empty
range, float16 and int64."""
from .harness import OpCase

CASES = [
    OpCase("arange", [], dict(start=1.0, limit=5.0, delta=2.0), id="onnx-float"),
    OpCase("arange", [], dict(start=10, limit=6, delta=-3, dtype="int32"), id="onnx-int32-down"),
    OpCase("arange", [], dict(start=0.1, limit=1.0, delta=0.3, dtype="float64"), id="rounds-up"),
    OpCase("arange", [], dict(start=5, limit=1, delta=1, dtype="int64"), id="empty"),
    OpCase("arange", [], dict(start=-2.5, limit=4.0, delta=0.75, dtype="float16"), id="f16"),
    OpCase("arange", [], dict(start=-3, limit=40, delta=7, dtype="int64"), id="int64"),
]
