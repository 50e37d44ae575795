"""BatchNormalization (moving statistics at inference; batch statistics and moving-average
updates in training) and LayerNormalization, both written as compositions of elementwise
ops and reductions, so a later pass can fold them."""
from __future__ import annotations

from .. import initializers, ops
from ..tracing import KerasTensor, current_trace
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
    """y = (x - mean) * gamma * rsqrt(variance + epsilon) + beta, per feature along `axis`.

    Inference (and a frozen layer, `trainable=False`, as Keras 3) uses the moving statistics.
    Training uses the batch mean and biased batch variance over every other axis (`mean`
    divides by the run-time batch size, so a symbolic batch works), and puts Keras 3's
    updates into the graph's `updates`:
        moving_mean     <- moving_mean * momentum + batch_mean * (1 - momentum)
        moving_variance <- moving_variance * momentum + batch_variance * (1 - momentum)
    """

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
        rank = inputs.ndim
        axes = [self.axis % rank]

        def w(var):
            return _broadcastable(self, var, axes, rank)
        centered, variance = None, None
        if training and self.trainable:
            centered, variance = self._batch_moments(inputs, axes)
        inv = ops.rsqrt(ops.add(w(self.moving_variance) if variance is None else variance,
                                self.epsilon))
        if self.gamma is not None:
            inv = ops.multiply(w(self.gamma), inv)
        if centered is None:
            centered = ops.subtract(inputs, w(self.moving_mean))
        x = ops.multiply(centered, inv)
        return ops.add(x, w(self.beta)) if self.beta is not None else x

    def _batch_moments(self, inputs, axes):
        """-> (x - batch mean, biased batch variance), both broadcastable against x; the
        moving statistics' updates go to the trace."""
        reduce = [a for a in range(inputs.ndim) if a not in axes]
        mean = ops.mean(inputs, reduce, keepdims=True)
        centered = ops.subtract(inputs, mean)
        variance = ops.mean(ops.square(centered), reduce, keepdims=True)
        self._update_moving(self.moving_mean, mean)
        self._update_moving(self.moving_variance, variance)
        return centered, variance

    def _update_moving(self, var, batch_stat) -> None:
        trace = current_trace()
        old = KerasTensor(trace.read_state(var), trace)
        stat = ops.reshape(batch_stat, var.shape)
        if stat.dtype != old.dtype:
            stat = ops.cast(stat, old.dtype)
        new = ops.add(ops.multiply(old, self.momentum), ops.multiply(stat, 1.0 - self.momentum))
        trace.update_state(var, new)

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
