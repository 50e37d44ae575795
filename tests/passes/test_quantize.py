"""The int8 quantize pass: Before/Expected in the text IR (ranges chosen so every scale is a
round number), consecutive layers kept in int8, a BatchNorm and ReLU6 folded into the layer,
a last layer's output dequantized from int32, layers kept in float, dynamic mode, and the
quantized graph's compiled kernels against the interpreter, bit for bit."""
import numpy as np
import pytest

from aot.ir import interpret, parse_graph, print_graph, verify
from aot.passes.quantize import (QuantizeDynamic, QuantizeStatic, find_layers, quantize_dynamic,
                                 quantize_graph)

FC = """
graph @g(%x: f32[N,2]) params(const %w: f32[2,2] = [127.0, -127.0, 1.0, 2.0], const %b: f32[2] = [1.5, -2.0], const %w2: f32[2,1] = [127.0, -127.0]) {
  %0 = matmul "fc/matmul"(%x, %w) : f32[N,2]
  %1 = add "fc/add"(%0, %b) : f32[N,2]
  %2 = relu "fc/relu"(%1) : f32[N,2]
  %3 = matmul "out/matmul"(%2, %w2) : f32[N,1]
  %4 = sigmoid(%3) : f32[N,1]
  return %4
}"""


def _ranges(graph, by_node: dict, x=(0.0, 255.0)) -> dict:
    """{Value: range} from {node name: range} (its output) plus the first input's range."""
    out = {graph.inputs[0]: x}
    for n in graph.nodes:
        if n.name in by_node:
            out[n.outputs[0]] = by_node[n.name]
    return out


def _check(graph, result, expected: str) -> None:
    verify(result)
    got, want = print_graph(result), print_graph(parse_graph(expected))
    assert got == want, f"got:\n{got}\nexpected:\n{want}"


def test_dense_relu_becomes_qmatmul_bias_requantize_uint8():
    g = parse_graph(FC)
    before = print_graph(g)
    out = QuantizeStatic(_ranges(g, {"fc/relu": (0.0, 510.0)}))(g)
    # scales: x 255/255 = 1, w max|col| / 127 = 1, y 510/255 = 2; bias 1.5 -> 2 (half to even);
    # the relu is the uint8 saturation at zero point 0. The last layer feeds only float ops:
    # its int32 result is dequantized at x_scale * w_scale = 2, never rounded to uint8
    _check(g, out, """
graph @g(%x: f32[N,2]) params(const %fc/x_scale: f32[] = [1.0], const %i32_0: i32[] = [0], const %fc/w_int8: i8[2,2] = [127, -127, 1, 2], const %fc/bias_i32: i32[2] = [2, -2], const %fc/multiplier: f32[2] = [0.5, 0.5], const %out/w_int8: i8[2,1] = [127, -127], const %out/acc_scale: f32[1] = [2.0]) {
  %0 = quantize "fc/quantize"(%x, %fc/x_scale, %i32_0) {dtype=u8} : u8[N,2]
  %1 = qmatmul "fc/qmatmul"(%0, %fc/w_int8, %i32_0) {x_scale=1.0, w_scales=[1.0, 1.0]} : i32[N,2]
  %2 = add "fc/bias"(%1, %fc/bias_i32) : i32[N,2]
  %3 = requantize "fc/requantize"(%2, %fc/multiplier, %i32_0) {dtype=u8, y_scale=2.0} : u8[N,2]
  %4 = qmatmul "out/qmatmul"(%3, %out/w_int8, %i32_0) {x_scale=2.0, w_scales=[1.0]} : i32[N,1]
  %5 = dequantize "out/dequantize"(%4, %out/acc_scale, %i32_0) : f32[N,1]
  %6 = sigmoid(%5) : f32[N,1]
  return %6
}""")
    assert print_graph(g) == before


