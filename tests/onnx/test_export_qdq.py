"""int8 export, both forms (frontends/onnx/export_quant.py).

Integer form: a calibrated, quantized MLP and CNN export to QuantizeLinear / MatMulInteger /
ConvInteger / DequantizeLinear, pass onnx.checker, and onnxruntime's outputs equal our compiled
int8 outputs bit for bit; the file re-imports with our importer to the same outputs.

QDQ form (the default): the same models, uint8 and int8 activations, export as float Conv /
Gemm / MatMul between DequantizeLinear and QuantizeLinear with the real scales; onnxruntime
fuses them into QLinearConv / QGemm / QLinearMatMul, and its outputs, fused or not, and our
importer's are within one quantization step (of the output's range) of our compiled int8
outputs (the count of elements that differ at all is checked to be small)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

import aot
from aot import layers
from aot.driver import quantize_for_inference
from aot.ir import interpret, verify
from aot.passes.quantize import QuantizeDynamic, quantize_graph
from aot.passes.quantize_calibrate import calibrate
from aot.pipeline import optimize_for_inference

from tests.random_weights import randomize

from .helpers import ort_run


def _mlp():
    return aot.Sequential([layers.Dense(16, activation="relu", input_shape=(8,)),
                           layers.Dense(12, activation="relu"), layers.Dense(5)])


def _cnn():
    return aot.Sequential([
        layers.Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 2)),
        layers.MaxPooling2D(2), layers.DepthwiseConv2D(3, padding="valid", activation="relu"),
        layers.Flatten(), layers.Dense(6)])


def _randomized(make):
    """The model with every weight random, biases too (zero biases would fold away)."""
    def build():
        model = make()
        rng = np.random.default_rng(7)
        model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5
                           for w in model.get_weights()])
        return model
    return build


MODELS = {"mlp": (_randomized(_mlp), (8,)), "cnn": (_randomized(_cnn), (8, 8, 2))}


def _data(shape, n, seed):
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def _export_and_check(qgraph, x, want, tmp_path):
    """Export, check, run in onnxruntime and through our importer: both equal `want` exactly."""
    path = tmp_path / "q.onnx"
    aot.export_onnx(qgraph, path, quant_format="integer")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "MatMulInteger", "Add"} <= ops  # int32 bias
    assert not {"MatMul", "Conv", "Gemm"} & ops  # the layers run as integer kernels
    feeds = {qgraph.inputs[0].name: x}
    np.testing.assert_array_equal(ort_run(proto, feeds)[0], want)
    back = verify(aot.import_onnx(path))
    np.testing.assert_array_equal(interpret(back, feeds)[0], want)
    return ops


@pytest.mark.parametrize("name", sorted(MODELS))
def test_int8_model_exports_and_onnxruntime_matches_compiled_bit_for_bit(name, tmp_path):
    make, shape = MODELS[name]
    model = make()
    calib, x = _data(shape, 64, 0), _data(shape, 16, 1) * 1.5  # some inputs beyond the range
    graph = optimize_for_inference(model.to_graph())
    qgraph, _ = quantize_for_inference(graph, "int8", calib)
    ins = graph.inputs[0].name
    compiled = aot.compile(model, quantize="int8", calibration=calib).run({ins: x})
    want = interpret(qgraph, {ins: x})[0]
    # the last layer's output is float (its int32 result times x_scale * w_scale, plus the
    # bias): the compiled kernel fuses that into one multiply-add, the interpreter rounds twice
    np.testing.assert_allclose(compiled[graph.output_names[0]], want, rtol=0,
                               atol=4 * np.finfo(np.float32).eps * np.abs(want).max())
    ops = _export_and_check(qgraph, x, want, tmp_path)
    assert ("ConvInteger" in ops) == (name == "cnn")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_symmetric_int8_activations_export(name, tmp_path):
    """int8 (not uint8) activations: the relu becomes a Max with the zero point."""
    make, shape = MODELS[name]
    graph = optimize_for_inference(make().to_graph())
    cal = calibrate(graph, _data(shape, 64, 0))
    qgraph = optimize_for_inference(quantize_graph(graph, cal.ranges, activations="int8").graph)
    x = _data(shape, 16, 1) * 1.5
    want = interpret(qgraph, {graph.inputs[0].name: x})[0]
    assert "Max" in _export_and_check(qgraph, x, want, tmp_path)


def test_dynamic_int8_exports_within_float_rounding(tmp_path):
    """Dynamic mode computes its input scale at run time in float ops, which onnxruntime
    evaluates in its own order: the integer part matches, the result to float rounding."""
    model = _mlp()
    graph = optimize_for_inference(model.to_graph())
    qgraph = optimize_for_inference(QuantizeDynamic(min_macs=0)(graph))  # every layer
    x = _data((8,), 16, 1)
    feeds = {graph.inputs[0].name: x}
    want = interpret(qgraph, feeds)[0]
    proto = aot.export_onnx(qgraph)
    onnx.checker.check_model(proto, full_check=True)
    np.testing.assert_allclose(ort_run(proto, feeds)[0], want, rtol=1e-5, atol=1e-6)


def _ort_equals_interpreter(text: str, feeds: dict) -> list:
    """Export a graph written in our text IR: onnxruntime's outputs and the re-imported
    graph's equal the interpreter's, dtype and bits. Returns the interpreter's."""
    from aot.ir import parse_graph

    graph = verify(parse_graph(text))
    proto = aot.export_onnx(graph)  # no scale metadata: the integer form, even as QDQ
    onnx.checker.check_model(proto, full_check=True)
    want = interpret(graph, feeds)
    for outs in (ort_run(proto, feeds), interpret(verify(aot.import_onnx(proto)), feeds)):
        for got, w in zip(outs, want, strict=True):
            assert got.dtype == w.dtype
            np.testing.assert_array_equal(got, w)
    return want


