"""Indexing ops: take (ONNX Gather), gather_elements, one_hot, scatter_elements,
scatter_nd (ONNX ScatterND), with their gradient rules.

Indices are int32 or int64; negative indices count from the end of the indexed
axis, as in ONNX. Out-of-range indices are the caller's bug (numpy raises); the
compiled kernels do not check them. No gradient flows into indices.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from aot.ir.opdef import register
from aot.ir.types import DType, TensorType

from .common import norm_axis
from .grad_helpers import div, mul, scalar
from .reduce import prod_partials
from .shape import fill_like


@dataclass(frozen=True)
class AxisAttrs:
    axis: int = 0


@dataclass(frozen=True)
class OneHotAttrs:
    depth: int
    axis: int = -1
    on_value: float = 1.0
    off_value: float = 0.0
    dtype: DType = DType.float32


@dataclass(frozen=True)
class ScatterAttrs:
    axis: int = 0
    reduction: Literal["none", "add", "mul", "max", "min"] = "none"


def _require_indices(t: TensorType, what: str = "indices") -> None:
    if t.dtype not in (DType.int32, DType.int64):
        raise ValueError(f"{what} must be int32 or int64, got {t.dtype.short}")


def _nonneg(c, data, indices, axis: int):
    """indices + size where negative, computed in TE so a symbolic size works too."""
    te, tirx = c.te, c.tirx

    def fn(d, i):
        size = tirx.Cast(i.dtype, d.shape[axis])
        return te.compute(i.shape, lambda *k: tirx.Select(i(*k) < 0, i(*k) + size, i(*k)),
                          name="nonneg_indices")

    return c.emit_te(fn, data, indices)


# ---------------------------------------------------------------- take

def _take_type(a: AxisAttrs, data: TensorType, indices: TensorType) -> TensorType:
    _require_indices(indices)
    if data.rank == 0:
        raise ValueError("data must have rank >= 1")
    axis = norm_axis(a.axis, data.rank)
    return data.with_shape(data.shape[:axis] + indices.shape + data.shape[axis + 1:])


def _take_lower(c, a: AxisAttrs, data, indices):
    # "wrap" takes indices modulo the size: negative ones count from the end, as ONNX wants
    return c.R.take(data, indices, norm_axis(a.axis, c.in_type(0).rank), mode="wrap")


# ---------------------------------------------------------- gather_elements

def _check_elementwise_indices(data: TensorType, indices: TensorType, axis: int) -> None:
    """Same rank; off the axis, each index dim fits in the data dim."""
    if indices.rank != data.rank:
        raise ValueError(f"indices must have the rank of data ({data.rank}), got {indices}")
    for i, (d, k) in enumerate(zip(data.shape, indices.shape)):
        if i == axis or d == k:
            continue
        if isinstance(d, str) or isinstance(k, str) or k > d:
            raise ValueError(f"indices dim {i} ({k}) must fit in data dim {i} ({d})")


def _gather_elements_type(a: AxisAttrs, data: TensorType, indices: TensorType) -> TensorType:
    _require_indices(indices)
    if data.rank == 0:
        raise ValueError("data must have rank >= 1")
    _check_elementwise_indices(data, indices, norm_axis(a.axis, data.rank))
    return data.with_shape(indices.shape)


def _element_index(indices, axis: int):
    """The full index tuple that puts `indices` on `axis` and each position elsewhere."""
    grid = list(np.indices(indices.shape, sparse=True))
    grid[axis] = indices
    return tuple(grid)


def _gather_elements_ref(a: AxisAttrs, data, indices):
    return data[_element_index(indices, norm_axis(a.axis, data.ndim))]


def _gather_elements_lower(c, a: AxisAttrs, data, indices):
    axis = norm_axis(a.axis, c.in_type(0).rank)
    return c.R.gather_elements(data, _nonneg(c, data, indices, axis), axis)


# ---------------------------------------------------------------- one_hot

def _one_hot_type(a: OneHotAttrs, indices: TensorType) -> TensorType:
    if not indices.dtype.is_int:
        raise ValueError(f"indices must be an int tensor, got {indices.dtype.short}")
    if a.depth < 1:
        raise ValueError(f"depth must be >= 1, got {a.depth}")
    axis = norm_axis(a.axis, indices.rank + 1)
    return TensorType(indices.shape[:axis] + (a.depth,) + indices.shape[axis:], a.dtype)


def _one_hot_ref(a: OneHotAttrs, indices):
    axis = norm_axis(a.axis, indices.ndim + 1)
    idx = np.where(indices < 0, indices + a.depth, indices)
    hot = np.moveaxis(idx[..., None] == np.arange(a.depth), -1, axis)
    dt = a.dtype.numpy
    return np.where(hot, np.asarray(a.on_value).astype(dt), np.asarray(a.off_value).astype(dt))


def _scalar(v: float, dtype: DType):
    """v as the Python scalar numpy's cast to `dtype` gives (1.7 -> 1 for ints)."""
    if dtype == DType.bool:
        return bool(v)
    return int(np.asarray(v).astype(dtype.numpy)) if dtype.is_int else float(v)


