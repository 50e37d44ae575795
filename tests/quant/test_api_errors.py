"""int8 through `aot.compile` and `aot compile --quantize`, the calibration methods, and the
bad input every user meets: wrong shapes, too few samples, NaN and constant activations."""
import numpy as np
import pytest
from click.testing import CliRunner

import aot
from aot.cli import main, write_air
from aot.driver import CompileError, optimize, quantize_for_inference
from aot.ir import DType, GraphBuilder, TensorType, interpret, parse_graph
from aot.passes.quantize import QuantizeError, quantize_graph
from aot.passes.quantize_calibrate import calibrate, entropy_threshold

MLP = """
graph @mlp(%x: f32[N,6]) params(%w0: f32[6,8], %b0: f32[8], %w1: f32[8,3]) {
  %0 = matmul "fc0/matmul"(%x, %w0) : f32[N,8]
  %1 = add "fc0/add"(%0, %b0) : f32[N,8]
  %2 = relu "fc0/relu"(%1) : f32[N,8]
  %3 = matmul "fc1/matmul"(%2, %w1) : f32[N,3]
  return %3
}"""


def _mlp():
    g = parse_graph(MLP)
    rng = np.random.default_rng(0)
    for p in g.params:
        p.data = rng.standard_normal(p.type.shape).astype(np.float32)
    return g


def _x(n=32, seed=1):
    return np.random.default_rng(seed).standard_normal((n, 6)).astype(np.float32)


def test_compile_int8_runs_the_quantized_graph():
    g = _mlp()
    m = aot.compile(g, quantize="int8", calibration={"x": _x()})
    x = _x()[:8]  # inside the calibrated ranges (outside them, static int8 saturates)
    want, got = interpret(g, {"x": x})[0], m.predict(x)
    np.testing.assert_allclose(got, want, atol=0.05 * np.abs(want).max())
    assert [e.name for e in m.quantization_report.layers] == ["fc0", "fc1"]


def test_compile_int8_dynamic():
    """A 512x512 dense (DYNAMIC_MIN_MACS per sample, enough to be quantized) runs as qmatmul
    with its input quantized at run time."""
    rng = np.random.default_rng(4)
    b = GraphBuilder("wide")
    x = b.input("x", TensorType(("N", 512), DType.float32))
    w = b.param("w", rng.standard_normal((512, 512)).astype(np.float32) / 16)
    g = b.build([b.emit("matmul", x, w, name="fc/matmul")])
    m = aot.compile(g, quantize="int8-dynamic")
    xs = rng.standard_normal((8, 512)).astype(np.float32)
    want = interpret(g, {"x": xs})[0]
    np.testing.assert_allclose(m.predict(xs), want, atol=0.02 * np.abs(want).max())
    q, _ = quantize_for_inference(optimize(g), "int8-dynamic", None)
    assert "qmatmul" in {n.op.name for n in q.nodes}


def test_cli_compile_int8_with_report(tmp_path):
    write_air(_mlp(), tmp_path / "mlp.air")
    np.savez(tmp_path / "cal.npz", x=_x(), labels=np.zeros(32, np.int64))
    r = CliRunner().invoke(main, ["compile", str(tmp_path / "mlp.air"), "-o", str(tmp_path / "q.aot"),
                                  "--quantize", "int8", "--calibration", str(tmp_path / "cal.npz"),
                                  "--report"])
    assert r.exit_code == 0, r.output
    assert "SQNR dB" in r.output and "fc1" in r.output and "accuracy: float" in r.output
    r = CliRunner().invoke(main, ["compile", str(tmp_path / "mlp.air"), "--quantize", "int8"])
    assert r.exit_code == 2 and "needs --calibration" in r.output


@pytest.mark.parametrize("data, match", [
    ({"x": np.zeros((32, 5), np.float32)}, r"input %x: expected shape f32\[N,6\], got \(32, 5\)"),
    ({"y": _x(), "z": _x()}, r"lacks input\(s\) \['x'\]"),
    ({"x": _x(3)}, "3 sample"),
    ({"x": np.where(_x() > 1, np.nan, _x())}, "input %x.*NaN"),
    ({"x": _x().astype(np.int32)}, "expected float32, got int32"),
])
def test_bad_calibration_data(data, match):
    g = _mlp()
    with pytest.raises(QuantizeError, match=match):
        calibrate(g, data)
    with pytest.raises(CompileError, match=match):
        aot.compile(g, quantize="int8", calibration=data)


def test_constant_activation_names_the_layer():
    g = _mlp()
    g.param("b0").data = np.full(8, -100.0, np.float32)  # relu output is 0 everywhere
    cal = calibrate(g, _x())
    with pytest.raises(QuantizeError, match="layer 'fc0' output: the activation is constant"):
        quantize_graph(g, cal.ranges)
    with pytest.raises(QuantizeError, match="layer 'fc1' input: the activation is constant"):
        quantize_graph(g, cal.ranges, keep_float=("fc0",))


def test_methods_order_their_ranges():
    g = _mlp()
    x = _x(256)
    x[0, 0] = 40.0  # one outlier
    r = {m: calibrate(g, x, m).ranges[g.inputs[0]] for m in ("minmax", "percentile", "entropy")}
    assert r["minmax"][1] == pytest.approx(40.0)
    assert r["percentile"][1] < 40.0 and r["entropy"][1] < 40.0
    assert entropy_threshold(np.abs(np.random.default_rng(0).standard_normal(10000))) < 4.5
