"""Core layers: Dense, Embedding, Activation and its named forms, Dropout, and the
shape layers (Flatten, Reshape, Permute). Dense is a composition (matmul + add),
never a primitive."""
from __future__ import annotations

import math
import zlib

import numpy as np

from .. import activations, initializers, ops
from ..tracing import KerasTensor, Variable, current_trace
from .base import Layer


def _unsupported(layer: str, **features) -> None:
    for name, value in features.items():
        if value:
            raise NotImplementedError(f"{layer}: `{name}` is not supported yet")


class Dense(Layer):
    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 lora_rank=None, lora_alpha=None, quantization_config=None, **kwargs):
        if not isinstance(units, int) or units <= 0:
            raise ValueError("Received an invalid value for `units`, expected a positive "
                             f"integer. Received: units={units}")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        _unsupported("Dense", lora_rank=lora_rank, quantization_config=quantization_config)
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel_constraint, self.bias_constraint = kernel_constraint, bias_constraint

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.units,),
                                    initializer=self.bias_initializer) if self.use_bias else None

    def call(self, inputs, training=None):
        x = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        return self.activation(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": self.kernel_regularizer,
                "bias_regularizer": self.bias_regularizer,
                "kernel_constraint": self.kernel_constraint,
                "bias_constraint": self.bias_constraint}


class Embedding(Layer):
    """A lookup (take along axis 0); float indices are cast to int32 as Keras does."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, lora_rank=None, lora_alpha=None, quantization_config=None,
                 **kwargs):
        super().__init__(**kwargs)
        _unsupported("Embedding", mask_zero=mask_zero, lora_rank=lora_rank,
                     quantization_config=quantization_config)
        self.input_dim, self.output_dim = input_dim, output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = embeddings_regularizer
        self.embeddings_constraint = embeddings_constraint
        self.mask_zero = mask_zero
        self._initial_weights = weights

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(name="embeddings",
                                          shape=(self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def call(self, inputs):
        return ops.take(self.embeddings, inputs, axis=0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self) -> dict:
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": self.embeddings_regularizer,
                "embeddings_constraint": self.embeddings_constraint,
                "mask_zero": self.mask_zero}


class Activation(Layer):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class ReLU(Layer):
    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0.0:
            raise ValueError("max_value of a ReLU layer cannot be a negative value. "
                             f"Received: max_value={max_value}")
        if negative_slope is None or negative_slope < 0.0:
            raise ValueError("negative_slope of a ReLU layer cannot be a negative value. "
                             f"Received: negative_slope={negative_slope}")
        if threshold is None or threshold < 0.0:
            raise ValueError("threshold of a ReLU layer cannot be a negative value. "
                             f"Received: threshold={threshold}")
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def call(self, inputs):
        return activations.relu(inputs, self.negative_slope, self.max_value, self.threshold)

    def get_config(self) -> dict:
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(Layer):
    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")  # Keras 2's name, still accepted
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError("The negative_slope value of a Leaky ReLU layer cannot be None or "
                             f"negative value. Expected a float. Received: "
                             f"negative_slope={negative_slope}")
        self.negative_slope = negative_slope

    def call(self, inputs):
        return ops.leaky_relu(inputs, self.negative_slope)

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Layer):
    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha

    def call(self, inputs):
        return ops.elu(inputs, self.alpha)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(Layer):
    """Masked positions get -1e9 before and 0 after the softmax, as Keras 3."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.softmax(inputs, self.axis)
        if mask.dtype != "bool":
            mask = ops.greater(mask, 0.5)
        out = ops.softmax(ops.where(mask, inputs, -1e9), self.axis)
        return ops.where(mask, out, 0.0)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class Dropout(Layer):
    """Inverted dropout, as Keras 3: in training each element is kept with probability
    1 - rate and scaled by 1 / (1 - rate); at inference the input passes through and nothing
    is emitted.

    The randomness is `random_uniform(counter, x)` (aot/ops/random.py): a stateless hash of
    the layer's seed (its `seed` argument, or a fixed one derived from its path, so that runs
    repeat) and an int64 counter. The counter is a non-trainable Variable
    "<layer path>/seed_counter" that each training step advances through the graph's
    `updates`. Like Keras's seed generator it is state, not a weight: it is in `variables`,
    not in `weights` (no parameter count, not in get_weights)."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError("Invalid value received for argument `rate`. Expected a float "
                             f"value between 0 and 1. Received: rate={rate}")
        self.rate, self.seed = rate, seed
        self.noise_shape = tuple(noise_shape) if noise_shape is not None else None

    def build(self, input_shape=None):
        self.seed_counter = Variable(np.zeros((), np.int64), "seed_counter",
                                     f"{self.path}/seed_counter", trainable=False)
        self.seed_counter._layer = self
        self._seed_variables = [self.seed_counter]

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        if self.rate == 1:
            return ops.multiply(inputs, 0.0)  # nothing kept (and no 0/0 in the gradient)
        keep = ops.greater_equal(self._uniform(inputs), self.rate)
        return ops.where(keep, ops.divide(inputs, 1.0 - self.rate), 0.0)

    def _uniform(self, inputs):
        """Uniform [0, 1) numbers of the noise shape, from this step's counter (advanced)."""
        trace = current_trace()
        counter = KerasTensor(trace.read_state(self.seed_counter), trace)
        trace.update_state(self.seed_counter, ops.add(counter, 1))
        dtype = inputs.dtype if inputs.dtype in ("float16", "bfloat16", "float32", "float64") \
            else "float32"
        return ops.emit("random_uniform", counter, self._noise_like(inputs),
                        seed=self.effective_seed, dtype=dtype)

    @property
    def effective_seed(self) -> int:
        """The `seed` argument, else a stable hash of the layer path (never Python's hash(),
        which changes from run to run)."""
        return int(self.seed) if self.seed is not None else zlib.crc32(self.path.encode())

    def _noise_like(self, inputs):
        """A tensor of the noise shape (None: the input's dim; 1: shared along that axis):
        the input's first slice along each shared axis (`take`, so a symbolic dim works)."""
        if self.noise_shape is None:
            return inputs
        if len(self.noise_shape) != inputs.ndim:
            raise ValueError(f"Dropout {self.name!r}: noise_shape {self.noise_shape} does not "
                             f"match the rank of input shape {inputs.shape}")
        like = inputs
        for axis, (n, d) in enumerate(zip(self.noise_shape, inputs.shape)):
            if n is None or n == d:
                continue
            if n != 1:
                raise ValueError(f"Dropout {self.name!r}: noise_shape {self.noise_shape} does "
                                 f"not broadcast to input shape {inputs.shape} (axis {axis})")
            like = ops.take(like, ops.constant(np.zeros((1,), np.int32)), axis=axis)
        return like

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": self.noise_shape}


