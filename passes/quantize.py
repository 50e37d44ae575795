"""int8 quantization: the pass that turns float layers into integer kernels.

A *layer* is an anchor op with constant float weights (matmul with a 2-D weight, NHWC conv2d
with an HWIO kernel, depthwise included), then optionally the bias `add` of a constant that
broadcasts along the last axis, then optionally a `relu`, each the only reader of the one
before. `find_layers` names them (the anchor node's name).

Static mode (`QuantizeStatic`, ranges from `passes.quantize_calibrate.calibrate`):

    x -> quantize(sx, zx) -> qmatmul/qconv2d(w_q, zx) -> add(bias_q) -> requantize(sx*sw/sy, zy)
      [-> maximum(zy) for a relu whose zero point is above the range's floor] -> dequantize(sy, zy)

The real scales are kept as metadata attrs (qmatmul/qconv2d `x_scale`, `w_scales`; requantize
`y_scale`), which the computation ignores and the ONNX QDQ export needs: between two int8 layers
no other trace of them survives. Weights are symmetric int8 per output channel (scale max|w_c| / 127), the bias int32 at
scale sx*sw, activations per tensor: asymmetric uint8 (the VNNI u8 x s8 form) or symmetric
int8. A quantize of a value that is already held quantized (the previous layer's requantize,
possibly through reshape / transpose / unpadded max_pool2d, which commute with quantization)
is folded away: consecutive layers stay in int8 and the dequantize in between is dead code.
Everything else runs in float between dequantize and quantize.

Dynamic mode (`QuantizeDynamic`): weights int8 as above, each matmul's input quantized at run
time to uint8 from its own min/max (ONNX DynamicQuantizeLinear), the int32 result dequantized
with sx*sw; bias and activation stay float. For matmul-heavy models (transformer, LSTM).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

import numpy as np

from aot.ir.graph import Graph, Node, Param, Value
from aot.ir.types import DType

from .dce import dce
from .rewrite import Rewriter

ActDType = Literal["uint8", "int8"]
_Q_RANGE = {"uint8": (0, 255), "int8": (-128, 127)}
_PASS_THROUGH = ("reshape", "transpose", "squeeze", "expand_dims", "max_pool2d")


class QuantizeError(ValueError):
    """The graph cannot be quantized as asked (missing calibration, constant activation)."""


# ---------------------------------------------------------------- layers

@dataclass
class Layer:
    """An anchor node with its fused bias add and relu; `out` is the last float value."""

    name: str
    anchor: Node
    weight: np.ndarray
    bias: Optional[np.ndarray] = None
    bias_node: Optional[Node] = None
    relu: Optional[Node] = None

    @property
    def x(self) -> Value:
        return self.anchor.inputs[0]

    @property
    def out(self) -> Value:
        last = self.relu or self.bias_node or self.anchor
        return last.outputs[0]

    @property
    def nodes(self) -> list[Node]:
        return [n for n in (self.anchor, self.bias_node, self.relu) if n is not None]


def const_value(v: Value, cache: dict) -> Optional[np.ndarray]:
    """v's data when it is computed from params alone (weights count: this is inference);
    a reshaped kernel (depthwise conv) evaluates through the op's reference."""
    if v in cache:
        return cache[v]
    if isinstance(v, Param):
        out = None if v.state or v.data is None else np.asarray(v.data)
    elif v.node is None or v.node.op.name in ("random_uniform", "random_normal"):
        out = None
    else:
        args = [const_value(i, cache) for i in v.node.inputs]
        out = None if any(a is None for a in args) else _evaluate(v.node, args)[v.index]
    cache[v] = out
    return out


def _evaluate(node: Node, args) -> list:
    out = node.op.reference(node.attrs, *args)
    out = out if isinstance(out, (tuple, list)) else (out,)
    return [np.asarray(a).astype(v.type.dtype.numpy) for a, v in zip(out, node.outputs)]


def _readers(graph: Graph) -> dict:
    readers: dict = {}
    for n in graph.nodes:
        for v in n.inputs:
            readers.setdefault(v, []).append(n)
    return readers


def _anchor_weight(node: Node, cache: dict) -> Optional[np.ndarray]:
    """The constant float weight of a quantizable anchor, or None."""
    x = node.inputs[0] if node.inputs else None
    if x is None or x.type.dtype != DType.float32:
        return None
    if node.op.name == "matmul" and node.inputs[1].type.rank == 2 and x.type.rank >= 2:
        return const_value(node.inputs[1], cache)
    if node.op.name == "conv2d" and node.attrs.layout == "NHWC":
        return const_value(node.inputs[1], cache)
    return None


