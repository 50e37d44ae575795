"""Bitwise ops on integer tensors: bitwise_and, bitwise_or, bitwise_xor, bitwise_not,
left_shift, right_shift (ONNX BitwiseAnd/Or/Xor/Not and BitShift).

Binary ops broadcast as numpy does; both inputs share one integer dtype. Shifts
follow ONNX (opset 1.23 semantics): a shift amount outside [0, bits) gives 0, or
-1 for a right shift of a negative signed value; a right shift of a signed value
is arithmetic; a left shift wraps (the bits shifted out are lost, as in two's
complement). LLVM leaves out-of-range shifts undefined, so the lowering guards them.
No gradients: these ops are piecewise constant on integers.
"""
from __future__ import annotations

import numpy as np

from aot.ir.opdef import register
from aot.ir.types import DType, TensorType

from .common import broadcast_shapes, same_dtype


def _int_binary_type(a, x: TensorType, y: TensorType) -> TensorType:
    dt = same_dtype(x, y)
    if not dt.is_int:
        raise ValueError(f"inputs must be integer tensors, got {dt.short}")
    return TensorType(broadcast_shapes(x.shape, y.shape), dt)


def _int_unary_type(a, x: TensorType) -> TensorType:
    if not x.dtype.is_int:
        raise ValueError(f"input must be an integer tensor, got {x.dtype.short}")
    return x


for _name, _np in (("bitwise_and", np.bitwise_and), ("bitwise_or", np.bitwise_or),
                   ("bitwise_xor", np.bitwise_xor)):
    register(_name, infer=_int_binary_type, num_inputs=2,
             reference=lambda a, x, y, f=_np: np.asarray(f(x, y)),
             lower=lambda c, a, x, y, n=_name: getattr(c.R, n)(x, y),
             doc=f"elementwise {_name.split('_')[1]} of the bits of two integer tensors")

register("bitwise_not", infer=_int_unary_type, num_inputs=1,
         reference=lambda a, x: np.invert(x), lower=lambda c, a, x: c.R.bitwise_not(x),
         doc="elementwise complement of the bits of an integer tensor")


# ---------------------------------------------------------------- shifts

def _shift_ref(left: bool):
    def ref(a, x, s):
        x, s = np.broadcast_arrays(x, s)
        bits = np.iinfo(x.dtype).bits
        valid = (s >= 0) & (s < bits)
        amount = np.where(valid, s, 0)
        if left:  # through the unsigned type, so a signed overflow wraps instead of failing
            u = np.dtype(f"u{x.dtype.itemsize}")
            out = np.left_shift(x.view(u) if x.dtype != u else x, amount.astype(u)).view(x.dtype)
            return np.where(valid, out, 0).astype(x.dtype)
        fill = np.where(x < 0, -1, 0) if x.dtype.kind == "i" else 0
        return np.where(valid, np.right_shift(x, amount), fill).astype(x.dtype)

    return ref


def _shift_lower(left: bool):
    def lower(c, a, x, s):
        R, dt = c.R, c.in_dtype(0)
        zero = c.const(0, dt)
        valid = R.logical_and(R.greater_equal(s, zero), R.less(s, c.const(dt.itemsize * 8, dt)))
        shifted = (R.left_shift if left else R.right_shift)(x, R.where(valid, s, zero))
        fill = zero
        if not left and dt.is_signed:
            fill = R.where(R.less(x, zero), c.const(-1, dt), zero)
        return R.where(valid, shifted, fill)

    return lower


for _name, _left in (("left_shift", True), ("right_shift", False)):
    register(_name, infer=_int_binary_type, num_inputs=2, reference=_shift_ref(_left),
             lower=_shift_lower(_left),
             doc=f"x shifted {'left' if _left else 'right'} by s bits (ONNX BitShift): a shift "
                 f"outside [0, bits) gives 0" + ("" if _left else " (-1 for negative signed x)"))
