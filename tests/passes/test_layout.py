"""fold_layout_transposes: transpose -> channels-first conv / pool -> transpose back becomes
the channels-last op (Before/Expected in the text IR, interpreter results equal), and what
does not fit the pattern stays."""
from aot.ir import Graph
from aot.passes.dce import dce
from aot.passes.layout import fold_layout_transposes
from aot.passes.simplify import simplify

from .harness import check_rewrite


def fold_and_simplify(graph: Graph) -> Graph:
    """As the inference pipeline runs it: simplify cancels the kernel's two transposes."""
    return dce(simplify(fold_layout_transposes(graph)))


def test_exported_nhwc_conv_folds_back_to_the_nhwc_conv_on_the_hwio_kernel():
    check_rewrite(fold_and_simplify, """
graph @g(%x: f32[N,6,6,2]) params(%k: f32[3,3,2,4]) {
  %0 = transpose(%k) {perm=[3, 2, 0, 1]} : f32[4,2,3,3]
  %1 = transpose(%x) {perm=[0, 3, 1, 2]} : f32[N,2,6,6]
  %2 = conv2d "c"(%1, %0) {strides=[2, 2], padding=[1, 1, 0, 0], layout="NCHW"} : f32[N,4,3,3]
  %y = transpose(%2) {perm=[0, 2, 3, 1]} : f32[N,3,3,4]
  return %y
}""", """
graph @g(%x: f32[N,6,6,2]) params(%k: f32[3,3,2,4]) {
  %y = conv2d "c"(%x, %k) {strides=[2, 2], padding=[1, 1, 0, 0]} : f32[N,3,3,4]
  return %y
}""")


def test_an_oihw_kernel_is_read_through_one_transpose():
    check_rewrite(fold_layout_transposes, """
graph @g(%x: f32[N,5,5,4]) params(%k: f32[4,1,3,3]) {
  %0 = transpose(%x) {perm=[0, 3, 1, 2]} : f32[N,4,5,5]
  %1 = conv2d(%0, %k) {groups=4, layout="NCHW"} : f32[N,4,3,3]
  %2 = transpose(%1) {perm=[0, 2, 3, 1]} : f32[N,3,3,4]
  %3 = relu(%2) : f32[N,3,3,4]
  return %3
}""", """
graph @g(%x: f32[N,5,5,4]) params(%k: f32[4,1,3,3]) {
  %0 = transpose(%k) {perm=[2, 3, 1, 0]} : f32[3,3,1,4]
  %1 = conv2d(%x, %0) {groups=4} : f32[N,3,3,4]
  %2 = relu(%1) : f32[N,3,3,4]
  return %2
}""")


def test_pools_conv1d_and_transposed_conv_fold():
    check_rewrite(fold_layout_transposes, """
graph @g(%x: f32[N,4,4,2], %s: f32[N,7,3]) params(%k: f32[2,3,2,2], %k1: f32[5,3,2]) {
  %0 = transpose(%x) {perm=[0, 3, 1, 2]} : f32[N,2,4,4]
  %1 = max_pool2d(%0) {pool_size=[2, 2], strides=[2, 2], layout="NCHW"} : f32[N,2,2,2]
  %2 = transpose(%1) {perm=[0, 2, 3, 1]} : f32[N,2,2,2]
  %3 = transpose(%2) {perm=[0, 3, 1, 2]} : f32[N,2,2,2]
  %4 = conv2d_transpose(%3, %k) {strides=[2, 2], layout="NCHW"} : f32[N,3,4,4]
  %5 = transpose(%4) {perm=[0, 2, 3, 1]} : f32[N,4,4,3]
  %6 = transpose(%s) {perm=[0, 2, 1]} : f32[N,3,7]
  %7 = conv1d(%6, %k1) {layout="NCW"} : f32[N,5,6]
  %8 = transpose(%7) {perm=[0, 2, 1]} : f32[N,6,5]
  return %5, %8
}""", """
graph @g(%x: f32[N,4,4,2], %s: f32[N,7,3]) params(%k: f32[2,3,2,2], %k1: f32[5,3,2]) {
  %0 = max_pool2d(%x) {pool_size=[2, 2], strides=[2, 2]} : f32[N,2,2,2]
  %1 = transpose(%k) {perm=[2, 3, 1, 0]} : f32[2,2,3,2]
  %2 = conv2d_transpose(%0, %1) {strides=[2, 2]} : f32[N,4,4,3]
  %3 = transpose(%k1) {perm=[2, 1, 0]} : f32[2,3,5]
  %4 = conv1d(%s, %3) : f32[N,6,5]
  return %2, %4
}""")


def test_what_does_not_fit_stays():
    """A conv read by more than its transpose back, a transpose back to another order, and an
    NCHW conv on untransposed data all stay; a shared first transpose stays for its reader."""
    text = """
graph @g(%x: f32[N,4,4,2], %z: f32[N,2,4,4]) params(%k: f32[3,2,1,1]) {
  %0 = transpose(%x) {perm=[0, 3, 1, 2]} : f32[N,2,4,4]
  %1 = conv2d(%0, %k) {layout="NCHW"} : f32[N,3,4,4]
  %2 = transpose(%1) {perm=[0, 2, 3, 1]} : f32[N,4,4,3]
  %3 = conv2d(%0, %k) {layout="NCHW"} : f32[N,3,4,4]
  %4 = transpose(%3) {perm=[0, 3, 2, 1]} : f32[N,4,4,3]
  %5 = conv2d(%z, %k) {layout="NCHW"} : f32[N,3,4,4]
  %6 = transpose(%5) {perm=[0, 2, 3, 1]} : f32[N,4,4,3]
  return %1, %2, %4, %6
}"""
    check_rewrite(fold_layout_transposes, text, text)
    check_rewrite(fold_layout_transposes, """
graph @g(%x: f32[N,4,4,2]) params(%k: f32[3,2,1,1]) {
  %0 = transpose(%x) {perm=[0, 3, 1, 2]} : f32[N,2,4,4]
  %1 = conv2d(%0, %k) {layout="NCHW"} : f32[N,3,4,4]
  %y = transpose(%1) {perm=[0, 2, 3, 1]} : f32[N,4,4,3]
  return %y, %0
}""", """
graph @g(%x: f32[N,4,4,2]) params(%k: f32[3,2,1,1]) {
  %0 = transpose(%x) {perm=[0, 3, 1, 2]} : f32[N,2,4,4]
  %1 = transpose(%k) {perm=[2, 3, 1, 0]} : f32[1,1,2,3]
  %y = conv2d(%x, %1) : f32[N,4,4,3]
  return %y, %0
}""")
