"""Losses as in Keras 3: functions of (y_true, y_pred) written with `ops`, and Loss
objects that reduce them ("sum_over_batch_size" by default).

A loss emits IR: inside a compiled training step its ops go into the step's
graph (`emit_loss`), and gradients come from the ops' VJPs. Called on numpy
arrays, as Keras users do (`MeanSquaredError()(y_true, y_pred)`), the same
ops run through the numpy interpreter. The formulas, epsilon clipping and
label smoothing are Keras' own.

Each Loss has a `label_kind` saying what labels it takes, which `fit` uses to
check the data before compiling: "sparse" (class indices), "categorical"
(one-hot, the predictions' shape), "binary" or "dense" (the predictions' shape,
a missing trailing 1 allowed).
"""
from __future__ import annotations

import contextlib
import itertools

import numpy as np

from aot.ir import GraphBuilder, TensorType, interpret

from . import ops
from .tracing import KerasTensor, flatten, tensors_in, to_snake_case, tracing

EPSILON = 1e-7  # keras.config.epsilon()
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "none", None)


# ---------------------------------------------------------------- IR bridges

@contextlib.contextmanager
def traced(b: GraphBuilder, *values):
    """The IR `values` of builder `b` as KerasTensors of a trace on `b`: `ops` inside the
    block emit into `b` (how a loss or metric joins a compiled step)."""
    with tracing(b) as trace:
        yield [KerasTensor(v, trace) for v in values]


def run_eager(fn, *arrays) -> list[np.ndarray]:
    """`fn(*tensors)` on numpy arrays through the interpreter; `fn` returns a tensor or a
    dict/list of them. Floats are float32 as Keras' floatx."""
    arrays = [_as_float32(a) for a in arrays]
    b, counter = GraphBuilder("eager"), itertools.count()
    with tracing(b) as trace:
        ins = [trace.input(f"x{next(counter)}", TensorType(a.shape, a.dtype.name)) for a in arrays]
        out = fn(*ins)
    flat = [t for t in flatten(out) if isinstance(t, KerasTensor)]
    feeds = {v.name: a for v, a in zip(b.inputs, arrays)}
    return interpret(b.build([t.value for t in flat]), feeds)


def _as_float32(a) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype == np.float64:
        return arr.astype(np.float32)
    return arr.astype(np.float32) if arr.dtype == bool else arr


# ---------------------------------------------------------------- helpers

def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras' rule: where ranks differ by one and the longer ends in 1, match them."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            return x1, ops.expand_dims(x2, -1)
        return ops.squeeze(x1, -1), x2
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            return ops.expand_dims(x1, -1), x2
        return x1, ops.squeeze(x2, -1)
    return x1, x2


def _float_like(y_true, y_pred):
    return ops.cast(y_true, y_pred.dtype)


def reduce_values(values, reduction="sum_over_batch_size"):
    """Keras' reductions of the per-sample losses."""
    if reduction in ("none", None) or values.ndim == 0:
        return values
    if reduction == "sum":
        return ops.sum(values)
    return ops.mean(values)  # sum_over_batch_size and mean: the sum over the number of entries


# ---------------------------------------------------------------- loss functions

def mean_squared_error(y_true, y_pred):
    y_true = _float_like(y_true, y_pred)
    return ops.mean(ops.square(ops.subtract(y_pred, y_true)), axis=-1)


