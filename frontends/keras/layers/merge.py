"""Merge layers: a list of tensors in, one out (Add, Subtract, Multiply, Average, Maximum,
Minimum, Concatenate), plus Keras's functional shortcuts (`add([a, b])`, ...)."""
from __future__ import annotations

import functools

from .. import ops
from .base import Layer


class _Merge(Layer):
    _min_inputs = 2

    def _check(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < self._min_inputs:
            raise ValueError(f"A merge layer should be called on a list of at least "
                             f"{self._min_inputs} inputs. Got: {inputs!r}")

    def build(self, input_shape):
        self._check(input_shape)

    def call(self, inputs):
        self._check(inputs)
        return self._merge(list(inputs))

    def _merge(self, inputs):
        raise NotImplementedError


class Add(_Merge):
    def _merge(self, inputs):
        return functools.reduce(ops.add, inputs)


class Multiply(_Merge):
    def _merge(self, inputs):
        return functools.reduce(ops.multiply, inputs)


class Maximum(_Merge):
    def _merge(self, inputs):
        return functools.reduce(ops.maximum, inputs)


class Minimum(_Merge):
    def _merge(self, inputs):
        return functools.reduce(ops.minimum, inputs)


class Average(_Merge):
    def _merge(self, inputs):
        return ops.divide(functools.reduce(ops.add, inputs), float(len(inputs)))


class Subtract(_Merge):
    def _check(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(f"A `Subtract` layer should be called on exactly 2 inputs. "
                             f"Received: inputs={inputs!r}")

    def _merge(self, inputs):
        return ops.subtract(inputs[0], inputs[1])


class Concatenate(_Merge):
    _min_inputs = 1

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def _merge(self, inputs):
        return ops.concatenate(inputs, self.axis) if len(inputs) > 1 else inputs[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)
