"""Indexing ops: take (ONNX Gather), gather_elements, one_hot, scatter_elements.

Indices are int32 or int64; negative indices count from the end of the indexed
axis, as in ONNX. Out-of-range indices are the caller's bug (numpy raises); the
compiled kernels do not check them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from aot.ir.opdef import register
from aot.ir.types import DType, TensorType

from .common import norm_axis


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


# ---------------------------------------------------------------- registration

register("take", attrs=AxisAttrs, infer=_take_type, num_inputs=2,
         reference=lambda a, data, idx: np.take(data, idx, axis=norm_axis(a.axis, data.ndim)),
         lower=_take_lower)
register("gather_elements", attrs=AxisAttrs, infer=_gather_elements_type, num_inputs=2,
         reference=_gather_elements_ref, lower=_gather_elements_lower)
register("one_hot", attrs=OneHotAttrs, infer=_one_hot_type, num_inputs=1, reference=_one_hot_ref,
         lower=_one_hot_lower)
register("scatter_elements", attrs=ScatterAttrs, infer=_scatter_type, num_inputs=3,
         reference=_scatter_ref, lower=_scatter_lower)
