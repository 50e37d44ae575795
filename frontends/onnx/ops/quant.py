"""Quantization ops, emulated exactly with float and integer registry ops.

QuantizeLinear is `saturate(round_half_even(x / scale) + zero_point)`; DequantizeLinear
`(x - zero_point) * scale`; the integer matmul/conv ops compute in int32 (conv in
float64, exact for these magnitudes) and requantize as onnx's reference does.
Scales and zero points may be scalars, per-axis vectors or blocks (`block_size`)."""
from __future__ import annotations

import numpy as np

from aot.ir import DType

from ..registry import converter
from .common import norm_axis

_INT_RANGE = {DType.uint8: (0, 255), DType.int8: (-128, 127), DType.uint16: (0, 65535),
              DType.int16: (-32768, 32767), DType.int32: (-2 ** 31, 2 ** 31 - 1)}
_FLOAT8_MAX = {DType.float8_e4m3: 448.0, DType.float8_e5m2: 57344.0,
               DType.float8_e4m3fnuz: 240.0, DType.float8_e5m2fnuz: 57344.0}


def _param(ctx, p, x, axis: int, block: int):
    """Scale or zero point p laid out to broadcast against x (scalar, per-axis or blocked)."""
    pt, xt = ctx.type(p), ctx.type(x)
    if pt.rank == 0 or (pt.rank == 1 and pt.shape[0] == 1 and not block):
        return ctx.emit("reshape", p, shape=())
    axis = norm_axis(axis, xt.rank)
    if block:
        n = xt.shape[axis]
        return ctx.emit("take", p, np.arange(n, dtype=np.int64) // block, axis=axis)
    shape = [1] * xt.rank
    shape[axis] = -1
    return ctx.emit("reshape", p, shape=tuple(shape))


def _cast(ctx, t, dtype: DType):
    return t if ctx.type(t).dtype == dtype else ctx.emit("cast", t, dtype=dtype)


def _saturate(ctx, y, dtype: DType):
    """Round half to even, clip to dtype's range, cast (y is float)."""
    lo, hi = _INT_RANGE[dtype]
    ft = ctx.type(y).dtype
    y = ctx.emit("round", y)
    y = ctx.emit("maximum", y, np.asarray(lo, ft.numpy))
    y = ctx.emit("minimum", y, np.asarray(hi, ft.numpy))
    return ctx.emit("cast", y, dtype=dtype)


def _out_dtype(ctx, zp_index: int) -> DType:
    from ..importer import onnx_dtype

    if ctx.has_input(zp_index):
        return ctx.type(ctx.input(zp_index)).dtype
    code = ctx.attr("output_dtype", 0)
    return onnx_dtype(code, f"{ctx.node.op_type} output_dtype") if code else DType.uint8


@converter("QuantizeLinear", since=10)
def quantize_linear(ctx, node):
    x, scale, zp = ctx.input(0), ctx.input(1), ctx.input(2)
    axis, block = ctx.attr("axis", 1), ctx.attr("block_size", 0)
    out = _out_dtype(ctx, 2)
    prec = ctx.attr("precision", 0)
    if prec:
        from ..importer import onnx_dtype

        ft = onnx_dtype(prec, "QuantizeLinear precision")
        x, scale = _cast(ctx, x, ft), _cast(ctx, scale, ft)
    y = ctx.emit("divide", x, _param(ctx, _cast(ctx, scale, ctx.type(x).dtype), x, axis, block))
    if out in _FLOAT8_MAX:
        if ctx.attr("saturate", 1):
            m = np.asarray(_FLOAT8_MAX[out], ctx.type(y).dtype.numpy)
            y = ctx.emit("minimum", ctx.emit("maximum", y, -m), m)
        return ctx.emit("cast", y, dtype=out)
    if out not in _INT_RANGE:
        raise ctx.fail(f"quantizing to {out} is not supported")
    y = ctx.emit("round", y)
    if zp is not None:
        y = ctx.emit("add", y, _param(ctx, _cast(ctx, zp, ctx.type(y).dtype), x, axis, block))
    return _saturate(ctx, y, out)


@converter("DequantizeLinear", since=10)
def dequantize_linear(ctx, node):
    x, scale, zp = ctx.input(0), ctx.input(1), ctx.input(2)
    axis, block = ctx.attr("axis", 1), ctx.attr("block_size", 0)
    dx = _cast(ctx, x, DType.float32)
    if zp is not None and ctx.type(x).dtype not in _FLOAT8_MAX:
        dx = ctx.emit("subtract", dx, _param(ctx, _cast(ctx, zp, DType.float32), x, axis, block))
    y = ctx.emit("multiply", dx, _param(ctx, _cast(ctx, scale, DType.float32), x, axis, block))
    code = ctx.attr("output_dtype", 0)
    if code:
        from ..importer import onnx_dtype

        return _cast(ctx, y, onnx_dtype(code, "DequantizeLinear output_dtype"))
    return _cast(ctx, y, ctx.type(scale).dtype)


def _centered(ctx, x, zp, per_row_axis=None):
    """x - zero_point in int32 (a per-channel zero point broadcast along per_row_axis)."""
    xi = _cast(ctx, x, DType.int32)
    if zp is None:
        return xi
    zt = ctx.type(zp)
    z = _cast(ctx, zp, DType.int32)
    if zt.rank == 1 and zt.shape[0] > 1 and per_row_axis is not None:
        shape = [1] * ctx.type(x).rank
        shape[per_row_axis] = -1
        z = ctx.emit("reshape", z, shape=tuple(shape))
    elif zt.rank and zt.shape[0] == 1:
        z = ctx.emit("reshape", z, shape=())
    return ctx.emit("subtract", xi, z)


@converter("MatMulInteger", since=10)
def matmul_integer(ctx, node):
    a = _centered(ctx, ctx.input(0), ctx.input(2), per_row_axis=0)
    b = _centered(ctx, ctx.input(1), ctx.input(3), per_row_axis=ctx.type(ctx.input(1)).rank - 1)
    return ctx.emit("matmul", a, b)


def _int_conv(ctx, x, xzp, w, wzp):
    """Conv over zero-point-centred ints, computed in float64 (exact), as int32."""
    from .nn import conv_apply

    xc = _cast(ctx, _centered(ctx, x, xzp), DType.float64)
    wc = _cast(ctx, _centered(ctx, w, wzp, per_row_axis=0), DType.float64)
    return conv_apply(ctx, xc, wc)


@converter("ConvInteger", since=10)
def conv_integer(ctx, node):
    y = _int_conv(ctx, ctx.input(0), ctx.input(2), ctx.input(1), ctx.input(3))
    return ctx.emit("cast", y, dtype=DType.int32)


def _requantize(ctx, acc, scale, y_scale, y_zp, like_dtype, channel_axis=None):
    """round(acc * scale / y_scale) + y_zp, saturated to y_zp's dtype (float64 math)."""
    s = ctx.emit("divide", scale, _cast(ctx, y_scale, ctx.type(scale).dtype))
    s = _cast(ctx, s, DType.float64)
    st = ctx.type(s)
    if channel_axis is not None and st.rank == 1 and st.shape[0] > 1:
        shape = [1] * ctx.type(acc).rank
        shape[channel_axis] = -1
        s = ctx.emit("reshape", s, shape=tuple(shape))
    d = ctx.emit("multiply", _cast(ctx, acc, DType.float64), s)
    d = ctx.emit("round", d)
    out = like_dtype
    if y_zp is not None:
        out = ctx.type(y_zp).dtype
        d = ctx.emit("add", d, _cast(ctx, y_zp, DType.float64))
    return _saturate(ctx, d, out)


@converter("QLinearMatMul", since=10)
def qlinear_matmul(ctx, node):
    a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp = ctx.inputs()[:8]
    acc = ctx.emit("matmul", _centered(ctx, a, a_zp), _centered(ctx, b, b_zp))
    scale = ctx.emit("multiply", a_s, _cast(ctx, b_s, ctx.type(a_s).dtype))
    return _requantize(ctx, acc, scale, y_s, y_zp, ctx.type(a).dtype)


@converter("QLinearConv", since=10)
def qlinear_conv(ctx, node):
    x, x_s, x_zp, w, w_s, w_zp, y_s, y_zp = ctx.inputs()[:8]
    acc = _int_conv(ctx, x, x_zp, w, w_zp)
    bias = ctx.input(8) if ctx.has_input(8) else None
    if bias is not None:
        r = ctx.type(acc).rank
        acc = ctx.emit("add", acc, ctx.emit("reshape", _cast(ctx, bias, DType.float64),
                                            shape=(-1,) + (1,) * (r - 2)))
    scale = ctx.emit("multiply", _cast(ctx, w_s, ctx.type(x_s).dtype),
                     ctx.emit("reshape", x_s, shape=()))
    return _requantize(ctx, acc, scale, y_s, y_zp, ctx.type(x).dtype, channel_axis=1)
