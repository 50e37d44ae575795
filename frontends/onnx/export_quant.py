"""ONNX writers for the integer ops of the quantize pass (aot/ops/quant.py), in two forms.

**QDQ** (`export_onnx(..., quant_format="qdq")`, the default): each quantized layer of the
static pass, qmatmul/qconv2d [-> add(int32 bias)] -> requantize [-> maximum] [-> minimum], is
written as ONNX Runtime's quantizer writes one, float ops between DequantizeLinear and
QuantizeLinear with the real scales (the metadata attrs the pass records: x_scale, w_scales,
y_scale):

    x_q -> DequantizeLinear(x_scale, x_zp) ----------------.
    w_int8 (initializer) -> DequantizeLinear(w_scales, 0, axis=out channel) -> Conv / MatMul /
    bias_int32 (initializer) -> DequantizeLinear(x_scale * w_scales, 0) ----'   Gemm (bias)
      -> QuantizeLinear(y_scale, y_zp) [-> DequantizeLinear -> Relu -> QuantizeLinear]

A conv's NHWC <-> NCHW transposes, and the int8 reshapes / transposes / max pools between
layers, run on dequantized values between QuantizeLinear -> DequantizeLinear pairs at the
tensor's scale (tensor-level QDQ, as ORT's quantizer writes it; exact, as these ops commute with
quantization). onnxruntime's optimizer fuses the groups into QLinearConv / QLinearMatMul /
QGemm and runs those ops on int8 again; the Q -> DQ pairs also let its s8 -> u8 rewrite reach
int8 activations on x86, where it fuses nothing otherwise.
Equivalence with our int8 graph is to one quantization step, not bit for bit: the fused
kernels recompute the multiplier x_scale * w_scale / y_scale in float32 (ours is rounded once
from float64), and unfused ones compute in float. A relu whose floor is the zero point
(symmetric int8) is DequantizeLinear -> Relu -> QuantizeLinear at the same scale, which is
exactly max(q, y_zp); other integer clamps (ReLU6) are a float Clip at the same bounds. Layers without the metadata (hand-written graphs, dynamic mode, whose
input scale is computed at run time) are written in the integer form below.

**Integer** (`quant_format="integer"`): each of our ops as the standard ops that compute
exactly what its reference computes, so onnxruntime's outputs equal ours bit for bit:

- quantize   -> QuantizeLinear (x / scale, round half to even, + zero point, saturate);
- dequantize -> DequantizeLinear ((q - zero point) * scale);
- qmatmul    -> MatMulInteger (int32 accumulation of (x - x_zero_point) * w);
- qconv2d    -> Transpose -> ConvInteger (pads read the zero point) -> Transpose, as float
  channels-last convs are written;
- requantize -> Cast(acc, float) -> Mul(multiplier) -> QuantizeLinear(scale 1, zero point):
  float32(acc) * multiplier rounded half to even, as our reference does.

Zero points are int32 in our IR and of the quantized type in ONNX (shaped like the scale);
constant ones are written as initializers of that type, computed ones through a Cast.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from onnx import TensorProto, numpy_helper

from aot.ir import DType, Node, Param

from .exporter import DTYPE_TO_ONNX, ExportError, _conv_common, _from_nchw, _to_nchw, _Writer


def _data(v):
    """v's data when it is a constant param (a scale or zero point known at export)."""
    if isinstance(v, Param) and v.is_const and v.data is not None:
        return np.asarray(v.data)
    return None


def _float32(w, v, name: str) -> str:
    """Scales and multipliers are float32 in ONNX's quantization ops."""
    if v.type.dtype == DType.float32:
        return name
    data = _data(v)
    if data is not None:
        return w.const(data.astype(np.float32))
    return w.emit("Cast", [name], to=TensorProto.FLOAT)


def _zero_point(w, v, name: str, dtype: DType, shape) -> str:
    """Zero point `v` (our int32) as `dtype`, of the scale's `shape` (ONNX asks that)."""
    data = _data(v)
    if data is not None:
        return w.const(np.broadcast_to(data, shape).astype(dtype.numpy))
    if v.type.shape != tuple(shape):
        raise ExportError(f"a computed zero point {v.type} with a scale of shape {shape} "
                          "has no ONNX form")
    return w.emit("Cast", [name], to=DTYPE_TO_ONNX[dtype])


