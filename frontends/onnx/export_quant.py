"""ONNX writers for the integer ops of the quantize pass (aot/ops/quant.py).

The int8 graph is written in ONNX's operator-oriented integer form, each of our ops as the
standard ops that compute exactly what its reference computes, so onnxruntime's outputs equal
ours bit for bit:

- quantize   -> QuantizeLinear (x / scale, round half to even, + zero point, saturate);
- dequantize -> DequantizeLinear ((q - zero point) * scale);
- qmatmul    -> MatMulInteger (int32 accumulation of (x - x_zero_point) * w);
- qconv2d    -> Transpose -> ConvInteger (pads read the zero point) -> Transpose, as float
  channels-last convs are written;
- requantize -> Cast(acc, float) -> Mul(multiplier) -> QuantizeLinear(scale 1, zero point):
  float32(acc) * multiplier rounded half to even, as our reference does.

Why not QDQ pairs (DequantizeLinear -> float MatMul/Conv -> QuantizeLinear), which
onnxruntime fuses into QGemm / QLinearConv: a QDQ graph needs the weight scales and every
int8 tensor's own scale, while our graph holds only their combination, the requantize
multiplier x_scale * w_scale / y_scale (computed in float64, rounded once to float32), and
between two int8 layers no scale at all (that dequantize is dead code the pass removed). The
fused kernels recompute the multiplier from the three scales in float32, which differs from
ours by an ulp in about a quarter of the channels (measured on random layers); that can move
an output sitting near a rounding tie by one step, though none of 327,680 outputs measured
moved. The integer form above carries our multiplier as it is, so it is exact by construction.

Zero points are int32 in our IR and of the quantized type in ONNX (shaped like the scale);
constant ones are written as initializers of that type, computed ones through a Cast.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from aot.ir import DType, Param

from .exporter import DTYPE_TO_ONNX, ExportError, _conv_common, _from_nchw, _to_nchw


def _data(v):
    """v's data when it is a constant param (a scale or zero point known at export)."""
    if isinstance(v, Param) and v.is_const and v.data is not None:
        return np.asarray(v.data)
    return None


def _float32(w, v, name: str) -> str:
    """Scales and multipliers are float32 in ONNX's quantization ops."""
    if v.type.dtype == DType.float32:
        return name
    data = _data(v)
    if data is not None:
        return w.const(data.astype(np.float32))
    return w.emit("Cast", [name], to=TensorProto.FLOAT)


def _zero_point(w, v, name: str, dtype: DType, shape) -> str:
    """Zero point `v` (our int32) as `dtype`, of the scale's `shape` (ONNX asks that)."""
    data = _data(v)
    if data is not None:
        return w.const(np.broadcast_to(data, shape).astype(dtype.numpy))
    if v.type.shape != tuple(shape):
        raise ExportError(f"a computed zero point {v.type} with a scale of shape {shape} "
                          "has no ONNX form")
    return w.emit("Cast", [name], to=DTYPE_TO_ONNX[dtype])


def _quantize(w, node, a, ins, outs):
    x, scale, zp = node.inputs
    xn = ins[0] if x.type.dtype == DType.float32 else w.emit("Cast", [ins[0]], to=TensorProto.FLOAT)
    zn = _zero_point(w, zp, ins[2], a.dtype, scale.type.shape)
    w.emit("QuantizeLinear", [xn, _float32(w, scale, ins[1]), zn], outputs=outs, axis=a.axis)


def _dequantize(w, node, a, ins, outs):
    q, scale, zp = node.inputs
    zn = _zero_point(w, zp, ins[2], q.type.dtype, scale.type.shape)
    w.emit("DequantizeLinear", [ins[0], _float32(w, scale, ins[1]), zn], outputs=outs, axis=a.axis)


def _per_axis(w, v, name: str, axis: int, rank: int) -> str:
    """A 0-d or 1-D multiplier laid out to broadcast along `axis` of a rank-`rank` tensor."""
    if v.type.rank == 0 or v.type.shape == (1,):
        return name
    shape = [1] * rank
    shape[axis % rank] = -1
    data = _data(v)
    if data is not None:
        return w.const(data.astype(np.float32).reshape(shape))
    return w.emit("Reshape", [name, w.ints(shape)])


def _requantize(w, node, a, ins, outs):
    """round_half_even(float32(acc) * multiplier) + zero point, saturated: QuantizeLinear with
    scale 1 does the rounding, the zero point and the saturation exactly (x / 1 is x)."""
    acc, mult, zp = node.inputs
    y = w.emit("Mul", [w.emit("Cast", [ins[0]], to=TensorProto.FLOAT),
                       _per_axis(w, mult, _float32(w, mult, ins[1]), a.axis, acc.type.rank)])
    one = w.const(np.ones(zp.type.shape, np.float32))
    w.emit("QuantizeLinear", [y, one, _zero_point(w, zp, ins[2], a.dtype, zp.type.shape)],
           outputs=outs, axis=a.axis)


def _qmatmul(w, node, a, ins, outs):
    x, _, zp = node.inputs
    w.emit("MatMulInteger", [ins[0], ins[1], _zero_point(w, zp, ins[2], x.type.dtype, ())],
           outputs=outs)


def _qconv2d(w, node, a, ins, outs):
    """NHWC data and HWIO kernel, as the float channels-last conv is written."""
    x, _, zp = node.inputs
    k = w.emit("Transpose", [ins[1]], perm=[3, 2, 0, 1])
    zn = _zero_point(w, zp, ins[2], x.type.dtype, ())
    y = w.emit("ConvInteger", [_to_nchw(w, ins[0], 4), k, zn], **_conv_common(a, 2))
    _from_nchw(w, y, 4, outs)


QUANT_WRITERS = {"quantize": _quantize, "dequantize": _dequantize, "requantize": _requantize,
                 "qmatmul": _qmatmul, "qconv2d": _qconv2d}
