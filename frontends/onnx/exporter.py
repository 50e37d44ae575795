"""`export_onnx`: our IR -> an ONNX model (opset 17, IR version 8) that onnx's checker
accepts and onnxruntime runs.

Each registry op has a writer emitting standard ONNX nodes. Channels-last convs and
pools become Transpose -> NCHW op -> Transpose (ONNX has no layout attribute); a re-import
comes back in that form and the inference pipeline's passes/layout.py folds it back into
the NHWC op (tests/onnx/test_export.py defines and checks "equal graph"). The int8 layers of
the quantize pass are written as QDQ or in ONNX's integer form (export_quant.py). Params become
initializers whose doc_string records their kind (weight, state, const) for the importer.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from aot.ir import DType, Graph, Param, verify

from .ops.elementwise import ONE_TO_ONE_BINARY, ONE_TO_ONE_UNARY

OPSET = 17
IR_VERSION = 8

DTYPE_TO_ONNX = {
    DType.float32: onnx.TensorProto.FLOAT, DType.float64: onnx.TensorProto.DOUBLE,
    DType.float16: onnx.TensorProto.FLOAT16, DType.bfloat16: onnx.TensorProto.BFLOAT16,
    DType.int64: onnx.TensorProto.INT64, DType.int32: onnx.TensorProto.INT32,
    DType.int16: onnx.TensorProto.INT16, DType.int8: onnx.TensorProto.INT8,
    DType.uint64: onnx.TensorProto.UINT64, DType.uint32: onnx.TensorProto.UINT32,
    DType.uint16: onnx.TensorProto.UINT16, DType.uint8: onnx.TensorProto.UINT8,
    DType.bool: onnx.TensorProto.BOOL, DType.float8_e4m3: onnx.TensorProto.FLOAT8E4M3FN,
    DType.float8_e5m2: onnx.TensorProto.FLOAT8E5M2,
}
# the importer's newer element types; a model using them exports at its own opset's IR version
DTYPE_TO_ONNX.update({
    DType.float8_e4m3fnuz: onnx.TensorProto.FLOAT8E4M3FNUZ, DType.float8_e5m2fnuz: onnx.TensorProto.FLOAT8E5M2FNUZ,
    DType.float8_e8m0: onnx.TensorProto.FLOAT8E8M0, DType.float4_e2m1: onnx.TensorProto.FLOAT4E2M1,
    DType.int4: onnx.TensorProto.INT4, DType.uint4: onnx.TensorProto.UINT4,
    DType.int2: onnx.TensorProto.INT2, DType.uint2: onnx.TensorProto.UINT2,
})


class ExportError(ValueError):
    """The graph uses something ONNX (at our opset) cannot express."""


QUANT_FORMATS = ("qdq", "integer")


def export_onnx(model_or_graph, path=None, *, quant_format: str = "qdq") -> onnx.ModelProto:
    """Write `model_or_graph` (a Graph or a Keras-style model) to `path`; return the model.

    `quant_format`: how the int8 layers of the quantize pass are written (export_quant.py).
    "qdq": float Conv / MatMul / Gemm between DequantizeLinear and QuantizeLinear with the real
    scales, as ONNX Runtime's quantizer writes them (and TensorRT / OpenVINO read them); equal
    to our int8 results within one quantization step. "integer": MatMulInteger / ConvInteger
    and a requantize, bit for bit ours. Graphs without int8 layers are the same in both."""
    from aot.driver import to_graph

    if quant_format not in QUANT_FORMATS:
        raise ExportError(f"quant_format must be one of {list(QUANT_FORMATS)}, "
                          f"got {quant_format!r}")
    graph = verify(to_graph(model_or_graph))
    writer = QDQWriter if quant_format == "qdq" else _Writer
    model = writer(graph).model()
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, str(Path(path)))
    return model


class _Writer:
    def __init__(self, graph: Graph):
        self.g = graph
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.names: dict[int, str] = {}
        self.used: set[str] = set()
        self.counter = 0

    def model(self) -> onnx.ModelProto:
        g = self.g
        inputs = [self._value_info(v, self.name(v)) for v in g.inputs]
        direct = self._name_outputs()
        for p in g.params:
            self._param(p)
        for node in g.nodes:
            self._node(node)
        outputs = []
        for out_name, v in zip(g.output_names, g.outputs):
            if out_name not in direct:
                self.nodes.append(helper.make_node("Identity", [self.name(v)], [out_name]))
            outputs.append(self._value_info(v, out_name))
        graph = helper.make_graph(self.nodes, g.name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="aot")
        model.ir_version = IR_VERSION
        return model

    def _name_outputs(self) -> set:
        """Node outputs take their graph output's name; the rest get an Identity later."""
        direct = set()
        self.used.update(self.g.output_names)
        for out_name, v in zip(self.g.output_names, self.g.outputs):
            if v.node is not None and id(v) not in self.names:
                self.names[id(v)] = out_name
                direct.add(out_name)
        return direct

    # -------------------------------------------------------------- names and consts

    def fresh(self, base: str = "t") -> str:
        while True:
            self.counter += 1
            name = f"{base}__{self.counter}"
            if name not in self.used:
                self.used.add(name)
                return name

    def name(self, v) -> str:
        key = id(v)
        if key not in self.names:
            base = v.name or "v"
            name = base if base not in self.used else self.fresh(base)
            self.used.add(name)
            self.names[key] = name
        return self.names[key]

    def const(self, data, dtype=None) -> str:
        arr = np.asarray(data, dtype=dtype)
        name = self.fresh("c")
        t = numpy_helper.from_array(arr, name)
        t.doc_string = "aot:const"
        self.inits.append(t)
        return name

    def ints(self, values) -> str:
        return self.const(np.asarray(list(values), dtype=np.int64))

    def emit(self, op: str, inputs, n_out: int = 1, outputs=None, **attrs):
        outs = outputs or [self.fresh(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, **attrs))
        return outs[0] if len(outs) == 1 else outs

    def _value_info(self, v, name):
        shape = [d if isinstance(d, int) else d for d in v.type.shape]
        return helper.make_tensor_value_info(name, DTYPE_TO_ONNX[v.type.dtype], shape)

    def _param(self, p: Param):
        if p.data is None:
            raise ExportError(f"param %{p.name} has no data to export")
        t = numpy_helper.from_array(np.asarray(p.data), self.name(p))
        t.doc_string = "aot:weight" if p.trainable else "aot:state" if p.state else "aot:const"
        self.inits.append(t)

    # -------------------------------------------------------------- nodes

    def _node(self, node):
        writer = WRITERS.get(node.op.name)
        if writer is None:
            raise ExportError(f"op {node.op.name} has no ONNX export (node {node.name!r})")
        ins = [self.name(v) for v in node.inputs]
        outs = [self.name(v) for v in node.outputs]
        writer(self, node, node.attrs, ins, outs)


