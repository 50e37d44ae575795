"""The int8 kernels (qmatmul, qconv2d) compiled for the CPU: bit-exact against an integer
numpy reference written here (int64, independent of the ops' references), on sizes that need
padding (K=13, N=7, C=3), a symbolic batch, u8 and s8 activations; the VNNI instruction is
really used where the target has it (the host here: `vpdpbusd` in the kernels' assembly),
and a target without VNNI (mcpu x86-64, or `c`) builds the portable path with the same
results."""
import numpy as np
import pytest

from aot.codegen.build import build, cpu_pipeline, kernel_modules, run_local
from aot.codegen.lower import Entry, to_relax
from aot.codegen.schedules.int8 import has_vnni
from aot.codegen.targets import make_target
from aot.codegen.tvm import tvm
from aot.ir.builder import GraphBuilder
from aot.ir.interpreter import interpret
from aot.ir.types import TensorType
from aot.ops.quant import pack_vnni

HOST_VNNI = has_vnni(make_target("llvm"))
RANGE = {"uint8": (0, 256), "int8": (-128, 128)}


# ---------------------------------------------------------------- integer references

def qmatmul_int(x, w, zp):
    return ((x.astype(np.int64) - zp) @ w.astype(np.int64)).astype(np.int32)


def qconv_int(x, w, zp, stride, pad, dilation=(1, 1)):
    """NHWC x HWIO in int64: the input padded with the zero point, one tap at a time."""
    (kh, kw, _, o), (sh, sw), (dh, dw) = w.shape, stride, dilation
    xp = np.pad(x.astype(np.int64) - zp, [(0, 0), (pad[0], pad[2]), (pad[1], pad[3]), (0, 0)])
    oh = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], oh, ow, o), np.int64)
    for i in range(kh):
        for j in range(kw):
            win = xp[:, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw]
            out += win @ w[i, j].astype(np.int64)
    return out.astype(np.int32)


# ---------------------------------------------------------------- graphs and builds

def _graph(op, x_shape, act, w, zp, epilogue=False, **attrs):
    """op(x, w, zp), optionally + bias -> requantize -> relu floor (what a quantized layer is,
    fused by TVM into the kernel's epilogue)."""
    b = GraphBuilder(op)
    x = b.input("x", TensorType(x_shape, act))
    y = b.emit(op, x, b.const(w, name="w"), b.const(np.int32(zp), name="zp"), **attrs)
    if epilogue:
        n = w.shape[-1]
        bias = np.random.default_rng(3).integers(-5000, 5000, n).astype(np.int32)
        y = b.emit("add", y, b.const(bias, name="bias"))
        mult = np.linspace(0.002, 0.004, n).astype(np.float32)
        y = b.emit("requantize", y, b.const(mult, name="mult"), b.const(np.int32(3), name="zy"),
                   dtype=act)
        y = b.emit("maximum", y, b.const(np.asarray(3, act), name="floor"))
    return b.build([y])


def _build(graph, mcpu=None):
    """Build for the host (`llvm`) or for an x86 llvm target with the given mcpu; return
    (executable, the kernels' assembly)."""
    if mcpu is None:
        ex = build([Entry("main", graph)], "llvm")
    else:
        tgt = tvm.target.Target({"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": mcpu,
                                 "num-cores": 2})
        ex = tvm.compile(to_relax([Entry("main", graph)]), target=tgt,
                         relax_pipeline=cpu_pipeline(tgt))
    asm = "".join(m.inspect_source("asm") for m in kernel_modules(ex) if m.kind == "llvm")
    return ex, asm


def _data(shape, act, seed=0):
    lo, hi = RANGE[act]
    return np.random.default_rng(seed).integers(lo, hi, shape).astype(act)


def _weights(shape, seed=1):
    return np.random.default_rng(seed).integers(-127, 128, shape).astype(np.int8)


def _check_vnni(asm, mcpu):
    if mcpu is None and HOST_VNNI:
        assert "vpdpbusd" in asm, "the host has AVX-512 VNNI but the kernel does not use it"
    if mcpu == "x86-64":
        assert "vpdpbusd" not in asm


# ---------------------------------------------------------------- tests

def test_pack_vnni_layout():
    w = _weights((2, 5, 21))  # 2 taps of 5 channels (padded to 8), 21 columns (to 32)
    p = pack_vnni(w)
    assert p.shape == (2, 4, 16, 4)
    wide = np.zeros((2, 8, 32), np.int8)
    wide[:, :5, :21] = w
    wide = wide.reshape(16, 32)
    j, i, lane, d = np.meshgrid(*map(np.arange, p.shape), indexing="ij")
    np.testing.assert_array_equal(p, wide[4 * i + d, 16 * j + lane])


@pytest.mark.parametrize("mcpu", [None, "x86-64"])
@pytest.mark.parametrize("act, zp", [("uint8", 131), ("int8", -7)])
def test_qmatmul_matches_integer_reference(act, zp, mcpu):
    w = _weights((13, 7))
    graph = _graph("qmatmul", ("N", 13), act, w, zp)
    ex, asm = _build(graph, mcpu)
    _check_vnni(asm, mcpu)
    for batch in (5, 16):
        x = _data((batch, 13), act, seed=batch)
        got = run_local(graph, {"x": x}, ex)[0]
        np.testing.assert_array_equal(got, qmatmul_int(x, w, zp))


