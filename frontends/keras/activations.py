"""Keras 3 activations by name ("relu", "gelu", "swish", ...) or callable, built from ops.

Defaults are Keras's: gelu is exact (approximate=False), leaky_relu's slope is 0.2,
hard_sigmoid is relu6(x + 3) / 6, elu's alpha is 1.
"""
from __future__ import annotations

from . import ops


def linear(x):
    return x


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """keras.activations.relu with all its options (ReLU.static_call)."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return ops.relu(x)
    if negative_slope != 0.0 and max_value is None and threshold == 0.0:
        return ops.leaky_relu(x, negative_slope)
    negative_part = None
    if negative_slope != 0.0:
        negative_part = ops.relu(ops.subtract(threshold, x)) if threshold else ops.relu(ops.negative(x))
    if threshold != 0.0:
        x = ops.where(ops.greater(x, threshold), x, 0.0)
    else:
        x = ops.relu(x)
    if max_value is not None:
        x = ops.clip(x, 0.0, max_value)
    if negative_part is not None:
        x = ops.subtract(x, ops.multiply(negative_part, negative_slope))
    return x


def relu6(x):
    return ops.clip(x, 0.0, 6.0)


def leaky_relu(x, negative_slope=0.2):
    return ops.leaky_relu(x, negative_slope)


def elu(x, alpha=1.0):
    return ops.elu(x, alpha)


def selu(x):
    return ops.selu(x)


def softplus(x):
    return ops.softplus(x)


def softsign(x):
    return ops.softsign(x)


def silu(x):
    return ops.silu(x)


swish = silu


def gelu(x, approximate=False):
    return ops.gelu(x, approximate=approximate)


def tanh(x):
    return ops.tanh(x)


def sigmoid(x):
    return ops.sigmoid(x)


def exponential(x):
    return ops.exp(x)


def hard_sigmoid(x):
    return ops.hard_sigmoid(x)


def hard_silu(x):
    return ops.multiply(x, ops.hard_sigmoid(x))


hard_swish = hard_silu


def softmax(x, axis=-1):
    return ops.softmax(x, axis)


def log_softmax(x, axis=-1):
    return ops.log_softmax(x, axis)


def mish(x):
    return ops.multiply(x, ops.tanh(ops.softplus(x)))


def log_sigmoid(x):
    return ops.negative(ops.softplus(ops.negative(x)))


def tanh_shrink(x):
    return ops.subtract(x, ops.tanh(x))


def hard_tanh(x):
    return ops.clip(x, -1.0, 1.0)


_BY_NAME = {f.__name__: f for f in (
    linear, relu, relu6, leaky_relu, elu, selu, softplus, softsign, silu, gelu, tanh, sigmoid,
    exponential, hard_sigmoid, hard_silu, softmax, log_softmax, mish, log_sigmoid, tanh_shrink,
    hard_tanh)}
_BY_NAME.update(swish=silu, hard_swish=hard_silu)


def get(identifier):
    """None means linear; a name; or any callable on KerasTensors."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")
        return _BY_NAME[identifier]
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")


def serialize(fn) -> str:
    """The name Keras would store in a config ("relu"), or the callable itself."""
    for name, f in _BY_NAME.items():
        if f is fn:
            return name
    return fn