def mean_absolute_error(y_true, y_pred):
    y_true = _float_like(y_true, y_pred)
    return ops.mean(ops.abs(ops.subtract(y_pred, y_true)), axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_true = _float_like(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:  # max(x, 0) - x * z + log(1 + exp(-|x|)), stable for any x
        per = ops.relu(y_pred) - y_pred * y_true + ops.softplus(-ops.abs(y_pred))
    else:
        p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
        per = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    return ops.mean(per, axis=axis)


def _log_probs(y_pred, from_logits, axis):
    if from_logits:
        return ops.log_softmax(y_pred, axis=axis)
    p = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    return ops.log(ops.clip(p, EPSILON, 1.0 - EPSILON))


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_true = _float_like(y_true, y_pred)
    if tuple(y_true.shape[1:]) != tuple(y_pred.shape[1:]):
        raise ValueError("Arguments `target` and `output` must have the same shape. Received: "
                         f"target.shape={y_true.shape}, output.shape={y_pred.shape}")
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    return -ops.sum(y_true * _log_probs(y_pred, from_logits, axis), axis=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    if ignore_class is not None:
        raise NotImplementedError("sparse_categorical_crossentropy: ignore_class is not supported yet")
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    if y_true.ndim != y_pred.ndim - 1:
        raise ValueError(f"Argument `output` must have rank (ndim) `target.ndim + 1`. Received: "
                         f"target.shape={y_true.shape}, output.shape={y_pred.shape}")
    if not y_true.dtype.startswith("int"):
        y_true = ops.cast(y_true, "int32")
    target = ops.one_hot(y_true, y_pred.shape[axis])
    return -ops.sum(_float_like(target, y_pred) * _log_probs(y_pred, from_logits, axis), axis=axis)


def huber(y_true, y_pred, delta=1.0):
    y_true = _float_like(y_true, y_pred)
    error = y_pred - y_true
    abs_error = ops.abs(error)
    quadratic = 0.5 * ops.square(error)
    linear = delta * abs_error - 0.5 * delta * delta
    return ops.mean(ops.where(ops.less_equal(abs_error, delta), quadratic, linear), axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

# ---------------------------------------------------------------- Loss objects


class Loss:
    """Keras' Loss: `call(y_true, y_pred)` gives per-sample values; calling the object
    reduces them. Works on tensors of a trace and on numpy arrays alike."""

    label_kind = "dense"

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"Invalid value for argument `reduction`. Expected one of "
                             f"{REDUCTIONS}. Received: reduction={reduction}")
        self.name = name or to_snake_case(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype or "float32"

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise NotImplementedError("sample_weight is not supported yet")
        if tensors_in(y_true, y_pred):
            return reduce_values(self.call(y_true, y_pred), self.reduction)
        return run_eager(lambda t, p: self(t, p), y_true, y_pred)[0]

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class LossFunctionWrapper(Loss):
    """A loss function (of y_true, y_pred and keyword arguments) as a Loss object."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs
        self.label_kind = _KINDS.get(fn, "dense")

    def call(self, y_true, y_pred):
        if self.label_kind != "sparse":
            y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}


def _wrapper(fn, default_name):
    """A Loss class for `fn` whose constructor takes fn's keyword arguments."""
    class _Wrapped(LossFunctionWrapper):
        def __init__(self, reduction="sum_over_batch_size", name=default_name, dtype=None, **kwargs):
            super().__init__(fn, reduction=reduction, name=name, dtype=dtype, **kwargs)

        @classmethod
        def from_config(cls, config):
            return cls(**config)
    return _Wrapped


class MeanSquaredError(_wrapper(mean_squared_error, "mean_squared_error")):
    pass


class MeanAbsoluteError(_wrapper(mean_absolute_error, "mean_absolute_error")):
    pass


class BinaryCrossentropy(_wrapper(binary_crossentropy, "binary_crossentropy")):
    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=float(label_smoothing), axis=axis)


class CategoricalCrossentropy(_wrapper(categorical_crossentropy, "categorical_crossentropy")):
    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=float(label_smoothing), axis=axis)


class SparseCategoricalCrossentropy(_wrapper(sparse_categorical_crossentropy,
                                             "sparse_categorical_crossentropy")):
    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype, from_logits=from_logits,
                         ignore_class=ignore_class)


class Huber(_wrapper(huber, "huber_loss")):
    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype, delta=float(delta))


_KINDS = {sparse_categorical_crossentropy: "sparse", categorical_crossentropy: "categorical",
          binary_crossentropy: "binary"}

_BY_NAME = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "huber": Huber, "huber_loss": Huber,
}
_CLASSES = {c.__name__: c for c in (MeanSquaredError, MeanAbsoluteError, BinaryCrossentropy,
                                    CategoricalCrossentropy, SparseCategoricalCrossentropy, Huber)}
_FUNCTIONS = {mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
              binary_crossentropy: BinaryCrossentropy, categorical_crossentropy: CategoricalCrossentropy,
              sparse_categorical_crossentropy: SparseCategoricalCrossentropy, huber: Huber}


