"""Every gradient rule against central finite differences, in float64, on the op table's cases.

For each case of a differentiable op: loss = sum(out * c) for a fixed random cotangent c;
the autodiff gradient dotted with a random direction d must equal
(loss(x + eps d) - loss(x - eps d)) / 2 eps (JAX's check along a random direction).
"""
import dataclasses

import numpy as np
import pytest

from aot.ir import DType, GraphBuilder, all_ops, dims, interpret
from aot.passes.autodiff import build_gradients

from .harness import all_cases, build_case

EPS = 1e-6


def _to_f64(spec):
    if isinstance(spec, tuple) and len(spec) == 2 and not (isinstance(spec[0], str) and spec[0] == "const"):
        shape, dtype = spec
        return (shape, "float64") if DType.of(dtype).is_float else spec
    return spec


def _f64_case(case):
    return dataclasses.replace(case, inputs=[_to_f64(s) for s in case.inputs])


def _differentiable_cases():
    ops = all_ops()
    out = []
    for case in all_cases():
        if ops[case.op].vjp is None or not case.grad:
            continue
        f64 = _f64_case(case)
        if any(isinstance(s, tuple) and isinstance(s[1], str) and s[1] == "float64"
               for s in f64.inputs):
            out.append(f64)
    return out


CASES = _differentiable_cases()


def _loss_graph(case, rng):
    graph, feeds = build_case(case, rng)
    b = GraphBuilder.extending(graph)
    terms = []
    for v in graph.outputs:
        if v.type.dtype != DType.float64:
            continue
        shape = tuple(dims.evaluate(d, case.bind) for d in v.type.shape)
        cot = b.const(rng.standard_normal(shape), name="cot")
        terms.append(b.emit("sum", b.emit("multiply", v, cot)))
    loss = terms[0]
    for t in terms[1:]:
        loss = b.emit("add", loss, t)
    wrt = [v for v in graph.inputs if v.type.dtype == DType.float64]
    grads = build_gradients(b, list(b.nodes), loss, wrt)
    return b.build([loss] + [g for g in grads if g is not None]), feeds, wrt, grads


@pytest.mark.parametrize("case", CASES, ids=[c.label() for c in CASES])
def test_vjp_matches_finite_differences(case, rng):
    g, feeds, wrt, grads = _loss_graph(case, rng)
    outs = interpret(g, feeds)
    got = dict(zip([v.name for v, gr in zip(wrt, grads) if gr is not None], outs[1:]))
    dirs = {v.name: rng.standard_normal(feeds[v.name].shape) for v in wrt}

    def loss_at(sign):
        shifted = dict(feeds)
        for name, d in dirs.items():
            shifted[name] = feeds[name] + sign * EPS * d
        return interpret(g, shifted)[0]

    numeric = (loss_at(+1) - loss_at(-1)) / (2 * EPS)
    analytic = sum(float(np.sum(got[n] * dirs[n])) for n in got)
    assert np.isclose(analytic, numeric, rtol=1e-4, atol=1e-6), (analytic, numeric)


def test_every_differentiable_op_is_checked():
    checked = {c.op for c in CASES}
    missing = sorted(n for n, op in all_ops().items() if op.vjp is not None and n not in checked)
    assert not missing, f"ops with a vjp but no float case: {missing}"
