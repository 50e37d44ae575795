"""int8 quantization: the pass that turns float layers into integer kernels.

A *layer* is an anchor op with constant float weights (matmul with a 2-D weight, NHWC conv2d
with an HWIO kernel, depthwise included), then any chain of adds, subtracts and multiplies by
constants that broadcast along the last axis (a bias; an inference BatchNorm, whose moving
statistics are constants here), then relu / clip (ReLU6), each the only reader of the one
before. The affine chain folds into the weights (per output channel) and an int32 bias, the
activations into integer clamps: the layer reads and writes int8 with no float in between,
and a BatchNorm's scale lands in the per-channel weight scales rather than in the output's
range. `find_layers` names them (the anchor node's name).

Static mode (`QuantizeStatic`, ranges from `passes.quantize_calibrate.calibrate`):

    x -> quantize(sx, zx) -> qmatmul/qconv2d(w_q, zx) -> add(bias_q) -> requantize(sx*sw/sy, zy)
      [-> maximum(floor)] [-> minimum(ceiling)] -> dequantize(sy, zy)

The real scales are kept as metadata attrs (qmatmul/qconv2d `x_scale`, `w_scales`; requantize
`y_scale`), which the computation ignores and the ONNX QDQ export needs: between two int8 layers
no other trace of them survives. Weights are symmetric int8 per output channel (scale max|w_c| / 127), the bias int32 at
scale sx*sw, activations per tensor: asymmetric uint8 (the VNNI u8 x s8 form) or symmetric
int8. A quantize of a value that is already held quantized (the previous layer's requantize,
possibly through reshape / transpose / unpadded max_pool2d, which commute with quantization)
is folded away: consecutive layers stay in int8 and the dequantize in between is dead code.
Everything else runs in float between dequantize and quantize. `bias_shift` (from
`quantize_calibrate.bias_corrections`) takes each layer's mean rounding error off its bias.

Dynamic mode (`QuantizeDynamic`): weights int8 as above, each matmul's input quantized at run
time to uint8 from its own min/max (ONNX DynamicQuantizeLinear), the int32 result dequantized
with sx*sw; bias and activation stay float. For matmul-heavy models (transformer, LSTM).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Optional

import numpy as np

from aot.ir.graph import Graph, Node, Param, Value
from aot.ir.types import DType

from .dce import dce
from .rewrite import Rewriter

ActDType = Literal["uint8", "int8"]
ACT_RANGE = {"uint8": (0, 255), "int8": (-128, 127)}
_PASS_THROUGH = ("reshape", "transpose", "squeeze", "expand_dims", "max_pool2d")


class QuantizeError(ValueError):
    """The graph cannot be quantized as asked (missing calibration, constant activation)."""


# ---------------------------------------------------------------- layers

@dataclass
class Layer:
    """An anchor node, the per-channel affine steps folded into it (a bias add, an inference
    BatchNorm's subtract / multiply / add) and the clamping activations after them (relu,
    clip: ReLU6). `out` is the last float value; `weight` is the anchor's own weight."""

    name: str
    anchor: Node
    weight: np.ndarray
    scale: Optional[np.ndarray] = None  # [C] factor of the folded multiplies (None: 1)
    bias: Optional[np.ndarray] = None  # [C] offset of the folded adds / subtracts
    affine: list = field(default_factory=list)  # the folded add / subtract / multiply nodes
    acts: list = field(default_factory=list)  # relu / clip nodes, clamps in the integer domain

    @property
    def x(self) -> Value:
        return self.anchor.inputs[0]

    @property
    def out(self) -> Value:
        return self.nodes[-1].outputs[0]

    @property
    def nodes(self) -> list[Node]:
        return [self.anchor, *self.affine, *self.acts]

    def folded_weight(self) -> np.ndarray:
        """The weight with the folded multiplies applied to its output channels (last axis)."""
        if self.scale is None:
            return self.weight
        return (self.weight.astype(np.float64) * self.scale).astype(self.weight.dtype)

    def bounds(self) -> tuple[float, float]:
        """The float interval the activations clamp `out` to."""
        lo, hi = -np.inf, np.inf
        for n in self.acts:
            if n.op.name == "relu":
                lo = max(lo, 0.0)
            else:
                lo, hi = max(lo, float(n.attrs.min)), min(hi, float(n.attrs.max))
        return lo, hi


def const_value(v: Value, cache: dict) -> Optional[np.ndarray]:
    """v's data when it is computed from params alone (weights and state such as BatchNorm's
    moving statistics count: this is inference); a reshaped kernel (depthwise conv) evaluates
    through the op's reference."""
    if v in cache:
        return cache[v]
    if isinstance(v, Param):
        out = None if v.data is None else np.asarray(v.data)
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