@pytest.mark.parametrize("act", ["uint8", "int8"])
def test_qmatmul_3d_with_fused_epilogue(act):
    """A [N, 3, 40] x [40, 20] layer with bias, requantize and relu: the whole fused kernel
    against the interpreter (the ops' references)."""
    graph = _graph("qmatmul", ("N", 3, 40), act, _weights((40, 20)), 9, epilogue=True)
    ex, asm = _build(graph)
    _check_vnni(asm, None)
    x = _data((2, 3, 40), act)
    np.testing.assert_array_equal(run_local(graph, {"x": x}, ex)[0],
                                  interpret(graph, {"x": x})[0])


CONVS = [  # (id, x shape, kernel shape, attrs)
    ("3x3-same-c3", ("N", 9, 10, 3), (3, 3, 3, 7), dict(padding=(1, 1, 1, 1))),
    ("3x3-stride2-dilated", ("N", 11, 9, 5), (3, 3, 5, 18),
     dict(strides=(2, 2), dilation=(2, 1), padding=(2, 1, 1, 0))),
    ("1x1-pointwise", ("N", 6, 8, 16), (1, 1, 16, 32), {}),
]


@pytest.mark.parametrize("mcpu", [None, "x86-64"])
@pytest.mark.parametrize("act, zp", [("uint8", 77), ("int8", 5)])
@pytest.mark.parametrize("case", CONVS, ids=[c[0] for c in CONVS])
def test_qconv2d_matches_integer_reference(case, act, zp, mcpu):
    _, x_shape, k_shape, attrs = case
    w = _weights(k_shape)
    graph = _graph("qconv2d", x_shape, act, w, zp, **attrs)
    ex, asm = _build(graph, mcpu)
    _check_vnni(asm, mcpu)
    x = _data((2,) + x_shape[1:], act)
    want = qconv_int(x, w, zp, attrs.get("strides", (1, 1)), attrs.get("padding", (0,) * 4),
                     attrs.get("dilation", (1, 1)))
    np.testing.assert_array_equal(run_local(graph, {"x": x}, ex)[0], want)


def test_qconv2d_with_fused_epilogue():
    graph = _graph("qconv2d", ("N", 7, 7, 8), "uint8", _weights((3, 3, 8, 24)), 100,
                   epilogue=True, padding=(1, 1, 1, 1))
    ex, asm = _build(graph)
    _check_vnni(asm, None)
    x = _data((3, 7, 7, 8), "uint8")
    np.testing.assert_array_equal(run_local(graph, {"x": x}, ex)[0],
                                  interpret(graph, {"x": x})[0])


def test_portable_c_target():
    """The `c` target (TVM's default pipeline, no schedules) runs the same kernel."""
    w = _weights((3, 3, 3, 7))
    graph = _graph("qconv2d", ("N", 6, 5, 3), "int8", w, 9, padding=(1, 1, 1, 1))
    x = _data((2, 6, 5, 3), "int8")
    got = run_local(graph, {"x": x}, build([Entry("main", graph)], "c"))[0]
    np.testing.assert_array_equal(got, qconv_int(x, w, 9, (1, 1), (1, 1, 1, 1)))


@pytest.mark.parametrize("op", ["qmatmul", "qconv2d"])
def test_weights_known_only_at_run_time_are_packed_by_a_kernel(op):
    """A weight that is a graph input, not a constant: packed (and summed) at run time."""
    conv = op == "qconv2d"
    x_shape, w_shape = (("N", 5, 6, 3), (3, 3, 3, 5)) if conv else (("N", 13), (13, 7))
    attrs = dict(padding=(1, 1, 1, 1), strides=(2, 1)) if conv else {}
    b = GraphBuilder(op)
    x = b.input("x", TensorType(x_shape, "int8"))
    w = b.input("w", TensorType(w_shape, "int8"))
    graph = b.build([b.emit(op, x, w, b.const(np.int32(-20), name="zp"), **attrs)])
    ex, asm = _build(graph)
    _check_vnni(asm, None)
    xs, ws = _data((2,) + x_shape[1:], "int8"), _weights(w_shape)
    want = qconv_int(xs, ws, -20, (2, 1), (1, 1, 1, 1)) if conv else qmatmul_int(xs, ws, -20)
    np.testing.assert_array_equal(run_local(graph, {"x": xs, "w": ws}, ex)[0], want)


@pytest.mark.skipif(not HOST_VNNI, reason="the host CPU has no AVX-512 VNNI")
def test_targets_with_and_without_vnni():
    assert has_vnni(tvm.target.Target({"kind": "llvm", "mtriple": "x86_64-linux-gnu",
                                       "mcpu": "cascadelake"}))
    for mcpu in ("x86-64", "skylake", "skylake-avx512"):
        assert not has_vnni(tvm.target.Target({"kind": "llvm", "mtriple": "x86_64-linux-gnu",
                                               "mcpu": mcpu}))
    assert not has_vnni(make_target("aarch64"))
    assert not has_vnni(make_target("c"))
