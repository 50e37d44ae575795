"""Pad and Slice whose pads / starts / steps / axes are run-time data, as gathers.

Shapes in our IR are fixed when compiling, so the output shape must be declared (or found by
onnx's shape inference); the offsets need not be: each dim's source index vector
(arange(out_len) shifted by the run-time begin, stepped for Slice, folded for reflect/wrap,
clamped for edge) is computed at run time and one `take` per dim gathers it. Constant pads
outside the source are filled by a mask. The same path serves constant pads that the `pad`
op cannot (negative pads, wrap mode), where the begins are plain numbers.
"""
from __future__ import annotations

import numpy as np

from aot.ir import DType

I64 = np.int64


def _i64(ctx, t):
    if isinstance(t, np.ndarray):
        return t.astype(I64)
    return t if ctx.type(t).dtype == DType.int64 else ctx.emit("cast", t, dtype=DType.int64)


def _norm_axes(ctx, axes, r: int):
    """Axes (a constant tuple or a run-time int vector) made non-negative."""
    if axes is None or isinstance(axes, tuple):
        return None if axes is None else tuple(a % r for a in axes)
    a = _i64(ctx, axes)
    return ctx.emit("where", ctx.emit("less", a, I64(0)), ctx.emit("add", a, I64(r)), a)


def per_dim(ctx, vec, axes, d: int, default: int, offset: int = 0):
    """vec[k + offset] for the k with axes[k] == d (default where none): an int64 scalar."""
    vec = _i64(ctx, vec)
    m = ctx.type(vec).shape[0] - offset if axes is None else None
    if axes is None:
        axes = tuple(range(m))
    if isinstance(axes, tuple):
        if d not in axes:
            return I64(default)
        return ctx.emit("take", vec, np.asarray(axes.index(d) + offset, I64), axis=0)
    n = ctx.type(axes).shape[0]
    part = ctx.emit("slice", vec, starts=(offset,), ends=(offset + n,), axes=(0,)) if (
        offset or ctx.type(vec).shape[0] != n) else vec
    hit = ctx.emit("cast", ctx.emit("equal", axes, I64(d)), dtype=DType.int64)
    got = ctx.emit("sum", ctx.emit("multiply", hit, part), axes=None, keepdims=False)
    if default == 0:
        return got
    none = ctx.emit("equal", ctx.emit("sum", hit, axes=None, keepdims=False), I64(0))
    return ctx.emit("where", none, I64(default), got)


def _out_shape(ctx, what: str):
    shape = ctx.declared_shape(0)
    if shape is None:
        raise ctx.fail(f"{what} are run-time data and the output shape is not declared; "
                       "shapes in our IR are fixed when compiling")
    return tuple(shape)


def _static_in(ctx, x):
    t = ctx.type(x)
    if not t.is_static:
        raise ctx.fail(f"run-time offsets need a static input shape, got {t}")
    return t.shape