def test_rounding_is_half_to_even_and_saturating_in_both():
    """Ties: ours and onnxruntime's QuantizeLinear both round half to even (not away from
    zero), in quantize and in the requantize written through it; both saturate."""
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 300.0, -300.0], np.float32)
    acc = np.array([1, 3, 5, -1, -3, -5, 1000, -1000], np.int32)
    q, u, r = _ort_equals_interpreter("""
graph @ties(%x: f32[8], %acc: i32[8]) params(const %one: f32[] = [1.0], const %half: f32[] = [0.5], const %z0: i32[] = [0], const %z10: i32[] = [10]) {
  %q = quantize(%x, %one, %z0) {dtype=i8} : i8[8]
  %u = quantize(%x, %one, %z10) {dtype=u8} : u8[8]
  %r = requantize(%acc, %half, %z10) : i8[8]
  return %q, %u, %r
}""", {"x": x, "acc": acc})
    np.testing.assert_array_equal(q, [0, 2, 2, 0, -2, -2, 127, -128])
    np.testing.assert_array_equal(u, [10, 12, 12, 10, 8, 8, 255, 0])
    np.testing.assert_array_equal(r, [10, 12, 12, 10, 8, 8, 127, -128])


def test_per_axis_scales_and_strided_dilated_qconv2d():
    """Per-channel quantize / requantize / dequantize along a middle axis, and a qconv2d with
    strides, dilation, uneven padding (read as the zero point) and groups."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 7, 4)).astype(np.float32) * 2
    k = rng.integers(-127, 128, (3, 3, 2, 6)).astype(np.int8)
    _ort_equals_interpreter(f"""
