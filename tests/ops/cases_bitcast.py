"""bitcast cases: float <-> int of each width, signedness flips, bool <-> uint8, a scalar."""
import numpy as np

from .harness import OpCase


CASES = [
    OpCase("bitcast", [((3, 4), "float32")], {"dtype": "int32"}, id="f32-i32", grad=False),
    OpCase("bitcast", [np.array([1.5, -2.25, 1e300, 0.0, -3e-310]).view(np.int64)], {"dtype": "float64"},
           id="i64-f64", rtol=0, atol=0, grad=False),
    OpCase("bitcast", [((2, 3), "float16")], {"dtype": "uint16"}, id="f16-u16", grad=False),
    OpCase("bitcast", [np.array([-128, -1, 0, 7, 127], np.int8)], {"dtype": "uint8"}, id="i8-u8", grad=False),
    OpCase("bitcast", [np.array([[0, 65535, 32768]], np.uint16)], {"dtype": "int16"}, id="u16-i16", grad=False),
    OpCase("bitcast", [np.array([True, False, True])], {"dtype": "uint8"}, id="b-u8", grad=False),
    OpCase("bitcast", [np.array([0, 1, 1, 0], np.uint8)], {"dtype": "bool"}, id="u8-b", grad=False),
    OpCase("bitcast", [np.array(1.5, np.float32)], {"dtype": "uint32"}, id="scalar", grad=False),
]