def _quantize(w, node, a, ins, outs):
    x, scale, zp = node.inputs
    xn = ins[0] if x.type.dtype == DType.float32 else w.emit("Cast", [ins[0]], to=TensorProto.FLOAT)
    zn = _zero_point(w, zp, ins[2], a.dtype, scale.type.shape)
    w.emit("QuantizeLinear", [xn, _float32(w, scale, ins[1]), zn], outputs=outs, axis=a.axis)


def _dequantize(w, node, a, ins, outs):
    q, scale, zp = node.inputs
    zn = _zero_point(w, zp, ins[2], q.type.dtype, scale.type.shape)
    w.emit("DequantizeLinear", [ins[0], _float32(w, scale, ins[1]), zn], outputs=outs, axis=a.axis)


def _per_axis(w, v, name: str, axis: int, rank: int) -> str:
    """A 0-d or 1-D multiplier laid out to broadcast along `axis` of a rank-`rank` tensor."""
    if v.type.rank == 0 or v.type.shape == (1,):
        return name
    shape = [1] * rank
    shape[axis % rank] = -1
    data = _data(v)
    if data is not None:
        return w.const(data.astype(np.float32).reshape(shape))
    return w.emit("Reshape", [name, w.ints(shape)])


def _requantize(w, node, a, ins, outs):
    """round_half_even(float32(acc) * multiplier) + zero point, saturated: QuantizeLinear with
    scale 1 does the rounding, the zero point and the saturation exactly (x / 1 is x)."""
    acc, mult, zp = node.inputs
    y = w.emit("Mul", [w.emit("Cast", [ins[0]], to=TensorProto.FLOAT),
                       _per_axis(w, mult, _float32(w, mult, ins[1]), a.axis, acc.type.rank)])
    one = w.const(np.ones(zp.type.shape, np.float32))
    w.emit("QuantizeLinear", [y, one, _zero_point(w, zp, ins[2], a.dtype, zp.type.shape)],
           outputs=outs, axis=a.axis)


def _qmatmul(w, node, a, ins, outs):
    x, _, zp = node.inputs
    w.emit("MatMulInteger", [ins[0], ins[1], _zero_point(w, zp, ins[2], x.type.dtype, ())],
           outputs=outs)


def _qconv2d(w, node, a, ins, outs):
    """NHWC data and HWIO kernel, as the float channels-last conv is written."""
    x, _, zp = node.inputs
    k = w.emit("Transpose", [ins[1]], perm=[3, 2, 0, 1])
    zn = _zero_point(w, zp, ins[2], x.type.dtype, ())
    y = w.emit("ConvInteger", [_to_nchw(w, ins[0], 4), k, zn], **_conv_common(a, 2))
    _from_nchw(w, y, 4, outs)


QUANT_WRITERS = {"quantize": _quantize, "dequantize": _dequantize, "requantize": _requantize,
                 "qmatmul": _qmatmul, "qconv2d": _qconv2d}


# ---------------------------------------------------------------- QDQ layers

@dataclass(frozen=True)
class _QLayer:
    """A quantized layer of the static pass: anchor (qmatmul / qconv2d with its scale
    metadata) [-> add of an int32 bias [N]] -> requantize (with y_scale) [-> maximum(floor)]
    [-> minimum(ceiling)] (relu, ReLU6)."""

    anchor: Node
    bias: Optional[np.ndarray]
    requant: Node  # requantize, or the dequantize of a layer whose output is float
    clamps: tuple = ()  # the maximum / minimum nodes, in order

    @property
    def float_out(self) -> bool:
        return self.requant.op.name == "dequantize"

    @property
    def nodes(self) -> list:
        bias_add = self.requant.inputs[0].node if self.bias is not None else None
        return [n for n in (self.anchor, bias_add, self.requant, *self.clamps) if n is not None]

    @property
    def out(self):
        return (self.clamps[-1] if self.clamps else self.requant).outputs[0]

    def bound(self, op: str) -> Optional[int]:
        """The integer floor (op "maximum") or ceiling ("minimum"), None when absent."""
        n = next((n for n in self.clamps if n.op.name == op), None)
        return None if n is None else int(_data(n.inputs[1]))


