"""Export round trips: every zoo model exports, passes onnx.checker, runs in onnxruntime
with our outputs, and re-imports to an equal graph.

"Equal" is exact structural equality of `canonical` forms: the text IR of each graph after
the inference pipeline (which folds the exporter's transpose -> NCHW conv -> transpose back
into the NHWC conv, passes/layout.py), with what ONNX cannot carry taken out on both sides:
node names and the names of intermediate values; float attributes beyond float32 (ONNX's
attribute precision); the sign convention of an axis (-1 vs rank-1); and two ops ONNX has no
node for, which come back decomposed and are recomposed: rsqrt (Reciprocal(Sqrt)) and clip
with constant bounds (Min(Max)). Every param's value is compared too, bit for bit."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import aot
from aot.ir import Graph, interpret, print_graph, verify
from aot.passes.dce import dce
from aot.passes.rewrite import Rewriter
from aot.pipeline import optimize_for_inference

from .helpers import ort_run

sys.path.insert(0, str(Path(__file__).parent.parent / "models"))
from test_zoo import SMALL  # noqa: E402

# ops whose `axis` counts the dims of their first input
_AXIS_OF_INPUT = {"split", "concat", "softmax", "log_softmax", "take", "gather_elements",
                  "scatter_elements", "cumsum", "argmax", "argmin"}


def _rsqrt(rw, node, args):
    inner = args[0].node
    if node.op.name == "reciprocal" and inner is not None and inner.op.name == "sqrt":
        return "rsqrt", list(inner.inputs), None
    return None


def _clip(rw, node, args):
    inner = args[0].node
    if node.op.name != "minimum" or inner is None or inner.op.name != "maximum":
        return None
    lo, hi = rw.constant(inner.inputs[1]), rw.constant(args[1])
    if lo is None or hi is None or lo.ndim or hi.ndim:
        return None
    return "clip", [inner.inputs[0]], {"min": float(lo), "max": float(hi)}


def _attrs(op_name: str, attrs, args):
    """Float fields at float32 precision; a negative axis counted from the front."""
    if attrs is None or not dataclasses.is_dataclass(attrs):
        return attrs
    fields = {f.name: getattr(attrs, f.name) for f in dataclasses.fields(attrs)}
    new = {k: float(np.float32(v)) for k, v in fields.items() if type(v) is float}
    axis = fields.get("axis")
    if op_name in _AXIS_OF_INPUT and isinstance(axis, int) and axis < 0:
        new["axis"] = axis % args[0].type.rank
    return dataclasses.replace(attrs, **new)


def canonical(graph: Graph) -> Graph:
    """The form in which two graphs are compared (see the module doc)."""
    g = optimize_for_inference(graph)
    rw, outputs = Rewriter(g), {id(v) for v in g.outputs}
    for node in g.nodes:
        args = list(rw.inputs(node))
        op, attrs = node.op, node.attrs
        for rule in (_rsqrt, _clip):
            found = rule(rw, node, args)
            if found is not None:
                op, args, attrs = found
                break
        name = getattr(op, "name", op)
        attrs = _attrs(name, attrs, args) if not isinstance(attrs, dict) else attrs
        names = [v.name if id(v) in outputs else None for v in node.outputs]
        rw.replace(node, rw.emit(op, args, attrs, output_names=names).outputs)
    return dce(rw.finish())


def assert_equal_graphs(got: Graph, want: Graph) -> None:
    """Canonical text IR equal, and every param's data equal bit for bit."""
    a, b = canonical(got), canonical(want)
    assert print_graph(a) == print_graph(b)
    for p, q in zip(a.params, b.params):
        assert p.name == q.name and np.array_equal(p.data, q.data, equal_nan=True), p.name


def test_every_zoo_model_is_round_tripped():
    assert sorted(SMALL) == sorted(aot.models.names())


@pytest.mark.parametrize("name", sorted(SMALL))
def test_zoo_model_round_trip(name, tmp_path):
    model = aot.models.get(name, **SMALL[name])
    graph = verify(model.to_graph())
    feeds = aot.models.example_inputs(model, batch=2)
    want = interpret(graph, feeds)
    path = tmp_path / f"{name}.onnx"
    aot.export_onnx(graph, path)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version <= 10
    for got, w in zip(ort_run(proto, feeds), want):
        np.testing.assert_allclose(got, w, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(w).max())))
    back = verify(aot.import_onnx(path))
    assert back.input_names == graph.input_names and back.output_names == graph.output_names
    weights = [(p.name, p.kind, p.type) for p in graph.params if not p.is_const]
    assert [(p.name, p.kind, p.type) for p in back.params if not p.is_const] == weights
    assert_equal_graphs(back, graph)
    for got, w in zip(interpret(back, feeds), want):
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(w).max())))


def test_canonical_form_tells_different_graphs_apart(monkeypatch):
    """The comparison is not vacuous: other weight values differ, and without the layout
    folding pass the re-imported LeNet (transpose + NCHW conv) differs from the original."""
    from aot import pipeline

    graph = verify(aot.models.get("lenet").to_graph())
    back = aot.import_onnx(aot.export_onnx(graph))
    other = verify(aot.models.get("lenet").to_graph())  # the same layers, new random weights
    with pytest.raises(AssertionError, match="kernel"):
        assert_equal_graphs(back, other)
    assert 'layout="NCHW"' not in print_graph(canonical(back))
    monkeypatch.setattr(pipeline, "INFERENCE", pipeline.INFERENCE[1:])
    assert pipeline.INFERENCE[0] is pipeline.fold_constants
    with pytest.raises(AssertionError):
        assert_equal_graphs(back, graph)


def test_nchw_graph_reimports_to_the_same_text():
    from onnx import helper

    from .helpers import model, rand

    N = helper.make_node
    x = rand(1, 2, 5, 5)
    m = model([N("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), N("Relu", ["c"], ["r"]),
               N("MaxPool", ["r"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
              {"x": x}, ["y"], inits={"w": rand(3, 2, 3, 3, seed=1)})
    g = aot.import_onnx(m)
    again = aot.import_onnx(aot.export_onnx(g))
    assert print_graph(again) == print_graph(g)


def test_export_refuses_unexportable_op_by_name(tmp_path, monkeypatch):
    """An op with no ONNX writer is refused with one line naming it and its node, and
    nothing is written (the op is taken out of the writer table for the test)."""
    from aot.frontends.onnx import exporter
    from aot.ir import GraphBuilder, TensorType

    monkeypatch.delitem(exporter.WRITERS, "relu")
    b = GraphBuilder("g")
    x = b.input("x", TensorType(("N", 3), "float32"))
    g = b.build([b.emit("relu", x, name="act1")])
    out = tmp_path / "g.onnx"
    with pytest.raises(exporter.ExportError, match=r"^op relu has no ONNX export \(node 'act1'\)$"):
        aot.export_onnx(g, out)
    assert not out.exists()
