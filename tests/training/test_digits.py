"""A real task end to end: a LeNet-style CNN learns scikit-learn's bundled digits (1,797 8x8
images, no download) to at least 97% test accuracy through compile / fit / evaluate, then
the saved artifact, reloaded by the runtime alone, predicts and evaluates the same.

Fixed seed (weights and fit's shuffling), a stratified 75/25 split; about 10 s on 2 cores.
"""
import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import aot  # noqa: E402
from aot import layers  # noqa: E402
from aot.frontends.keras import clear_session, set_random_seed  # noqa: E402


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


def test_lenet_learns_digits_and_the_artifact_agrees(tmp_path):
    x_train, x_test, y_train, y_test = digits()
    clear_session()
    set_random_seed(0)
    model = lenet()
    model.compile(optimizer=aot.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]

    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    probs = model.predict(x_test, verbose=0)
    print(f"digits: test accuracy {accuracy:.4f}, loss {loss:.4f}")
    assert accuracy >= 0.97, f"test accuracy {accuracy:.4f} < 0.97 (loss {loss:.4f})"
    assert np.mean(probs.argmax(-1) == y_test) == pytest.approx(accuracy)

    model.save(tmp_path / "digits.aot")
    runtime = aot.runtime.load(tmp_path / "digits.aot")
    reloaded = runtime.predict(x_test)
    np.testing.assert_allclose(reloaded, probs, rtol=1e-5, atol=1e-6)
    assert np.array_equal(reloaded.argmax(-1), probs.argmax(-1))
    logs = runtime.evaluate(x_test, y_test.astype(np.int32))  # the runtime takes exact dtypes
    assert logs["accuracy"] == pytest.approx(accuracy)
    assert logs["loss"] == pytest.approx(loss, rel=1e-5)
