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


@converter("AffineGrid", since=20)
def affine_grid(ctx, node):
    """theta (N, k, k+1) applied to the normalised base grid [x, y(, z), 1]. The spatial size
    comes from `size`, or from the declared output shape when `size` is run-time data."""
    import numpy as np

    theta = ctx.input(0)
    tt = ctx.type(theta)
    k = tt.shape[1]
    if ctx.is_const(1):
        spatial = tuple(int(v) for v in np.asarray(ctx.const(1)).reshape(-1)[2:])
    else:
        declared = ctx.declared_shape()
        if declared is None:
            raise ctx.fail("size is run-time data and the output shape is not declared")
        spatial = tuple(declared[1:-1])
    if len(spatial) != k or k not in (2, 3):
        raise ctx.fail(f"theta {tt} does not fit a {len(spatial)}-D size")
    align = bool(ctx.attr("align_corners", 0))

    def axis(n):
        if align:
            return np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
        return -1.0 + (2 * np.arange(n) + 1) / n

    mesh = np.meshgrid(*[axis(n) for n in spatial], indexing="ij")  # D/H first ... W last
    coords = [m.reshape(-1) for m in reversed(mesh)]  # x (W) first, as onnx
    base = np.stack(coords + [np.ones(coords[0].shape)], axis=0).astype(tt.dtype.numpy)  # (k+1, P)
    y = ctx.emit("matmul", theta, base)  # (N, k, P)
    y = ctx.emit("transpose", y, perm=(0, 2, 1))
    return ctx.emit("reshape", y, shape=(-1,) + spatial + (k,))
