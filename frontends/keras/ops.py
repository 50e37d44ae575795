"""Tensor ops for layer code, in the spirit of `keras.ops`: each emits IR nodes into the
active trace. Operands may be KerasTensors, Variables (become Params) or Python / numpy
constants (become const Params of the other operand's dtype).

Called outside a trace on symbolic KerasTensors (functional construction, e.g.
`y = x * 2 + 1` between layers), an op becomes a small weightless layer in the model,
as Keras 3 does with its operations.
"""
from __future__ import annotations

import builtins
import functools
import math

import numpy as np

from .tracing import KerasTensor, Variable, current_trace, tensors_in


def symbolic(fn):
    """Run `fn` in the active trace, or record it as a functional-model operation."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if current_trace() is not None:
            return fn(*args, **kwargs)
        if tensors_in(args, kwargs):
            from .layers.base import OpLayer

            return OpLayer(wrapper, fn.__name__)(*args, **kwargs)
        raise ValueError(f"ops.{fn.__name__} needs KerasTensor inputs (or an active trace)")
    return wrapper


def _dtype_of(*xs) -> str:
    for x in xs:
        if isinstance(x, (KerasTensor, Variable)):
            return x.dtype
    return "float32"


def _value(x, dtype: str):
    trace = current_trace()
    if isinstance(x, KerasTensor):
        if x.trace is not trace:
            raise ValueError(f"{x} belongs to another graph than the one being traced; "
                             "a functional model's tensors can only be used through its layers")
        return x.value
    if isinstance(x, Variable):
        return trace.param(x)
    return trace.const(x, dtype)


def emit(op: str, *inputs, **attrs):
    """Emit one node; constants take the dtype of the first tensor operand."""
    dtype = _dtype_of(*inputs)
    values = [_value(x, dtype) for x in inputs]
    outs = current_trace().emit(op, values, attrs)
    return outs[0] if len(outs) == 1 else outs


def _unary(op):
    @symbolic
    def f(x):
        return emit(op, x)
    f.__name__ = f.__qualname__ = op
    return f


def _binary(op):
    @symbolic
    def f(x1, x2):
        return emit(op, x1, x2)
    f.__name__ = f.__qualname__ = op
    return f


add, subtract, multiply, divide = (_binary(n) for n in ("add", "subtract", "multiply", "divide"))
maximum, minimum, power = (_binary(n) for n in ("maximum", "minimum", "power"))
equal, not_equal, less, greater = (_binary(n) for n in ("equal", "not_equal", "less", "greater"))
less_equal, greater_equal = _binary("less_equal"), _binary("greater_equal")
logical_and, logical_or = _binary("logical_and"), _binary("logical_or")
matmul = _binary("matmul")
abs, exp, log, sqrt, rsqrt = (_unary(n) for n in ("abs", "exp", "log", "sqrt", "rsqrt"))
tanh, sigmoid, relu, silu = (_unary(n) for n in ("tanh", "sigmoid", "relu", "silu"))
softplus, softsign, selu = _unary("softplus"), _unary("softsign"), _unary("selu")
logical_not = _unary("logical_not")
negative = _unary("neg")
negative.__name__ = "negative"


@symbolic
def square(x):
    return emit("multiply", x, x)


@symbolic
def gelu(x, approximate=True):
    """keras.ops.gelu: the tanh approximation by default (the activation defaults to exact)."""
    return emit("gelu_tanh" if approximate else "gelu", x)


@symbolic
def elu(x, alpha=1.0):
    return emit("elu", x, alpha=float(alpha))


@symbolic
def leaky_relu(x, negative_slope=0.2):
    return emit("leaky_relu", x, alpha=float(negative_slope))


@symbolic
def hard_sigmoid(x):
    """Keras 3: relu6(x + 3) / 6."""
    return emit("hard_sigmoid", x, alpha=1.0 / 6.0, beta=0.5)


@symbolic
def clip(x, x_min, x_max):
    return emit("clip", x, min=float(x_min), max=float(x_max))


@symbolic
def cast(x, dtype):
    return x if x.dtype == np.dtype(dtype).name else emit("cast", x, dtype=dtype)


@symbolic
def where(condition, x1, x2):
    dtype = _dtype_of(x1, x2)
    return emit("where", condition, _as_tensor(x1, dtype), _as_tensor(x2, dtype))


def constant(value, dtype=None):
    """A constant tensor of the active trace (float32 unless told or already typed)."""
    arr = np.asarray(value)
    dtype = dtype or (arr.dtype.name if arr.dtype != np.float64 else "float32")
    return KerasTensor(current_trace().const(arr, dtype), current_trace())


def _as_tensor(x, dtype):
    """where() takes its dtype from x1/x2, not the (bool) condition."""
    if isinstance(x, (KerasTensor, Variable)):
        return x
    return KerasTensor(current_trace().const(x, dtype), current_trace())


# ---------------------------------------------------------------- reductions

def _axes(axis):
    if axis is None:
        return None
    return (int(axis),) if isinstance(axis, (int, np.integer)) else tuple(int(a) for a in axis)


def _reduce(op):
    @symbolic
    def f(x, axis=None, keepdims=False):
        return emit(op, x, axes=_axes(axis), keepdims=bool(keepdims))
    f.__name__ = f.__qualname__ = op
    return f


sum, mean, max, min, prod, logsumexp = (
    _reduce(n) for n in ("sum", "mean", "max", "min", "prod", "logsumexp"))


@symbolic
def argmax(x, axis=-1, keepdims=False):
    return emit("argmax", x, axis=int(axis), keepdims=bool(keepdims))


@symbolic
def argmin(x, axis=-1, keepdims=False):
    return emit("argmin", x, axis=int(axis), keepdims=bool(keepdims))


@symbolic
def softmax(x, axis=-1):
    return emit("softmax", x, axis=int(axis))


@symbolic
def log_softmax(x, axis=-1):
    return emit("log_softmax", x, axis=int(axis))


# ---------------------------------------------------------------- shapes

@symbolic
def reshape(x, newshape):
    """Dims are ints, symbol names ("N") or one -1."""
    return emit("reshape", x, shape=tuple(newshape))


@symbolic
def transpose(x, axes=None):
    perm = tuple(reversed(range(x.ndim))) if axes is None else tuple(int(a) for a in axes)
    return emit("transpose", x, perm=perm)


@symbolic
def expand_dims(x, axis):
    return emit("expand_dims", x, axes=_axes(axis))


@symbolic
def squeeze(x, axis=None):
    return emit("squeeze", x, axes=_axes(axis))


@symbolic
def concatenate(xs, axis=0):
    return emit("concat", *xs, axis=int(axis))


@symbolic
def split_sizes(x, sizes, axis=0):
    """Split into pieces of the given sizes (the IR's split); always returns a list."""
    if len(sizes) == 1:
        return [x]
    return list(emit("split", x, axis=int(axis), sizes=tuple(int(s) for s in sizes)))


@symbolic
def split(x, indices_or_sections, axis=0):
    """keras.ops.split: a number of equal sections, or the indices to split at."""
    n = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if n % indices_or_sections:
            raise ValueError(f"cannot split axis of size {n} into {indices_or_sections} equal parts")
        return split_sizes(x, [n // indices_or_sections] * indices_or_sections, axis)
    bounds = [0, *indices_or_sections, n]
    return split_sizes(x, [b - a for a, b in zip(bounds, bounds[1:])], axis)


@symbolic
def slice_axes(x, starts, ends, axes, steps=None):
    steps = steps or [1] * len(axes)
    return emit("slice", x, starts=tuple(starts), ends=tuple(ends), axes=tuple(axes),
                steps=tuple(steps))


@symbolic
def broadcast_to(x, shape):
    return emit("broadcast_to", x, shape=tuple(shape))


@symbolic
def pad(x, pad_width, mode="constant", constant_values=0.0):
    """pad_width as numpy: ((before, after), ...) per axis; the IR wants begins then ends."""
    begins = [int(p[0]) for p in pad_width]
    ends = [int(p[1]) for p in pad_width]
    return emit("pad", x, pads=tuple(begins + ends), mode=mode, value=float(constant_values))


@symbolic
def tile(x, repeats):
    return emit("tile", x, repeats=tuple(int(r) for r in repeats))


@symbolic
def take(x, indices, axis=0):
    if isinstance(indices, KerasTensor) and indices.dtype not in ("int32", "int64"):
        indices = cast(indices, "int32")
    return emit("take", x, indices, axis=int(axis))


@symbolic
def one_hot(x, num_classes):
    return emit("one_hot", x, depth=int(num_classes))


@symbolic
def getitem(x, key):
    """Basic indexing with static bounds: ints, slices, None and Ellipsis."""
    key = key if isinstance(key, tuple) else (key,)
    n_real = builtins.sum(1 for k in key if k is not None and k is not Ellipsis)
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (x.ndim - n_real) + key[i + 1:]
    key = key + (slice(None),) * (x.ndim - n_real - builtins.sum(k is Ellipsis for k in key))
    starts, ends, axes, steps, drop, new = [], [], [], [], [], []
    axis = 0
    for k in key:
        if k is None:
            new.append(axis + len(new) - len(drop))
            continue
        if k != slice(None):
            dim = x.shape[axis]
            if dim is None:
                raise ValueError(f"cannot index axis {axis} of {x}: its size is not static")
            s = slice(k, k + 1 if k != -1 else None) if isinstance(k, int) else k
            b, e, st = s.indices(dim)
            starts.append(b), ends.append(e if e >= 0 else -dim - 1), axes.append(axis)
            steps.append(st)
            if isinstance(k, int):
                drop.append(axis)
        axis += 1
    out = slice_axes(x, starts, ends, axes, steps) if axes else x
    out = squeeze(out, drop) if drop else out
    return expand_dims(out, new) if new else out


# ---------------------------------------------------------------- convolution and pooling

def same_pads(sizes, kernel, strides, dilation=None):
    """TensorFlow's "same": out = ceil(in / stride); the odd pixel of padding goes after.
    Returns (begins..., ends...), e.g. (top, left, bottom, right) in 2-D."""
    dilation = dilation or (1,) * len(sizes)
    begins, ends = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dilation):
        if n is None:
            raise ValueError("'same' padding needs static spatial sizes")
        k_eff = (k - 1) * d + 1
        total = builtins.max((math.ceil(n / s) - 1) * s + k_eff - n, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return tuple(begins + ends)


def _pads(padding, x, kernel, strides, dilation=None):
    padding = padding.lower()
    if padding == "valid":
        return (0,) * (2 * len(kernel))
    if padding == "same":
        return same_pads(x.shape[1:-1], kernel, strides, dilation)
    raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")


@symbolic
def conv(inputs, kernel, strides=(1, 1), padding="valid", dilation_rate=(1, 1), groups=1):
    """2-D convolution, NHWC input and HWIO kernel, as keras.ops.conv."""
    kh, kw = kernel.shape[:2]
    pads = _pads(padding, inputs, (kh, kw), strides, dilation_rate)
    return emit("conv2d", inputs, kernel, strides=tuple(strides), padding=pads,
                dilation=tuple(dilation_rate), groups=int(groups), layout="NHWC")


@symbolic
def depthwise_conv(inputs, kernel, strides=(1, 1), padding="valid", dilation_rate=(1, 1)):
    """Keras depthwise kernel (kh, kw, C, mult) = a grouped conv with (kh, kw, 1, C*mult)."""
    kh, kw, c, mult = kernel.shape
    w = reshape(kernel, (kh, kw, 1, c * mult))
    return conv(inputs, w, strides, padding, dilation_rate, groups=c)


def conv_transpose_pads(sizes, kernel, strides, padding, output_padding, dilation):
    """Pads and output padding that give Keras's Conv2DTranspose output size and alignment.

    Keras (as TensorFlow) picks the output length L (deconv_output_length) and crops the
    full transposed conv, (n-1)*s + k_eff long, at the begin by the "same" padding a
    forward conv from L would use; the rest is cropped at the end or zero-filled."""
    begins, ends, extra = [], [], []
    for i, (n, k, s, d) in enumerate(zip(sizes, kernel, strides, dilation)):
        k_eff = (k - 1) * d + 1
        out_len = _deconv_length(n, k_eff, padding, None if output_padding is None
                                 else output_padding[i], s)
        full = (n - 1) * s + k_eff
        begin = same_pads([out_len], [k], [s], [d])[0] if padding == "same" else 0
        rest = out_len - full + begin  # > 0: zeros to add at the end; < 0: crop at the end
        begins.append(begin)
        ends.append(builtins.max(-rest, 0))
        extra.append(builtins.max(rest, 0))
    return tuple(begins + ends), tuple(extra)


def _deconv_length(n, k_eff, padding, output_padding, stride):
    """keras.src.utils.conv_utils.deconv_output_length, for a dilated kernel length."""
    if output_padding is None:
        return n * stride + builtins.max(k_eff - stride, 0) if padding == "valid" else n * stride
    pad = k_eff // 2 if padding == "same" else 0
    return (n - 1) * stride + k_eff - 2 * pad + output_padding


@symbolic
def conv_transpose(inputs, kernel, strides=(1, 1), padding="valid", output_padding=None,
                   dilation_rate=(1, 1)):
    """keras.ops.conv_transpose, NHWC input and a (kh, kw, out, in) kernel."""
    padding = padding.lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    pads, extra = conv_transpose_pads(inputs.shape[1:3], kernel.shape[:2], strides, padding,
                                      output_padding, dilation_rate)
    return emit("conv2d_transpose", inputs, kernel, strides=tuple(strides), padding=pads,
                output_padding=extra, dilation=tuple(dilation_rate), groups=1, layout="NHWC")


def _pool(op, inputs, pool_size, strides, padding):
    strides = tuple(pool_size if strides is None else strides)
    pads = _pads(padding, inputs, pool_size, strides)
    return emit(op, inputs, pool_size=tuple(pool_size), strides=strides, padding=pads,
                dilation=(1, 1), ceil_mode=False, count_include_pad=False, layout="NHWC")


@symbolic
def max_pool(inputs, pool_size, strides=None, padding="valid"):
    return _pool("max_pool2d", inputs, pool_size, strides, padding)


@symbolic
def average_pool(inputs, pool_size, strides=None, padding="valid"):
    """Padding never counts in the average (TensorFlow's "SAME")."""
    return _pool("avg_pool2d", inputs, pool_size, strides, padding)
