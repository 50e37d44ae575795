"""Neural-network ops: matmul, convolutions (1-D, 2-D, transposed 2-D), pooling, softmax.

Layouts follow each ecosystem: channels-last data ("NHWC", "NWC") takes Keras
kernels (HWIO; transposed: H,W,out/groups,in), channels-first data ("NCHW",
"NCW") takes ONNX/PyTorch kernels (OIHW; transposed: in,out/groups,H,W).
Padding lists every begin, then every end: (top, left, bottom, right) in 2-D.

Batch dims may be symbols ("N"); channels and spatial dims must be static ints,
since output sizes are arithmetic on them. The references bring both layouts to
channels-last and loop over kernel taps (one vectorised multiply-add per tap),
accumulating in float64.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from aot.ir.opdef import register
from aot.ir.types import DType, TensorType

from .common import broadcast_shapes, norm_axis, require_float, same_dtype


# ---------------------------------------------------------------- matmul

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
    return TensorType(batch + rows + cols, dt)


def _matmul_ref(a, x, y):
    """Exact in int64 (then wrapped to the dtype, as the kernels do) or float64."""
    acc = np.int64 if x.dtype.kind in "iu" else np.float64
    return np.matmul(x.astype(acc), y.astype(acc)).astype(x.dtype)


register("matmul", infer=_matmul_type, reference=_matmul_ref, num_inputs=2,
         lower=lambda c, a, x, y: c.R.matmul(x, y),
         doc="numpy.matmul; integer results wrap around as the dtype does")


# ------------------------------------------------- layouts and geometry

Layout2D = Literal["NHWC", "NCHW"]
Layout1D = Literal["NWC", "NCW"]
_AXES = {1: ("width",), 2: ("height", "width")}


def _spatial_rank(layout: str) -> int:
    return len(layout) - 2


def _channels_last(layout: str) -> bool:
    return layout.endswith("C")


def _static(dims, what: str) -> tuple[int, ...]:
    for d in dims:
        if not isinstance(d, int):
            raise ValueError(f"{what} must be static, got symbol {d!r}")
    return tuple(dims)


def _split_data(t: TensorType, layout: str):
    """-> (batch, channels, spatial dims) of a data tensor in `layout`."""
    r = _spatial_rank(layout)
    if t.rank != r + 2:
        raise ValueError(f"input must be {r + 2}-D ({layout}), got rank {t.rank}")
    if _channels_last(layout):
        batch, ch, sp = t.shape[0], t.shape[-1], t.shape[1:-1]
    else:
        batch, ch, sp = t.shape[0], t.shape[1], t.shape[2:]
    return batch, _static((ch,), "input channels")[0], _static(sp, "input spatial dims")


def _join_data(batch, ch: int, sp, layout: str) -> tuple:
    return (batch, *sp, ch) if _channels_last(layout) else (batch, ch, *sp)


def _split_kernel(w: TensorType, layout: str, names: tuple[str, str]):
    """Kernels are (*K, u, v) channels-last and (v, u, *K) channels-first -> (K, u, v).
    `names` says what u and v are (for conv: in/groups, out)."""
    r = _spatial_rank(layout)
    k_names = ("kh", "kw") if r == 2 else ("k",)
    desc = (*k_names, *names) if _channels_last(layout) else (names[1], names[0], *k_names)
    if w.rank != r + 2:
        raise ValueError(f"kernel must be {r + 2}-D ({', '.join(desc)}) for {layout} data, got rank {w.rank}")
    dims = _static(w.shape, "kernel dims")
    if _channels_last(layout):
        return dims[:r], dims[r], dims[r + 1]
    return dims[2:], dims[1], dims[0]


def _check_geometry(a, r: int) -> None:
    """Strides and dilation >= 1, padding >= 0, groups >= 1 (for the attrs that have them)."""
    for name in ("strides", "dilation", "pool_size"):
        vals = getattr(a, name, (1,) * r)
        if any(v < 1 for v in vals):
            raise ValueError(f"{name} must be >= 1, got {vals}")
    if any(p < 0 for p in a.padding):
        raise ValueError(f"padding must be >= 0, got {a.padding}")
    if getattr(a, "groups", 1) < 1:
        raise ValueError(f"groups must be >= 1, got {a.groups}")


def _pads(a, r: int):
    """(begin, end) pairs per spatial axis from the begins-then-ends padding attr."""
    return list(zip(a.padding[:r], a.padding[r:]))


def _positive(sizes, r: int, why) -> tuple[int, ...]:
    for i, s in enumerate(sizes):
        if s < 1:
            raise ValueError(f"output {_AXES[r][i]} would be {s} < 1: {why(i)}")
    return tuple(sizes)


def _to_cl(x: np.ndarray, layout: str) -> np.ndarray:
    return x if _channels_last(layout) else np.moveaxis(x, 1, -1)


def _from_cl(y: np.ndarray, layout: str) -> np.ndarray:
    return y if _channels_last(layout) else np.moveaxis(y, -1, 1)


def _kernel_to_cl(w: np.ndarray, layout: str) -> np.ndarray:
    """(v, u, *K) -> (*K, u, v); channels-last kernels are already so."""
    if _channels_last(layout):
        return w
    r = w.ndim - 2
    return np.transpose(w, tuple(range(2, 2 + r)) + (1, 0))


def _tap_slices(tap, dilation, strides, out_sizes) -> tuple:
    """The input positions one kernel tap reads for every output position (on padded data)."""
    return (slice(None),) + tuple(slice(t * d, t * d + s * (o - 1) + 1, s)
                                  for t, d, s, o in zip(tap, dilation, strides, out_sizes))


# ---------------------------------------------------------------- conv

@dataclass(frozen=True)
class Conv2DAttrs:
    strides: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    layout: Layout2D = "NHWC"


@dataclass(frozen=True)
class Conv1DAttrs:
    strides: tuple[int] = (1,)
    padding: tuple[int, int] = (0, 0)  # left, right
    dilation: tuple[int] = (1,)
    groups: int = 1
    layout: Layout1D = "NWC"


def _conv_size(n: int, k: int, s: int, d: int, pads) -> int:
    return (n + pads[0] + pads[1] - d * (k - 1) - 1) // s + 1


def _check_groups(g: int, c: int, u: int, out: int, out_name: str) -> None:
    if c % g:
        raise ValueError(f"groups={g} does not divide the input's {c} channels")
    if out % g:
        raise ValueError(f"groups={g} does not divide the kernel's {out} {out_name} channels")
    if u * g != c:
        raise ValueError(f"input has {c} channels but the kernel expects {u * g} "
                         f"(in/groups={u} x groups={g})")


def _conv_type(a, x: TensorType, w: TensorType) -> TensorType:
    dt = same_dtype(x, w)
    require_float(x)
    r = _spatial_rank(a.layout)
    _check_geometry(a, r)
    batch, c, sp = _split_data(x, a.layout)
    k, u, o = _split_kernel(w, a.layout, ("in/groups", "out"))
    _check_groups(a.groups, c, u, o, "output")
    pads = _pads(a, r)
    out = [_conv_size(sp[i], k[i], a.strides[i], a.dilation[i], pads[i]) for i in range(r)]
    _positive(out, r, lambda i: f"input {sp[i]} padded by {pads[i]} is smaller than the "
                                f"dilated kernel {a.dilation[i] * (k[i] - 1) + 1}")
    return TensorType(_join_data(batch, o, out, a.layout), dt)


def _conv_ref(a, x, w):
    """out[n, p, o] = sum over taps t and group channels c of x_pad[n, p*s + t*d, g(o), c] * w[t, c, o]."""
    xl, wl, r, g = _to_cl(x, a.layout), _kernel_to_cl(w, a.layout), _spatial_rank(a.layout), a.groups
    xp = np.pad(xl.astype(np.float64), [(0, 0), *_pads(a, r), (0, 0)])
    k, (n, c), o = wl.shape[:r], (xl.shape[0], xl.shape[-1]), wl.shape[-1]
    out_sp = [_conv_size(xl.shape[1 + i], k[i], a.strides[i], a.dilation[i], _pads(a, r)[i])
              for i in range(r)]
    xg = xp.reshape(xp.shape[:-1] + (g, c // g))
    wg = wl.astype(np.float64).reshape(tuple(k) + (c // g, g, o // g))
    out = np.zeros((n, *out_sp, g, o // g))
    for tap in np.ndindex(*k):
        patch = xg[_tap_slices(tap, a.dilation, a.strides, out_sp)]
        out += np.einsum("n...gc,cgo->n...go", patch, wg[tap])
    return _from_cl(out.reshape(n, *out_sp, o), a.layout).astype(x.dtype)


_CONV_KERNEL = {"NHWC": "HWIO", "NCHW": "OIHW", "NWC": "WIO", "NCW": "OIW"}


def _conv2d_lower(c, a, x, w):
    return c.R.nn.conv2d(x, w, a.strides, a.padding, a.dilation, a.groups,
                         data_layout=a.layout, kernel_layout=_CONV_KERNEL[a.layout])


def _conv1d_lower(c, a, x, w):
    return c.R.nn.conv1d(x, w, a.strides, a.padding, a.dilation, a.groups,
                         data_layout=a.layout, kernel_layout=_CONV_KERNEL[a.layout])


register("conv2d", attrs=Conv2DAttrs, infer=_conv_type, reference=_conv_ref, num_inputs=2,
         lower=_conv2d_lower, doc="2-D convolution; kernels HWIO (NHWC) or OIHW (NCHW); no bias")
register("conv1d", attrs=Conv1DAttrs, infer=_conv_type, reference=_conv_ref, num_inputs=2,
         lower=_conv1d_lower, doc="1-D convolution; kernels WIO (NWC) or OIW (NCW); no bias")


# ------------------------------------------------------ conv transpose

@dataclass(frozen=True)
class Conv2DTransposeAttrs:
    strides: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    output_padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    layout: Layout2D = "NHWC"


def _tconv_size(n: int, k: int, s: int, d: int, pads, extra: int) -> int:
    return (n - 1) * s - pads[0] - pads[1] + d * (k - 1) + extra + 1


def _conv_transpose_type(a, x: TensorType, w: TensorType) -> TensorType:
    dt = same_dtype(x, w)
    require_float(x)
    r = _spatial_rank(a.layout)
    _check_geometry(a, r)
    for op, s, d in zip(a.output_padding, a.strides, a.dilation):
        if not 0 <= op < max(s, d):
            raise ValueError(f"output_padding {a.output_padding} must be >= 0 and smaller than "
                             f"the stride or the dilation")
    batch, c, sp = _split_data(x, a.layout)
    k, og, cin = _split_kernel(w, a.layout, ("out/groups", "in"))
    if cin != c:
        raise ValueError(f"input has {c} channels but the kernel expects {cin}")
    if c % a.groups:
        raise ValueError(f"groups={a.groups} does not divide the input's {c} channels")
    pads = _pads(a, r)
    out = [_tconv_size(sp[i], k[i], a.strides[i], a.dilation[i], pads[i], a.output_padding[i])
           for i in range(r)]
    _positive(out, r, lambda i: f"padding {pads[i]} removes more than the full output")
    return TensorType(_join_data(batch, og * a.groups, out, a.layout), dt)


def _conv_transpose_ref(a, x, w):
    """Scatter form: y[n, i*s + t*d - pad_begin, g(c), o] += x[n, i, c] * w[t, o, c]."""
    xl, wl, r, g = _to_cl(x, a.layout), _kernel_to_cl(w, a.layout), _spatial_rank(a.layout), a.groups
    n, sp, c = xl.shape[0], xl.shape[1:-1], xl.shape[-1]
    k, og = wl.shape[:r], wl.shape[r]
    pads = _pads(a, r)
    out_sp = [_tconv_size(sp[i], k[i], a.strides[i], a.dilation[i], pads[i], a.output_padding[i])
              for i in range(r)]
    full = [max((sp[i] - 1) * a.strides[i] + a.dilation[i] * (k[i] - 1) + 1, pads[i][0] + out_sp[i])
            for i in range(r)]
    buf = np.zeros((n, *full, g, og))
    xg = xl.astype(np.float64).reshape(n, *sp, g, c // g)
    wg = wl.astype(np.float64).reshape(tuple(k) + (og, g, c // g))
    for tap in np.ndindex(*k):
        sl = (slice(None),) + tuple(slice(t * d, t * d + s * (m - 1) + 1, s)
                                    for t, d, s, m in zip(tap, a.dilation, a.strides, sp))
        buf[sl] += np.einsum("n...gc,ogc->n...go", xg, wg[tap])
    crop = (slice(None),) + tuple(slice(p[0], p[0] + o) for p, o in zip(pads, out_sp))
    return _from_cl(buf[crop].reshape(n, *out_sp, g * og), a.layout).astype(x.dtype)


def _conv_transpose_lower(c, a, x, w):
    """Relax lowers only NCHW data with IOHW kernels (= ONNX's); NHWC goes through transposes."""
    R = c.R
    if a.layout == "NHWC":
        x, w = R.permute_dims(x, [0, 3, 1, 2]), R.permute_dims(w, [3, 2, 0, 1])
    y = R.nn.conv2d_transpose(x, w, a.strides, a.padding, a.output_padding, a.dilation, a.groups,
                              data_layout="NCHW", kernel_layout="IOHW")
    return R.permute_dims(y, [0, 2, 3, 1]) if a.layout == "NHWC" else y


register("conv2d_transpose", attrs=Conv2DTransposeAttrs, infer=_conv_transpose_type,
         reference=_conv_transpose_ref, num_inputs=2, lower=_conv_transpose_lower,
         doc="transposed 2-D convolution; kernels (kh,kw,out/groups,in) NHWC or (in,out/groups,kh,kw) NCHW")


# ---------------------------------------------------------------- pooling

@dataclass(frozen=True)
class Pool2DAttrs:
    pool_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    dilation: tuple[int, int] = (1, 1)
    ceil_mode: bool = False
    count_include_pad: bool = False  # avg_pool2d only
    layout: Layout2D = "NHWC"


def _pool_size(n: int, k: int, s: int, d: int, pads, ceil: bool) -> int:
    """As PyTorch and ONNX: with ceil_mode, a last window that would start past the
    input and its begin padding is dropped."""
    span = n + pads[0] + pads[1] - d * (k - 1) - 1
    if not ceil:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= n + pads[0] else out


def _pool_out_sizes(a, sp) -> list[int]:
    r = len(sp)
    return [_pool_size(sp[i], a.pool_size[i], a.strides[i], a.dilation[i], _pads(a, r)[i], a.ceil_mode)
            for i in range(r)]


def _pool_type(a, x: TensorType, kind: str) -> TensorType:
    if kind == "avg":
        require_float(x)
    elif x.dtype == DType.bool:
        raise ValueError("input must be numeric, got bool")
    if kind == "max" and a.count_include_pad:
        raise ValueError("count_include_pad applies to avg_pool2d only")
    r = _spatial_rank(a.layout)
    _check_geometry(a, r)
    batch, c, sp = _split_data(x, a.layout)
    for (b, e), k, d in zip(_pads(a, r), a.pool_size, a.dilation):
        if max(b, e) >= d * (k - 1) + 1:
            raise ValueError(f"padding {a.padding} must be smaller than the window "
                             f"{d * (k - 1) + 1} (pool_size {a.pool_size}, dilation {a.dilation})")
    out = _positive(_pool_out_sizes(a, sp), r, lambda i: f"input {sp[i]} is smaller than the window")
    return TensorType(_join_data(batch, c, out, a.layout), x.dtype)


def _lowest(dtype: np.dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _window_counts(a, sp, out_sp) -> np.ndarray:
    """How many taps of each window the average divides by: the taps inside the input,
    or with count_include_pad inside the padded input. Shape: out_sp."""
    per_axis = []
    for i, (b, e) in enumerate(_pads(a, len(sp))):
        lo, hi = (-b, sp[i] + e) if a.count_include_pad else (0, sp[i])
        pos = (np.arange(out_sp[i])[:, None] * a.strides[i] - b
               + np.arange(a.pool_size[i])[None, :] * a.dilation[i])
        per_axis.append(((pos >= lo) & (pos < hi)).sum(axis=1))
    return functools.reduce(np.multiply.outer, per_axis)


def _pool_ref(a, x, kind: str):
    """Padding is filled with the lowest value (max) or 0 (avg) and never counted unless asked."""
    xl = _to_cl(x, a.layout)
    r, sp = _spatial_rank(a.layout), xl.shape[1:-1]
    out_sp = _pool_out_sizes(a, sp)
    pads = _pads(a, r)
    ends = [max(0, (o - 1) * s + (k - 1) * d + 1 - b - n)
            for o, s, k, d, (b, _), n in zip(out_sp, a.strides, a.pool_size, a.dilation, pads, sp)]
    fill = _lowest(x.dtype) if kind == "max" else 0.0
    src = xl if kind == "max" else xl.astype(np.float64)
    xp = np.pad(src, [(0, 0), *[(b, e) for (b, _), e in zip(pads, ends)], (0, 0)], constant_values=fill)
    out = None
    for tap in np.ndindex(*a.pool_size):
        patch = xp[_tap_slices(tap, a.dilation, a.strides, out_sp)]
        out = patch.copy() if out is None else (np.maximum(out, patch) if kind == "max" else out + patch)
    if kind == "avg":
        out = out / np.maximum(_window_counts(a, sp, out_sp), 1)[..., None]
    return _from_cl(out, a.layout).astype(x.dtype)


def _relax_pool(c, a, x, kind: str):
    fn = c.R.nn.max_pool2d if kind == "max" else c.R.nn.avg_pool2d
    return fn(x, a.pool_size, a.strides, a.padding, a.dilation, a.ceil_mode,
              a.count_include_pad, layout=a.layout)


for _kind in ("max", "avg"):
    register(f"{_kind}_pool2d", attrs=Pool2DAttrs, num_inputs=1,
             infer=lambda a, x, k=_kind: _pool_type(a, x, k),
             reference=lambda a, x, k=_kind: _pool_ref(a, x, k),
             lower=lambda c, a, x, k=_kind: _relax_pool(c, a, x, k),
             doc=f"2-D {_kind} pooling; padding never counts"
                 + ("" if _kind == "max" else " unless count_include_pad"))


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


register("softmax", attrs=SoftmaxAttrs, infer=_softmax_type, reference=_softmax_ref, num_inputs=1,
         lower=lambda c, a, x: c.R.nn.softmax(x, a.axis))
register("log_softmax", attrs=SoftmaxAttrs, infer=_softmax_type, reference=_log_softmax_ref,
         num_inputs=1, lower=lambda c, a, x: c.R.nn.log_softmax(x, a.axis))