def test_symmetric_int8_keeps_the_relu_as_a_floor():
    g = parse_graph(FC)
    out = QuantizeStatic(_ranges(g, {"fc/relu": (0.0, 254.0)}, x=(-127.0, 127.0)), "int8")(g)
    _check(g, out, """
graph @g(%x: f32[N,2]) params(const %fc/x_scale: f32[] = [1.0], const %i32_0: i32[] = [0], const %fc/w_int8: i8[2,2] = [127, -127, 1, 2], const %fc/bias_i32: i32[2] = [2, -2], const %fc/multiplier: f32[2] = [0.5, 0.5], const %i8_0: i8[] = [0], const %out/w_int8: i8[2,1] = [127, -127], const %out/acc_scale: f32[1] = [2.0]) {
  %0 = quantize "fc/quantize"(%x, %fc/x_scale, %i32_0) : i8[N,2]
  %1 = qmatmul "fc/qmatmul"(%0, %fc/w_int8, %i32_0) {x_scale=1.0, w_scales=[1.0, 1.0]} : i32[N,2]
  %2 = add "fc/bias"(%1, %fc/bias_i32) : i32[N,2]
  %3 = requantize "fc/requantize"(%2, %fc/multiplier, %i32_0) {y_scale=2.0} : i8[N,2]
  %4 = maximum "fc/relu"(%3, %i8_0) : i8[N,2]
  %5 = qmatmul "out/qmatmul"(%4, %out/w_int8, %i32_0) {x_scale=2.0, w_scales=[1.0]} : i32[N,1]
  %6 = dequantize "out/dequantize"(%5, %out/acc_scale, %i32_0) : f32[N,1]
  %7 = sigmoid(%6) : f32[N,1]
  return %7
}""")


BN = """
graph @bn(%x: f32[N,2]) params(const %w: f32[2,2] = [1.0, 0.0, 0.0, 2.0], state %mean: f32[2] = [1.0, -1.0], const %s: f32[2] = [127.0, 63.5], const %beta: f32[2] = [0.5, 0.0], const %w2: f32[2,1] = [127.0, -127.0]) {
  %0 = matmul "fc/matmul"(%x, %w) : f32[N,2]
  %1 = subtract "bn/subtract"(%0, %mean) : f32[N,2]
  %2 = multiply "bn/multiply"(%1, %s) : f32[N,2]
  %3 = add "bn/add"(%2, %beta) : f32[N,2]
  %4 = relu "act/relu"(%3) : f32[N,2]
  %5 = clip "act/clip"(%4) {min=0.0, max=6.0} : f32[N,2]
  %6 = matmul "out/matmul"(%5, %w2) : f32[N,1]
  return %6
}"""


def test_batchnorm_folds_into_the_weights_and_relu6_into_an_integer_ceiling():
    g = parse_graph(BN)
    # y = (x @ w - mean) * s + beta = x @ (w * s) + (beta - mean * s): weight columns
    # [127, 0] and [0, 127] (scales 1), bias [-126.5, 63.5] -> [-126, 64] (half to even).
    # The clip's range (0, 31.875) gives y_scale 0.125: the ceiling 6 is 48, relu's floor the
    # uint8 saturation; the moving mean (state) is a constant here, and no float op is left
    out = QuantizeStatic(_ranges(g, {"act/clip": (0.0, 31.875)}))(g)
    _check(g, out, """
graph @bn(%x: f32[N,2]) params(const %fc/x_scale: f32[] = [1.0], const %i32_0: i32[] = [0], const %fc/w_int8: i8[2,2] = [127, 0, 0, 127], const %fc/bias_i32: i32[2] = [-126, 64], const %fc/multiplier: f32[2] = [8.0, 8.0], const %u8_48: u8[] = [48], const %out/w_int8: i8[2,1] = [127, -127], const %out/acc_scale: f32[1] = [0.125]) {
  %0 = quantize "fc/quantize"(%x, %fc/x_scale, %i32_0) {dtype=u8} : u8[N,2]
  %1 = qmatmul "fc/qmatmul"(%0, %fc/w_int8, %i32_0) {x_scale=1.0, w_scales=[1.0, 1.0]} : i32[N,2]
  %2 = add "fc/bias"(%1, %fc/bias_i32) : i32[N,2]
  %3 = requantize "fc/requantize"(%2, %fc/multiplier, %i32_0) {dtype=u8, y_scale=0.125} : u8[N,2]
  %4 = minimum "fc/clip"(%3, %u8_48) : u8[N,2]
  %5 = qmatmul "out/qmatmul"(%4, %out/w_int8, %i32_0) {x_scale=0.125, w_scales=[1.0]} : i32[N,1]
  %6 = dequantize "out/dequantize"(%5, %out/acc_scale, %i32_0) : f32[N,1]
  return %6
}""")
    layer = find_layers(g)[0]
    assert [n.op.name for n in layer.nodes] == ["matmul", "subtract", "multiply", "add", "relu",
                                                "clip"]
    x = np.random.default_rng(2).uniform(0.0, 1.0, (64, 2)).astype(np.float32)
    ranges = _ranges(g, {"act/clip": (0.0, 6.0)}, x=(0.0, 1.0))
    ranges[g.nodes[-1].outputs[0]] = (-6.0, 6.0)
    want, got = interpret(g, {"x": x})[0], interpret(QuantizeStatic(ranges)(g), {"x": x})[0]
    np.testing.assert_allclose(got, want, atol=0.05 * np.abs(want).max())


