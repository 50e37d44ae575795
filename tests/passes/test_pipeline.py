import numpy as np
import pytest

from aot.ir import Graph, IRError, interpret, parse_graph, print_graph
from aot.pipeline import INFERENCE, optimize_for_inference, pass_name, run_pipeline

from .harness import assert_same_results

MODEL = """
graph @mlp(%x: f32[N,4]) params(const %w: f32[3,4] = [1.0, 2.0, 3.0, 4.0, -1.0, -2.0, -3.0, -4.0, 0.5, 0.25, 0.125, 0.0], %b: f32[3], const %one: f32[] = [1.0], const %one_again: f32[] = [1.0], %unused: f32[2]) {
  %wt = transpose(%w) : f32[4,3]
  %0 = matmul(%x, %wt) : f32[N,3]
  %1 = add(%0, %b) : f32[N,3]
  %2 = multiply(%1, %one) : f32[N,3]
  %3 = relu(%2) : f32[N,3]
  %4 = multiply(%one_again, %1) : f32[N,3]
  %5 = relu(%4) : f32[N,3]
  %6 = add(%3, %5) : f32[N,3]
  %dead = exp(%6) : f32[N,3]
  return %6
}"""

OPTIMIZED = """
graph @mlp(%x: f32[N,4]) params(%b: f32[3], const %wt: f32[4,3] = [1.0, -1.0, 0.5, 2.0, -2.0, 0.25, 3.0, -3.0, 0.125, 4.0, -4.0, 0.0]) {
  %0 = matmul(%x, %wt) : f32[N,3]
  %1 = add(%0, %b) : f32[N,3]
  %2 = relu(%1) : f32[N,3]
  %3 = add(%2, %2) : f32[N,3]
  return %3
}"""


def test_inference_pipeline_reads_top_to_bottom():
    assert [pass_name(p) for p in INFERENCE] == ["fold_layout_transposes", "fold_constants",
                                                 "simplify", "cse", "dce"]


def test_optimize_for_inference():
    graph = parse_graph(MODEL)
    out = optimize_for_inference(graph)
    assert print_graph(out) == print_graph(parse_graph(OPTIMIZED))
    assert print_graph(graph) == print_graph(parse_graph(MODEL))  # the input is untouched
    assert_same_results(graph, out)


def test_dump_dir_holds_the_ir_after_each_named_step(tmp_path):
    out = optimize_for_inference(parse_graph(MODEL), dump_dir=tmp_path / "ir")
    names = sorted(p.name for p in (tmp_path / "ir").iterdir())
    assert names == ["00-input.air", "01-fold_layout_transposes.air", "02-fold_constants.air",
                     "03-simplify.air", "04-cse.air", "05-dce.air"]
    texts = [(tmp_path / "ir" / n).read_text() for n in names]
    assert texts[0] == print_graph(parse_graph(MODEL))
    assert texts[-1] == print_graph(out)
    for text in texts:  # every dump parses back
        assert print_graph(parse_graph(text)) == text


def _drops_the_first_node(graph: Graph) -> Graph:
    return Graph(graph.name, graph.inputs, graph.params, graph.nodes[1:], graph.outputs)


def test_debug_mode_verifies_after_every_pass_and_names_the_pass(monkeypatch):
    graph = parse_graph(MODEL)
    monkeypatch.setenv("AOT_DEBUG", "1")
    broken = "after pass _drops_the_first_node: .*used before it is defined"
    with pytest.raises(IRError, match=broken):
        run_pipeline(graph, INFERENCE[:1] + [_drops_the_first_node] + INFERENCE[1:])
    monkeypatch.setenv("AOT_DEBUG", "0")
    run_pipeline(graph, [_drops_the_first_node])  # not checked outside debug mode


def test_the_optimized_graph_compiles_to_what_the_original_computes():
    from aot.codegen.build import run_local

    from .harness import random_feeds

    graph = parse_graph(MODEL)
    feeds, params = random_feeds(graph)
    for p in graph.params:
        p.data = params.get(p.name, p.data)  # a parsed graph's trainable params have no data
    out = optimize_for_inference(graph)
    want = interpret(graph, feeds)
    for got, w in zip(run_local(out, feeds), want):
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5)
