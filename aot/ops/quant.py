"""Integer quantization: quantize, dequantize, requantize, and the integer kernels qmatmul and
qconv2d that the quantize pass (passes/quantize.py) folds float layers into.

Conventions (those of ONNX QuantizeLinear and of ONNX Runtime's QDQ kernels):

- quantize:   q = saturate(round_half_even(x / scale) + zero_point), computed in float32;
- dequantize: x = (q - zero_point) * scale, in float32;
- requantize: q = saturate(round_half_even(acc * multiplier) + zero_point), float32;
- qmatmul / qconv2d: sum((a - a_zero_point) * w) accumulated in int32, the weights symmetric
  int8 (no zero point). Scales and zero points are inputs, so per-channel (per-axis) values
  and run-time (dynamic) scales work the same way: a 0-d input is per-tensor, a 1-D input of
  size C applies along `axis`.

Every step is exact or one IEEE float32 operation in the same order in the numpy reference
and in the TVM lowering, so compiled results match the reference bit for bit. qmatmul is
written as a TE reduction over the 8-bit operands widened to int32 minus a zero-point
correction (zp * column sums of w), the form AVX-512 VNNI's u8 x s8 -> s32 intrinsic matches.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aot.ir.opdef import register
from aot.ir.types import DType, TensorType

from .common import norm_axis, require_float
from .conv import Conv2DAttrs, _conv_ref, _conv_type

Q_RANGE = {DType.int8: (-128, 127), DType.uint8: (0, 255)}


@dataclass(frozen=True)
class QuantizeAttrs:
    dtype: DType = DType.int8
    axis: int = -1  # the channel axis of per-axis (1-D) scales and zero points


@dataclass(frozen=True)
class DequantizeAttrs:
    axis: int = -1


# ---------------------------------------------------------------- type rules

def _check_qparams(x: TensorType, scale: TensorType, zp: TensorType, axis: int) -> None:
    """scale: float, 0-d or 1-D; zero point: an int of the same shape; a 1-D size fits x[axis]."""
    require_float(scale, "scale")
    if not zp.dtype.is_int:
        raise ValueError(f"zero point must be an integer tensor, got {zp.dtype.short}")
    if scale.rank > 1 or zp.rank > 1:
        raise ValueError(f"scale and zero point must be 0-d or 1-D, got {scale} and {zp}")
    if scale.shape != zp.shape and zp.rank and scale.rank:
        raise ValueError(f"scale {scale} and zero point {zp} differ in shape")
    n = next((t.shape[0] for t in (scale, zp) if t.rank == 1), 1)
    if n == 1:
        return
    ax = norm_axis(axis, x.rank)
    if isinstance(x.shape[ax], int) and x.shape[ax] != n:
        raise ValueError(f"{n} per-axis scales for axis {axis} of size {x.shape[ax]}")


def _require_q(dt: DType, what: str) -> None:
    if dt not in Q_RANGE:
        raise ValueError(f"{what} must be int8 or uint8, got {dt.short}")


def _quantize_type(a: QuantizeAttrs, x, scale, zp) -> TensorType:
    require_float(x)
    _require_q(a.dtype, "dtype")
    _check_qparams(x, scale, zp, a.axis)
    return x.with_dtype(a.dtype)


def _dequantize_type(a: DequantizeAttrs, q, scale, zp) -> TensorType:
    if q.dtype not in Q_RANGE and q.dtype != DType.int32:
        raise ValueError(f"input must be int8, uint8 or int32, got {q.dtype.short}")
    _check_qparams(q, scale, zp, a.axis)
    return q.with_dtype(DType.float32)


def _requantize_type(a: QuantizeAttrs, acc, mult, zp) -> TensorType:
    if acc.dtype != DType.int32:
        raise ValueError(f"accumulator must be int32, got {acc.dtype.short}")
    _require_q(a.dtype, "dtype")
    _check_qparams(acc, mult, zp, a.axis)
    return acc.with_dtype(a.dtype)


def _check_zp_scalar(zp: TensorType) -> None:
    if zp.rank != 0 or zp.dtype != DType.int32:
        raise ValueError(f"activation zero point must be an i32 scalar, got {zp}")


def _qmatmul_type(a, x: TensorType, w: TensorType, zp: TensorType) -> TensorType:
    _require_q(x.dtype, "lhs")
    if w.dtype != DType.int8:
        raise ValueError(f"rhs (weights) must be int8, got {w.dtype.short}")
    _check_zp_scalar(zp)
    if x.rank < 1 or w.rank != 2:
        raise ValueError(f"lhs must be at least 1-D and rhs 2-D, got {x} and {w}")
    if x.shape[-1] != w.shape[0]:
        raise ValueError(f"contraction dims differ: lhs has {x.shape[-1]} columns, "
                         f"rhs has {w.shape[0]} rows")
    return TensorType(x.shape[:-1] + w.shape[1:], DType.int32)


def _qconv2d_type(a: Conv2DAttrs, x: TensorType, w: TensorType, zp: TensorType) -> TensorType:
    _require_q(x.dtype, "input")
    if w.dtype != DType.int8:
        raise ValueError(f"kernel must be int8, got {w.dtype.short}")
    _check_zp_scalar(zp)
    if a.layout != "NHWC":
        raise ValueError(f"qconv2d takes NHWC data and HWIO kernels, got layout {a.layout}")
    f = DType.float32
    return _conv_type(a, x.with_dtype(f), w.with_dtype(f)).with_dtype(DType.int32)


# ---------------------------------------------------------------- references

def _along(p: np.ndarray, rank: int, axis: int) -> np.ndarray:
    """A 0-d or 1-D quantization parameter shaped to broadcast along `axis` of a rank-`rank` x."""
    if p.ndim == 0 or p.size == 1:
        return p.reshape(())
    shape = [1] * rank
    shape[norm_axis(axis, rank)] = -1
    return p.reshape(shape)


def _saturate(y: np.ndarray, dt: DType) -> np.ndarray:
    lo, hi = Q_RANGE[dt]
    return np.clip(y, lo, hi).astype(dt.numpy)


def _quantize_ref(a: QuantizeAttrs, x, scale, zp):
    s = _along(scale.astype(np.float32), x.ndim, a.axis)
    z = _along(zp.astype(np.float32), x.ndim, a.axis)
    return _saturate(np.rint(x.astype(np.float32) / s) + z, a.dtype)


def _dequantize_ref(a: DequantizeAttrs, q, scale, zp):
    z = _along(zp.astype(np.int32), q.ndim, a.axis)
    s = _along(scale.astype(np.float32), q.ndim, a.axis)
    return (q.astype(np.int32) - z).astype(np.float32) * s


def _requantize_ref(a: QuantizeAttrs, acc, mult, zp):
    m = _along(mult.astype(np.float32), acc.ndim, a.axis)
    z = _along(zp.astype(np.float32), acc.ndim, a.axis)
    return _saturate(np.rint(acc.astype(np.float32) * m) + z, a.dtype)


def _qmatmul_ref(a, x, w, zp):
    """Exact in int64, wrapped to int32 as the kernel's accumulator does."""
    xc = x.astype(np.int64) - np.int64(zp)
    return np.matmul(xc, w.astype(np.int64)).astype(np.int32)


