"""Neural-network ops: MatMul, Gemm, Conv, ConvTranspose, pools, normalizations,
Softmax family, LRN. Compositions (Gemm, BatchNormalization, InstanceNormalization,
opset<13 Softmax's flatten to 2-D) are written with registry ops here."""
from __future__ import annotations

import math

import numpy as np

from ..registry import converter
from .common import norm_axis, scalar


@converter("MatMul")
def matmul(ctx, node):
    return ctx.emit("matmul", ctx.input(0), ctx.input(1))


@converter("Gemm")
def gemm(ctx, node):
    a, b, c = ctx.input(0), ctx.input(1), ctx.input(2)
    if ctx.attr("transA", 0):
        a = ctx.emit("transpose", a, perm=(1, 0))
    if ctx.attr("transB", 0):
        b = ctx.emit("transpose", b, perm=(1, 0))
    y = ctx.emit("matmul", a, b)
    alpha, beta = ctx.attr("alpha", 1.0), ctx.attr("beta", 1.0)
    if alpha != 1.0:
        y = ctx.emit("multiply", y, scalar(ctx, alpha, y))
    if c is not None and beta != 0.0:
        if beta != 1.0:
            c = ctx.emit("multiply", c, scalar(ctx, beta, c))
        y = ctx.emit("add", y, c)
    return y


