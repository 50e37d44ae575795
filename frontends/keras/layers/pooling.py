"""Pooling layers (channels-last). Windowed pools are IR ops; global pools are reductions.
Average pooling never counts padding (TensorFlow's "same")."""
from __future__ import annotations

from .. import ops
from .base import Layer
from .conv import standardize_padding, standardize_tuple
from .core import _check_channels_last


class _Pooling2D(Layer):
    _op = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        _check_channels_last(data_format)
        self.pool_size = standardize_tuple(pool_size, 2, "pool_size")
        self.strides = self.pool_size if strides is None else standardize_tuple(strides, 2, "strides")
        self.padding = standardize_padding(padding)
        self.data_format = "channels_last"

    def call(self, inputs):
        return type(self)._op(inputs, self.pool_size, self.strides, self.padding)

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    _op = staticmethod(ops.max_pool)


class AveragePooling2D(_Pooling2D):
    _op = staticmethod(ops.average_pool)


class _GlobalPooling(Layer):
    _op = None
    _axes = (1, 2)

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        _check_channels_last(data_format)
        self.data_format, self.keepdims = "channels_last", keepdims

    def call(self, inputs):
        return type(self)._op(inputs, self._axes, self.keepdims)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling):
    _op = staticmethod(ops.mean)


class GlobalMaxPooling2D(_GlobalPooling):
    _op = staticmethod(ops.max)


class GlobalAveragePooling1D(_GlobalPooling):
    _op = staticmethod(ops.mean)
    _axes = (1,)


class GlobalMaxPooling1D(_GlobalPooling):
    _op = staticmethod(ops.max)
    _axes = (1,)


MaxPool2D, AvgPool2D = MaxPooling2D, AveragePooling2D
GlobalAvgPool2D, GlobalMaxPool2D = GlobalAveragePooling2D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalMaxPool1D = GlobalAveragePooling1D, GlobalMaxPooling1D
