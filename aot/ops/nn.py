"""Neural-network ops: matmul and softmax. The rest of the family lives beside it:
convolutions in conv.py, pooling in pool.py, their shared layouts in nn_common.py.

Gradients: matmul's handles numpy's 1-D operands and broadcast batch dims itself
(batch broadcasting is not elementwise, so the autodiff walker leaves it to the rule).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aot.ir.attrs import Optional
from aot.ir.opdef import register
from aot.ir.types import DType, TensorType

from .common import broadcast_shapes, norm_axis, require_float, same_dtype
from .conv import accumulator_dtype
from .grad_helpers import mul, sub
from .nn_common import float_vjp


# ---------------------------------------------------------------- matmul

@dataclass(frozen=True)
class MatmulAttrs:
    """out_dtype: accumulate and return in this wider float (float16/bfloat16 inputs, float32
    out: mixed precision); None is the inputs' dtype."""

    out_dtype: Optional[DType] = None


def _matmul_type(a, x: TensorType, y: TensorType) -> TensorType:
    """numpy.matmul: 1-D operands gain (then lose) a unit dim; batch dims broadcast."""
    dt = same_dtype(x, y)
    if dt == DType.bool:
        raise ValueError("matmul inputs must be numeric, got bool")
    if x.rank == 0 or y.rank == 0:
        raise ValueError("matmul inputs must be at least 1-D, got a scalar")
    xs = x.shape if x.rank > 1 else (1,) + x.shape
    ys = y.shape if y.rank > 1 else y.shape + (1,)
    if xs[-1] != ys[-2]:
        raise ValueError(f"contraction dims differ: lhs has {xs[-1]} columns, rhs has {ys[-2]} rows")
    try:
        batch = broadcast_shapes(xs[:-2], ys[:-2])
    except ValueError as e:
        raise ValueError(f"batch dims: {e}") from None
    rows = xs[-2:-1] if x.rank > 1 else ()
    cols = ys[-1:] if y.rank > 1 else ()
    return TensorType(batch + rows + cols, accumulator_dtype(a, dt))


def _matmul_ref(a, x, y):
    """Exact in int64 (then wrapped to the dtype, as the kernels do) or float64."""
    acc = np.int64 if x.dtype.kind in "iu" else np.float64
    out = a.out_dtype.numpy if a.out_dtype is not None else x.dtype
    return np.matmul(x.astype(acc), y.astype(acc)).astype(out)


def _swap_last(b, v):
    r = v.type.rank
    return b.emit("transpose", v, perm=tuple(range(r - 2)) + (r - 1, r - 2))


def _sum_batch(b, g, like):
    """Sum the batch dims of `g` (all but its last two) down to `like`'s; a 1-D `like` also
    loses the unit dim it gained. Not elementwise broadcasting: the rule does it, not the walker."""
    batch = like.type.shape[:-2]
    extra = g.type.rank - 2 - len(batch)
    axes = tuple(range(extra)) + tuple(extra + i for i, d in enumerate(batch)
                                       if d == 1 and g.type.shape[extra + i] != 1)
    if axes:
        g = b.emit("sum", g, axes=axes, keepdims=True)
    if extra:
        g = b.emit("squeeze", g, axes=tuple(range(extra)))
    if g.type.shape == like.type.shape:
        return g
    if like.type.rank == 1:
        return b.emit("reshape", g, shape=like.type.shape)
    return b.emit("broadcast_like", g, like)  # a batch symbol of `like` met an int: re-type it


def _flat_rows(b, v):
    """(..., r, c) -> (rows, c) when the leading dims are static, else None."""
    lead = v.type.shape[:-1]
    if v.type.rank < 3 or not all(isinstance(d, int) for d in lead):
        return None
    return b.emit("reshape", v, shape=(int(np.prod(lead)), v.type.shape[-1]))


def _matmul_rhs_grad(b, x2, y2, g2):
    """x^T g, summed over the batch. With a 2-D rhs and static batch dims, as one matmul
    over the flattened rows instead of a batch of matmuls and a sum."""
    xf, gf = (_flat_rows(b, x2), _flat_rows(b, g2)) if y2.type.rank == 2 else (None, None)
    if xf is not None:
        return b.emit("matmul", _swap_last(b, xf), gf)
    return b.emit("matmul", _swap_last(b, x2), g2)


def _matmul_grads(b, a, x, y, out, g):
    """numpy.matmul's 1-D operands become (1, K) and (K, 1); the grad gains the same unit dims.
    With a wider out_dtype, g comes back to the inputs' dtype first."""
    if g.type.dtype != x.type.dtype:
        g = b.emit("cast", g, dtype=x.type.dtype)
    x2 = x if x.type.rank > 1 else b.emit("expand_dims", x, axes=(0,))
    y2 = y if y.type.rank > 1 else b.emit("expand_dims", y, axes=(1,))
    g2 = g if y.type.rank > 1 else b.emit("expand_dims", g, axes=(-1,))
    g2 = g2 if x.type.rank > 1 else b.emit("expand_dims", g2, axes=(-2,))
    gx = b.emit("matmul", g2, _swap_last(b, y2))
    gy = _matmul_rhs_grad(b, x2, y2, g2)
    return _sum_batch(b, gx, x), _sum_batch(b, gy, y)


def _matmul_lower(c, a, x, y):
    return c.R.matmul(x, y, out_dtype=a.out_dtype.value if a.out_dtype else None)


register("matmul", precision="accumulate", attrs=MatmulAttrs, infer=_matmul_type, reference=_matmul_ref, num_inputs=2,
         lower=_matmul_lower, vjp=float_vjp(_matmul_grads),
         doc="numpy.matmul; integer results wrap around as the dtype does; out_dtype: "
             "accumulate and return in a wider float")


# ---------------------------------------------------------------- softmax

@dataclass(frozen=True)
class SoftmaxAttrs:
    axis: int = -1


def _softmax_type(a, x: TensorType) -> TensorType:
    require_float(x)
    if x.rank == 0:
        raise ValueError("softmax needs at least a 1-D input, got a scalar")
    norm_axis(a.axis, x.rank)
    return x


def _softmax_ref(a, x):
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=a.axis, keepdims=True))
    return (e / e.sum(axis=a.axis, keepdims=True)).astype(x.dtype)


def _log_softmax_ref(a, x):
    z = x.astype(np.float64)
    z = z - z.max(axis=a.axis, keepdims=True)
    return (z - np.log(np.exp(z).sum(axis=a.axis, keepdims=True))).astype(x.dtype)


def _softmax_grads(b, a, x, y, g):
    """dx = y * (g - sum(g * y)) along the axis."""
    return [mul(b, y, sub(b, g, b.emit("sum", mul(b, g, y), axes=(a.axis,), keepdims=True)))]


def _log_softmax_grads(b, a, x, y, g):
    """dx = g - exp(y) * sum(g) along the axis (exp(y) is the softmax)."""
    return [sub(b, g, mul(b, b.emit("exp", y), b.emit("sum", g, axes=(a.axis,), keepdims=True)))]


register("softmax", attrs=SoftmaxAttrs, infer=_softmax_type, reference=_softmax_ref, num_inputs=1,
         lower=lambda c, a, x: c.R.nn.softmax(x, a.axis), vjp=float_vjp(_softmax_grads))
register("log_softmax", attrs=SoftmaxAttrs, infer=_softmax_type, reference=_log_softmax_ref,
         num_inputs=1, lower=lambda c, a, x: c.R.nn.log_softmax(x, a.axis),
         vjp=float_vjp(_log_softmax_grads))
