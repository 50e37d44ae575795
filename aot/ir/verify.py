"""The verifier: SSA holds, every value is defined before use, names are unique,
types agree with the op rules, and updates replace a param with a value of its type.

Runs after every pass in tests and in debug mode (AOT_DEBUG=1).
"""
from __future__ import annotations

from .graph import Graph, IRError, Param
from .attrs import make_attrs


def verify(graph: Graph) -> Graph:
    """Raise IRError naming the first problem; return the graph unchanged if it is well-formed."""
    where = f"graph @{graph.name}"
    defined: set[int] = set()
    names: set[str] = set()
    for v in list(graph.inputs) + list(graph.params):
        if not v.name:
            raise IRError(f"{where}: an input or param has no name")
        if v.name in names:
            raise IRError(f"{where}: duplicate name %{v.name}")
        if v.node is not None:
            raise IRError(f"{where}: %{v.name} is listed as input/param but is a node output")
        names.add(v.name)
        defined.add(id(v))
    for p in graph.params:
        if not isinstance(p, Param):
            raise IRError(f"{where}: %{p.name} is in params but is not a Param")
    for i, node in enumerate(graph.nodes):
        label = f"{where}, node {i} ({node.name or node.op.name})"
        for j, v in enumerate(node.inputs):
            if id(v) not in defined:
                raise IRError(f"{label}: input {j} (%{v.name or '?'}) is used before it is defined "
                              "or is not in the graph")
        make_attrs(node.op.attrs, node.attrs, node.op.name)
        expected = node.op.infer(node.attrs, *[v.type for v in node.inputs])
        expected = tuple(expected) if isinstance(expected, (tuple, list)) else (expected,)
        got = tuple(o.type for o in node.outputs)
        if expected != got:
            raise IRError(f"{label}: output types {got} disagree with the type rule {expected}")
        for o in node.outputs:
            if id(o) in defined:
                raise IRError(f"{label}: value %{o.name} defined twice")
            if o.node is not node:
                raise IRError(f"{label}: output %{o.name} does not point back at its node")
            defined.add(id(o))
    for k, v in enumerate(graph.outputs):
        if id(v) not in defined:
            raise IRError(f"{where}: output {k} (%{v.name or '?'}) is not defined in the graph")
    for p, v in graph.updates.items():
        if p not in graph.params:
            raise IRError(f"{where}: update target %{p.name} is not a param of the graph")
        if id(v) not in defined:
            raise IRError(f"{where}: update of %{p.name} uses an undefined value")
        if v.type != p.type:
            raise IRError(f"{where}: update of %{p.name}: {v.type} does not match {p.type}")
        if p.is_const:
            raise IRError(f"{where}: %{p.name} is a constant but is updated; make it state")
    return graph
