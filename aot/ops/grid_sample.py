"""grid_sample (ONNX GridSample): x sampled at the normalised coordinates in grid.

x is (N, C, *D) with k spatial dims, grid (N, *O, k) with values in [-1, 1] (the last axis
lists the coordinate of the LAST spatial dim first, as ONNX and PyTorch do); the output is
(N, C, *O). Modes: nearest, linear, cubic (Keys, a = -0.75); padding: zeros, border,
reflection; align_corners as in ONNX. The coordinate math is written once (`_taps`) over a
tiny backend shim, so the numpy reference and the TE lowering compute the same thing.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from aot.ir.opdef import register
from aot.ir.types import TensorType


@dataclass(frozen=True)
class GridSampleAttrs:
    mode: Literal["linear", "nearest", "cubic"] = "linear"
    padding_mode: Literal["zeros", "border", "reflection"] = "zeros"
    align_corners: bool = False


def _grid_sample_type(a: GridSampleAttrs, x: TensorType, grid: TensorType) -> TensorType:
    k = x.rank - 2
    if k < 1 or not x.dtype.is_float:
        raise ValueError(f"x must be a float tensor (N, C, spatial...), got {x}")
    if grid.rank != k + 2 or grid.shape[-1] != k or grid.dtype != x.dtype:
        raise ValueError(f"grid must be {x.dtype.short}[N, {k} output dims..., {k}] for x {x}, got {grid}")
    return TensorType((x.shape[0], x.shape[1]) + tuple(grid.shape[1:-1]), x.dtype)


class _Np:
    """numpy backend for `_taps`."""
    floor, trunc, rint = staticmethod(np.floor), staticmethod(np.trunc), staticmethod(np.rint)
    sel = staticmethod(np.where)
    and_ = staticmethod(np.logical_and)
    or_ = staticmethod(np.logical_or)

    def __init__(self, dtype):
        self.dtype = dtype

    def c(self, v):
        return self.dtype.type(v)

    def to_int(self, x):
        return x.astype(np.int64)

    def to_float(self, i):
        return i.astype(self.dtype)

    def clamp_int(self, i, lo, hi):
        return np.clip(i, lo, hi)


class _Te:
    """TE (tirx) backend for `_taps`."""

    def __init__(self, tirx, dtype: str):
        self.t, self.dtype = tirx, dtype
        self.floor, self.trunc, self.rint = tirx.floor, tirx.trunc, tirx.nearbyint
        self.sel = tirx.Select
        self.and_, self.or_ = tirx.all, tirx.any

    def c(self, v):
        return self.t.const(v, self.dtype)

    def to_int(self, x):
        return x.astype("int32")

    def to_float(self, i):
        return i.astype(self.dtype)

    def clamp_int(self, i, lo, hi):
        return self.t.max(self.t.min(i, self.t.const(hi, "int32")), self.t.const(lo, "int32"))


def _reflect(S, x, lo: float, hi: float):
    """onnx's _gs_reflect: fold x back into [lo, hi] by mirroring at the near border."""
    rng = S.c(max(hi - lo, 1e-30))
    lo_, hi_ = S.c(lo), S.c(hi)

    def fold(dx):
        n = S.trunc(dx / rng)
        r = dx - n * rng
        even = (n - S.c(2.0) * S.floor(n / S.c(2.0))) == S.c(0.0)
        return r, even

    rb, eb = fold(lo_ - x)
    ra, ea = fold(x - hi_)
    below = S.sel(eb, lo_ + rb, hi_ - rb)
    above = S.sel(ea, hi_ - ra, lo_ + ra)
    return S.sel(x < lo_, below, S.sel(x > hi_, above, x))


def _cubic(S, t):
    a = -0.75
    c = S.c

    def far(d):  # |d| in [1, 2]
        return ((c(a) * d - c(5 * a)) * d + c(8 * a)) * d - c(4 * a)

    def near(d):  # |d| in [0, 1]
        return (c(a + 2) * d - c(a + 3)) * d * d + c(1.0)

    return [far(t + c(1.0)), near(t), near(c(1.0) - t), far(c(2.0) - t)]


def _taps(S, a: GridSampleAttrs, xn, size: int):
    """[(index, weight)] along one spatial dim of length `size` for normalised coordinate xn.
    Indices are in range; an out-of-range tap under zeros padding gets weight 0."""
    return _taps_at(S, a, _coord(S, a, xn, size), size)


def _bounds(a: GridSampleAttrs, size: int):
    return (0.0, size - 1.0) if a.align_corners else (-0.5, size - 0.5)