def _one_hot_lower(c, a: OneHotAttrs, indices):
    R, dt = c.R, c.in_dtype(0)
    idx = R.where(R.less(indices, c.const(0, dt)), R.add(indices, c.const(a.depth, dt)), indices)
    on, off = (c.tirx.const(_scalar(v, a.dtype), a.dtype.value) for v in (a.on_value, a.off_value))
    return R.one_hot(c.bb.emit(idx), on, off, a.depth, norm_axis(a.axis, c.in_type(0).rank + 1))


# -------------------------------------------------------- scatter_elements

def _scatter_type(a: ScatterAttrs, data: TensorType, indices: TensorType,
                  updates: TensorType) -> TensorType:
    _require_indices(indices)
    if data.rank == 0:
        raise ValueError("data must have rank >= 1")
    if updates.dtype != data.dtype:
        raise ValueError(f"updates must have the dtype of data ({data.dtype.short}), "
                         f"got {updates.dtype.short}")
    if updates.shape != indices.shape:
        raise ValueError(f"updates {updates} must have the shape of indices {indices}")
    _check_elementwise_indices(data, indices, norm_axis(a.axis, data.rank))
    return data


_SCATTER_UFUNC = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _scatter_ref(a: ScatterAttrs, data, indices, updates):
    out = data.copy()
    where = _element_index(indices, norm_axis(a.axis, data.ndim))
    if a.reduction == "none":  # duplicate indices: the last update wins
        out[where] = updates
    else:
        _SCATTER_UFUNC[a.reduction].at(out, where, updates)
    return out


def _scatter_lower(c, a: ScatterAttrs, data, indices, updates):
    # topi's scatter_elements already counts negative indices from the end
    reduction = "update" if a.reduction == "none" else a.reduction
    return c.R.scatter_elements(data, indices, updates, norm_axis(a.axis, c.in_type(0).rank), reduction)


# ---------------------------------------------------------------- scatter_nd

@dataclass(frozen=True)
class ScatterNDAttrs:
    reduction: Literal["none", "add", "mul", "max", "min"] = "none"


def _scatter_nd_type(a: ScatterNDAttrs, data: TensorType, indices: TensorType,
                     updates: TensorType) -> TensorType:
    """indices[..., k] index the first k dims of data; updates hold one slice data[i0..ik-1]
    per index tuple: updates.shape == indices.shape[:-1] + data.shape[k:]."""
    _require_indices(indices)
    if indices.rank == 0:
        raise ValueError("indices must have rank >= 1 (its last dim holds the index tuples)")
    k = indices.shape[-1]
    if not isinstance(k, int) or not 1 <= k <= data.rank:
        raise ValueError(f"the last dim of indices ({k}) must be an int in 1..{data.rank} (the rank of data)")
    if updates.dtype != data.dtype:
        raise ValueError(f"updates must have the dtype of data ({data.dtype.short}), got {updates.dtype.short}")
    want = tuple(indices.shape[:-1]) + tuple(data.shape[k:])
    if tuple(updates.shape) != want:
        raise ValueError(f"updates must have shape indices.shape[:-1] + data.shape[{k}:] = "
                         f"{TensorType(want, data.dtype)}, got {updates}")
    return data


