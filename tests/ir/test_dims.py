"""Symbolic dim expressions (aot.ir.dims): the algebra, the shape type rules that use it,
the text form, the interpreter's bindings and the runtime's checks."""
import numpy as np
import pytest

import aot
from aot.ir import GraphBuilder, IRError, TensorType, dims, interpret, parse_graph, print_graph, verify


@pytest.mark.parametrize("text, canonical", [
    ("batch", "batch"), ("batch*seq*2", "2*batch*seq"), ("1+seq", "seq+1"), ("x-x", 0),
    ("2*(b+1)", "2*b+2"), ("4*b//2", "2*b"), ("(seq-1)//2+1", "((seq+1)//2)"), ("b*b-1", "b*b-1"),
    ("-seq+3", "-seq+3"), ("(2*n+1)//2", "n"),
])
def test_normalize_gives_one_string_per_expression(text, canonical):
    assert dims.normalize(text) == canonical
    assert dims.normalize(str(canonical)) == canonical  # canonical text is a fixed point


def test_arithmetic_folds_constants_to_ints():
    assert dims.mul("batch", 2) == "2*batch"
    assert dims.mul(3, 4) == 12 and dims.add("n", dims.sub(2, "n")) == 2
    assert dims.prod(["batch", 2, "seq", 8]) == "16*batch*seq"
    assert dims.floordiv("2*b+1", 2) == "b" and dims.floordiv("6*b*s", "3*s") == "2*b"
    with pytest.raises(ValueError, match="cannot divide"):
        dims.floordiv("b+1", "b")


def test_exact_division_needs_a_proof():
    assert dims.divide_exact("16*batch*seq", "8*seq") == "2*batch"
    assert dims.divide_exact("b*b+2*b+1", "b+1") == "b+1"
    assert dims.divide_exact("b*b+2*b", "b+1") is None
    assert dims.divide_exact("3*n", 2) is None and dims.divide_exact(6, 0) is None


def test_evaluate_and_symbols():
    assert dims.evaluate("((seq+1)//2)-1", {"seq": 5}) == 2
    assert dims.evaluate(7, {}) == 7
    assert dims.symbols("((s+1)//2)*b") == {"s", "b"} and dims.symbols(3) == set()
    with pytest.raises(ValueError, match="symbol s, which is not bound"):
        dims.evaluate("2*s", {})


def test_bad_expressions_are_refused():
    for bad in ("n**2", "n/2", "f(n)", "n+"):
        with pytest.raises(ValueError, match="bad dim expression"):
            TensorType((bad, 3))
    with pytest.raises(ValueError, match="negative dim"):
        TensorType(("n-n-1",))


def test_types_compare_expressions_by_value():
    assert TensorType(("seq*batch*2", 8)) == TensorType(("2*batch*seq", 8))
    assert TensorType(("n+n",)).shape == ("2*n",) and TensorType(("n-n+4",)).shape == (4,)
    t = TensorType(("N", "2*N"))
    assert t.matches((3, 6)) and not t.matches((3, 5))


def _emit(op, types, **attrs):
    b = GraphBuilder("t")
    xs = [b.input(f"x{i}", TensorType(s)) for i, s in enumerate(types)]
    return b.emit(op, *xs, **attrs).type.shape


def test_reshape_infers_and_checks_symbolic_products():
    assert _emit("reshape", [("seq", "batch", 16)], shape=("seq", -1, 8)) == ("seq", "2*batch", 8)
    assert _emit("reshape", [("2*batch", "seq", 8)], shape=("batch", 2, "seq", 8)) == ("batch", 2, "seq", 8)
    assert _emit("reshape", [("seq", "batch", 2, 8)], shape=(-1, 16)) == ("batch*seq", 16)
    with pytest.raises(IRError, match="not provably a multiple of 2\\*seq"):
        _emit("reshape", [("seq", "batch", 3)], shape=(-1, "2*seq"))


def test_concat_slice_pad_tile_make_expressions():
    assert _emit("concat", [("N", 3), (2, 3), ("M", 3)], axis=0) == ("M+N+2", 3)
    assert _emit("slice", [("S", 4)], starts=(1,), ends=(-1,)) == ("S-2", 4)
    assert _emit("slice", [("S", 4)], starts=(-3,), ends=(2**62,)) == (3, 4)
    assert _emit("slice", [("S",)], starts=(0,), ends=(2**62,), steps=(2,)) == ("((S+1)//2)",)
    assert _emit("pad", [("S", 4)], pads=(1, 0, 2, 0)) == ("S+3", 4)
    assert _emit("tile", [("S", 4)], repeats=(3, 1)) == ("3*S", 4)


def test_broadcast_and_matmul_treat_equal_expressions_as_one_dim():
    assert _emit("add", [("2*b", 4), ("b*2", 1)]) == ("2*b", 4)
    assert _emit("matmul", [("b", "s+1", 8), ("b", 8, "1+s")]) == ("b", "s+1", "s+1")
    with pytest.raises(IRError, match="different symbols"):
        _emit("add", [("2*b", 4), ("b+2", 4)])


TEXT = """graph @heads(%x: f32[N,S,16], %y: f32[2*N,((S+1)//2)]) {
  %0 = reshape(%x) {shape=["S", "2*N", 8]} : f32[S,2*N,8]
  %1 = pad(%y) {pads=[0, 1, 0, 0]} : f32[2*N,((S+1)//2)+1]
  return %0, %1
}
"""


def test_text_round_trip_with_expression_dims():
    g = verify(parse_graph(TEXT))
    assert print_graph(g).strip() == TEXT.strip()
    assert g.outputs[1].type.shape == ("2*N", "((S+1)//2)+1")


def test_interpreter_binds_symbols_for_reshape_targets():
    g = parse_graph(TEXT)
    x, y = np.arange(2 * 5 * 16, dtype=np.float32).reshape(2, 5, 16), np.ones((4, 3), np.float32)
    a, b = interpret(g, {"x": x, "y": y})
    np.testing.assert_array_equal(a, x.reshape(5, 4, 8))
    assert b.shape == (4, 4)
    with pytest.raises(IRError, match="y"):
        interpret(g, {"x": x, "y": np.ones((5, 3), np.float32)})


def test_compiled_expression_dims_run_at_two_sizes_and_check_inputs():
    b = GraphBuilder("two")
    x, y = b.input("x", TensorType(("N", 4))), b.input("y", TensorType(("2*N", 4)))
    heads = b.emit("reshape", b.emit("concat", x, y, axis=0), shape=(-1, 2, 2))
    g = b.build([b.emit("slice", heads, starts=(1,), ends=(-1,))])
    assert g.outputs[0].type.shape == ("3*N-2", 2, 2)
    m = aot.compile(g, target="llvm")
    for n in (2, 5):
        feeds = {"x": np.random.rand(n, 4).astype(np.float32), "y": np.random.rand(2 * n, 4).astype(np.float32)}
        np.testing.assert_allclose(m.run(feeds)[g.output_names[0]], interpret(g, feeds)[0])
    with pytest.raises(aot.runtime.InputError, match=r"input 'y': dim 2\*N must be 6 \(N=3 from input 'x'\), got 5"):
        m.run({"x": np.ones((3, 4), np.float32), "y": np.ones((5, 4), np.float32)})
