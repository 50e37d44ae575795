"""Pass tests are structural and semantic: Before/Expected in the text IR, and the
interpreter's results before and after on random inputs."""
from __future__ import annotations

import numpy as np

from aot.ir import Graph, interpret_step, parse_graph, print_graph
from aot.pipeline import run_pipeline

SYMBOLS = {"N": 3}


def check_rewrite(pass_, before: str, expected: str) -> Graph:
    """Run `pass_` (verified after, as every pipeline step is under AOT_DEBUG) on `before`;
    its printed result must equal `expected`'s, the input must be untouched, and the
    interpreter must agree before and after."""
    graph = parse_graph(before)
    text = print_graph(graph)
    nodes = [(n, n.inputs) for n in graph.nodes]
    out = run_pipeline(graph, [pass_])
    got, want = print_graph(out), print_graph(parse_graph(expected))
    assert got == want, f"got:\n{got}\nexpected:\n{want}"
    assert print_graph(graph) == text and [(n, n.inputs) for n in graph.nodes] == nodes
    assert_same_results(graph, out)
    return out


def random_feeds(graph: Graph, seed: int = 0):
    """Random data for every input and for every param parsed without data."""
    rng = np.random.default_rng(seed)

    def sample(v):
        shape = tuple(SYMBOLS.get(d, d) if isinstance(d, str) else d for d in v.type.shape)
        if v.type.dtype.value == "bool":
            return rng.random(shape) > 0.5
        if v.type.dtype.is_int:
            return rng.integers(-5, 6, size=shape).astype(v.type.dtype.numpy)
        return rng.standard_normal(shape).astype(v.type.dtype.numpy)

    feeds = {v.name: sample(v) for v in graph.inputs}
    params = {p.name: sample(p) for p in graph.params if p.data is None}
    return feeds, params


def assert_same_results(before: Graph, after: Graph, seed: int = 0) -> None:
    """Outputs and updated state agree exactly (the passes only evaluate references, never
    reorder arithmetic)."""
    feeds, params = random_feeds(before, seed)
    want, want_state = interpret_step(before, feeds, params)
    got, got_state = interpret_step(after, feeds, params)
    assert len(got) == len(want) and sorted(got_state) == sorted(want_state)
    for g, w in zip(got + [got_state[k] for k in sorted(got_state)],
                    want + [want_state[k] for k in sorted(want_state)]):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)
