"""Classic Keras tutorial programs, written as their users write them."""
import numpy as np

import aot
from aot import layers


def test_linear_regression_from_python_lists():
    """The 'hello world' of Keras: y = 2x - 1 from six points given as Python lists (the
    data is one rank short of the (N, 1) input; Keras adds the axis, and so do we)."""
    model = aot.Sequential([layers.Dense(units=1, input_shape=[1])])
    model.compile(optimizer="sgd", loss="mean_squared_error")
    xs = [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    ys = [-3.0, -1.0, 1.0, 3.0, 5.0, 7.0]
    model.fit(xs, ys, epochs=500, verbose=0)
    assert abs(float(model.predict([10.0], verbose=0)[0, 0]) - 19.0) < 0.1


def test_frozen_discriminator_in_a_gan_step():
    """The DCGAN pattern: the discriminator trains on its own, and is frozen inside the
    combined model that trains the generator."""
    rng = np.random.default_rng(0)
    gen = aot.Sequential([layers.Input((4,)), layers.Dense(8, activation="tanh")])
    disc = aot.Sequential([layers.Input((8,)), layers.Dense(4), layers.LeakyReLU(),
                           layers.Dropout(0.3), layers.Dense(1)])
    bce = aot.losses.BinaryCrossentropy(from_logits=True)
    disc.compile(optimizer=aot.optimizers.Adam(1e-3), loss=bce)
    disc.trainable = False
    z = aot.Input((4,))
    gan = aot.Model(z, disc(gen(z)))
    gan.compile(optimizer=aot.optimizers.Adam(1e-3), loss=bce)
    disc.trainable = True
    before = [w.copy() for w in disc.get_weights()]
    gen_before = [w.copy() for w in gen.get_weights()]
    real = rng.standard_normal((16, 8)).astype("float32")
    noise = rng.standard_normal((16, 4)).astype("float32")
    fake = gen.predict(noise, verbose=0)
    labels = np.concatenate([np.ones((16, 1)), np.zeros((16, 1))]).astype("float32")
    d_loss = disc.train_on_batch(np.concatenate([real, fake]), labels)
    assert np.isfinite(d_loss)
    assert any(not np.allclose(a, b) for a, b in zip(before, disc.get_weights()))
    disc.trainable = False
    frozen = [w.copy() for w in disc.get_weights()]
    g_loss = gan.train_on_batch(noise, np.ones((16, 1), "float32"))
    assert np.isfinite(g_loss)
    for a, b in zip(frozen, disc.get_weights()):
        np.testing.assert_array_equal(a, b)  # frozen inside the GAN step
    assert any(not np.allclose(a, b) for a, b in zip(gen_before, gen.get_weights()))