def _only_reader(v: Value, readers: dict, outputs: set, op: str) -> Optional[Node]:
    rs = readers.get(v, [])
    if len(rs) == 1 and id(v) not in outputs and rs[0].op.name == op:
        return rs[0]
    return None


def _bias_of(add: Node, out: Value, cache: dict) -> Optional[np.ndarray]:
    """The bias of `add(out, b)` or `add(b, out)`: a constant that broadcasts along the last axis."""
    other = add.inputs[1] if add.inputs[0] is out else add.inputs[0]
    if other is out:
        return None
    b = const_value(other, cache)
    c = out.type.shape[-1]
    if b is None or add.outputs[0].type != out.type or b.size != c:
        return None
    if any(d != 1 for d in b.shape[:-1]) or (b.ndim and b.shape[-1] != c):
        return None
    return b.reshape(c).astype(np.float64)


def _layer_name(node: Node, i: int, graph: Graph) -> str:
    """The builder's `layer/op` node names give the layer's name; others the node's own."""
    if not node.name:
        return f"{node.op.name}_{i}"
    head, _, tail = node.name.rpartition("/")
    clash = any(n is not node and (n.name or "").startswith(head + "/") and
                n.op.name in ("matmul", "conv2d") for n in graph.nodes)
    return head if head and tail == node.op.name and not clash else node.name


def find_layers(graph: Graph) -> list[Layer]:
    """Every quantizable layer of `graph`, in node order."""
    cache, readers, outputs = {}, _readers(graph), {id(v) for v in graph.outputs}
    layers = []
    for i, node in enumerate(graph.nodes):
        w = _anchor_weight(node, cache)
        if w is None:
            continue
        layer = Layer(_layer_name(node, i, graph), node, w)
        add = _only_reader(node.outputs[0], readers, outputs, "add")
        if add is not None:
            layer.bias = _bias_of(add, node.outputs[0], cache)
            layer.bias_node = add if layer.bias is not None else None
        layer.relu = _only_reader(layer.out, readers, outputs, "relu")
        layers.append(layer)
    return layers


# ---------------------------------------------------------------- parameters

