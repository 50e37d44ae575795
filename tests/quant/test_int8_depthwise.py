"""The int8 depthwise kernel (qconv2d with groups == input channels) compiled for the CPU:
bit-exact against an integer numpy reference written here (int64, per channel), on odd
channel counts, stride 1 and 2, same / valid / asymmetric padding, dilation, a channel
multiplier, u8 and s8 activations and a symbolic batch; the whole fused layer (bias,
requantize, clamps) against the interpreter; the depthwise schedule really takes the kernel
(no bounds check left in its inner loop), and targets without AVX-512 (x86-64, aarch64,
`c`) build it."""
import numpy as np
import pytest

from aot.codegen.build import build, cpu_pipeline, run_local
from aot.codegen.lower import Entry, to_relax
from aot.codegen.schedules.int8_depthwise import schedule_int8_depthwise
from aot.codegen.targets import make_target
from aot.codegen.tvm import tvm
from aot.ir.builder import GraphBuilder
from aot.ir.interpreter import interpret
from aot.ir.types import TensorType
from aot.ops.quant import QDW_BLOCK

RANGE = {"uint8": (0, 256), "int8": (-128, 128)}


def depthwise_int(x, w, zp, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1)):
    """NHWC x [KH, KW, 1, C*m] in int64: output channel o reads input channel o // m; the
    input padded with the zero point (0 once centred)."""
    (kh, kw, _, o), (sh, sw), (dh, dw) = w.shape, stride, dilation
    m = o // x.shape[-1]
    xp = np.pad(x.astype(np.int64) - zp, [(0, 0), (pad[0], pad[2]), (pad[1], pad[3]), (0, 0)])
    xp = np.repeat(xp, m, axis=-1)
    oh = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], oh, ow, o), np.int64)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
            out += xp[:, rows, cols] * w[i, j, 0].astype(np.int64)
    return out.astype(np.int32)


def _data(shape, act, seed=0):
    lo, hi = RANGE[act]
    return np.random.default_rng(seed).integers(lo, hi, shape).astype(act)


def _weights(shape, seed=1):
    return np.random.default_rng(seed).integers(-128, 128, shape).astype(np.int8)


def _graph(x_shape, act, w, zp, epilogue=False, **attrs):
    """qconv2d(x, w, zp, groups=C); with `epilogue`, the layer the quantize pass makes of
    it: + bias -> requantize -> maximum(floor) -> minimum(ceiling)."""
    b = GraphBuilder("dw")
    x = b.input("x", TensorType(x_shape, act))
    y = b.emit("qconv2d", x, b.const(w, name="w"), b.const(np.int32(zp), name="zp"),
               groups=x_shape[-1], **attrs)
    if epilogue:
        n = w.shape[-1]
        rng = np.random.default_rng(3)
        y = b.emit("add", y, b.const(rng.integers(-3000, 3000, n).astype(np.int32), name="bias"))
        mult = np.linspace(0.004, 0.02, n).astype(np.float32)
        y = b.emit("requantize", y, b.const(mult, name="mult"), b.const(np.int32(5), name="zy"),
                   dtype=act)
        lo, hi = (10, 200) if act == "uint8" else (-100, 90)
        y = b.emit("maximum", y, b.const(np.asarray(lo, act), name="floor"))
        y = b.emit("minimum", y, b.const(np.asarray(hi, act), name="ceiling"))
    return b.build([y])


def _build_for(graph, mcpu=None):
    if mcpu is None:
        return build([Entry("main", graph)], "llvm")
    tgt = tvm.target.Target({"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": mcpu,
                             "num-cores": 2})
    return tvm.compile(to_relax([Entry("main", graph)]), target=tgt,
                       relax_pipeline=cpu_pipeline(tgt))


CASES = [  # (id, x shape, kernel shape, attrs)
    ("17ch-3x3-same", ("N", 9, 10, 17), (3, 3, 1, 17), dict(padding=(1, 1, 1, 1))),
    ("35ch-3x3-stride2-same", ("N", 9, 10, 35), (3, 3, 1, 35),
     dict(strides=(2, 2), padding=(0, 0, 1, 1))),
    ("32ch-3x3-valid", ("N", 8, 11, 32), (3, 3, 1, 32), {}),
    ("48ch-5x3-stride2-asymmetric", ("N", 12, 9, 48), (5, 3, 1, 48),
     dict(strides=(2, 1), padding=(2, 0, 1, 2))),
    ("5ch-x2-dilated", ("N", 9, 7, 5), (3, 3, 1, 10), dict(padding=(2, 1, 2, 1), dilation=(2, 1))),
]


