"""Helpers shared by the op families: broadcasting, axis normalisation, dtype checks.

Type rules raise ValueError with a plain message; the Node wraps it with the
node's name and input types, so messages here say only what is wrong.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from aot.ir.types import Dim, DType, TensorType


def broadcast_shapes(*shapes: Sequence[Dim]) -> tuple[Dim, ...]:
    """Numpy broadcasting over ints and symbols. A symbol meets 1 -> symbol; meets an int n>1 -> n."""
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        out.append(_broadcast_dim(dims, shapes))
    return tuple(out)


def _broadcast_dim(dims, shapes) -> Dim:
    ints = {d for d in dims if isinstance(d, int) and d != 1}
    syms = {d for d in dims if isinstance(d, str)}
    if len(ints) > 1:
        raise ValueError(f"shapes {' and '.join(_fmt(s) for s in shapes)} do not broadcast")
    if ints:
        return ints.pop()
    if len(syms) == 1:
        return syms.pop()
    if len(syms) > 1:
        raise ValueError(f"shapes {' and '.join(_fmt(s) for s in shapes)}: cannot broadcast "
                         f"different symbols {sorted(syms)}")
    return 1


def _fmt(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def same_dtype(*types: TensorType) -> DType:
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise ValueError(f"inputs must share a dtype, got {', '.join(t.dtype.short for t in types)}")
    return types[0].dtype


def require_float(t: TensorType, what: str = "input") -> None:
    if not t.dtype.is_float:
        raise ValueError(f"{what} must be a float tensor, got {t.dtype.short}")


def norm_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return axis % rank if rank else 0


def norm_axes(axes: Sequence[int] | None, rank: int) -> tuple[int, ...]:
    """None means every axis; negative axes count from the end; duplicates are an error."""
    if axes is None:
        return tuple(range(rank))
    out = tuple(sorted(norm_axis(a, rank) for a in axes))
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {list(axes)}")
    return out


def np_dtype(t: TensorType) -> np.dtype:
    return t.dtype.numpy
