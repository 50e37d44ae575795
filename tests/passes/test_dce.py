from aot.passes.dce import dce

from .harness import check_rewrite


def test_removes_dead_nodes_and_unused_params():
    check_rewrite(dce, """
graph @g(%x: f32[N,4], %unused_input: f32[2]) params(%w: f32[4,4], %v: f32[4], const %two: f32[] = [2.0]) {
  %0 = matmul(%x, %w) : f32[N,4]
  %dead = relu(%0) : f32[N,4]
  %dead2 = add(%dead, %v) : f32[N,4]
  %y = multiply(%0, %two) : f32[N,4]
  return %y
}""", """
graph @g(%x: f32[N,4], %unused_input: f32[2]) params(%w: f32[4,4], const %two: f32[] = [2.0]) {
  %0 = matmul(%x, %w) : f32[N,4]
  %y = multiply(%0, %two) : f32[N,4]
  return %y
}""")


def test_keeps_what_updates_need_and_state_params():
    check_rewrite(dce, """
graph @step(%x: f32[4]) params(%w: f32[4], %lr: f32[], state %unused_state: f32[4] = [0.0, 0.0, 0.0, 0.0], %gone: f32[4]) {
  %g = multiply(%x, %lr) : f32[4]
  %w_new = subtract(%w, %g) : f32[4]
  %dead = exp(%gone) : f32[4]
  %loss = sum(%x) : f32[]
  return %loss
  update %w <- %w_new
  update %unused_state <- %unused_state
}""", """
graph @step(%x: f32[4]) params(%w: f32[4], %lr: f32[], state %unused_state: f32[4] = [0.0, 0.0, 0.0, 0.0]) {
  %g = multiply(%x, %lr) : f32[4]
  %w_new = subtract(%w, %g) : f32[4]
  %loss = sum(%x) : f32[]
  return %loss
  update %w <- %w_new
  update %unused_state <- %unused_state
}""")


def test_keeps_a_multi_output_node_when_one_output_is_live():
    check_rewrite(dce, """
graph @g(%x: f32[4,6]) {
  %a, %b = split(%x) {axis=1, sizes=[2, 4]} : f32[4,2], f32[4,4]
  %dead = relu(%a) : f32[4,2]
  return %b
}""", """
graph @g(%x: f32[4,6]) {
  %a, %b = split(%x) {axis=1, sizes=[2, 4]} : f32[4,2], f32[4,4]
  return %b
}""")


def test_a_param_returned_as_an_output_stays():
    check_rewrite(dce, """
graph @g(%x: f32[2]) params(%w: f32[2], %other: f32[2]) {
  %0 = add(%x, %other) : f32[2]
  return %w
}""", """
graph @g(%x: f32[2]) params(%w: f32[2]) {
  return %w
}""")
