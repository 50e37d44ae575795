"""BitCast: the registry's bitcast (same-width reinterpretation)."""
from __future__ import annotations

from ..registry import converter


@converter("BitCast")
def bitcast(ctx, node):
    from ..importer import onnx_dtype

    to = onnx_dtype(ctx.attr("to"), f"BitCast node {node.name!r}")
    x = ctx.input(0)
    if ctx.type(x).dtype.itemsize != to.itemsize:
        raise ctx.fail(f"BitCast from {ctx.type(x).dtype.short} to {to.short}: widths differ")
    return ctx.emit("bitcast", x, dtype=to)