def _single_reader(v, readers: dict, outputs: set):
    rs = readers.get(id(v), [])
    return rs[0] if len(rs) == 1 and id(v) not in outputs else None


def _bias(add: Node, acc, n: int) -> Optional[np.ndarray]:
    """The int32 constant of `add(acc, b)` that broadcasts along the last axis, as [n]."""
    other = add.inputs[1] if add.inputs[0] is acc else add.inputs[0]
    b = _data(other)
    if b is None or other is acc or b.dtype != np.int32 or b.size != n:
        return None
    if add.outputs[0].type != acc.type or (b.ndim and b.shape[-1] != n):
        return None
    return b.reshape(n)


def _qdq_layer(node: Node, readers: dict, outputs: set) -> Optional[_QLayer]:
    """`node`'s layer when it can be written as QDQ: its metadata is there, its weight and
    zero points are constants, and each step's only reader is the next one."""
    a, acc = node.attrs, node.outputs[0]
    n = acc.type.shape[-1]
    if not a.x_scale or len(a.w_scales) != n or _data(node.inputs[1]) is None:
        return None
    if _data(node.inputs[2]) is None:
        return None
    nxt, bias = _single_reader(acc, readers, outputs), None
    if nxt is not None and nxt.op.name == "add":
        bias = _bias(nxt, acc, n)
        if bias is None:
            return None
        acc, nxt = nxt.outputs[0], _single_reader(nxt.outputs[0], readers, outputs)
    if nxt is not None and nxt.op.name == "dequantize" and bias is None:
        return _float_out_layer(node, nxt, acc)
    if nxt is None or nxt.op.name != "requantize" or not nxt.attrs.y_scale:
        return None
    zy = _data(nxt.inputs[2])
    if zy is None or zy.size != 1 or nxt.inputs[0] is not acc:
        return None
    return _QLayer(node, bias, nxt, _clamps(nxt.outputs[0], readers, outputs))


def _float_out_layer(node: Node, dq: Node, acc) -> Optional[_QLayer]:
    """A layer whose int32 result is dequantized at x_scale * w_scales (zero point 0): its
    QDQ form is the float Conv / MatMul of the dequantized operands (bias and activation
    follow as float ops)."""
    scale, zp = _data(dq.inputs[1]), _data(dq.inputs[2])
    want = np.float32(node.attrs.x_scale) * np.asarray(node.attrs.w_scales, np.float32)
    if dq.inputs[0] is not acc or scale is None or zp is None or np.any(zp != 0):
        return None
    if not np.allclose(np.broadcast_to(scale.reshape(-1), want.shape), want, rtol=1e-6, atol=0):
        return None
    return _QLayer(node, None, dq)


def _clamps(y, readers: dict, outputs: set) -> tuple:
    """The maximum then minimum by scalar constants that follow the requantize, if any."""
    found = []
    for op in ("maximum", "minimum"):
        n = _single_reader(y, readers, outputs)
        if n is None or n.op.name != op or n.inputs[0] is not y:
            continue
        bound = _data(n.inputs[1])
        if bound is None or bound.size != 1:
            continue
        found.append(n)
        y = n.outputs[0]
    return tuple(found)


def qdq_layers(graph) -> dict:
    """{id(anchor node): _QLayer} for every layer of `graph` that has a QDQ form."""
    readers: dict = {}
    for node in graph.nodes:
        for v in node.inputs:
            readers.setdefault(id(v), []).append(node)
    outputs = {id(v) for v in graph.outputs}
    layers = (_qdq_layer(n, readers, outputs) for n in graph.nodes
              if n.op.name in ("qmatmul", "qconv2d"))
    return {id(q.anchor): q for q in layers if q is not None}


