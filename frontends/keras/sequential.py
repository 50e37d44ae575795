"""Sequential: a plain stack of single-input, single-output layers.

The input shape comes from an `Input`/`InputLayer` first, from `input_shape` /
`input_dim` on the first layer, from `build(input_shape)`, or from the first data
the model sees; until then the model is unbuilt, as in Keras.
"""
from __future__ import annotations

from .layers.base import Layer
from .layers.input_layer import InputLayer, input_layer_of
from .model import Model
from .tracing import KerasTensor


class Sequential(Model):
    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(trainable=trainable, name=name)
        self._layers: list[Layer] = []
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    def add(self, layer, rebuild=True) -> None:
        if isinstance(layer, KerasTensor) and input_layer_of(layer) is not None:
            layer = input_layer_of(layer)
        if not isinstance(layer, Layer):
            raise ValueError("Only instances of `keras.Layer` can be added to a Sequential "
                             f"model. Received: {layer} (of type {type(layer)})")
        if isinstance(layer, InputLayer) and self._layers:
            raise ValueError(f"Sequential model '{self.name}' has already been configured to "
                             "use an input; an InputLayer can only come first.")
        if not self._layers and not isinstance(layer, InputLayer) \
                and layer._input_shape_arg is not None:
            self._layers.append(InputLayer(shape=layer._input_shape_arg))
        self._layers.append(layer)
        self._changed(rebuild)

    def pop(self, rebuild=True) -> Layer:
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        layer = self._layers.pop()
        self._changed(rebuild)
        return layer

    def _changed(self, rebuild: bool) -> None:
        self._structure_version += 1
        self._compiled = None
        self.built = False
        if rebuild:
            self._maybe_rebuild()

    def _maybe_rebuild(self) -> None:
        if self._input_layer is not None and len(self._layers) > 1:
            self.build(self._input_layer.batch_shape)

    @property
    def _input_layer(self):
        return self._layers[0] if self._layers and isinstance(self._layers[0], InputLayer) else None

    @property
    def layers(self) -> list[Layer]:
        """Keras leaves the InputLayer out."""
        return [layer for layer in self._layers if not isinstance(layer, InputLayer)]

    def build(self, input_shape=None):
        if self._input_layer is None:
            if input_shape is None:
                raise ValueError("You must provide an `input_shape` argument.")
            self._layers.insert(0, InputLayer(batch_shape=tuple(input_shape)))
        self.built = True
        self._scratch_call((self._input_layer.output,), {})

    def _build_for_call(self, args, kwargs):
        if self._input_layer is None:
            self._layers.insert(0, InputLayer(batch_shape=(None,) + tuple(args[0].shape[1:]),
                                              dtype=args[0].dtype))
        self.built = True

    def _ensure_built(self) -> None:
        if self._input_layer is None:
            raise ValueError(f"Sequential model '{self.name}' has not been built: give the "
                             "first layer an `input_shape`, start with `Input(shape)`, call "
                             "`build(input_shape)` or call the model on data")
        if not self.built:
            self.build(self._input_layer.batch_shape)

    def _build_from_data(self, x) -> None:
        if self._input_layer is None:
            super()._build_from_data(x)

    def _graph_inputs(self, trace):
        layer = self._input_layer
        return trace.input(layer.name, layer.output.type)

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.layers:
            kwargs = {"training": training} if training is not None and layer._accepts("training") else {}
            x = layer(x, **kwargs)
        return x

    @property
    def inputs(self):
        return [self._input_layer.output] if self._input_layer else None

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable,
                "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self._layers]}

    @classmethod
    def from_config(cls, config):
        from .layers import deserialize

        return cls([deserialize(c) for c in config["layers"]], name=config.get("name"),
                   trainable=config.get("trainable", True))
