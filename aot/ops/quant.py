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
and in the TVM lowering, so compiled results match the reference bit for bit. qmatmul and
qconv2d lower to one u8 x s8 -> s32 kernel (below) in the form of AVX-512 VNNI's intrinsic;
depthwise qconv2d to a direct kernel vectorized over channels (further below).
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


@dataclass(frozen=True)
class RequantizeAttrs(QuantizeAttrs):
    """requantize's attributes; `y_scale` records the real scale of the output (the multiplier
    input folds it with the input scales): metadata the QDQ export needs, 0 when unknown. It
    changes nothing the op computes."""
    y_scale: float = 0.0


@dataclass(frozen=True)
class QMatmulAttrs:
    """Metadata, unused by the computation: the real scales the quantize pass chose, so the
    graph can be written as ONNX QDQ (float op between DequantizeLinear / QuantizeLinear).
    `x_scale`: the input's per-tensor scale (its zero point is the third input); `w_scales`: the
    symmetric weights' per-output-channel scales. 0 and () when unknown (hand-written graphs,
    dynamic mode, where the input scale is computed at run time)."""
    x_scale: float = 0.0
    w_scales: tuple[float, ...] = ()


@dataclass(frozen=True)
class QConv2DAttrs(Conv2DAttrs):
    """qconv2d's attributes: the conv's, and the same scale metadata as QMatmulAttrs."""
    x_scale: float = 0.0
    w_scales: tuple[float, ...] = ()


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


def _requantize_type(a: RequantizeAttrs, acc, mult, zp) -> TensorType:
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


def _qconv2d_type(a: QConv2DAttrs, x: TensorType, w: TensorType, zp: TensorType) -> TensorType:
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


# The integer kernels, in the form AVX-512 VNNI's `vpdpbusd` (u8 x s8 -> s32, a 4-deep dot per
# int32 lane) takes; the int8 schedule (aot/codegen/schedules/int8.py) tensorizes it where the
# target has VNNI, and any other target runs it as a plain int32 contraction:
#
#   data  u8 [rows..., T, Cp]         the input as u8: an s8 input shifted by +128 (its zero
#                                     point moves with it, so no other change is needed); a
#                                     conv's im2col copy (T taps of Cin channels); channels
#                                     padded with 0 to Cp, a multiple of 4
#   w     s8 [Np/16, T*Cp/4, 16, 4]   w[t*Cp + c, n] at [n//16, (t*Cp + c)//4, n%16, c%4]
#   dot   i32 [rows..., Np]           the block named QDOT_BLOCK
#   out   = dot - zp' * colsum(w)     = sum((x - zp) * w), exact in wrapping int32 arithmetic
#
# s8 activations are shifted rather than refused because the correction term makes it free:
# the kernel is the same, only zp' = zp + 128. A conv's padding reads the zero point (as u8),
# which the correction cancels: exact for any zero point of the input's dtype (ONNX requires
# that; the quantize pass makes them so).
# Weights are packed, and their column sums taken, here at compile time when they are
# constants (always, after the quantize pass: the packed copy is a constant of the library);
# otherwise by two small kernels at run time. The last row axis is padded to a multiple of
# ROW_TILE when it is symbolic or has no divisor the schedule can use as its register tile,
# so every tile is whole.
VNNI_LANES, VNNI_DEPTH = 16, 4
ROW_TILE = 8
QDOT_BLOCK = "qdot_vnni"


