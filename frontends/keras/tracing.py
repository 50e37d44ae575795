"""The tracing machinery under the Keras builder: weights, symbolic tensors, the
active `GraphBuilder`, and Keras-style names.

A layer's `call` never computes: it emits IR nodes into the builder of the
active `Trace`. A `KerasTensor` wraps the IR `Value` it stands for; a
`Variable` holds a weight's numpy data and becomes a `Param` of the graph the
first time a trace uses it. Outside any trace, KerasTensors are *symbolic*
(functional-model construction): they carry only a type and the layer call
that made them (`_history`), and models replay those calls into a trace later.
"""
from __future__ import annotations

import contextlib
import itertools
import re
from typing import Any, Callable, Optional

import numpy as np

from aot.ir import DType, GraphBuilder, Param, TensorType, Value

BATCH = "N"  # the batch dimension's symbol: any batch size

# ------------------------------------------------------------------ names

_UIDS: dict[str, int] = {}


def unique_object_name(prefix: str) -> str:
    """Keras's auto names: "dense", then "dense_1", "dense_2", ..."""
    n = _UIDS.get(prefix, 0)
    _UIDS[prefix] = n + 1
    return prefix if n == 0 else f"{prefix}_{n}"


def to_snake_case(name: str) -> str:
    """Keras's class-name to layer-name rule: "Conv2DTranspose" -> "conv2d_transpose"."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def clear_session() -> None:
    """Reset auto-naming (as `keras.backend.clear_session()`): the next Dense is "dense" again."""
    _UIDS.clear()


# ------------------------------------------------------------------ weights

_VERSIONS = itertools.count(1)


class Variable:
    """A layer weight: numpy data owned by the layer, a Param of every graph traced from it.

    `assign` replaces the array (never writes in place), so graphs traced earlier keep the
    data they were traced with, and bumps `version`, which is how models notice that a
    compiled module is stale.
    """

    def __init__(self, value: np.ndarray, name: str, path: str, trainable: bool = True):
        self._value = np.asarray(value)
        self.name = name
        self.path = path
        self.trainable = trainable
        self.version = next(_VERSIONS)
        self._param = None  # ((version, trainable), Param): see as_param

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._value.shape)

    @property
    def dtype(self) -> str:
        return self._value.dtype.name

    def numpy(self) -> np.ndarray:
        return self._value.copy()

    def as_param(self, owner_trainable: bool = True) -> Param:
        """The Param for this variable at its current value. A variable is never a constant:
        a trainable weight of a trainable layer is a weight, anything else (moving statistics,
        seed counters, frozen weights) is state. Traces of the same model at the same values
        (its inference and training graphs) get the same Param object, which is how the
        entries of one artifact share their weights and state."""
        trainable = self.trainable and owner_trainable
        key = (self.version, trainable)
        if self._param is None or self._param[0] != key or self._param[1].data is not self._value:
            self._param = (key, Param(self.path, self._value, trainable=trainable,
                                      state=not trainable))
        return self._param[1]

    @property
    def value(self) -> np.ndarray:
        return self._value

    def assign(self, value) -> None:
        arr = np.asarray(value)
        if tuple(arr.shape) != self.shape:
            raise ValueError(f"variable {self.path!r} has shape {self.shape}, "
                             f"cannot assign a value of shape {tuple(arr.shape)}")
        self._value = np.array(arr, dtype=self._value.dtype, copy=True)
        self.version = next(_VERSIONS)

    def __array__(self, dtype=None, copy=None):
        return self._value if dtype is None else self._value.astype(dtype)

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}>"


# ------------------------------------------------------------------ tensors

class KerasTensor:
    """A symbolic tensor. In a trace, `value` is an IR Value of that trace's graph; outside
    one (functional construction) it is an unattached Value that only carries the type,
    and `_history` = (layer call node, output index) says where it came from."""

    __array_priority__ = 100  # numpy defers `array + tensor` to our operators

    def __init__(self, value: Value, trace: Optional["Trace"] = None, history=None):
        self.value = value
        self.trace = trace
        self._history = history
        self._layer = None  # the layer whose call produced it (names graph outputs)

    @property
    def type(self) -> TensorType:
        return self.value.type

    @property
    def shape(self) -> tuple:
        """Keras-style: None for the batch (and any other symbolic) dim."""
        return tuple(None if isinstance(d, str) else d for d in self.value.type.shape)

    @property
    def dtype(self) -> str:
        return self.value.type.dtype.value

    @property
    def ndim(self) -> int:
        return self.value.type.rank

    @property
    def name(self) -> Optional[str]:
        return self.value.name

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}>"

    def __hash__(self):
        return id(self)

    # Arithmetic emits ops (aot.frontends.keras.ops); imported lazily to avoid a cycle.
    def _op(self, name, *args):
        from . import ops

        return getattr(ops, name)(*args)

    def __add__(self, o): return self._op("add", self, o)
    def __radd__(self, o): return self._op("add", o, self)
    def __sub__(self, o): return self._op("subtract", self, o)
    def __rsub__(self, o): return self._op("subtract", o, self)
    def __mul__(self, o): return self._op("multiply", self, o)
    def __rmul__(self, o): return self._op("multiply", o, self)
    def __truediv__(self, o): return self._op("divide", self, o)
    def __rtruediv__(self, o): return self._op("divide", o, self)
    def __pow__(self, o): return self._op("power", self, o)
    def __matmul__(self, o): return self._op("matmul", self, o)
    def __rmatmul__(self, o): return self._op("matmul", o, self)
    def __neg__(self): return self._op("negative", self)
    def __abs__(self): return self._op("abs", self)
    def __lt__(self, o): return self._op("less", self, o)
    def __gt__(self, o): return self._op("greater", self, o)
    def __le__(self, o): return self._op("less_equal", self, o)
    def __ge__(self, o): return self._op("greater_equal", self, o)

    def __getitem__(self, key):
        from . import ops

        return ops.getitem(self, key)


def keras_shape(t: TensorType) -> tuple:
    return tuple(None if isinstance(d, str) else d for d in t.shape)


def ir_shape(shape, where: str = "input") -> tuple:
    """A Keras shape (None for unknown) as IR dims: the batch is "N", other unknowns get
    their own symbol."""
    dims, base = [], re.sub(r"\W", "_", where)
    for i, d in enumerate(shape):
        if d is None:
            dims.append(BATCH if i == 0 else f"{base}_d{i}")
        else:
            dims.append(int(d))
    return tuple(dims)


# ------------------------------------------------------------------ traces

class Trace:
    """One active tracing: a GraphBuilder, the Params made from Variables so far, and the
    layer-name scope (nodes are labelled "dense/matmul")."""

    def __init__(self, builder: GraphBuilder, training: bool = False):
        self.builder = builder
        self.training = training
        self._params: dict[int, Value] = {}
        self._scopes: list[str] = []
        self._updates: dict[int, tuple[Variable, Value]] = {}  # id(var) -> (var, new value)

    def input(self, name: str, type: TensorType) -> KerasTensor:
        return KerasTensor(self.builder.input(name, type), self)

    def param(self, var: Variable) -> Value:
        """The Param standing for `var` in this graph (made once, named by its path)."""
        p = self._params.get(id(var))
        if p is None:
            owner = getattr(var, "_layer", None)
            p = self.builder.add_param(var.as_param(owner is None or owner.trainable))
            self._params[id(var)] = p
        return p

    def param_of(self, var: Variable) -> Optional[Value]:
        """The Param made for `var`, if this trace used it."""
        return self._params.get(id(var))

    # State changes (training): BatchNormalization's moving statistics, Dropout's counter.

    def read_state(self, var: Variable) -> Value:
        """`var` as a call sees it now: its pending new value if an earlier call in this
        trace updated it (a layer used twice), else its Param."""
        pending = self._updates.get(id(var))
        return pending[1] if pending is not None else self.param(var)

    def update_state(self, var: Variable, value) -> None:
        """After the graph runs, `var` becomes `value` (a KerasTensor or Value of var's type)."""
        value = value.value if isinstance(value, KerasTensor) else value
        param = self.param(var)
        if value.type != param.type:
            raise ValueError(f"update of {var.path!r}: new value is {value.type}, "
                             f"the variable is {param.type}")
        self._updates[id(var)] = (var, value)

    def updates(self) -> dict:
        """{Param: new Value} for the graph's `updates`."""
        return {self._params[id(var)]: v for var, v in self._updates.values()}

    def variable_updates(self) -> list[tuple[Variable, Value]]:
        """(Variable, new Value) pairs: how an eager call writes the new state back."""
        return list(self._updates.values())

    def const(self, data, dtype) -> Value:
        arr = np.asarray(data, dtype=DType.of(dtype).numpy)
        return self.builder.const(arr, name=self._label("const"))

    def emit(self, op: str, inputs, attrs) -> tuple[KerasTensor, ...]:
        node = self.builder.emit_node(op, inputs, attrs, name=self._label(op))
        return tuple(KerasTensor(v, self) for v in node.outputs)

    def _label(self, op: str) -> str:
        return "/".join(self._scopes + [op])

    @contextlib.contextmanager
    def scope(self, name: str):
        self._scopes.append(name)
        try:
            yield
        finally:
            self._scopes.pop()


_TRACES: list[Trace] = []


def current_trace() -> Optional[Trace]:
    return _TRACES[-1] if _TRACES else None


@contextlib.contextmanager
def tracing(builder: GraphBuilder, training: bool = False):
    """Make `builder` the target of every layer call and op inside the block."""
    trace = Trace(builder, training)
    _TRACES.append(trace)
    try:
        yield trace
    finally:
        _TRACES.pop()


# ------------------------------------------------------------------ nested structures

def flatten(struct) -> list:
    """Leaves of nested lists, tuples and dicts (dicts in key order), left to right."""
    if isinstance(struct, (list, tuple)):
        return [leaf for s in struct for leaf in flatten(s)]
    if isinstance(struct, dict):
        return [leaf for k in struct for leaf in flatten(struct[k])]
    return [struct]


def map_structure(fn: Callable[[Any], Any], struct):
    if isinstance(struct, (list, tuple)):
        return type(struct)(map_structure(fn, s) for s in struct)
    if isinstance(struct, dict):
        return {k: map_structure(fn, v) for k, v in struct.items()}
    return fn(struct)


def tensors_in(*structs) -> list[KerasTensor]:
    return [x for s in structs for x in flatten(s) if isinstance(x, KerasTensor)]
