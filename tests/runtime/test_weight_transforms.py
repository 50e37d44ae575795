"""Weight-only computations lifted out of an inference entry (aot/codegen/lower.py
`lift_weight_transforms`): the artifact names a transform function, the runtime applies it
once per weights, and again after load_state_dict."""
from __future__ import annotations

import numpy as np

import aot
from aot import layers
from aot.ir import interpret
from aot.runtime import load
from tests.random_weights import randomize


def _conv_bn():
    """conv -> BatchNorm (gamma * rsqrt(variance + eps) is weight-only) -> ReLU6 -> dense."""
    model = aot.Sequential([
        layers.Conv2D(4, 3, padding="same", use_bias=False, input_shape=(6, 6, 3)),
        layers.BatchNormalization(), layers.ReLU(6.0), layers.Flatten(), layers.Dense(5)])
    return randomize(model)


def test_inference_artifact_lifts_weight_transforms_and_reapplies_them(tmp_path):
    model = _conv_bn()
    graph = model.to_graph()
    path = tmp_path / "bn.aot"
    aot.compile(model, output=path)
    m = load(path)
    assert m.manifest["entries"]["predict"]["transform_params"] == "predict_transform_params"
    x = np.random.default_rng(1).standard_normal((3, 6, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(m.predict(x), interpret(graph, {graph.inputs[0].name: x})[0],
                               rtol=1e-4, atol=1e-5)
    state = m.state_dict()
    variance = next(n for n in state if n.endswith("moving_variance"))
    state[variance] = state[variance] * 4.0  # halves the BatchNorm's scale
    m.load_state_dict(state)
    for p in graph.params:
        if p.name == variance:
            p.data = state[variance]
    np.testing.assert_allclose(m.predict(x), interpret(graph, {graph.inputs[0].name: x})[0],
                               rtol=1e-4, atol=1e-5)
    assert set(m.state_dict()) == set(state)  # the user's weights, not the transformed ones


def test_training_artifact_keeps_weights_as_they_are(tmp_path):
    """Weights change at every train step: nothing is lifted."""
    model = _conv_bn()
    model.compile(optimizer="sgd", loss="mse")
    path = tmp_path / "train.aot"
    model.save(path)
    entries = load(path).manifest["entries"]
    assert "train_step" in entries
    assert not any("transform_params" in e for e in entries.values())
