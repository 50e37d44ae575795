"""Reverse-mode autodiff over the IR, from each op's VJP rule.

The walker follows micrograd and tinygrad: visit the nodes that lie between the
wanted params and the loss in reverse order, call the op's `vjp`, accumulate
gradients with `add` where values fan out, and reduce broadcast gradients back
to the input's shape once, here, never inside a rule.

A VJP rule has the signature

    vjp(b, attrs, inputs, outputs, grads) -> list[Value | None]   (one per input)

where `b` is the GraphBuilder the gradient nodes go into and `grads` holds the
gradient of each output (None where no gradient flows). A rule may return a
gradient in the broadcast (output) shape: the walker sums it down.
"""
from __future__ import annotations

from typing import Optional, Sequence

from aot.ir import Graph, GraphBuilder, IRError, Node, Param, Value


class GradientError(IRError):
    pass


def _needs_grad(nodes: Sequence[Node], wrt: Sequence[Value], loss: Value) -> list[Node]:
    """Nodes on a path from some `wrt` value to `loss`, in forward order."""
    from_wrt = {id(v) for v in wrt}
    forward = []
    for node in nodes:
        if any(id(v) in from_wrt for v in node.inputs):
            forward.append(node)
            from_wrt.update(id(o) for o in node.outputs)
    to_loss = {id(loss)}
    needed = []
    for node in reversed(forward):
        if any(id(o) in to_loss for o in node.outputs):
            needed.append(node)
            to_loss.update(id(v) for v in node.inputs)
    return needed[::-1]


def unbroadcast(b: GraphBuilder, grad: Value, target: Value) -> Value:
    """Sum `grad` down to `target`'s shape (numpy broadcasting in reverse)."""
    gshape, tshape = grad.type.shape, target.type.shape
    if gshape == tshape:
        return grad
    extra = len(gshape) - len(tshape)
    if extra < 0:
        raise GradientError(f"gradient {grad.type} has lower rank than its value {target.type}")
    axes = list(range(extra))
    axes += [extra + i for i, d in enumerate(tshape) if d == 1 and gshape[extra + i] != 1]
    if any(d != 1 and gshape[extra + i] != d for i, d in enumerate(tshape)):
        # a symbol met an int in the forward broadcast ((N,5) * (3,5) is (3,5)): no reshape
        # turns one into the other; broadcast_like re-types the sum from target
        out = b.emit("sum", grad, axes=tuple(axes), keepdims=True) if axes else grad
        out = b.emit("squeeze", out, axes=tuple(range(extra))) if extra else out
        return b.emit("broadcast_like", out, target)
    out = b.emit("sum", grad, axes=tuple(axes), keepdims=False) if axes else grad
    if out.type.shape != tshape:
        out = b.emit("reshape", out, shape=tuple(tshape))
    return out


def _accumulate(b: GraphBuilder, grads: dict, v: Value, g: Value) -> None:
    if g.type.dtype != v.type.dtype:
        raise GradientError(f"gradient of %{v.name} has dtype {g.type.dtype.short}, "
                            f"value is {v.type.dtype.short}")
    g = unbroadcast(b, g, v)
    grads[id(v)] = b.emit("add", grads[id(v)], g) if id(v) in grads else g


def build_gradients(b: GraphBuilder, nodes: Sequence[Node], loss: Value,
                    wrt: Sequence[Value], seed: Optional[Value] = None) -> list[Optional[Value]]:
    """Emit into `b` the gradient of scalar `loss` w.r.t. each of `wrt` (None if unconnected).

    `nodes` are the forward nodes (already in `b` or in the graph being extended).
    `seed` is d(something)/d(loss); defaults to 1.
    """
    if loss.type.rank != 0 and not all(d == 1 for d in loss.type.shape):
        raise GradientError(f"loss must be a scalar, got {loss.type}")
    if not loss.type.dtype.is_float:
        raise GradientError(f"loss must be a float tensor, got {loss.type}")
    if seed is None:
        seed = b.const(1.0, dtype=loss.type.dtype, name="one")
        if loss.type.rank:
            seed = b.emit("broadcast_to", seed, shape=tuple(loss.type.shape))
    grads: dict[int, Value] = {id(loss): seed}
    for node in reversed(_needs_grad(nodes, wrt, loss)):
        out_grads = [grads.get(id(o)) for o in node.outputs]
        if all(g is None for g in out_grads):
            continue
        if node.op.vjp is None:
            raise GradientError(f"op {node.op.name} (node {node.name or '?'}) has no gradient rule")
        in_grads = node.op.vjp(b, node.attrs, node.inputs, node.outputs, out_grads)
        if len(in_grads) != len(node.inputs):
            raise GradientError(f"vjp of {node.op.name} returned {len(in_grads)} grads "
                                f"for {len(node.inputs)} inputs")
        for v, g in zip(node.inputs, in_grads):
            if g is not None:
                _accumulate(b, grads, v, g)
    return [grads.get(id(v)) for v in wrt]


def autodiff(graph: Graph, wrt: Optional[Sequence[str]] = None, loss_index: int = 0) -> Graph:
    """A new graph returning [loss, d loss/d p for p in wrt] (wrt: param names; default: every
    trainable param). Unconnected params get zero gradients; unused branches are pruned by DCE."""
    params = [p for p in graph.params if p.trainable] if wrt is None else [graph.param(n) for n in wrt]
    b = GraphBuilder.extending(graph, f"{graph.name}_grad")
    loss = graph.outputs[loss_index]
    grads = build_gradients(b, graph.nodes, loss, params)
    outs = [loss]
    for p, g in zip(params, grads):
        outs.append(g if g is not None else zeros_like(b, p))
    return b.build(outs)


def zeros_like(b: GraphBuilder, v: Value) -> Value:
    zero = b.const(0.0, dtype=v.type.dtype, name="zero")
    return b.emit("broadcast_to", zero, shape=tuple(v.type.shape))


__all__ = ["autodiff", "build_gradients", "unbroadcast", "zeros_like", "GradientError"]
