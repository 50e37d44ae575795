"""BatchNormalization (inference form: moving statistics) and LayerNormalization, both
written as compositions of elementwise ops and reductions, so a later pass can fold them."""
from __future__ import annotations

from .. import initializers, ops
from .base import Layer


def _broadcastable(layer: Layer, var, axes, rank: int):
    """A weight over `axes` reshaped to broadcast against a rank-`rank` input."""
    if list(axes) == [rank - 1]:
        return var
    shape = [1] * rank
    for a, d in zip(axes, var.shape):
        shape[a] = d
    return ops.reshape(var, tuple(shape))


class BatchNormalization(Layer):
    """y = (x - moving_mean) * gamma * rsqrt(moving_variance + epsilon) + beta.

    Batch statistics (training=True) arrive with training support."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale, self.synchronized = center, scale, synchronized
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint, self.gamma_constraint = beta_constraint, gamma_constraint

    def build(self, input_shape):
        shape = (input_shape[self.axis],)
        self.gamma = self.add_weight(name="gamma", shape=shape,
                                     initializer=self.gamma_initializer) if self.scale else None
        self.beta = self.add_weight(name="beta", shape=shape,
                                    initializer=self.beta_initializer) if self.center else None
        self.moving_mean = self.add_weight(name="moving_mean", shape=shape, trainable=False,
                                           initializer=self.moving_mean_initializer)
        self.moving_variance = self.add_weight(name="moving_variance", shape=shape,
                                               trainable=False,
                                               initializer=self.moving_variance_initializer)

    def call(self, inputs, training=None, mask=None):
        if training:
            raise NotImplementedError("BatchNormalization in training mode comes with training "
                                      "support")
        rank = inputs.ndim
        axes = [self.axis % rank]

        def w(var):
            return _broadcastable(self, var, axes, rank)
        inv = ops.rsqrt(ops.add(w(self.moving_variance), self.epsilon))
        if self.gamma is not None:
            inv = ops.multiply(w(self.gamma), inv)
        x = ops.multiply(ops.subtract(inputs, w(self.moving_mean)), inv)
        return ops.add(x, w(self.beta)) if self.beta is not None else x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer":
                    initializers.serialize(self.moving_variance_initializer),
                "beta_regularizer": self.beta_regularizer,
                "gamma_regularizer": self.gamma_regularizer,
                "beta_constraint": self.beta_constraint, "gamma_constraint": self.gamma_constraint,
                "synchronized": self.synchronized}


class LayerNormalization(Layer):
    """Normalize over `axis` with the sample's own mean and (biased) variance:
    y = (x - mean) * rsqrt(var + epsilon) * gamma + beta."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        if kwargs.pop("rms_scaling", False):
            raise NotImplementedError("LayerNormalization(rms_scaling=True) is deprecated in "
                                      "Keras and not supported")
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon, self.center, self.scale = float(epsilon), center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint, self.gamma_constraint = beta_constraint, gamma_constraint

    def _axes(self, rank: int) -> list[int]:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        return sorted(a % rank for a in axes)

    def build(self, input_shape):
        shape = tuple(input_shape[a] for a in self._axes(len(input_shape)))
        self.gamma = self.add_weight(name="gamma", shape=shape,
                                     initializer=self.gamma_initializer) if self.scale else None
        self.beta = self.add_weight(name="beta", shape=shape,
                                    initializer=self.beta_initializer) if self.center else None

    def call(self, inputs):
        rank = inputs.ndim
        axes = self._axes(rank)
        centered = ops.subtract(inputs, ops.mean(inputs, axes, keepdims=True))
        variance = ops.mean(ops.square(centered), axes, keepdims=True)
        x = ops.multiply(centered, ops.rsqrt(ops.add(variance, self.epsilon)))
        if self.gamma is not None:
            x = ops.multiply(x, _broadcastable(self, self.gamma, axes, rank))
        if self.beta is not None:
            x = ops.add(x, _broadcastable(self, self.beta, axes, rank))
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": self.beta_regularizer,
                "gamma_regularizer": self.gamma_regularizer,
                "beta_constraint": self.beta_constraint, "gamma_constraint": self.gamma_constraint}