def _coord(S, a: GridSampleAttrs, xn, size: int):
    """The pixel coordinate of normalised xn, rounded (nearest) and folded by the padding."""
    c = S.c
    lo, hi = _bounds(a, size)
    if a.align_corners:
        x = (xn + c(1.0)) / c(2.0) * c(size - 1)
    else:
        x = ((xn + c(1.0)) * c(size) - c(1.0)) / c(2.0)
    if a.mode == "nearest":
        x = S.rint(x)
    if a.padding_mode == "border":
        clamped = S.sel(x < c(0.0), c(0.0), S.sel(x > c(size - 1.0), c(size - 1.0), x))
        x = S.sel(S.or_(x < c(lo), x > c(hi)), clamped, x)
    elif a.padding_mode == "reflection":
        x = _reflect(S, x, lo, hi)
    return x


def _taps_at(S, a: GridSampleAttrs, x, size: int):
    """The taps around pixel coordinate x (from `_coord`)."""
    c = S.c
    lo, hi = _bounds(a, size)
    if a.mode == "nearest":
        base, weights, first = S.to_int(x), [c(1.0)], 0
    else:
        x0 = S.floor(x)
        t = x - x0
        base = S.to_int(x0)
        if a.mode == "linear":
            weights, first = [c(1.0) - t, t], 0
        else:
            weights, first = _cubic(S, t), -1
    out = []
    for j, w in enumerate(weights):
        i = base + (first + j)
        if a.padding_mode == "zeros":
            inside = S.and_(i >= 0, i < size)
            out.append((S.clamp_int(i, 0, size - 1), S.sel(inside, w, c(0.0))))
        elif a.padding_mode == "border":
            out.append((S.clamp_int(i, 0, size - 1), w))
        else:
            r = S.to_int(S.trunc(_reflect(S, S.to_float(i), lo, hi)))
            out.append((S.clamp_int(r, 0, size - 1), w))
    return out


def _grid_sample_ref(a: GridSampleAttrs, x, grid):
    k = x.ndim - 2
    S = _Np(x.dtype)
    n_idx = np.arange(x.shape[0]).reshape((-1,) + (1,) * (grid.ndim - 2))
    per_dim = [_taps(S, a, grid[..., k - 1 - d].astype(x.dtype), x.shape[2 + d]) for d in range(k)]
    out = np.zeros((x.shape[0], x.shape[1]) + grid.shape[1:-1], x.dtype)
    for combo in itertools.product(*per_dim):
        shape = np.broadcast_shapes(*[np.shape(i) for i, _ in combo])
        w = np.prod(np.stack([np.broadcast_to(wt, shape) for _, wt in combo]), axis=0)
        vals = _gather(x, n_idx, [i for i, _ in combo])
        out += vals * w[:, None]
    return out


def _gather(x, n_idx, idx):
    """x[n, :, idx...] for every output position -> (N, C, *O)."""
    picked = x.transpose((0,) + tuple(range(2, x.ndim)) + (1,))[(n_idx,) + tuple(idx)]  # (N, *O, C)
    return np.moveaxis(picked, -1, 1)


def _grid_sample_lower(c, a: GridSampleAttrs, x, grid):
    te, tirx = c.te, c.tirx
    t = c.in_type(0)
    k = t.rank - 2
    sizes = [int(s) for s in t.shape[2:]] if all(isinstance(s, int) for s in t.shape[2:]) else None
    if sizes is None:
        raise ValueError("grid_sample needs static spatial dims of x")
    S = _Te(tirx, t.dtype.value)

    def fn(X, G):
        out_shape = [X.shape[0], X.shape[1]] + list(G.shape[1:-1])
        pos_shape = [G.shape[i] for i in range(len(G.shape) - 1)]  # (N, *O)
        # staged, so each expression stays small: coordinates, then each tap's index and
        # weight, then the weighted sum (inlining it all made cubic+reflection compile ~1 min)
        def coord_fn(d):
            return lambda n, *o: _coord(S, a, G(n, *o, k - 1 - d), sizes[d])

        def tap_fn(xd, d, j, part):
            return lambda n, *o: _taps_at(S, a, xd(n, *o), sizes[d])[j][part]

        taps = []
        for d in range(k):
            xd = te.compute(pos_shape, coord_fn(d), name=f"coord{d}")
            n_taps = len(_taps_at(S, a, tirx.const(0.0, t.dtype.value), sizes[d]))
            taps.append([(te.compute(pos_shape, tap_fn(xd, d, j, 0), name=f"idx{d}_{j}"),
                          te.compute(pos_shape, tap_fn(xd, d, j, 1), name=f"w{d}_{j}"))
                         for j in range(n_taps)])

        def body(n, ch, *o):
            acc = None
            for combo in itertools.product(*taps):
                w = combo[0][1](n, *o)
                for _, wt in combo[1:]:
                    w = w * wt(n, *o)
                term = w * X(n, ch, *[i(n, *o) for i, _ in combo])
                acc = term if acc is None else acc + term
            return acc

        return te.compute(out_shape, body, name="grid_sample")

    return c.emit_te(fn, x, grid)


register("grid_sample", attrs=GridSampleAttrs, infer=_grid_sample_type, num_inputs=2,
         reference=_grid_sample_ref, lower=_grid_sample_lower)