def _per_channel(node: Node, out: Value, cache: dict) -> Optional[np.ndarray]:
    """The other operand of a binary `node` reading `out`, as [C] float64, when it is a
    constant that broadcasts along the last axis (a scalar counts) and leaves the type alone."""
    other = node.inputs[1] if node.inputs[0] is out else node.inputs[0]
    if other is out or node.outputs[0].type != out.type:
        return None
    k = const_value(other, cache)
    c = out.type.shape[-1]
    if k is None or k.dtype.kind != "f" or not isinstance(c, int) or k.size not in (1, c):
        return None
    if k.size == c and k.ndim and (k.shape[-1] != c or any(d != 1 for d in k.shape[:-1])):
        return None
    return np.broadcast_to(k.astype(np.float64).reshape(-1), (c,)).copy()


def _affine_step(node: Node, out: Value, cache: dict) -> Optional[tuple]:
    """(m, a) with node(out) = out * m + a per channel, for a foldable add / subtract /
    multiply by a constant; None otherwise."""
    if node.op.name not in ("add", "subtract", "multiply"):
        return None
    k = _per_channel(node, out, cache)
    if k is None:
        return None
    if node.op.name == "multiply":
        return k, 0.0
    if node.op.name == "add":
        return 1.0, k
    return (1.0, -k) if node.inputs[0] is out else (-1.0, k)


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

    def next_reader(v: Value) -> Optional[Node]:
        rs = readers.get(v, [])
        return rs[0] if len(rs) == 1 and id(v) not in outputs else None

    layers = []
    for i, node in enumerate(graph.nodes):
        w = _anchor_weight(node, cache)
        if w is None:
            continue
        layer = Layer(_layer_name(node, i, graph), node, w)
        c = node.outputs[0].type.shape[-1]
        scale, bias = np.ones(c), np.zeros(c)
        nxt = next_reader(layer.out)
        while nxt is not None and (step := _affine_step(nxt, layer.out, cache)) is not None:
            scale, bias = scale * step[0], bias * step[0] + step[1]
            layer.affine.append(nxt)
            nxt = next_reader(layer.out)
        while nxt is not None and nxt.op.name in ("relu", "clip"):
            layer.acts.append(nxt)
            nxt = next_reader(layer.out)
        layer.scale = None if np.all(scale == 1) else scale
        layer.bias = bias if np.any(bias != 0) else None
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


def _static_layer(e: _Emitter, layer: Layer, ranges: dict, int8_out: bool = True,
                  shift: Optional[np.ndarray] = None) -> Value:
    """The layer as an integer kernel; its output requantized to int8 when an int8 layer reads
    it (`int8_out`), else dequantized straight from the int32 accumulator (logits, a
    residual add's operand): no rounding to 256 levels where nothing needs it."""
    name = layer.name
    if shift is not None:  # the bias correction: the mean error int8 rounding adds
        layer = replace(layer, bias=(0.0 if layer.bias is None else layer.bias) - shift)
    xq, sx, zx = e.quantized(layer.x, lambda: activation_qparams(
        *_range(ranges, layer.x, name), e.act, f"layer {name!r} input"), name)
    wq, sw = weight_qparams(layer.folded_weight())
    acc = _integer_kernel(e, layer, xq, zx, wq, {"x_scale": sx, "w_scales": sw.tolist()})
    if not int8_out:
        return _float_output(e, layer, acc, np.float64(sx) * sw.astype(np.float64))
    sy, zy = activation_qparams(*_range(ranges, layer.out, name), e.act, f"layer {name!r} output")
    if layer.bias is not None:
        bq = np.clip(np.rint(layer.bias / (np.float64(sx) * sw)), -2 ** 31, 2 ** 31 - 1)
        acc = e.emit("add", [acc, e.const(bq.astype(np.int32), f"{name}/bias_i32")], f"{name}/bias")
    mult = (np.float64(sx) * sw.astype(np.float64) / sy).astype(np.float32)
    dt = DType.of(e.act)
    yq = e.emit("requantize", [acc, e.const(mult, f"{name}/multiplier"),
                               e.const(np.int32(zy), f"{name}/y_zero_point")],
                f"{name}/requantize", dtype=dt, y_scale=sy)
    yq = _clamped(e, layer, yq, sy, zy, dt)
    e.held[layer.out] = (yq, sy, zy)
    return e.emit("dequantize", [yq, e.const(np.float32(sy), f"{name}/y_scale"),
                                 e.const(np.int32(zy), f"{name}/y_zp")],
                  f"{name}/dequantize", e.outputs.get(id(layer.out)))


def _float_output(e: _Emitter, layer: Layer, acc: Value, scale: np.ndarray) -> Value:
    """acc * (sx * sw) [+ bias] then the layer's own relu / clip nodes, in float."""
    name, out_name = layer.name, e.outputs.get(id(layer.out))
    last = not layer.acts and layer.bias is None
    y = e.emit("dequantize", [acc, e.const(scale.astype(np.float32), f"{name}/acc_scale"),
                              e.const(np.int32(0), f"{name}/acc_zp")], f"{name}/dequantize",
               out_name if last else None)
    if layer.bias is not None:
        y = e.emit("add", [y, e.const(layer.bias.astype(np.float32), f"{name}/bias")],
                   f"{name}/bias", out_name if not layer.acts else None)
    for i, n in enumerate(layer.acts):
        names = [out_name] if out_name and i == len(layer.acts) - 1 else None
        y = e.rw.emit(n.op, [y], n.attrs, name=n.name, output_names=names).outputs[0]
    return y