CNN = """
graph @cnn(%x: f32[N,4,4,1]) params(const %k: f32[1,1,1,2] = [127.0, 63.5], const %w: f32[8,1] = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 127.0]) {
  %0 = conv2d "conv/conv2d"(%x, %k) : f32[N,4,4,2]
  %1 = max_pool2d "pool/max_pool2d"(%0) {pool_size=[2, 2], strides=[2, 2]} : f32[N,2,2,2]
  %2 = reshape "flat/reshape"(%1) {shape=["N", 8]} : f32[N,8]
  %3 = matmul "fc/matmul"(%2, %w) : f32[N,1]
  return %3
}"""


def test_consecutive_layers_stay_in_int8_through_pool_and_reshape():
    g = parse_graph(CNN)
    ranges = _ranges(g, {"conv/conv2d": (-128.0, 127.0), "fc/matmul": (-256.0, 254.0)})
    _check(g, QuantizeStatic(ranges)(g), """
graph @cnn(%x: f32[N,4,4,1]) params(const %conv/x_scale: f32[] = [1.0], const %i32_0: i32[] = [0], const %conv/w_int8: i8[1,1,1,2] = [127, 127], const %conv/multiplier: f32[2] = [1.0, 0.5], const %i32_128: i32[] = [128], const %fc/w_int8: i8[8,1] = [1, 1, 1, 1, 1, 1, 1, 127], const %fc/acc_scale: f32[1] = [1.0]) {
  %0 = quantize "conv/quantize"(%x, %conv/x_scale, %i32_0) {dtype=u8} : u8[N,4,4,1]
  %1 = qconv2d "conv/qconv2d"(%0, %conv/w_int8, %i32_0) {x_scale=1.0, w_scales=[1.0, 0.5]} : i32[N,4,4,2]
  %2 = requantize "conv/requantize"(%1, %conv/multiplier, %i32_128) {dtype=u8, y_scale=1.0} : u8[N,4,4,2]
  %3 = max_pool2d "pool/max_pool2d/int8"(%2) {pool_size=[2, 2], strides=[2, 2]} : u8[N,2,2,2]
  %4 = reshape "flat/reshape/int8"(%3) {shape=["N", 8]} : u8[N,8]
  %5 = qmatmul "fc/qmatmul"(%4, %fc/w_int8, %i32_128) {x_scale=1.0, w_scales=[1.0]} : i32[N,1]
  %6 = dequantize "fc/dequantize"(%5, %fc/acc_scale, %i32_0) : f32[N,1]
  return %6
}""")


def test_keep_float_and_unquantizable_anchors_stay_float():
    g = parse_graph(CNN)
    ranges = _ranges(g, {"conv/conv2d": (-128.0, 127.0), "flat/reshape": (-128.0, 127.0),
                         "fc/matmul": (-256.0, 254.0)})
    result = quantize_graph(g, ranges, keep_float=("conv",))
    ops = [n.op.name for n in result.graph.nodes]
    assert ops[:3] == ["conv2d", "max_pool2d", "reshape"] and "qmatmul" in ops
    assert result.kept_float == {"conv": "kept in float (asked)"} and list(result.layers) == ["fc"]
    runtime_weight = parse_graph("""
graph @g(%x: f32[N,2], %w: f32[2,2]) {
  %0 = matmul "fc/matmul"(%x, %w) : f32[N,2]
  return %0
}""")
    assert find_layers(runtime_weight) == []


