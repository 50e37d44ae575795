"""2-D pooling: max_pool2d, avg_pool2d, and max_pool2d_grad (the gradient of a max pool,
which its gradient rule emits), with their gradient rules.

Padding and ceil_mode follow PyTorch and ONNX: padding never counts in a max,
nor in an average unless count_include_pad; with ceil_mode a last window that
would start past the input and its begin padding is dropped. A max pool's
gradient goes to the first maximum of each window (row-major), as PyTorch's; an
average pool's is the output gradient divided by each window's count and
scattered back by a depthwise transposed conv with a kernel of ones.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from aot.ir.attrs import attrs_dict
from aot.ir.opdef import register
from aot.ir.types import DType, TensorType

from .common import require_float
from .nn_common import (Layout2D, adjoint_padding, check_geometry, channels_last, float_vjp, from_cl,
                        join_data, pads, positive, spatial_rank, split_data, tap_slices, to_cl)


@dataclass(frozen=True)
class Pool2DAttrs:
    pool_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    dilation: tuple[int, int] = (1, 1)
    ceil_mode: bool = False
    count_include_pad: bool = False  # avg_pool2d only
    layout: Layout2D = "NHWC"


def _pool_size(n: int, k: int, s: int, d: int, pad, ceil: bool) -> int:
    span = n + pad[0] + pad[1] - d * (k - 1) - 1
    if not ceil:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= n + pad[0] else out


def _pool_out_sizes(a, sp) -> list[int]:
    r = len(sp)
    return [_pool_size(sp[i], a.pool_size[i], a.strides[i], a.dilation[i], pads(a, r)[i], a.ceil_mode)
            for i in range(r)]


def _pool_type(a, x: TensorType, kind: str) -> TensorType:
    if kind == "avg":
        require_float(x)
    elif x.dtype == DType.bool:
        raise ValueError("input must be numeric, got bool")
    if kind == "max" and a.count_include_pad:
        raise ValueError("count_include_pad applies to avg_pool2d only")
    r = spatial_rank(a.layout)
    check_geometry(a, r)
    batch, c, sp = split_data(x, a.layout)
    for (b, e), k, d in zip(pads(a, r), a.pool_size, a.dilation):
        if max(b, e) >= d * (k - 1) + 1:
            raise ValueError(f"padding {a.padding} must be smaller than the window "
                             f"{d * (k - 1) + 1} (pool_size {a.pool_size}, dilation {a.dilation})")
    out = positive(_pool_out_sizes(a, sp), r, lambda i: f"input {sp[i]} is smaller than the window")
    return TensorType(join_data(batch, c, out, a.layout), x.dtype)


def _lowest(dtype: np.dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _window_counts(a, sp, out_sp) -> np.ndarray:
    """How many taps of each window the average divides by: the taps inside the input,
    or with count_include_pad inside the padded input. Shape: out_sp."""
    per_axis = []
    for i, (b, e) in enumerate(pads(a, len(sp))):
        lo, hi = (-b, sp[i] + e) if a.count_include_pad else (0, sp[i])
        pos = (np.arange(out_sp[i])[:, None] * a.strides[i] - b
               + np.arange(a.pool_size[i])[None, :] * a.dilation[i])
        per_axis.append(((pos >= lo) & (pos < hi)).sum(axis=1))
    return functools.reduce(np.multiply.outer, per_axis)


def _end_overhang(a, sp, out_sp) -> list[int]:
    """How far ceil_mode's last window reaches past the end padding (0 if it does not)."""
    return [max(0, (o - 1) * s + (k - 1) * d + 1 - b - n)
            for o, s, k, d, (b, _), n in zip(out_sp, a.strides, a.pool_size, a.dilation, pads(a, 2), sp)]


def _padded(a, xl: np.ndarray, fill):
    """Channels-last data padded for every window (past the end padding too, for ceil_mode
    windows), and the output's spatial sizes."""
    sp = xl.shape[1:-1]
    out_sp = _pool_out_sizes(a, sp)
    spatial = [(b, e) for (b, _), e in zip(pads(a, 2), _end_overhang(a, sp, out_sp))]
    return np.pad(xl, [(0, 0), *spatial, (0, 0)], constant_values=fill), out_sp


