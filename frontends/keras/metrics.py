"""Metrics as in Keras 3, as per-batch accumulators plus a finalizer.

A metric emits, for one batch, sums that add up over batches (correct
predictions and counts; true/false positives at fixed thresholds), and names
the runtime finalizer that turns the summed accumulators into its value
(`aot.runtime.metrics.FINALIZERS`: "ratio", "precision", "recall", "auc").
Compiled, the accumulators are outputs of the train/evaluate steps (`spec()`
gives the step's MetricSpec); standalone, `update_state` runs them through the
numpy interpreter and `result()` applies the same finalizer, so a Metric
object gives the same value either way, as Keras' stateful metrics do.
"""
from __future__ import annotations

import numpy as np

from . import losses, ops
from .losses import run_eager, squeeze_or_expand_to_same_rank, traced
from .tracing import to_snake_case


def _count(values):
    """The number of entries of `values` (emitted: the batch size is symbolic)."""
    return ops.sum(ops.emit("broadcast_like", 1.0, values))


def _samplewise(values):
    """Keras' Mean metrics average each sample's values over its non-batch axes."""
    return ops.mean(values, axis=tuple(range(1, values.ndim))) if values.ndim > 1 else values


class Metric:
    """Keras' Metric: `update_state`, `result`, `reset_state`; subclasses define
    `accumulate(y_true, y_pred) -> {key: tensor}` (batch sums) and `finalize`."""

    finalize = "ratio"
    _direction = "up"  # does a larger value mean better (EarlyStopping's mode="auto")

    def __init__(self, name=None, dtype=None):
        self.name = name or to_snake_case(type(self).__name__)
        self.dtype = dtype or "float32"
        self._sums: dict[str, np.ndarray] = {}

    def accumulate(self, y_true, y_pred) -> dict:
        raise NotImplementedError

    # ------------------------------------------------------------ compiled

    def spec(self, name=None, output: int = 0, label: int = 0):
        """The MetricSpec of this metric on the step's prediction number `output` and label
        number `label`, its accumulators named "<name>/<key>"."""
        from aot.passes.train_step import MetricSpec

        name = name or self.name

        def outputs_fn(b, preds, labels):
            with traced(b, preds[output], labels[label]) as (p, t):
                sums = self.accumulate(t, p)
            return {f"{name}/{k}": v.value for k, v in sums.items()}
        return MetricSpec(name, outputs_fn, self.finalize)

    # ------------------------------------------------------------ standalone

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise NotImplementedError("sample_weight is not supported yet")
        keys = []

        def fn(t, p):
            sums = self.accumulate(t, p)
            keys.extend(sums)
            return list(sums.values())
        values = run_eager(fn, y_true, y_pred)
        for k, v in zip(keys, values):
            v = np.asarray(v, np.float64)
            self._sums[k] = self._sums[k] + v if k in self._sums else v

    def result(self):
        from aot.runtime.metrics import FINALIZERS

        if not self._sums:
            return np.float32(0.0)
        return np.float32(FINALIZERS[self.finalize](*self._sums.values()))

    def reset_state(self) -> None:
        self._sums = {}

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Keras: update the state with this batch and return the result so far."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class MeanMetricWrapper(Metric):
    """The mean over samples of a per-sample function (accuracies, errors, losses)."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self._fn, self._fn_kwargs = fn, kwargs

    def accumulate(self, y_true, y_pred) -> dict:
        values = _samplewise(ops.cast(self._fn(y_true, y_pred, **self._fn_kwargs), "float32"))
        if values.ndim == 0:
            values = ops.expand_dims(values, 0)
        return {"total": ops.sum(values), "count": _count(values)}

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}


# ---------------------------------------------------------------- accuracy functions

def accuracy(y_true, y_pred):
    y_true = ops.cast(y_true, y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return ops.cast(ops.equal(y_true, y_pred), "float32")


def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_true = ops.cast(y_true, y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_pred = ops.cast(ops.greater(y_pred, threshold), y_true.dtype)
    return ops.cast(ops.equal(y_true, y_pred), "float32")


def categorical_accuracy(y_true, y_pred):
    return ops.cast(ops.equal(ops.argmax(y_true, axis=-1), ops.argmax(y_pred, axis=-1)), "float32")


def sparse_categorical_accuracy(y_true, y_pred):
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    predicted = ops.argmax(y_pred, axis=-1)
    if y_true.dtype.startswith("float"):
        predicted = ops.cast(predicted, y_true.dtype)
    elif y_true.dtype != predicted.dtype:
        y_true = ops.cast(y_true, predicted.dtype)
    return ops.cast(ops.equal(y_true, predicted), "float32")


def _metric_class(fn, default_name, direction="up", **defaults):
    """A MeanMetricWrapper class for `fn`, its constructor taking fn's keyword arguments."""
    class _Wrapped(MeanMetricWrapper):
        _direction = direction

        def __init__(self, name=default_name, dtype=None, **kwargs):
            super().__init__(fn, name=name, dtype=dtype, **{**defaults, **kwargs})
    return _Wrapped


