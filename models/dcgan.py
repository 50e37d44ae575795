"""The DCGAN generator of the TensorFlow DCGAN tutorial (MNIST, 28x28x1, tanh output)."""
from aot.frontends.keras import Sequential, layers


def dcgan_generator(latent_dim: int = 100, base: int = 7, filters=(256, 128, 64), channels: int = 1):
    f0, f1, f2 = filters
    return Sequential([
        layers.Input(shape=(latent_dim,), name="noise"),
        layers.Dense(base * base * f0, use_bias=False),
        layers.BatchNormalization(),
        layers.LeakyReLU(),
        layers.Reshape((base, base, f0)),
        layers.Conv2DTranspose(f1, 5, strides=1, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.LeakyReLU(),
        layers.Conv2DTranspose(f2, 5, strides=2, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.LeakyReLU(),
        layers.Conv2DTranspose(channels, 5, strides=2, padding="same", use_bias=False,
                               activation="tanh", name="image"),
    ], name="dcgan_generator")
