"""IR -> Relax: one Relax function per entry point, built with `relax.BlockBuilder`.

Each function takes the graph inputs, then its params (weights are fed by the
runtime, not baked into the library), and returns a tuple: the graph outputs,
then the new values of its updated state, in `graph.updates` order.
Each node is lowered by its op's `lower` rule through a `LowerCtx`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from aot.ir import dims
from aot.ir.graph import Graph, IRError, Node, Value
from aot.ir.types import DType, TensorType

from .tvm import tvm
import tvm_ffi.structural


class LoweringError(IRError):
    pass


class LowerCtx:
    """What a lowering rule sees: TVM's modules, the node's types, and helpers."""

    def __init__(self, bb, symbols: dict, node: Node):
        from tvm import relax, te, tirx, topi

        self.bb, self.node, self._symbols = bb, node, symbols
        self.relax, self.R, self.te, self.topi, self.tirx = relax, relax.op, te, topi, tirx

    def in_type(self, i: int = 0) -> TensorType:
        return self.node.inputs[i].type

    def in_dtype(self, i: int = 0) -> DType:
        return self.node.inputs[i].type.dtype

    def out_type(self, i: int = 0) -> TensorType:
        return self.node.outputs[i].type

    def shape(self, dims) -> list:
        """Our dims -> TVM shape values (symbols become the function's shape variables, an
        expression such as "2*N" the same arithmetic over them)."""
        return [dim_expr(self._symbols, d) for d in dims]

    def out_shape(self, i: int = 0) -> list:
        return self.shape(self.out_type(i).shape)

    def const(self, value, dtype) -> object:
        """A scalar Relax constant of our dtype."""
        import numpy as np

        return self.relax.const(np.asarray(value, dtype=DType.of(dtype).numpy), DType.of(dtype).value)

    def emit_te(self, fn, *args, **kwargs):
        return self.bb.emit_te(fn, *args, **kwargs)


def symbol_var(symbols: dict, name: str):
    if name not in symbols:
        symbols[name] = tvm.tirx.Var(name, "int64")
    return symbols[name]


def dim_expr(symbols: dict, d):
    """One dim as a TVM value: an int, a shape variable, or an int64 PrimExpr over them."""
    if isinstance(d, str):
        return dims.evaluate(d, lambda name: symbol_var(symbols, name))
    return int(d)


def relax_type(t: TensorType, symbols: dict):
    from tvm import relax

    shape = [dim_expr(symbols, d) for d in t.shape]
    return relax.TensorType(shape, t.dtype.value)


@dataclass(frozen=True)
class Entry:
    """One function of the library: its graph and its exported name."""

    name: str
    graph: Graph


def lower_graph(bb, entry: Entry) -> None:
    """Add one Relax function for `entry` to the BlockBuilder."""
    from tvm import relax

    g, symbols = entry.graph, {}
    env: dict[Value, object] = {}
    args = []
    for v in list(g.inputs) + list(g.params):
        var = relax.Var(v.name, relax_type(v.type, symbols))
        env[v] = var
        args.append(var)
    with bb.function(entry.name, args):
        with bb.dataflow():
            for node in g.nodes:
                _lower_node(bb, node, env, symbols)
            results = [env[v] for v in g.outputs] + [env[v] for v in g.updates.values()]
            out = bb.emit_output(relax.Tuple(results))
        bb.emit_func_output(out)


def _lower_node(bb, node: Node, env: dict, symbols: dict) -> None:
    if node.op.lower is None:
        raise LoweringError(f"op {node.op.name} has no TVM lowering (node {node.name or '?'})")
    ctx = LowerCtx(bb, symbols, node)
    try:
        result = node.op.lower(ctx, node.attrs, *[env[v] for v in node.inputs])
    except LoweringError:
        raise
    except Exception as e:  # a TVM error here is our bug: say which node, not a TVM trace
        raise LoweringError(f"lowering {node.op.name} (node {node.name or '?'}) failed: "
                            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
    results = result if isinstance(result, (tuple, list)) else (result,)
    if len(results) != len(node.outputs):
        raise LoweringError(f"lowering of {node.op.name} gave {len(results)} values, "
                            f"expected {len(node.outputs)}")
    for v, expr in zip(node.outputs, results):
        env[v] = _bind(bb, expr, v.type, symbols)


def _bind(bb, expr, t: TensorType, symbols):
    """Emit `expr` and make sure Relax sees exactly our type (match_cast when it cannot tell)."""
    from tvm import relax

    var = expr if isinstance(expr, relax.Var) else bb.emit(expr)
    want = relax_type(t, symbols)
    have = var.ty
    if tvm_ffi.structural.structural_equal(have, want, map_free_vars=False):
        return var
    if isinstance(have, relax.TensorType) and have.dtype != t.dtype.value and have.dtype != "":
        raise LoweringError(f"lowering produced dtype {have.dtype}, type rule says {t.dtype.value}")
    return bb.match_cast(var, want)


def to_relax(entries: list[Entry], lift_weights: bool = False):
    """Build the Relax IRModule holding one function per entry. With `lift_weights` (inference
    artifacts: the driver and `aot tune` ask for it when no entry updates state), what each
    entry computes from its weights alone moves to `<entry>_transform_params`
    (see `lift_weight_transforms`)."""
    from tvm import relax

    bb = relax.BlockBuilder()
    for e in entries:
        lower_graph(bb, e)
    mod = bb.get()
    if lift_weights and any(e.graph.updates for e in entries):
        raise LoweringError("weights that entries update cannot have their transforms lifted")
    return lift_weight_transforms(mod, entries) if lift_weights else mod


def lifts_weights(graphs) -> bool:
    """Whether an artifact of these entry graphs lifts weight transforms: when none updates
    state (an inference artifact; a training one changes its weights at every step)."""
    return not any(g.updates for g in graphs)


TRANSFORM_SUFFIX = "_transform_params"


def lift_weight_transforms(mod, entries: list[Entry]):
    """Move each entry's weight-only computations (an inference BatchNorm's
    gamma * rsqrt(variance + eps), a depthwise kernel's reshape, a transposed weight) into a
    function `<entry>_transform_params(weights tuple) -> transformed tuple` that the runtime
    calls once at load (and when the weights change); the entry then takes its inputs and
    the transformed weights. Why: fused into a kernel, such a computation runs once per
    output element on every call (MobileNetV2: 10% of its time). Entries with nothing to
    lift keep their form and get no transform function."""
    from tvm import relax

    entries = [e for e in entries if e.graph.params]
    if not entries:
        return mod
    marked = tvm.IRModule(dict(mod.functions_items()))
    for e in entries:
        marked[e.name] = marked[e.name].with_attr("num_input", len(e.graph.inputs))
    try:
        lifted = relax.transform.LiftTransformParams()(marked)
    except Exception:  # noqa: BLE001 - an optimization: a graph it cannot handle stays whole
        return mod  # (TVM 0.27 fails on symbolic shape expressions with if_then_else)
    for e in entries:
        name = e.name + TRANSFORM_SUFFIX
        body = lifted[name].body
        if any(len(b.bindings) for b in body.blocks):
            mod[e.name], mod[name] = lifted[e.name], lifted[name]
        mod[e.name] = mod[e.name].without_attr("num_input")
    return mod


def lifted_entries(mod) -> set:
    """Names of the entries that got a transform function."""
    return {gv.name_hint[:-len(TRANSFORM_SUFFIX)] for gv in mod.get_global_vars()
            if gv.name_hint.endswith(TRANSFORM_SUFFIX)}