class Accuracy(_metric_class(accuracy, "accuracy")):
    pass


class BinaryAccuracy(_metric_class(binary_accuracy, "binary_accuracy")):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(name=name, dtype=dtype, threshold=float(threshold))


class CategoricalAccuracy(_metric_class(categorical_accuracy, "categorical_accuracy")):
    pass


class SparseCategoricalAccuracy(_metric_class(sparse_categorical_accuracy,
                                              "sparse_categorical_accuracy")):
    pass


class MeanSquaredError(_metric_class(losses.mean_squared_error, "mean_squared_error", "down")):
    pass


class MeanAbsoluteError(_metric_class(losses.mean_absolute_error, "mean_absolute_error", "down")):
    pass


class BinaryCrossentropy(_metric_class(losses.binary_crossentropy, "binary_crossentropy", "down")):
    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0):
        super().__init__(name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=float(label_smoothing))


class CategoricalCrossentropy(_metric_class(losses.categorical_crossentropy,
                                            "categorical_crossentropy", "down")):
    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=float(label_smoothing))


class SparseCategoricalCrossentropy(_metric_class(losses.sparse_categorical_crossentropy,
                                                  "sparse_categorical_crossentropy", "down")):
    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False):
        super().__init__(name=name, dtype=dtype, from_logits=from_logits)


# ---------------------------------------------------------------- confusion-matrix metrics

def _positives(y_true, y_pred, thresholds):
    """(predicted positive, true label) as float tensors, predictions compared with each
    threshold along a new last axis: `y_pred > t`, labels cast to bool as Keras does."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(ops.cast(y_true, y_pred.dtype), y_pred)
    truth = ops.cast(ops.not_equal(y_true, 0.0), "float32")
    thr = ops.constant(np.asarray(thresholds, np.float32))
    predicted = ops.cast(ops.greater(ops.expand_dims(y_pred, -1), thr), "float32")
    return predicted, ops.expand_dims(truth, -1)


def _confusion(y_true, y_pred, thresholds, which) -> dict:
    """Sums over all but the threshold axis of tp/fp/tn/fn (those named in `which`)."""
    predicted, truth = _positives(y_true, y_pred, thresholds)
    axes = tuple(range(predicted.ndim - 1))
    terms = {"tp": lambda: predicted * truth, "fp": lambda: predicted * (1.0 - truth),
             "tn": lambda: (1.0 - predicted) * (1.0 - truth), "fn": lambda: (1.0 - predicted) * truth}
    single = len(thresholds) == 1
    out = {}
    for key in which:
        s = ops.sum(terms[key](), axis=axes)
        out[key] = ops.sum(s) if single else s
    return out


def _single_threshold(thresholds, cls_name):
    if thresholds is None:
        return 0.5
    values = [thresholds] if isinstance(thresholds, (int, float)) else list(thresholds)
    if len(values) != 1:
        raise NotImplementedError(f"{cls_name}: only one threshold is supported yet")
    return float(values[0])


class _ConfusionMetric(Metric):
    _keys: tuple = ()

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if top_k is not None or class_id is not None:
            raise NotImplementedError(f"{type(self).__name__}: top_k and class_id are not "
                                      "supported yet")
        self.thresholds = _single_threshold(thresholds, type(self).__name__)

    def accumulate(self, y_true, y_pred) -> dict:
        return _confusion(y_true, y_pred, [self.thresholds], self._keys)

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.thresholds, "top_k": None, "class_id": None}


class Precision(_ConfusionMetric):
    """tp / (tp + fp) with predictions > threshold (0.5) counted positive."""

    finalize, _keys = "precision", ("tp", "fp")


class Recall(_ConfusionMetric):
    """tp / (tp + fn) with predictions > threshold (0.5) counted positive."""

    finalize, _keys = "recall", ("tp", "fn")


def auc_thresholds(num_thresholds: int) -> np.ndarray:
    """Keras' evenly spaced thresholds, with end points just below 0 and above 1."""
    inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return np.array([0.0 - losses.EPSILON] + inner + [1.0 + losses.EPSILON], np.float32)


