"""Default CPU schedules: each heavy kernel is really scheduled (a parallel loop and a
vectorized one in its PrimFunc, the epilogue fused), and the compiled graph still matches
the numpy interpreter, on odd shapes and with a symbolic batch."""
import numpy as np
import pytest
import tvm_ffi

from aot.codegen.build import run_local
from aot.codegen.lower import Entry, to_relax
from aot.codegen.schedules import default_schedule_pass
from aot.codegen.targets import make_target
from aot.codegen.tvm import tvm
from aot.ir.builder import GraphBuilder
from aot.ir.interpreter import interpret
from aot.ir.types import TensorType

# (id, op, x shape, w shape, attrs, batch fed for the symbolic "N")
CASES = [
    ("matmul-static-odd", "matmul", (5, 37), (37, 23), {}, None),
    ("matmul-symbolic-batch", "matmul", ("N", 33), (33, 48), {}, 5),
    ("matmul-batched", "matmul", ("N", 7, 19), (19, 40), {}, 3),
    ("conv-nhwc-odd", "conv2d", ("N", 9, 11, 3), (3, 3, 3, 20), dict(padding=(1, 1, 1, 1)), 3),
    ("conv-nhwc-stride-dilation", "conv2d", ("N", 13, 10, 8), (3, 2, 8, 32),
     dict(strides=(2, 1), dilation=(2, 2), padding=(1, 0, 2, 1)), 2),
    ("conv-nchw-grouped", "conv2d", ("N", 6, 9, 7), (12, 3, 3, 3),
     dict(groups=2, padding=(1, 1, 1, 1), layout="NCHW"), 2),
    ("conv-depthwise", "conv2d", ("N", 10, 10, 16), (3, 3, 1, 16),
     dict(groups=16, strides=(2, 2), padding=(0, 0, 1, 1)), 3),
    ("conv-big-channels-packed", "conv2d", ("N", 5, 5, 64), (3, 3, 64, 128),
     dict(padding=(1, 1, 1, 1)), 2),
    ("conv-transpose", "conv2d_transpose", ("N", 5, 6, 4), (3, 3, 6, 4),
     dict(strides=(2, 2), padding=(1, 1, 1, 1)), 2),
]


def _graph(op, x_shape, w_shape, attrs, epilogue=True):
    """op(x, w), then bias + relu + residual-like add: what FuseOps puts in one kernel."""
    rng = np.random.default_rng(1)
    b = GraphBuilder(op)
    x = b.input("x", TensorType(x_shape, "f32"))
    w = b.param("w", rng.standard_normal(w_shape).astype(np.float32))
    y = b.emit(op, x, w, **attrs)
    if epilogue:
        last = y.type.shape[-1]
        bias = b.param("bias", rng.standard_normal((last,)).astype(np.float32))
        y = b.emit("relu", b.emit("add", y, bias))
        y = b.emit("add", y, b.emit("multiply", y, y))
    return b.build([y])


def _feeds(graph, batch):
    rng = np.random.default_rng(2)
    return {v.name: rng.standard_normal([batch if isinstance(d, str) else d
                                         for d in v.type.shape]).astype(np.float32)
            for v in graph.inputs}


def _scheduled_module(graph, tgt=None):
    """The legalized module with the default schedules applied, for `tgt` (the host's
    target by default; schedules are made without running anything)."""
    from tvm.relax.backend.cpu_generic import pipeline as stages

    tgt = tgt or make_target("llvm")
    with tgt:
        seq = stages.library_dispatch_passes(tgt) + stages.legalize_passes(tgt)
        mod = tvm.transform.Sequential(seq)(to_relax([Entry("main", graph)]))
        return default_schedule_pass(tgt)(mod)


def _loop_kinds(func) -> set:
    kinds = set()
    tvm_ffi.structural_walk(func.body, (tvm.tirx.For, lambda f: kinds.add(int(f.kind))),
                            order="post")
    return kinds


