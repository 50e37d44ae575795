"""GridSample (opsets 16 and 20+): the registry's grid_sample. Opset 16 names the modes
bilinear/bicubic and allows 4-D input only; 20 renamed them linear/cubic and went N-D."""
from __future__ import annotations

from ..registry import converter

_MODES = {"bilinear": "linear", "bicubic": "cubic", "linear": "linear", "cubic": "cubic",
          "nearest": "nearest"}


@converter("GridSample", since=16)
def grid_sample(ctx, node):
    mode = ctx.attr_str("mode", "linear" if ctx.opset >= 20 else "bilinear")
    if mode not in _MODES:
        raise ctx.fail(f"mode {mode!r} is not supported (nearest, linear/bilinear, cubic/bicubic)")
    pad = ctx.attr_str("padding_mode", "zeros")
    if pad not in ("zeros", "border", "reflection"):
        raise ctx.fail(f"padding_mode {pad!r} is not supported")
    x, grid = ctx.input(0), ctx.input(1)
    if ctx.type(grid).dtype != ctx.type(x).dtype:
        grid = ctx.emit("cast", grid, dtype=ctx.type(x).dtype)
    return ctx.emit("grid_sample", x, grid, mode=_MODES[mode], padding_mode=pad,
                    align_corners=bool(ctx.attr("align_corners", 0)))