def _simple(op_type, **fixed):
    def write(w, node, a, ins, outs):
        w.emit(op_type, ins, outputs=outs, **fixed)
    return write


def _attrs(op_type, **mapping):
    """Attributes copied by name: onnx_name=our_field."""
    def write(w, node, a, ins, outs):
        w.emit(op_type, ins, outputs=outs, **{k: getattr(a, f) for k, f in mapping.items()})
    return write


def _rsqrt(w, node, a, ins, outs):
    w.emit("Reciprocal", [w.emit("Sqrt", ins)], outputs=outs)


def _silu(w, node, a, ins, outs):
    w.emit("Mul", [ins[0], w.emit("Sigmoid", ins)], outputs=outs)


def _scalar(w, node, value):
    return w.const(np.asarray(value, dtype=node.inputs[0].type.dtype.numpy))


def _gelu(w, node, a, ins, outs):
    x = ins[0]
    e = w.emit("Erf", [w.emit("Div", [x, _scalar(w, node, math.sqrt(2.0))])])
    half = w.emit("Mul", [x, _scalar(w, node, 0.5)])
    w.emit("Mul", [half, w.emit("Add", [e, _scalar(w, node, 1.0)])], outputs=outs)


def _gelu_tanh(w, node, a, ins, outs):
    x = ins[0]
    cube = w.emit("Mul", [w.emit("Mul", [x, x]), x])
    inner = w.emit("Add", [x, w.emit("Mul", [cube, _scalar(w, node, 0.044715)])])
    t = w.emit("Tanh", [w.emit("Mul", [inner, _scalar(w, node, math.sqrt(2 / math.pi))])])
    half = w.emit("Mul", [x, _scalar(w, node, 0.5)])
    w.emit("Mul", [half, w.emit("Add", [t, _scalar(w, node, 1.0)])], outputs=outs)


def _clip(w, node, a, ins, outs):
    dt = node.inputs[0].type.dtype.numpy
    info = np.finfo(dt) if node.inputs[0].type.dtype.is_float else np.iinfo(dt)
    lo, hi = max(a.min, float(info.min)), min(a.max, float(info.max))
    w.emit("Clip", [ins[0], w.const(np.asarray(lo, dt)), w.const(np.asarray(hi, dt))],
           outputs=outs)


def _not_equal(w, node, a, ins, outs):
    w.emit("Not", [w.emit("Equal", ins)], outputs=outs)


def _floor_divide(w, node, a, ins, outs):
    if not node.inputs[0].type.dtype.is_float:
        raise ExportError("integer floor_divide has no direct ONNX form")
    w.emit("Floor", [w.emit("Div", ins)], outputs=outs)