def _qconv2d_ref(a: Conv2DAttrs, x, w, zp):
    """The float conv reference over zero-point-centred ints: float64 is exact here
    (|sum| < 2^53), and padding with the zero point is padding the centred data with 0."""
    xc = (x.astype(np.int64) - np.int64(zp)).astype(np.float64)
    out = _conv_ref(a, xc, w.astype(np.float64))
    return np.rint(out).astype(np.int64).astype(np.int32)


# ---------------------------------------------------------------- lowerings

def _param_expr(c, p, i: int, axis: int, dtype: str):
    """Input i (a scale or zero point) as `dtype`, reshaped to broadcast along `axis`."""
    t, rank = c.in_type(i), c.in_type(0).rank
    if c.in_dtype(i).value != dtype:
        p = c.bb.emit(c.R.astype(p, dtype))
    if t.rank == 0:
        return p
    if t.shape[0] == 1:
        return c.R.reshape(p, [])
    shape = [1] * rank
    shape[norm_axis(axis, rank)] = -1
    return c.R.reshape(p, shape)


def _round_saturate(c, y, dt: DType):
    lo, hi = Q_RANGE[dt]
    return c.R.astype(c.R.clip(y, lo, hi), dt.value)


def _quantize_lower(c, a: QuantizeAttrs, x, scale, zp):
    if c.in_dtype(0) != DType.float32:
        x = c.bb.emit(c.R.astype(x, "float32"))
    y = c.R.round(c.R.divide(x, _param_expr(c, scale, 1, a.axis, "float32")))
    return _round_saturate(c, c.R.add(y, _param_expr(c, zp, 2, a.axis, "float32")), a.dtype)