@pytest.mark.parametrize("id, op, x_shape, w_shape, attrs, batch", CASES, ids=[c[0] for c in CASES])
def test_contraction_is_scheduled_and_correct(id, op, x_shape, w_shape, attrs, batch):
    graph = _graph(op, x_shape, w_shape, attrs)
    mod = _scheduled_module(graph)
    heavy = {gv.name_hint: f for gv, f in mod.functions_items()
             if isinstance(f, tvm.tirx.PrimFunc) and op.split("_")[0] in gv.name_hint}
    assert heavy, f"no {op} kernel in {[gv.name_hint for gv in mod.get_global_vars()]}"
    for name, f in heavy.items():
        assert f.attrs.get("tirx.is_scheduled"), f"{name} was left unscheduled"
        kinds = _loop_kinds(f)
        assert {tvm.tirx.ForKind.PARALLEL, tvm.tirx.ForKind.VECTORIZED} <= kinds, name
    feeds = _feeds(graph, batch or 1)
    want, got = interpret(graph, feeds)[0], run_local(graph, feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_epilogue_is_fused_into_the_conv_kernel():
    """Bias, relu and the add end up in the conv's PrimFunc, computed inside its tile loop:
    no separate elementwise kernel remains."""
    graph = _graph("conv2d", ("N", 8, 8, 16), (3, 3, 16, 32), dict(padding=(1, 1, 1, 1)))
    mod = _scheduled_module(graph)
    names = [gv.name_hint for gv, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    assert len(names) == 1 and "relu" in names[0], names
    # The fused result is written from inside the parallel tile loop (reverse_compute_at).
    script = mod[names[0]].script()
    assert script.index("T.parallel") < script.rindex("T.max("), script


def test_scalar_dot_product_is_left_to_tvm_and_still_correct():
    """A 1-D x 1-D matmul has no output axis to tile: no rule takes it, the result is right."""
    graph = _graph("matmul", (17,), (17,), {}, epilogue=False)
    feeds = _feeds(graph, 1)
    np.testing.assert_allclose(run_local(graph, feeds)[0], interpret(graph, feeds)[0], rtol=1e-5)


def test_symbolic_batch_rows_are_padded_to_whole_tiles():
    """A dense layer with a symbolic batch gets whole register tiles: its accumulator is a
    small local buffer of static shape, not an (N, columns) buffer in memory."""
    graph = _graph("matmul", ("N", 40), (40, 64), {})
    S = tvm.s_tir.transform
    mod = tvm.transform.Sequential([S.LowerInitBlock(), S.PlanAndUpdateBufferAllocationLocation(),
                                    S.ConvertBlocksToOpaque(), S.CompactBufferAllocation()])(
        _scheduled_module(graph))
    script = "\n".join(f.script() for _, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc))
    assert "_pad" in script and 'scope="local"' in script, script
    local = [line for line in script.splitlines() if 'scope="local"' in line]
    assert local and all("N" not in line for line in local), local


def test_dynamic_shape_kernels_keep_noalias():
    """The shape functions of a dynamic-shape module are marked noalias, so LLVM sees every
    kernel's buffers as distinct (else one alias class for all: accumulators stay in memory)."""
    from aot.codegen.build import build

    ex = build([Entry("main", _graph("matmul", ("N", 16), (16, 32), {}))], "llvm")
    ll = ex.mod.imports[0].inspect_source("ll")
    assert "shape_func" in ll and "tvm-alias" not in ll


def test_successive_calls_with_changing_batches_are_right():
    """Padded batch tiles and the runtime's reused input tensors: every call, whatever its
    batch (a multiple of the tile or not), matches the interpreter."""
    import aot

    graph = _graph("matmul", ("N", 37), (37, 48), {})
    module = aot.compile(graph, target="llvm")
    for batch in (1, 8, 13, 13, 4, 1):
        feeds = _feeds(graph, batch)
        got = module.predict(feeds["x"])
        want = interpret(graph, feeds)[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
