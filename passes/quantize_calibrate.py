"""Calibration: the activation ranges static int8 quantization needs, from user data.

`calibrate(graph, data)` runs the graph over the data (the numpy interpreter by default, or
any `runner(graph, feeds) -> outputs`, e.g. a compiled model) and observes every value a
quantized layer reads or writes (`passes.quantize.find_layers`). Methods:

- "minmax": the observed min and max;
- "percentile": the `percentile`-th and (100 - `percentile`)-th percentiles, which ignore
  rare outliers;
- "entropy": the clipping threshold of |x| whose quantized histogram (128 levels, or 256 for
  a value that is never negative) has the least KL divergence from the observed one
  (TensorRT's calibration), zeros left out of the histogram: they are exact at any threshold,
  and a relu's many zeros otherwise pulled the optimum down to half the range (the digits
  LeNet's conv SQNR 17 -> 45 dB without them).

`bias_corrections(calibration)` then measures the mean error each layer's own rounding adds
to each output channel (the layer's float input and weights against their int8 versions, on
the calibration data) so the pass can take it off the int32 bias: rounding errors that do not
average out, summed over a deep network of depthwise convs, otherwise shift logits that a
random network's near-ties turn into different top-1 classes.

Bad data fails here, with the input or layer it concerns: wrong shapes or dtypes, too few
samples, NaN or infinite activations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping, Optional

import numpy as np

from aot.ir.graph import Graph, Value
from aot.ir.interpreter import interpret

from .quantize import (ACT_RANGE, QuantizeError, activation_qparams, find_layers,
                       weight_qparams)

Method = Literal["minmax", "percentile", "entropy"]
_SAMPLE_CAP = 1 << 18  # values kept per observed tensor for percentile / entropy


@dataclass
class Calibration:
    """Observed ranges {Value of `graph`: (lo, hi)}, and how many samples made them."""

    graph: Graph
    ranges: dict
    samples: int
    method: str
    feeds: list = field(default_factory=list, repr=False)  # the batches, for the report


# ---------------------------------------------------------------- data

def as_batches(graph: Graph, data, batch_size: int = 64) -> list[dict]:
    """User data -> a list of feed dicts, checked against the graph's inputs.

    data: {input name: array of all samples} (an .npz file reads as one), a bare array for a
    one-input graph, or a list of such (already batched)."""
    if isinstance(data, (list, tuple)):
        return [b for item in data for b in as_batches(graph, item, batch_size)]
    feeds = _as_feeds(graph, data)
    n = _count(graph, feeds)
    return [{k: a[i:i + batch_size] for k, a in feeds.items()} for i in range(0, n, batch_size)]


def _as_feeds(graph: Graph, data) -> dict:
    if isinstance(data, np.ndarray):
        if len(graph.inputs) != 1:
            raise QuantizeError(f"calibration data is one array but graph @{graph.name} has "
                                f"{len(graph.inputs)} inputs {graph.input_names}: pass a dict")
        data = {graph.inputs[0].name: data}
    if not isinstance(data, Mapping) and not hasattr(data, "files"):
        raise QuantizeError(f"calibration data must be arrays by input name, got {type(data).__name__}")
    if len(graph.inputs) == 1 and len(data) == 1 and graph.inputs[0].name not in data:
        data = {graph.inputs[0].name: data[next(iter(data))]}  # one array: its name is moot
    missing = [n for n in graph.input_names if n not in data]
    if missing:
        raise QuantizeError(f"calibration data lacks input(s) {missing}; it has {sorted(data)}")
    return {v.name: _checked(v, np.asarray(data[v.name])) for v in graph.inputs}


def _checked(v: Value, a: np.ndarray) -> np.ndarray:
    t = v.type
    if not t.matches(a.shape):
        raise QuantizeError(f"calibration data for input %{v.name}: expected shape {t}, "
                            f"got {a.shape}")
    want = t.dtype.numpy
    if a.dtype != want and not (a.dtype.kind == want.kind == "f"):
        raise QuantizeError(f"calibration data for input %{v.name}: expected {t.dtype.value}, "
                            f"got {a.dtype}")
    return a.astype(want, copy=False)


def _count(graph: Graph, feeds: dict) -> int:
    sizes = {a.shape[0] if a.ndim else 1 for a in feeds.values()}
    if len(sizes) != 1:
        raise QuantizeError(f"calibration inputs differ in their number of samples: "
                            f"{ {k: a.shape[0] for k, a in feeds.items()} }")
    return sizes.pop()


# ---------------------------------------------------------------- observing

class _Observer:
    """min, max and a bounded sample of one value's elements."""

    def __init__(self, rng):
        self.lo, self.hi, self.parts, self.kept, self.rng = np.inf, -np.inf, [], 0, rng

    def add(self, a: np.ndarray) -> None:
        a = a.reshape(-1)
        self.lo, self.hi = min(self.lo, float(a.min())), max(self.hi, float(a.max()))
        room = _SAMPLE_CAP - self.kept
        if room > 0:
            part = a if a.size <= room else self.rng.choice(a, room, replace=False)
            self.parts.append(part.astype(np.float32))
            self.kept += part.size

    def range(self, method: str, percentile: float) -> tuple[float, float]:
        if method == "minmax":
            return self.lo, self.hi
        x = np.concatenate(self.parts)
        if method == "percentile":
            lo, hi = np.percentile(x, [100.0 - percentile, percentile])
            return float(lo), float(hi)
        mag = np.abs(x)
        mag = mag[mag > 0] if mag.any() else mag  # zeros (a relu's) are exact at any threshold
        t = entropy_threshold(mag, levels=256 if self.lo >= 0 else 128)
        return max(self.lo, -t), min(self.hi, t)