def _clamped(e: _Emitter, layer: Layer, yq: Value, sy: float, zy: int, dt: DType) -> Value:
    """The layer's relu / clip as integer max / min at the output's scale: relu's floor is
    the zero point, ReLU6's ceiling zy + 6 / sy; a bound outside the int8 range is a no-op."""
    qmin, qmax = ACT_RANGE[e.act]
    lo, hi = layer.bounds()
    if np.isfinite(lo) and (floor := int(np.clip(np.rint(lo / sy) + zy, qmin, qmax))) > qmin:
        yq = e.emit("maximum", [yq, e.const(np.asarray(floor, dt.numpy), f"{layer.name}/floor")],
                    f"{layer.name}/relu")
    if np.isfinite(hi) and (ceil := int(np.clip(np.rint(hi / sy) + zy, qmin, qmax))) < qmax:
        yq = e.emit("minimum", [yq, e.const(np.asarray(ceil, dt.numpy), f"{layer.name}/ceiling")],
                    f"{layer.name}/clip")
    return yq


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


# Dynamic mode adds a min, a max and a quantize over the input, and a dequantize, to each
# matmul: four small kernels. Measured here, an LSTM's recurrent matmul ([8, 64] x [64, 256]
# per step) ran the whole model 1.8x slower than float; the transformer's matmuls (>= 2M
# multiply-adds per sample) gain. Below this many per sample, the layer stays float.
DYNAMIC_MIN_MACS = 1 << 18


def _macs_per_sample(layer: Layer) -> int:
    """Multiply-adds of one sample: the static dims of the input but the last (a symbolic
    batch counts 1), times the weight's size."""
    rows = 1
    for d in layer.x.type.shape[:-1]:
        rows *= d if isinstance(d, int) else 1
    return rows * int(layer.weight.size)


def _read_as_int8(graph: Graph, layers) -> set:
    """The float values some quantized layer reads as its input, directly or through ops
    that commute with quantization (`_PASS_THROUGH`): the ones worth holding in int8."""
    wanted = {layer.x for layer in layers}
    for node in reversed(graph.nodes):
        if node.op.name in _PASS_THROUGH and len(node.outputs) == 1 and node.outputs[0] in wanted:
            wanted.add(node.inputs[0])
    return wanted


def quantize_graph(graph: Graph, ranges: Optional[dict] = None, *, mode: str = "static",
                   activations: ActDType = "uint8", keep_float=(),
                   bias_shift: Optional[dict] = None,
                   dynamic_min_macs: int = DYNAMIC_MIN_MACS) -> QuantizeResult:
    """The quantized graph (dead float code removed) and its layer map. `ranges`:
    {float Value of `graph`: (lo, hi)} from calibration (static mode only); `bias_shift`:
    {layer name: [C]} taken off each layer's bias (`quantize_calibrate.bias_corrections`);
    `dynamic_min_macs`: dynamic mode keeps smaller matmuls in float."""
    if mode == "static" and ranges is None:
        raise QuantizeError("static quantization needs calibration ranges (calibrate first)")
    e, result = _Emitter(graph, activations), QuantizeResult(graph)
    todo = {}
    for layer in find_layers(graph):
        if layer.name in keep_float:
            result.kept_float[layer.name] = "kept in float (asked)"
        elif mode == "dynamic" and layer.anchor.op.name != "matmul":
            result.kept_float[layer.name] = "dynamic mode quantizes matmuls only"
        elif mode == "dynamic" and (macs := _macs_per_sample(layer)) < dynamic_min_macs:
            result.kept_float[layer.name] = (f"{macs} multiply-adds per sample: too few to pay "
                                             "for quantizing its input at run time")
        else:
            todo[layer.anchor] = layer
    skip, int8_in = set(), _read_as_int8(graph, todo.values())
    for node in graph.nodes:
        if node in skip:
            continue
        layer = todo.get(node)
        if layer is None:
            e.rw.keep(node)
            e.pass_through(node)
            continue
        if mode == "static":
            int8_out = layer.out in int8_in
            shift = (bias_shift or {}).get(layer.name)
            e.rw.substitute(layer.out, _static_layer(e, layer, ranges, int8_out, shift))
            skip.update(layer.nodes)
            held = e.held[layer.out] if int8_out else (e.rw.value(layer.out), None, None)
            result.layers[layer.name] = (layer.out, *held)
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
    min_macs: int = DYNAMIC_MIN_MACS  # per sample; smaller matmuls stay float

    def __call__(self, graph: Graph) -> Graph:
        return quantize_graph(graph, mode="dynamic", keep_float=self.keep_float,
                              dynamic_min_macs=self.min_macs).graph


quantize_dynamic = QuantizeDynamic()
