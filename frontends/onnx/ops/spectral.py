"""DFT as matrix products with cos/sin constants (the signal length must be static).

x is (..., L, ..., 1) real or (..., L, ..., 2) complex, the transform runs along `axis`.
With n = dft_length (or L): the input is cut to min(L, n) samples (zero padding adds nothing
to the sums), and Y[k] = sum_j x[j] exp(s 2 pi i j k / n), s = -1 forward, +1 inverse (then
scaled by 1/n). onesided keeps k <= n/2 forward; inverse onesided (irfft) reads the n/2+1
bins as a Hermitian spectrum and returns the real signal. O(n^2), summed in float64.
A run-time axis is resolved from the declared output shape, or each candidate is computed
and the one the input names is picked at run time.
"""
from __future__ import annotations

import numpy as np

from aot.ir import DType

from ..registry import converter


def _along(ctx, x, axis: int, n_opt, inverse: bool, onesided: bool):
    t = ctx.type(x)
    r = t.rank
    length = t.shape[axis]
    if not isinstance(length, int):
        raise ctx.fail(f"the signal dim (axis {axis}) must be static, got {t}")
    ft = t.dtype
    complex_in = t.shape[-1] == 2
    re = ctx.emit("squeeze", ctx.emit("slice", x, starts=(0,), ends=(1,), axes=(r - 1,)), axes=(r - 1,))
    im = (ctx.emit("squeeze", ctx.emit("slice", x, starts=(1,), ends=(2,), axes=(r - 1,)), axes=(r - 1,))
          if complex_in else None)
    if inverse and onesided:
        n = n_opt or 2 * (length - 1)
    else:
        n = n_opt or length
    m = min(length, n) if not (inverse and onesided) else min(length, n // 2 + 1)
    perm = tuple(d for d in range(r - 1) if d != axis) + (axis,)
    back = tuple(np.argsort(perm))

    def prep(v):
        v = ctx.emit("slice", v, starts=(0,), ends=(m,), axes=(axis,)) if m < length else v
        return ctx.emit("cast", ctx.emit("transpose", v, perm=perm), dtype=DType.float64)

    def done(v):  # sums run in float64: a zero bin stays ~1e-14, not float32's ~1e-6
        return ctx.emit("cast", ctx.emit("transpose", v, perm=back), dtype=ft)

    re = prep(re)
    im = prep(im) if im is not None else None
    j = np.arange(m, dtype=np.float64)[:, None]
    if inverse and onesided:
        k = np.arange(n, dtype=np.float64)[None, :]
        theta = 2 * np.pi * ((j * k) % n) / n
        w = np.full((m, 1), 2.0)
        w[0] = 1.0
        if n % 2 == 0 and m > n // 2:
            w[n // 2] = 1.0
        cw, sw = w * np.cos(theta) / n, w * np.sin(theta) / n
        y = ctx.emit("matmul", re, cw)
        if im is not None:
            y = ctx.emit("subtract", y, ctx.emit("matmul", im, sw))
        return ctx.emit("expand_dims", done(y), axes=(r - 1,))
    kk = n // 2 + 1 if (onesided and not inverse) else n
    k = np.arange(kk, dtype=np.float64)[None, :]
    theta = 2 * np.pi * ((j * k) % n) / n
    scale = 1.0 / n if inverse else 1.0
    s = 1.0 if inverse else -1.0
    c, sn = np.cos(theta) * scale, s * np.sin(theta) * scale
    y_re = ctx.emit("matmul", re, c)
    y_im = ctx.emit("matmul", re, sn)
    if im is not None:
        y_re = ctx.emit("subtract", y_re, ctx.emit("matmul", im, sn))
        y_im = ctx.emit("add", y_im, ctx.emit("matmul", im, c))
    parts = [ctx.emit("expand_dims", done(p), axes=(r - 1,)) for p in (y_re, y_im)]
    return ctx.emit("concat", *parts, axis=r - 1)


@converter("DFT", since=17)
def dft(ctx, node):
    x = ctx.input(0)
    r = ctx.type(x).rank
    if not ctx.type(x).dtype.is_float:
        raise ctx.fail(f"input must be float, got {ctx.type(x)}")
    n_opt = None
    if ctx.has_input(1):
        n_opt = int(np.asarray(ctx.const(1, "dft_length")).reshape(-1)[0])
    inverse, onesided = bool(ctx.attr("inverse", 0)), bool(ctx.attr("onesided", 0))

    def run(a):
        return _along(ctx, x, a, n_opt, inverse, onesided)

    if ctx.opset < 20:
        return run(ctx.attr("axis", 1) % r)
    if ctx.is_const(2):
        a = -2 if not ctx.has_input(2) else int(np.asarray(ctx.const(2, "axis")).reshape(-1)[0])
        return run(a % r)
    cands = list(range(r - 1))
    declared = ctx.declared_shape(0)
    outs = {a: run(a) for a in cands}
    if declared is not None:
        fits = [a for a in cands if tuple(ctx.type(outs[a]).shape) == tuple(declared)]
        cands = fits or cands
    axis = ctx.emit("reshape", ctx.emit("cast", ctx.input(2), dtype=DType.int64), shape=())
    axis = ctx.emit("where", ctx.emit("less", axis, np.int64(0)), ctx.emit("add", axis, np.int64(r)), axis)
    shapes = {tuple(ctx.type(outs[a]).shape) for a in cands}
    if len(shapes) != 1:
        raise ctx.fail("the axis input is run-time data and the candidate axes give different "
                       "output shapes; the output shape must be fixed when compiling")
    out = outs[cands[-1]]
    for a in reversed(cands[:-1]):
        out = ctx.emit("where", ctx.emit("equal", axis, np.int64(a)), outs[a], out)
    return out