graph @pc(%x: f32[2,7,7,4]) params(const %s: f32[] = [0.03], const %zx: i32[] = [120], const %k: i8[3,3,2,6] = {k.ravel().tolist()}, const %m: f32[6] = [0.001, 0.002, 0.0015, 0.0007, 0.003, 0.0011], const %zy: i32[] = [3], const %sc: f32[4] = [0.5, 0.25, 0.125, 0.1], const %z4: i32[4] = [1, -2, 3, 0]) {{
  %q = quantize(%x, %s, %zx) {{dtype=u8}} : u8[2,7,7,4]
  %acc = qconv2d(%q, %k, %zx) {{strides=[2, 1], padding=[1, 0, 2, 1], dilation=[1, 2], groups=2}} : i32[2,4,4,6]
  %r = requantize(%acc, %m, %zy) {{dtype=i8}} : i8[2,4,4,6]
  %pa = quantize(%x, %sc, %z4) {{axis=-1}} : i8[2,7,7,4]
  %d = dequantize(%pa, %sc, %z4) {{axis=3}} : f32[2,7,7,4]
  %t = transpose(%acc) {{perm=[0, 3, 1, 2]}} : i32[2,6,4,4]
  %r1 = requantize(%t, %m, %zy) {{axis=1, dtype=u8}} : u8[2,6,4,4]
  return %r, %d, %r1
}}""", {"x": x})


# ---------------------------------------------------------------- QDQ

def _matmul_only():
    return aot.Sequential([layers.Dense(16, activation="relu", use_bias=False, input_shape=(8,)),
                           layers.Dense(5, use_bias=False)])


def _bn_relu6():
    """MobileNet's pattern: conv -> BatchNorm -> ReLU6, the BatchNorm folded into the layer
    and ReLU6 an integer clamp (a Clip in the export); moving statistics made non-trivial."""
    model = aot.Sequential([
        layers.Conv2D(4, 3, padding="same", use_bias=False, input_shape=(8, 8, 2)),
        layers.BatchNormalization(), layers.ReLU(6.0),
        layers.DepthwiseConv2D(3, use_bias=False), layers.BatchNormalization(), layers.ReLU(6.0),
        layers.Flatten(), layers.Dense(6)])
    return randomize(model, seed=7)


QDQ_MODELS = {**MODELS, "matmul": (_randomized(_matmul_only), (8,)),
              "bn_relu6": (_bn_relu6, (8, 8, 2))}
# the last layer's output is float (no QuantizeLinear after it): onnxruntime runs it as a
# float Gemm of dequantized operands or as MatMulIntegerToFloat
FUSED = {"mlp": {"QGemm"}, "cnn": {"QLinearConv"}, "bn_relu6": {"QLinearConv"},
         "matmul": {"QLinearMatMul", "MatMulIntegerToFloat"}}
FLOAT_OPS = {"mlp": {"Gemm", "MatMul"}, "cnn": {"Conv", "MatMul", "MaxPool"},
             "bn_relu6": {"Conv", "MatMul"}, "matmul": {"MatMul"}}


def _quantized(name: str, act: str):
    make, shape = QDQ_MODELS[name]
    graph = optimize_for_inference(make().to_graph())
    cal = calibrate(graph, _data(shape, 64, 0))
    return optimize_for_inference(quantize_graph(graph, cal.ranges, activations=act).graph), shape


def _ort(path, feeds, optimized=None):
    """onnxruntime's outputs, all optimizations on (`optimized`: where to save the optimized
    model) or none (the QDQ graph evaluated as written, in float between Q and DQ)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if optimized is None:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    else:
        so.optimized_model_filepath = str(optimized)
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def _steps(got, want, scale) -> tuple[float, int]:
    """The largest difference in quantization steps of the output, and how many differ."""
    d = np.abs(got.astype(np.float64) - want) / scale
    return float(d.max()), int(np.count_nonzero(d > 1e-3))


