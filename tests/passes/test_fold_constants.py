import numpy as np

from aot.ir import parse_graph
from aot.passes.fold_constants import FoldConstants, fold_constants

from .harness import assert_same_results, check_rewrite


def test_folds_chains_of_constants_into_const_params():
    check_rewrite(fold_constants, """
graph @g(%x: f32[2,3]) params(const %a: f32[3] = [1.0, 2.0, 3.0], const %b: f32[3] = [1.0, 1.0, 1.0]) {
  %0 = add(%a, %b) : f32[3]
  %1 = multiply(%0, %0) : f32[3]
  %2 = add(%x, %1) : f32[2,3]
  return %2
}""", """
graph @g(%x: f32[2,3]) params(const %a: f32[3] = [1.0, 2.0, 3.0], const %b: f32[3] = [1.0, 1.0, 1.0], const %add_folded: f32[3] = [2.0, 3.0, 4.0], const %multiply_folded: f32[3] = [4.0, 9.0, 16.0]) {
  %0 = add(%x, %multiply_folded) : f32[2,3]
  return %0
}""")


def test_folded_values_keep_their_names_and_output_names():
    check_rewrite(fold_constants, """
graph @g(%x: f32[2]) params(const %shape: i64[1] = [2], const %c: i64[2] = [3, 4]) {
  %scale = cast(%c) {dtype=f32} : f32[2]
  %y = neg(%scale) : f32[2]
  %z = multiply(%x, %scale) : f32[2]
  return %y, %z
}""", """
graph @g(%x: f32[2]) params(const %shape: i64[1] = [2], const %c: i64[2] = [3, 4], const %scale: f32[2] = [3.0, 4.0], const %y: f32[2] = [-3.0, -4.0]) {
  %z = multiply(%x, %scale) : f32[2]
  return %y, %z
}""")


def test_an_unnamed_output_is_not_folded_so_it_keeps_its_name():
    check_rewrite(fold_constants, """
graph @g() params(const %a: f32[2] = [1.0, 2.0]) {
  %0 = neg(%a) : f32[2]
  return %0
}""", """
graph @g() params(const %a: f32[2] = [1.0, 2.0]) {
  %0 = neg(%a) : f32[2]
  return %0
}""")


def test_trainable_params_and_state_are_not_constants():
    check_rewrite(fold_constants, """
graph @g(%x: f32[2]) params(%w: f32[2], state %slot: f32[2] = [0.0, 0.0], const %c: f32[2] = [1.0, 2.0]) {
  %0 = multiply(%w, %c) : f32[2]
  %1 = multiply(%slot, %c) : f32[2]
  %2 = add(%1, %x) : f32[2]
  return %0
  update %slot <- %2
}""", """
graph @g(%x: f32[2]) params(%w: f32[2], state %slot: f32[2] = [0.0, 0.0], const %c: f32[2] = [1.0, 2.0]) {
  %0 = multiply(%w, %c) : f32[2]
  %1 = multiply(%slot, %c) : f32[2]
  %2 = add(%1, %x) : f32[2]
  return %0
  update %slot <- %2
}""")


def test_does_not_grow_small_constants_into_big_ones():
    text = """
graph @g(%x: f32[3,3]) params(const %one: f32[] = [1.0], const %m: f32[3,2] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) {
  %big = broadcast_to(%one) {shape=[3, 3]} : f32[3,3]
  %t = transpose(%m) : f32[2,3]
  %0 = add(%x, %big) : f32[3,3]
  return %0, %t
}"""
    check_rewrite(FoldConstants(max_elements=4), text, """
graph @g(%x: f32[3,3]) params(const %one: f32[] = [1.0], const %m: f32[3,2] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], const %t: f32[2,3] = [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]) {
  %big = broadcast_to(%one) {shape=[3, 3]} : f32[3,3]
  %0 = add(%x, %big) : f32[3,3]
  return %0, %t
}""")
    folded = fold_constants(parse_graph(text))  # the default limit folds both
    assert [n.op.name for n in folded.nodes] == ["add"]


def test_a_folded_graph_computes_what_the_original_did():
    graph = parse_graph("""
graph @g(%x: f32[N,4]) params(const %w: f32[4] = [0.5, -1.0, 2.0, 0.0], const %b: f32[4] = [1.0, 2.0, 3.0, 4.0]) {
  %e = exp(%w) : f32[4]
  %s = softmax(%b) : f32[4]
  %k = add(%e, %s) : f32[4]
  %m = sum(%k) {axes=[0], keepdims=true} : f32[1]
  %y = multiply(%x, %k) : f32[N,4]
  %z = add(%y, %m) : f32[N,4]
  return %z
}""")
    out = fold_constants(graph)
    assert [n.op.name for n in out.nodes] == ["multiply", "add"]
    assert_same_results(graph, out)
    k = np.exp(graph.param("w").data) + out.param("s").data
    np.testing.assert_array_equal(out.param("m").data, k.sum(keepdims=True))