def pad_gather(ctx, x, pads, axes, mode: str, value):
    """Pad with run-time (or negative, or wrap-mode) pads. pads: [begins..., ends...] over
    `axes` (all dims when None); value: a number or a run-time scalar."""
    shape = _static_in(ctx, x)
    r = len(shape)
    if mode not in ("constant", "reflect", "edge", "wrap"):
        raise ctx.fail(f"pad mode {mode!r} is not supported (constant, reflect, edge, wrap)")
    axes = _norm_axes(ctx, axes, r)
    if isinstance(pads, np.ndarray) and not isinstance(axes, np.ndarray) and (
            axes is None or isinstance(axes, tuple)):
        ax = tuple(range(r)) if axes is None else axes
        full = [0] * (2 * r)
        for k, a in enumerate(ax):
            full[a], full[a + r] = int(pads[k]), int(pads[k + len(ax)])
        out_shape = tuple(shape[d] + full[d] + full[d + r] for d in range(r))
    else:
        out_shape = _out_shape(ctx, "pads")
    dims = range(r) if not isinstance(axes, tuple) else sorted(set(axes))
    valid = None
    for d in dims:
        begin = per_dim(ctx, pads, axes, d, 0)
        n, size = out_shape[d], shape[d]
        src = ctx.emit("subtract", np.arange(n, dtype=I64), begin)
        if mode == "constant":
            ok = ctx.emit("logical_and", ctx.emit("greater_equal", src, I64(0)), ctx.emit("less", src, I64(size)))
            shp = [1] * r
            shp[d] = n
            ok = ctx.emit("reshape", ok, shape=tuple(shp))
            valid = ok if valid is None else ctx.emit("logical_and", valid, ok)
            idx = _clamp(ctx, src, 0, size - 1)
        elif mode == "edge":
            idx = _clamp(ctx, src, 0, size - 1)
        elif mode == "wrap":
            idx = ctx.emit("mod", src, I64(size))
        else:
            period = max(2 * (size - 1), 1)
            m = ctx.emit("mod", src, I64(period))
            idx = ctx.emit("where", ctx.emit("greater_equal", m, I64(size)), ctx.emit("subtract", I64(period), m), m)
        x = ctx.emit("take", x, idx, axis=d)
    if valid is not None:
        fill = value if not isinstance(value, (int, float)) else np.asarray(value, ctx.type(x).dtype.numpy)
        if not isinstance(fill, np.ndarray) and ctx.type(fill).dtype != ctx.type(x).dtype:
            fill = ctx.emit("cast", fill, dtype=ctx.type(x).dtype)
        if not isinstance(fill, np.ndarray) and ctx.type(fill).rank:
            fill = ctx.emit("reshape", fill, shape=())
        x = ctx.emit("where", valid, x, fill)
    return x


def _clamp(ctx, v, lo, hi):
    return ctx.emit("minimum", ctx.emit("maximum", v, I64(lo)), I64(hi))


def slice_gather(ctx, x, starts, axes, steps):
    """Slice with run-time starts/steps/axes; the declared output shape gives the lengths."""
    shape = _static_in(ctx, x)
    r = len(shape)
    out_shape = _out_shape(ctx, "starts/ends")
    axes = _norm_axes(ctx, axes, r)
    dims = range(r) if not isinstance(axes, tuple) else sorted(set(axes))
    for d in dims:
        size, n = shape[d], out_shape[d]
        s = per_dim(ctx, starts, axes, d, 0)
        step = I64(1) if steps is None else per_dim(ctx, steps, axes, d, 1)
        s = ctx.emit("where", ctx.emit("less", s, I64(0)), ctx.emit("add", s, I64(size)), s)
        hi = ctx.emit("where", ctx.emit("greater", step, I64(0)), I64(size), I64(size - 1))
        s = ctx.emit("minimum", ctx.emit("maximum", s, I64(0)), hi)
        idx = ctx.emit("add", s, ctx.emit("multiply", np.arange(n, dtype=I64), step))
        x = ctx.emit("take", x, _clamp(ctx, idx, 0, max(size - 1, 0)), axis=d)
    return x


def center_crop_pad(ctx, node):
    """CenterCropPad: the target sizes are the output's declared dims (its `shape` input may be
    run-time data; a valid model's output has exactly those sizes), so crops and pads are static."""
    x = ctx.input(0)
    shape = _static_in(ctx, x)
    r = len(shape)
    if ctx.is_const(1):
        target = [int(v) for v in np.asarray(ctx.const(1)).reshape(-1)]
    else:
        declared = _out_shape(ctx, "the target shape")
        target = None
    axes = [a % r for a in (ctx.attr("axes") or range(r))]
    pads = [0] * (2 * r)
    for k, a in enumerate(axes):
        t, dim = (target[k] if target is not None else declared[a]), shape[a]
        if t < dim:
            start = (dim - t) // 2
            x = ctx.emit("slice", x, starts=(start,), ends=(start + t,), axes=(a,))
        elif t > dim:
            pads[a] = (t - dim) // 2
            pads[a + r] = t - dim - pads[a]
    if any(pads):
        x = ctx.emit("pad", x, pads=tuple(pads), mode="constant", value=0.0)
    return x