def test_dynamic_quantizes_the_input_at_run_time():
    g = parse_graph(FC)
    out = QuantizeDynamic(min_macs=0)(g)
    verify(out)
    ops = [n.op.name for n in out.nodes]
    assert ops.count("quantize") == ops.count("qmatmul") == 2 and "requantize" not in ops
    assert ops[-1] == "sigmoid" and {"add", "relu"} <= set(ops)  # bias, activation stay float
    x = np.random.default_rng(0).standard_normal((16, 2)).astype(np.float32) * 3
    want, got = interpret(g, {"x": x})[0], interpret(out, {"x": x})[0]
    np.testing.assert_allclose(got, want, atol=0.02)


@pytest.mark.parametrize("activations", ["uint8", "int8"])
def test_compiled_integer_kernels_match_the_interpreter_bit_for_bit(activations):
    from aot.codegen.build import run_local
    from aot.passes.quantize_calibrate import calibrate

    g = parse_graph(CNN)
    x = np.random.default_rng(1).standard_normal((8, 4, 4, 1)).astype(np.float32)
    q = QuantizeStatic(calibrate(g, x).ranges, activations)(g)
    want = interpret(q, {"x": x})[0]
    np.testing.assert_array_equal(run_local(q, {"x": x})[0], want)
    np.testing.assert_allclose(want, interpret(g, {"x": x})[0], atol=0.05 * np.abs(want).max())


def test_bias_correction_takes_the_mean_rounding_error_off_the_bias():
    """bias_corrections = the mean of x_hat @ w_hat - x @ w per output channel (x_hat, w_hat:
    the int8-rounded input and folded weights); the corrected graph's mean error on fresh data
    of the calibration's distribution is several times smaller."""
    from aot.passes.quantize import activation_qparams, weight_qparams
    from aot.passes.quantize_calibrate import bias_corrections, calibrate

    rng = np.random.default_rng(3)
    w = rng.standard_normal((64, 3)).astype(np.float32)
    g = parse_graph(f"""
graph @g(%x: f32[N,64]) params(const %w: f32[64,3] = {w.ravel().tolist()}) {{
  %0 = matmul "fc/matmul"(%x, %w) : f32[N,3]
  return %0
}}""")
    x = rng.uniform(0.0, 1.0, (256, 64)).astype(np.float32)
    cal = calibrate(g, x)
    shift = bias_corrections(cal)["fc"]
    sx, zx = activation_qparams(*cal.ranges[g.inputs[0]], "uint8", "x")
    wq, sw = weight_qparams(w)
    x_hat = (np.clip(np.rint(x / np.float32(sx)) + zx, 0, 255) - zx) * np.float32(sx)
    want = np.mean(x_hat.astype(np.float64) @ (wq * sw) - x @ w.astype(np.float64), axis=0)
    np.testing.assert_allclose(shift, want, rtol=1e-4, atol=1e-6)
    fresh = rng.uniform(0.0, 1.0, (512, 64)).astype(np.float32)
    ref = interpret(g, {"x": fresh})[0]
    errs = [np.abs(np.mean(interpret(quantize_graph(g, cal.ranges, bias_shift=s).graph,
                                     {"x": fresh})[0] - ref, axis=0)).max()
            for s in (None, {"fc": shift})]
    assert errs[1] * 4 < errs[0], errs


def test_dynamic_keeps_matmuls_too_small_to_pay_in_float():
    """Four run-time kernels per quantized matmul: below DYNAMIC_MIN_MACS multiply-adds per
    sample (an LSTM's recurrent step) the layer stays float, and the result says why."""
    g = parse_graph(FC)  # 2x2 and 2x1 weights, one row per sample
    result = quantize_graph(g, mode="dynamic")
    assert [n.op.name for n in result.graph.nodes] == [n.op.name for n in g.nodes]
    assert set(result.kept_float) == {"fc", "out"}
    assert "4 multiply-adds per sample" in result.kept_float["fc"]
    assert print_graph(quantize_dynamic(g)) == print_graph(g)
