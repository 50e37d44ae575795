"""Accuracy guardrails for int8: how much each quantized layer departs from float, the end
metric's drop, and layers returned to float until the drop is within a limit.

Per layer, on the calibration (or a validation) set: the SQNR (10 log10 of signal over error
power, dB) and the cosine similarity between the layer's float output and its quantized
output in the quantized graph. These include the error that reaches the layer from upstream
(what users observe); the layers are returned to float lowest SQNR first.

The end metric: top-1 accuracy against `labels` when given, else top-1 agreement with the
float model (float scores 1.0 by definition). Outputs with one value per sample (regression)
use 1 - relative L2 error instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from aot.ir.graph import Graph
from aot.ir.interpreter import interpret

from .quantize import QuantizeError, QuantizeResult, find_layers, quantize_graph
from .quantize_calibrate import bias_corrections


@dataclass
class LayerError:
    name: str
    op: str
    mode: str  # "int8", or why it is float
    sqnr_db: Optional[float] = None
    cosine: Optional[float] = None


@dataclass
class QuantReport:
    layers: list
    float_metric: float
    quant_metric: float
    metric: str
    samples: int
    kept_float: list = field(default_factory=list)  # returned to float by the guardrail

    @property
    def drop(self) -> float:
        return self.float_metric - self.quant_metric

    def table(self) -> str:
        """The report as a readable fixed-width table."""
        rows = [("layer", "op", "mode", "SQNR dB", "cosine")]
        for e in self.layers:
            rows.append((e.name, e.op, e.mode, _fmt(e.sqnr_db, ".1f"), _fmt(e.cosine, ".5f")))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in
                           enumerate(zip(r, widths))) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(f"{self.metric}: float {self.float_metric:.4f}, int8 {self.quant_metric:.4f}, "
                     f"drop {self.drop:+.4f} over {self.samples} samples")
        if self.kept_float:
            lines.append(f"returned to float to meet the accuracy limit: {', '.join(self.kept_float)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def sqnr_db(ref: np.ndarray, got: np.ndarray) -> float:
    ref, got = ref.astype(np.float64), got.astype(np.float64)
    noise = np.sum((ref - got) ** 2)
    signal = np.sum(ref ** 2)
    if noise == 0:
        return float("inf")
    return float(10 * np.log10(max(signal, 1e-300) / noise))


def cosine(ref: np.ndarray, got: np.ndarray) -> float:
    a, b = ref.astype(np.float64).ravel(), got.astype(np.float64).ravel()
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return 1.0 if den == 0 and not a.any() and not b.any() else float(a @ b / max(den, 1e-300))


def _run(graph: Graph, batches, values) -> tuple[list, dict]:
    """(outputs per batch concatenated, {value: concatenated array}) for `values` of graph."""
    outs, env_all = [], {v: [] for v in values}
    for feeds in batches:
        o, env = interpret(graph, feeds, return_env=True)
        outs.append(o[0])
        for v in values:
            env_all[v].append(env[v])
    return np.concatenate(outs), {v: np.concatenate(a) for v, a in env_all.items()}


def _metric(float_out, quant_out, labels) -> tuple[str, float, float]:
    if float_out.ndim >= 2 and float_out.shape[-1] > 1:
        pf, pq = float_out.argmax(-1), quant_out.argmax(-1)
        if labels is not None:
            y = np.asarray(labels).reshape(pf.shape)
            return "accuracy", float(np.mean(pf == y)), float(np.mean(pq == y))
        return "top-1 agreement with float", 1.0, float(np.mean(pf == pq))
    err = np.linalg.norm(quant_out - float_out) / max(np.linalg.norm(float_out), 1e-30)
    return "1 - relative L2 error", 1.0, float(1.0 - err)


def _dequantized(q: np.ndarray, scale, zp) -> np.ndarray:
    return q if scale is None else (q.astype(np.float64) - zp) * scale


def measure(graph: Graph, result: QuantizeResult, batches, labels=None,
            returned: tuple = ()) -> QuantReport:
    """The per-layer errors and the end metric of `result` (quantized from `graph`)."""
    old = [entry[0] for entry in result.layers.values()]
    new = [entry[1] for entry in result.layers.values()]
    f_out, f_env = _run(graph, batches, old)
    q_out, q_env = _run(result.graph, batches, new)
    rows = []
    for layer in find_layers(graph):
        pair = result.layers.get(layer.name)
        if pair is None:
            rows.append(LayerError(layer.name, layer.anchor.op.name,
                                   result.kept_float.get(layer.name, "float")))
            continue
        f, q = f_env[pair[0]], _dequantized(q_env[pair[1]], *pair[2:])
        rows.append(LayerError(layer.name, layer.anchor.op.name, "int8", sqnr_db(f, q), cosine(f, q)))
    name, fm, qm = _metric(f_out, q_out, labels)
    return QuantReport(rows, fm, qm, name, len(f_out), list(returned))


def quantize_within(graph: Graph, calibration, *, labels=None,
                    max_accuracy_drop: Optional[float] = None, activations: str = "uint8",
                    keep_float=(), bias_correction: bool = True) -> tuple[Graph, QuantReport]:
    """Quantize (with `bias_correction`, each layer's bias corrected for the mean error its
    rounding adds, measured on the calibration data), measure on the calibration batches,
    and with `max_accuracy_drop` return the lowest-SQNR layers to float, one at a time,
    until the metric's drop is within it."""
    if calibration.graph is not graph:
        raise QuantizeError("the calibration was made for another graph object")
    shift = bias_corrections(calibration, activations) if bias_correction else None
    keep = list(keep_float)
    returned: list = []
    while True:
        result = quantize_graph(graph, calibration.ranges, activations=activations,
                                keep_float=tuple(keep), bias_shift=shift)
        report = measure(graph, result, calibration.feeds, labels, tuple(returned))
        if max_accuracy_drop is None or report.drop <= max_accuracy_drop:
            return result.graph, report
        worst = _most_sensitive(report)
        if worst is None:
            return result.graph, report  # every layer is float: nothing more to give back
        keep.append(worst)
        returned.append(worst)


def _most_sensitive(report: QuantReport) -> Optional[str]:
    int8 = [e for e in report.layers if e.mode == "int8"]
    if not int8:
        return None
    return min(int8, key=lambda e: (e.sqnr_db, e.cosine)).name
