"""MultiHeadAttention with Keras's weights: projections "query", "key", "value"
(kernel (dim, heads, head_dim), bias (heads, head_dim)) and "attention_output"
(kernel (heads, value_dim, out), bias (out,)), so Keras weights load as they are.

Each einsum of Keras is written as reshape + matmul + transpose. Masked scores get -1e9
before the softmax and 0 after, as Keras's masked softmax does.
"""
from __future__ import annotations

import math

import numpy as np

from .. import initializers, ops
from ..tracing import KerasTensor
from .base import Layer
from .core import Dropout


class EinsumDense(Layer):
    """The projection sublayer (only the two forms MultiHeadAttention uses): "in" maps
    (..., dim) to (..., heads, size); "out" maps (..., heads, size) to (..., units)."""

    def __init__(self, kind, heads, size, units=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.kind, self.heads, self.size, self.units = kind, heads, size, units
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        if self.kind == "in":
            kernel, bias = (input_shape[-1], self.heads, self.size), (self.heads, self.size)
        else:
            kernel, bias = (self.heads, self.size, self.units), (self.units,)
        self.kernel = self.add_weight(name="kernel", shape=kernel,
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=bias,
                                    initializer=self.bias_initializer) if self.use_bias else None

    def call(self, inputs):
        shape = inputs.type.shape
        if self.kind == "in":
            w = ops.reshape(self.kernel, (self.kernel.shape[0], self.heads * self.size))
            x = ops.reshape(ops.matmul(inputs, w), shape[:-1] + (self.heads, self.size))
        else:
            flat = ops.reshape(inputs, shape[:-2] + (self.heads * self.size,))
            x = ops.matmul(flat, ops.reshape(self.kernel, (self.heads * self.size, self.units)))
        return ops.add(x, self.bias) if self.bias is not None else x


class MultiHeadAttention(Layer):
    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, sliding_window=None,
                 flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 use_gate=False, seed=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if attention_axes is not None or sliding_window is not None or use_gate:
            raise NotImplementedError("MultiHeadAttention: attention_axes, sliding_window and "
                                      "use_gate are not supported")
        self.num_heads, self.key_dim = num_heads, key_dim
        self.value_dim = value_dim if value_dim else key_dim
        self.dropout, self.use_bias, self.seed = dropout, use_bias, seed
        self.output_shape_arg = output_shape
        self.flash_attention = flash_attention
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel_constraint, self.bias_constraint = kernel_constraint, bias_constraint

    def _sublayer(self, kind, name, size, units=None):
        return EinsumDense(kind, self.num_heads, size, units, use_bias=self.use_bias, name=name,
                           kernel_initializer=initializers.get(self.kernel_initializer),
                           bias_initializer=initializers.get(self.bias_initializer),
                           dtype=self.dtype)

    def _output_units(self, query_shape) -> int:
        out = self.output_shape_arg
        if out is None:
            return query_shape[-1]
        out = (out,) if isinstance(out, int) else tuple(out)
        if len(out) != 1:
            raise NotImplementedError(f"MultiHeadAttention: output_shape={out} (only one dim)")
        return out[0]

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        if len(query_shape) != 3:
            raise NotImplementedError(f"MultiHeadAttention supports (batch, seq, dim) inputs, "
                                      f"got query shape {query_shape}")
        self._query_dense = self._sublayer("in", "query", self.key_dim)
        self._query_dense.build(query_shape)
        self._key_dense = self._sublayer("in", "key", self.key_dim)
        self._key_dense.build(key_shape)
        self._value_dense = self._sublayer("in", "value", self.value_dim)
        self._value_dense.build(value_shape)
        self._output_dense = self._sublayer("out", "attention_output", self.value_dim,
                                            self._output_units(query_shape))
        self._output_dense.build(tuple(query_shape[:-1]) + (self.num_heads, self.value_dim))
        self._dropout_layer = None
        if self.dropout > 0:  # on the attention probabilities, as Keras
            self._dropout_layer = Dropout(self.dropout, seed=self.seed, name="dropout")
            self._dropout_layer.build(None)

    def _build_for_call(self, args, kwargs):
        names = ("query", "value", "key")
        given = dict(zip(names, args))
        given.update({k: kwargs[k] for k in names if k in kwargs})
        shapes = {f"{k}_shape": v.shape for k, v in given.items() if isinstance(v, KerasTensor)}
        self.build(**shapes)

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores=False, training=None,
             use_causal_mask=False):
        if query_mask is not None or value_mask is not None or key_mask is not None:
            raise NotImplementedError("MultiHeadAttention: query/value/key masks are not "
                                      "supported; pass attention_mask")
        key = value if key is None else key
        q = ops.multiply(self._query_dense(query), 1.0 / math.sqrt(float(self.key_dim)))
        k = self._key_dense(key)
        v = self._value_dense(value)
        scores = ops.matmul(ops.transpose(q, (0, 2, 1, 3)), ops.transpose(k, (0, 2, 3, 1)))
        mask = self._mask(query, value, attention_mask, use_causal_mask)
        probs = ops.softmax(scores, -1) if mask is None else _masked_softmax(scores, mask)
        dropped = self._dropout_layer(probs, training=True) \
            if training and self._dropout_layer is not None else probs
        out = ops.matmul(dropped, ops.transpose(v, (0, 2, 1, 3)))
        out = self._output_dense(ops.transpose(out, (0, 2, 1, 3)))
        return (out, probs) if return_attention_scores else out

    def _mask(self, query, value, attention_mask, use_causal_mask):
        """(batch or 1, 1, T, S) booleans: the attention mask, and-ed with the causal one."""
        mask = None
        if attention_mask is not None:
            mask = attention_mask if attention_mask.dtype == "bool" else ops.greater(
                attention_mask, 0.5)
            mask = ops.expand_dims(mask, 1)
        if use_causal_mask:
            t, s = query.shape[1], value.shape[1]
            causal = ops.constant(np.tril(np.ones((t, s), dtype=bool)))
            mask = causal if mask is None else ops.logical_and(mask, causal)
        return mask

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        return tuple(query_shape[:-1]) + (self._output_units(query_shape),)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self.output_shape_arg, "attention_axes": None,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": self.kernel_regularizer,
                "bias_regularizer": self.bias_regularizer,
                "kernel_constraint": self.kernel_constraint,
                "bias_constraint": self.bias_constraint, "seed": self.seed}


def _masked_softmax(scores, mask):
    probs = ops.softmax(ops.where(mask, scores, -1e9), -1)
    return ops.where(mask, probs, 0.0)
