"""The IR core: types, attrs, node typing, verifier, text round trip and parse errors."""
import numpy as np
import pytest

from aot.ir import (DType, Graph, GraphBuilder, IRError, Node, Param, ParseError, TensorType, Value,
                    interpret, parse_graph, print_graph, verify)


def small_graph():
    b = GraphBuilder("g")
    x = b.input("x", TensorType(("N", 4), "float32"))
    w = b.param("w", np.arange(4, dtype=np.float32))
    y = b.emit("relu", b.emit("subtract", x, w))
    z = b.emit("leaky_relu", y, alpha=0.2, name="act")
    c = b.emit("cast", b.emit("greater", z, w), dtype="int32")
    q = b.emit("divide", c, b.const(np.array([2, -3, 4, 5], "int32"), name="d"))
    return b.build([z, q], {w: b.emit("add", w, w)})


def test_tensor_type_basics():
    t = TensorType(("N", 3), "f32")
    assert str(t) == "f32[N,3]" and t.dtype is DType.float32 and not t.is_static
    assert t.matches((7, 3)) and not t.matches((7, 4)) and not t.matches((3,))
    assert TensorType((2, 3), "bfloat16").dtype.numpy.itemsize == 2
    with pytest.raises(ValueError):
        TensorType((-1,), "f32")
    with pytest.raises(ValueError):
        DType.of("float13")


def test_node_types_are_inferred_and_checked():
    x = Value(TensorType((2, 3), "f32"), "x")
    y = Value(TensorType((4,), "f32"), "y")
    assert Node("add", [x, x]).output.type == TensorType((2, 3), "f32")
    with pytest.raises(IRError, match=r"add.*do not broadcast"):
        Node("add", [x, y], name="bad_add")
    with pytest.raises(IRError, match="share a dtype"):
        Node("add", [x, Value(TensorType((2, 3), "i32"), "i")])
    with pytest.raises(IRError, match="unknown attribute"):
        Node("relu", [x], {"alpha": 1.0})
    with pytest.raises(IRError, match="expected a number"):
        Node("leaky_relu", [x], {"alpha": "big"})
    with pytest.raises(IRError, match="expects 1 input"):
        Node("relu", [x, x])
    with pytest.raises(KeyError, match="unknown op"):
        Node("no_such_op", [x])


def test_error_names_the_node():
    x = Value(TensorType((2, 3), "f32"), "x")
    with pytest.raises(IRError, match="node 'conv_7'"):
        Node("add", [x, Value(TensorType((5,), "f32"))], name="conv_7")


def test_verifier_accepts_good_and_rejects_broken_graphs():
    g = verify(small_graph())
    dangling = Value(TensorType((2,), "f32"), "ghost")
    bad = Graph("bad", g.inputs, g.params, g.nodes, [dangling])
    with pytest.raises(IRError, match="not defined"):
        verify(bad)
    reordered = Graph("bad", g.inputs, g.params, list(reversed(g.nodes)), g.outputs)
    with pytest.raises(IRError, match="used before"):
        verify(reordered)
    dup = Graph("bad", g.inputs, g.params + [Param("w", np.zeros(1, np.float32))], g.nodes, g.outputs)
    with pytest.raises(IRError, match="duplicate name"):
        verify(dup)
    wrong_update = Graph("bad", g.inputs, g.params, g.nodes, g.outputs, {g.params[0]: g.outputs[0]})
    with pytest.raises(IRError, match="does not match"):
        verify(wrong_update)


def test_text_round_trip_and_semantics():
    g = small_graph()
    text = print_graph(g)
    assert "update %w <- " in text and 'leaky_relu "act"' in text and "{alpha=0.2}" in text
    g2 = verify(parse_graph(text))
    assert print_graph(g2) == text
    g2.param("w").data = g.param("w").data
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    for a, b in zip(interpret(g, {"x": x}), interpret(g2, {"x": x})):
        np.testing.assert_array_equal(a, b)


def test_inline_constants_round_trip_with_specials():
    b = GraphBuilder("c")
    x = b.input("x", TensorType((3,), "f32"))
    c = b.const(np.array([np.inf, -np.inf, 0.5], np.float32), name="c")
    g = b.build([b.emit("minimum", x, c)])
    g2 = parse_graph(print_graph(g))
    np.testing.assert_array_equal(g2.param("c").data, c.data)


@pytest.mark.parametrize("text, line, col, msg", [
    ("graph @g(%x: f32[2]) {\n  return %y\n}", 2, 10, "%y is not defined"),
    ("graph @g(%x: f33[2]) {\n  return %x\n}", 1, 14, "unknown dtype"),
    ("graph @g(%x: f32[2]) {\n  %0 = relu(%x) : f32[3]\n  return %0\n}", 2, 8, "declared type"),
    ("graph @g(%x: f32[2]) {\n  %0 = relu(%x) : f32[2]\n  %0 = relu(%x) : f32[2]\n  return %0\n}",
     3, 3, "defined twice"),
    ("graph @g(%x: f32[2]) {\n  %0 = relu(%x) $ f32[2]\n}", 2, 17, "unexpected character"),
    ("graph @g(%x: f32[2]) {\n  return %x\n", 3, 1, "expected '}'"),
])
def test_parse_errors_give_line_and_column(text, line, col, msg):
    with pytest.raises(ParseError, match=msg) as e:
        parse_graph(text)
    assert (e.value.line, e.value.col) == (line, col), str(e.value)
    assert f"line {line}, column {col}" in str(e.value)
