"""Inputs that are run-time data where the IR needs no static value: Trilu k, CumSum's
axis, ambiguous reduction axes (picked at run time), OneHot values (depth from the declared
output shape); and CumProd and LpPool, decomposed into registry ops."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import aot
from aot.ir import interpret

from .helpers import NP_TO_ONNX, check, model, rand

N = helper.make_node


def declared(nodes, feeds: dict, outputs: dict, opset: int):
    """A model whose outputs declare their static shapes (as the conformance cases do)."""
    ins = [helper.make_tensor_value_info(k, NP_TO_ONNX[v.dtype], v.shape) for k, v in feeds.items()]
    outs = [helper.make_tensor_value_info(k, t, s) for k, (t, s) in outputs.items()]
    m = helper.make_model(helper.make_graph(nodes, "t", ins, outs),
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10
    return m


def same_as_reference(m, feeds, compiled=False):
    want = ReferenceEvaluator(m).run(None, feeds)
    graph = aot.import_onnx(m)
    got = interpret(graph, feeds)
    if compiled:
        out = aot.compile(graph, target="llvm").run(feeds)
        got = [out[o.name] for o in m.graph.output]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_trilu_with_run_time_k_compiled():
    x = rand(3, 4)
    for k in (-1, 0, 2):
        feeds = {"x": x, "k": np.array(k, np.int64)}
        check(model([N("Trilu", ["x", "k"], ["y"], upper=0)], feeds, ["y"]), feeds,
              compiled=k == 2)


def test_cumsum_with_run_time_axis_and_cumprod():
    x = rand(2, 3)
    for axis in (0, 1, -1):
        feeds = {"x": x, "a": np.array(axis, np.int32)}
        check(model([N("CumSum", ["x", "a"], ["y"], exclusive=1)], feeds, ["y"]), feeds)
    for excl, rev in ((0, 0), (1, 0), (0, 1), (1, 1)):
        feeds = {"x": x, "a": np.array(1, np.int64)}
        m = declared([N("CumProd", ["x", "a"], ["y"], exclusive=excl, reverse=rev)], feeds,
                     {"y": (TensorProto.FLOAT, [2, 3])}, opset=26)
        same_as_reference(m, feeds)


def test_reduce_axes_ambiguous_from_the_shape_picked_at_run_time():
    x = rand(3, 2, 2)
    for axes in ([1], [2], [-1]):
        feeds = {"x": x, "axes": np.array(axes, np.int64)}
        m = declared([N("ReduceSum", ["x", "axes"], ["y"], keepdims=0)], feeds,
                     {"y": (TensorProto.FLOAT, [3, 2])}, opset=13)
        same_as_reference(m, feeds, compiled=axes == [2])


def test_one_hot_run_time_depth_and_values():
    feeds = {"i": np.array([[1, -1], [0, 2]], np.int64), "d": np.array(3, np.int64),
             "v": np.array([-2.0, 5.0], np.float32)}
    m = declared([N("OneHot", ["i", "d", "v"], ["y"], axis=1)], feeds,
                 {"y": (TensorProto.FLOAT, [2, 3, 2])}, opset=11)
    same_as_reference(m, feeds)


def test_lp_pool():
    x = rand(1, 2, 5, 5)
    for p, kw in ((2, {}), (3, {"pads": [1, 1, 1, 1], "strides": [2, 2]})):
        m = model([N("LpPool", ["x"], ["y"], kernel_shape=[3, 3], p=p, **kw)], {"x": x}, ["y"])
        check(m, {"x": x}, rtol=1e-4, atol=1e-5)
