"""Loss and metrics over many batches, from the accumulators an entry returns.

A compiled `train_step` or `evaluate` returns the batch's mean loss and, for
each metric, sums (correct predictions and counts, confusion counts at fixed
thresholds...). Summing those over batches and finalising once gives exactly
the metric over the whole data set, as Keras' stateful metrics do. The manifest
names each metric's finalizer and the outputs it reads.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np


def _ratio(total, count):
    return float(total) / float(count) if float(count) else 0.0


def _precision(tp, fp):
    return _ratio(tp, np.asarray(tp) + np.asarray(fp))


def _recall(tp, fn):
    return _ratio(tp, np.asarray(tp) + np.asarray(fn))


def _auc(tp, fp, tn, fn):
    """Keras' AUC (ROC, summation_method="interpolation"): the trapezoid rule over the
    thresholds' (fpr, tpr) points, which Keras computes the same way."""
    tp, fp, tn, fn = (np.asarray(a, np.float64) for a in (tp, fp, tn, fn))
    tpr = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)
    fpr = np.divide(fp, fp + tn, out=np.zeros_like(fp), where=(fp + tn) > 0)
    return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2.0))


def _mean(value):
    return float(value)


FINALIZERS = {"ratio": _ratio, "precision": _precision, "recall": _recall, "auc": _auc,
              "identity": _mean}


class Accumulator:
    """Sums batch outputs; `result()` gives {"loss": batch-size-weighted mean, metric: value}."""

    def __init__(self, metrics: list[dict]):
        for m in metrics:
            if m["finalize"] not in FINALIZERS:
                raise ValueError(f"metric {m['name']!r}: unknown finalizer {m['finalize']!r}")
        self.metrics = metrics
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, np.ndarray] = {}
        self.loss_sum, self.count = 0.0, 0

    def add(self, outputs: Mapping[str, np.ndarray], batch_size: int) -> None:
        self.loss_sum += float(outputs["loss"]) * batch_size
        self.count += batch_size
        for m in self.metrics:
            for name in m["outputs"]:
                v = np.asarray(outputs[name], np.float64)
                self.sums[name] = self.sums[name] + v if name in self.sums else v

    def result(self) -> dict:
        out = {"loss": self.loss_sum / self.count if self.count else float("nan")}
        for m in self.metrics:
            if all(n in self.sums for n in m["outputs"]):
                out[m["name"]] = FINALIZERS[m["finalize"]](*[self.sums[n] for n in m["outputs"]])
        return out


def batch_result(metrics: list[dict], outputs: Mapping[str, np.ndarray], batch_size: int) -> dict:
    """One batch's loss and metrics."""
    acc = Accumulator(metrics)
    acc.add(outputs, batch_size)
    return acc.result()
