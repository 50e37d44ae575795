"""Common-subexpression elimination.

Establishes: no two nodes apply the same op with equal attributes to the same
inputs, and no two small constants hold equal data (same dtype, shape and
values), so that nodes built on repeated constants (frontends emit a scalar
`1.0` per use) become equal too. The later duplicate's uses read the first;
duplicates that are graph outputs of another name stay (outputs keep their
names). What becomes unused is left for `dce`.
"""
from __future__ import annotations

from dataclasses import dataclass

from aot.ir.graph import Graph, Node

from .rewrite import Rewriter


@dataclass(frozen=True)
class CSE:
    max_const_elements: int = 1024  # constants up to this size are compared by value

    def __call__(self, graph: Graph) -> Graph:
        rw = Rewriter(graph)
        self._merge_constants(rw)
        seen: dict = {}
        for node in graph.nodes:
            key = _node_key(rw, node)
            first = seen.get(key) if key is not None else None
            if first is not None and all(rw.can_replace(o, n)
                                         for o, n in zip(node.outputs, first.outputs)):
                rw.replace(node, first.outputs)
                continue
            kept = rw.keep(node)
            if key is not None:
                seen.setdefault(key, kept)
        return rw.finish()

    def _merge_constants(self, rw: Rewriter) -> None:
        """Uses of a small constant read the first param with the same type and bytes."""
        first: dict = {}
        for p in rw.graph.params:
            data = rw.constant(p)
            if data is None or data.size > self.max_const_elements:
                continue
            canon = first.setdefault((p.type, data.tobytes()), p)
            if canon is not p and rw.can_replace(p, canon):
                rw.substitute(p, canon)


def _node_key(rw: Rewriter, node: Node):
    """(op, inputs by identity, attrs), or None when the attrs cannot be hashed. (NaN
    attrs never equal themselves, so such nodes are simply never merged.)"""
    inputs = tuple(id(v) for v in rw.inputs(node))
    try:
        key = (node.op.name, inputs, node.attrs)
        hash(key)
    except TypeError:
        return None
    return key


cse = CSE()