def entropy_threshold(x: np.ndarray, bins: int = 2048, levels: int = 128) -> float:
    """The |x| clipping threshold minimising KL(observed || quantized to `levels`)."""
    amax = float(x.max())
    if amax == 0:
        return 0.0
    hist, edges = np.histogram(x, bins=bins, range=(0, amax))
    hist = hist.astype(np.float64)
    best, best_i = np.inf, bins
    for i in range(levels, bins + 1, 8):
        kl = _kl_at(hist, i, levels)
        if kl < best:
            best, best_i = kl, i
    return float(edges[best_i])


def _kl_at(hist: np.ndarray, i: int, levels: int) -> float:
    p = hist[:i].copy()
    p[-1] += hist[i:].sum()
    groups = np.array_split(np.arange(i), levels)
    q = np.zeros(i)
    for g in groups:
        nz = hist[g] > 0
        if nz.any():
            q[g[nz]] = hist[g].sum() / nz.sum()
    p, q = p / p.sum(), q / max(q.sum(), 1e-300)
    m = p > 0
    return float(np.sum(p[m] * np.log(p[m] / np.maximum(q[m], 1e-12))))


def _observed(graph: Graph) -> dict:
    """{Value: layer name} of the values calibration must see."""
    out = {}
    for layer in find_layers(graph):
        out.setdefault(layer.x, layer.name)
        out.setdefault(layer.out, layer.name)
    return out


def interpreter_runner(graph: Graph, feeds: dict) -> list:
    return interpret(graph, feeds)


def calibrate(graph: Graph, data, method: Method = "minmax", *, percentile: float = 99.99,
              batch_size: int = 64, min_samples: int = 8,
              runner: Optional[Callable] = None) -> Calibration:
    """Run `graph` over `data` and return the activation ranges quantization needs."""
    if method not in ("minmax", "percentile", "entropy"):
        raise QuantizeError(f"unknown calibration method {method!r}; "
                            "known: minmax, percentile, entropy")
    batches = as_batches(graph, data, batch_size)
    n = sum(_count(graph, b) for b in batches)
    if n < min_samples:
        raise QuantizeError(f"calibration data has {n} sample(s); at least {min_samples} are "
                            "needed for stable activation ranges")
    watched = _observed(graph)
    probe = Graph(graph.name, graph.inputs, graph.params, graph.nodes, list(watched))
    run = runner or interpreter_runner
    rng = np.random.default_rng(0)
    obs = {v: _Observer(rng) for v in watched}
    for feeds in batches:
        for v, a in zip(watched, run(probe, feeds)):
            _check_finite(v, a, watched[v])
            obs[v].add(np.asarray(a))
    ranges = {v: o.range(method, percentile) for v, o in obs.items()}
    return Calibration(graph, ranges, n, method, batches)


def _check_finite(v: Value, a, layer: str) -> None:
    if not np.isfinite(a).all():
        maker = f"node {v.node.name or v.node.op.name!r}" if v.node else f"input %{v.name}"
        raise QuantizeError(f"calibration: {maker} (read or written by layer {layer!r}) gives "
                            "NaN or infinite values on the calibration data")


def bias_corrections(calibration: Calibration, activations: str = "uint8") -> dict:
    """{layer name: [C] float64}, the mean over the calibration data of what the layer's int8
    rounding (of its input at the calibrated scale, of its weights per channel) adds to each
    output channel before the bias: the quantize pass subtracts it from the bias. Each layer
    is measured on its float input, so a correction does not chase the layers before it."""
    graph, ranges = calibration.graph, calibration.ranges
    layers = find_layers(graph)
    inputs = list(dict.fromkeys(layer.x for layer in layers))
    probe = Graph(graph.name, graph.inputs, graph.params, graph.nodes, inputs)
    lo, hi = ACT_RANGE[activations]
    prepared = []
    for layer in layers:
        w = layer.folded_weight()
        wq, sw = weight_qparams(w)
        sx, zx = activation_qparams(*ranges[layer.x], activations, f"layer {layer.name!r} input")
        prepared.append((layer, w, (wq * sw).astype(w.dtype), np.float32(sx), zx))
    sums, rows = {layer.name: 0.0 for layer in layers}, {layer.name: 0 for layer in layers}
    for feeds in calibration.feeds:
        env = dict(zip(inputs, interpret(probe, feeds)))
        for layer, w, w_hat, sx, zx in prepared:
            x = env[layer.x]
            x_hat = ((np.clip(np.rint(x / sx) + zx, lo, hi) - zx) * sx).astype(x.dtype)
            ref, attrs = layer.anchor.op.reference, layer.anchor.attrs
            d = ref(attrs, x_hat, w_hat).astype(np.float64) - ref(attrs, x, w)
            d = d.reshape(-1, d.shape[-1])
            sums[layer.name] = sums[layer.name] + d.sum(0)
            rows[layer.name] += d.shape[0]
    return {name: s / max(rows[name], 1) for name, s in sums.items()}
