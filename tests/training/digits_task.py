"""The digits task shared by the training and int8 tests: scikit-learn's bundled 8x8 digits
(1,797 images, no download), a stratified 75/25 split, and a small LeNet-style CNN trained
with a fixed seed."""
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import aot
from aot import layers
from aot.frontends.keras import clear_session, set_random_seed


def digits():
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., None]  # (1797, 8, 8, 1) in [0, 1]
    y = data.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


def lenet():
    return aot.Sequential([
        layers.Input(shape=(8, 8, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def trained_lenet(x_train, y_train, epochs: int):
    """The LeNet fitted with Adam(0.003), batch 32, seed 0; returns (model, History)."""
    clear_session()
    set_random_seed(0)
    model = lenet()
    model.compile(optimizer=aot.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model, model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
