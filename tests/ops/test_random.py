"""random_uniform: a sane distribution, fresh numbers per counter, the same numbers for the
same (seed, counter), and compiled kernels equal to the numpy reference bit for bit."""
import numpy as np
import pytest

from aot.codegen.build import build, run_local
from aot.codegen.lower import Entry
from aot.ir import GraphBuilder, IRError, TensorType, interpret
from aot.ops.random import uniform_bits


def _graph(seed=0, shape=("N", 64), dtype="float32"):
    b = GraphBuilder("uniform")
    counter = b.input("counter", TensorType((), "int64"))
    like = b.input("like", TensorType(shape, "float32"))
    return b.build([b.emit("random_uniform", counter, like, seed=seed, dtype=dtype)])


def _draw(graph, counter, rows=64):
    feeds = {"counter": np.array(counter, np.int64), "like": np.zeros((rows, 64), np.float32)}
    return interpret(graph, feeds)[0]


def test_distribution_is_uniform_on_0_1():
    u = _draw(_graph(), 0, rows=1600).astype(np.float64).ravel()  # 102400 draws
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005  # 5 standard errors
    assert abs(u.var() - 1 / 12) < 0.002
    counts = np.histogram(u, bins=10, range=(0.0, 1.0))[0]
    chi2 = float(((counts - u.size / 10) ** 2 / (u.size / 10)).sum())
    assert chi2 < 30.0  # 9 degrees of freedom: p < 0.001 beyond this


def test_counters_and_seeds_give_fresh_uncorrelated_numbers():
    g = _graph(seed=5)
    draws = [_draw(g, c).ravel() for c in range(8)]
    bits = np.concatenate([uniform_bits(5, c, 4096) for c in range(8)])
    assert len(np.unique(bits)) == bits.size  # no value repeats within or across counters
    for a, b in zip(draws, draws[1:]):
        assert not np.array_equal(np.sort(a), np.sort(b))  # not even a permutation
        assert abs(np.corrcoef(a, b)[0, 1]) < 0.06
    assert np.array_equal(_draw(g, 3), _draw(_graph(seed=5), 3))  # same seed and counter
    assert not np.array_equal(_draw(g, 3), _draw(_graph(seed=6), 3))


def test_values_depend_on_the_linear_index_only():
    """A bigger batch extends the same stream: row-major element i gets the same number."""
    g = _graph(seed=11)
    assert np.array_equal(_draw(g, 2, rows=3), _draw(g, 2, rows=7)[:3])


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_compiled_equals_reference_bit_for_bit(dtype):
    g = _graph(seed=2**63 + 17, dtype=dtype)
    ex = build([Entry("main", g)], "llvm")
    for counter, rows in [(0, 3), (1, 5), (-1, 2), (2**35 + 3, 4)]:
        feeds = {"counter": np.array(counter, np.int64), "like": np.zeros((rows, 64), np.float32)}
        want, got = interpret(g, feeds)[0], run_local(g, feeds, executable=ex)[0]
        assert got.dtype == want.dtype
        assert np.array_equal(got.view(np.uint8), want.view(np.uint8)), (counter, rows)
        assert float(np.max(want)) < 1.0


@pytest.mark.parametrize("counter, dtype, message", [
    (TensorType((), "int32"), "float32", "counter must be an i64 scalar"),
    (TensorType((1,), "int64"), "float32", "counter must be an i64 scalar"),
    (TensorType((), "int64"), "int32", "dtype must be one of"),
])
def test_bad_inputs_fail_at_construction(counter, dtype, message):
    b = GraphBuilder("bad")
    c = b.input("c", counter)
    like = b.input("x", TensorType((2,), "float32"))
    with pytest.raises(IRError, match=message):
        b.emit("random_uniform", c, like, seed=0, dtype=dtype)
