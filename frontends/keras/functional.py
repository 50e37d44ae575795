"""Functional models: `Model(inputs, outputs)` over the layer calls recorded between them.

Building one walks the calls back from the outputs to the inputs (in Keras's
topological order); `call` replays them, so the same model traces into a graph,
runs eagerly, or nests inside another model as a layer.
"""
from __future__ import annotations

from .layers.base import CallNode, Layer, OpLayer, check_kwargs
from .layers.input_layer import InputLayer, input_layer_of
from .model import Model
from .tracing import KerasTensor, flatten, map_structure


class Functional(Model):
    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        check_kwargs("Functional", kwargs)
        super().__init__(name=name, trainable=trainable)
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self.inputs = flatten(inputs)
        self.outputs = flatten(outputs)
        for t in self.inputs:
            if not isinstance(t, KerasTensor) or input_layer_of(t) is None:
                raise ValueError(f"All `inputs` of a functional model must come from "
                                 f"`keras.Input()`, got {t!r}")
        for t in self.outputs:
            if not isinstance(t, KerasTensor) or t.trace is not None:
                raise ValueError(f"All `outputs` of a functional model must be symbolic "
                                 f"KerasTensors, got {t!r}")
        self._nodes = _topological_nodes(self.inputs, self.outputs)
        inputs_layers = [input_layer_of(t) for t in self.inputs]
        self._layers_list = inputs_layers + _unique(
            [n.layer for n in self._nodes if n.layer not in inputs_layers])
        self.built = True

    def _ensure_built(self) -> None:
        """Built from its Inputs at construction."""

    def _build_from_data(self, x) -> None:
        """Its input shapes are known."""

    @property
    def layers(self) -> list[Layer]:
        """Keras lists the InputLayers too; ops between layers are not layers."""
        return [layer for layer in self._layers_list if not isinstance(layer, OpLayer)]

    @property
    def input_names(self) -> list[str]:
        return [input_layer_of(t).name for t in self.inputs]

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    def _build_for_call(self, args, kwargs):
        self.built = True

    def _graph_inputs(self, trace):
        traced = {id(t): trace.input(input_layer_of(t).name, t.type) for t in self.inputs}
        return map_structure(lambda t: traced[id(t)], self._inputs_struct)

    def call(self, inputs, training=None):
        """Replay the recorded layer calls on `inputs` (same structure as the model's)."""
        flat = flatten(inputs)
        if isinstance(inputs, dict):
            keys = list(self._inputs_struct) if isinstance(self._inputs_struct, dict) \
                else self.input_names
            flat = [inputs[k] for k in keys]
        if len(flat) != len(self.inputs):
            raise ValueError(f"Model {self.name!r} expects {len(self.inputs)} input(s), "
                             f"got {len(flat)}")
        env = {id(s): x for s, x in zip(self.inputs, flat)}
        for node in self._nodes:
            args, kwargs = map_structure(
                lambda x: env[id(x)] if isinstance(x, KerasTensor) else x,
                (node.args, node.kwargs))
            if training is not None and node.layer._accepts("training") \
                    and "training" not in kwargs and not isinstance(node.layer, OpLayer):
                kwargs = {**kwargs, "training": training}
            out = node.layer(*args, **kwargs)
            outs = [t for t in flatten(out) if isinstance(t, KerasTensor)]
            for sym, real in zip(node.outputs, outs):
                env[id(sym)] = real
        return map_structure(lambda t: env[id(t)], self._outputs_struct)

    def _output_names(self, flat) -> list[str]:
        if isinstance(self._outputs_struct, dict):
            return list(self._outputs_struct)
        return super()._output_names(flat)

    def _pack(self, outs: list):
        if isinstance(self._outputs_struct, dict):
            return dict(zip(self._outputs_struct, outs))
        if isinstance(self._outputs_struct, (list, tuple)):
            return list(outs)
        return outs[0]

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable,
                "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self.layers],
                "input_layers": self.input_names,
                "output_layers": [t._history[0].layer.name for t in self.outputs]}


def _topological_nodes(inputs, outputs) -> list[CallNode]:
    """Call nodes needed for `outputs`, each after the nodes that feed it; stops at
    `inputs` and fails on an Input that is not among them ("graph disconnected")."""
    input_ids = {id(t) for t in inputs}
    order, done, visiting = [], set(), set()

    def visit(t: KerasTensor):
        if id(t) in input_ids:
            return
        if t._history is None:
            raise ValueError(f"{t!r} was not made by a layer call on the model's inputs")
        node = t._history[0]
        if id(node) in done:
            return
        if isinstance(node.layer, InputLayer):
            raise ValueError(f"Graph disconnected: cannot find parent for KerasTensor "
                             f"{node.layer.name!r}: it is an Input that is not among the "
                             "model's `inputs`")
        if id(node) in visiting:
            raise ValueError("cycle in the layer graph")
        visiting.add(id(node))
        for x in node.input_tensors:
            visit(x)
        done.add(id(node))
        order.append(node)

    for t in outputs:
        visit(t)
    return order


def _unique(layers):
    out, seen = [], set()
    for layer in layers:
        if id(layer) not in seen:
            seen.add(id(layer))
            out.append(layer)
    return out
