"""Values, nodes and graphs.

A `Value` is an SSA value with a `TensorType`: a graph input, a `Param`
(trainable weight, state, or constant, holding its data), or the output of a `Node`.
A `Node` checks its attributes against the op's schema and computes its output
types with the op's type rule when it is made: ill-typed IR cannot be built.
Values compare by identity; names are for people, feeds and weight files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import numpy as np

from .attrs import AttrError, make_attrs, non_default_attrs
from .opdef import OpDef, get_op
from .types import DType, TensorType


class IRError(ValueError):
    """Ill-formed IR: a type rule failed, an attribute is wrong, SSA is broken."""


class Value:
    """An SSA value. `node` is set for node outputs (with `index` among its outputs)."""

    __slots__ = ("type", "name", "node", "index")

    def __init__(self, type: TensorType, name: Optional[str] = None):
        if not isinstance(type, TensorType):
            raise TypeError(f"Value type must be a TensorType, got {type!r}")
        self.type = type
        self.name = name
        self.node: Optional[Node] = None
        self.index = 0

    @property
    def shape(self):
        return self.type.shape

    @property
    def dtype(self) -> DType:
        return self.type.dtype

    def __repr__(self) -> str:
        return f"%{self.name or '?'}: {self.type}"


class Param(Value):
    """A weight, state or constant with its data.

    - trainable: a weight; gradients are taken with respect to it;
    - state (not trainable): a variable the program updates (batch-norm moving
      statistics, RNG counters, optimizer slots); never folded as a constant;
    - otherwise a constant, which passes may fold and merge.
    """

    __slots__ = ("data", "trainable", "state")

    def __init__(self, name: str, data=None, *, type: Optional[TensorType] = None,
                 trainable: bool = True, state: bool = False):
        if data is not None:
            data = np.asarray(data)
            t = TensorType(data.shape, DType.of(data.dtype))
            if type is not None and type != t:
                raise IRError(f"param %{name}: declared {type} but data is {t}")
            type = t
        if type is None:
            raise IRError(f"param %{name}: needs data or a type")
        super().__init__(type, name)
        if trainable and state:
            raise IRError(f"param %{name}: a weight is either trainable or state, not both")
        self.data = data
        self.trainable = trainable
        self.state = state

    @property
    def is_const(self) -> bool:
        return not (self.trainable or self.state)

    @property
    def kind(self) -> str:
        """The text form's prefix: '' for weights, 'state ' or 'const '."""
        return "" if self.trainable else "state " if self.state else "const "

    def __repr__(self) -> str:
        return f"{self.kind}%{self.name}: {self.type}"


def _format_value_types(types) -> str:
    return ", ".join(str(t) for t in types)


class Node:
    """One op application. Output types come from the op's type rule, now."""

    __slots__ = ("op", "inputs", "attrs", "outputs", "name")

    def __init__(self, op, inputs: Sequence[Value], attrs=None, *, name: Optional[str] = None,
                 output_names: Optional[Sequence[Optional[str]]] = None):
        self.op: OpDef = op if isinstance(op, OpDef) else get_op(op)
        self.inputs = tuple(inputs)
        self.name = name
        for i, v in enumerate(self.inputs):
            if not isinstance(v, Value):
                raise IRError(f"{self._where()}: input {i} is not a Value: {v!r}")
        n = self.op.num_inputs
        if n is not None and len(self.inputs) != n:
            raise IRError(f"{self._where()}: expects {n} input(s), got {len(self.inputs)}")
        try:
            self.attrs = make_attrs(self.op.attrs, attrs or {}, where=self.op.name)
        except AttrError as e:
            raise IRError(f"{self._where()}: {e}") from None
        types = self._infer()
        names = list(output_names or [None] * len(types))
        self.outputs = tuple(self._output(t, i, names[i] if i < len(names) else None)
                             for i, t in enumerate(types))

    def _output(self, t: TensorType, i: int, name) -> Value:
        v = Value(t, name)
        v.node, v.index = self, i
        return v

    def _infer(self) -> tuple[TensorType, ...]:
        in_types = [v.type for v in self.inputs]
        try:
            out = self.op.infer(self.attrs, *in_types)
        except (ValueError, TypeError, IndexError) as e:
            raise IRError(f"{self._where()}({_format_value_types(in_types)}): {e}") from None
        out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if self.op.num_outputs is not None and len(out) != self.op.num_outputs:
            raise IRError(f"{self._where()}: type rule gave {len(out)} outputs, "
                          f"op declares {self.op.num_outputs}")
        return out

    def _where(self) -> str:
        return f"node {self.name!r} ({self.op.name})" if self.name else f"op {self.op.name}"

    @property
    def output(self) -> Value:
        if len(self.outputs) != 1:
            raise IRError(f"{self._where()} has {len(self.outputs)} outputs")
        return self.outputs[0]

    def non_default_attrs(self) -> dict:
        return non_default_attrs(self.attrs)

    def __repr__(self) -> str:
        return f"Node({self.op.name}, {len(self.inputs)} in, {len(self.outputs)} out)"


@dataclass
class Graph:
    """A function: inputs and params in, outputs out; `updates` maps a state param to
    the value that replaces it after each call (training state)."""

    name: str
    inputs: list[Value]
    params: list[Param]
    nodes: list[Node]
    outputs: list[Value]
    updates: dict = field(default_factory=dict)  # Param -> Value

    @property
    def input_names(self) -> list[str]:
        return [v.name for v in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """Each output's own name, or output_<i> when unnamed or clashing."""
        names, seen = [], set()
        for i, v in enumerate(self.outputs):
            n = v.name if v.name and v.name not in seen else f"output_{i}"
            seen.add(n)
            names.append(n)
        return names

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"graph @{self.name} has no param %{name}")

    def values(self) -> Iterable[Value]:
        yield from self.inputs
        yield from self.params
        for n in self.nodes:
            yield from n.outputs

    def __str__(self) -> str:
        from .text import print_graph

        return print_graph(self)
