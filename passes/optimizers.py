"""Optimizer update rules, emitted as IR, with Keras 3's exact formulas.

Each rule is `update(e, config, w, g, slots) -> (new_w, new_slots)` where `e` is
an `Emitter` (a GraphBuilder with shorthands, the step counter and the
learning rate for this step already in the graph). Slots are the optimizer's
per-weight state (momentum, Adam's moments ...), created by `slot_inits`.

Configs are plain dicts as Keras' `optimizer.get_config()` gives them: the rules
read only names and numbers, so the pass does not depend on the frontend.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aot.ir import GraphBuilder, Param, Value


@dataclass
class Emitter:
    """The builder plus what every rule needs: the step (1-based, float) and the learning rate."""

    b: GraphBuilder
    step: Value  # f32 scalar: iterations + 1
    lr: Value    # f32 scalar learning rate for this step

    def k(self, value: float, like: Value) -> Value:
        return self.b.const(value, dtype=like.type.dtype, name="k")

    def __getattr__(self, op):
        """e.add(x, y), e.sqrt(x), ... emit the registry op of that name."""
        if op.startswith("_"):
            raise AttributeError(op)
        return lambda *args, **attrs: self.b.emit(op, *args, **attrs)

    def lr_like(self, w: Value) -> Value:
        return self.lr if w.type.dtype == self.lr.type.dtype else self.b.emit("cast", self.lr, dtype=w.type.dtype)


def _sgd(e: Emitter, c: dict, w, g, slots):
    lr = e.lr_like(w)
    if not c.get("momentum"):
        return e.subtract(w, e.multiply(lr, g)), []
    (v,) = slots
    m = e.k(c["momentum"], w)
    v_new = e.subtract(e.multiply(m, v), e.multiply(lr, g))
    if c.get("nesterov"):
        return e.subtract(e.add(w, e.multiply(m, v_new)), e.multiply(lr, g)), [v_new]
    return e.add(w, v_new), [v_new]


def _adam_moments(e, c, w, g, m, v):
    b1, b2 = e.k(c.get("beta_1", 0.9), w), e.k(c.get("beta_2", 0.999), w)
    m_new = e.add(m, e.multiply(e.subtract(g, m), e.subtract(e.k(1.0, w), b1)))
    v_new = e.add(v, e.multiply(e.subtract(e.multiply(g, g), v), e.subtract(e.k(1.0, w), b2)))
    step = e.step if e.step.type.dtype == w.type.dtype else e.cast(e.step, dtype=w.type.dtype)
    b1_power, b2_power = e.power(b1, step), e.power(b2, step)
    alpha = e.divide(e.multiply(e.lr_like(w), e.sqrt(e.subtract(e.k(1.0, w), b2_power))),
                     e.subtract(e.k(1.0, w), b1_power))
    return m_new, v_new, alpha


def _adam(e: Emitter, c: dict, w, g, slots):
    m, v = slots[:2]
    m_new, v_new, alpha = _adam_moments(e, c, w, g, m, v)
    eps = e.k(c.get("epsilon", 1e-7), w)
    denom_v, new_slots = v_new, [m_new, v_new]
    if c.get("amsgrad"):
        vhat = e.maximum(slots[2], v_new)
        denom_v, new_slots = vhat, [m_new, v_new, vhat]
    w_new = e.subtract(w, e.divide(e.multiply(m_new, alpha), e.add(e.sqrt(denom_v), eps)))
    return w_new, new_slots


def apply_weight_decay(e: Emitter, c: dict, w):
    """Keras' decoupled weight decay, for every optimizer (AdamW is Adam with a default of
    0.004): w -= w * weight_decay * lr, before the optimizer's own step."""
    wd = c.get("weight_decay", 0.004 if c["name"].lower() == "adamw" else None)
    if not wd:
        return w
    return e.subtract(w, e.multiply(w, e.multiply(e.k(wd, w), e.lr_like(w))))


def _rmsprop(e: Emitter, c: dict, w, g, slots):
    rho, eps, lr = e.k(c.get("rho", 0.9), w), e.k(c.get("epsilon", 1e-7), w), e.lr_like(w)
    avg_sq = slots[0]
    one_minus_rho = e.subtract(e.k(1.0, w), rho)
    avg_sq_new = e.add(e.multiply(rho, avg_sq), e.multiply(one_minus_rho, e.multiply(g, g)))
    new_slots, denom = [avg_sq_new], avg_sq_new
    i = 1
    if c.get("centered"):
        avg_g_new = e.add(e.multiply(rho, slots[i]), e.multiply(one_minus_rho, g))
        denom = e.subtract(avg_sq_new, e.multiply(avg_g_new, avg_g_new))
        new_slots.append(avg_g_new)
        i += 1
    increment = e.divide(e.multiply(lr, g), e.sqrt(e.add(denom, eps)))
    if c.get("momentum"):
        mom_new = e.add(e.multiply(e.k(c["momentum"], w), slots[i]), increment)
        new_slots.append(mom_new)
        return e.subtract(w, mom_new), new_slots
    return e.subtract(w, increment), new_slots


