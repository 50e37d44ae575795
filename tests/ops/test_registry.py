"""The registry walk: every op's type rule, reference and TVM lowering agree."""
import numpy as np
import pytest

from aot.codegen.build import run_local
from aot.ir import all_ops, interpret, verify

from .harness import all_cases, build_case

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.label() for c in CASES])
def test_reference_matches_type_rule(case, rng):
    graph, feeds = build_case(case, rng)
    verify(graph)
    outs = interpret(graph, feeds)
    for v, out in zip(graph.outputs, outs):
        assert v.type.matches(out.shape, out.dtype), f"{case.label()}: {v.type} vs {out.shape} {out.dtype}"


@pytest.mark.parametrize("case", [c for c in CASES if c.compile], ids=[c.label() for c in CASES if c.compile])
def test_lowering_matches_reference(case, rng):
    graph, feeds = build_case(case, rng)
    want = interpret(graph, feeds)
    got = run_local(graph, feeds)
    for w, g in zip(want, got):
        assert g.shape == w.shape and g.dtype == w.dtype
        if w.dtype == np.bool_ or w.dtype.kind in "iu":
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64),
                                       rtol=case.rtol, atol=case.atol)


def test_every_op_has_a_case():
    covered = {c.op for c in CASES}
    missing = sorted(set(all_ops()) - covered)
    assert not missing, f"ops without a test case: {missing}"