def _const(w, data, name: str) -> str:
    """An initializer named after what it holds (`layer/w_scale`), for readers of the file;
    one per distinct (name, value)."""
    data = np.asarray(data)
    key = (name, data.dtype.str, data.shape, data.tobytes())
    if key not in w.named_consts:
        t = numpy_helper.from_array(data, w.fresh(name) if name in w.used else name)
        w.used.add(t.name)
        t.doc_string = "aot:const"
        w.inits.append(t)
        w.named_consts[key] = t.name
    return w.named_consts[key]


def _dq(w, x: str, scale, zero_point, name: str, axis: Optional[int] = None) -> str:
    """DequantizeLinear; `axis` for per-channel (1-D) scales."""
    ins = [x, _const(w, scale, f"{name}_scale"), _const(w, zero_point, f"{name}_zero_point")]
    return w.emit("DequantizeLinear", ins, **({} if axis is None else {"axis": axis}))


def _q(w, y: str, scale, zero_point, name: str, outputs=None) -> str:
    ins = [y, _const(w, scale, f"{name}_scale"), _const(w, zero_point, f"{name}_zero_point")]
    return w.emit("QuantizeLinear", ins, outputs=outputs)


_PASS_THROUGH = ("reshape", "transpose", "squeeze", "expand_dims", "max_pool2d")


def _scalar_qparams(scale, zp, dtype: DType):
    """(float32 scale, zero point of `dtype`) of constant per-tensor ones, else None."""
    s, z = _data(scale), _data(zp)
    if s is None or z is None or s.size != 1 or z.size != 1:
        return None
    return np.float32(s.reshape(())), z.astype(dtype.numpy).reshape(())


def int8_scales(graph, layers: dict) -> dict:
    """{id(int8 Value): (scale, zero point)} where known at export: per-tensor quantizes, the
    outputs of QDQ layers, and through ops that commute with quantization (reshapes, max pool)."""
    known = {}
    for node in graph.nodes:
        op, out = node.op.name, node.outputs[0] if node.outputs else None
        if op == "quantize":
            qp = _scalar_qparams(node.inputs[1], node.inputs[2], node.attrs.dtype)
            if qp is not None:
                known[id(out)] = qp
        elif id(node) in layers and not layers[id(node)].float_out:
            q = layers[id(node)]
            zy = _data(q.requant.inputs[2]).astype(q.out.type.dtype.numpy).reshape(())
            known[id(q.out)] = (np.float32(q.requant.attrs.y_scale), zy)
        elif op in _PASS_THROUGH and id(node.inputs[0]) in known and len(node.outputs) == 1:
            known[id(out)] = known[id(node.inputs[0])]
    return known


def _requantized(w, y: str, scale, zp, name: str) -> str:
    """Q then DQ: the tensor-level QDQ pair of a float value `y` that is int8 in our graph."""
    return _dq(w, _q(w, y, scale, zp, name), scale, zp, name)