def _windows(a, xp, out_sp):
    """Each tap's view of every window, in row-major tap order."""
    return [xp[tap_slices(tap, a.dilation, a.strides, out_sp)] for tap in np.ndindex(*a.pool_size)]


def _pool_ref(a, x, kind: str):
    xl = to_cl(x, a.layout)
    if kind == "max":
        xp, out_sp = _padded(a, xl, _lowest(x.dtype))
        return from_cl(functools.reduce(np.maximum, _windows(a, xp, out_sp)), a.layout)
    xp, out_sp = _padded(a, xl.astype(np.float64), 0.0)
    out = sum(_windows(a, xp, out_sp)) / np.maximum(_window_counts(a, xl.shape[1:-1], out_sp), 1)[..., None]
    return from_cl(out, a.layout).astype(x.dtype)


def _relax_pool(c, a, x, kind: str):
    fn = c.R.nn.max_pool2d if kind == "max" else c.R.nn.avg_pool2d
    return fn(x, a.pool_size, a.strides, a.padding, a.dilation, a.ceil_mode,
              a.count_include_pad, layout=a.layout)


def _max_pool_grads(b, a, x, y, g):
    return [b.emit("max_pool2d_grad", x, g, **attrs_dict(a))]


def _avg_pool_grads(b, a, x, y, g):
    """dx = the transposed conv, with a depthwise kernel of ones, of g / window counts."""
    _, c, sp = split_data(x.type, a.layout)
    _, _, out_sp = split_data(y.type, a.layout)
    counts = _window_counts(a, sp, out_sp).astype(x.type.dtype.numpy)
    counts = counts[..., None] if channels_last(a.layout) else counts
    scaled = b.emit("divide", g, b.const(np.maximum(counts, 1), dtype=x.type.dtype, name="pool_counts"))
    ones = np.ones((*a.pool_size, 1, c) if channels_last(a.layout) else (c, 1, *a.pool_size))
    padding, extra = adjoint_padding(a, sp, a.pool_size, out_sp)
    return [b.emit("conv2d_transpose", scaled, b.const(ones, dtype=x.type.dtype, name="pool_ones"),
                   strides=a.strides, padding=padding, output_padding=extra, dilation=a.dilation,
                   groups=c, layout=a.layout)]


for _kind, _grads in (("max", _max_pool_grads), ("avg", _avg_pool_grads)):
    register(f"{_kind}_pool2d", attrs=Pool2DAttrs, num_inputs=1, precision="follow",
             infer=lambda a, x, k=_kind: _pool_type(a, x, k),
             reference=lambda a, x, k=_kind: _pool_ref(a, x, k),
             lower=lambda c, a, x, k=_kind: _relax_pool(c, a, x, k), vjp=float_vjp(_grads),
             doc=f"2-D {_kind} pooling; padding never counts"
                 + ("" if _kind == "max" else " unless count_include_pad"))


# ------------------------------------------------------ max pool gradient

def _max_pool_grad_type(a, x: TensorType, gy: TensorType) -> TensorType:
    require_float(x)
    want = _pool_type(a, x, "max")
    if gy != want:
        raise ValueError(f"output gradient must have the pool's output type {want}, got {gy}")
    return x


def _max_pool_grad_ref(a, x, gy):
    """Each window's gradient goes to its first maximum; windows that overlap add up."""
    xl = to_cl(x, a.layout)
    xp, out_sp = _padded(a, xl, _lowest(x.dtype))
    windows = _windows(a, xp, out_sp)
    best, arg = windows[0], np.zeros(windows[0].shape, dtype=np.int64)
    for i, patch in enumerate(windows[1:], 1):
        better = patch > best
        best, arg = np.where(better, patch, best), np.where(better, i, arg)
    gl, dxp = to_cl(gy, a.layout).astype(np.float64), np.zeros(xp.shape)
    for i, tap in enumerate(np.ndindex(*a.pool_size)):
        dxp[tap_slices(tap, a.dilation, a.strides, out_sp)] += np.where(arg == i, gl, 0.0)
    inside = (slice(None),) + tuple(slice(b, b + n) for (b, _), n in zip(pads(a, 2), xl.shape[1:-1]))
    return from_cl(dxp[inside], a.layout).astype(x.dtype)


