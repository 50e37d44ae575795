"""Core layers against numpy written from their weights (get_weights)."""
import math

import numpy as np
import pytest

import aot
from aot import layers

from .helpers import assert_close, layer_model, randn, run, run_layer, sigmoid


def _erf(x):
    return np.vectorize(math.erf)(x)


ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "softmax": lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True),
    "log_softmax": lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True)),
    "gelu": lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))),  # Keras's activation is exact
    "swish": lambda x: x * sigmoid(x),
    "silu": lambda x: x * sigmoid(x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "exponential": np.exp,
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
    "hard_silu": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),
    "mish": lambda x: x * np.tanh(np.log1p(np.exp(x))),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_by_name(name, rng):
    x = randn(rng, 3, 7, scale=2)
    assert_close(run_layer(layers.Activation(name), x), ACTIVATIONS[name](x.astype(np.float64)))


def test_dense_is_x_at_kernel_plus_bias(rng):
    x = randn(rng, 4, 5)
    layer = layers.Dense(3, activation="tanh")
    got = run_layer(layer, x, rng=rng)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (5, 3) and bias.shape == (3,)
    assert_close(got, np.tanh(x @ kernel + bias))


def test_dense_on_rank3_and_without_bias(rng):
    x = randn(rng, 2, 4, 5)
    layer = layers.Dense(3, use_bias=False)
    got = run_layer(layer, x, rng=rng)
    (kernel,) = layer.get_weights()
    assert_close(got, x @ kernel)


def test_dense_callable_activation_and_config():
    layer = layers.Dense(2, activation=aot.frontends.keras.activations.relu, name="d")
    config = layer.get_config()
    assert config["units"] == 2 and config["activation"] == "relu" and config["name"] == "d"
    assert config["kernel_initializer"]["class_name"] == "GlorotUniform"
    clone = layers.Dense.from_config({**config, "name": "d2",
                                      "kernel_initializer": "glorot_uniform",
                                      "bias_initializer": "zeros"})
    assert clone.units == 2 and clone.name == "d2"


def test_dense_default_initializers():
    layer = layers.Dense(50)
    layer.build((None, 40))
    kernel, bias = layer.get_weights()
    limit = math.sqrt(6 / (40 + 50))  # glorot_uniform
    assert np.all(np.abs(kernel) <= limit) and kernel.std() > limit / 4
    assert not bias.any() and kernel.dtype == np.float32


@pytest.mark.parametrize("kwargs", [dict(), dict(max_value=1.0), dict(negative_slope=0.1),
                                    dict(threshold=0.5), dict(max_value=1.5, negative_slope=0.1,
                                                              threshold=0.2)])
def test_relu_layer_options(kwargs, rng):
    x = randn(rng, 3, 9, scale=2)
    slope, top, thr = (kwargs.get("negative_slope", 0.0), kwargs.get("max_value"),
                       kwargs.get("threshold", 0.0))
    high = x if top is None else np.minimum(x, top)
    want = np.where(x > thr, high, slope * (x - thr))
    assert_close(run_layer(layers.ReLU(**kwargs), x), want)


def test_leaky_relu_elu_softmax(rng):
    x = randn(rng, 3, 6, scale=2)
    assert_close(run_layer(layers.LeakyReLU(), x), np.where(x >= 0, x, 0.3 * x))
    assert_close(run_layer(layers.LeakyReLU(negative_slope=0.1), x), np.where(x >= 0, x, 0.1 * x))
    assert_close(run_layer(layers.ELU(alpha=0.5), x), np.where(x > 0, x, 0.5 * np.expm1(x)))
    e = np.exp(x - x.max(0))
    assert_close(run_layer(layers.Softmax(axis=0), x), e / e.sum(0))


def test_softmax_with_mask_zeroes_masked_positions(rng):
    x = randn(rng, 2, 5)
    mask = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1]], np.float32)
    xi, mi = aot.Input((5,)), aot.Input((5,))
    model = aot.Model([xi, mi], layers.Softmax()(xi, mask=mi))
    e = np.exp(x) * mask
    assert_close(run(model, x, mask), e / e.sum(-1, keepdims=True))


def test_dropout_emits_nothing_at_inference(rng):
    x = randn(rng, 3, 4)
    model = layer_model(layers.Dropout(0.5), x)
    assert model.to_graph().nodes == []
    assert_close(run(model, x), x)
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(1.5)


def test_flatten_reshape_permute(rng):
    x = randn(rng, 2, 3, 4, 5)
    flat = layer_model(layers.Flatten(), x)
    assert flat.to_graph().outputs[0].type.shape == ("N", 60)
    assert_close(run(flat, x), x.reshape(2, -1))
    assert_close(run_layer(layers.Reshape((-1, 10)), x), x.reshape(2, 6, 10))
    assert_close(run_layer(layers.Reshape((12, 5)), x), x.reshape(2, 12, 5))
    assert_close(run_layer(layers.Permute((3, 1, 2)), x), x.transpose(0, 3, 1, 2))
    with pytest.raises(ValueError):
        layers.Permute((1, 3))


def test_embedding_is_a_row_lookup(rng):
    ids = np.array([[0, 3, 4], [2, 2, 1]], np.int32)
    layer = layers.Embedding(5, 4)
    got = run_layer(layer, ids, rng=rng)
    (table,) = layer.get_weights()
    assert table.shape == (5, 4)
    assert_close(got, table[ids])


def test_embedding_float_ids_are_cast(rng):
    ids = np.array([[0, 3], [2, 1]], np.float32)
    layer = layers.Embedding(4, 2)
    got = run_layer(layer, ids, rng=rng)
    assert_close(got, layer.get_weights()[0][ids.astype(int)])


def test_identity_and_lambda(rng):
    x = randn(rng, 2, 3)
    assert_close(run_layer(layers.Identity(), x), x)
    lam = layers.Lambda(lambda t: aot.frontends.keras.ops.multiply(t, 3.0))
    assert_close(run_layer(lam, x), 3 * x)


def test_compute_output_shape_follows_keras():
    assert layers.Dense(3).compute_output_shape((None, 7, 5)) == (None, 7, 3)
    assert layers.Flatten().compute_output_shape((None, 2, 3)) == (None, 6)
    assert layers.Reshape((-1, 2)).compute_output_shape((None, 3, 4)) == (None, 6, 2)
    assert layers.Embedding(5, 3).compute_output_shape((None, 4)) == (None, 4, 3)