@pytest.mark.parametrize("act", ["uint8", "int8"])
@pytest.mark.parametrize("name", sorted(QDQ_MODELS))
def test_qdq_export_fuses_in_onnxruntime_within_one_step(name, act, tmp_path):
    from aot.codegen.build import run_local

    qgraph, shape = _quantized(name, act)
    x = _data(shape, 64, 1) * 1.5
    feeds = {qgraph.inputs[0].name: x}
    want = run_local(qgraph, feeds)
    want = np.asarray(want[0] if isinstance(want, (list, tuple)) else want)
    path = tmp_path / "qdq.onnx"
    proto = aot.export_onnx(qgraph, path)
    onnx.checker.check_model(proto, full_check=True)
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} | FLOAT_OPS[name] <= ops
    assert not {"MatMulInteger", "ConvInteger", "Mul", "Cast", "Max"} & ops
    inits = {t.name: t for t in proto.graph.initializer}
    weight_scales = [list(inits[n.input[1]].dims) for n in proto.graph.node
                     if n.op_type == "DequantizeLinear" and n.input[0] in inits
                     and inits[n.input[0]].data_type == onnx.TensorProto.INT8]
    assert weight_scales and all(len(d) == 1 and d[0] > 1 for d in weight_scales)  # per channel
    fused_path = tmp_path / "fused.onnx"
    fused = _ort(path, feeds, optimized=fused_path)
    assert FUSED[name] <= {n.op_type for n in onnx.load(str(fused_path)).graph.node}
    scale = np.ptp(want) / 255  # one uint8 step of the (float) output's range
    back = interpret(verify(aot.import_onnx(path)), feeds)[0]
    for got in (fused, _ort(path, feeds), back):
        worst, differ = _steps(got, want, scale)
        assert worst <= 1 + 1e-4 and differ <= want.size // 50, (worst, differ, want.size)


def test_qdq_reimport_matches_onnxruntime_as_written(tmp_path):
    """Our importer reads the QDQ file as onnxruntime evaluates it unoptimized: float Conv /
    Gemm between DequantizeLinear and QuantizeLinear, to float rounding."""
    qgraph, shape = _quantized("cnn", "uint8")
    x = _data(shape, 16, 2) * 1.5
    feeds = {qgraph.inputs[0].name: x}
    path = tmp_path / "qdq.onnx"
    aot.export_onnx(qgraph, path)
    back = verify(aot.import_onnx(path))
    np.testing.assert_allclose(interpret(back, feeds)[0], _ort(path, feeds), rtol=1e-5, atol=1e-6)


def test_qdq_falls_back_to_the_integer_form_without_scale_metadata():
    """Dynamic mode computes its input scale at run time: no QDQ form, the integer one."""
    qgraph = optimize_for_inference(QuantizeDynamic(min_macs=0)(
        optimize_for_inference(_mlp().to_graph())))
    ops = {n.op_type for n in aot.export_onnx(qgraph).graph.node}
    assert "MatMulInteger" in ops and "MatMul" not in ops


def test_unknown_quant_format_is_an_error():
    from aot.frontends.onnx.exporter import ExportError

    with pytest.raises(ExportError, match="quant_format must be one of"):
        aot.export_onnx(_mlp(), quant_format="qlinear")


def test_relu6_ceiling_exports_as_clip(tmp_path):
    """A ReLU6 whose ceiling lies inside the output's int8 range (a range wider than [0, 6])
    is an integer minimum in our graph and a Clip at the same bounds in the QDQ export; the
    BatchNorms leave no float op behind."""
    graph = optimize_for_inference(_bn_relu6().to_graph())
    ranges = calibrate(graph, _data((8, 8, 2), 64, 0)).ranges
    for n in graph.nodes:
        if n.op.name == "clip":
            ranges[n.outputs[0]] = (0.0, 12.0)
    qgraph = optimize_for_inference(quantize_graph(graph, ranges).graph)
    ops = [n.op.name for n in qgraph.nodes]
    assert ops.count("minimum") == 2 and not {"subtract", "multiply", "clip"} & set(ops)
    x = _data((8, 8, 2), 32, 1)
    feeds = {qgraph.inputs[0].name: x}
    want = interpret(qgraph, feeds)[0]
    path = tmp_path / "qdq.onnx"
    proto = aot.export_onnx(qgraph, path)
    assert sum(n.op_type == "Clip" for n in proto.graph.node) == 2
    worst, differ = _steps(_ort(path, feeds), want, np.ptp(want) / 255)
    assert worst <= 1 + 1e-4 and differ <= want.size // 50, (worst, differ)
