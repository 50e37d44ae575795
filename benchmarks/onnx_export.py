"""Our IR graph -> an ONNX model, for the ops the zoo models use, so that ONNX Runtime
runs exactly the same network as we do (same weights, same input layout).

Channels-last convs and pools become Transpose -> NCHW op -> Transpose; ONNX Runtime's
transpose optimizer cancels the pairs between layers. This is a benchmark helper, not
the project's exporter: an op outside the table raises.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

_DTYPES = {"float32": TensorProto.FLOAT, "int32": TensorProto.INT32, "int64": TensorProto.INT64}
_SIMPLE = {"add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div", "relu": "Relu",
           "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "sqrt": "Sqrt", "matmul": "MatMul"}
TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


class _Emitter:
    def __init__(self):
        self.nodes, self.inits, self._n = [], [], 0

    def fresh(self, hint="t"):
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, array, hint="c"):
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, out=None, **attrs):
        out = out or self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [out], **attrs))
        return out


def _nchw(e, op, x, out, layout, extra_inputs=(), **attrs):
    if layout != "NHWC":
        return e.node(op, [x, *extra_inputs], out, **attrs)
    y = e.node(op, [e.node("Transpose", [x], perm=TO_NCHW), *extra_inputs], **attrs)
    return e.node("Transpose", [y], out, perm=TO_NHWC)


def _conv(e, node, ins, out):
    a, w = node.attrs, node.inputs[1]
    wname = ins[1]
    if a.layout == "NHWC":  # HWIO -> OIHW
        wname = e.node("Transpose", [ins[1]], perm=[3, 2, 0, 1])
    kernel = list(w.type.shape[:2] if a.layout == "NHWC" else w.type.shape[2:])
    return _nchw(e, "Conv", ins[0], out, a.layout, [wname], strides=list(a.strides),
                 pads=list(a.padding), dilations=list(a.dilation), group=a.groups,
                 kernel_shape=kernel)


def _pool(kind):
    def emit(e, node, ins, out):
        a = node.attrs
        extra = ({"dilations": list(a.dilation)} if kind == "MaxPool"
                 else {"count_include_pad": int(a.count_include_pad)})
        return _nchw(e, kind, ins[0], out, a.layout, kernel_shape=list(a.pool_size),
                     strides=list(a.strides), pads=list(a.padding),
                     ceil_mode=int(a.ceil_mode), **extra)
    return emit


def _shape_of(node):
    return [-1 if isinstance(d, str) else d for d in node.attrs.shape]


_RULES = {
    "conv2d": _conv,
    "max_pool2d": _pool("MaxPool"),
    "avg_pool2d": _pool("AveragePool"),
    "rsqrt": lambda e, n, i, o: e.node("Reciprocal", [e.node("Sqrt", i)], o),
    "clip": lambda e, n, i, o: e.node("Clip", [i[0], e.const(np.float32(n.attrs.min)),
                                                e.const(np.float32(n.attrs.max))], o),
    "mean": lambda e, n, i, o: e.node("ReduceMean", [i[0], e.const(np.array(n.attrs.axes))],
                                      o, keepdims=int(n.attrs.keepdims)),
    "softmax": lambda e, n, i, o: e.node("Softmax", i, o, axis=n.attrs.axis),
    "reshape": lambda e, n, i, o: e.node("Reshape", [i[0], e.const(np.array(_shape_of(n)))], o),
    "transpose": lambda e, n, i, o: e.node("Transpose", i, o, perm=list(n.attrs.perm)),
    "take": lambda e, n, i, o: e.node("Gather", i, o, axis=n.attrs.axis),
    "squeeze": lambda e, n, i, o: e.node("Squeeze", [i[0], e.const(np.array(n.attrs.axes))], o),
    "slice": lambda e, n, i, o: e.node("Slice", [i[0], *(e.const(np.array(v)) for v in (
        n.attrs.starts, n.attrs.ends, n.attrs.axes, n.attrs.steps))], o),
}


def _split(e, node, ins):
    outs = [e.fresh("split") for _ in node.outputs]
    e.nodes.append(helper.make_node("Split", [ins[0], e.const(np.array(node.attrs.sizes))], outs,
                                    axis=node.attrs.axis))
    return outs


def _vi(v, name):
    shape = [d if isinstance(d, int) else str(d) for d in v.type.shape]
    return helper.make_tensor_value_info(name, _DTYPES[v.type.dtype.value], shape)


def to_onnx(graph, opset: int = 18) -> onnx.ModelProto:
    """The ONNX model of `graph` (inputs in order, params as initializers)."""
    e, names = _Emitter(), {}
    for v in graph.inputs:
        names[v] = v.name
    for p in graph.params:
        names[p] = e.const(p.data, p.name)
    for node in graph.nodes:
        ins = [names[v] for v in node.inputs]
        op = node.op.name
        if op == "split":
            outs = _split(e, node, ins)
        elif op in _SIMPLE:
            outs = [e.node(_SIMPLE[op], ins)]
        elif op in _RULES:
            outs = [_RULES[op](e, node, ins, None)]
        else:
            raise NotImplementedError(f"onnx_export: no rule for op {op}")
        names.update(zip(node.outputs, outs))
    outputs = []
    for i, v in enumerate(graph.outputs):
        name = f"output_{i}"
        e.node("Identity", [names[v]], name)
        outputs.append(_vi(v, name))
    g = helper.make_graph(e.nodes, graph.name, [_vi(v, v.name) for v in graph.inputs], outputs,
                          e.inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
