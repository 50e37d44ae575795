"""bitcast (ONNX BitCast): the same bits read as another element type of the same width.

bool counts as one byte holding 0 or 1 (numpy's and ONNX's layout). The shape is kept.
"""
from __future__ import annotations

from dataclasses import dataclass

from aot.ir.opdef import register
from aot.ir.types import DType, TensorType


@dataclass(frozen=True)
class BitcastAttrs:
    dtype: DType


def _bitcast_type(a: BitcastAttrs, x: TensorType) -> TensorType:
    if x.dtype.itemsize != a.dtype.itemsize:
        raise ValueError(f"bitcast needs equal element widths: {x.dtype.short} is {x.dtype.itemsize} "
                         f"byte(s), {a.dtype.short} is {a.dtype.itemsize}")
    return x.with_dtype(a.dtype)


def _bitcast_ref(a: BitcastAttrs, x):
    return x.view(a.dtype.numpy)


def _bitcast_lower(c, a: BitcastAttrs, x):
    src, dst = c.in_dtype(0), a.dtype
    if src == dst:
        return x
    if src == DType.bool:  # TVM's bool is not a byte type; its values are the bytes 0/1
        return c.R.astype(x, dst.value) if dst.is_int else _bitcast_lower_via(c, x, "uint8", dst)
    if dst == DType.bool:
        return c.R.not_equal(_bitcast_lower_via(c, x, src.value, DType.uint8), c.const(0, DType.uint8))
    return _bitcast_lower_via(c, x, src.value, dst)


def _bitcast_lower_via(c, x, src: str, dst: DType):
    te, tirx = c.te, c.tirx
    if src == "uint8" and c.in_dtype(0) == DType.bool:
        x = c.bb.emit(c.R.astype(x, "uint8"))

    def fn(v):
        return te.compute(v.shape, lambda *i: tirx.reinterpret(dst.value, v(*i)), name="bitcast")

    return c.emit_te(fn, x)


register("bitcast", attrs=BitcastAttrs, infer=_bitcast_type, num_inputs=1, reference=_bitcast_ref,
         lower=_bitcast_lower)
