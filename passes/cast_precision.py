"""fp16 / bf16 inference: weights stored in a 16-bit float, most of the compute in it.

`CastPrecision("float16")` (or "bfloat16") rewrites a float32 inference graph by what each op
tolerates (the `precision` of its registry entry), as mixed-precision training does (TVM's
ToMixedPrecision, torch.autocast):

- contractions (matmul, conv2d) read 16-bit inputs and weights and accumulate in float32
  (`out_dtype=f32`), then round their result to 16 bits for whatever follows;
- elementwise arithmetic, bounded activations (relu, clip, sigmoid, tanh, gelu, ...), data
  movement and pooling run in 16 bits when every non-constant float input is
  already held in 16 bits, else in float32;
- everything else stays float32: softmax, normalisation statistics (mean, variance, rsqrt),
  reductions (sum, mean, logsumexp, cumsum), exp/log/pow/sqrt, losses, and ops we do not know.

Constant float32 params (weights, folded constants) read in 16 bits are stored in 16 bits
(`<name>/f16`); one read only in float32 keeps its float32 copy. The graph's inputs and
outputs keep their float32 types: casts at the boundary, so users feed and get float32.
Values of other dtypes (token ids, float64) are left alone.

On CPUs without 16-bit float arithmetic, LLVM and TVM's BF16 legalization widen each 16-bit
operation to float32 and round its result, so numerics are those of 16-bit compute; the
saving is in memory and bandwidth (weights and activations at half size).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np

from aot.ir.attrs import attrs_dict
from aot.ir.graph import Graph, Node, Param, Value
from aot.ir.types import DType

from .dce import dce
from .rewrite import Rewriter

LowDType = Literal["float16", "bfloat16"]

_F32 = DType.float32


class _Casts:
    """Each float32 value of the old graph as float32 and/or in 16 bits in the new one; the
    missing form is made on demand by a cast (one per value)."""

    def __init__(self, graph: Graph, low: DType):
        self.rw, self.low = Rewriter(graph), low
        self.outputs = {id(v) for v in graph.outputs}
        self.f32: dict[Value, Value] = {}
        self.half: dict[Value, Value] = {}

    def as_low(self, v: Value) -> Value:
        if v not in self.half:
            if _is_weight(v):
                data = np.asarray(v.data).astype(self.low.numpy)
                self.half[v] = self.rw.const(data, f"{v.name}/{self.low.short}")
            else:
                self.half[v] = self._cast(self.as_f32(v), self.low, v)
        return self.half[v]

    def as_f32(self, v: Value) -> Value:
        if v not in self.f32:
            born_low = v in self.half and not _is_weight(v)
            self.f32[v] = self._cast(self.half[v], _F32, v) if born_low else self.rw.value(v)
        return self.f32[v]

    def _cast(self, v: Value, dt: DType, old: Value, name: Optional[str] = None) -> Value:
        node_name = f"{old.name or (old.node and old.node.name) or 'value'}/to_{dt.short}"
        out = [name] if name else None
        return self.rw.emit("cast", [v], {"dtype": dt}, name=node_name, output_names=out).outputs[0]

    def held_low(self, v: Value) -> bool:
        return v in self.half or _is_weight(v)

    def output(self, v: Value) -> Value:
        """A graph output as float32 under its own name."""
        if v not in self.half or v in self.f32 and self.f32[v].name == v.name:
            return self.as_f32(v)
        return self._cast(self.half[v], _F32, v, name=v.name)


def _is_weight(v: Value) -> bool:
    return isinstance(v, Param) and v.data is not None and not v.state and v.type.dtype == _F32


def _touches_f32(node: Node) -> bool:
    return any(v.type.dtype == _F32 for v in (*node.inputs, *node.outputs))


def _float_inputs(node: Node) -> list[Value]:
    return [v for v in node.inputs if v.type.dtype == _F32]


def _emit_low(c: _Casts, node: Node, attrs, output_names=None) -> Node:
    """`node` re-emitted on the 16-bit forms of its float32 inputs (others as they are)."""
    ins = [c.as_low(v) if v.type.dtype == _F32 else c.rw.value(v) for v in node.inputs]
    return c.rw.emit(node.op, ins, attrs, name=node.name, output_names=output_names)


def _accumulating(c: _Casts, node: Node) -> None:
    """16-bit inputs, float32 accumulator and result (a graph output keeps its name), rounded
    to 16 bits for the next op."""
    y = node.outputs[0]
    names = [y.name] if id(y) in c.outputs else None
    c.f32[y] = _emit_low(c, node, {**attrs_dict(node.attrs), "out_dtype": _F32}, names).outputs[0]
    c.half[y] = c._cast(c.f32[y], c.low, y)


def _following(c: _Casts, node: Node) -> None:
    new = _emit_low(c, node, node.attrs)
    for old, out in zip(node.outputs, new.outputs):
        if old.type.dtype == _F32:
            c.half[old] = out
        else:
            c.rw.substitute(old, out)


def _float32(c: _Casts, node: Node) -> None:
    for v in _float_inputs(node):
        if v in c.half:
            c.rw.substitute(v, c.as_f32(v))
    c.rw.keep(node)


def _runs_low(c: _Casts, node: Node) -> bool:
    if not _touches_f32(node):
        return False
    if node.op.precision == "accumulate":
        return all(v.type.dtype == _F32 for v in node.inputs) and node.attrs.out_dtype is None
    return node.op.precision == "follow" and all(c.held_low(v) for v in _float_inputs(node))


def cast_precision(graph: Graph, dtype: LowDType = "float16") -> Graph:
    """`graph` with weights and compute in `dtype` where it is safe (see the module doc)."""
    low = DType.of(dtype)
    if low not in (DType.float16, DType.bfloat16):
        raise ValueError(f"cast_precision casts to float16 or bfloat16, not {low.value}")
    c = _Casts(graph, low)
    for node in graph.nodes:
        if not _runs_low(c, node):
            _float32(c, node)
        elif node.op.precision == "accumulate":
            _accumulating(c, node)
        else:
            _following(c, node)
    for v in graph.outputs:
        if v.type.dtype == _F32:
            c.rw.substitute(v, c.output(v))
    return dce(c.rw.finish())


@dataclass(frozen=True)
class CastPrecision:
    """The pass object for pipelines: `CastPrecision("bfloat16")(graph)`."""

    dtype: LowDType = "float16"

    def __call__(self, graph: Graph) -> Graph:
        return cast_precision(graph, self.dtype)