class _TE:
    """What the max-pool gradient's TE compute needs: TVM's modules, the attrs, and
    index order: at(n, c, h, w) -> the layout's order; nchw(*index) -> (n, c, h, w)."""

    def __init__(self, c, a):
        self.te, self.tirx, self.a = c.te, c.tirx, a
        cl = channels_last(a.layout)
        self.at = (lambda n, ch, h, w: (n, h, w, ch)) if cl else (lambda n, ch, h, w: (n, ch, h, w))
        self.nchw = (lambda n, h, w, ch: (n, ch, h, w)) if cl else (lambda n, ch, h, w: (n, ch, h, w))

    def first_max(self, xp, out_shape):
        """Each window's first-max tap (row-major), from the padded data."""
        te, tirx, (kh, kw), (sh, sw), (dh, dw) = self.te, self.tirx, *self._geometry()
        rh, rw = te.reduce_axis((0, kh), "rh"), te.reduce_axis((0, kw), "rw")

        def combine(x, y):  # (tap, value): the larger value wins, a tie the lower tap
            take_y = tirx.Or(y[1] > x[1], tirx.And(y[1] == x[1], y[0] < x[0]))
            return tirx.Select(take_y, y[0], x[0]), tirx.Select(take_y, y[1], x[1])

        reducer = tirx.comm_reducer(combine, lambda ti, tv: (tirx.max_value(ti), tirx.min_value(tv)))

        def tap(*i):
            n, ch, oh, ow = self.nchw(*i)
            value = xp[self.at(n, ch, oh * sh + rh * dh, ow * sw + rw * dw)]
            return reducer((rh * kw + rw, value), axis=[rh, rw])

        return te.compute(out_shape, tap, name="first_max")[0]

    def route(self, arg, gy, x_shape, out_sp):
        """dx[h, w] = the sum of gy over the windows whose first max sits at (h, w)."""
        te, tirx, (kh, kw), (sh, sw), (dh, dw) = self.te, self.tirx, *self._geometry()
        (pt, _), (pl, _) = pads(self.a, 2)
        th, tw = te.reduce_axis((0, kh), "th"), te.reduce_axis((0, kw), "tw")
        zero = tirx.const(0, gy.dtype)

        def dx(*i):
            n, ch, h, w = self.nchw(*i)
            ph, pw = h + pt - th * dh, w + pl - tw * dw
            oh, ow = tirx.floordiv(ph, sh), tirx.floordiv(pw, sw)
            window = tirx.all(ph >= 0, pw >= 0, tirx.floormod(ph, sh) == 0, tirx.floormod(pw, sw) == 0,
                              oh < out_sp[0], ow < out_sp[1])
            at = self.at(n, ch, oh, ow)
            hit = tirx.if_then_else(arg[at] == th * kw + tw, gy[at], zero)  # lazy: reads only in range
            return te.sum(tirx.if_then_else(window, hit, zero), axis=[th, tw])

        return te.compute(x_shape, dx, name="max_pool2d_grad")

    def _geometry(self):
        return self.a.pool_size, self.a.strides, self.a.dilation


def _max_pool_grad_lower(c, a, x, gy):
    """A TE compute (TVM's pool_grad has no dilation): each window's first-max tap, then each
    input position gathers the gradients of the windows whose first max it is."""
    _, _, sp = split_data(c.in_type(0), a.layout)
    _, _, out_sp = split_data(c.in_type(1), a.layout)
    t, (pt, pl) = _TE(c, a), a.padding[:2]
    ends = [e + o for (_, e), o in zip(pads(a, 2), _end_overhang(a, sp, out_sp))]

    def grad(x, gy):
        xp = c.topi.nn.pad(x, list(t.at(0, 0, pt, pl)), list(t.at(0, 0, *ends)),
                           pad_value=c.tirx.min_value(x.dtype))
        return t.route(t.first_max(xp, gy.shape), gy, x.shape, out_sp)

    return c.emit_te(grad, x, gy)


register("max_pool2d_grad", attrs=Pool2DAttrs, infer=_max_pool_grad_type, num_inputs=2,
         reference=_max_pool_grad_ref, lower=_max_pool_grad_lower,
         doc="(data, output gradient) of max_pool2d -> the data's gradient (first maximum wins)")