def _scatter_nd_ref(a: ScatterNDAttrs, data, indices, updates):
    out = data.copy()
    where = tuple(np.moveaxis(indices, -1, 0))  # k index arrays, each of shape indices.shape[:-1]
    if a.reduction == "none":  # duplicate index tuples: the last update wins
        out[where] = updates
    else:
        _SCATTER_UFUNC[a.reduction].at(out, where, updates)
    return out


def _nonneg_tuples(c, data, indices):
    """Index tuples with negative entries wrapped by the size of the dim each one indexes
    (topi's scatter_nd would read a negative entry as an offset before the buffer)."""
    te, tirx = c.te, c.tirx

    def fn(d, i):
        k = len(i.shape) - 1

        def size(j):  # d.shape[j] for the tuple position j, a loop variable
            out = tirx.Cast(i.dtype, d.shape[0])
            for n in range(1, int(i.shape[k])):
                out = tirx.Select(j == n, tirx.Cast(i.dtype, d.shape[n]), out)
            return out

        return te.compute(i.shape, lambda *p: tirx.Select(i(*p) < 0, i(*p) + size(p[k]), i(*p)),
                          name="nonneg_index_tuples")

    return c.emit_te(fn, data, indices)


def _scatter_nd_lower(c, a: ScatterNDAttrs, data, indices, updates):
    reduction = "update" if a.reduction == "none" else a.reduction
    return c.R.scatter_nd(data, _nonneg_tuples(c, data, indices), updates, reduction)


# ---------------------------------------------------------------- gradient rules

def _take_vjp(b, a: AxisAttrs, inputs, outputs, grads):
    """Scatter-add g into zeros along the taken axis (repeated indices accumulate): the
    Embedding gradient. scatter_nd indexes leading dims, so the axis moves to the front
    of the zeros and the index dims to the front of g, and back after."""
    data, indices = inputs
    g = grads[0]
    if not data.type.dtype.is_float:
        return [None, None]
    axis, k = norm_axis(a.axis, data.type.rank), indices.type.rank
    rest = [i for i in range(data.type.rank) if i != axis]
    shape = tuple(data.type.shape[i] for i in (axis, *rest))
    if any(isinstance(d, str) for d in shape):  # broadcast_like takes the symbolic dims from data
        zeros = fill_like(b, 0.0, _transposed(b, data, (axis, *rest)))
    else:
        zeros = b.emit("broadcast_to", scalar(b, 0.0, data), shape=shape)
    g = _transposed(b, g, (*range(axis, axis + k), *range(axis), *range(axis + k, g.type.rank)))
    tuples = b.emit("expand_dims", indices, axes=(k,))
    out = b.emit("scatter_nd", zeros, tuples, g, reduction="add")
    return [_transposed(b, out, (*range(1, axis + 1), 0, *range(axis + 1, data.type.rank))), None]


def _transposed(b, v, perm):
    return v if list(perm) == list(range(len(perm))) else b.emit("transpose", v, perm=tuple(perm))


def _gather_elements_vjp(b, a: AxisAttrs, inputs, outputs, grads):
    data, indices = inputs
    if not data.type.dtype.is_float:
        return [None, None]
    zeros = fill_like(b, 0.0, data)
    return [b.emit("scatter_elements", zeros, indices, grads[0], axis=a.axis, reduction="add"), None]


def _scatter_vjp(b, a: ScatterAttrs, inputs, outputs, grads):
    """scatter_elements: the shared rules of `_scatter_grads`, gathering and scattering
    along `axis`."""
    _, indices, _ = inputs
    return _scatter_grads(
        b, a.reduction, inputs, outputs[0], grads[0],
        gather=lambda v: b.emit("gather_elements", v, indices, axis=a.axis),
        scatter=lambda d, u, r: b.emit("scatter_elements", d, indices, u, axis=a.axis, reduction=r))