def weight_qparams(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel (last axis) int8: (w_q, scales)."""
    amax = np.abs(w.astype(np.float64)).reshape(-1, w.shape[-1]).max(axis=0)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale.astype(np.float64)), -127, 127).astype(np.int8)
    return q, scale


def activation_qparams(lo: float, hi: float, dtype: ActDType, where: str) -> tuple[float, int]:
    """(scale, zero point) for a calibrated range: asymmetric uint8 (0 inside the range) or
    symmetric int8. A constant activation has no scale: that is an error naming it."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if not np.isfinite([lo, hi]).all():
        raise QuantizeError(f"{where}: calibration range [{lo}, {hi}] is not finite")
    if hi == lo:
        raise QuantizeError(f"{where}: the activation is constant ({hi}) over the calibration "
                            "data, so it has no int8 scale; give more varied calibration data "
                            "or keep the layer in float")
    if dtype == "int8":
        return float(np.float32(max(-lo, hi) / 127.0)), 0
    scale = float(np.float32((hi - lo) / 255.0))
    return scale, int(np.clip(np.rint(-lo / scale), 0, 255))


# ---------------------------------------------------------------- the passes

@dataclass
class QuantizeResult:
    """The quantized graph, and for each quantized layer the (float, quantized-graph) values of
    its output: what the accuracy report compares."""

    graph: Graph
    # name -> (float Value of the input graph, its value in the quantized graph, and when that
    # is int8 its scale and zero point)
    layers: dict = field(default_factory=dict)
    kept_float: dict = field(default_factory=dict)  # name -> reason


class _Emitter:
    """Rewriter plus the quantized twins of float values: {old Value: (q Value, scale, zp)}."""

    def __init__(self, graph: Graph, act: ActDType):
        self.rw, self.act, self.held, self.small = Rewriter(graph), act, {}, {}
        self.outputs = {id(v): v.name for v in graph.outputs}

    def const(self, data, name):
        """A new const param; scalars are shared (one param per distinct value and dtype)."""
        data = np.asarray(data)
        if data.ndim:
            return self.rw.const(data, name)
        key = (data.dtype.str, data.tobytes())
        if key not in self.small:
            if data.dtype.kind in "iu":  # zero points and floors: named by value
                name = f"{DType.of(data.dtype).short}_{int(data)}"
            self.small[key] = self.rw.const(data, name)
        return self.small[key]

    def emit(self, op, inputs, name, output_name=None, **attrs) -> Value:
        names = [output_name] if output_name else None
        return self.rw.emit(op, inputs, attrs, name=name, output_names=names).outputs[0]

    def quantized(self, v: Value, qparams, name: str) -> tuple:
        """v as int8: its quantized twin when it has one (q(dq(q)) folds to q), else a
        quantize with `qparams()`."""
        if v in self.held:
            return self.held[v]
        s, z = qparams()
        q = self.emit("quantize", [self.rw.value(v), self.const(np.float32(s), f"{name}/x_scale"),
                                   self.const(np.int32(z), f"{name}/x_zero_point")],
                      f"{name}/quantize", dtype=self.act)
        self.held[v] = (q, s, z)
        return self.held[v]

    def pass_through(self, node: Node) -> None:
        """Reshape-like ops and max pooling commute with quantization: keep a quantized twin."""
        x = node.inputs[0]
        if node.op.name not in _PASS_THROUGH or x not in self.held or len(node.outputs) != 1:
            return
        if node.op.name == "max_pool2d" and any(node.attrs.padding):
            return
        q, s, z = self.held[x]
        twin = self.rw.emit(node.op, [q, *map(self.rw.value, node.inputs[1:])], node.attrs,
                            name=f"{node.name or node.op.name}/int8")
        self.held[node.outputs[0]] = (twin.outputs[0], s, z)


def _integer_kernel(e: _Emitter, layer: Layer, xq: Value, zx: int, wq: np.ndarray,
                    scales: dict) -> Value:
    """The qmatmul / qconv2d of a layer; `scales` (x_scale, w_scales) are the metadata attrs
    that let the exporter write the layer as ONNX QDQ."""
    name, a = layer.name, layer.anchor
    w = e.const(wq, f"{name}/w_int8")
    zp = e.const(np.int32(zx), f"{name}/x_zero_point")
    if a.op.name == "matmul":
        return e.emit("qmatmul", [xq, w, zp], f"{name}/qmatmul", **scales)
    attrs = {k: getattr(a.attrs, k) for k in ("strides", "padding", "dilation", "groups")}
    return e.emit("qconv2d", [xq, w, zp], f"{name}/qconv2d", **attrs, **scales)


def _static_layer(e: _Emitter, layer: Layer, ranges: dict) -> Value:
    name = layer.name
    xq, sx, zx = e.quantized(layer.x, lambda: activation_qparams(
        *_range(ranges, layer.x, name), e.act, f"layer {name!r} input"), name)
    sy, zy = activation_qparams(*_range(ranges, layer.out, name), e.act, f"layer {name!r} output")
    wq, sw = weight_qparams(layer.weight)
    acc = _integer_kernel(e, layer, xq, zx, wq, {"x_scale": sx, "w_scales": sw.tolist()})
    if layer.bias is not None:
        bq = np.clip(np.rint(layer.bias / (np.float64(sx) * sw)), -2 ** 31, 2 ** 31 - 1)
        acc = e.emit("add", [acc, e.const(bq.astype(np.int32), f"{name}/bias_i32")], f"{name}/bias")
    mult = (np.float64(sx) * sw.astype(np.float64) / sy).astype(np.float32)
    dt = DType.of(e.act)
    yq = e.emit("requantize", [acc, e.const(mult, f"{name}/multiplier"),
                               e.const(np.int32(zy), f"{name}/y_zero_point")],
                f"{name}/requantize", dtype=dt, y_scale=sy)
    if layer.relu is not None and zy > _Q_RANGE[e.act][0]:
        yq = e.emit("maximum", [yq, e.const(np.asarray(zy, dt.numpy), f"{name}/relu_floor")],
                    f"{name}/relu")
    e.held[layer.out] = (yq, sy, zy)
    return e.emit("dequantize", [yq, e.const(np.float32(sy), f"{name}/y_scale"),
                                 e.const(np.int32(zy), f"{name}/y_zp")],
                  f"{name}/dequantize", e.outputs.get(id(layer.out)))


def _range(ranges: dict, v: Value, layer: str) -> tuple[float, float]:
    if v not in ranges:
        raise QuantizeError(f"layer {layer!r}: no calibration range for %{v.name or '?'}; "
                            "calibrate this graph (the same Graph object) first")
    return ranges[v]


def _dynamic_layer(e: _Emitter, layer: Layer) -> Value:
    """uint8 from the input's own min/max at run time; the int32 result back to float."""
    name, a = layer.name, layer.anchor
    x = e.rw.value(layer.x)
    zero = e.const(np.float32(0), f"{name}/zero")
    lo = e.emit("minimum", [e.emit("min", [x], f"{name}/x_min"), zero], f"{name}/x_lo")
    hi = e.emit("maximum", [e.emit("max", [x], f"{name}/x_max"), zero], f"{name}/x_hi")
    span = e.emit("divide", [e.emit("subtract", [hi, lo], f"{name}/x_span"),
                             e.const(np.float32(255), f"{name}/levels")], f"{name}/x_step")
    sx = e.emit("maximum", [span, e.const(np.float32(1e-30), f"{name}/tiny")], f"{name}/x_scale")
    zf = e.emit("round", [e.emit("divide", [e.emit("neg", [lo], f"{name}/x_neg_lo"), sx],
                                 f"{name}/x_zp_f")], f"{name}/x_zp_round")
    zf = e.emit("clip", [zf], f"{name}/x_zp_clip", min=0.0, max=255.0)
    zx = e.emit("cast", [zf], f"{name}/x_zp", dtype=DType.int32)
    xq = e.emit("quantize", [x, sx, zx], f"{name}/quantize", dtype=DType.uint8)
    wq, sw = weight_qparams(layer.weight)
    acc = e.emit("qmatmul", [xq, e.const(wq, f"{name}/w_int8"), zx], f"{name}/qmatmul")
    scale = e.emit("multiply", [sx, e.const(sw, f"{name}/w_scale")], f"{name}/acc_scale")
    y = e.emit("dequantize", [acc, scale, e.const(np.int32(0), f"{name}/acc_zp")],
               f"{name}/dequantize", e.outputs.get(id(a.outputs[0])))
    return y


def quantize_graph(graph: Graph, ranges: Optional[dict] = None, *, mode: str = "static",
                   activations: ActDType = "uint8", keep_float=()) -> QuantizeResult:
    """The quantized graph (dead float code removed) and its layer map. `ranges`:
    {float Value of `graph`: (lo, hi)} from calibration (static mode only)."""
    if mode == "static" and ranges is None:
        raise QuantizeError("static quantization needs calibration ranges (calibrate first)")
    e, result = _Emitter(graph, activations), QuantizeResult(graph)
    todo = {}
    for layer in find_layers(graph):
        if layer.name in keep_float:
            result.kept_float[layer.name] = "kept in float (asked)"
        elif mode == "dynamic" and layer.anchor.op.name != "matmul":
            result.kept_float[layer.name] = "dynamic mode quantizes matmuls only"
        else:
            todo[layer.anchor] = layer
    skip = set()
    for node in graph.nodes:
        if node in skip:
            continue
        layer = todo.get(node)
        if layer is None:
            e.rw.keep(node)
            e.pass_through(node)
            continue
        if mode == "static":
            e.rw.substitute(layer.out, _static_layer(e, layer, ranges))
            skip.update(layer.nodes)
            result.layers[layer.name] = (layer.out, *e.held[layer.out])
        else:
            y = _dynamic_layer(e, layer)
            e.rw.substitute(node.outputs[0], y)
            result.layers[layer.name] = (node.outputs[0], y, None, None)
    result.graph = dce(e.rw.finish())
    return result


@dataclass(frozen=True)
class QuantizeStatic:
    """Post-training static int8 with calibrated activation ranges (see the module doc)."""

    ranges: dict
    activations: ActDType = "uint8"
    keep_float: tuple = ()

    def __call__(self, graph: Graph) -> Graph:
        return quantize_graph(graph, self.ranges, activations=self.activations,
                              keep_float=self.keep_float).graph


@dataclass(frozen=True)
class QuantizeDynamic:
    """int8 weights, each matmul's input quantized at run time (see the module doc)."""

    keep_float: tuple = ()

    def __call__(self, graph: Graph) -> Graph:
        return quantize_graph(graph, mode="dynamic", keep_float=self.keep_float).graph


quantize_dynamic = QuantizeDynamic()