def _dequantize_lower(c, a: DequantizeAttrs, q, scale, zp):
    qi = c.R.astype(q, "int32") if c.in_dtype(0) != DType.int32 else q
    d = c.R.astype(c.R.subtract(qi, _param_expr(c, zp, 2, a.axis, "int32")), "float32")
    return c.R.multiply(d, _param_expr(c, scale, 1, a.axis, "float32"))


def _requantize_lower(c, a: QuantizeAttrs, acc, mult, zp):
    y = c.R.multiply(c.R.astype(acc, "float32"), _param_expr(c, mult, 1, a.axis, "float32"))
    y = c.R.add(c.R.round(y), _param_expr(c, zp, 2, a.axis, "float32"))
    return _round_saturate(c, y, a.dtype)


def _qmatmul_te(te, out_shape):
    """acc[..., j] = sum_k x[..., k] * w[k, j] - zp * sum_k w[k, j], all int32."""
    def compute(x, w, zp):
        k = te.reduce_axis((0, w.shape[0]), "k")
        kk = te.reduce_axis((0, w.shape[0]), "kk")
        dot = te.compute(out_shape, lambda *i: te.sum(
            x[i[:-1] + (k,)].astype("int32") * w[k, i[-1]].astype("int32"), axis=k), name="qdot")
        colsum = te.compute((w.shape[1],), lambda j: te.sum(w[kk, j].astype("int32"), axis=kk),
                            name="qcolsum")
        return te.compute(out_shape, lambda *i: dot(*i) - zp() * colsum[i[-1]], name="qmatmul")
    return compute


def _qmatmul_lower(c, a, x, w, zp):
    return c.emit_te(_qmatmul_te(c.te, c.out_shape()), x, w, zp)


def _qconv2d_lower(c, a: Conv2DAttrs, x, w, zp):
    xc = c.R.subtract(c.R.astype(x, "int32"), zp)
    return c.R.nn.conv2d(xc, c.R.astype(w, "int32"), a.strides, a.padding, a.dilation, a.groups,
                         data_layout="NHWC", kernel_layout="HWIO", out_dtype="int32")


# ---------------------------------------------------------------- registration

register("quantize", attrs=QuantizeAttrs, infer=_quantize_type, reference=_quantize_ref,
         lower=_quantize_lower, num_inputs=3,
         doc="float -> int8/uint8: saturate(round_half_even(x / scale) + zero_point); "
             "0-d or per-axis (1-D) scale and zero point")
register("dequantize", attrs=DequantizeAttrs, infer=_dequantize_type, reference=_dequantize_ref,
         lower=_dequantize_lower, num_inputs=3,
         doc="int8/uint8/int32 -> float32: (q - zero_point) * scale, per tensor or per axis")
register("requantize", attrs=QuantizeAttrs, infer=_requantize_type, reference=_requantize_ref,
         lower=_requantize_lower, num_inputs=3,
         doc="int32 accumulator -> int8/uint8: saturate(round_half_even(acc * multiplier) + "
             "zero_point) in float32")
register("qmatmul", infer=_qmatmul_type, reference=_qmatmul_ref, lower=_qmatmul_lower,
         num_inputs=3,
         doc="(u8|s8)[..., K] x s8[K, M] -> s32[..., M]: sum((x - x_zero_point) * w), int32 "
             "accumulation")
register("qconv2d", attrs=Conv2DAttrs, infer=_qconv2d_type, reference=_qconv2d_ref,
         lower=_qconv2d_lower, num_inputs=3,
         doc="NHWC (u8|s8) data, HWIO s8 kernel -> s32: conv2d of (x - x_zero_point) with w "
             "(padding reads the zero point), int32 accumulation")
