"""Small helpers shared by the converter families."""
from __future__ import annotations

import numpy as np

from aot.ir import DType


def scalar(ctx, value, like) -> np.ndarray:
    """A 0-d constant of `like`'s dtype."""
    return np.asarray(value, dtype=ctx.type(like).dtype.numpy)


def rank(ctx, t) -> int:
    return ctx.type(t).rank


def dtype(ctx, t) -> DType:
    return ctx.type(t).dtype


def norm_axis(axis: int, r: int) -> int:
    if not -r <= axis < max(r, 1):
        raise ValueError(f"axis {axis} is out of range for rank {r}")
    return axis % r if r else 0


def same_type(ctx, x, y):
    """y cast to x's dtype when they differ (ONNX ops that allow mixed inputs)."""
    if ctx.type(y).dtype != ctx.type(x).dtype:
        return ctx.emit("cast", y, dtype=ctx.type(x).dtype)
    return y


def static_size(dims) -> int:
    return int(np.prod(dims, dtype=np.int64))
