"""Default CPU schedules for memory-bound kernels (schedules/memory.py): elementwise,
broadcast, transpose, concat, pooling, reductions, softmax, layer norm. Each kernel is
really scheduled (vectorized; parallel when it is big enough) and the compiled graph still
matches the numpy interpreter, on odd shapes (1, 5, 7, 13 channels) and a symbolic batch."""
import numpy as np
import pytest
import tvm_ffi

from aot.codegen.build import run_local
from aot.codegen.tvm import tvm
from aot.ir.builder import GraphBuilder
from aot.ir.interpreter import interpret
from aot.ir.types import TensorType

from .test_schedules import _feeds, _scheduled_module


def _layer_norm(b, x):
    centered = b.emit("subtract", x, b.emit("mean", x, axes=(-1,), keepdims=True))
    var = b.emit("mean", b.emit("multiply", centered, centered), axes=(-1,), keepdims=True)
    eps = b.const(np.array(1e-3, np.float32))
    return b.emit("multiply", centered, b.emit("rsqrt", b.emit("add", var, eps)))


def _bias_relu(b, x, y):
    return b.emit("relu", b.emit("add", x, y))


def _pool(op, **attrs):
    return lambda b, x: b.emit(op, x, **attrs)


# (id, body, input shapes, parallel expected, a partial-sum (rfactor) buffer expected)
CASES = [
    ("bias-relu-broadcast-odd", _bias_relu, [("N", 7, 13), (13,)], False, False),
    ("bias-relu-big", _bias_relu, [("N", 64, 64, 16), (16,)], True, False),
    ("transpose-odd", lambda b, x: b.emit("transpose", x, perm=(0, 2, 1)), [("N", 13, 7)], False, False),
    ("transpose-big", lambda b, x: b.emit("transpose", x, perm=(0, 2, 1, 3)), [("N", 32, 24, 32)],
     True, False),
    ("concat-channels", lambda b, x, y: b.emit("concat", x, y, axis=3),
     [("N", 32, 16, 48), ("N", 32, 16, 7)], True, False),
    ("maxpool-strided-padded", _pool("max_pool2d", pool_size=(3, 3), strides=(2, 2),
                                     padding=(1, 1, 1, 1)), [("N", 9, 9, 5)], False, False),
    ("maxpool-big", _pool("max_pool2d", pool_size=(3, 3), strides=(2, 2), padding=(1, 1, 1, 1)),
     [("N", 33, 33, 32)], True, False),
    ("avgpool-padded-1ch", _pool("avg_pool2d", pool_size=(2, 3), strides=(2, 1),
                                 padding=(1, 0, 1, 1)), [("N", 7, 8, 1)], False, False),
    ("avgpool-big", _pool("avg_pool2d", pool_size=(2, 2), strides=(2, 2)), [("N", 32, 32, 48)],
     True, False),
    ("global-avg-odd", lambda b, x: b.emit("mean", x, axes=(1, 2)), [("N", 7, 7, 13)], False, False),
    ("global-avg-big", lambda b, x: b.emit("mean", x, axes=(1, 2)), [("N", 16, 16, 96)], True, False),
    ("softmax-odd", lambda b, x: b.emit("softmax", x, axis=-1), [("N", 13)], False, False),
    ("softmax-rows", lambda b, x: b.emit("softmax", x, axis=-1), [("N", 4, 64)], False, True),
    ("softmax-big", lambda b, x: b.emit("softmax", x, axis=-1), [("N", 8, 32, 64)], True, True),
    ("softmax-inner-axis", lambda b, x: b.emit("softmax", x, axis=1), [("N", 4, 13)], False, False),
    ("log-softmax-rows", lambda b, x: b.emit("log_softmax", x, axis=-1), [("N", 3, 48)], False, True),
    ("layer-norm", _layer_norm, [("N", 7, 64)], False, True),
    ("layer-norm-big", _layer_norm, [("N", 128, 128)], True, True),
    ("sum-last-axis", lambda b, x: b.emit("sum", x, axes=(2,)), [("N", 7, 64)], False, True),
    ("max-middle-axis", lambda b, x: b.emit("max", x, axes=(1,)), [("N", 7, 13)], False, False),
]


def _graph(name, body, shapes):
    b = GraphBuilder(name)
    xs = [b.input(f"x{i}", TensorType(s, "f32")) for i, s in enumerate(shapes)]
    return b.build([body(b, *xs)])


def _scheduled_kernels(graph):
    mod = _scheduled_module(graph)
    return {gv.name_hint: f for gv, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc)}


def _loop_kinds(func) -> set:
    kinds = set()
    tvm_ffi.structural_walk(func.body, (tvm.tirx.For, lambda f: kinds.add(int(f.kind))),
                            order="post")
    return kinds


@pytest.mark.parametrize("id, body, shapes, parallel, partial", CASES, ids=[c[0] for c in CASES])
def test_memory_kernel_is_scheduled_and_correct(id, body, shapes, parallel, partial):
    graph = _graph(id, body, shapes)
    kernels = _scheduled_kernels(graph)
    assert kernels
    for name, f in kernels.items():
        assert f.attrs.get("tirx.is_scheduled"), f"{name} was left unscheduled"
        kinds = _loop_kinds(f)
        assert tvm.tirx.ForKind.VECTORIZED in kinds, f"{name}: no vectorized loop\n{f.script()}"
        if parallel:
            assert tvm.tirx.ForKind.PARALLEL in kinds, f"{name}: no parallel loop\n{f.script()}"
    script = "\n".join(f.script() for f in kernels.values())
    assert ("_rf" in script) == partial, script  # row reductions accumulate a vector of partials
    for batch in (1, 3):
        feeds = _feeds(graph, batch)
        want, got = interpret(graph, feeds)[0], run_local(graph, feeds)[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(want).max()))


def test_small_kernels_stay_on_one_thread():
    """Below PARALLEL_MIN_ELEMENTS a parallel launch costs more than the work: none."""
    kernels = _scheduled_kernels(_graph("small", _bias_relu, [("N", 7, 13), (13,)]))
    assert all(tvm.tirx.ForKind.PARALLEL not in _loop_kinds(f) for f in kernels.values())


def test_pooling_window_is_unrolled_over_vectorized_channels():
    """NHWC max pooling: the 3x3 window loops are unrolled, the channels vectorized inside
    them, and (n, h, w, channel chunks) are the parallel rows."""
    kernels = _scheduled_kernels(_graph("mp", _pool("max_pool2d", pool_size=(3, 3), strides=(2, 2),
                                                    padding=(1, 1, 1, 1)), [("N", 33, 33, 32)]))
    (f,) = kernels.values()
    script = f.script()
    assert script.count("T.unroll(T.int64(3))") == 2, script
    assert script.index("T.parallel") < script.index("T.unroll") < script.rindex("T.vectorized"), script


def test_costly_per_row_factor_is_computed_once_per_row():
    """A layer norm's rsqrt is computed per row (its own block at the row), not per element."""
    kernels = _scheduled_kernels(_graph("ln", _layer_norm, [("N", 7, 64)]))
    rsqrt = [f for name, f in kernels.items() if "rsqrt" in name]
    assert rsqrt, list(kernels)
    script = rsqrt[0].script()
    (line,) = [ln.strip() for ln in script.splitlines() if "T.rsqrt(" in ln]
    # stored per row ([n, t, 0]) into its own buffer, not recomputed into each output element
    assert line.startswith("compute") and "T.int64(0)] = T.rsqrt(" in line, script