def _cast(w, node, a, ins, outs):
    w.emit("Cast", ins, outputs=outs, to=DTYPE_TO_ONNX[a.dtype])


def _reshape(w, node, a, ins, outs):
    src = node.inputs[0].type.shape
    target = []
    for i, d in enumerate(node.outputs[0].type.shape):
        if isinstance(d, int):
            target.append(d)
        elif i < len(src) and src[i] == d:
            target.append(0)
        else:
            target.append(-1)
    if target.count(-1) > 1:
        raise ExportError(f"reshape to {node.outputs[0].type} moves more than one symbolic dim")
    w.emit("Reshape", [ins[0], w.ints(target)], outputs=outs)


def _transpose(w, node, a, ins, outs):
    perm = a.perm if a.perm is not None else tuple(reversed(range(node.inputs[0].type.rank)))
    w.emit("Transpose", ins, outputs=outs, perm=list(perm))


def _unsqueeze(w, node, a, ins, outs):
    w.emit("Unsqueeze", [ins[0], w.ints(a.axes)], outputs=outs)


def _squeeze(w, node, a, ins, outs):
    extra = [] if a.axes is None else [w.ints(a.axes)]
    w.emit("Squeeze", [ins[0], *extra], outputs=outs)


def _split(w, node, a, ins, outs):
    w.emit("Split", [ins[0], w.ints(a.sizes)], outputs=outs, axis=a.axis)


def _slice(w, node, a, ins, outs):
    n = len(a.starts)
    axes = a.axes if a.axes is not None else range(n)
    steps = a.steps if a.steps is not None else (1,) * n
    w.emit("Slice", [ins[0], w.ints(a.starts), w.ints(a.ends), w.ints(axes), w.ints(steps)],
           outputs=outs)


def _flip(w, node, a, ins, outs):
    n = len(a.axes)
    big = np.iinfo(np.int64).max
    w.emit("Slice", [ins[0], w.ints([-1] * n), w.ints([-big] * n), w.ints(a.axes),
                     w.ints([-1] * n)], outputs=outs)


def _reduce(op_type):
    def write(w, node, a, ins, outs):
        axes = a.axes if a.axes is not None else tuple(range(node.inputs[0].type.rank))
        if op_type == "ReduceSum":
            w.emit(op_type, [ins[0], w.ints(axes)], outputs=outs, keepdims=int(a.keepdims))
        else:
            w.emit(op_type, ins, outputs=outs, axes=list(axes), keepdims=int(a.keepdims))
    return write


def _arg(op_type):
    def write(w, node, a, ins, outs):
        w.emit(op_type, ins, outputs=outs, axis=a.axis, keepdims=int(a.keepdims),
               select_last_index=int(a.select_last_index))
    return write


def _pad(w, node, a, ins, outs):
    dt = node.inputs[0].type.dtype.numpy
    w.emit("Pad", [ins[0], w.ints(a.pads), w.const(np.asarray(a.value, dt))], outputs=outs,
           mode=a.mode)


def _tile(w, node, a, ins, outs):
    w.emit("Tile", [ins[0], w.ints(a.repeats)], outputs=outs)


def _broadcast_to(w, node, a, ins, outs):
    src = node.inputs[0].type.shape
    off = len(a.shape) - len(src)
    target = [d if isinstance(d, int) else 1 for d in a.shape]
    for i, d in enumerate(a.shape):
        if isinstance(d, str) and not (i >= off and src[i - off] == d):
            raise ExportError(f"broadcast_to a symbolic dim {d} the input lacks")
    w.emit("Expand", [ins[0], w.ints(target)], outputs=outs)


def _one_hot(w, node, a, ins, outs):
    values = w.const(np.asarray([a.off_value, a.on_value], dtype=a.dtype.numpy))
    w.emit("OneHot", [ins[0], w.ints([a.depth]), values], outputs=outs, axis=a.axis)


def _cumsum(w, node, a, ins, outs):
    w.emit("CumSum", [ins[0], w.const(np.asarray(a.axis, np.int64))], outputs=outs,
           exclusive=int(a.exclusive), reverse=int(a.reverse))


def _scatter(op_type):
    def write(w, node, a, ins, outs):
        extra = {"axis": a.axis} if hasattr(a, "axis") else {}
        if a.reduction != "none":
            extra["reduction"] = a.reduction
        w.emit(op_type, ins, outputs=outs, **extra)
    return write


# ---------------------------------------------------------------- convs and pools

def _to_nchw(w, name, rank):
    return w.emit("Transpose", [name], perm=[0, rank - 1] + list(range(1, rank - 1)))


def _from_nchw(w, name, rank, outs):
    w.emit("Transpose", [name], outputs=outs, perm=[0] + list(range(2, rank)) + [1])


