"""The one way the standard passes build their result: a `Rewriter` walks a graph's
nodes in order and produces a NEW graph, never touching the old one.

For each node a pass either keeps it (`keep`: re-emitted on the rewritten inputs,
the same Node object when none changed), replaces its outputs with other values
(`replace`), or emits new nodes (`emit`) and new constants (`const`). Values the
old graph defined map to their replacements; unchanged Params are shared.

A replacement never renames a graph output: the outputs' names are the model's
signature (feeds, manifests), so `can_replace` refuses a value of another name
for an output, and passes then keep the node instead.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from aot.ir.graph import Graph, Node, Param, Value


class Rewriter:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.nodes: list[Node] = []
        self.params: list[Param] = list(graph.params)
        self._env: dict[Value, Value] = {}
        self._outputs = {id(v) for v in graph.outputs}
        self._names = {v.name for v in list(graph.inputs) + list(graph.params)}

    # -- reading
    def value(self, v: Value) -> Value:
        """What `v` of the old graph is in the new one."""
        return self._env.get(v, v)

    def inputs(self, node: Node) -> tuple[Value, ...]:
        return tuple(self.value(v) for v in node.inputs)

    def constant(self, v: Value) -> Optional[np.ndarray]:
        """The data of `v` when it is a compile-time constant: a const param (not a weight,
        not state) with data that no update replaces."""
        v = self.value(v)
        if isinstance(v, Param) and v.is_const and v.data is not None \
                and v not in self.graph.updates:
            return np.asarray(v.data)
        return None

    def can_replace(self, old: Value, new: Value) -> bool:
        """Replacing `old` by `new` keeps every graph output's name."""
        return id(old) not in self._outputs or old.name == new.name

    def can_become_const(self, old: Value) -> bool:
        """A const param named after `old` (see `const`) keeps every graph output's name."""
        return id(old) not in self._outputs or (old.name is not None
                                                and old.name not in self._names)

    # -- writing
    def keep(self, node: Node) -> Node:
        """The node on the rewritten inputs (the same object if they are unchanged)."""
        inputs = self.inputs(node)
        if all(a is b for a, b in zip(inputs, node.inputs)):
            self.nodes.append(node)
            return node
        new = self.emit(node.op, inputs, node.attrs, name=node.name,
                        output_names=[v.name for v in node.outputs])
        self.replace(node, new.outputs)
        return new

    def emit(self, op, inputs: Sequence[Value], attrs=None, *, name=None,
             output_names=None) -> Node:
        node = Node(op, inputs, attrs, name=name, output_names=output_names)
        self.nodes.append(node)
        return node

    def replace(self, node: Node, values: Sequence[Value]) -> None:
        for old, new in zip(node.outputs, values):
            self.substitute(old, new)

    def substitute(self, old: Value, new: Value) -> None:
        """Uses of `old` (a node output or a param) read `new` from now on."""
        self._env[old] = new

    def const(self, data: np.ndarray, name: Optional[str]) -> Param:
        """A new non-trainable param holding `data`, named `name` (made unique)."""
        base = name or "const"
        unique, i = base, 1
        while unique in self._names:
            unique, i = f"{base}_{i}", i + 1
        self._names.add(unique)
        p = Param(unique, data, trainable=False)
        self.params.append(p)
        return p

    def finish(self) -> Graph:
        g = self.graph
        return Graph(g.name, list(g.inputs), list(self.params), list(self.nodes),
                     [self.value(v) for v in g.outputs],
                     {p: self.value(v) for p, v in g.updates.items()})
