"""Export round trips: every zoo model exports, passes onnx.checker, runs in onnxruntime
with our outputs, and re-imports to a graph with the same interpreter outputs (the text
differs: channels-last convs come back as transpose + NCHW conv)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import aot
from aot.ir import interpret, verify

from .helpers import ort_run

sys.path.insert(0, str(Path(__file__).parent.parent / "models"))
from test_zoo import SMALL  # noqa: E402


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
    assert back.input_names == graph.input_names
    weights = [(p.name, p.kind, p.type) for p in graph.params if not p.is_const]
    assert [(p.name, p.kind, p.type) for p in back.params if not p.is_const] == weights
    for got, w in zip(interpret(back, feeds), want):
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(w).max())))


def test_nchw_graph_reimports_to_the_same_text():
    from onnx import helper

    from aot.ir import print_graph

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
