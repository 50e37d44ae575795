"""Convolution layers (channels-last): Conv2D, Conv2DTranspose, DepthwiseConv2D,
SeparableConv2D, and the padding/resizing layers ZeroPadding2D, Cropping2D, UpSampling2D.

Kernels have Keras's shapes, so Keras weights load as they are: Conv2D (kh, kw, in/groups,
filters), Conv2DTranspose (kh, kw, filters, in), DepthwiseConv2D (kh, kw, in, multiplier).
"Same" padding is TensorFlow's (the odd pixel goes after), computed in `ops`.
"""
from __future__ import annotations

from .. import activations, initializers, ops
from .base import Layer
from .core import _check_channels_last


def standardize_tuple(value, n: int, name: str) -> tuple[int, ...]:
    """An int means the same value on every axis (Keras's rule)."""
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"The `{name}` argument must be a tuple of {n} integers. "
                         f"Received {name}={value}")
    return value


def standardize_padding(padding) -> str:
    padding = padding.lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"The `padding` argument must be one of 'valid', 'same'. "
                         f"Received: padding={padding}")
    return padding


class _Conv(Layer):
    """What Conv2D, Conv2DTranspose, DepthwiseConv2D and SeparableConv2D share."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True,
                 bias_initializer="zeros", bias_regularizer=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        _check_channels_last(data_format)
        self.kernel_size = standardize_tuple(kernel_size, 2, "kernel_size")
        self.strides = standardize_tuple(strides, 2, "strides")
        self.padding = standardize_padding(padding)
        self.data_format = "channels_last"
        self.dilation_rate = standardize_tuple(dilation_rate, 2, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError("`strides > 1` not supported in conjunction with "
                             f"`dilation_rate > 1`. Received: strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer, self.bias_constraint = bias_regularizer, bias_constraint

    def _add_bias(self, n: int):
        if not self.use_bias:
            return None
        return self.add_weight(name="bias", shape=(n,), initializer=self.bias_initializer)

    def _finish(self, x):
        if self.bias is not None:
            x = ops.add(x, self.bias)
        return self.activation(x)

    def get_config(self) -> dict:
        return {**super().get_config(), "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding,
                "data_format": self.data_format, "dilation_rate": self.dilation_rate,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "bias_regularizer": self.bias_regularizer, "bias_constraint": self.bias_constraint}


class Conv2D(_Conv):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, bias_constraint,
                         activity_regularizer=activity_regularizer, **kwargs)
        if filters is not None and (not isinstance(filters, int) or filters <= 0):
            raise ValueError(f"Invalid value for argument `filters`. Expected a strictly "
                             f"positive value. Received filters={filters}.")
        if filters % groups:
            raise ValueError(f"The number of filters must be evenly divisible by the number of "
                             f"groups. Received: groups={groups}, filters={filters}.")
        self.filters, self.groups = filters, groups
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer, self.kernel_constraint = kernel_regularizer, kernel_constraint

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels % self.groups:
            raise ValueError(f"The number of input channels must be evenly divisible by the "
                             f"number of groups. Received groups={self.groups}, but the input "
                             f"has {channels} channels (full input shape is {input_shape}).")
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (channels // self.groups, self.filters),
            initializer=self.kernel_initializer)
        self.bias = self._add_bias(self.filters)

    def call(self, inputs):
        x = ops.conv(inputs, self.kernel, self.strides, self.padding, self.dilation_rate,
                     self.groups)
        return self._finish(x)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "groups": self.groups,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": self.kernel_regularizer,
                "kernel_constraint": self.kernel_constraint}


class Conv2DTranspose(_Conv):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, bias_constraint,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.filters = filters
        self.output_padding = None if output_padding is None else standardize_tuple(
            output_padding, 2, "output_padding")
        if self.output_padding is not None and any(
                p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"Strides {self.strides} must be greater than output padding "
                             f"{self.output_padding}.")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer, self.kernel_constraint = kernel_regularizer, kernel_constraint

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (self.filters, input_shape[-1]),
            initializer=self.kernel_initializer)
        self.bias = self._add_bias(self.filters)

    def call(self, inputs):
        x = ops.conv_transpose(inputs, self.kernel, self.strides, self.padding,
                               self.output_padding, self.dilation_rate)
        return self._finish(x)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters,
                "output_padding": self.output_padding,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": self.kernel_regularizer,
                "kernel_constraint": self.kernel_constraint}


class DepthwiseConv2D(_Conv):
    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, bias_constraint,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.depth_multiplier = depth_multiplier
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = depthwise_regularizer
        self.depthwise_constraint = depthwise_constraint

    def build(self, input_shape):
        channels = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (channels, self.depth_multiplier),
            initializer=self.depthwise_initializer)
        self.bias = self._add_bias(channels * self.depth_multiplier)

    def call(self, inputs):
        x = ops.depthwise_conv(inputs, self.kernel, self.strides, self.padding,
                               self.dilation_rate)
        return self._finish(x)

    def get_config(self) -> dict:
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "depthwise_regularizer": self.depthwise_regularizer,
                "depthwise_constraint": self.depthwise_constraint}


class SeparableConv2D(_Conv):
    """A depthwise conv, then a 1x1 conv to `filters` channels, then bias and activation."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, bias_constraint,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.filters, self.depth_multiplier = filters, depth_multiplier
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer, self.pointwise_regularizer = (depthwise_regularizer,
                                                                  pointwise_regularizer)
        self.depthwise_constraint, self.pointwise_constraint = (depthwise_constraint,
                                                                pointwise_constraint)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.depthwise_kernel = self.add_weight(
            name="depthwise_kernel", shape=self.kernel_size + (channels, self.depth_multiplier),
            initializer=self.depthwise_initializer)
        self.pointwise_kernel = self.add_weight(
            name="pointwise_kernel", shape=(1, 1, channels * self.depth_multiplier, self.filters),
            initializer=self.pointwise_initializer)
        self.bias = self._add_bias(self.filters)

    def call(self, inputs):
        x = ops.depthwise_conv(inputs, self.depthwise_kernel, self.strides, self.padding,
                               self.dilation_rate)
        return self._finish(ops.conv(x, self.pointwise_kernel))

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters,
                "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer)}