def _round_up(n, m):
    return -(-n // m) * m


def pack_vnni(w: np.ndarray) -> np.ndarray:
    """s8 [T, C, N] (T taps of C input channels; a matmul has one tap) -> the packed
    s8 [Np/16, T*Cp/4, 16, 4], zero padded: packed[j, i, l, d] = w'[4i+d, 16j+l], where
    w' [T*Cp, N] pads each tap's channels to Cp, a multiple of 4."""
    t, c, n = w.shape
    cp, np_ = _round_up(c, VNNI_DEPTH), _round_up(n, VNNI_LANES)
    p = np.zeros((t, cp, np_), np.int8)
    p[:, :c, :n] = w
    p = p.reshape(t * cp // VNNI_DEPTH, VNNI_DEPTH, np_ // VNNI_LANES, VNNI_LANES)
    return np.ascontiguousarray(p.transpose(2, 0, 3, 1))


def _pads_rows(extent) -> bool:
    """Is the last row axis padded? Yes when it is symbolic, or static, above ROW_TILE and
    without a divisor in [4, ROW_TILE] the schedule could use as its register tile."""
    if not isinstance(extent, int):
        return True
    return extent > ROW_TILE and not any(extent % d == 0 for d in range(4, ROW_TILE + 1))


def _padded_rows(extent):
    return (extent + ROW_TILE - 1) // ROW_TILE * ROW_TILE if _pads_rows(extent) else extent


def _packed_weight(c, w, taps: int, n: int):
    """(packed weight, column sums) of input 1 seen as [taps, C, n]: constants when it is a
    constant, else computed at run time by two small kernels."""
    from aot.ir.graph import Param

    p, k = c.node.inputs[1], int(np.prod(c.in_type(1).shape)) // n
    if isinstance(p, Param) and p.is_const and p.data is not None:
        w2 = np.asarray(p.data).reshape(k, n)
        colsum = w2.astype(np.int32).sum(axis=0, dtype=np.int32)
        return (c.relax.const(pack_vnni(w2.reshape(taps, k // taps, n)), "int8"),
                c.relax.const(colsum, "int32"))
    w2 = c.bb.emit(c.R.reshape(w, [k, n])) if c.in_type(1).rank != 2 else w
    return (c.emit_te(_pack_te(c.te, c.tirx, taps, k // taps, n), w2),
            c.emit_te(lambda t: c.topi.sum(c.topi.cast(t, "int32"), axis=0), w2))


def _pack_te(te, tirx, taps: int, ch: int, n: int):
    """pack_vnni as a kernel, for weights known only at run time."""
    cp = _round_up(ch, VNNI_DEPTH)
    shape = (_round_up(n, VNNI_LANES) // VNNI_LANES, taps * cp // VNNI_DEPTH,
             VNNI_LANES, VNNI_DEPTH)

    def compute(w):
        def at(j, i, lane, d):
            kk, nn = i * VNNI_DEPTH + d, j * VNNI_LANES + lane
            t, cc = kk // cp, kk % cp
            return tirx.if_then_else(tirx.all(cc < ch, nn < n), w[t * ch + cc, nn],
                                     tirx.const(0, "int8"))
        return te.compute(shape, at, name="qpack_vnni")
    return compute


def _to_u8(v, signed: bool):
    """An input element as uint8: s8 shifted by +128 (the zero point moves with it)."""
    return (v.astype("int32") + 128).astype("uint8") if signed else v


@dataclass(frozen=True)
class _Kernel:
    """One integer kernel: output rows (the output shape less its channel axis), taps (the
    kernel's window, (KH, KW); a matmul: (1,)) of C input channels each, N output channels,
    and `gather(x, zp, rows, taps, c)`, the u8 input element a row reads at a tap's channel,
    padding included; None when the input already is the u8 data [rows..., Cp] (no copy).
    T = the number of taps."""

    rows: list
    taps: tuple
    ch: int
    n: int
    signed: bool
    gather: object = None


def _channel(c, cc, ch: int):
    """The channel a data column reads: past the real ones (padding to a multiple of 4), the
    last real one again. Any value would do there, since the packed weights are 0 at padded
    channels: clamping reads in bounds without a branch per element."""
    return c.tirx.Min(cc, c.tirx.IntImm(str(cc.ty), ch - 1)) if ch % VNNI_DEPTH else cc


def _data_te(te, tirx, kn: _Kernel, x, zp):
    """The u8 data [rows..., *taps, Cp] (padded rows hold 0; `_channel`: padded channels)."""
    last, pad_rows = kn.rows[-1], _pads_rows(kn.rows[-1])
    rows_p = list(kn.rows[:-1]) + [_padded_rows(last)]
    zero = tirx.const(0, "uint8")

    def at(*i):
        rows, taps, cc = i[:len(rows_p)], i[len(rows_p):-1], i[-1]
        value = kn.gather(x, zp, rows, taps, cc)
        return tirx.if_then_else(rows[-1] < last, value, zero) if pad_rows else value
    shape = rows_p + list(kn.taps) + [_round_up(kn.ch, VNNI_DEPTH)]
    return te.compute(shape, at, name="qdata")


def _qkernel_te(te, tirx, kn: _Kernel):
    """data (u8) x packed weight -> i32 dot (QDOT_BLOCK) -> minus zp' * column sums."""
    cp, np_ = _round_up(kn.ch, VNNI_DEPTH), _round_up(kn.n, VNNI_LANES)
    rows_p = list(kn.rows[:-1]) + [_padded_rows(kn.rows[-1])]

    def compute(x, wp, colsum, zp):
        if kn.gather is not None:
            data = _data_te(te, tirx, kn, x, zp)
            at = lambda rows, taps, cc: data[tuple(rows) + tuple(taps) + (cc,)]  # noqa: E731
        else:
            at = lambda rows, taps, cc: x[tuple(rows) + (cc,)]  # noqa: E731
        taps = [te.reduce_axis((0, e), f"t{j}") for j, e in enumerate(kn.taps)]
        cc = te.reduce_axis((0, cp), "c")
        tap = taps[0] * kn.taps[1] + taps[1] if len(taps) == 2 else taps[0]
        dot = te.compute(rows_p + [np_], lambda *i: te.sum(
            at(i[:-1], taps, cc).astype("int32")
            * wp[i[-1] // VNNI_LANES, tap * (cp // VNNI_DEPTH) + cc // VNNI_DEPTH,
                 i[-1] % VNNI_LANES, cc % VNNI_DEPTH].astype("int32"), axis=taps + [cc]),
            name=QDOT_BLOCK)
        zpe = zp() + 128 if kn.signed else zp()
        return te.compute(list(kn.rows) + [kn.n], lambda *i: dot(*i) - zpe * colsum[i[-1]],
                          name="qacc")
    return compute


def _qmatmul_lower(c, a, x, w, zp):
    k, n = c.in_type(1).shape
    signed = c.in_dtype(0) == DType.int8
    rows = c.shape(c.in_type(0).shape[:-1]) or [1]
    if c.in_type(0).rank == 1:
        x = c.bb.emit(c.R.reshape(x, [1, k]))
    copy = signed or k % VNNI_DEPTH or _pads_rows(rows[-1])

    def gather(xt, _zp, r, _taps, cc):
        return _to_u8(xt[tuple(r) + (_channel(c, cc, k),)], signed)
    wp, colsum = _packed_weight(c, w, 1, n)
    kernel = _qkernel_te(c.te, c.tirx, _Kernel(rows, (1,), k, n, signed,
                                               gather if copy else None))
    out = c.emit_te(kernel, x, wp, colsum, zp)
    return c.R.reshape(out, [n]) if c.in_type(0).rank == 1 else out


def _qconv2d_lower(c, a: Conv2DAttrs, x, w, zp):
    """im2col into the matmul kernel: one tap per kernel position, its Cin channels read
    contiguously (outside the image: the zero point, which the correction cancels, as
    padding the centred data with 0 would)."""
    if _is_depthwise(c, a):
        return _qconv2d_depthwise(c, a, x, w, zp)
    if a.groups != 1:
        return _qconv2d_grouped(c, a, x, w, zp)
    kh, kw, cin, n = c.in_type(1).shape
    signed = c.in_dtype(0) == DType.int8
    b, oh, ow, _ = c.out_shape()
    (sh, sw), (dh, dw), (pt, pl) = a.strides, a.dilation, a.padding[:2]
    h, wd = c.in_type(0).shape[1:3]
    tirx = c.tirx

    def gather(xt, zpt, rows, taps, cc):
        (bb, y, xx), (ty, tx) = rows, taps
        iy, ix = y * sh - pt + ty * dh, xx * sw - pl + tx * dw
        inside = tirx.all(iy >= 0, iy < h, ix >= 0, ix < wd)
        pad = (zpt() + (128 if signed else 0)).astype("uint8")
        value = _to_u8(xt[bb, iy, ix, _channel(c, cc, cin)], signed)
        return tirx.if_then_else(inside, value, pad)
    pointwise = (kh, kw, sh, sw) == (1, 1, 1, 1) and not any(a.padding)
    copy = signed or cin % VNNI_DEPTH or not pointwise or _pads_rows(ow)
    wp, colsum = _packed_weight(c, w, kh * kw, n)
    kernel = _qkernel_te(c.te, tirx, _Kernel([b, oh, ow], (kh, kw), cin, n, signed,
                                             gather if copy else None))
    return c.emit_te(kernel, x, wp, colsum, zp)


def _qconv2d_grouped(c, a: Conv2DAttrs, x, w, zp):
    """Grouped and depthwise convs: the int32 conv of the centred data (the portable path)."""
    xc = c.R.subtract(c.R.astype(x, "int32"), zp)
    return c.R.nn.conv2d(xc, c.R.astype(w, "int32"), a.strides, a.padding, a.dilation, a.groups,
                         data_layout="NHWC", kernel_layout="HWIO", out_dtype="int32")


# Depthwise convs (groups == input channels, channel multiplier m: output channel o reads input
# channel o // m) as one direct kernel, the block named QDW_BLOCK:
#
#   dot[b, y, x, o] = sum over taps (ty, tx) of u8(x at the tap, channel o // m) * w[ty, tx, 0, o]
#   out             = dot + corr[o],  corr = -zp' * colsum(w)    = sum((x - zp) * w), in int32
#
# in qconv2d's VNNI convention: the data as u8 (s8 shifted by +128, zp' = zp + 128), taps
# outside the image read the zero point, which the correction cancels. Both factors fit in 16
# bits and the u8 one has its upper bits zero, so LLVM makes a vectorized `i32(u8) * i32(s8)`
# one `vpmaddwd` on x86 (16 products per zmm; the widening is one `vpmovzxbd` load). NHWC
# makes the channels the contiguous vector axis of data, weights and output; the schedule
# (aot/codegen/schedules/int8_depthwise.py) vectorizes there. Padding (and the s8 shift) go
# through a stage named QDW_PAD_BLOCK that the schedule computes a few input rows at a time,
# those a few rows of output read, so the multiply-add has no bounds checks and no padded
# copy of the whole input is made; a valid (unpadded) u8 conv reads its input in place.
QDW_BLOCK, QDW_PAD_BLOCK = "qdwconv", "qdwpad"


def _is_depthwise(c, a: Conv2DAttrs) -> bool:
    """One input channel per group (the weights' third dim is 1), more than one group."""
    return a.groups > 1 and a.groups == c.in_type(0).shape[-1] and c.in_type(1).shape[2] == 1


def _const_input(c, i: int):
    """Input i's data when it is a constant, else None."""
    from aot.ir.graph import Param

    p = c.node.inputs[i]
    const = isinstance(p, Param) and p.is_const and p.data is not None
    return np.asarray(p.data) if const else None


def _depthwise_correction(c, w, zp, n: int, shift: int):
    """corr = -(zp + shift) * (the weights' sums over the taps), i32 [n]: a constant when
    both are (always, after the quantize pass), else a small kernel."""
    wd, zd = _const_input(c, 1), _const_input(c, 2)
    if wd is not None and zd is not None:
        sums = wd.reshape(-1, n).astype(np.int64).sum(axis=0)
        return c.relax.const((-(np.int64(zd) + shift) * sums).astype(np.int32), "int32")
    te = c.te

    def compute(wt, z):
        t = [te.reduce_axis((0, e), f"t{j}") for j, e in enumerate(wt.shape[:2])]
        sums = te.compute((n,), lambda o: te.sum(wt[t[0], t[1], 0, o].astype("int32"), axis=t))
        return te.compute((n,), lambda o: -(z() + shift) * sums[o], name="qdwcorr")
    return c.emit_te(compute, w, zp)


def _padded_te(te, tirx, x, a: Conv2DAttrs, in_hw, zpe, signed: bool):
    """The u8 input with its padding rows and columns (the zero point zp' there)."""
    (h, wd), (pt, pl, pb, pr) = in_hw, a.padding
    pad = zpe.astype("uint8")

    def at(b, iy, ix, ch):
        y, xx = iy - pt, ix - pl
        inside = tirx.all(y >= 0, y < h, xx >= 0, xx < wd)
        return tirx.if_then_else(inside, _to_u8(x[b, y, xx, ch], signed), pad)
    shape = (x.shape[0], h + pt + pb, wd + pl + pr, x.shape[3])
    return te.compute(shape, at, name=QDW_PAD_BLOCK)


def _qdw_te(te, tirx, a: Conv2DAttrs, in_hw, m: int, out_shape, signed: bool):
    """The depthwise kernel's TE: (x, w, corr, zp) -> i32 [N, OH, OW, O]."""
    (sh, sw), (dh, dw) = a.strides, a.dilation

    def compute(x, w, corr, zp):
        ty, tx = te.reduce_axis((0, w.shape[0]), "ty"), te.reduce_axis((0, w.shape[1]), "tx")
        if signed or any(a.padding):
            x = _padded_te(te, tirx, x, a, in_hw, zp() + 128 if signed else zp(), signed)

        def tap(b, y, xx, o):
            v = x[b, y * sh + ty * dh, xx * sw + tx * dw, o // m if m > 1 else o]
            return v.astype("int32") * w[ty, tx, 0, o].astype("int32")
        dot = te.compute(out_shape, lambda *i: te.sum(tap(*i), axis=[ty, tx]), name=QDW_BLOCK)
        return te.compute(out_shape, lambda *i: dot(*i) + corr[i[-1]], name="qdwacc")
    return compute


def _qconv2d_depthwise(c, a: Conv2DAttrs, x, w, zp):
    n, cin = c.in_type(1).shape[3], c.in_type(0).shape[3]
    signed = c.in_dtype(0) == DType.int8
    in_hw = c.shape(c.in_type(0).shape[1:3])
    kernel = _qdw_te(c.te, c.tirx, a, in_hw, n // cin, c.out_shape(), signed)
    return c.emit_te(kernel, x, w, _depthwise_correction(c, w, zp, n, 128 if signed else 0), zp)


# ---------------------------------------------------------------- registration

register("quantize", attrs=QuantizeAttrs, infer=_quantize_type, reference=_quantize_ref,
         lower=_quantize_lower, num_inputs=3,
         doc="float -> int8/uint8: saturate(round_half_even(x / scale) + zero_point); "
             "0-d or per-axis (1-D) scale and zero point")
register("dequantize", attrs=DequantizeAttrs, infer=_dequantize_type, reference=_dequantize_ref,
         lower=_dequantize_lower, num_inputs=3,
         doc="int8/uint8/int32 -> float32: (q - zero_point) * scale, per tensor or per axis")
register("requantize", attrs=RequantizeAttrs, infer=_requantize_type, reference=_requantize_ref,
         lower=_requantize_lower, num_inputs=3,
         doc="int32 accumulator -> int8/uint8: saturate(round_half_even(acc * multiplier) + "
             "zero_point) in float32")
register("qmatmul", attrs=QMatmulAttrs, infer=_qmatmul_type, reference=_qmatmul_ref, lower=_qmatmul_lower,
         num_inputs=3,
         doc="(u8|s8)[..., K] x s8[K, M] -> s32[..., M]: sum((x - x_zero_point) * w), int32 "
             "accumulation")
register("qconv2d", attrs=QConv2DAttrs, infer=_qconv2d_type, reference=_qconv2d_ref,
         lower=_qconv2d_lower, num_inputs=3,
         doc="NHWC (u8|s8) data, HWIO s8 kernel -> s32: conv2d of (x - x_zero_point) with w "
             "(padding reads the zero point), int32 accumulation")
