"""Convolutions: conv1d, conv2d, conv2d_transpose, and conv2d_backward_weight (the weight
gradient of a conv2d, which the gradient rules emit), with their gradient rules.

Layouts are in nn_common: channels-last data takes HWIO kernels (transposed:
H,W,out/groups,in), channels-first data takes OIHW kernels (transposed:
in,out/groups,H,W). The references accumulate in float64, one vectorised
multiply-add per kernel tap.

Gradients: a conv's input gradient is the transposed conv of the output
gradient with the same kernel; its weight gradient is conv2d_backward_weight.
A transposed conv's gradients are a conv and the same weight gradient with the
roles of data and output gradient swapped. conv1d goes through the 2-D rules
with a unit height.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aot.ir.attrs import Optional
from aot.ir.opdef import register
from aot.ir.types import DType, TensorType

from .common import require_float, same_dtype
from .nn_common import (AXIS_NAMES, Layout1D, Layout2D, adjoint_padding, check_geometry, float_vjp,
                        from_cl, join_data, join_kernel, kernel_from_cl, kernel_to_cl, pads,
                        positive, spatial_axes, spatial_rank, split_data, split_kernel, tap_slices,
                        to_cl)


# ---------------------------------------------------------------- conv

@dataclass(frozen=True)
class Conv2DAttrs:
    strides: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    layout: Layout2D = "NHWC"


@dataclass(frozen=True)
class ConvOutAttrs(Conv2DAttrs):
    """conv2d's attributes: Conv2DAttrs (which qconv2d shares) and `out_dtype`, a wider float
    to accumulate in and return (float16/bfloat16 inputs, float32 out: mixed precision)."""

    out_dtype: Optional[DType] = None


@dataclass(frozen=True)
class Conv1DAttrs:
    strides: tuple[int] = (1,)
    padding: tuple[int, int] = (0, 0)  # left, right
    dilation: tuple[int] = (1,)
    groups: int = 1
    layout: Layout1D = "NWC"


def _conv_size(n: int, k: int, s: int, d: int, pad) -> int:
    return (n + pad[0] + pad[1] - d * (k - 1) - 1) // s + 1


def _conv_sizes(a, sp, k) -> list[int]:
    r = len(sp)
    return [_conv_size(sp[i], k[i], a.strides[i], a.dilation[i], pads(a, r)[i]) for i in range(r)]


def _too_small(a, sp, k):
    """The reason an output size is < 1, for positive()."""
    p = pads(a, len(sp))
    return lambda i: (f"input {sp[i]} padded by {p[i]} is smaller than the "
                      f"dilated kernel {a.dilation[i] * (k[i] - 1) + 1}")


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
    r = spatial_rank(a.layout)
    check_geometry(a, r)
    batch, c, sp = split_data(x, a.layout)
    k, u, o = split_kernel(w, a.layout, ("in/groups", "out"))
    _check_groups(a.groups, c, u, o, "output")
    out = positive(_conv_sizes(a, sp, k), r, _too_small(a, sp, k))
    return TensorType(join_data(batch, o, out, a.layout), accumulator_dtype(a, dt))


def accumulator_dtype(a, dt: DType) -> DType:
    """The result dtype of a contraction (conv2d, matmul) with inputs of dtype `dt`: theirs, or
    attrs.out_dtype, a float at least as wide (qconv2d's attrs have no such field)."""
    out = getattr(a, "out_dtype", None)
    if out is None or out == dt:
        return dt
    if not (dt.is_float and out.is_float and out.itemsize >= dt.itemsize):
        raise ValueError(f"out_dtype {out.short} needs float inputs no wider than it, got {dt.short}")
    return out


def _grouped_padded(a, x):
    """x (any layout) -> channels-last, zero-padded, float64, channels split as (groups, c/groups)."""
    xl, r = to_cl(x, a.layout), spatial_rank(a.layout)
    xp = np.pad(xl.astype(np.float64), [(0, 0), *pads(a, r), (0, 0)])
    return xp.reshape(xp.shape[:-1] + (a.groups, xl.shape[-1] // a.groups))


def _conv_ref(a, x, w):
    """out[n, p, o] = sum over taps t and group channels c of x_pad[n, p*s + t*d, g(o), c] * w[t, c, o]."""
    wl, r, g = kernel_to_cl(w, a.layout), spatial_rank(a.layout), a.groups
    xg = _grouped_padded(a, x)
    k, n, c, o = wl.shape[:r], x.shape[0], wl.shape[r] * g, wl.shape[-1]
    out_sp = _conv_sizes(a, to_cl(x, a.layout).shape[1:-1], k)
    wg = wl.astype(np.float64).reshape(tuple(k) + (c // g, g, o // g))
    out = np.zeros((n, *out_sp, g, o // g))
    for tap in np.ndindex(*k):
        patch = xg[tap_slices(tap, a.dilation, a.strides, out_sp)]
        out += np.einsum("n...gc,cgo->n...go", patch, wg[tap])
    wide = getattr(a, "out_dtype", None)  # qconv2d's attrs have none
    return from_cl(out.reshape(n, *out_sp, o), a.layout).astype(wide.numpy if wide else x.dtype)


_CONV_KERNEL = {"NHWC": "HWIO", "NCHW": "OIHW", "NWC": "WIO", "NCW": "OIW"}


def _conv2d_lower(c, a, x, w):
    return c.R.nn.conv2d(x, w, a.strides, a.padding, a.dilation, a.groups,
                         data_layout=a.layout, kernel_layout=_CONV_KERNEL[a.layout],
                         out_dtype=a.out_dtype.value if a.out_dtype else None)


def _conv1d_lower(c, a, x, w):
    return c.R.nn.conv1d(x, w, a.strides, a.padding, a.dilation, a.groups,
                         data_layout=a.layout, kernel_layout=_CONV_KERNEL[a.layout])


def _geometry(a) -> dict:
    return dict(strides=a.strides, padding=a.padding, dilation=a.dilation, groups=a.groups,
                layout=a.layout)


def _conv2d_grads(b, a, x, w, y, g):
    """dx: the transposed conv of g with the same kernel; dw: conv2d_backward_weight.
    With a wider out_dtype, g comes back to the inputs' dtype first."""
    if g.type.dtype != x.type.dtype:
        g = b.emit("cast", g, dtype=x.type.dtype)
    _, _, sp = split_data(x.type, a.layout)
    _, _, out_sp = split_data(g.type, a.layout)
    k = split_kernel(w.type, a.layout, ("in/groups", "out"))[0]
    padding, extra = adjoint_padding(a, sp, k, out_sp)
    gx = b.emit("conv2d_transpose", g, w, **dict(_geometry(a), padding=padding), output_padding=extra)
    gw = b.emit("conv2d_backward_weight", x, g, kernel_size=k, **_geometry(a))
    return gx, gw


_AS_2D = {"NWC": ("NHWC", 1, 0), "NCW": ("NCHW", 2, 2)}  # 2-D layout, unit axis of data, of kernel


def _conv1d_grads(b, a, x, w, y, g):
    """Through the 2-D rules, with a unit height inserted into data, kernel and gradient."""
    layout, data_axis, kernel_axis = _AS_2D[a.layout]
    a2 = Conv2DAttrs((1, *a.strides), (0, a.padding[0], 0, a.padding[1]), (1, *a.dilation),
                     a.groups, layout)
    unit = [b.emit("expand_dims", v, axes=(ax,)) for v, ax in ((x, data_axis), (w, kernel_axis))]
    g2 = b.emit("expand_dims", g, axes=(data_axis,))
    gx, gw = _conv2d_grads(b, a2, *unit, None, g2)
    return b.emit("squeeze", gx, axes=(data_axis,)), b.emit("squeeze", gw, axes=(kernel_axis,))


register("conv2d", precision="accumulate", attrs=ConvOutAttrs, infer=_conv_type, reference=_conv_ref, num_inputs=2,
         lower=_conv2d_lower, vjp=float_vjp(_conv2d_grads),
         doc="2-D convolution; kernels HWIO (NHWC) or OIHW (NCHW); no bias; out_dtype: "
             "accumulate and return in a wider float")
register("conv1d", attrs=Conv1DAttrs, infer=_conv_type, reference=_conv_ref, num_inputs=2,
         lower=_conv1d_lower, vjp=float_vjp(_conv1d_grads),
         doc="1-D convolution; kernels WIO (NWC) or OIW (NCW); no bias")


# ------------------------------------------------------ conv transpose

@dataclass(frozen=True)
class Conv2DTransposeAttrs:
    strides: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    output_padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    layout: Layout2D = "NHWC"


def _tconv_size(n: int, k: int, s: int, d: int, pad, extra: int) -> int:
    return (n - 1) * s - pad[0] - pad[1] + d * (k - 1) + extra + 1


def _conv_transpose_type(a, x: TensorType, w: TensorType) -> TensorType:
    dt = same_dtype(x, w)
    require_float(x)
    r = spatial_rank(a.layout)
    check_geometry(a, r)
    for op, s, d in zip(a.output_padding, a.strides, a.dilation):
        if not 0 <= op < max(s, d):
            raise ValueError(f"output_padding {a.output_padding} must be >= 0 and smaller than "
                             f"the stride or the dilation")
    batch, c, sp = split_data(x, a.layout)
    k, og, cin = split_kernel(w, a.layout, ("out/groups", "in"))
    if cin != c:
        raise ValueError(f"input has {c} channels but the kernel expects {cin}")
    if c % a.groups:
        raise ValueError(f"groups={a.groups} does not divide the input's {c} channels")
    p = pads(a, r)
    out = [_tconv_size(sp[i], k[i], a.strides[i], a.dilation[i], p[i], a.output_padding[i])
           for i in range(r)]
    positive(out, r, lambda i: f"padding {p[i]} removes more than the full output")
    return TensorType(join_data(batch, og * a.groups, out, a.layout), dt)


def _conv_transpose_ref(a, x, w):
    """Scatter form: y[n, i*s + t*d - pad_begin, g(c), o] += x[n, i, c] * w[t, o, c]."""
    xl, wl, r, g = to_cl(x, a.layout), kernel_to_cl(w, a.layout), spatial_rank(a.layout), a.groups
    n, sp, c = xl.shape[0], xl.shape[1:-1], xl.shape[-1]
    k, og = wl.shape[:r], wl.shape[r]
    p = pads(a, r)
    out_sp = [_tconv_size(sp[i], k[i], a.strides[i], a.dilation[i], p[i], a.output_padding[i])
              for i in range(r)]
    full = [max((sp[i] - 1) * a.strides[i] + a.dilation[i] * (k[i] - 1) + 1, p[i][0] + out_sp[i])
            for i in range(r)]
    buf = np.zeros((n, *full, g, og))
    xg = xl.astype(np.float64).reshape(n, *sp, g, c // g)
    wg = wl.astype(np.float64).reshape(tuple(k) + (og, g, c // g))
    for tap in np.ndindex(*k):
        buf[tap_slices(tap, a.dilation, a.strides, sp)] += np.einsum("n...gc,ogc->n...go", xg, wg[tap])
    crop = (slice(None),) + tuple(slice(b, b + o) for (b, _), o in zip(p, out_sp))
    return from_cl(buf[crop].reshape(n, *out_sp, g * og), a.layout).astype(x.dtype)


def _conv_transpose_lower(c, a, x, w):
    """Relax lowers only NCHW data with IOHW kernels (= ONNX's); NHWC goes through transposes.
    Relax also wants output_padding < stride: output_padding only adds rows past the end
    padding, so it is folded into that padding, and what is left is zeros padded after."""
    R = c.R
    if a.layout == "NHWC":
        x, w = R.permute_dims(x, [0, 3, 1, 2]), R.permute_dims(w, [3, 2, 0, 1])
    ends = [e - op for e, op in zip(a.padding[2:], a.output_padding)]
    y = R.nn.conv2d_transpose(x, w, a.strides, [*a.padding[:2], *(max(e, 0) for e in ends)],
                              (0, 0), a.dilation, a.groups, data_layout="NCHW", kernel_layout="IOHW")
    if min(ends) < 0:
        y = R.nn.pad(y, [0, 0, 0, 0, 0, max(-ends[0], 0), 0, max(-ends[1], 0)])
    return R.permute_dims(y, [0, 2, 3, 1]) if a.layout == "NHWC" else y


def _conv_transpose_grads(b, a, x, w, y, g):
    """dx: the conv of g with the same kernel (cropped: with output_padding >= stride it sees
    extra rows); dw: conv2d_backward_weight with g as the data and x as the output gradient."""
    k = split_kernel(w.type, a.layout, ("out/groups", "in"))[0]
    geometry = _geometry(a)
    gx = b.emit("conv2d", g, w, **geometry)
    if gx.type.shape != x.type.shape:
        axes = spatial_axes(a.layout)
        gx = b.emit("slice", gx, starts=(0,) * len(axes), axes=axes,
                    ends=tuple(x.type.shape[i] for i in axes))
    gw = b.emit("conv2d_backward_weight", g, x, kernel_size=k, **geometry)
    return gx, gw


register("conv2d_transpose", attrs=Conv2DTransposeAttrs, infer=_conv_transpose_type,
         reference=_conv_transpose_ref, num_inputs=2, lower=_conv_transpose_lower,
         vjp=float_vjp(_conv_transpose_grads),
         doc="transposed 2-D convolution; kernels (kh,kw,out/groups,in) NHWC or (in,out/groups,kh,kw) NCHW")


# ------------------------------------------------------ weight gradient

@dataclass(frozen=True, kw_only=True)
class Conv2DBackwardWeightAttrs:
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    layout: Layout2D = "NHWC"


def _wgrad_type(a, x: TensorType, gy: TensorType) -> TensorType:
    """The kernel's type (HWIO or OIHW). The output gradient may be shorter than the conv's
    output (a transposed conv's gradient needs that): the missing positions count as zeros."""
    dt = same_dtype(x, gy)
    require_float(x)
    check_geometry(a, 2)
    batch, c, sp = split_data(x, a.layout)
    gbatch, o, gsp = split_data(gy, a.layout, "output gradient")
    if batch != gbatch:
        raise ValueError(f"batch dims differ: input {batch}, output gradient {gbatch}")
    for what, n in (("input", c), ("output gradient", o)):
        if n % a.groups:
            raise ValueError(f"groups={a.groups} does not divide the {what}'s {n} channels")
    out = positive(_conv_sizes(a, sp, a.kernel_size), 2, _too_small(a, sp, a.kernel_size))
    for i, (have, most) in enumerate(zip(gsp, out)):
        if have > most:
            raise ValueError(f"output gradient {AXIS_NAMES[2][i]} {have} exceeds the conv's "
                             f"output {most}")
    return TensorType(join_kernel(a.kernel_size, c // a.groups, o, a.layout), dt)


def _wgrad_ref(a, x, gy):
    """dw[t, c, o] = sum over n, p of x_pad[n, p*s + t*d, g(o), c] * gy[n, p, o]."""
    g, k = a.groups, a.kernel_size
    xg, gl = _grouped_padded(a, x), to_cl(gy, a.layout).astype(np.float64)
    out_sp, o, cg = gl.shape[1:-1], gl.shape[-1], xg.shape[-1]
    gg = gl.reshape(-1, g, o // g)
    dw = np.zeros(tuple(k) + (cg, g, o // g))
    for tap in np.ndindex(*k):
        patch = xg[tap_slices(tap, a.dilation, a.strides, out_sp)].reshape(-1, g, cg)
        dw[tap] = np.einsum("mgc,mgo->cgo", patch, gg)
    return kernel_from_cl(dw.reshape(tuple(k) + (cg, o)), a.layout).astype(x.dtype)


def _wgrad_lower(c, a, x, gy):
    """As TVM's own conv2d gradient: a conv of the data with the output gradient as its kernel,
    batch and channels swapped (the batch becomes the contracted channel axis, grouped as
    (groups, N)), stride and dilation swapped. It may compute taps past the kernel: sliced off."""
    R, g = c.R, a.groups
    batch, ch, sp = split_data(c.in_type(0), a.layout)
    n, cg = c.shape([batch])[0], ch // g
    if a.layout == "NCHW":
        x = R.reshape(R.permute_dims(R.reshape(x, [n, g, cg, *sp]), [1, 0, 2, 3, 4]), [g * n, cg, *sp])
        w = R.nn.conv2d(x, gy, a.dilation, a.padding, a.strides, g, data_layout="CNHW",
                        kernel_layout="IOHW", out_layout="CNHW")
    else:
        x = R.reshape(R.permute_dims(R.reshape(x, [n, *sp, g, cg]), [4, 1, 2, 3, 0]), [cg, *sp, g * n])
        w = R.permute_dims(R.nn.conv2d(x, gy, a.dilation, a.padding, a.strides, g,
                                       data_layout="NHWC", kernel_layout="IHWO"), [1, 2, 0, 3])
    axes = [2, 3] if a.layout == "NCHW" else [0, 1]
    return R.strided_slice(w, axes, [0, 0], list(a.kernel_size))


register("conv2d_backward_weight", attrs=Conv2DBackwardWeightAttrs, infer=_wgrad_type,
         reference=_wgrad_ref, num_inputs=2, lower=_wgrad_lower,
         doc="(data, output gradient) -> the gradient of conv2d's kernel (HWIO or OIHW)")
