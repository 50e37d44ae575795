"""gather_nd (ONNX GatherND): slices of data picked by index tuples, with its gradient rule.

indices[..., :] is a tuple of k indices into data's dims batch_dims .. batch_dims+k-1; the
first batch_dims dims of data and indices are shared batch dims. The output is
indices.shape[:-1] + data.shape[batch_dims + k:]. Negative indices count from the end, as
in ONNX; out-of-range ones are the caller's bug (the kernels do not check).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aot.ir.opdef import register
from aot.ir.types import DType, TensorType

from .shape import fill_like


@dataclass(frozen=True)
class GatherNDAttrs:
    batch_dims: int = 0


def _gather_nd_type(a: GatherNDAttrs, data: TensorType, indices: TensorType) -> TensorType:
    if indices.dtype not in (DType.int32, DType.int64):
        raise ValueError(f"indices must be int32 or int64, got {indices.dtype.short}")
    b = a.batch_dims
    if not 0 <= b < min(data.rank, indices.rank):
        raise ValueError(f"batch_dims={b} must be >= 0 and below the ranks of data ({data.rank}) "
                         f"and indices ({indices.rank})")
    k = indices.shape[-1]
    if not isinstance(k, int) or not 1 <= k <= data.rank - b:
        raise ValueError(f"the last dim of indices ({k}) must be an int in 1..{data.rank - b} "
                         f"(data's rank less batch_dims)")
    if tuple(data.shape[:b]) != tuple(indices.shape[:b]):
        raise ValueError(f"the first {b} (batch) dims of data {data} and indices {indices} differ")
    return data.with_shape(tuple(indices.shape[:-1]) + tuple(data.shape[b + k:]))


def _gather_nd_ref(a: GatherNDAttrs, data, indices):
    b, k = a.batch_dims, indices.shape[-1]
    batch = int(np.prod(data.shape[:b]))
    flat_data = data.reshape((batch,) + data.shape[b:])
    flat_idx = indices.reshape(batch, -1, k)
    out = np.stack([d[tuple(np.moveaxis(i, -1, 0))] for d, i in zip(flat_data, flat_idx)])
    return out.reshape(indices.shape[:-1] + data.shape[b + k:])


def _nonneg_tuples(c, a: GatherNDAttrs, data, indices):
    """Negative entries wrapped by the size of the dim each tuple position indexes."""
    te, tirx, b = c.te, c.tirx, a.batch_dims

    def fn(d, i):
        last = len(i.shape) - 1

        def size(j):
            out = tirx.Cast(i.dtype, d.shape[b])
            for n in range(1, int(i.shape[last])):
                out = tirx.Select(j == n, tirx.Cast(i.dtype, d.shape[b + n]), out)
            return out

        return te.compute(i.shape, lambda *p: tirx.Select(i(*p) < 0, i(*p) + size(p[last]), i(*p)),
                          name="nonneg_index_tuples")

    return c.emit_te(fn, data, indices)


def _gather_nd_lower(c, a: GatherNDAttrs, data, indices):
    if c.in_dtype(1) != DType.int64:  # Relax's gather_nd takes int64 indices only
        indices = c.bb.emit(c.R.astype(indices, "int64"))
    return c.R.gather_nd(data, _nonneg_tuples(c, a, data, indices), a.batch_dims)


def _gather_nd_vjp(b, a: GatherNDAttrs, inputs, outputs, grads):
    """Scatter-add the output gradient into zeros at the same tuples (batch_dims=0)."""
    data, indices = inputs
    if not data.type.dtype.is_float or grads[0] is None:
        return [None, None]
    if a.batch_dims:
        raise ValueError("gather_nd's gradient rule covers batch_dims=0 only")
    zeros = fill_like(b, 0.0, data)
    return [b.emit("scatter_nd", zeros, indices, grads[0], reduction="add"), None]


register("gather_nd", precision="follow", attrs=GatherNDAttrs, infer=_gather_nd_type, num_inputs=2,
         reference=_gather_nd_ref, lower=_gather_nd_lower, vjp=_gather_nd_vjp,
         doc="ONNX GatherND: slices of data at index tuples (last dim of indices), batch_dims shared")
