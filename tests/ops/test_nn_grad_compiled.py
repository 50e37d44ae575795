"""The nn gradient graphs lower to TVM: loss = sum(op(...) * c) and its gradients with respect
to every input, compiled for the host CPU, agree with the interpreter in float32."""
import numpy as np
import pytest

from aot.codegen.build import run_local
from aot.ir import GraphBuilder, TensorType, interpret, verify
from aot.passes.autodiff import build_gradients

F32 = "float32"

# (id, op, input shapes, attrs, symbol bindings)
GRAPHS = [
    ("conv2d-NHWC-s2-groups", "conv2d", [("N", 7, 6, 4), (3, 3, 2, 6)],
     dict(strides=(2, 2), padding=(1, 0, 1, 1), groups=2), {"N": 2}),
    ("conv2d-NCHW-s2-groups", "conv2d", [(2, 4, 7, 6), (6, 2, 3, 3)],
     dict(strides=(2, 2), padding=(1, 0, 1, 1), groups=2, layout="NCHW"), {}),
    ("conv2d-NHWC-depthwise-dilation", "conv2d", [(1, 8, 7, 3), (3, 3, 1, 3)],
     dict(dilation=(2, 1), padding=(2, 1, 2, 1), groups=3), {}),
    ("conv1d-NCW-s2", "conv1d", [(2, 3, 9), (4, 3, 3)],
     dict(strides=(2,), padding=(1, 0), layout="NCW"), {}),
    ("conv2d_transpose-NHWC-s2", "conv2d_transpose", [(2, 3, 4, 4), (3, 3, 2, 4)],
     dict(strides=(2, 2), padding=(1, 1, 1, 1), output_padding=(1, 0), groups=2), {}),
    ("conv2d_transpose-NCHW-dilation", "conv2d_transpose", [("N", 2, 3, 3), (2, 3, 2, 2)],
     dict(strides=(1, 2), dilation=(3, 3), padding=(1, 0, 1, 0), output_padding=(2, 1),
          layout="NCHW"), {"N": 2}),
    ("matmul-batch", "matmul", [(2, 3, 4), (4, 5)], {}, {}),
    ("matmul-batch-symbolic", "matmul", [("N", 3, 4), (4, 5)], {}, {"N": 2}),
    ("matmul-broadcast", "matmul", [(2, 1, 3, 4), (3, 4, 2)], {}, {}),
    ("max_pool2d-NHWC-ceil", "max_pool2d", [(2, 6, 6, 3)],
     dict(pool_size=(3, 3), strides=(2, 3), padding=(0, 1, 0, 1), ceil_mode=True), {}),
    ("max_pool2d-NCHW-dilation", "max_pool2d", [("N", 2, 7, 8)],
     dict(pool_size=(2, 3), dilation=(2, 2), strides=(1, 2), padding=(1, 0, 0, 2), layout="NCHW"),
     {"N": 2}),
    ("avg_pool2d-NHWC-pad", "avg_pool2d", [(2, 5, 7, 2)],
     dict(pool_size=(3, 3), strides=(2, 2), padding=(1, 1, 1, 1)), {}),
    ("avg_pool2d-NCHW-include-pad-ceil", "avg_pool2d", [(1, 2, 6, 6)],
     dict(pool_size=(3, 3), strides=(2, 2), padding=(1, 1, 1, 1), count_include_pad=True,
          ceil_mode=True, layout="NCHW"), {}),
    ("softmax", "softmax", [(3, 7)], {}, {}),
    ("log_softmax-axis0", "log_softmax", [("N", 4)], dict(axis=0), {"N": 3}),
]


def _grad_graph(op, shapes, attrs, bind, rng):
    """-> (graph returning [loss, *grads], feeds); the cotangent c is an input too."""
    b = GraphBuilder(f"{op}_grad")
    xs = [b.input(f"x{i}", TensorType(s, F32)) for i, s in enumerate(shapes)]
    y = b.emit(op, *xs, **attrs)
    loss = b.emit("sum", b.emit("multiply", y, b.input("cot", y.type)))
    grads = build_gradients(b, list(b.nodes), loss, xs)
    feeds = {x.name: rng.standard_normal(tuple(bind.get(d, d) for d in x.type.shape)).astype(np.float32)
             for x in b.inputs}
    return b.build([loss, *grads]), feeds


@pytest.mark.parametrize("id, op, shapes, attrs, bind", GRAPHS, ids=[g[0] for g in GRAPHS])
def test_gradient_graph_compiles_and_matches_interpreter(id, op, shapes, attrs, bind, rng):
    graph, feeds = _grad_graph(op, shapes, attrs, bind, rng)
    verify(graph)
    want, got = interpret(graph, feeds), run_local(graph, feeds)
    assert len(got) == len(shapes) + 1
    for w, g in zip(want, got):
        assert g.shape == w.shape and g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def test_max_pool_tie_goes_to_the_first_maximum():
    """As PyTorch: a window of equal values sends its whole gradient to its first position."""
    b = GraphBuilder("ties")
    x = b.input("x", TensorType((1, 2, 4, 1), F32))
    loss = b.emit("sum", b.emit("max_pool2d", x, pool_size=(2, 2), strides=(2, 2)))
    (gx,) = build_gradients(b, list(b.nodes), loss, [x])
    graph = b.build([gx])
    feeds = {"x": np.array([[5, 5, 1, 2], [5, 5, 2, 2]], np.float32).reshape(1, 2, 4, 1)}
    want = np.array([[1, 0, 0, 1], [0, 0, 0, 0]], np.float32).reshape(1, 2, 4, 1)
    np.testing.assert_array_equal(interpret(graph, feeds)[0], want)
    np.testing.assert_array_equal(run_local(graph, feeds)[0], want)
