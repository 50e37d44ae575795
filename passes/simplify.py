"""A small algebraic simplifier: identities that cost nothing to recognise.

Establishes, where the result has exactly the type of the operand it returns:
  x * 1, 1 * x, x / 1, x + 0, 0 + x, x - 0  ->  x   (1 and 0: constants, any shape
                                                     that broadcasts into x)
  transpose(transpose(x, p), q)             ->  x, or one transpose by the composed perm
  reshape(x) to x's own type                ->  x
  cast(x) to x's own dtype                  ->  x
`x + 0` keeps values, not the sign of a zero (-0.0 + 0.0 is +0.0), as compilers
for ML models do. Chains simplify in one walk (the rules see rewritten inputs).
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from aot.ir.graph import Graph, Node, Value

from .rewrite import Rewriter

Rule = Callable[[Rewriter, Node, tuple], Optional[Value]]


def simplify(graph: Graph) -> Graph:
    """The graph with the identities above removed (a new Graph)."""
    rw = Rewriter(graph)
    for node in graph.nodes:
        rule = RULES.get(node.op.name)
        new = rule(rw, node, rw.inputs(node)) if rule else None
        if new is not None and rw.can_replace(node.outputs[0], new):
            rw.replace(node, [new])
        else:
            rw.keep(node)
    return rw.finish()


def _is_filled(rw: Rewriter, v: Value, value) -> bool:
    data = rw.constant(v)
    return data is not None and data.size > 0 and bool(np.all(data == value))


def _identity_operand(value, sides=(0, 1)) -> Rule:
    """x op c -> x when c is a constant filled with `value` (the op's identity)."""
    def rule(rw, node, args):
        for side in sides:
            x, c = args[side], args[1 - side]
            if _is_filled(rw, c, value) and x.type == node.outputs[0].type:
                return x
        return None

    return rule


def _same_type(rw, node, args) -> Optional[Value]:
    return args[0] if args[0].type == node.outputs[0].type else None


def _perm(attrs, rank: int) -> tuple[int, ...]:
    if attrs.perm is None:
        return tuple(range(rank - 1, -1, -1))
    return tuple(p % rank for p in attrs.perm)


def _double_transpose(rw, node, args) -> Optional[Value]:
    inner = args[0].node
    if inner is None or inner.op.name != "transpose":
        return None
    x, rank = inner.inputs[0], args[0].type.rank
    p, q = _perm(inner.attrs, rank), _perm(node.attrs, rank)
    composed = tuple(p[k] for k in q)
    if composed == tuple(range(rank)):
        return x
    out = node.outputs[0]
    return rw.emit("transpose", [x], {"perm": composed}, name=node.name,
                   output_names=[out.name]).outputs[0]


RULES: dict[str, Rule] = {
    "multiply": _identity_operand(1),
    "divide": _identity_operand(1, sides=(0,)),
    "add": _identity_operand(0),
    "subtract": _identity_operand(0, sides=(0,)),
    "transpose": _double_transpose,
    "reshape": _same_type,
    "cast": _same_type,
}