def _write_layer(w, q: _QLayer) -> None:
    """One layer as DQ(x), DQ(w), DQ(bias) -> Conv / Gemm / MatMul(+Add) -> Q [-> DQ Relu Q].
    A conv's NHWC <-> NCHW transposes run on dequantized values between QDQ pairs."""
    node, a = q.anchor, q.anchor.attrs
    x, conv = node.inputs[0], node.op.name == "qconv2d"
    sx, sw = np.float32(a.x_scale), np.asarray(a.w_scales, np.float32)
    zx = _data(node.inputs[2]).astype(x.type.dtype.numpy).reshape(())
    n, layer = sw.size, (node.name or node.op.name).rpartition("/")[0] or node.op.name
    xf = _dq(w, w.name(x), sx, zx, f"{layer}/x")
    ins = [_requantized(w, _to_nchw(w, xf, 4), sx, zx, f"{layer}/x") if conv else xf]
    wq = _data(node.inputs[1])
    wq = np.ascontiguousarray(wq.transpose(3, 2, 0, 1)) if conv else wq
    wname = f"{layer}/w_int8_oihw" if conv else f"{layer}/w_int8"
    ins.append(_dq(w, _const(w, wq, wname), sw, np.zeros(n, np.int8), f"{layer}/w",
                   axis=0 if conv else 1))
    if q.bias is not None:
        ins.append(_dq(w, _const(w, q.bias, f"{layer}/bias_int32"), sx * sw,
                       np.zeros(n, np.int32), f"{layer}/bias", axis=0))
    if conv:
        y = w.emit("Conv", ins, **_conv_common(a, 2))
    elif q.bias is not None and x.type.rank == 2:
        y = w.emit("Gemm", ins)
    else:
        y = w.emit("MatMul", ins[:2])
        y = w.emit("Add", [y, ins[2]]) if q.bias is not None else y
    if q.float_out:  # no output QuantizeLinear: the layer's result is float in our graph too
        if conv:
            w.emit("Transpose", [y], perm=[0, 2, 3, 1], outputs=[w.name(q.out)])
        else:
            w.emit("Identity", [y], outputs=[w.name(q.out)])
        return
    rq = q.requant
    sy = np.float32(rq.attrs.y_scale)
    zy = _data(rq.inputs[2]).astype(rq.outputs[0].type.dtype.numpy).reshape(())
    floor, ceil = q.bound("maximum"), q.bound("minimum")
    if floor == int(zy) and ceil is None:  # max(q, zy) = quantize(relu(dequantize(q)))
        y = w.emit("Relu", [_requantized(w, y, sy, zy, f"{layer}/y")])
    elif q.clamps:  # clamps at float bounds on the same grid: exact after QuantizeLinear
        bounds = ["" if b is None else _const(w, np.float32((b - int(zy)) * sy), f"{layer}/{k}")
                  for b, k in ((floor, "clip_min"), (ceil, "clip_max"))]
        y = w.emit("Clip", [_requantized(w, y, sy, zy, f"{layer}/y"), *bounds])
    if conv:
        y = w.emit("Transpose", [_requantized(w, y, sy, zy, f"{layer}/y")], perm=[0, 2, 3, 1])
    _q(w, y, sy, zy, f"{layer}/y", [w.name(q.out)])


def _write_pass_through(w, node, qparams) -> None:
    """An int8 reshape / transpose / max pool as DQ -> the float op -> Q at the same scale
    (exact: they commute with quantization), the tensor-level QDQ form."""
    writer = w.WRITERS[node.op.name]
    ins = [w.name(v) for v in node.inputs]
    y = w.fresh(node.op.name)
    name = node.name or node.op.name
    writer(w, node, node.attrs, [_dq(w, ins[0], *qparams, f"{name}/x"), *ins[1:]], [y])
    _q(w, y, *qparams, f"{name}/y", [w.name(node.outputs[0])])


class QDQWriter(_Writer):
    """The exporter, writing each layer that `qdq_layers` finds as QDQ, and int8 ops that
    commute with quantization between DQ and Q where the scale is known; the other nodes as
    `_Writer` does (other int8 ops in the integer form). The params of those layers that no
    ONNX node reads (the requantize multipliers, HWIO weights written again as OIHW) are
    dropped."""

    def model(self):
        from .exporter import WRITERS

        self.WRITERS, self.named_consts = WRITERS, {}
        self.layers = qdq_layers(self.g)
        self.absorbed = {id(n) for q in self.layers.values() for n in q.nodes}
        self.scales = int8_scales(self.g, self.layers)
        model = super().model()
        used = {i for n in model.graph.node for i in n.input}
        replaced = {self.name(v) for q in self.layers.values() for n in q.nodes for v in n.inputs
                    if isinstance(v, Param)} - used
        kept = [t for t in model.graph.initializer if t.name not in replaced]
        del model.graph.initializer[:]
        model.graph.initializer.extend(kept)
        return model

    def _node(self, node):
        q = self.layers.get(id(node))
        if q is not None:
            _write_layer(self, q)
        elif node.op.name in _PASS_THROUGH and id(node.inputs[0]) in self.scales:
            _write_pass_through(self, node, self.scales[id(node.inputs[0])])
        elif id(node) not in self.absorbed:
            super()._node(node)