class AUC(Metric):
    """Area under the ROC curve, from confusion counts at `num_thresholds` thresholds and
    Keras' interpolated Riemann sum."""

    finalize = "auc"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        super().__init__(name=name or "auc", dtype=dtype)
        if curve != "ROC" or summation_method != "interpolation":
            raise NotImplementedError("AUC: only curve='ROC' with summation_method='interpolation' "
                                      "is supported yet")
        if multi_label or label_weights is not None:
            raise NotImplementedError("AUC: multi_label and label_weights are not supported yet")
        if thresholds is None and num_thresholds <= 1:
            raise ValueError("Argument `num_thresholds` must be an integer > 1. "
                             f"Received: num_thresholds={num_thresholds}")
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            self.thresholds = np.array([-losses.EPSILON] + inner + [1.0 + losses.EPSILON], np.float32)
        else:
            self.thresholds = auc_thresholds(num_thresholds)
        self.num_thresholds = len(self.thresholds)
        self.curve, self.summation_method, self.from_logits = curve, summation_method, from_logits

    def accumulate(self, y_true, y_pred) -> dict:
        if self.from_logits:
            y_pred = ops.sigmoid(y_pred)
        return _confusion(y_true, y_pred, self.thresholds, ("tp", "fp", "tn", "fn"))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method, "from_logits": self.from_logits}


# ---------------------------------------------------------------- lookup

_BY_NAME = {
    "accuracy": Accuracy, "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "auc": AUC, "precision": Precision, "recall": Recall,
}
_CLASSES = {c.__name__: c for c in set(_BY_NAME.values())}


def get(identifier) -> Metric:
    """A Metric from a name, class or instance, or a function of (y_true, y_pred) (its
    mean over samples). "accuracy" here is exact equality: `resolve` picks the right one."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(f"Could not interpret metric identifier: {identifier!r}; known: "
                             f"{', '.join(sorted(_BY_NAME))}")
        return cls()
    if isinstance(identifier, losses.Loss):
        return MeanMetricWrapper(identifier.call, name=identifier.name)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def resolve(identifier, label_shape: tuple, pred_shape: tuple) -> Metric:
    """What compile(metrics=[...]) makes of an entry, as Keras: "accuracy"/"acc" becomes
    binary (predictions end in 1), sparse categorical (labels of lower rank, or ending in 1
    against more classes) or categorical accuracy; a string names the metric."""
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        is_binary = pred_shape[-1] == 1
        is_sparse = len(label_shape) < len(pred_shape) or (label_shape[-1] == 1 and pred_shape[-1] != 1)
        cls = BinaryAccuracy if is_binary else SparseCategoricalAccuracy if is_sparse else CategoricalAccuracy
        return cls(name=identifier)
    metric = get(identifier)
    if isinstance(identifier, str):
        metric.name = identifier
    return metric


__all__ = ["Metric", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
           "SparseCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError",
           "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "AUC", "Precision", "Recall", "get", "resolve", "auc_thresholds", "accuracy",
           "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy"]
