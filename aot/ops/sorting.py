"""topk (ONNX TopK): the k largest or smallest entries along an axis, with their indices,
and its gradient rule.

Ties keep index order: of equal values, the lower index comes first, for largest and
smallest alike (ONNX's rule). Results are always sorted (ONNX leaves sorted=0's order
open, so sorted output is a valid answer there too). Indices are int64.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aot.ir.opdef import register
from aot.ir.types import DType, TensorType

from .common import norm_axis
from .shape import fill_like


@dataclass(frozen=True)
class TopKAttrs:
    k: int
    axis: int = -1
    largest: bool = True


def _topk_type(a: TopKAttrs, x: TensorType):
    if x.rank == 0:
        raise ValueError("input must have rank >= 1")
    if x.dtype == DType.bool:
        raise ValueError("input must be numeric, got bool")
    axis = norm_axis(a.axis, x.rank)
    n = x.shape[axis]
    if not isinstance(n, int):
        raise ValueError(f"the sorted axis {axis} must be static, got symbol {n!r}")
    if not 0 <= a.k <= n:
        raise ValueError(f"k={a.k} must be in 0..{n} (the size of axis {axis})")
    shape = x.shape[:axis] + (a.k,) + x.shape[axis + 1:]
    return x.with_shape(shape), TensorType(shape, DType.int64)


def _topk_ref(a: TopKAttrs, x):
    axis = norm_axis(a.axis, x.ndim)
    if a.largest:  # stable ascending sort of the reversed axis, read backwards: ties by index
        n = x.shape[axis]
        order = n - 1 - np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)
    else:
        order = np.argsort(x, axis=axis, kind="stable")
    idx = np.take(order, np.arange(a.k), axis=axis)
    return np.take_along_axis(x, idx, axis), idx.astype(np.int64)


def _topk_lower(c, a: TopKAttrs, x):
    axis = norm_axis(a.axis, c.in_type(0).rank)
    if a.k == 0:  # TVM reads k < 1 as "all": an empty slice instead
        empty = c.bb.emit(c.R.strided_slice(x, [axis], [0], [0]))
        return empty, c.R.astype(empty, "int64")
    both = c.bb.emit(c.R.topk(x, a.k, axis, "both", a.largest, "int64"))
    return c.relax.TupleGetItem(both, 0), c.relax.TupleGetItem(both, 1)


def _topk_vjp(b, a: TopKAttrs, inputs, outputs, grads):
    """Each kept value's gradient goes back to where it came from; the rest get zero."""
    x, g = inputs[0], grads[0]
    if not x.type.dtype.is_float or g is None:
        return [None]
    zeros = fill_like(b, 0.0, x)
    return [b.emit("scatter_elements", zeros, outputs[1], g, axis=a.axis, reduction="add")]


register("topk", attrs=TopKAttrs, infer=_topk_type, num_inputs=1, num_outputs=2,
         reference=_topk_ref, lower=_topk_lower, vjp=_topk_vjp,
         doc="(values, int64 indices) of the k largest (smallest) entries along axis; ties by index")
