"""The vectorizable exp / tanh / sigmoid / softmax (aot/codegen/fast_math.py) against numpy
over the whole float32 range: relative error within 2e-6, subnormal results flushed to 0,
saturation at +-inf, NaN kept. fast_exp overflows to inf from x = 88.4 (libm: 88.72), where
the result is within 10% of float32's largest."""
import numpy as np
import pytest

from aot.codegen.build import run_local
from aot.ir import DType, GraphBuilder, TensorType

X = np.concatenate([np.linspace(-100, 100, 2001), np.linspace(-8, 8, 1601),
                    [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-30, -1e-30, 88.0, -88.0, 89.0,
                     -104.0]]).astype(np.float32)
REF = {"exp": np.exp, "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x))}


def _graph(op: str, shape, **attrs):
    b = GraphBuilder(op)
    x = b.input("x", TensorType(shape, DType.float32))
    return b.build([b.emit(op, x, **attrs)])


@pytest.mark.parametrize("op", sorted(REF))
def test_fast_unary_matches_numpy(op):
    with np.errstate(over="ignore"):
        want = REF[op](X.astype(np.float64)).astype(np.float32)  # float32 overflow: inf
    got = run_local(_graph(op, X.shape), {"x": X})[0]
    assert np.array_equal(np.isnan(got), np.isnan(want))  # NaN in, NaN out; no other NaN
    inf = np.isinf(want)
    np.testing.assert_array_equal(got[inf], want[inf])  # saturation
    fin = np.isfinite(want) & (X < 88.4)
    np.testing.assert_allclose(got[fin], want[fin], rtol=2e-6, atol=1e-37)


def test_fast_softmax_matches_numpy():
    x = np.random.default_rng(0).normal(0, 20, (7, 33)).astype(np.float32)
    e = np.exp(x.astype(np.float64) - x.max(-1, keepdims=True))
    got = run_local(_graph("softmax", x.shape, axis=-1), {"x": x})[0]
    np.testing.assert_allclose(got, e / e.sum(-1, keepdims=True), rtol=2e-6, atol=1e-12)
