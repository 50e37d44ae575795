"""`model.quantize(mode, ...)` on the Keras-style builder: predict then runs the quantized
compiled model, `quantization_report` holds the int8 table; bad modes, missing calibration and
unbuilt models are clear errors."""
import numpy as np
import pytest

import aot
from aot import layers


def _mlp():
    model = aot.Sequential([layers.Dense(16, activation="relu", input_shape=(6,)),
                            layers.Dense(4, activation="softmax")])
    rng = np.random.default_rng(0)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5
                       for w in model.get_weights()])
    return model


def _cnn():
    return aot.Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 2)),
                           layers.Flatten(), layers.Dense(3, activation="softmax")])


def _x(shape, n=64, seed=1):
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def test_int8_predict_close_to_float_and_report():
    model, x = _mlp(), _x((6,))
    want = model.predict(x, verbose=0)
    model.quantize("int8", calibration=x)
    got = model.predict(x, verbose=0)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=0.05)  # probabilities: int8's ~1% of range
    assert not np.array_equal(got, want)  # the int8 kernels ran, not the float ones
    report = model.quantization_report
    assert [e.mode for e in report.layers] == ["int8", "int8"]
    assert report.metric == "top-1 agreement with float" and report.quant_metric > 0.9


def test_int8_with_validation_labels_and_accuracy_limit():
    model, x = _mlp(), _x((6,))
    y = model.predict(x, verbose=0).argmax(-1)  # labels the float model gets all right
    model.quantize("int8", calibration=x, method="percentile", max_accuracy_drop=0.0,
                   validation=(x[:32], y[:32]))
    report = model.quantization_report
    assert report.metric == "accuracy" and report.samples == 32
    assert report.float_metric == 1.0 and report.drop <= 0.0
    assert (model.predict(x[:32], verbose=0).argmax(-1) == y[:32]).all()


@pytest.mark.parametrize("mode, eps", [("fp16", 2.0 ** -10), ("bf16", 2.0 ** -7)])
def test_16_bit_modes_on_a_cnn(mode, eps):
    model, x = _cnn(), _x((8, 8, 2), n=4)
    want = model.predict(x, verbose=0)
    model.quantize(mode)
    got = model.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=0, atol=2 * eps * np.abs(want).max())
    assert model.quantization_report is None


def test_int8_cnn_and_requantized_after_new_weights():
    model, x = _cnn(), _x((8, 8, 2), n=16)
    model.quantize("int8", calibration=x)
    first = model.predict(x, verbose=0)
    np.testing.assert_allclose(first, model.predict_reference(x), atol=0.05)
    model.set_weights([w * 2 for w in model.get_weights()])
    second = model.predict(x, verbose=0)  # recompiled, still int8, for the new weights
    np.testing.assert_allclose(second, model.predict_reference(x), atol=0.05)
    assert [e.mode for e in model.quantization_report.layers] == ["int8", "int8"]


@pytest.mark.parametrize("call, match", [
    (lambda m: m.quantize("int4"), r"Invalid quantization mode.*Received: mode='int4'"),
    (lambda m: m.quantize("int8"), "needs calibration= data"),
    (lambda m: m.quantize("int8", calibration=_x((6,)), method="mse"), "Received: method=.mse."),
    (lambda m: m.quantize("fp16", calibration=_x((6,))), "apply to mode 'int8', not 'fp16'"),
    (lambda m: m.quantize("int8", calibration=_x((6,)), validation=_x((6,))), "a pair"),
    (lambda m: m.quantize("int8", calibration=_x((5,))), r"expected shape f32\[N,6\]"),
])
def test_bad_arguments(call, match):
    model = _mlp()
    with pytest.raises(ValueError, match=match):
        call(model)
    assert model._quantization is None  # a failed quantize leaves the model as it was


def test_unbuilt_model():
    model = aot.Sequential([layers.Dense(4)])
    with pytest.raises(ValueError, match="Cannot quantize a model that isn't yet built"):
        model.quantize("fp16")
