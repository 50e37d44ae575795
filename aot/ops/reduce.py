"""Reductions: sum, mean, max, min, prod, logsumexp over a set of axes; argmax and
argmin along one axis; cumsum. With their gradient rules (argmax/argmin have none).

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
from .grad_helpers import div, mul, scalar
from .shape import expand_to


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


# ------------------------------------------------------------ gradient rules

def _reduce_vjp(rule):
    """rule(b, attrs, x, y, g, axes) -> dx for a float reduction over `axes` (non-empty);
    g comes with the reduced axes kept as size 1, so it broadcasts against x (`_kept(y)`
    does the same for y where a rule needs it)."""
    def vjp(b, a: ReduceAttrs, inputs, outputs, grads):
        x, y, g = inputs[0], outputs[0], grads[0]
        if not x.type.dtype.is_float:
            return [None]
        axes = _reduced_axes(a, x.type.rank)
        if not axes:
            return [g]
        return [rule(b, a, x, y, _kept(b, a, g, axes), axes)]

    return vjp


def _kept(b, a: ReduceAttrs, v, axes):
    return v if a.keepdims else b.emit("expand_dims", v, axes=axes)


def _count(b, x, axes):
    """How many elements each output of a reduction over `axes` sees, as a tensor that
    broadcasts against x. Static dims give a constant; a symbolic reduced dim is counted in
    the graph by summing ones shaped like a slice of x that keeps only its symbolic dims
    (O(N) work, and the compiled broadcast reads none of x)."""
    shape = x.type.shape
    n = scalar(b, float(np.prod([shape[i] for i in axes if isinstance(shape[i], int)])), x)
    symbolic = tuple(i for i in axes if isinstance(shape[i], str))
    if not symbolic:
        return n
    cut = tuple(i for i, d in enumerate(shape) if isinstance(d, int) and d != 1)
    probe = b.emit("slice", x, starts=(0,) * len(cut), ends=(1,) * len(cut), axes=cut) if cut else x
    ones = b.emit("broadcast_like", scalar(b, 1.0, x), probe)
    return mul(b, b.emit("sum", ones, axes=symbolic, keepdims=True), n)


def _sum_grad(b, a, x, y, g, axes):
    return expand_to(b, g, x)


def _mean_grad(b, a, x, y, g, axes):
    return expand_to(b, div(b, g, _count(b, x, axes)), x)


def _extreme_grad(b, a, x, y, g, axes):
    """max/min: g goes to the elements equal to the result, split evenly between ties
    (as torch.amax/amin)."""
    hit = b.emit("cast", b.emit("equal", x, _kept(b, a, y, axes)), dtype=x.type.dtype)
    return mul(b, hit, div(b, g, b.emit("sum", hit, axes=axes, keepdims=True)))


def prod_partials(b, zero, safe, p, zeros):
    """d prod / d x_i, exact at zeros, from: `zero` (x_i == 0), `safe` (x with its zeros
    replaced by 1), `p` (the product of the group's nonzero elements) and `zeros` (how many
    zeros the group holds), broadcast against each other. No zero: p / x_i. One zero: the
    product of the others, p, at the zero and 0 elsewhere. Two or more: 0 everywhere."""
    none, one = scalar(b, 0.0, p), scalar(b, 1.0, p)
    at_zero = b.emit("where", b.emit("equal", zeros, one), p, none)
    elsewhere = b.emit("where", b.emit("equal", zeros, none), div(b, p, safe), none)
    return b.emit("where", zero, at_zero, elsewhere)


def _prod_grad(b, a, x, y, g, axes):
    zero = b.emit("equal", x, scalar(b, 0.0, x))
    safe = b.emit("where", zero, scalar(b, 1.0, x), x)
    p = b.emit("prod", safe, axes=axes, keepdims=True)
    zeros = b.emit("sum", b.emit("cast", zero, dtype=x.type.dtype), axes=axes, keepdims=True)
    return mul(b, g, prod_partials(b, zero, safe, p, zeros))


def _logsumexp_grad(b, a, x, y, g, axes):
    """g * softmax(x): exp(x - y). An all -inf slice (y = -inf) gets 0, not nan."""
    y = _kept(b, a, y, axes)
    shift = b.emit("where", b.emit("isinf", y), scalar(b, 0.0, y), y)
    return mul(b, g, b.emit("exp", b.emit("subtract", x, shift)))


def _cumsum_vjp(b, a: CumsumAttrs, inputs, outputs, grads):
    """Each x_j reaches the outputs on its other side: cumsum of g the other way, with the
    same exclusive flag (an exclusive sum skips x_j itself in both directions)."""
    if not inputs[0].type.dtype.is_float:
        return [None]
    return [b.emit("cumsum", grads[0], axis=a.axis, exclusive=a.exclusive, reverse=not a.reverse)]


_GRADS = {"sum": _sum_grad, "mean": _mean_grad, "max": _extreme_grad, "min": _extreme_grad,
          "prod": _prod_grad}


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
             reference=_reference(_np), lower=_lowering(_relax), vjp=_reduce_vjp(_GRADS[_name]))

register("logsumexp", attrs=ReduceAttrs, infer=_float_reduce_type, num_inputs=1,
         reference=_reference(_logsumexp), lower=_logsumexp_lower, vjp=_reduce_vjp(_logsumexp_grad))
register("argmax", attrs=ArgReduceAttrs, infer=_arg_type, num_inputs=1,
         reference=_arg_reference(np.argmax), lower=_arg_lowering("argmax"))
register("argmin", attrs=ArgReduceAttrs, infer=_arg_type, num_inputs=1,
         reference=_arg_reference(np.argmin), lower=_arg_lowering("argmin"))
register("cumsum", attrs=CumsumAttrs, infer=_cumsum_type, num_inputs=1,
         reference=_cumsum_reference, lower=_cumsum_lower, vjp=_cumsum_vjp)
