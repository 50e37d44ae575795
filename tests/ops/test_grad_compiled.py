"""Loss + gradient graphs of the reduce, shape and indexing ops, compiled with TVM for the
host CPU and compared with the interpreter (float32). Symbolic-batch graphs are compiled
once and run at two batch sizes, so a count or shape baked in at compile time would show."""
import numpy as np
import pytest

from aot.codegen.build import build, run_local
from aot.codegen.lower import Entry
from aot.ir import GraphBuilder, TensorType, interpret, verify
from aot.passes.autodiff import build_gradients

F32 = "float32"


def _grad_graph(make):
    """make(b) -> (loss, wrt): the graph returning [loss, d loss / d w for w in wrt]."""
    b = GraphBuilder("grad")
    loss, wrt = make(b)
    grads = build_gradients(b, list(b.nodes), loss, wrt)
    assert all(g is not None for g in grads)
    graph = b.build([loss] + grads)
    verify(graph)
    return graph


def _check(graph, *feeds_list):
    """Compiled (once) == interpreted on every feed; returns the interpreter's results of the last."""
    ex = build([Entry("main", graph)], "llvm")
    for feeds in feeds_list:
        want = interpret(graph, feeds)
        got = run_local(graph, feeds, executable=ex)
        for w, g in zip(want, got):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    return want


def _normal(rng, *shape):
    return rng.standard_normal(shape).astype(F32)


def _square_sum(b, v, axes=None):
    return b.emit("sum", b.emit("multiply", v, v), axes=axes)


def test_mean_over_symbolic_batch(rng):
    """loss = mean over the batch of sum_j (x * w)^2: the 1/N comes from the run-time N."""
    def make(b):
        x = b.input("x", TensorType(("N", 4), F32))
        w = b.param("w", _normal(rng, 4))
        per_row = _square_sum(b, b.emit("multiply", x, w), axes=(1,))
        return b.emit("mean", per_row, axes=(0,)), [x, w]

    graph = _grad_graph(make)
    x3, x5 = _normal(rng, 3, 4), _normal(rng, 5, 4)
    loss, gx, gw = _check(graph, {"x": x3}, {"x": x5})
    np.testing.assert_allclose(gw, 2 * np.sum(x5 * x5, 0) * graph.param("w").data / 5, rtol=1e-5)


def test_embedding_with_repeated_indices(rng):
    """take along axis 0 of a table: repeated ids accumulate, through scatter_nd (no one-hot)."""
    def make(b):
        table = b.param("table", _normal(rng, 6, 4))
        ids = b.input("ids", TensorType(("N", 5), "int64"))
        emb = b.emit("take", table, ids, axis=0)
        return b.emit("mean", b.emit("multiply", emb, b.emit("sin", emb))), [table]

    graph = _grad_graph(make)
    ops = {n.op.name for n in graph.nodes}
    assert "scatter_nd" in ops and not ops & {"one_hot", "matmul"}
    ids = np.array([[0, 1, 1, 5, -1], [2, 2, 2, 0, 1], [3, -6, 0, 0, 4]], np.int64)
    *_, g = _check(graph, {"ids": ids}, {"ids": ids[:2]})
    assert np.all(g[[0, 1, 2, 5]] != 0) and np.all(g[[3, 4]] == 0)  # rows the last feed hits


def test_take_inner_axis_and_gather_elements(rng):
    def make(b):
        x = b.input("x", TensorType(("N", 6), F32))
        picked = b.emit("take", x, b.const(np.array([[5, 0], [0, -1]], np.int64), name="i"), axis=1)
        idx = b.input("j", TensorType(("N", 3), "int64"))
        elems = b.emit("gather_elements", b.emit("slice", x, starts=(0,), ends=(3,), axes=(1,)), idx, axis=1)
        return b.emit("add", _square_sum(b, picked), _square_sum(b, elems)), [x]

    j = np.array([[1, 1, 0], [2, 0, 2], [0, 1, 1], [-1, -1, 2]], np.int64)
    _check(_grad_graph(make), {"x": _normal(rng, 3, 6), "j": j[:3]}, {"x": _normal(rng, 4, 6), "j": j})


