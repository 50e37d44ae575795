"""Layouts and window geometry shared by the nn families (conv.py, pool.py).

Channels-last data ("NHWC", "NWC") takes Keras kernels (HWIO), channels-first
data ("NCHW", "NCW") takes ONNX/PyTorch kernels (OIHW). Padding lists every
begin, then every end: (top, left, bottom, right) in 2-D. Batch dims may be
symbols ("N"); channels and spatial dims must be static ints, since output
sizes are arithmetic on them. The numpy references bring both layouts to
channels-last and loop over kernel taps.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from aot.ir.types import TensorType

Layout2D = Literal["NHWC", "NCHW"]
Layout1D = Literal["NWC", "NCW"]
AXIS_NAMES = {1: ("width",), 2: ("height", "width")}


def float_vjp(rule):
    """rule(b, attrs, *inputs, output, grad) -> one grad per input; integer ops have none."""
    def vjp(b, attrs, inputs, outputs, grads):
        if not inputs[0].type.dtype.is_float or grads[0] is None:
            return [None] * len(inputs)
        return list(rule(b, attrs, *inputs, outputs[0], grads[0]))

    return vjp


def spatial_rank(layout: str) -> int:
    return len(layout) - 2


def channels_last(layout: str) -> bool:
    return layout.endswith("C")


def spatial_axes(layout: str) -> tuple[int, ...]:
    r = spatial_rank(layout)
    return tuple(range(1, 1 + r)) if channels_last(layout) else tuple(range(2, 2 + r))


def static(dims, what: str) -> tuple[int, ...]:
    for d in dims:
        if not isinstance(d, int):
            raise ValueError(f"{what} must be static, got symbol {d!r}")
    return tuple(dims)


def split_data(t: TensorType, layout: str, what: str = "input"):
    """-> (batch, channels, spatial dims) of a data tensor in `layout`."""
    r = spatial_rank(layout)
    if t.rank != r + 2:
        raise ValueError(f"{what} must be {r + 2}-D ({layout}), got rank {t.rank}")
    if channels_last(layout):
        batch, ch, sp = t.shape[0], t.shape[-1], t.shape[1:-1]
    else:
        batch, ch, sp = t.shape[0], t.shape[1], t.shape[2:]
    return batch, static((ch,), f"{what} channels")[0], static(sp, f"{what} spatial dims")


def join_data(batch, ch: int, sp, layout: str) -> tuple:
    return (batch, *sp, ch) if channels_last(layout) else (batch, ch, *sp)


def split_kernel(w: TensorType, layout: str, names: tuple[str, str]):
    """Kernels are (*K, u, v) channels-last and (v, u, *K) channels-first -> (K, u, v).
    `names` says what u and v are (for conv: in/groups, out)."""
    r = spatial_rank(layout)
    k_names = ("kh", "kw") if r == 2 else ("k",)
    desc = (*k_names, *names) if channels_last(layout) else (names[1], names[0], *k_names)
    if w.rank != r + 2:
        raise ValueError(f"kernel must be {r + 2}-D ({', '.join(desc)}) for {layout} data, got rank {w.rank}")
    dims = static(w.shape, "kernel dims")
    if channels_last(layout):
        return dims[:r], dims[r], dims[r + 1]
    return dims[2:], dims[1], dims[0]


def join_kernel(k, u: int, v: int, layout: str) -> tuple[int, ...]:
    """The inverse of split_kernel: (K, u, v) -> the kernel shape in `layout`."""
    return (*k, u, v) if channels_last(layout) else (v, u, *k)


def check_geometry(a, r: int) -> None:
    """Strides, dilation, pool and kernel sizes >= 1, padding >= 0, groups >= 1
    (for the attrs that have them)."""
    for name in ("strides", "dilation", "pool_size", "kernel_size"):
        vals = getattr(a, name, (1,) * r)
        if any(v < 1 for v in vals):
            raise ValueError(f"{name} must be >= 1, got {vals}")
    if any(p < 0 for p in a.padding):
        raise ValueError(f"padding must be >= 0, got {a.padding}")
    if getattr(a, "groups", 1) < 1:
        raise ValueError(f"groups must be >= 1, got {a.groups}")


def pads(a, r: int):
    """(begin, end) pairs per spatial axis from the begins-then-ends padding attr."""
    return list(zip(a.padding[:r], a.padding[r:]))


def positive(sizes, r: int, why) -> tuple[int, ...]:
    for i, s in enumerate(sizes):
        if s < 1:
            raise ValueError(f"output {AXIS_NAMES[r][i]} would be {s} < 1: {why(i)}")
    return tuple(sizes)


def to_cl(x: np.ndarray, layout: str) -> np.ndarray:
    return x if channels_last(layout) else np.moveaxis(x, 1, -1)


def from_cl(y: np.ndarray, layout: str) -> np.ndarray:
    return y if channels_last(layout) else np.moveaxis(y, -1, 1)


def kernel_to_cl(w: np.ndarray, layout: str) -> np.ndarray:
    """(v, u, *K) -> (*K, u, v); channels-last kernels are already so."""
    if channels_last(layout):
        return w
    r = w.ndim - 2
    return np.transpose(w, tuple(range(2, 2 + r)) + (1, 0))


def kernel_from_cl(w: np.ndarray, layout: str) -> np.ndarray:
    """(*K, u, v) -> (v, u, *K) for channels-first layouts."""
    if channels_last(layout):
        return w
    r = w.ndim - 2
    return np.transpose(w, (r + 1, r) + tuple(range(r)))


def tap_slices(tap, dilation, strides, out_sizes) -> tuple:
    """The input positions one kernel tap reads for every output position (on padded data)."""
    return (slice(None),) + tuple(slice(t * d, t * d + s * (o - 1) + 1, s)
                                  for t, d, s, o in zip(tap, dilation, strides, out_sizes))


def _dropped_tail(n: int, k: int, s: int, d: int, pad: tuple[int, int], out: int) -> int:
    """How many padded positions past the last window a forward pass leaves unread;
    negative when the last window (ceil_mode) reaches past the end padding."""
    return n + pad[0] + pad[1] - ((out - 1) * s + d * (k - 1) + 1)


def adjoint_padding(a, sp, k, out_sp) -> tuple[tuple, tuple]:
    """(padding, output_padding) of the transposed conv that scatters an output-shaped
    gradient back onto spatial size `sp`: the begins are the forward's; the ends give back
    the padded positions no window read, or crop those a ceil_mode window made up."""
    ends, extra = [], []
    for i, p in enumerate(pads(a, len(sp))):
        end = p[1] - _dropped_tail(sp[i], k[i], a.strides[i], a.dilation[i], p, out_sp[i])
        ends.append(max(end, 0))
        extra.append(max(-end, 0))
    return (*a.padding[:len(sp)], *ends), tuple(extra)
