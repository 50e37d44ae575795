"""Optimizers as in Keras 3: names, defaults, string aliases and `get_config()`.

An optimizer here holds no slots and computes nothing: the update rules are
emitted into the compiled training step by `aot.passes.optimizers`, which reads
the optimizer's config dict. The slots (Adam's moments ...) live in the
compiled module's state; after `fit`, `optimizer.iterations` holds the step
count read back from it.

Learning-rate schedules (`schedules.ExponentialDecay`, `schedules.CosineDecay`)
are computed inside the compiled step from the step counter; their config is
`{"class_name": ..., "config": {...}}` as Keras serializes them.
"""
from __future__ import annotations

import math
import types

import numpy as np

from .tracing import Variable

# ---------------------------------------------------------------- schedules


class LearningRateSchedule:
    """A learning rate as a function of the 0-based step (Keras' contract)."""

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def serialize(self) -> dict:
        """The form the compiled step reads (passes/optimizers.py `learning_rate`)."""
        return {"class_name": type(self).__name__, "config": self.get_config()}


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate * decay_rate ** (step / decay_steps), floored if staircase."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        if decay_steps <= 0:
            raise ValueError(f"Argument `decay_steps` must be > 0. Received: decay_steps={decay_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps, self.decay_rate = decay_steps, float(decay_rate)
        self.staircase, self.name = bool(staircase), name

    def __call__(self, step):
        p = np.float32(step) / np.float32(self.decay_steps)
        p = np.floor(p) if self.staircase else p
        return np.float32(self.initial_learning_rate * self.decay_rate ** p)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from initial_learning_rate to alpha * initial_learning_rate over decay_steps
    (no warmup)."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        if decay_steps <= 0:
            raise ValueError(f"Argument `decay_steps` must be > 0. Received: decay_steps={decay_steps}")
        if warmup_target is not None or warmup_steps:
            raise NotImplementedError("CosineDecay warmup is not supported yet; use "
                                      "warmup_target=None, warmup_steps=0")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps, self.alpha, self.name = decay_steps, float(alpha), name

    def __call__(self, step):
        frac = min(float(step) / self.decay_steps, 1.0)
        cos = 0.5 * (1.0 + math.cos(math.pi * frac))
        return np.float32(self.initial_learning_rate * ((1.0 - self.alpha) * cos + self.alpha))

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": None, "warmup_steps": 0}


schedules = types.SimpleNamespace(LearningRateSchedule=LearningRateSchedule,
                                  ExponentialDecay=ExponentialDecay, CosineDecay=CosineDecay)
_SCHEDULES = {"ExponentialDecay": ExponentialDecay, "CosineDecay": CosineDecay}

# ---------------------------------------------------------------- optimizers


class Optimizer:
    """The base: learning rate (a number or a schedule), gradient clipping, the step counter."""

    _rule = None  # the key of aot.passes.optimizers.RULES
    _extra: tuple[str, ...] = ()  # the subclass's own config entries, in Keras order

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be "
                             f"set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        unsupported = {"use_ema": use_ema, "loss_scale_factor": loss_scale_factor,
                       "gradient_accumulation_steps": gradient_accumulation_steps}
        bad = {k: v for k, v in unsupported.items() if v}
        if bad:
            raise NotImplementedError(f"{type(self).__name__}: {bad} is not supported yet")
        self.name = name or self._rule
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.use_ema, self.ema_momentum = use_ema, ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.iterations = Variable(np.zeros((), np.int64), "iterations", "optimizer/iterations",
                                   trainable=False)

    @property
    def learning_rate(self):
        """The rate for the next step: the number, or the schedule at `iterations`."""
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            return lr(int(self.iterations.value))
        return np.float32(lr)

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if isinstance(value, dict):
            value = _SCHEDULES[value["class_name"]].from_config(value["config"])
        if not isinstance(value, LearningRateSchedule):
            value = float(value)
            if value < 0:
                raise ValueError(f"learning_rate must be >= 0, got {value}")
        self._learning_rate = value

    def get_config(self) -> dict:
        """Keras' config; the compiled step reads it (passes/optimizers.py)."""
        lr = self._learning_rate
        config = {"name": self.name,
                  "learning_rate": lr.serialize() if isinstance(lr, LearningRateSchedule) else lr,
                  "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                  "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                  "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                  "ema_overwrite_frequency": self.ema_overwrite_frequency,
                  "loss_scale_factor": None, "gradient_accumulation_steps": None}
        config.update({k: getattr(self, k) for k in self._extra})
        return config

    def training_config(self) -> dict:
        """get_config() with "name" set to the update rule's key, whatever the instance's name."""
        return {**self.get_config(), "name": self._rule}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, learning_rate={self._learning_rate}>"


class SGD(Optimizer):
    _rule, _extra = "sgd", ("momentum", "nesterov")

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        if not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)


class Adam(Optimizer):
    _rule, _extra = "adam", ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 name="adam", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon, self.amsgrad = float(epsilon), bool(amsgrad)


class AdamW(Adam):
    _rule = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, name="adamw", **kwargs):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name=name,
                         weight_decay=float(weight_decay), **kwargs)


class RMSprop(Optimizer):
    _rule, _extra = "rmsprop", ("rho", "momentum", "epsilon", "centered")

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 name="rmsprop", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.rho, self.momentum = float(rho), float(momentum)
        self.epsilon, self.centered = float(epsilon), bool(centered)


class Adagrad(Optimizer):
    _rule, _extra = "adagrad", ("initial_accumulator_value", "epsilon")

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 name="adagrad", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier) -> Optimizer:
    """An optimizer from a name ("adam"), a config dict, a class or an instance, as Keras'."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _BY_NAME.get(str(identifier["class_name"]).lower())
        if cls is not None:
            return cls.from_config(identifier.get("config", {}))
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}; known: "
                     f"{', '.join(_BY_NAME)} or an aot.optimizers.Optimizer")


def serialize(optimizer: Optimizer) -> dict:
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict) -> Optimizer:
    return get(config)


__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "schedules", "get",
           "serialize", "deserialize", "LearningRateSchedule", "ExponentialDecay", "CosineDecay"]