def test_concat_then_split_with_an_unused_part(rng):
    def make(b):
        x = b.input("x", TensorType(("N", 2), F32))
        y = b.input("y", TensorType(("N", 3), F32))
        _, used, _ = b.emit("split", b.emit("concat", x, y, axis=1), axis=1, sizes=(1, 3, 1))
        return b.emit("sum", b.emit("sin", used)), [x, y]

    feeds = {"x": _normal(rng, 3, 2), "y": _normal(rng, 3, 3)}
    _, gx, gy = _check(_grad_graph(make), feeds)
    assert np.all(gx[:, 0] == 0) and np.all(gy[:, 2] == 0)


@pytest.mark.parametrize("starts,ends,steps", [
    ((1,), (2**62,), (2,)),          # step 2 on the static axis
    ((6,), (-2**62,), (-3,)),        # negative step, spread with a gather
    ((5,), (1,), (-1,)),             # reversed: flip and pad
])
def test_strided_slice(rng, starts, ends, steps):
    def make(b):
        x = b.input("x", TensorType(("N", 7), F32))
        s = b.emit("slice", x, starts=starts, ends=ends, axes=(1,), steps=steps)
        return b.emit("sum", b.emit("multiply", s, b.emit("tanh", s))), [x]

    _check(_grad_graph(make), {"x": _normal(rng, 3, 7)}, {"x": _normal(rng, 2, 7)})


def test_tile(rng):
    cot = _normal(rng, 4, 9)

    def make(b):
        x = b.input("x", TensorType((2, 3), F32))
        t = b.emit("tile", x, repeats=(2, 3))
        return b.emit("sum", b.emit("multiply", t, b.const(cot, name="cot"))), [x]

    *_, g = _check(_grad_graph(make), {"x": _normal(rng, 2, 3)})
    np.testing.assert_allclose(g, cot.reshape(2, 2, 3, 3).sum((0, 2)), rtol=1e-5)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad(rng, mode):
    cot = _normal(rng, 6, 8)

    def make(b):
        x = b.input("x", TensorType((3, 4), F32))
        p = b.emit("pad", x, pads=(2, 1, 1, 3), mode=mode)
        return b.emit("sum", b.emit("multiply", p, b.const(cot, name="cot"))), [x]

    _check(_grad_graph(make), {"x": _normal(rng, 3, 4)})


@pytest.mark.parametrize("op,want", [
    ("max", [[0, 0.5, 0.5], [1, 0, 0]]),
    ("min", [[1, 0, 0], [0, 1, 0]]),
])
def test_max_min_split_ties_evenly(op, want):
    """Finite differences cannot see ties; the rule splits g between them, as torch.amax."""
    def make(b):
        x = b.input("x", TensorType((2, 3), F32))
        return b.emit("sum", b.emit(op, x, axes=(1,))), [x]

    *_, g = _check(_grad_graph(make), {"x": np.array([[1, 3, 3], [2, 0, 1]], F32)})
    np.testing.assert_array_equal(g, np.array(want, F32))


def test_prod_at_zeros():
    """One zero in a row: its gradient is the product of the others; two zeros: all 0."""
    def make(b):
        x = b.input("x", TensorType((3, 3), F32))
        return b.emit("sum", b.emit("prod", x, axes=(1,))), [x]

    x = np.array([[2, 3, 4], [2, 0, 4], [0, 5, 0]], F32)
    *_, g = _check(_grad_graph(make), {"x": x})
    np.testing.assert_array_equal(g, np.array([[12, 8, 6], [0, 8, 0], [0, 0, 0]], F32))


def test_symbol_meeting_an_int(rng):
    """w: (3,5) broadcast like x: (N,5) types as (N,5); its gradient comes back to (3,5)
    through the walker's broadcast_like (a reshape cannot turn N into 3)."""
    def make(b):
        x = b.input("x", TensorType(("N", 5), F32))
        w = b.input("w", TensorType((3, 5), F32))
        wide = b.emit("broadcast_like", w, x)
        return b.emit("sum", b.emit("multiply", x, b.emit("multiply", wide, wide))), [x, w]

    graph = _grad_graph(make)
    assert graph.outputs[2].node.op.name == "broadcast_like"
    _check(graph, {"x": _normal(rng, 3, 5), "w": _normal(rng, 3, 5)})
