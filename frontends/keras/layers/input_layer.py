"""InputLayer and `Input(...)`: where a functional model's symbolic tensors start.

The input's name becomes the graph input's name; the batch dim is the symbol "N"
unless `batch_size` fixes it.
"""
from __future__ import annotations

import numpy as np

from aot.ir import TensorType, Value

from ..tracing import KerasTensor, ir_shape
from .base import CallNode, Layer, check_kwargs


class InputLayer(Layer):
    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
                 input_tensor=None, optional=False, name=None, **kwargs):
        input_shape = kwargs.pop("input_shape", None)
        check_kwargs("InputLayer", kwargs)
        shape = shape if shape is not None else input_shape
        if shape is not None and batch_shape is not None:
            raise ValueError("You cannot pass both `shape` and `batch_shape` at the same time.")
        if batch_shape is None:
            if shape is None:
                raise ValueError("You must pass a `shape` argument.")
            shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
            batch_shape = (batch_size,) + shape
        if sparse:
            raise ValueError("sparse inputs are not supported")
        super().__init__(name=name, dtype=dtype)
        self.batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        self.optional = optional
        type_ = TensorType(ir_shape(self.batch_shape, self.name), self.dtype)
        node = CallNode(self, (), {})
        self.output = KerasTensor(Value(type_, self.name), None, (node, 0))
        node.outputs.append(self.output)
        self._inbound_nodes.append(node)
        self._output_shapes = self.batch_shape
        self.built = True

    def call(self):
        raise RuntimeError("InputLayer is not called: its output is the model input")

    def get_config(self) -> dict:
        return {"batch_shape": self.batch_shape, "dtype": self.dtype, "sparse": False,
                "name": self.name, "optional": self.optional}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
          tensor=None, optional=False):
    """A symbolic input tensor (Keras's `keras.Input`)."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       batch_shape=batch_shape, input_tensor=tensor, optional=optional, name=name)
    return layer.output


def input_layer_of(t: KerasTensor):
    """The InputLayer a tensor comes straight from, or None."""
    hist = t._history
    return hist[0].layer if hist and isinstance(hist[0].layer, InputLayer) else None