def _spatial(ctx, x, w=None):
    """(kernel, strides, dilations, pads [begins..., ends...]) of a conv or pool node."""
    t = ctx.type(x)
    sp = t.rank - 2
    kernel = tuple(ctx.attr("kernel_shape") or (ctx.type(w).shape[2:] if w is not None else ()))
    strides = tuple(ctx.attr("strides") or (1,) * sp)
    dil = tuple(ctx.attr("dilations") or (1,) * sp)
    pads = list(ctx.attr("pads") or (0,) * (2 * sp))
    auto = ctx.attr_str("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = _same_pads(ctx, t.shape[2:], kernel, strides, dil, auto == "SAME_UPPER")
    elif auto == "VALID":
        pads = [0] * (2 * sp)
    return kernel, strides, dil, pads


def _same_pads(ctx, dims, kernel, strides, dil, upper):
    begins, ends = [], []
    for n, k, s, d in zip(dims, kernel, strides, dil):
        if not isinstance(n, int):
            raise ctx.fail(f"auto_pad SAME needs static spatial dims, got {n}")
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small = total // 2
        begins.append(small if upper else total - small)
        ends.append(total - small if upper else small)
    return begins + ends


@converter("Conv")
def conv(ctx, node):
    return conv_apply(ctx, ctx.input(0), ctx.input(1), ctx.input(2))


def conv_apply(ctx, x, w, bias=None):
    """The node's Conv attributes applied to x, w (and a per-channel bias)."""
    kernel, strides, dil, pads = _spatial(ctx, x, w)
    sp, group = len(kernel), ctx.attr("group", 1)
    if sp == 2:
        y = ctx.emit("conv2d", x, w, strides=strides, padding=tuple(pads), dilation=dil,
                     groups=group, layout="NCHW")
    elif sp == 1:
        y = ctx.emit("conv1d", x, w, strides=strides, padding=tuple(pads), dilation=dil,
                     groups=group, layout="NCW")
    else:
        raise ctx.fail(f"{sp}-D convolutions are not supported (1-D and 2-D are)")
    return _add_channel_bias(ctx, y, bias)


def _add_channel_bias(ctx, y, bias):
    if bias is None:
        return y
    r = ctx.type(y).rank
    return ctx.emit("add", y, ctx.emit("reshape", bias, shape=(-1,) + (1,) * (r - 2)))


@converter("ConvTranspose")
def conv_transpose(ctx, node):
    x, w, bias = ctx.input(0), ctx.input(1), ctx.input(2)
    t = ctx.type(x)
    if t.rank not in (3, 4):
        raise ctx.fail(f"only 1-D and 2-D transposed convolutions are supported, got input {t}")
    sp = t.rank - 2
    kernel = tuple(ctx.attr("kernel_shape") or ctx.type(w).shape[2:])
    strides = tuple(ctx.attr("strides") or (1,) * sp)
    dil = tuple(ctx.attr("dilations") or (1,) * sp)
    out_pad = list(ctx.attr("output_padding") or (0,) * sp)
    pads = list(ctx.attr("pads") or (0,) * (2 * sp))
    out_shape, auto = ctx.attr("output_shape"), ctx.attr_str("auto_pad", "NOTSET")
    if out_shape or auto in ("SAME_UPPER", "SAME_LOWER"):
        # onnx's reference: SAME_UPPER puts the smaller half first, the reverse of Conv's
        pads, out_pad = _tconv_pads(ctx, t.shape[2:], kernel, strides, dil, out_pad,
                                    out_shape, auto != "SAME_UPPER")
    if sp == 1:  # a 1-D transposed conv is a 2-D one over a unit height
        x, w = ctx.emit("expand_dims", x, axes=(2,)), ctx.emit("expand_dims", w, axes=(2,))
        kernel, strides, dil = (1,) + kernel, (1,) + strides, (1,) + dil
        out_pad, pads = [0] + list(out_pad), [0, pads[0], 0, pads[1]]
    y = ctx.emit("conv2d_transpose", x, w, strides=strides, padding=tuple(pads),
                 output_padding=tuple(out_pad), dilation=dil, groups=ctx.attr("group", 1),
                 layout="NCHW")
    if sp == 1:
        y = ctx.emit("squeeze", y, axes=(2,))
    return _add_channel_bias(ctx, y, bias)


def _tconv_pads(ctx, dims, kernel, strides, dil, out_pad, out_shape, upper):
    """Pads giving `output_shape` (or in*stride for auto_pad SAME), as the ONNX spec."""
    begins, ends, extra = [], [], []
    for i, (n, k, s, d) in enumerate(zip(dims, kernel, strides, dil)):
        if not isinstance(n, int):
            raise ctx.fail(f"output_shape/auto_pad needs static spatial dims, got {n}")
        target = out_shape[-len(dims) + i] if out_shape else n * s
        total = s * (n - 1) + out_pad[i] + (k - 1) * d + 1 - target
        if total < 0:  # the output grows past the full size: extra output padding
            extra.append(out_pad[i] - total)
            total = 0
        else:
            extra.append(out_pad[i])
        small = total // 2
        begins.append(total - small if upper else small)
        ends.append(small if upper else total - small)
    return begins + ends, extra


def _pool(ctx, node, op, x=None, include_pad=None):
    x = ctx.input(0) if x is None else x
    t = ctx.type(x)
    if len(node.output) > 1 and node.output[1]:
        raise ctx.fail("the Indices output of MaxPool is not supported")
    kernel, strides, dil, pads = _spatial(ctx, x)
    if len(kernel) == 1:  # a 1-D pool is a 2-D pool over a unit height
        x = ctx.emit("expand_dims", x, axes=(2,))
        kernel, strides, dil = (1,) + kernel, (1,) + strides, (1,) + dil
        pads = [0, pads[0], 0, pads[1]]
    elif len(kernel) == 3:
        return _pool3d(ctx, x, op, kernel, strides, dil, pads, include_pad)
    elif len(kernel) != 2:
        raise ctx.fail(f"{len(kernel)}-D pooling is not supported (1-D, 2-D and 3-D are)")
    y = _pool2d(ctx, x, op, kernel, strides, dil, pads, include_pad)
    return ctx.emit("squeeze", y, axes=(2,)) if t.rank == 3 else y


def _pool2d(ctx, x, op, kernel, strides, dil, pads, include_pad):
    return ctx.emit(op, x, pool_size=tuple(kernel), strides=tuple(strides), padding=tuple(pads),
                    dilation=tuple(dil), ceil_mode=bool(ctx.attr("ceil_mode", 0)),
                    count_include_pad=bool(ctx.attr("count_include_pad", 0)) if include_pad is None
                    else include_pad, layout="NCHW")


def _pool3d(ctx, x, op, kernel, strides, dil, pads, include_pad):
    """A 3-D pool as two 2-D pools: over (H, W) with depth folded into the channels, then over
    D with (H', W') flattened. Exact for max, and for averages too: windows are boxes, so the
    divisor (padding counted or not, ceil_mode tails included) is the product of per-dim counts."""
    n, c, d, h, w = ctx.type(x).shape
    if not all(isinstance(v, int) for v in (c, d, h, w)):
        raise ctx.fail(f"3-D pooling needs static C, D, H, W, got {ctx.type(x)}")
    y = ctx.emit("reshape", x, shape=(-1, c * d, h, w))
    y = _pool2d(ctx, y, op, kernel[1:], strides[1:], dil[1:],
                [pads[1], pads[2], pads[4], pads[5]], include_pad)
    h2, w2 = ctx.type(y).shape[2:]
    y = ctx.emit("reshape", y, shape=(-1, c, d, h2 * w2))
    y = _pool2d(ctx, y, op, (kernel[0], 1), (strides[0], 1), (dil[0], 1), [pads[0], 0, pads[3], 0],
                include_pad)
    return ctx.emit("reshape", y, shape=(-1, c, ctx.type(y).shape[2], h2, w2))


@converter("MaxPool")
def max_pool(ctx, node):
    return _pool(ctx, node, "max_pool2d")


@converter("AveragePool")
def avg_pool(ctx, node):
    return _pool(ctx, node, "avg_pool2d")


@converter("LpPool")
def lp_pool(ctx, node):
    """(sum over the window of |x|^p)^(1/p): an average pool counting the zero padding,
    times the window size."""
    x, p = ctx.input(0), float(ctx.attr("p", 2))
    px = ctx.emit("multiply", x, x) if p == 2 else \
        ctx.emit("power", ctx.emit("abs", x), scalar(ctx, p, x))
    avg = _pool(ctx, node, "avg_pool2d", px, include_pad=True)
    size = float(np.prod(ctx.attr("kernel_shape")))
    total = ctx.emit("multiply", avg, scalar(ctx, size, avg))
    return ctx.emit("power", total, scalar(ctx, 1.0 / p, total))


def _global(op):
    def convert(ctx, node):
        x = ctx.input(0)
        return ctx.emit(op, x, axes=tuple(range(2, ctx.type(x).rank)), keepdims=True)
    return convert


converter("GlobalAveragePool")(_global("mean"))
converter("GlobalMaxPool")(_global("max"))


def _per_channel(ctx, v, r):
    return ctx.emit("reshape", v, shape=(-1,) + (1,) * (r - 2))


@converter("BatchNormalization")
def batch_norm(ctx, node):
    """Inference form: (x - mean) * scale / sqrt(var + eps) + bias, per channel."""
    if ctx.attr("training_mode", 0):
        raise ctx.fail("training_mode=1 is not supported (inference only)")
    x, scale, bias, mean, var = ctx.inputs()[:5]
    r = ctx.type(x).rank
    eps = scalar(ctx, ctx.attr("epsilon", 1e-5), var)
    inv = ctx.emit("divide", scale, ctx.emit("sqrt", ctx.emit("add", var, eps)))
    shift = ctx.emit("subtract", bias, ctx.emit("multiply", mean, inv))
    y = ctx.emit("add", ctx.emit("multiply", x, _per_channel(ctx, inv, r)),
                 _per_channel(ctx, shift, r))
    return (y, mean, var)[:len(node.output)]


@converter("InstanceNormalization")
def instance_norm(ctx, node):
    x, scale, bias = ctx.inputs()[:3]
    r = ctx.type(x).rank
    axes = tuple(range(2, r))
    mean = ctx.emit("mean", x, axes=axes, keepdims=True)
    centered = ctx.emit("subtract", x, mean)
    var = ctx.emit("mean", ctx.emit("multiply", centered, centered), axes=axes, keepdims=True)
    eps = scalar(ctx, ctx.attr("epsilon", 1e-5), x)
    normed = ctx.emit("divide", centered, ctx.emit("sqrt", ctx.emit("add", var, eps)))
    return ctx.emit("add", ctx.emit("multiply", normed, _per_channel(ctx, scale, r)),
                    _per_channel(ctx, bias, r))


def _softmax(op, hardmax=False):
    def legacy(ctx, node):
        """Opsets < 13: flatten to 2-D at `axis` (default 1), normalise rows, reshape back."""
        x = ctx.input(0)
        t = ctx.type(x)
        axis = norm_axis(ctx.attr("axis", 1), t.rank)
        from aot.ir.dims import prod as _prod

        flat = ctx.emit("reshape", x, shape=(_prod(t.shape[:axis]), _prod(t.shape[axis:])))
        y = _apply(ctx, flat, 1)
        return ctx.emit("reshape", y, shape=t.shape)

    def modern(ctx, node):
        return _apply(ctx, ctx.input(0), ctx.attr("axis", -1))

    def _apply(ctx, x, axis):
        if not hardmax:
            return ctx.emit(op, x, axis=axis)
        t = ctx.type(x)
        axis = norm_axis(axis, t.rank)
        idx = ctx.emit("argmax", x, axis=axis, keepdims=False)
        return ctx.emit("one_hot", idx, depth=t.shape[axis], axis=axis, dtype=t.dtype)
    return legacy, modern


for _onnx, _op, _hard in (("Softmax", "softmax", False), ("LogSoftmax", "log_softmax", False),
                          ("Hardmax", "softmax", True)):
    _legacy, _modern = _softmax(_op, _hard)
    converter(_onnx)(_legacy)
    converter(_onnx, since=13)(_modern)


@converter("LpNormalization")
def lp_norm(ctx, node):
    x = ctx.input(0)
    axis, p = ctx.attr("axis", -1), ctx.attr("p", 2)
    if p == 1:
        norm = ctx.emit("sum", ctx.emit("abs", x), axes=(axis,), keepdims=True)
    else:
        norm = ctx.emit("sqrt", ctx.emit("sum", ctx.emit("multiply", x, x), axes=(axis,),
                                         keepdims=True))
    return ctx.emit("divide", x, norm)


@converter("LRN")
def lrn(ctx, node):
    """x / (bias + alpha/size * sum of squares over a window of channels) ** beta."""
    x = ctx.input(0)
    t = ctx.type(x)
    size = ctx.attr("size")
    alpha, beta, bias = ctx.attr("alpha", 1e-4), ctx.attr("beta", 0.75), ctx.attr("bias", 1.0)
    c = t.shape[1]
    sq = ctx.emit("multiply", x, x)
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    pads = [0] * (2 * t.rank)
    pads[1], pads[1 + t.rank] = lo, hi
    padded = ctx.emit("pad", sq, pads=tuple(pads))
    total = None
    for k in range(size):
        part = ctx.emit("slice", padded, starts=(k,), ends=(k + c,), axes=(1,))
        total = part if total is None else ctx.emit("add", total, part)
    denom = ctx.emit("add", ctx.emit("multiply", total, scalar(ctx, alpha / size, x)),
                     scalar(ctx, bias, x))
    return ctx.emit("divide", x, ctx.emit("power", denom, scalar(ctx, beta, x)))
