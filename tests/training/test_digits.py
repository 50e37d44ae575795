"""A real task end to end: a LeNet-style CNN learns scikit-learn's bundled digits (1,797 8x8
images, no download) to at least 97% test accuracy through compile / fit / evaluate, then
the saved artifact, reloaded by the runtime alone, predicts and evaluates the same.

Fixed seed (weights and fit's shuffling), a stratified 75/25 split; about 10 s on 2 cores.
"""
import numpy as np
import pytest

import aot

from .digits_task import digits, trained_lenet


def test_lenet_learns_digits_and_the_artifact_agrees(tmp_path):
    x_train, x_test, y_train, y_test = digits()
    model, history = trained_lenet(x_train, y_train, epochs=15)
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
