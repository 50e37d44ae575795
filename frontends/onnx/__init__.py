"""ONNX in and out: `import_onnx(path_or_model) -> Graph` and `export_onnx(model_or_graph, path)`.

The importer converts each ONNX node with a converter registered per (op type, since
opset) in `ops/`; the exporter writes our IR back as standard ONNX ops.
"""
from .errors import ONNXImportError
from .importer import import_onnx
from .exporter import export_onnx
from .registry import supported_ops

__all__ = ["ONNXImportError", "import_onnx", "export_onnx", "supported_ops"]
