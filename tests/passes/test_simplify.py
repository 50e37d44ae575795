from aot.passes.simplify import simplify

from .harness import check_rewrite


def test_arithmetic_identities():
    check_rewrite(simplify, """
graph @g(%x: f32[N,3]) params(const %one: f32[] = [1.0], const %ones: f32[3] = [1.0, 1.0, 1.0], const %zero: f32[1,3] = [0.0, 0.0, 0.0]) {
  %0 = multiply(%x, %one) : f32[N,3]
  %1 = multiply(%ones, %0) : f32[N,3]
  %2 = add(%zero, %1) : f32[N,3]
  %3 = subtract(%2, %zero) : f32[N,3]
  %4 = divide(%3, %ones) : f32[N,3]
  %5 = relu(%4) : f32[N,3]
  return %5
}""", """
graph @g(%x: f32[N,3]) params(const %one: f32[] = [1.0], const %ones: f32[3] = [1.0, 1.0, 1.0], const %zero: f32[1,3] = [0.0, 0.0, 0.0]) {
  %0 = relu(%x) : f32[N,3]
  return %0
}""")


def test_identities_that_would_change_the_type_or_are_not_identities_stay():
    text = """
graph @g(%x: f32[3], %i: i32[3]) params(const %zeros: f32[2,3] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], const %one: f32[] = [1.0], const %two: f32[3] = [1.0, 2.0, 1.0], %w: f32[3]) {
  %0 = add(%x, %zeros) : f32[2,3]
  %1 = divide(%one, %x) : f32[3]
  %2 = subtract(%zeros, %x) : f32[2,3]
  %3 = multiply(%x, %two) : f32[3]
  %4 = multiply(%x, %w) : f32[3]
  %5 = cast(%i) {dtype=f32} : f32[3]
  %6 = reshape(%x) {shape=[1, 3]} : f32[1,3]
  return %0, %1, %2, %3, %4, %5, %6
}"""
    check_rewrite(simplify, text, text)


def test_no_op_casts_and_reshapes():
    check_rewrite(simplify, """
graph @g(%x: f32[N,2,3]) {
  %0 = cast(%x) {dtype=f32} : f32[N,2,3]
  %1 = reshape(%0) {shape=[-1, 2, 3]} : f32[N,2,3]
  %2 = exp(%1) : f32[N,2,3]
  return %2
}""", """
graph @g(%x: f32[N,2,3]) {
  %0 = exp(%x) : f32[N,2,3]
  return %0
}""")


def test_double_transposes_cancel_or_compose():
    check_rewrite(simplify, """
graph @g(%x: f32[2,3,4]) {
  %0 = transpose(%x) {perm=[1, 0, 2]} : f32[3,2,4]
  %1 = transpose(%0) {perm=[1, 0, 2]} : f32[2,3,4]
  %2 = transpose(%x) : f32[4,3,2]
  %3 = transpose(%2) {perm=[-1, 0, 1]} : f32[2,4,3]
  %4 = transpose(%3) {perm=[0, 2, 1]} : f32[2,3,4]
  %5 = add(%1, %4) : f32[2,3,4]
  return %5
}""", """
graph @g(%x: f32[2,3,4]) {
  %0 = transpose(%x) {perm=[1, 0, 2]} : f32[3,2,4]
  %1 = transpose(%x) : f32[4,3,2]
  %2 = transpose(%x) {perm=[0, 2, 1]} : f32[2,4,3]
  %3 = add(%x, %x) : f32[2,3,4]
  return %3
}""")  # the inner transposes are dead: dce's job


def test_outputs_keep_their_names():
    check_rewrite(simplify, """
graph @g(%x: f32[3]) params(const %one: f32[] = [1.0]) {
  %y = multiply(%x, %one) : f32[3]
  %z = multiply(%y, %one) : f32[3]
  return %y, %z
}""", """
graph @g(%x: f32[3]) params(const %one: f32[] = [1.0]) {
  %y = multiply(%x, %one) : f32[3]
  %z = multiply(%y, %one) : f32[3]
  return %y, %z
}""")
