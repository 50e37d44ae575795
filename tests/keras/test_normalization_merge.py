"""Normalization and merge layers against numpy."""
import numpy as np
import pytest

import aot
from aot import layers

from .helpers import assert_close, randn, run, run_layer


@pytest.mark.parametrize("axis", [-1, 1])
def test_batch_normalization_uses_moving_statistics(axis, rng):
    x = randn(rng, 2, 3, 4)
    layer = layers.BatchNormalization(axis=axis, epsilon=0.01)
    got = run_layer(layer, x, rng=rng)
    gamma, beta, mean, var = layer.get_weights()
    shape = [1, 1, 1]
    shape[axis] = -1
    g, b, m, v = (a.reshape(shape) for a in (gamma, beta, mean, var))
    assert_close(got, (x - m) / np.sqrt(v + 0.01) * g + b)


def test_batch_normalization_weights_follow_keras():
    layer = layers.BatchNormalization(center=False)
    layer.build((None, 5, 3))
    assert [w.path for w in layer.weights] == [
        "batch_normalization/gamma", "batch_normalization/moving_mean",
        "batch_normalization/moving_variance"]
    assert [w.trainable for w in layer.weights] == [True, False, False]
    assert layer.epsilon == 1e-3 and layer.momentum == 0.99
    assert [w.numpy().tolist() for w in layer.weights] == [[1, 1, 1], [0, 0, 0], [1, 1, 1]]


@pytest.mark.parametrize("axis", [-1, [1, 2]])
def test_layer_normalization(axis, rng):
    x = randn(rng, 2, 5, 3, scale=3) + 1
    layer = layers.LayerNormalization(axis=axis)
    got = run_layer(layer, x, rng=rng)
    gamma, beta = layer.get_weights()
    axes = (2,) if axis == -1 else (1, 2)
    mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    want = (x - mean) / np.sqrt(var + 1e-3) * gamma.reshape(x.shape[-len(axes):] if axis == -1
                                                            else gamma.shape) + beta
    assert gamma.shape == tuple(x.shape[a] for a in axes)
    assert_close(got, want, rtol=1e-4)


def test_layer_normalization_without_scale_and_center(rng):
    x = randn(rng, 3, 4)
    got = run_layer(layers.LayerNormalization(center=False, scale=False, epsilon=0.1), x)
    assert_close(got, (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 0.1))


MERGES = [
    (layers.Add, lambda a, b, c: a + b + c),
    (layers.Multiply, lambda a, b, c: a * b * c),
    (layers.Average, lambda a, b, c: (a + b + c) / 3),
    (layers.Maximum, lambda a, b, c: np.maximum(np.maximum(a, b), c)),
    (layers.Minimum, lambda a, b, c: np.minimum(np.minimum(a, b), c)),
]


@pytest.mark.parametrize("cls, fn", MERGES, ids=lambda v: getattr(v, "__name__", ""))
def test_merge_layers(cls, fn, rng):
    a, b, c = (randn(rng, 2, 3) for _ in range(3))
    ins = [aot.Input((3,)) for _ in range(3)]
    model = aot.Model(ins, cls()(ins))
    assert_close(run(model, a, b, c), fn(a, b, c))


def test_subtract_concatenate_and_shortcuts(rng):
    a, b = randn(rng, 2, 3), randn(rng, 2, 4)
    ia, ib = aot.Input((3,)), aot.Input((4,))
    model = aot.Model([ia, ib], [layers.Concatenate()([ia, ib]),
                                 layers.subtract([ia, ia]), layers.concatenate([ib, ia], axis=1)])
    cat, zero, cat2 = run(model, a, b)
    assert_close(cat, np.concatenate([a, b], 1))
    assert_close(zero, np.zeros_like(a))
    assert_close(cat2, np.concatenate([b, a], 1))
    with pytest.raises(ValueError, match="exactly 2"):
        layers.Subtract()([ia, ia, ia])
    with pytest.raises(ValueError, match="at least 2"):
        layers.Add()([ia])
