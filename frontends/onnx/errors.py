"""The one error the ONNX frontend raises for bad or unsupported input: one line."""


class ONNXImportError(ValueError):
    """The model cannot be imported: malformed, unsupported, or inconsistent. One line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def node_label(node) -> str:
    """`Conv node 'conv1'` (or `Conv node #3` for unnamed nodes): how errors name a node."""
    return f"{node.op_type} node {node.name!r}" if node.name else f"{node.op_type} node"
