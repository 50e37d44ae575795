"""resize: ONNX Resize (opset 19) on any axes of an N-D tensor, with its gradient rule.

Resizing is separable: each resized axis in turn maps every output position o to a few
input taps idx[o, t] with weights w[o, t], y[.., o, ..] = sum_t w[o, t] x[.., idx[o, t], ..].
The tables depend only on static sizes and attrs, so they are computed once in numpy
(`axis_table`, following the ONNX reference's formulas) and shared by the reference, the
TVM lowering (a small TE gather-sum per axis) and the gradient (the transposed tables as a
dense matrix per axis). Taps past either end are clamped (edge padding), as ONNX does.

What ONNX gives as inputs is static here: `sizes` (the output size of each of `axes`),
`scales` (the factors the coordinate mapping divides by; None: sizes / input sizes) and
`roi`. The importer turns ONNX's scales-or-sizes and keep_aspect_ratio_policy into sizes
and scales (see /work/notes/new-ops.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np

from aot.ir.opdef import register
from aot.ir.types import DType, TensorType

CoordMode = Literal["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                    "asymmetric", "tf_crop_and_resize"]


@dataclass(frozen=True)
class ResizeAttrs:
    sizes: tuple[int, ...]
    axes: tuple[int, ...]
    scales: Optional[tuple[float, ...]] = None
    mode: Literal["nearest", "linear", "cubic"] = "nearest"
    coordinate_transformation_mode: CoordMode = "half_pixel"
    nearest_mode: Literal["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"] = "round_prefer_floor"
    cubic_coeff_a: float = -0.75
    exclude_outside: bool = False
    extrapolation_value: float = 0.0
    antialias: bool = False
    roi: Optional[tuple[float, ...]] = None  # starts of each of `axes`, then ends (tf_crop_and_resize)


# ---------------------------------------------------------------- tables

@dataclass(frozen=True)
class AxisTable:
    """One axis's taps: idx (out, n) int64 in range, w (out, n) float64, and the output
    positions that take extrapolation_value instead (tf_crop_and_resize), or None."""

    axis: int
    idx: np.ndarray
    w: np.ndarray
    extrapolated: Optional[np.ndarray]

    def dense(self, in_size: int) -> np.ndarray:
        """The (out, in) matrix of the interpolation (extrapolated rows zero)."""
        m = np.zeros((self.idx.shape[0], in_size))
        np.add.at(m, (np.arange(self.idx.shape[0])[:, None], self.idx), self.w)
        if self.extrapolated is not None:
            m[self.extrapolated] = 0.0
        return m


def _source_coords(mode: str, out: int, n: int, scale: float, roi) -> np.ndarray:
    """Where each output position samples the input (ONNX coordinate_transformation_mode)."""
    y, length = np.arange(out, dtype=np.float64), scale * n
    if mode == "align_corners":
        return np.zeros(out) if length == 1 else y * (n - 1) / (length - 1)
    if mode == "asymmetric":
        return y / scale
    if mode == "tf_crop_and_resize":
        lo, hi = roi
        x = np.full(out, (hi - lo) * (n - 1) / 2) if length == 1 else y * (hi - lo) * (n - 1) / (length - 1)
        return x + lo * (n - 1)
    if mode == "pytorch_half_pixel":
        return np.full(out, -0.5) if length == 1 else (y + 0.5) / scale - 0.5
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5
    offset = n / 2 * (1 - out / length)  # half_pixel_symmetric
    return offset + (y + 0.5) / scale - 0.5


def _coeffs(a: ResizeAttrs, ratio: np.ndarray, scale: float) -> np.ndarray:
    """(out, n) weights of the taps left and right of each sample; ratio in (0, 1]."""
    r = ratio[:, None]
    if a.mode == "nearest":
        whole = ratio == 1
        right = {"round_prefer_floor": ratio > 0.5, "round_prefer_ceil": ratio >= 0.5,
                 "floor": np.zeros_like(whole), "ceil": np.ones_like(whole)}[a.nearest_mode] | whole
        return np.stack([~right, right], axis=1).astype(np.float64)
    if a.antialias:
        return _antialias_coeffs(a, r, min(scale, 1.0))
    if a.mode == "linear":
        return np.concatenate([1 - r, r], axis=1)
    A = a.cubic_coeff_a
    s, t = r + 1, 2 - r
    return np.concatenate([((A * s - 5 * A) * s + 8 * A) * s - 4 * A,
                           ((A + 2) * r - (A + 3)) * r * r + 1,
                           ((A + 2) * (1 - r) - (A + 3)) * (1 - r) * (1 - r) + 1,
                           ((A * t - 5 * A) * t + 8 * A) * t - 4 * A], axis=1)


def _antialias_coeffs(a: ResizeAttrs, r: np.ndarray, scale: float) -> np.ndarray:
    """The filter stretched by 1/scale when downsampling, normalised to sum 1."""
    reach = 1 if a.mode == "linear" else 2
    start = int(np.floor(-reach / scale) + 1)
    x = np.abs((np.arange(start, 2 - start)[None, :] - r) * scale)
    if a.mode == "linear":
        c = np.clip(1 - x, 0, 1)
    else:
        A = a.cubic_coeff_a
        c = np.where(x <= 1, (A + 2) * x ** 3 - (A + 3) * x ** 2 + 1,
                     np.where(x < 2, A * x ** 3 - 5 * A * x ** 2 + 8 * A * x - 4 * A, 0.0))
    return c / c.sum(axis=1, keepdims=True)


def _tap_starts(x: np.ndarray, n: int) -> np.ndarray:
    """The first of the n input positions nearest x (ties to the smaller), as ONNX picks them."""
    p = np.floor(x).astype(np.int64)
    frac = x - p
    if n % 2 == 0:
        return p + np.where(frac == 0, -(n // 2), -(n // 2) + 1)
    base = -((n - 1) // 2)
    return p + np.where(frac <= 0.5, base, base + 1)


def axis_table(a: ResizeAttrs, axis: int, k: int, n: int) -> AxisTable:
    """The taps of the k-th resized axis (`axis` of the input, size n)."""
    out = a.sizes[k]
    scale = a.scales[k] if a.scales is not None else out / n
    roi = (a.roi[k], a.roi[len(a.axes) + k]) if a.roi is not None else None
    x = _source_coords(a.coordinate_transformation_mode, out, n, scale, roi)
    base = np.floor(x)
    w = _coeffs(a, np.where(x == base, 1.0, x - base), scale)
    taps = _tap_starts(x, w.shape[1])[:, None] + np.arange(w.shape[1])[None, :]
    if a.exclude_outside:
        w = np.where((taps < 0) | (taps >= n), 0.0, w)
        total = w.sum(axis=1, keepdims=True)
        w = w / np.where(total == 0, 1.0, total)
    idx = np.clip(taps, 0, n - 1)
    if a.mode == "nearest":  # one tap: the chosen neighbour (its weight 0 only if excluded)
        pick = np.argmax(w, axis=1)[:, None]
        idx, w = np.take_along_axis(idx, pick, 1), np.take_along_axis(w, pick, 1)
    extrapolated = (x < 0) | (x > n - 1) if roi is not None else None
    return AxisTable(axis, idx, w, extrapolated)


def _is_identity(a: ResizeAttrs, k: int, n: int) -> bool:
    scale = a.scales[k] if a.scales is not None else a.sizes[k] / n
    roi_plain = a.roi is None or (math.isclose(a.roi[k], 0.0) and math.isclose(a.roi[len(a.axes) + k], 1.0))
    return math.isclose(scale, 1.0) and a.sizes[k] == n and roi_plain


def resize_tables(a: ResizeAttrs, shape) -> list[AxisTable]:
    """The tables of every axis that is not left as it is, in `axes` order (as ONNX runs them)."""
    axes = [ax % len(shape) for ax in a.axes]
    return [axis_table(a, ax, k, shape[ax]) for k, ax in enumerate(axes)
            if not _is_identity(a, k, shape[ax])]


# ---------------------------------------------------------------- type rule

def _resize_type(a: ResizeAttrs, x: TensorType) -> TensorType:
    axes = [ax % x.rank if -x.rank <= ax < x.rank else None for ax in a.axes]
    if None in axes:
        raise ValueError(f"axes {a.axes} out of range for rank {x.rank}")
    if len(set(axes)) != len(axes):
        raise ValueError(f"repeated axis in {a.axes}")
    for name, val, size in (("sizes", a.sizes, len(a.axes)), ("scales", a.scales, len(a.axes)),
                            ("roi", a.roi, 2 * len(a.axes))):
        if val is not None and len(val) != size:
            raise ValueError(f"{name} {val} must have {size} entries (axes {a.axes})")
    _check_values(a, x)
    shape = list(x.shape)
    for ax, s in zip(axes, a.sizes):
        if not isinstance(x.shape[ax], int):
            raise ValueError(f"resized dim {ax} must be static, got symbol {x.shape[ax]!r}")
        shape[ax] = s
    return x.with_shape(tuple(shape))


def _check_values(a: ResizeAttrs, x: TensorType) -> None:
    if any(s < 1 for s in a.sizes):
        raise ValueError(f"sizes must be >= 1, got {a.sizes}")
    if a.scales is not None and any(not s > 0 for s in a.scales):
        raise ValueError(f"scales must be > 0, got {a.scales}")
    if (a.coordinate_transformation_mode == "tf_crop_and_resize") != (a.roi is not None):
        raise ValueError("roi is required by, and only used by, coordinate_transformation_mode "
                         "tf_crop_and_resize")
    if a.mode == "nearest" and a.antialias:
        raise ValueError("antialias applies to linear and cubic modes, not nearest")
    if a.mode != "nearest" and not x.dtype.is_float:
        raise ValueError(f"{a.mode} resize needs a float input, got {x.dtype.short}")
    if x.dtype == DType.bool:
        raise ValueError("input must be numeric, got bool")


# ---------------------------------------------------------------- reference

def _resize_ref(a: ResizeAttrs, x):
    """One gather-and-weigh per table, in float64 (in the input dtype for integer nearest)."""
    y = x if not DType.of(x.dtype).is_float else x.astype(np.float64)
    for t in resize_tables(a, x.shape):
        taps = np.take(y, t.idx, axis=t.axis)  # (.., out, n, ..)
        w = t.w.reshape((1,) * t.axis + t.w.shape + (1,) * (y.ndim - t.axis - 1))
        y = (taps * w.astype(taps.dtype)).sum(axis=t.axis + 1).astype(y.dtype)
        if t.extrapolated is not None:
            mask = t.extrapolated.reshape((1,) * t.axis + (-1,) + (1,) * (y.ndim - t.axis - 1))
            y = np.where(mask, np.asarray(a.extrapolation_value).astype(y.dtype), y)
    return y.astype(x.dtype)


# ---------------------------------------------------------------- lowering

def _acc_dtype(dt: DType) -> str:
    return {DType.float16: "float32", DType.bfloat16: "float32"}.get(dt, dt.value)


def _resize_lower(c, a: ResizeAttrs, x):
    tables = resize_tables(a, c.in_type(0).shape)
    dt = c.in_dtype(0)
    acc = _acc_dtype(dt)
    if dt.is_float and acc != dt.value:
        x = c.bb.emit(c.R.astype(x, acc))
    for t in tables:
        x = _emit_axis(c, a, t, x, acc)
    return c.R.astype(x, dt.value) if acc != dt.value else x


def _emit_axis(c, a: ResizeAttrs, t: AxisTable, x, acc: str):
    te, tirx = c.te, c.tirx
    consts = [c.relax.const(t.idx.astype(np.int32)), c.relax.const(t.w.astype(acc))]
    has_mask = t.extrapolated is not None
    if has_mask:
        consts.append(c.relax.const(t.extrapolated.astype(np.bool_)))
    n_taps, ax = t.w.shape[1], t.axis

    def fn(data, idx, w, *mask):
        shape = list(data.shape)
        shape[ax] = idx.shape[0]
        r = te.reduce_axis((0, n_taps), "tap")

        def out(*i):
            src = list(i)
            src[ax] = idx[i[ax], r]
            return te.sum(data(*src) * w[i[ax], r], axis=r)

        y = te.compute(shape, out, name="resize_axis")
        if not mask:
            return y
        fill = tirx.const(a.extrapolation_value, acc)
        return te.compute(shape, lambda *i: tirx.Select(mask[0][i[ax]], fill, y(*i)), name="extrapolate")

    return c.emit_te(fn, x, *consts)


# ---------------------------------------------------------------- gradient

def _resize_vjp(b, a: ResizeAttrs, inputs, outputs, grads):
    """The resize is linear: its gradient applies each axis's (out, in) matrix transposed,
    the axes in reverse order (a matmul on that axis moved last)."""
    x, g = inputs[0], grads[0]
    if not x.type.dtype.is_float or g is None:
        return [None]
    shapes = _shapes_before(a, x.type.shape)
    for t, shape in reversed(list(zip(resize_tables(a, x.type.shape), shapes))):
        m = t.dense(shape[t.axis])  # (out, in)
        g = _apply_on_axis(b, g, b.const(m.astype(x.type.dtype.numpy), name="resize_adjoint"), t.axis)
    return [g]


def _shapes_before(a: ResizeAttrs, shape) -> list[tuple]:
    """The shape entering each table's axis pass."""
    out, cur = [], list(shape)
    for t in resize_tables(a, shape):
        out.append(tuple(cur))
        cur[t.axis] = t.idx.shape[0]
    return out


def _apply_on_axis(b, g, m, axis: int):
    """g with `axis` contracted against m's first dim: move the axis last, matmul, move back."""
    r = g.type.rank
    perm = [i for i in range(r) if i != axis] + [axis]
    back = list(np.argsort(perm))
    moved = b.emit("transpose", g, perm=tuple(perm)) if axis != r - 1 else g
    y = b.emit("matmul", moved, m)
    return b.emit("transpose", y, perm=tuple(int(p) for p in back)) if axis != r - 1 else y


register("resize", attrs=ResizeAttrs, infer=_resize_type, num_inputs=1, reference=_resize_ref,
         lower=_resize_lower, vjp=_resize_vjp,
         doc="ONNX Resize (nearest/linear/cubic, every coordinate mode, antialias) on any axes")