@pytest.mark.parametrize("act, zp", [("uint8", 77), ("int8", -9)])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_depthwise_matches_integer_reference(case, act, zp):
    _, x_shape, k_shape, attrs = case
    w = _weights(k_shape)
    graph = _graph(x_shape, act, w, zp, **attrs)
    ex = _build_for(graph)
    for batch in (1, 2):
        x = _data((batch,) + x_shape[1:], act, seed=batch)
        want = depthwise_int(x, w, zp, attrs.get("strides", (1, 1)),
                             attrs.get("padding", (0,) * 4), attrs.get("dilation", (1, 1)))
        np.testing.assert_array_equal(run_local(graph, {"x": x}, ex)[0], want)


@pytest.mark.parametrize("act", ["uint8", "int8"])
@pytest.mark.parametrize("stride, pad", [((1, 1), (1, 1, 1, 1)), ((2, 2), (0, 0, 1, 1))])
def test_fused_layer_matches_interpreter(act, stride, pad):
    """The whole quantized layer, one kernel reading u8 and writing u8, against the ops'
    references (requantize's rounding and the clamps included)."""
    graph = _graph(("N", 10, 12, 24), act, _weights((3, 3, 1, 24)), 3, epilogue=True,
                   strides=stride, padding=pad)
    x = _data((2, 10, 12, 24), act)
    np.testing.assert_array_equal(run_local(graph, {"x": x}, _build_for(graph))[0],
                                  interpret(graph, {"x": x})[0])


def test_weights_and_zero_point_known_only_at_run_time():
    """Weights and zero point as graph inputs: the correction is computed by a kernel."""
    b = GraphBuilder("dw")
    x = b.input("x", TensorType(("N", 7, 6, 19), "uint8"))
    w = b.input("w", TensorType((3, 3, 1, 19), "int8"))
    zp = b.input("zp", TensorType((), "int32"))
    graph = b.build([b.emit("qconv2d", x, w, zp, groups=19, padding=(1, 1, 1, 1))])
    xs, ws = _data((2, 7, 6, 19), "uint8"), _weights((3, 3, 1, 19))
    got = run_local(graph, {"x": xs, "w": ws, "zp": np.int32(200)})[0]
    np.testing.assert_array_equal(got, depthwise_int(xs, ws, 200, pad=(1, 1, 1, 1)))


def _kernel_func(graph, tgt):
    """The legalized PrimFunc holding the depthwise block."""
    from tvm.relax.backend.cpu_generic import pipeline as stages

    mod = to_relax([Entry("main", graph)])
    with tgt:
        mod = tvm.transform.Sequential(stages.library_dispatch_passes(tgt)
                                       + stages.legalize_passes(tgt))(mod)
    return next(f for _, f in mod.functions_items()
                if isinstance(f, tvm.tirx.PrimFunc) and QDW_BLOCK in f.script())


@pytest.mark.parametrize("target", ["llvm", "aarch64"])
def test_schedule_takes_the_kernel_with_no_bounds_checks_inside(target):
    """The layer (bias, requantize, clamps) is one kernel and the rule takes it; padding
    happens in the padded rows' block only, so the multiply-add reads its input unguarded."""
    graph = _graph(("N", 10, 12, 32), "uint8", _weights((3, 3, 1, 32)), 3, epilogue=True,
                   padding=(1, 1, 1, 1))
    tgt = make_target(target)
    func = _kernel_func(graph, tgt)
    buffers = [p.ty for p in func.params]
    assert buffers[0].dtype == buffers[-1].dtype == "uint8"  # one kernel: u8 in, u8 out
    sch = tvm.s_tir.Schedule(func)
    assert schedule_int8_depthwise(sch, tgt)
    update = sch.get(sch.get_sblock(QDW_BLOCK + "_update")).body
    assert "if_then_else" not in str(update)
    assert "parallel" in str(sch.trace)


@pytest.mark.parametrize("mcpu", ["x86-64", "haswell"])
def test_x86_without_avx512(mcpu):
    graph = _graph(("N", 9, 10, 17), "uint8", _weights((3, 3, 1, 17)), 40, padding=(1, 1, 1, 1))
    x = _data((2, 9, 10, 17), "uint8")
    got = run_local(graph, {"x": x}, _build_for(graph, mcpu))[0]
    np.testing.assert_array_equal(got, depthwise_int(x, _weights((3, 3, 1, 17)), 40,
                                                     pad=(1, 1, 1, 1)))


def test_aarch64_cross_build_and_c_target():
    """aarch64 compiles (cross, not run here); `c` (TVM's default pipeline) runs."""
    graph = _graph(("N", 9, 10, 35), "int8", _weights((3, 3, 1, 35)), 6, epilogue=True,
                   strides=(2, 2), padding=(0, 0, 1, 1))
    assert build([Entry("main", graph)], "aarch64") is not None
    x = _data((2, 9, 10, 35), "int8")
    np.testing.assert_array_equal(run_local(graph, {"x": x}, build([Entry("main", graph)], "c"))[0],
                                  interpret(graph, {"x": x})[0])
