"""GraphBuilder: the one way frontends and passes make graphs.

    b = GraphBuilder("mlp")
    x = b.input("x", TensorType(("N", 784), "float32"))
    w = b.param("w0", np.zeros((784, 256), "float32"))
    y = b.emit("relu", b.emit("matmul", x, w))
    graph = b.build([y])
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .graph import Graph, IRError, Node, Param, Value
from .types import DType, TensorType


class GraphBuilder:
    def __init__(self, name: str = "main"):
        self.name = name
        self.inputs: list[Value] = []
        self.params: list[Param] = []
        self.nodes: list[Node] = []
        self._names: set[str] = set()

    @classmethod
    def extending(cls, graph: Graph, name: Optional[str] = None) -> "GraphBuilder":
        """A builder that starts with `graph`'s inputs, params and nodes (which it shares)."""
        b = cls(name or graph.name)
        b.inputs, b.params, b.nodes = list(graph.inputs), list(graph.params), list(graph.nodes)
        b._names = {v.name for v in b.inputs + b.params}
        return b

    def unique_name(self, base: str) -> str:
        base = base or "v"
        name, i = base, 1
        while name in self._names:
            name, i = f"{base}_{i}", i + 1
        self._names.add(name)
        return name

    def input(self, name: str, type: TensorType) -> Value:
        if name in self._names:
            raise IRError(f"graph @{self.name}: duplicate name %{name}")
        self._names.add(name)
        v = Value(type, name)
        self.inputs.append(v)
        return v

    def add_param(self, p: Param) -> Param:
        """Adopt an existing Param (renamed if its name is taken)."""
        if p in self.params:
            return p
        p.name = self.unique_name(p.name)
        self.params.append(p)
        return p

    def param(self, name: str, data=None, *, type: Optional[TensorType] = None,
              trainable: bool = True, state: bool = False) -> Param:
        return self.add_param(Param(name, data, type=type, trainable=trainable, state=state))

    def const(self, data, dtype=None, name: str = "const") -> Param:
        """A non-trainable constant. Python scalars become 0-d arrays of `dtype` (default f32)."""
        arr = np.asarray(data, dtype=DType.of(dtype).numpy if dtype is not None else None)
        if dtype is None and arr.dtype == np.float64 and not isinstance(data, np.ndarray):
            arr = arr.astype(np.float32)
        return self.param(name, arr, trainable=False)

    def emit_node(self, op, inputs: Sequence[Value], attrs=None, *, name=None,
                  output_names=None) -> Node:
        node = Node(op, inputs, attrs, name=name, output_names=output_names)
        self.nodes.append(node)
        return node

    def emit(self, op, *inputs: Value, name: Optional[str] = None, **attrs):
        """Add a node; returns its output Value (or a tuple for multi-output ops)."""
        node = self.emit_node(op, inputs, attrs, name=name)
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def build(self, outputs: Sequence[Value], updates: Optional[dict] = None) -> Graph:
        return Graph(self.name, list(self.inputs), list(self.params), list(self.nodes),
                     list(outputs), dict(updates or {}))