def _channels_last(a) -> bool:
    return a.layout in ("NHWC", "NWC")


def _conv_common(a, sp):
    pads = list(a.padding)
    return dict(strides=list(a.strides), pads=pads, dilations=list(a.dilation), group=a.groups)


def _conv(w, node, a, ins, outs):
    rank = node.inputs[0].type.rank
    x, k = ins
    if not _channels_last(a):
        w.emit("Conv", [x, k], outputs=outs, **_conv_common(a, rank - 2))
        return
    # HWIO (or WIO) kernels -> OIHW
    k = w.emit("Transpose", [k], perm=[rank - 1, rank - 2] + list(range(rank - 2)))
    y = w.emit("Conv", [_to_nchw(w, x, rank), k], **_conv_common(a, rank - 2))
    _from_nchw(w, y, rank, outs)


def _conv_transpose(w, node, a, ins, outs):
    x, k = ins
    attrs = dict(_conv_common(a, 2), output_padding=list(a.output_padding))
    if not _channels_last(a):
        w.emit("ConvTranspose", [x, k], outputs=outs, **attrs)
        return
    k = w.emit("Transpose", [k], perm=[3, 2, 0, 1])  # H,W,out/g,in -> in,out/g,H,W
    y = w.emit("ConvTranspose", [_to_nchw(w, x, 4), k], **attrs)
    _from_nchw(w, y, 4, outs)


def _pool(op_type):
    def write(w, node, a, ins, outs):
        attrs = dict(kernel_shape=list(a.pool_size), strides=list(a.strides),
                     pads=list(a.padding), ceil_mode=int(a.ceil_mode))
        if op_type == "MaxPool":
            attrs["dilations"] = list(a.dilation)
        else:
            if tuple(a.dilation) != (1, 1):
                raise ExportError("a dilated average pool needs opset 19")
            attrs["count_include_pad"] = int(a.count_include_pad)
        if not _channels_last(a):
            w.emit(op_type, ins, outputs=outs, **attrs)
            return
        y = w.emit(op_type, [_to_nchw(w, ins[0], 4)], **attrs)
        _from_nchw(w, y, 4, outs)
    return write


WRITERS = {
    # one-to-one ops: the importer's name tables read backwards, plus those it converts
    # through special cases (variadic Max/Min, Pow's dtype rules, Selu's attributes ...)
    **{op: _simple(t) for t, op in {**ONE_TO_ONE_UNARY, **ONE_TO_ONE_BINARY}.items()},
    **{op: _simple(t) for op, t in {
        "isinf": "IsInf", "selu": "Selu", "power": "Pow", "maximum": "Max", "minimum": "Min",
        "where": "Where", "matmul": "MatMul"}.items()},
    "mod": _simple("Mod", fmod=0),
    "rsqrt": _rsqrt, "silu": _silu, "gelu": _gelu, "gelu_tanh": _gelu_tanh, "clip": _clip,
    "not_equal": _not_equal, "floor_divide": _floor_divide, "cast": _cast,
    "leaky_relu": _attrs("LeakyRelu", alpha="alpha"), "elu": _attrs("Elu", alpha="alpha"),
    "hard_sigmoid": _attrs("HardSigmoid", alpha="alpha", beta="beta"),
    "softmax": _attrs("Softmax", axis="axis"), "log_softmax": _attrs("LogSoftmax", axis="axis"),
    "reshape": _reshape, "transpose": _transpose, "expand_dims": _unsqueeze,
    "squeeze": _squeeze, "concat": _attrs("Concat", axis="axis"), "split": _split,
    "slice": _slice, "flip": _flip, "take": _attrs("Gather", axis="axis"),
    "gather_elements": _attrs("GatherElements", axis="axis"),
    "scatter_elements": _scatter("ScatterElements"), "scatter_nd": _scatter("ScatterND"),
    "sum": _reduce("ReduceSum"), "mean": _reduce("ReduceMean"), "max": _reduce("ReduceMax"),
    "min": _reduce("ReduceMin"), "prod": _reduce("ReduceProd"),
    "logsumexp": _reduce("ReduceLogSumExp"), "argmax": _arg("ArgMax"), "argmin": _arg("ArgMin"),
    "pad": _pad, "tile": _tile, "broadcast_to": _broadcast_to, "one_hot": _one_hot,
    "cumsum": _cumsum, "conv2d": _conv, "conv1d": _conv, "conv2d_transpose": _conv_transpose,
    "max_pool2d": _pool("MaxPool"), "avg_pool2d": _pool("AveragePool"),
}

# the integer ops of the quantize pass (their writers use the conv helpers above)
from .export_quant import QUANT_WRITERS, QDQWriter  # noqa: E402

WRITERS.update(QUANT_WRITERS)
