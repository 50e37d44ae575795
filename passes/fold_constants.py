"""Constant folding.

Establishes: no node whose inputs are all constants (non-trainable params with
data that no update replaces) remains, unless its result would be a large
tensor grown from smaller ones (`max_elements`): a broadcast of a scalar to a
huge shape stays a cheap kernel instead of becoming megabytes of weights.
Folded values become const params, computed with the op's numpy reference (the
same oracle the interpreter uses). Chains fold in one walk; the inputs they no
longer need are left for `dce`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aot.ir.graph import Graph, IRError, Node

from .rewrite import Rewriter


@dataclass(frozen=True)
class FoldConstants:
    max_elements: int = 1 << 16  # results above this fold only if no bigger than their inputs

    def __call__(self, graph: Graph) -> Graph:
        rw = Rewriter(graph)
        for node in graph.nodes:
            data = [rw.constant(v) for v in node.inputs]
            if not self._foldable(rw, node, data):
                rw.keep(node)
                continue
            rw.replace(node, [rw.const(a, v.name or f"{node.op.name}_folded")
                              for v, a in zip(node.outputs, _evaluate(node, data))])
        return rw.finish()

    def _foldable(self, rw: Rewriter, node: Node, data: list) -> bool:
        if any(d is None for d in data) or not all(v.type.is_static for v in node.outputs):
            return False
        if not all(rw.can_become_const(v) for v in node.outputs):
            return False
        out = sum(v.type.size for v in node.outputs)
        return out <= self.max_elements or out <= sum(d.size for d in data)


def _evaluate(node: Node, data: list[np.ndarray]) -> list[np.ndarray]:
    """The node's outputs by its reference, in the dtypes and shapes its type rule promised."""
    out = node.op.reference(node.attrs, *data)
    out = out if isinstance(out, (tuple, list)) else (out,)
    arrays = []
    for v, a in zip(node.outputs, out):
        a = np.asarray(a).astype(v.type.dtype.numpy, copy=False)
        if a.shape != tuple(v.type.shape):
            raise IRError(f"folding {node.op.name}: reference gave shape {a.shape}, "
                          f"type rule says {v.type}")
        arrays.append(a)
    return arrays


fold_constants = FoldConstants()