def _scatter_nd_vjp(b, a: ScatterNDAttrs, inputs, outputs, grads):
    """scatter_nd: the same rules with index tuples (gather_nd reads what scatter_nd wrote)."""
    _, indices, _ = inputs
    return _scatter_grads(
        b, a.reduction, inputs, outputs[0], grads[0],
        gather=lambda v: b.emit("gather_nd", v, indices),
        scatter=lambda d, u, r: b.emit("scatter_nd", d, indices, u, reduction=r))


def _scatter_grads(b, reduction: str, inputs, y, g, gather, scatter):
    """Gradients of a scatter, whatever its indexing (`gather` reads the scattered positions
    of a data-shaped value; `scatter` writes update-shaped values there).
    none: the overwritten positions get no gradient, each update the gradient at its
    target (with duplicate indices, which ONNX leaves undefined, every duplicate gets it).
    add: both get g. mul, max, min: see `_scatter_mul_grads` and `_scatter_extreme_grads`."""
    data, _, updates = inputs
    if not data.type.dtype.is_float:
        return [None, None, None]
    if reduction == "mul":
        return _scatter_mul_grads(b, data, updates, g, gather, scatter)
    if reduction in ("max", "min"):
        return _scatter_extreme_grads(b, data, updates, y, g, gather, scatter)
    gu = gather(g)
    if reduction == "add":
        return [g, None, gu]
    return [scatter(g, fill_like(b, 0.0, updates), "none"), None, gu]


def _scatter_extreme_grads(b, data, updates, y, g, gather, scatter):
    """Each output position is the max (min) of its data element and the updates sent to it;
    g goes to those equal to it, split evenly between ties (as torch's scatter_reduce)."""
    hit_d = b.emit("cast", b.emit("equal", data, y), dtype=data.type.dtype)
    hit_u = b.emit("cast", b.emit("equal", updates, gather(y)), dtype=data.type.dtype)
    count = scatter(hit_d, hit_u, "add")
    share = div(b, g, count)
    return [mul(b, share, hit_d), None, mul(b, gather(share), hit_u)]


def _scatter_mul_grads(b, data, updates, g, gather, scatter):
    """Each output position is the product of its data element and the updates sent to it;
    the partials are the products of the others, exact at zeros (see `prod_partials`)."""
    zero_d, zero_u = (b.emit("equal", v, scalar(b, 0.0, v)) for v in (data, updates))
    safe_d, safe_u = (b.emit("where", z, scalar(b, 1.0, v), v) for z, v in ((zero_d, data), (zero_u, updates)))
    p = scatter(safe_d, safe_u, "mul")
    zeros = scatter(*(b.emit("cast", z, dtype=data.type.dtype) for z in (zero_d, zero_u)), "add")
    gd = mul(b, g, prod_partials(b, zero_d, safe_d, p, zeros))
    gu = mul(b, gather(g), prod_partials(b, zero_u, safe_u, gather(p), gather(zeros)))
    return [gd, None, gu]


# ---------------------------------------------------------------- registration

register("take", precision="follow", attrs=AxisAttrs, infer=_take_type, num_inputs=2,
         reference=lambda a, data, idx: np.take(data, idx, axis=norm_axis(a.axis, data.ndim)),
         lower=_take_lower, vjp=_take_vjp)
register("gather_elements", precision="follow", attrs=AxisAttrs, infer=_gather_elements_type, num_inputs=2,
         reference=_gather_elements_ref, lower=_gather_elements_lower, vjp=_gather_elements_vjp)
register("one_hot", attrs=OneHotAttrs, infer=_one_hot_type, num_inputs=1, reference=_one_hot_ref,
         lower=_one_hot_lower)
register("scatter_elements", attrs=ScatterAttrs, infer=_scatter_type, num_inputs=3,
         reference=_scatter_ref, lower=_scatter_lower, vjp=_scatter_vjp)
register("scatter_nd", attrs=ScatterNDAttrs, infer=_scatter_nd_type, num_inputs=3,
         reference=_scatter_nd_ref, lower=_scatter_nd_lower, vjp=_scatter_nd_vjp)
