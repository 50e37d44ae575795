"""Reductions: sum, mean, max, min, prod, logsumexp over a set of axes; argmax and
argmin along one axis; cumsum.

Axes follow numpy: `axes=None` reduces every axis, `axes=()` reduces none, negative
axes count from the end. Symbolic dims reduce like any other (Relax divides a mean
by the runtime size).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from aot.ir.opdef import register
from aot.ir.types import DType, TensorType

from .common import norm_axes, norm_axis, require_float


@dataclass(frozen=True)
class ReduceAttrs:
    axes: Optional[tuple[int, ...]] = None  # None: every axis
    keepdims: bool = False


@dataclass(frozen=True)
class ArgReduceAttrs:
    axis: int = 0
    keepdims: bool = False
    select_last_index: bool = False


@dataclass(frozen=True)
class CumsumAttrs:
    axis: int = 0
    exclusive: bool = False
    reverse: bool = False


# ------------------------------------------------------------ type rules

def _numeric(x: TensorType) -> None:
    if x.dtype == DType.bool:
        raise ValueError("input must be numeric, got bool")


def _reduced_axes(a: ReduceAttrs, rank: int) -> tuple[int, ...]:
    """The normalised axes; a scalar has none to reduce."""
    axes = norm_axes(a.axes, rank)
    return axes if rank else ()


def _reduced_shape(shape, axes, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_type(a: ReduceAttrs, x: TensorType) -> TensorType:
    _numeric(x)
    return x.with_shape(_reduced_shape(x.shape, _reduced_axes(a, x.rank), a.keepdims))


def _float_reduce_type(a: ReduceAttrs, x: TensorType) -> TensorType:
    require_float(x)
    return _reduce_type(a, x)


def _arg_type(a: ArgReduceAttrs, x: TensorType) -> TensorType:
    _numeric(x)
    if x.rank == 0:
        raise ValueError("input must have rank >= 1")
    axis = norm_axis(a.axis, x.rank)
    return TensorType(_reduced_shape(x.shape, (axis,), a.keepdims), DType.int64)


def _cumsum_type(a: CumsumAttrs, x: TensorType) -> TensorType:
    _numeric(x)
    if x.rank == 0:
        raise ValueError("input must have rank >= 1")
    norm_axis(a.axis, x.rank)
    return x


# ------------------------------------------------------------ references

def _reference(fn):
    def ref(a: ReduceAttrs, x):
        axes = _reduced_axes(a, x.ndim)
        if not axes:
            return x.copy()
        return np.asarray(fn(x, axis=axes, keepdims=a.keepdims)).astype(x.dtype)

    return ref


def _logsumexp(x, axis, keepdims):
    """log(sum(exp(x))) shifted by the max; an all -inf slice stays -inf, not nan."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype)
    with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer here
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _arg_reference(fn):
    def ref(a: ArgReduceAttrs, x):
        axis = norm_axis(a.axis, x.ndim)
        if a.select_last_index:
            idx = x.shape[axis] - 1 - fn(np.flip(x, axis), axis=axis, keepdims=a.keepdims)
        else:
            idx = fn(x, axis=axis, keepdims=a.keepdims)
        return np.asarray(idx, dtype=np.int64)

    return ref


def _cumsum_reference(a: CumsumAttrs, x):
    axis = norm_axis(a.axis, x.ndim)
    y = np.flip(x, axis) if a.reverse else x
    out = np.cumsum(y, axis=axis, dtype=x.dtype)
    if a.exclusive:  # shift by one instead of subtracting, so floats round as the kernel does
        pad = [(1, 0) if i == axis else (0, 0) for i in range(x.ndim)]
        out = np.take(np.pad(out, pad), np.arange(x.shape[axis]), axis)
    return np.flip(out, axis) if a.reverse else out


# ------------------------------------------------------------ lowerings

def _lowering(relax_name: str):
    def lower(c, a: ReduceAttrs, x):
        axes = _reduced_axes(a, c.in_type(0).rank)
        if not axes:
            return x
        return getattr(c.R, relax_name)(x, list(axes), a.keepdims)

    return lower


def _logsumexp_lower(c, a: ReduceAttrs, x):
    axes = _reduced_axes(a, c.in_type(0).rank)
    if not axes:
        return x
    R, dt = c.R, c.in_dtype(0)
    m = c.bb.emit(R.max(x, list(axes), True))
    m = c.bb.emit(R.where(R.isfinite(m), m, c.const(0.0, dt)))
    out = R.add(R.log(R.sum(R.exp(R.subtract(x, m)), list(axes), True)), m)
    return out if a.keepdims else R.squeeze(out, list(axes))


def _arg_lowering(name: str):
    def lower(c, a: ArgReduceAttrs, x):
        axis = norm_axis(a.axis, c.in_type(0).rank)
        if a.select_last_index:  # Relax's argmax has no such flag; topi's does
            return c.emit_te(getattr(c.topi, name), x, axis, a.keepdims, True)
        return getattr(c.R, name)(x, axis, a.keepdims)

    return lower


def _cumsum_lower(c, a: CumsumAttrs, x):
    axis = norm_axis(a.axis, c.in_type(0).rank)
    y = c.R.flip(x, axis) if a.reverse else x
    out = c.R.cumsum(y, axis, exclusive=a.exclusive)
    return c.R.flip(out, axis) if a.reverse else out


# ------------------------------------------------------------ registration

# (name, type rule, numpy, relax op)
_REDUCE = [
    ("sum", _reduce_type, np.sum, "sum"),
    ("mean", _float_reduce_type, np.mean, "mean"),
    ("max", _reduce_type, np.max, "max"),
    ("min", _reduce_type, np.min, "min"),
    ("prod", _reduce_type, np.prod, "prod"),
]

for _name, _infer, _np, _relax in _REDUCE:
    register(_name, attrs=ReduceAttrs, infer=_infer, num_inputs=1,
             reference=_reference(_np), lower=_lowering(_relax))

register("logsumexp", attrs=ReduceAttrs, infer=_float_reduce_type, num_inputs=1,
         reference=_reference(_logsumexp), lower=_logsumexp_lower)
register("argmax", attrs=ArgReduceAttrs, infer=_arg_type, num_inputs=1,
         reference=_arg_reference(np.argmax), lower=_arg_lowering("argmax"))
register("argmin", attrs=ArgReduceAttrs, infer=_arg_type, num_inputs=1,
         reference=_arg_reference(np.argmin), lower=_arg_lowering("argmin"))
register("cumsum", attrs=CumsumAttrs, infer=_cumsum_type, num_inputs=1,
         reference=_cumsum_reference, lower=_cumsum_lower)