def _adagrad(e: Emitter, c: dict, w, g, slots):
    acc_new = e.add(slots[0], e.multiply(g, g))
    eps = e.k(c.get("epsilon", 1e-7), w)
    return e.subtract(w, e.divide(e.multiply(e.lr_like(w), g), e.sqrt(e.add(acc_new, eps)))), [acc_new]


# name -> (rule, slot names as a function of the config, initial slot value)
RULES = {
    "sgd": (_sgd, lambda c: ["momentum"] if c.get("momentum") else [], lambda c: 0.0),
    "adam": (_adam, lambda c: ["m", "v"] + (["vhat"] if c.get("amsgrad") else []), lambda c: 0.0),
    "adamw": (_adam, lambda c: ["m", "v"] + (["vhat"] if c.get("amsgrad") else []), lambda c: 0.0),
    "rmsprop": (_rmsprop, lambda c: ["rms"] + (["mean_grad"] if c.get("centered") else [])
                + (["momentum"] if c.get("momentum") else []), lambda c: 0.0),
    "adagrad": (_adagrad, lambda c: ["accumulator"], lambda c: c.get("initial_accumulator_value", 0.1)),
}


def rule_for(config: dict):
    name = config["name"].lower()
    if name not in RULES:
        raise ValueError(f"unknown optimizer {config['name']!r}; known: {', '.join(RULES)}")
    return RULES[name]


def slot_inits(config: dict, w: Param) -> list[tuple[str, np.ndarray]]:
    """The slots a weight needs, with their initial values (Adagrad starts at 0.1, others at 0)."""
    _, names, init = rule_for(config)
    value = init(config)
    return [(n, np.full(w.type.shape, value, dtype=w.type.dtype.numpy)) for n in names(config)]


LEARNING_RATE = "optimizer/learning_rate"


def learning_rate(b: GraphBuilder, lr, iterations_f: Value) -> Value:
    """The learning rate for this step: a number, held as state (`optimizer/learning_rate`)
    so that callbacks can change it between steps without a recompile, or a Keras schedule
    config evaluated on `iterations_f` (the 0-based step as f32), as Keras does before
    incrementing."""
    if isinstance(lr, (int, float)):
        return b.param(LEARNING_RATE, np.asarray(lr, np.float32), trainable=False, state=True)
    name, c = lr["class_name"], lr["config"]
    k = lambda v: b.const(float(v), dtype="float32", name="k")  # noqa: E731
    if name == "ExponentialDecay":
        p = b.emit("divide", iterations_f, k(c["decay_steps"]))
        if c.get("staircase"):
            p = b.emit("floor", p)
        return b.emit("multiply", k(c["initial_learning_rate"]), b.emit("power", k(c["decay_rate"]), p))
    if name == "CosineDecay":
        alpha = c.get("alpha", 0.0)
        frac = b.emit("minimum", b.emit("divide", iterations_f, k(c["decay_steps"])), k(1.0))
        cos = b.emit("multiply", k(0.5), b.emit("add", k(1.0), b.emit("cos", b.emit("multiply", k(math.pi), frac))))
        decayed = b.emit("add", b.emit("multiply", k(1.0 - alpha), cos), k(alpha))
        return b.emit("multiply", k(c["initial_learning_rate"]), decayed)
    raise ValueError(f"unknown learning-rate schedule {name!r}")


def clip_gradients(b: GraphBuilder, grads: list[Value], config: dict) -> list[Value]:
    """Keras clipvalue / clipnorm (per weight) / global_clipnorm, in that order."""
    if config.get("clipvalue") is not None:
        cv = float(config["clipvalue"])
        grads = [b.emit("clip", g, min=-cv, max=cv) for g in grads]
    if config.get("clipnorm") is not None:
        grads = [_clip_by_norm(b, g, _l2(b, g), float(config["clipnorm"])) for g in grads]
    if config.get("global_clipnorm") is not None:
        sq = [b.emit("sum", b.emit("multiply", g, g)) for g in grads]
        total = sq[0]
        for s in sq[1:]:
            total = b.emit("add", total, s)
        norm = b.emit("sqrt", total)
        grads = [_clip_by_norm(b, g, norm, float(config["global_clipnorm"])) for g in grads]
    return grads


def _l2(b, g):
    return b.emit("sqrt", b.emit("sum", b.emit("multiply", g, g)))


def _clip_by_norm(b, g, norm, clip):
    """g * clip / max(norm, clip): unchanged when the norm is within the limit."""
    c = b.const(clip, dtype=g.type.dtype, name="clipnorm")
    return b.emit("multiply", g, b.emit("divide", c, b.emit("maximum", norm, c)))
