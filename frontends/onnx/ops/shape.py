"""Shape ops: Shape, Size, Reshape, Flatten, Transpose, Squeeze/Unsqueeze, Concat, Split,
Slice, Gather*, Expand, Tile, Pad, Constant*, Range, Trilu, OneHot, DepthToSpace...

Attributes that became inputs over the opsets (Reshape shape, Slice starts/ends,
Squeeze/Unsqueeze axes, Split sizes, Pad pads) have one converter per form; the
inputs must be known at import time.
"""
from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from aot.ir.dims import prod as dim_prod

from ..registry import converter
from .common import norm_axis, scalar, static_size


@converter("Constant")
def constant(ctx, node):
    for a in node.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name == "value_float":
            return np.asarray(a.f, np.float32)
        if a.name == "value_floats":
            return np.asarray(list(a.floats), np.float32)
        if a.name == "value_int":
            return np.asarray(a.i, np.int64)
        if a.name == "value_ints":
            return np.asarray(list(a.ints), np.int64)
    raise ctx.fail("only tensor, float(s) and int(s) values are supported")


@converter("Shape")
def shape(ctx, node):
    dims = list(ctx.type(ctx.input(0)).shape)
    r = len(dims)
    start, end = ctx.attr("start", 0), ctx.attr("end", r)
    dims = dims[slice(start, end)]
    if all(isinstance(d, int) for d in dims):
        return np.asarray(dims, dtype=np.int64)
    return np.asarray(dims, dtype=object)


@converter("Size")
def size(ctx, node):
    t = ctx.type(ctx.input(0))
    if not t.is_static:
        raise ctx.fail(f"the size of {t} depends on symbolic dims")
    return np.asarray(t.size, dtype=np.int64)


def reshape_to(ctx, x, target, allowzero=False):
    dims = ctx.type(x).shape
    out = []
    for i, d in enumerate(target):
        out.append(dims[i] if d == 0 and not allowzero and i < len(dims) else d)
    return ctx.emit("reshape", x, shape=tuple(out))


@converter("Reshape")
def reshape_attr(ctx, node):
    return reshape_to(ctx, ctx.input(0), tuple(ctx.attr("shape", [])))


def declared_reshape(ctx, i: int):
    """When input i (a shape or axes) is only known at run time but the model declares the
    output's static shape, the op is a reshape to that shape; None otherwise."""
    if ctx.is_const(i):
        return None
    shape = ctx.declared_shape()
    x = ctx.input(0)
    if shape is None or not ctx.type(x).is_static or static_size(shape) != ctx.type(x).size:
        return None
    return ctx.emit("reshape", x, shape=shape)


@converter("Reshape", since=5)
def reshape(ctx, node):
    out = declared_reshape(ctx, 1)
    if out is not None:
        return out
    return reshape_to(ctx, ctx.input(0), ctx.ints(1, "shape"), bool(ctx.attr("allowzero", 0)))


@converter("Flatten")
def flatten(ctx, node):
    x = ctx.input(0)
    dims = ctx.type(x).shape
    axis = ctx.attr("axis", 1)
    axis = axis + len(dims) if axis < 0 else axis
    return ctx.emit("reshape", x, shape=(dim_prod(dims[:axis]), dim_prod(dims[axis:])))


@converter("Transpose")
def transpose(ctx, node):
    perm = ctx.attr("perm")
    return ctx.emit("transpose", ctx.input(0), perm=tuple(perm) if perm is not None else None)


@converter("Squeeze")
def squeeze_attr(ctx, node):
    axes = ctx.attr("axes")
    return ctx.emit("squeeze", ctx.input(0), axes=tuple(axes) if axes is not None else None)


@converter("Squeeze", since=13)
def squeeze(ctx, node):
    out = declared_reshape(ctx, 1)
    if out is not None:
        return out
    axes = ctx.ints(1, "axes")
    return ctx.emit("squeeze", ctx.input(0), axes=axes)


@converter("Unsqueeze")
def unsqueeze_attr(ctx, node):
    return ctx.emit("expand_dims", ctx.input(0), axes=tuple(ctx.attr("axes")))


@converter("Unsqueeze", since=13)
def unsqueeze(ctx, node):
    out = declared_reshape(ctx, 1)
    if out is not None:
        return out
    return ctx.emit("expand_dims", ctx.input(0), axes=ctx.ints(1, "axes"))


