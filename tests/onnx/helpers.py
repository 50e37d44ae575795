"""Small ONNX models made with onnx.helper, and the check against onnxruntime."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import aot
from aot.ir import interpret, verify

NP_TO_ONNX = {np.dtype("float32"): TensorProto.FLOAT, np.dtype("int64"): TensorProto.INT64,
              np.dtype("bool"): TensorProto.BOOL, np.dtype("float64"): TensorProto.DOUBLE,
              np.dtype("int32"): TensorProto.INT32, np.dtype("uint8"): TensorProto.UINT8,
              np.dtype("int8"): TensorProto.INT8}


def model(nodes, feeds: dict, outputs, inits: dict | None = None, opset: int = 17):
    """A one-graph model; graph inputs typed from `feeds`, outputs left to shape inference."""
    ins = [helper.make_tensor_value_info(k, NP_TO_ONNX[v.dtype], v.shape) for k, v in feeds.items()]
    outs = [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outputs]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    g = helper.make_graph(nodes, "test", ins, outs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return onnx.shape_inference.infer_shapes(m)


def ort_run(m, feeds):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def check(m, feeds, compiled: bool = False, rtol=1e-5, atol=1e-6):
    """Import, run with our interpreter (and compiled, if asked); compare with onnxruntime."""
    graph = verify(aot.import_onnx(m))
    want = ort_run(m, feeds)
    got = interpret(graph, {v.name: feeds[v.name] for v in graph.inputs})
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    if compiled:
        out = aot.compile(graph, target="llvm").run(feeds)
        for name, w in zip(graph.output_names, want):
            np.testing.assert_allclose(out[name], w, rtol=rtol, atol=atol)
    return graph


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
