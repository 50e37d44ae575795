"""The train_step pass: forward + loss + gradients + optimizer update, one graph.

    step = train_step(forward, loss_fn, optimizer_config, label_types)

`forward` is the training-phase graph (dropout active, batch-norm on batch
statistics, its own `updates` for moving statistics). The result takes the
forward inputs and the labels, returns [loss, *extra outputs], and its
`updates` replace every trainable weight, every optimizer slot, the step
counter and the forward state: the runtime applies them in place after a call.
Nothing is half-updated: all new values are computed before any is stored.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from aot.ir import Graph, GraphBuilder, Param, TensorType, Value

from .autodiff import build_gradients, zeros_like
from .optimizers import Emitter, clip_gradients, learning_rate, rule_for, slot_inits

ITERATIONS = "optimizer/iterations"

# loss_fn(b, predictions, labels) -> (scalar loss, {name: extra output value})
LossFn = Callable[[GraphBuilder, list, list], tuple]


def train_step(forward: Graph, loss_fn: LossFn, optimizer: dict,
               label_types: Sequence[TensorType], label_names: Optional[Sequence[str]] = None,
               name: Optional[str] = None) -> Graph:
    """Build the training step graph (see the module docstring)."""
    b = GraphBuilder.extending(forward, name or f"{forward.name}_train_step")
    label_names = list(label_names or [f"label_{i}" for i in range(len(label_types))])
    labels = [b.input(n, t) for n, t in zip(label_names, label_types)]
    loss, extras = loss_fn(b, list(forward.outputs), labels)
    weights = [p for p in forward.params if p.trainable]
    grads = build_gradients(b, list(b.nodes), loss, weights)
    grads = [g if g is not None else zeros_like(b, w) for w, g in zip(weights, grads)]
    grads = clip_gradients(b, grads, optimizer)
    updates = dict(forward.updates)
    updates.update(_apply_optimizer(b, optimizer, weights, grads))
    outputs = [loss] + list(extras.values())
    for v, n in zip(outputs, ["loss"] + list(extras)):
        v.name = v.name if v.node is None else n
    return b.build(outputs, updates)


def _apply_optimizer(b: GraphBuilder, config: dict, weights: list[Param], grads: list[Value]) -> dict:
    rule, _, _ = rule_for(config)
    iterations = b.param(ITERATIONS, np.zeros((), np.int64), trainable=False)
    it_f = b.emit("cast", iterations, dtype="float32")
    step = b.emit("add", it_f, b.const(1.0, dtype="float32", name="one"))
    e = Emitter(b, step, learning_rate(b, config.get("learning_rate", 0.001), it_f))
    updates = {iterations: b.emit("add", iterations, b.const(1, dtype="int64", name="one_i"))}
    for w, g in zip(weights, grads):
        slots = [b.param(f"optimizer/{w.name}/{slot}", data, trainable=False)
                 for slot, data in slot_inits(config, w)]
        new_w, new_slots = rule(e, config, w, g, slots)
        updates[w] = new_w
        updates.update(zip(slots, new_slots))
    return updates


__all__ = ["train_step", "ITERATIONS"]