def _pairs(value, name: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """ZeroPadding2D / Cropping2D: int, (rows, cols) or ((top, bottom), (left, right))."""
    if isinstance(value, int):
        return (value, value), (value, value)
    if len(value) != 2:
        raise ValueError(f"`{name}` should have two elements. Received: {name}={value}.")
    return tuple(standardize_tuple(v, 2, name) if not isinstance(v, int) else (v, v)
                 for v in value)


class ZeroPadding2D(Layer):
    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        _check_channels_last(data_format)
        self.padding = _pairs(padding, "padding")
        self.data_format = "channels_last"

    def call(self, inputs):
        return ops.pad(inputs, ((0, 0),) + self.padding + ((0, 0),))

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class Cropping2D(Layer):
    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        _check_channels_last(data_format)
        self.cropping = _pairs(cropping, "cropping")
        self.data_format = "channels_last"

    def call(self, inputs):
        (top, bottom), (left, right) = self.cropping
        h, w = inputs.shape[1:3]
        return ops.slice_axes(inputs, [top, left], [h - bottom, w - right], [1, 2])

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


class UpSampling2D(Layer):
    """Nearest neighbour: each pixel repeated size[0] x size[1] times (reshape, broadcast,
    reshape)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        _check_channels_last(data_format)
        if interpolation != "nearest":
            raise NotImplementedError(f"UpSampling2D: interpolation={interpolation!r} is not "
                                      "supported (only 'nearest')")
        self.size = standardize_tuple(size, 2, "size")
        self.data_format, self.interpolation = "channels_last", interpolation

    def call(self, inputs):
        n, h, w, c = inputs.type.shape
        sh, sw = self.size
        x = ops.reshape(inputs, (n, h, 1, w, 1, c))
        x = ops.broadcast_to(x, (n, h, sh, w, sw, c))
        return ops.reshape(x, (n, h * sh, w * sw, c))

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}
