from aot.passes.cse import cse

from .harness import check_rewrite


def test_merges_repeated_nodes_transitively():
    # %3 only becomes add(%0, %0) once %1 is merged into %0; then it repeats %2.
    check_rewrite(cse, """
graph @g(%x: f32[N,4]) {
  %0 = relu(%x) : f32[N,4]
  %1 = relu(%x) : f32[N,4]
  %2 = add(%0, %1) : f32[N,4]
  %3 = add(%1, %0) : f32[N,4]
  %4 = multiply(%2, %3) : f32[N,4]
  return %4
}""", """
graph @g(%x: f32[N,4]) {
  %0 = relu(%x) : f32[N,4]
  %1 = add(%0, %0) : f32[N,4]
  %2 = multiply(%1, %1) : f32[N,4]
  return %2
}""")


def test_different_attrs_or_input_order_are_different_nodes():
    text = """
graph @g(%x: f32[4], %y: f32[4]) {
  %0 = leaky_relu(%x) {alpha=0.1} : f32[4]
  %1 = leaky_relu(%x) {alpha=0.2} : f32[4]
  %2 = subtract(%x, %y) : f32[4]
  %3 = subtract(%y, %x) : f32[4]
  return %0, %1, %2, %3
}"""
    check_rewrite(cse, text, text)


def test_equal_small_constants_merge_and_so_do_their_users():
    check_rewrite(cse, """
graph @g(%x: f32[4]) params(const %one: f32[] = [1.5], const %one_again: f32[] = [1.5], const %other: f32[] = [2.5], %w: f32[]) {
  %0 = multiply(%x, %one) : f32[4]
  %1 = multiply(%x, %one_again) : f32[4]
  %2 = multiply(%x, %other) : f32[4]
  %3 = multiply(%x, %w) : f32[4]
  %4 = add(%0, %1) : f32[4]
  %5 = add(%2, %3) : f32[4]
  %6 = add(%4, %5) : f32[4]
  return %6
}""", """
graph @g(%x: f32[4]) params(const %one: f32[] = [1.5], const %one_again: f32[] = [1.5], const %other: f32[] = [2.5], %w: f32[]) {
  %0 = multiply(%x, %one) : f32[4]
  %1 = multiply(%x, %other) : f32[4]
  %2 = multiply(%x, %w) : f32[4]
  %3 = add(%0, %0) : f32[4]
  %4 = add(%1, %2) : f32[4]
  %5 = add(%3, %4) : f32[4]
  return %5
}""")


def test_an_output_keeps_its_name_so_its_duplicate_stays():
    check_rewrite(cse, """
graph @g(%x: f32[4]) {
  %a = exp(%x) : f32[4]
  %b = exp(%x) : f32[4]
  %c = exp(%x) : f32[4]
  %d = add(%c, %a) : f32[4]
  return %a, %b, %d
}""", """
graph @g(%x: f32[4]) {
  %a = exp(%x) : f32[4]
  %b = exp(%x) : f32[4]
  %d = add(%a, %a) : f32[4]
  return %a, %b, %d
}""")


def test_multi_output_nodes_merge_whole():
    check_rewrite(cse, """
graph @g(%x: f32[4,6]) {
  %a, %b = split(%x) {axis=1, sizes=[2, 4]} : f32[4,2], f32[4,4]
  %c, %d = split(%x) {axis=1, sizes=[2, 4]} : f32[4,2], f32[4,4]
  %0 = concat(%a, %d) {axis=1} : f32[4,6]
  %1 = concat(%c, %b) {axis=1} : f32[4,6]
  %2 = add(%0, %1) : f32[4,6]
  return %2
}""", """
graph @g(%x: f32[4,6]) {
  %a, %b = split(%x) {axis=1, sizes=[2, 4]} : f32[4,2], f32[4,4]
  %0 = concat(%a, %b) {axis=1} : f32[4,6]
  %1 = add(%0, %0) : f32[4,6]
  return %1
}""")
