"""`import_onnx`: an ONNX model in, an `aot.ir.Graph` out.

The walk keeps, per ONNX tensor name, either an IR `Value` or a numpy array (a
constant known at import time). Converters emit registry ops through `Ctx.emit`,
which folds an op whose inputs are all known with the op's own numpy reference:
shape-computing subgraphs (Shape -> Gather -> Concat -> Reshape...) disappear.
A shape with symbolic dims is an int64 array of dtype object holding ints and
symbolic dims (names or expressions, see `aot.ir.dims`), so the common
`reshape(x, concat(shape(x)[:1], [-1]))` still folds, and so does arithmetic on
them: `batch * heads` becomes the dim "2*batch".
Ops without a converter but with a function body in their schema are expanded
into that body (onnx's own definitions) and converted node by node.
"""
from __future__ import annotations

import re
from typing import Optional, Union

import numpy as np
import onnx
from onnx import numpy_helper

from aot.ir import DType, Graph, GraphBuilder, IRError, Param, TensorType, Value, dims, get_op
from aot.ir.attrs import AttrError, make_attrs

from . import loader
from .errors import ONNXImportError, node_label
from .registry import lookup

Tensor = Union[Value, np.ndarray]

ONNX_TO_DTYPE = {
    onnx.TensorProto.FLOAT: DType.float32, onnx.TensorProto.DOUBLE: DType.float64,
    onnx.TensorProto.FLOAT16: DType.float16, onnx.TensorProto.BFLOAT16: DType.bfloat16,
    onnx.TensorProto.INT64: DType.int64, onnx.TensorProto.INT32: DType.int32,
    onnx.TensorProto.INT16: DType.int16, onnx.TensorProto.INT8: DType.int8,
    onnx.TensorProto.UINT64: DType.uint64, onnx.TensorProto.UINT32: DType.uint32,
    onnx.TensorProto.UINT16: DType.uint16, onnx.TensorProto.UINT8: DType.uint8,
    onnx.TensorProto.BOOL: DType.bool,
    onnx.TensorProto.FLOAT8E4M3FN: DType.float8_e4m3, onnx.TensorProto.FLOAT8E5M2: DType.float8_e5m2,
    onnx.TensorProto.FLOAT8E4M3FNUZ: DType.float8_e4m3fnuz,
    onnx.TensorProto.FLOAT8E5M2FNUZ: DType.float8_e5m2fnuz,
    onnx.TensorProto.FLOAT8E8M0: DType.float8_e8m0,
    onnx.TensorProto.INT4: DType.int4, onnx.TensorProto.UINT4: DType.uint4,
    onnx.TensorProto.INT2: DType.int2, onnx.TensorProto.UINT2: DType.uint2,
    onnx.TensorProto.FLOAT4E2M1: DType.float4_e2m1,
}
KIND_DOC = {"aot:weight": "weight", "aot:const": "const", "aot:state": "state"}


def import_onnx(source, *, name: Optional[str] = None) -> Graph:
    """Import an ONNX model (a path or a ModelProto) as a Graph.

    Raises ONNXImportError (one line) for anything malformed or unsupported."""
    model, _ = loader.load_model(source)
    loader.check_opset(model)
    model = loader.inline_functions(model)
    opset = loader.default_opset(model)
    loader.refuse_unsupported(model.graph, opset)
    loader.check_model(model)
    model = loader.infer_shapes(model)
    graph_name = name or _identifier(model.graph.name or "onnx_model")
    imp = Importer(graph_name, opset)
    imp.declared = _declared_shapes(model.graph)
    return imp.convert_graph(model.graph)


def _declared_shapes(g: onnx.GraphProto) -> dict:
    """Static shapes the model declares or onnx's shape inference found, by tensor name."""
    out = {}
    for vi in list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if tt is None or not tt.HasField("shape"):
            continue
        if all(d.HasField("dim_value") for d in tt.shape.dim):
            out[vi.name] = tuple(int(d.dim_value) for d in tt.shape.dim)
    for init in g.initializer:
        out.setdefault(init.name, tuple(int(d) for d in init.dims))
    _shapes_back(g, out)
    return out


# ops whose (first) output has the shape of their first input
_SAME_SHAPE = {"Cast", "CastLike", "Sqrt", "Log", "Exp", "Cos", "Sin", "Neg", "Abs", "Relu",
               "Sigmoid", "Tanh", "Identity", "Reciprocal", "Floor", "Ceil", "Round", "Sign",
               "Not", "Erf", "Softplus", "IsNaN", "IsInf"}