@converter("Concat")
def concat(ctx, node):
    xs = [t for t in ctx.inputs() if t is not None]
    return ctx.emit("concat", *xs, axis=ctx.attr("axis", 0))


def _split(ctx, node, sizes):
    x = ctx.input(0)
    t = ctx.type(x)
    axis = norm_axis(ctx.attr("axis", 0), t.rank)
    n_out = len(node.output)
    if sizes is None:
        dim = t.shape[axis]
        if not isinstance(dim, int):
            raise ctx.fail(f"cannot split symbolic dim {dim} into equal parts")
        k = ctx.attr("num_outputs", n_out)
        part = -(-dim // k)
        sizes = tuple(min(part, dim - i * part) for i in range(k))
    out = ctx.emit("split", x, axis=axis, sizes=tuple(int(s) for s in sizes))
    return out if isinstance(out, tuple) else (out,)


@converter("Split")
def split_attr(ctx, node):
    sizes = ctx.attr("split")
    if sizes is None and ctx.has_input(1):  # opset 2..12 moved it to an attr; 1 had an input
        sizes = ctx.ints(1, "split")
    return _split(ctx, node, tuple(sizes) if sizes else None)


@converter("Split", since=13)
def split(ctx, node):
    if not ctx.is_const(1):
        t = ctx.type(ctx.input(0))
        axis = norm_axis(ctx.attr("axis", 0), t.rank)
        shapes = [ctx.declared_shape(k) for k in range(len(node.output))]
        if all(s is not None for s in shapes):
            return _split(ctx, node, tuple(s[axis] for s in shapes))
    return _split(ctx, node, ctx.ints(1, "split"))


@converter("Slice")
def slice_attr(ctx, node):
    axes = ctx.attr("axes")
    return ctx.emit("slice", ctx.input(0), starts=tuple(ctx.attr("starts")),
                    ends=tuple(ctx.attr("ends")), axes=tuple(axes) if axes else None)


def _pad_gather(ctx, mode):
    from .dynindex import pad_gather

    axes = None
    if ctx.opset >= 18 and ctx.has_input(3):
        axes = ctx.ints(3, "axes") if ctx.is_const(3) else ctx.input(3)
    pads = ctx.const(1) if ctx.is_const(1) else ctx.input(1)
    value = 0.0
    if ctx.has_input(2):
        value = float(np.asarray(ctx.const(2)).reshape(-1)[0]) if ctx.is_const(2) else ctx.input(2)
    return pad_gather(ctx, ctx.input(0), pads, axes, mode, value)


@converter("Slice", since=10)
def slice_(ctx, node):
    if not all(ctx.is_const(i) for i in (1, 2, 3, 4)):
        from .dynindex import slice_gather

        axes = ctx.input(3)
        if axes is not None and ctx.is_const(3):
            axes = ctx.ints(3, "axes")
        return slice_gather(ctx, ctx.input(0), ctx.input(1), axes, ctx.input(4))
    return ctx.emit("slice", ctx.input(0), starts=ctx.ints(1, "starts"),
                    ends=ctx.ints(2, "ends"), axes=ctx.ints(3, "axes"),
                    steps=ctx.ints(4, "steps"))


@converter("Gather")
def gather(ctx, node):
    return ctx.emit("take", ctx.input(0), ctx.input(1), axis=ctx.attr("axis", 0))


@converter("GatherElements")
def gather_elements(ctx, node):
    return ctx.emit("gather_elements", ctx.input(0), ctx.input(1), axis=ctx.attr("axis", 0))


@converter("ScatterElements", "Scatter")
def scatter_elements(ctx, node):
    reduction = ctx.attr_str("reduction", "none")
    return ctx.emit("scatter_elements", ctx.input(0), ctx.input(1), ctx.input(2),
                    axis=ctx.attr("axis", 0), reduction=reduction)


@converter("ScatterND")
def scatter_nd(ctx, node):
    return ctx.emit("scatter_nd", ctx.input(0), ctx.input(1), ctx.input(2),
                    reduction=ctx.attr_str("reduction", "none"))


@converter("Expand", since=8)
def expand(ctx, node):
    """Bidirectional broadcast: the output shape is broadcast(x.shape, shape)."""
    from aot.ops.common import broadcast_shapes

    x = ctx.input(0)
    if not ctx.is_const(1) and ctx.declared_shape() is not None:
        return ctx.emit("broadcast_to", x, shape=ctx.declared_shape())
    target = broadcast_shapes(ctx.type(x).shape, ctx.ints(1, "shape"))
    if tuple(target) == ctx.type(x).shape:
        return x
    return ctx.emit("broadcast_to", x, shape=tuple(target))


@converter("Tile", since=6)
def tile(ctx, node):
    shape, t = ctx.declared_shape(), ctx.type(ctx.input(0))
    if not ctx.is_const(1) and shape is not None and t.is_static and 0 not in t.shape:
        return ctx.emit("tile", ctx.input(0), repeats=tuple(o // i for o, i in zip(shape, t.shape)))
    return ctx.emit("tile", ctx.input(0), repeats=ctx.ints(1, "repeats"))


def _pad(ctx, x, pads, mode, value, axes=None):
    r = ctx.type(x).rank
    if axes is not None:
        full = [0] * (2 * r)
        for k, a in enumerate(axes):
            a = norm_axis(a, r)
            full[a], full[a + r] = pads[k], pads[k + len(axes)]
        pads = full
    if mode not in ("constant", "reflect", "edge"):
        raise ctx.fail(f"pad mode {mode!r} is not supported (constant, reflect, edge, wrap)")
    if any(p < 0 for p in pads):
        raise ctx.fail(f"negative pads {tuple(pads)} are not supported")
    return ctx.emit("pad", x, pads=tuple(int(p) for p in pads), mode=mode, value=float(value))


@converter("Pad")
def pad_attr(ctx, node):
    pads = ctx.attr("pads", None) or ctx.attr("paddings", [])
    return _pad(ctx, ctx.input(0), list(pads), ctx.attr_str("mode", "constant"),
                ctx.attr("value", 0.0))


@converter("Pad", since=11)
def pad(ctx, node):
    mode = ctx.attr_str("mode", "constant")
    runtime = not all(ctx.is_const(i) for i in (1, 2, 3))
    if runtime or mode == "wrap" or any(p < 0 for p in ctx.ints(1, "pads")):
        return _pad_gather(ctx, mode)
    value = ctx.const(2, "constant_value")
    value = 0.0 if value is None else float(np.asarray(value).reshape(-1)[0])
    axes = ctx.ints(3, "axes") if ctx.opset >= 18 else None
    return _pad(ctx, ctx.input(0), list(ctx.ints(1, "pads")), ctx.attr_str("mode", "constant"),
                value, axes)


@converter("ConstantOfShape")
def constant_of_shape(ctx, node):
    declared = None if ctx.is_const(0) else ctx.declared_shape()
    dims = declared if declared is not None else ctx.ints(0, "shape")
    value = ctx.attr("value")
    fill = numpy_helper.to_array(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
    if any(isinstance(d, str) for d in dims):
        raise ctx.fail(f"shape {dims} has symbolic dims")
    return np.full(dims, fill[0], dtype=fill.dtype)


@converter("Range")
def range_(ctx, node):
    if not all(ctx.is_const(i) for i in range(3)) and ctx.declared_shape() is not None:
        return _range_runtime(ctx)
    start, limit, delta = (ctx.const(i, n) for i, n in enumerate(("start", "limit", "delta")))
    n = max(int(np.ceil((limit - start) / delta)), 0)
    return (start + np.arange(n) * delta).astype(start.dtype)


@converter("EyeLike")
def eye_like(ctx, node):
    from ..importer import onnx_dtype

    t = ctx.type(ctx.input(0))
    if not t.is_static:
        raise ctx.fail(f"EyeLike of {t} needs a static shape")
    dtype = onnx_dtype(ctx.attr("dtype"), node.op_type).numpy if ctx.attr("dtype") else t.dtype.numpy
    return np.eye(t.shape[0], t.shape[1], k=ctx.attr("k", 0), dtype=dtype)


@converter("NonZero")
def nonzero(ctx, node):
    x = ctx.const(0, "input (its output's shape depends on its values)")
    return np.asarray(np.nonzero(x), dtype=np.int64)


def _trilu_by_mask(ctx, node):
    x = ctx.input(0)
    t = ctx.type(x)
    k = ctx.const(1, "k")
    k = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
    n, m = t.shape[-2], t.shape[-1]
    if not (isinstance(n, int) and isinstance(m, int)):
        raise ctx.fail(f"Trilu of {t} needs static matrix dims")
    keep = np.triu(np.ones((n, m), bool), k) if ctx.attr("upper", 1) else np.tril(np.ones((n, m), bool), k)
    return ctx.emit("where", keep, x, scalar(ctx, 0, x))


@converter("OneHot", since=9)
def one_hot(ctx, node):
    indices = ctx.input(0)
    r = ctx.type(indices).rank + 1
    axis = norm_axis(ctx.attr("axis", -1), r)
    declared = ctx.declared_shape()
    if not ctx.is_const(1) and declared is not None:  # depth is the declared output's dim
        depth = int(declared[axis])
    else:
        depth = int(np.asarray(ctx.const(1, "depth")).reshape(-1)[0])
    if not ctx.is_const(2):
        return _one_hot_runtime_values(ctx, indices, depth, axis)
    values = ctx.const(2, "values")
    if ctx.type(indices).dtype.is_float:
        indices = ctx.emit("cast", indices, dtype="int64")
    indices = ctx.emit("where", ctx.emit("less", indices, scalar(ctx, 0, indices)),
                       ctx.emit("add", indices, scalar(ctx, depth, indices)), indices)
    out = ctx.emit("one_hot", indices, depth=depth, axis=ctx.attr("axis", -1),
                   on_value=float(values[1]), off_value=float(values[0]),
                   dtype=str(values.dtype))
    return out


def _one_hot_runtime_values(ctx, indices, depth, axis):
    """OneHot whose [off, on] values are run-time data: a 0/1 mask picks between them."""
    if ctx.type(indices).dtype.is_float:
        indices = ctx.emit("cast", indices, dtype="int64")
    indices = ctx.emit("where", ctx.emit("less", indices, scalar(ctx, 0, indices)),
                       ctx.emit("add", indices, scalar(ctx, depth, indices)), indices)
    hot = ctx.emit("one_hot", indices, depth=depth, axis=axis, on_value=1.0, off_value=0.0,
                   dtype="int32")
    values = ctx.input(2)
    off = ctx.emit("slice", values, starts=(0,), ends=(1,), axes=(0,))
    on = ctx.emit("slice", values, starts=(1,), ends=(2,), axes=(0,))
    return ctx.emit("where", ctx.emit("equal", hot, np.int32(1)), on, off)


@converter("DepthToSpace")
def depth_to_space(ctx, node):
    x = ctx.input(0)
    n, c, h, w = ctx.type(x).shape
    bs = ctx.attr("blocksize")
    if ctx.attr_str("mode", "DCR") == "DCR":
        y = ctx.emit("reshape", x, shape=(n, bs, bs, c // (bs * bs), h, w))
        y = ctx.emit("transpose", y, perm=(0, 3, 4, 1, 5, 2))
    else:
        y = ctx.emit("reshape", x, shape=(n, c // (bs * bs), bs, bs, h, w))
        y = ctx.emit("transpose", y, perm=(0, 1, 4, 2, 5, 3))
    return ctx.emit("reshape", y, shape=(n, c // (bs * bs), h * bs, w * bs))


@converter("SpaceToDepth")
def space_to_depth(ctx, node):
    x = ctx.input(0)
    n, c, h, w = ctx.type(x).shape
    bs = ctx.attr("blocksize")
    y = ctx.emit("reshape", x, shape=(n, c, h // bs, bs, w // bs, bs))
    y = ctx.emit("transpose", y, perm=(0, 3, 5, 1, 2, 4))
    return ctx.emit("reshape", y, shape=(n, c * bs * bs, h // bs, w // bs))


@converter("CenterCropPad", since=18)
def center_crop_pad(ctx, node):
    from .dynindex import center_crop_pad as convert

    return convert(ctx, node)


def _range_runtime(ctx):
    """Range with run-time start/limit/delta: the declared length n fixes the shape, and
    start + arange(n) * delta is computed at run time (a valid model's n is exactly
    max(ceil((limit - start) / delta), 0))."""
    (n,) = ctx.declared_shape()
    dt = ctx.type(ctx.input(0)).dtype
    steps = np.arange(n).astype(dt.numpy)
    start, delta = (np.asarray(ctx.const(i)).reshape(()) if ctx.is_const(i) else
                    ctx.emit("reshape", ctx.input(i), shape=()) for i in (0, 2))
    return ctx.emit("add", ctx.emit("multiply", steps, delta), start)
