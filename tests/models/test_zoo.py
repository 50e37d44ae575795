"""Every zoo model (at test size) compiles for the host CPU and matches the interpreter,
and its IR text round-trips.

Weights are re-drawn variance-preserving (He-scaled kernels, batch-norm statistics
near 1), so activations stay O(1) through deep nets: with Keras' default
initializers a random MobileNetV2 decays to 1e-12 and every output would be the
uniform softmax, which would make the comparison meaningless.
"""
import numpy as np
import pytest

import aot
from aot.ir import interpret, parse_graph, print_graph, verify

SMALL = {
    "mlp": {},
    "lenet": {},
    "resnet18": dict(input_shape=(32, 32, 3), classes=10),
    "mobilenet_v2": dict(input_shape=(32, 32, 3), classes=10),
    "transformer_encoder": dict(seq_len=16, d_model=32, ff_dim=64),
    "lstm_classifier": dict(seq_len=8),
    "dcgan_generator": {},
    "vgg16": dict(input_shape=(32, 32, 3), classes=10, fc_units=64),
}


def randomize(model, rng):
    new = []
    for w, arr in zip(model.weights, model.get_weights()):
        name = w.path if hasattr(w, "path") else w.name
        if arr.ndim >= 2 and "embedding" not in name:
            fan_in = int(np.prod(arr.shape[:-1])) if "depthwise" not in name else int(np.prod(arr.shape[:2]))
            new.append(rng.normal(0, np.sqrt(2.0 / fan_in), arr.shape))
        elif arr.ndim >= 2:
            new.append(rng.normal(0, 1.0, arr.shape))
        elif name.endswith(("gamma", "moving_variance")):
            new.append(rng.uniform(0.5, 1.5, arr.shape))
        else:
            new.append(rng.normal(0, 0.1, arr.shape))
    model.set_weights([a.astype(np.float32) for a in new])


def test_zoo_lists_every_model():
    assert aot.models.names() == sorted(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_zoo_model_compiles_and_matches_interpreter(name):
    model = aot.models.get(name, **SMALL[name])
    randomize(model, np.random.default_rng(0))
    graph = verify(model.to_graph())
    feeds = aot.models.example_inputs(model, batch=3)
    want = interpret(graph, feeds)
    got = aot.compile(model, target="llvm").run(feeds)
    for (out_name, g), w in zip(got.items(), want):
        assert np.std(w) > 1e-3, f"{name}/{out_name}: degenerate output, the check would be vacuous"
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * float(np.max(np.abs(w))))
    text = print_graph(graph)
    assert print_graph(parse_graph(text)) == text