_BROADCAST = {"Add", "Sub", "Mul", "Div", "Pow"}


def _shapes_back(g: onnx.GraphProto, out: dict) -> None:
    """Shapes onnx's inference leaves open (run-time axes, limits) carried back from a declared
    consumer: through shape-preserving unary ops, and through binary ops whose other operand is
    a scalar (rank 0), where the output's shape is exactly this input's. Only what is certain."""
    for node in reversed(g.node):
        if not node.output or node.output[0] not in out:
            continue
        s = out[node.output[0]]
        if node.op_type in _SAME_SHAPE and node.input and node.input[0]:
            out.setdefault(node.input[0], s)
        elif node.op_type in _BROADCAST and len(node.input) == 2:
            a, b = node.input
            if out.get(b) == () and a not in out:
                out[a] = s
            elif out.get(a) == () and b not in out:
                out[b] = s


def onnx_dtype(elem_type: int, where: str) -> DType:
    if elem_type not in ONNX_TO_DTYPE:
        name = onnx.TensorProto.DataType.Name(elem_type) if elem_type else "undefined"
        raise ONNXImportError(f"{where}: element type {name} is not supported")
    return ONNX_TO_DTYPE[elem_type]


def _identifier(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return s if s and not s[0].isdigit() else f"s_{s}"


class Importer:
    """The conversion walk, and the context every converter receives (`ctx`)."""

    def __init__(self, name: str, opset: int):
        self.b = GraphBuilder(name)
        self.opset = opset
        self.env: dict[str, Tensor] = {}
        self.node: Optional[onnx.NodeProto] = None
        self._materialized: dict[int, tuple[np.ndarray, Param]] = {}
        self._symbols: set[str] = set()
        self._fresh = 0
        self._outputs_done: set = set()
        self.declared: dict = {}
        self._const_names: dict[int, str] = {}

    # ------------------------------------------------------------ the walk

    def convert_graph(self, g: onnx.GraphProto) -> Graph:
        inits = {t.name for t in g.initializer}
        for t in g.initializer:
            self._initializer(t)
        for vi in g.input:
            if vi.name not in inits:
                self.env[vi.name] = self.b.input(vi.name, self._value_type(vi))
        self.convert_nodes(g.node, self.opset)
        outputs = [self._graph_output(vi) for vi in g.output]
        return self.b.build(outputs)

    def convert_nodes(self, nodes, opset: int) -> None:
        for node in nodes:
            self.convert_node(node, opset)

    def convert_node(self, node: onnx.NodeProto, opset: int) -> None:
        for name in node.input:
            if name and name not in self.env:
                raise ONNXImportError(f"{node_label(node)}: input {name!r} is not defined "
                                      "by any earlier node, initializer or graph input")
        fn = lookup(node.op_type, opset, node.domain)
        saved, saved_opset = self.node, self.opset
        self.node, self.opset = node, opset
        try:
            if fn is None:
                self._expand_function(node, opset)
            else:
                self._run_converter(fn, node)
        finally:
            self.node, self.opset = saved, saved_opset

    def _run_converter(self, fn, node) -> None:
        try:
            out = fn(self, node)
        except ONNXImportError:
            raise
        except (IRError, AttrError, ValueError, TypeError, IndexError, KeyError) as e:
            raise ONNXImportError(f"{node_label(node)}: {_short(e)}") from None
        if out is not None:
            self.set_outputs(out)

    def _expand_function(self, node, opset: int) -> None:
        from .functions import expand

        body, body_opset = expand(self, node, opset)
        self.convert_nodes(body, body_opset)

    # ------------------------------------------------------------ inputs, outputs, params

    def _initializer(self, t: onnx.TensorProto) -> None:
        dtype = onnx_dtype(t.data_type, f"initializer {t.name!r}")
        try:
            data = numpy_helper.to_array(t)
        except Exception as e:
            raise ONNXImportError(f"initializer {t.name!r}: cannot read its data "
                                  f"({_short(e)})") from None
        if data.dtype != dtype.numpy:
            data = data.astype(dtype.numpy)
        kind = KIND_DOC.get(t.doc_string) or ("weight" if dtype.is_float else "const")
        if kind == "const":  # a param only if some node needs it as a value (see `value`)
            self.env[t.name] = data
            self._const_names[id(data)] = t.name
            return
        self.env[t.name] = self.b.param(t.name, data, trainable=kind == "weight",
                                        state=kind == "state")

    def _value_type(self, vi: onnx.ValueInfoProto) -> TensorType:
        if not vi.type.HasField("tensor_type"):
            kind = vi.type.WhichOneof("value")
            raise ONNXImportError(f"graph input {vi.name!r}: {kind} values are not supported "
                                  "(only tensors)")
        tt = vi.type.tensor_type
        dtype = onnx_dtype(tt.elem_type, f"graph input {vi.name!r}")
        if not tt.HasField("shape"):
            raise ONNXImportError(f"graph input {vi.name!r}: has no shape (its rank is needed)")
        return TensorType([self._dim(d) for d in tt.shape.dim], dtype)

    def _dim(self, d) -> Union[int, str]:
        if d.HasField("dim_value"):
            return int(d.dim_value)
        if d.HasField("dim_param") and d.dim_param:
            sym = _identifier(d.dim_param)
            self._symbols.add(sym)
            return sym
        return self.fresh_symbol()

    def fresh_symbol(self) -> str:
        while True:
            self._fresh += 1
            sym = f"d{self._fresh}"
            if sym not in self._symbols:
                self._symbols.add(sym)
                return sym

    def _graph_output(self, vi: onnx.ValueInfoProto) -> Value:
        if vi.name not in self.env:
            raise ONNXImportError(f"graph output {vi.name!r} is not produced by any node")
        t = self.env[vi.name]
        v = self.value(t)
        if v.node is None or v in self._outputs_done:
            v = self.b.emit("reshape", v, shape=v.type.shape)  # a copy with the output's name
        v.name = vi.name
        self._outputs_done.add(v)
        return v

    # ------------------------------------------------------------ the converter API

    def attr(self, name: str, default=None):
        for a in self.node.attribute:
            if a.name == name:
                return onnx.helper.get_attribute_value(a)
        return default

    def attr_str(self, name: str, default: str = "") -> str:
        v = self.attr(name, None)
        return v.decode() if isinstance(v, bytes) else (default if v is None else str(v))

    def has_input(self, i: int) -> bool:
        return i < len(self.node.input) and self.node.input[i] != ""

    def input(self, i: int) -> Optional[Tensor]:
        """The i-th input (a Value or a known numpy array), None when absent."""
        return self.env[self.node.input[i]] if self.has_input(i) else None

    def inputs(self) -> list[Optional[Tensor]]:
        return [self.input(i) for i in range(len(self.node.input))]

    def const(self, i: int, what: str = "") -> Optional[np.ndarray]:
        """The i-th input's value, which must be known at import time (None when absent)."""
        t = self.input(i)
        if t is None:
            return None
        if isinstance(t, Param) and t.data is not None:
            return np.asarray(t.data)
        if isinstance(t, np.ndarray):
            return t
        raise ONNXImportError(f"{node_label(self.node)}: input {i} ({what or self.node.input[i]}) "
                              "must be a constant known at import time; it is computed at run "
                              "time, and shapes in our IR are fixed when compiling")

    def is_const(self, i: int) -> bool:
        t = self.input(i)
        return t is None or isinstance(t, np.ndarray) or (isinstance(t, Param) and t.data is not None)

    def declared_shape(self, k: int = 0):
        """The static shape the model declares for output k (None when not static)."""
        if k < len(self.node.output):
            return self.declared.get(self.node.output[k])
        return None

    def ints(self, i: int, what: str = "") -> Optional[tuple]:
        c = self.const(i, what)
        return None if c is None else tuple(_dim_item(v) for v in np.asarray(c).reshape(-1))

    def type(self, t: Tensor) -> TensorType:
        if isinstance(t, Value):
            return t.type
        dtype = DType.int64 if t.dtype == object else DType.of(t.dtype)
        return TensorType(t.shape, dtype)

    def value(self, t: Tensor) -> Value:
        """An IR value for t: a known array becomes a constant param (once)."""
        if isinstance(t, Value):
            return t
        hit = self._materialized.get(id(t))
        if hit is not None:
            return hit[1]
        if t.dtype == object:
            t = _concrete(t, self.node)
        name = self._const_names.get(id(t))
        if name is None:
            name = self.node.output[0] if self.node is not None and self.node.output else "const"
        p = self.b.const(t, dtype=DType.of(t.dtype), name=name)
        self._materialized[id(t)] = (t, p)
        return p

    def emit(self, op: str, *inputs: Tensor, **attrs):
        """Emit a registry op; with every input known, fold it with the op's reference."""
        if all(isinstance(t, np.ndarray) for t in inputs):
            return self._fold(op, inputs, attrs)
        vals = [self.value(t) for t in inputs]
        name = self.node.name or None if self.node is not None else None
        return self.b.emit(op, *vals, name=name, **attrs)

    def _fold(self, op: str, arrays, attrs):
        if any(a.dtype == object for a in arrays):
            return _fold_symbolic(self, op, arrays, attrs)
        opdef = get_op(op)
        a = make_attrs(opdef.attrs, attrs, where=op)
        types = opdef.infer(a, *[self.type(x) for x in arrays])
        out = opdef.reference(a, *arrays)
        if isinstance(types, (tuple, list)):
            return tuple(_as_type(o, t) for o, t in zip(out, types))
        return _as_type(out, types)

    def set_outputs(self, out) -> None:
        outs = out if isinstance(out, (tuple, list)) else (out,)
        for name, t in zip(self.node.output, outs):
            if name and t is not None:
                if isinstance(t, Value) and t.node is not None and t.name is None:
                    t.name = name
                self.env[name] = t

    def fail(self, message: str) -> ONNXImportError:
        return ONNXImportError(f"{node_label(self.node)}: {message}")


_SENTINEL = -(10 ** 15)


_DIM_ARITH = {"add": dims.add, "subtract": dims.sub, "multiply": dims.mul,
              "divide": dims.floordiv, "floor_divide": dims.floordiv}


def _fold_dim_arith(op: str, arrays) -> np.ndarray:
    """+ - * // elementwise on int arrays holding symbolic dims: the results are dims
    (ints where they come out constant), as an int64 array when no symbol is left."""
    a, b = np.broadcast_arrays(*(x.astype(object) for x in arrays))
    out = np.frompyfunc(_DIM_ARITH[op], 2, 1)(a, b)
    out = np.asarray(out, dtype=object).reshape(a.shape)
    if all(isinstance(v, int) for v in out.reshape(-1)):
        return out.astype(np.int64)
    return out


def _fold_symbolic(ctx, op: str, arrays, attrs):
    """Fold a shape op over arrays holding symbolic dims. Arithmetic computes new dims
    (`_fold_dim_arith`); any other op runs its reference with each symbolic dim standing in
    as a distinct sentinel int, mapped back after, so it may only move dims around."""
    if op in _DIM_ARITH and len(arrays) == 2 and all(a.dtype == object or a.dtype.kind in "iu"
                                                      for a in arrays):
        return _fold_dim_arith(op, arrays)
    syms = sorted({v for a in arrays for v in a.reshape(-1) if isinstance(v, str)})
    code = {s: _SENTINEL - k for k, s in enumerate(syms)}
    back = {v: s for s, v in code.items()}
    ints = [np.vectorize(lambda v: code.get(v, v), otypes=[np.int64])(a) if a.dtype == object
            else a for a in arrays]
    out = ctx._fold(op, ints, attrs)
    outs = out if isinstance(out, tuple) else (out,)
    res = []
    for o in outs:
        flat = o.reshape(-1)
        if any(v <= _SENTINEL // 2 and v not in back for v in flat.tolist()):
            raise ValueError(f"{op} computes with the symbolic dim(s) {', '.join(syms)}; only "
                             "+ - * and // of dims can be folded into shapes")
        if any(v in back for v in flat.tolist()):
            o = np.asarray([back.get(v, v) for v in flat.tolist()], dtype=object).reshape(o.shape)
        res.append(o)
    return tuple(res) if isinstance(out, tuple) else res[0]


def _as_type(arr, t: TensorType) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype == object:
        return arr
    return arr.astype(t.dtype.numpy, copy=False) if arr.dtype != t.dtype.numpy else arr


def _dim_item(v):
    return v if isinstance(v, str) else int(v)


def _concrete(arr: np.ndarray, node) -> np.ndarray:
    syms = sorted({v for v in arr.reshape(-1) if isinstance(v, str)})
    if syms:
        where = node_label(node) if node is not None else "a graph output"
        raise ONNXImportError(f"{where}: needs the run-time size of symbolic dim(s) "
                              f"{', '.join(syms)} as data; only shapes may carry symbols")
    return arr.astype(np.int64)


def _short(e: BaseException) -> str:
    text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    text = text.strip()
    return text.splitlines()[0] if text else type(e).__name__
