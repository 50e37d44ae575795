"""The train_step pass: forward + loss + gradients + optimizer update, one graph.

    step = train_step(spec)        # spec: TrainingSpec

`spec.forward` is the training-phase graph (dropout active, batch-norm on batch
statistics, its own `updates` for moving statistics and RNG counters). The
step takes the forward inputs and the labels, returns [loss, *metric
accumulators], and its `updates` replace every trainable weight, every
optimizer slot, the step counter and the forward state: the runtime applies
them in place after a call, and only after the loss is known to be finite, so
nothing is ever half-updated.

`eval_step(spec, inference)` is the same loss and metrics on the inference
graph, with no updates.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from aot.ir import Graph, GraphBuilder, IRError, Param, TensorType, Value

from .autodiff import build_gradients, zeros_like
from .optimizers import (Emitter, apply_weight_decay, clip_gradients, learning_rate, rule_for,
                         slot_inits)

ITERATIONS = "optimizer/iterations"

# loss_fn(b, predictions, labels) -> scalar loss Value
LossFn = Callable[[GraphBuilder, list, list], Value]


@dataclass(frozen=True)
class MetricSpec:
    """A metric as per-batch accumulators (summed over batches by the runtime) and the name
    of the runtime finalizer that turns the sums into the metric's value."""

    name: str
    outputs_fn: Callable[[GraphBuilder, list, list], dict]
    finalize: str


@dataclass(frozen=True)
class TrainingSpec:
    forward: Graph
    loss_fn: LossFn
    optimizer: dict
    label_types: tuple
    label_names: tuple
    metrics: tuple = field(default=())

    def __post_init__(self):
        if len(self.label_types) != len(self.label_names):
            raise IRError(f"{len(self.label_types)} label types for {len(self.label_names)} label names")
        taken = set(self.forward.input_names) | {p.name for p in self.forward.params}
        clash = [n for n in self.label_names if n in taken]
        if clash:
            raise IRError(f"label name(s) {clash} clash with the model's inputs or weights")


def _loss_and_metrics(b: GraphBuilder, spec: TrainingSpec, preds: list) -> tuple[Value, list, list]:
    """Labels as inputs, then the loss and each metric's accumulators (outputs, names, manifest)."""
    labels = [b.input(n, TensorType(t.shape, t.dtype)) for n, t in zip(spec.label_names, spec.label_types)]
    loss = spec.loss_fn(b, preds, labels)
    if loss.type.rank != 0 or not loss.type.dtype.is_float:
        raise IRError(f"the loss must be a float scalar, got {loss.type}")
    outputs, names = [loss], ["loss"]
    for m in spec.metrics:
        for name, v in m.outputs_fn(b, preds, labels).items():
            outputs.append(v)
            names.append(name)
    return loss, outputs, names


def _named(outputs: list, names: list) -> list:
    """Give each output its name (as the signature shows it), aliasing where a value repeats."""
    out = []
    for v, n in zip(outputs, names):
        if v.node is None or any(v is o for o in out):
            raise IRError(f"output {n!r} must be computed by the step, not an input or a repeat")
        v.name = n
        out.append(v)
    return out


def train_step(spec: TrainingSpec, name: Optional[str] = None) -> Graph:
    """Build the training-step graph (see the module docstring)."""
    forward = spec.forward
    b = GraphBuilder.extending(forward, name or f"{forward.name}_train_step")
    loss, outputs, names = _loss_and_metrics(b, spec, list(forward.outputs))
    weights = [p for p in forward.params if p.trainable]
    grads = build_gradients(b, list(b.nodes), loss, weights)
    grads = [g if g is not None else zeros_like(b, w) for w, g in zip(weights, grads)]
    grads = clip_gradients(b, grads, spec.optimizer)
    updates = dict(forward.updates)
    updates.update(_apply_optimizer(b, spec.optimizer, weights, grads))
    return b.build(_named(outputs, names), updates)


def eval_step(spec: TrainingSpec, inference: Graph, name: Optional[str] = None) -> Graph:
    """Loss and metric accumulators on the inference graph; no state changes."""
    b = GraphBuilder.extending(inference, name or f"{inference.name}_evaluate")
    _, outputs, names = _loss_and_metrics(b, spec, list(inference.outputs))
    return b.build(_named(outputs, names))


def metric_manifest(spec: TrainingSpec, graph: Graph) -> list[dict]:
    """For the artifact: each metric's finalizer and the outputs it reads, in graph order."""
    table = []
    names = graph.output_names
    for m in spec.metrics:
        prefix = [n for n in names if n == m.name or n.startswith(m.name + "/")]
        table.append({"name": m.name, "finalize": m.finalize, "outputs": prefix})
    return table


def _apply_optimizer(b: GraphBuilder, config: dict, weights: list[Param], grads: list[Value]) -> dict:
    rule, _, _ = rule_for(config)
    iterations = b.param(ITERATIONS, np.zeros((), np.int64), trainable=False, state=True)
    it_f = b.emit("cast", iterations, dtype="float32")
    step = b.emit("add", it_f, b.const(1.0, dtype="float32", name="one"))
    e = Emitter(b, step, learning_rate(b, config.get("learning_rate", 0.001), it_f))
    updates = {iterations: b.emit("add", iterations, b.const(1, dtype="int64", name="one_i"))}
    for w, g in zip(weights, grads):
        slots = [b.param(f"optimizer/{w.name}/{slot}", data, trainable=False, state=True)
                 for slot, data in slot_inits(config, w)]
        new_w, new_slots = rule(e, config, apply_weight_decay(e, config, w), g, slots)
        updates[w] = new_w
        updates.update(zip(slots, new_slots))
    return updates


__all__ = ["TrainingSpec", "MetricSpec", "train_step", "eval_step", "metric_manifest", "ITERATIONS"]
