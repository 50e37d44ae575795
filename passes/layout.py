"""Channels-first islands folded back to channels-last ops.

ONNX convs and pools are channels-first only, so a channels-last model reaches ONNX (our
exporter, tf2onnx, keras2onnx) as

    transpose(x, [0, C, 1, ..]) -> conv / pool, layout NC.. -> transpose(y, [0, 2, .., 1])

and comes back through an importer in that form. `fold_layout_transposes` establishes:
every conv2d, conv1d, conv2d_transpose, max_pool2d and avg_pool2d in NCHW / NCW layout whose
data input is such a transpose and whose only reader is the transpose back becomes the same
op in NHWC / NWC on the untransposed data; a conv's channels-first kernel (O, I, *K) is read
through `transpose(w, (*K, I, O))`, which `simplify` cancels against the exporter's
HWIO -> OIHW transpose (and `fold_constants` folds for a constant kernel). The first transpose
stays while something else reads it; the pass removes what it left dead.

Attributes carry over as they are: strides, pads, dilations and groups mean the same in
both layouts (pads are per spatial axis).
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from aot.ir.graph import Graph, Node, Value

from .dce import dce
from .rewrite import Rewriter

_CHANNELS_LAST = {"NCHW": "NHWC", "NCW": "NWC"}
_OPS = ("conv2d", "conv1d", "conv2d_transpose", "max_pool2d", "avg_pool2d")
_WITH_KERNEL = ("conv2d", "conv1d", "conv2d_transpose")


def _to_first(rank: int) -> tuple[int, ...]:
    """The perm taking channels-last data to channels-first: (0, C, 1, 2, ..)."""
    return (0, rank - 1) + tuple(range(1, rank - 1))


def _to_last(rank: int) -> tuple[int, ...]:
    return (0,) + tuple(range(2, rank)) + (1,)


def _is_transpose(v: Value, perm: tuple[int, ...]) -> bool:
    n = v.node
    if n is None or n.op.name != "transpose" or n.attrs.perm is None:
        return False
    return tuple(p % v.type.rank for p in n.attrs.perm) == perm


def _back_transpose(node: Node, readers: dict, outputs: set) -> Optional[Node]:
    """The transpose back to channels-last when it is the only reader of node's output."""
    y = node.outputs[0]
    rs = readers.get(y, [])
    if len(node.outputs) != 1 or id(y) in outputs or len(rs) != 1:
        return None
    return rs[0] if _is_transpose(rs[0].outputs[0], _to_last(y.type.rank)) else None


def _foldable(node: Node, x: Value) -> bool:
    layout = getattr(node.attrs, "layout", None)
    return (node.op.name in _OPS and layout in _CHANNELS_LAST
            and _is_transpose(x, _to_first(x.type.rank)))


def _readers(graph: Graph) -> dict:
    out: dict = {}
    for n in graph.nodes:
        for v in n.inputs:
            out.setdefault(v, []).append(n)
    return out


def _channels_last_node(rw: Rewriter, node: Node, x: Value, back: Node) -> Value:
    """node in channels-last layout on transpose x's input, named as the transpose back."""
    args = [x.node.inputs[0]]
    if node.op.name in _WITH_KERNEL:
        w = rw.value(node.inputs[1])
        perm = tuple(range(2, w.type.rank)) + (1, 0)  # (O, I, *K) -> (*K, I, O)
        args.append(rw.emit("transpose", [w], {"perm": perm}).outputs[0])
    attrs = dataclasses.replace(node.attrs, layout=_CHANNELS_LAST[node.attrs.layout])
    out = back.outputs[0]
    return rw.emit(node.op, args, attrs, name=node.name, output_names=[out.name]).outputs[0]


def fold_layout_transposes(graph: Graph) -> Graph:
    """The graph with channels-first islands folded to channels-last ops (a new Graph)."""
    rw, readers = Rewriter(graph), _readers(graph)
    outputs = {id(v) for v in graph.outputs}
    folded: dict = {}  # the transpose back -> its replacement
    for node in graph.nodes:
        if node in folded:
            rw.replace(node, [folded[node]])
            continue
        x = rw.value(node.inputs[0]) if node.inputs else None
        back = _back_transpose(node, readers, outputs) if x is not None else None
        if back is None or not _foldable(node, x):
            rw.keep(node)
            continue
        folded[back] = _channels_last_node(rw, node, x, back)
    return dce(rw.finish())
