"""A multi-layer perceptron for flattened 28x28 images."""
from aot.frontends.keras import Sequential, layers


def mlp(input_dim: int = 784, hidden=(256, 128), classes: int = 10, seed: int = 0):
    model = Sequential(name="mlp")
    model.add(layers.Input(shape=(input_dim,), name="x"))
    for i, units in enumerate(hidden):
        model.add(layers.Dense(units, activation="relu",
                               kernel_initializer=_init(seed + i), name=f"dense_{i}"))
    model.add(layers.Dense(classes, activation="softmax", kernel_initializer=_init(seed + 99),
                           name="probs"))
    return model


def _init(seed):
    from aot.frontends.keras import initializers

    return initializers.GlorotUniform(seed=seed)
