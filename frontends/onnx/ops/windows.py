"""HannWindow, HammingWindow, BlackmanWindow. Their only input is the window length; the
output's declared length is that length in a valid model, so a run-time size still gives a
fixed shape, and the window itself is then a constant computed here (float64, then cast)."""
from __future__ import annotations

import numpy as np

from ..registry import converter


def _length(ctx) -> int:
    if ctx.is_const(0):
        return int(np.asarray(ctx.const(0)).reshape(-1)[0])
    declared = ctx.declared_shape()
    if declared is None:
        raise ctx.fail("the window size is run-time data and the output length is not declared")
    return int(declared[0])


def _window(coeffs):
    def convert(ctx, node):
        from ..importer import onnx_dtype

        n = _length(ctx)
        denom = n if ctx.attr("periodic", 1) else n - 1
        k = np.arange(n, dtype=np.float64)
        w = np.zeros(n)
        for j, a in enumerate(coeffs):
            w += a * np.cos(2 * np.pi * j * k / denom) if j else a
        dt = onnx_dtype(ctx.attr("output_datatype", 1), f"{node.op_type} output_datatype")
        return w.astype(dt.numpy)
    return convert


converter("HannWindow", since=17)(_window((0.5, -0.5)))
converter("HammingWindow", since=17)(_window((25 / 46, -21 / 46)))
converter("BlackmanWindow", since=17)(_window((0.42, -0.5, 0.08)))
