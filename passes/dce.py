"""Dead-code elimination.

Establishes: every node has an output that the graph's outputs or updates
depend on, and every param is used by a live node, is an output, or is state
(an update target). Inputs stay: they are the graph's signature. Ops are pure
(the registry has no effects), so a node nobody reads can go.
"""
from __future__ import annotations

from aot.ir.graph import Graph


def dce(graph: Graph) -> Graph:
    """The graph without dead nodes and unused params (a new Graph; nodes and params shared)."""
    live = {id(v) for v in graph.outputs} | {id(v) for v in graph.updates.values()}
    nodes = []
    for node in reversed(graph.nodes):
        if any(id(o) in live for o in node.outputs):
            nodes.append(node)
            live.update(id(v) for v in node.inputs)
    params = [p for p in graph.params if id(p) in live or p in graph.updates]
    return Graph(graph.name, list(graph.inputs), params, nodes[::-1], list(graph.outputs),
                 dict(graph.updates))
