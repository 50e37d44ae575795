"""Keras initializers: names, seeds, fan rules and distributions."""
import math

import numpy as np
import pytest

from aot import initializers, layers


def test_by_name_class_and_object():
    assert isinstance(initializers.get("he_normal"), initializers.HeNormal)
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get("uniform"), initializers.RandomUniform)
    init = initializers.Constant(3.0)
    assert initializers.get(init) is init
    assert np.all(init((2, 2)) == 3) and init((2, 2)).dtype == np.float32
    with pytest.raises(ValueError, match="initializer"):
        initializers.get("nope")


def test_seeds_repeat_and_differ():
    a = initializers.HeNormal(seed=1)((30, 20))
    assert np.array_equal(a, initializers.HeNormal(seed=1)((30, 20)))
    assert not np.array_equal(a, initializers.HeNormal(seed=2)((30, 20)))
    initializers.set_random_seed(5)
    b = layers.Dense(3, kernel_initializer="he_uniform")
    b.build((None, 4))
    initializers.set_random_seed(5)
    c = layers.Dense(3, kernel_initializer="he_uniform")
    c.build((None, 4))
    assert np.array_equal(b.get_weights()[0], c.get_weights()[0])


@pytest.mark.parametrize("name, limit_or_std, uniform", [
    ("glorot_uniform", math.sqrt(6 / (3 * 3 * 8 + 3 * 3 * 16)), True),
    ("he_uniform", math.sqrt(6 / (3 * 3 * 8)), True),
    ("lecun_uniform", math.sqrt(3 / (3 * 3 * 8)), True),
    ("he_normal", math.sqrt(2 / (3 * 3 * 8)), False),
    ("glorot_normal", math.sqrt(2 / (3 * 3 * 8 + 3 * 3 * 16)), False),
])
def test_variance_scaling_uses_conv_fans(name, limit_or_std, uniform):
    w = initializers.get(name)((3, 3, 8, 16))
    if uniform:
        assert np.abs(w).max() <= limit_or_std and np.abs(w).max() > 0.9 * limit_or_std
    else:  # truncated at two standard deviations of the untruncated normal
        assert abs(w.std() - limit_or_std) < 0.1 * limit_or_std
        assert np.abs(w).max() <= 2 * limit_or_std / 0.87962566103423978 + 1e-6


def test_orthogonal_and_identity():
    q = initializers.Orthogonal(seed=0)((6, 4))
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-5)
    assert np.array_equal(initializers.Identity(2.0)((2, 3)), 2 * np.eye(2, 3))
    with pytest.raises(ValueError):
        initializers.Orthogonal()((3,))