def get(identifier) -> Loss:
    """A Loss from a name ("mse"), a class, an instance, or a function of (y_true, y_pred)
    written with aot's ops (kept under its own name, as Keras does)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(f"Could not interpret loss identifier: {identifier!r}; known: "
                             f"{', '.join(sorted(set(_BY_NAME)))}")
        return cls(name=identifier) if identifier in _BY_NAME else cls()
    if identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def label_type(loss: Loss, pred: TensorType) -> TensorType:
    """The label input a loss needs for predictions of type `pred`: class indices (int32,
    the predictions' shape without the class axis) for sparse losses, else `pred`'s type."""
    if loss is not None and loss.label_kind == "sparse":
        return TensorType(pred.shape[:-1], "int32")
    return pred


def _fmt(shape) -> str:
    """A label shape for people: the batch as N, "(N,)" or "(N, 3)"."""
    dims = ["N" if i == 0 else str(d) for i, d in enumerate(shape)]
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"


def _fits(shape: tuple, want: tuple) -> bool:
    """Non-batch dims agree (a symbolic dim takes any size)."""
    return len(shape) == len(want) and all(isinstance(w, str) or w == s for s, w in zip(shape, want))


def check_labels(loss: Loss, pred: TensorType, arr: np.ndarray, output: str) -> np.ndarray:
    """Labels for one output, checked against what `loss` takes (one clear error naming the
    output, the shapes and the loss) and shaped as its label input (`label_type`)."""
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"labels for output {output!r} must be numbers, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"labels for output {output!r} must have a batch axis, got a scalar")
    want, kind = label_type(loss, pred), loss.label_kind if loss is not None else "dense"
    who = loss.name if loss is not None else "its metrics"
    if kind == "sparse":
        return _class_indices(arr, pred, want, output, who)
    shape, dims = arr.shape[1:], tuple(want.shape[1:])
    if _fits(shape, dims):
        return np.ascontiguousarray(arr, dtype=want.dtype.numpy)
    if dims and dims[-1] == 1 and _fits(shape + (1,), dims):
        return np.ascontiguousarray(arr.reshape(arr.shape + (1,)), dtype=want.dtype.numpy)
    if shape and shape[-1] == 1 and _fits(shape[:-1], dims):
        return np.ascontiguousarray(arr.reshape(arr.shape[:-1]), dtype=want.dtype.numpy)
    hint = ""
    if kind == "categorical" and (_fits(shape, dims[:-1]) or _fits(shape, dims[:-1] + (1,))):
        hint = " (for integer class indices use sparse_categorical_crossentropy)"
    what = "one-hot labels" if kind == "categorical" else "labels"
    raise ValueError(f"labels for output {output!r} have shape {arr.shape} but {who} expects "
                     f"{what} of shape {_fmt(want.shape)}{hint}")


def _class_indices(arr, pred: TensorType, want: TensorType, output: str, who: str) -> np.ndarray:
    shape, idx, classes = arr.shape[1:], tuple(want.shape[1:]), pred.shape[-1]
    if not (_fits(shape, idx) or _fits(shape, idx + (1,))):
        raise ValueError(f"labels for output {output!r} have shape {arr.shape} but {who} expects "
                         f"class indices of shape {_fmt(want.shape)} or {_fmt(tuple(want.shape) + (1,))}")
    if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
        raise ValueError(f"labels for output {output!r} must be class indices (integers) for "
                         f"{who}, got fractional values")
    bad = arr[(arr < 0) | (arr >= classes)] if isinstance(classes, int) else arr[arr < 0]
    if bad.size:
        raise ValueError(f"labels for output {output!r}: class index {bad.flat[0]:g} is outside "
                         f"[0, {classes}) for {who}")
    return np.ascontiguousarray(arr.reshape((arr.shape[0],) + idx), dtype=np.int32)


def emit_loss(b: GraphBuilder, loss: Loss, pred, label):
    """The reduced loss of IR values `pred` and `label`, emitted into `b` (a scalar Value)."""
    with traced(b, pred, label) as (p, t):
        return loss(t, p).value


def serialize(loss: Loss) -> dict:
    return {"class_name": type(loss).__name__, "config": loss.get_config()}

__all__ = ["Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError",
           "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "Huber",
           "mean_squared_error", "mean_absolute_error", "binary_crossentropy",
           "categorical_crossentropy", "sparse_categorical_crossentropy", "huber", "mse", "mae",
           "get", "serialize", "squeeze_or_expand_to_same_rank", "reduce_values", "check_labels",
           "label_type"]
