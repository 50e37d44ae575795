"""int8 end to end on a real task: the digits LeNet (scikit-learn's bundled 8x8 digits, no
download), trained in float32, quantized with 256 training images as calibration data, keeps
its test accuracy within 1 point; the compiled int8 artifact agrees with the interpreter;
the report names every layer; the accuracy guardrail returns layers to float when asked."""
import numpy as np
import pytest

import aot
from aot.ir import interpret
from aot.passes.quantize_calibrate import calibrate
from aot.passes.quantize_report import quantize_within
from aot.pipeline import optimize_for_inference
from tests.training.digits_task import digits, trained_lenet


@pytest.fixture(scope="module")
def trained():
    x_train, x_test, y_train, y_test = digits()
    model, _ = trained_lenet(x_train, y_train, epochs=8)
    return model, x_train[:256], x_test, y_test


def _accuracy(graph, x, y) -> float:
    return float(np.mean(interpret(graph, {graph.inputs[0].name: x})[0].argmax(-1) == y))


@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy"])
def test_int8_accuracy_within_one_point_of_float(trained, method):
    model, calib, x_test, y_test = trained
    graph = optimize_for_inference(model.to_graph())
    quantized, report = quantize_within(graph, calibrate(graph, calib, method))
    f_acc, q_acc = _accuracy(graph, x_test, y_test), _accuracy(quantized, x_test, y_test)
    print(f"\n{method}: float {f_acc:.4f} int8 {q_acc:.4f}\n{report.table()}")
    assert f_acc > 0.9
    assert q_acc >= f_acc - 0.01
    ops = {n.op.name for n in quantized.nodes}
    assert {"qconv2d", "qmatmul"} <= ops and not {"conv2d", "matmul"} & ops
    assert [e.mode for e in report.layers] == ["int8"] * 4
    assert all(e.sqnr_db > 15 and e.cosine > 0.98 for e in report.layers)


def test_compiled_int8_artifact_matches_the_interpreter(trained, tmp_path):
    model, calib, x_test, y_test = trained
    m = aot.compile(model, quantize="int8", calibration=calib, output=tmp_path / "q.aot")
    assert "SQNR" in m.quantization_report.table()
    probs = m.predict(x_test)
    graph = optimize_for_inference(model.to_graph())
    quantized, _ = quantize_within(graph, calibrate(graph, calib))
    want = interpret(quantized, {graph.inputs[0].name: x_test})[0]
    np.testing.assert_allclose(probs, want, rtol=1e-5, atol=1e-6)  # the float softmax at the end
    reloaded = aot.runtime.load(tmp_path / "q.aot").predict(x_test)
    np.testing.assert_array_equal(reloaded, probs)


def test_guardrail_returns_the_most_sensitive_layers_to_float(trained):
    model, calib, x_test, y_test = trained
    graph = optimize_for_inference(model.to_graph())
    cal = calibrate(graph, calib[:64])
    _, full = quantize_within(graph, cal)
    worst = min(full.layers, key=lambda e: e.sqnr_db).name
    q, report = quantize_within(graph, cal, max_accuracy_drop=-1.0)  # unreachable: all go back
    assert report.kept_float[0] == worst and len(report.kept_float) == 4
    assert not {"qconv2d", "qmatmul"} & {n.op.name for n in q.nodes}
    assert "returned to float" in report.table()