class Identity(Layer):
    def call(self, inputs):
        return inputs


class Flatten(Layer):
    """reshape to (batch, -1); the product is written out when the dims are static."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        _check_channels_last(data_format)
        self.data_format = "channels_last"

    def call(self, inputs):
        rest = inputs.shape[1:]
        size = math.prod(rest) if None not in rest else -1
        return ops.reshape(inputs, (inputs.type.shape[0], size))

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)
        if sum(1 for d in self.target_shape if d == -1) > 1:
            raise ValueError(f"There must be at most one unknown dimension (-1) in "
                             f"target_shape. Received: target_shape={self.target_shape}")

    def call(self, inputs):
        return ops.reshape(inputs, (inputs.type.shape[0],) + self.target_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """dims count from 1 (the batch stays first), as Keras."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Invalid permutation argument `dims` for Permute Layer. The set "
                             f"of indices in `dims` must be `[1, 2, ... ndim]`. "
                             f"Received: dims={self.dims}")

    def call(self, inputs):
        return ops.transpose(inputs, (0,) + self.dims)

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": self.dims}


class Lambda(Layer):
    """Any function of ops on the inputs (weightless)."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        self.function, self.arguments = function, dict(arguments or {})

    def call(self, inputs):
        return self.function(inputs, **self.arguments)


def _check_channels_last(data_format) -> None:
    if data_format not in (None, "channels_last"):
        raise ValueError(f"only data_format='channels_last' is supported, got {data_format!r}")
