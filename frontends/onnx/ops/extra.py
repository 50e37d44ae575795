"""Ops backed by the newer registry families: bitwise, Einsum, Trilu, TopK, GatherND,
Resize/Upsample (run-time-free forms: K, scales and sizes must be known at import)."""
from __future__ import annotations

import numpy as np

from ..registry import converter

for _onnx, _op in (("BitwiseAnd", "bitwise_and"), ("BitwiseOr", "bitwise_or"),
                   ("BitwiseXor", "bitwise_xor")):
    converter(_onnx, since=18)(lambda ctx, node, _op=_op: ctx.emit(_op, ctx.input(0), ctx.input(1)))


@converter("BitwiseNot", since=18)
def bitwise_not(ctx, node):
    return ctx.emit("bitwise_not", ctx.input(0))


@converter("BitShift", since=11)
def bit_shift(ctx, node):
    op = "left_shift" if ctx.attr_str("direction") == "LEFT" else "right_shift"
    return ctx.emit(op, ctx.input(0), ctx.input(1))


@converter("Einsum", since=12)
def einsum(ctx, node):
    return ctx.emit("einsum", *[t for t in ctx.inputs() if t is not None],
                    equation=ctx.attr_str("equation"))


def _trilu_runtime(ctx, x, k, upper: bool):
    """Trilu with k known only at run time: a mask from (col - row) compared with k."""
    n, m = ctx.type(x).shape[-2:]
    if not (isinstance(n, int) and isinstance(m, int)):
        raise ctx.fail(f"Trilu with a run-time k needs static matrix dims, got {ctx.type(x)}")
    diff = np.arange(m, dtype=np.int64)[None, :] - np.arange(n, dtype=np.int64)[:, None]
    k = ctx.emit("reshape", ctx.emit("cast", k, dtype="int64"), shape=())
    keep = ctx.emit("greater_equal" if upper else "less_equal", diff, k)
    zero = np.zeros((), ctx.type(x).dtype.numpy)
    return ctx.emit("where", keep, x, zero)


@converter("Trilu", since=14)
def trilu(ctx, node):
    if ctx.has_input(1) and not ctx.is_const(1):
        return _trilu_runtime(ctx, ctx.input(0), ctx.input(1), bool(ctx.attr("upper", 1)))
    k = ctx.const(1, "k")
    k = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
    return ctx.emit("trilu", ctx.input(0), upper=bool(ctx.attr("upper", 1)), k=k)


@converter("TopK", since=10)
def topk(ctx, node):
    shape, axis = ctx.declared_shape(), ctx.attr("axis", -1)
    if not ctx.is_const(1) and shape is not None:  # K from the declared output shape
        return ctx.emit("topk", ctx.input(0), k=shape[axis], axis=axis,
                        largest=bool(ctx.attr("largest", 1)))
    k = ctx.const(1, "K")
    if k is None:
        raise ctx.fail("K is required")
    return ctx.emit("topk", ctx.input(0), k=int(np.asarray(k).reshape(-1)[0]),
                    axis=ctx.attr("axis", -1), largest=bool(ctx.attr("largest", 1)))


@converter("TopK")
def topk_attr(ctx, node):
    return ctx.emit("topk", ctx.input(0), k=ctx.attr("k"), axis=ctx.attr("axis", -1))


@converter("GatherND", since=11)
def gather_nd(ctx, node):
    return ctx.emit("gather_nd", ctx.input(0), ctx.input(1), batch_dims=ctx.attr("batch_dims", 0))


def _resize(ctx, x, roi, scales, sizes, attrs):
    t = ctx.type(x)
    r = t.rank
    axes = tuple(ctx.attr("axes") or range(r))
    axes = tuple(a % r for a in axes)
    dims = [t.shape[a] for a in axes]
    if not all(isinstance(d, int) for d in dims):
        raise ctx.fail(f"resized dims must be static, got {t}")
    if sizes is not None and len(sizes):
        sizes = [int(s) for s in sizes]
        sc = [s / n for s, n in zip(sizes, dims)]
        policy = ctx.attr_str("keep_aspect_ratio_policy", "stretch")
        if policy in ("not_larger", "not_smaller"):
            s = min(sc) if policy == "not_larger" else max(sc)
            sc = [s] * len(axes)
            sizes = [int(s * n + 0.5) for n in dims]
    elif scales is not None and len(scales):
        sc = [float(np.float32(v)) for v in scales]
        sizes = [int(s * n) for s, n in zip(sc, dims)]
    else:
        raise ctx.fail("needs scales or sizes")
    mode = attrs.get("mode", "nearest")
    cmode = attrs.get("coordinate_transformation_mode", "half_pixel")
    roi_attr = None
    if cmode == "tf_crop_and_resize" and roi is not None and len(roi):
        roi = [float(v) for v in np.asarray(roi).reshape(-1)]
        if len(roi) == 2 * r and len(axes) != r:
            roi = [roi[a] for a in axes] + [roi[r + a] for a in axes]
        roi_attr = tuple(roi)
    extra = {k: v for k, v in attrs.items() if k not in ("mode", "coordinate_transformation_mode")}
    return ctx.emit("resize", x, sizes=tuple(sizes), axes=axes, scales=tuple(sc), mode=mode,
                    coordinate_transformation_mode=cmode, roi=roi_attr, **extra)


def _resize_attrs(ctx):
    a = {"mode": ctx.attr_str("mode", "nearest"),
         "coordinate_transformation_mode": ctx.attr_str("coordinate_transformation_mode",
                                                        "half_pixel"),
         "nearest_mode": ctx.attr_str("nearest_mode", "round_prefer_floor"),
         "cubic_coeff_a": ctx.attr("cubic_coeff_a", -0.75),
         "exclude_outside": bool(ctx.attr("exclude_outside", 0)),
         "extrapolation_value": ctx.attr("extrapolation_value", 0.0),
         "antialias": bool(ctx.attr("antialias", 0))}
    return a


@converter("Resize", since=11)
def resize(ctx, node):
    sizes = None
    if ctx.has_input(3) and not ctx.is_const(3) and ctx.declared_shape() is not None:
        shape, r = ctx.declared_shape(), ctx.type(ctx.input(0)).rank
        sizes = [shape[a % r] for a in (ctx.attr("axes") or range(r))]
    elif ctx.has_input(3):
        sizes = ctx.const(3, "sizes")
    roi = ctx.const(1, "roi") if ctx.attr_str("coordinate_transformation_mode") == \
        "tf_crop_and_resize" else None
    scales = ctx.const(2, "scales") if sizes is None or not len(sizes) else None
    return _resize(ctx, ctx.input(0), roi, scales, sizes, _resize_attrs(ctx))


@converter("Resize", since=10)
def resize10(ctx, node):
    a = _resize_attrs(ctx)
    a["coordinate_transformation_mode"] = "asymmetric"
    a["nearest_mode"] = "floor"
    return _resize(ctx, ctx.input(0), None, ctx.const(1, "scales"), None, a)


@converter("Upsample", since=9)
def upsample(ctx, node):
    a = {"mode": "linear" if ctx.attr_str("mode", "nearest") in ("linear", "bilinear") else "nearest",
         "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    return _resize(ctx, ctx.input(0), None, ctx.const(1, "scales"), None, a)
