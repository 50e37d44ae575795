"""Callbacks during fit (hook order, stop_training, EarlyStopping, ModelCheckpoint), progress
output, and model.save writing the training entries and state."""
import json

import numpy as np
import pytest

import aot
from aot import layers

RNG = np.random.default_rng(0)
X = RNG.standard_normal((10, 3)).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)


def linear(lr=0.1):
    model = aot.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=aot.optimizers.SGD(learning_rate=lr), loss="mse")
    return model


class Recorder(aot.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None): self.calls.append("train_begin")
    def on_train_end(self, logs=None): self.calls.append("train_end")
    def on_epoch_begin(self, epoch, logs=None): self.calls.append(f"epoch_begin {epoch}")
    def on_epoch_end(self, epoch, logs=None): self.calls.append(f"epoch_end {epoch} {sorted(logs)}")
    def on_train_batch_begin(self, batch, logs=None): self.calls.append(f"batch_begin {batch}")
    def on_train_batch_end(self, batch, logs=None): self.calls.append(f"batch_end {batch} {sorted(logs)}")


def test_hooks_are_called_in_keras_order_and_see_trained_weights():
    model = linear()
    rec = Recorder()
    seen = []
    track = aot.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(model.get_weights()))
    history = model.fit(X, Y, batch_size=5, epochs=2, initial_epoch=0, callbacks=[rec, track], verbose=0)
    batch = ["batch_begin 0", "batch_end 0 ['loss']", "batch_begin 1", "batch_end 1 ['loss']"]
    assert rec.calls == (["train_begin", "epoch_begin 0"] + batch + ["epoch_end 0 ['loss']", "epoch_begin 1"]
                         + batch + ["epoch_end 1 ['loss']", "train_end"])
    assert rec.model is model and rec.params == {"verbose": 0, "epochs": 2, "steps": 2}
    assert model.history is history
    np.testing.assert_allclose(seen[-1][0], model.get_weights()[0])
    assert not np.allclose(seen[0][0], seen[1][0])  # each epoch's own weights


def test_stop_training_and_initial_epoch():
    model = linear()

    class StopAfterOneBatch(aot.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.stop_training = True
    history = model.fit(X, Y, batch_size=2, epochs=5, initial_epoch=2,
                        callbacks=[StopAfterOneBatch()], verbose=0)
    assert history.epoch == [2]
    assert model.optimizer.iterations.numpy() == 1


def test_early_stopping_restores_the_best_weights(capsys):
    """mode="max" on a falling loss: the first epoch stays the best, so training stops after
    `patience` more epochs and the weights go back to the end of epoch 1."""
    model = linear(lr=0.05)
    seen = []
    track = aot.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(model.get_weights()))
    stop = aot.callbacks.EarlyStopping(monitor="loss", mode="max", patience=2,
                                       restore_best_weights=True, verbose=1)
    history = model.fit(X, Y, batch_size=5, epochs=20, callbacks=[track, stop], verbose=0)
    assert history.epoch == [0, 1, 2] and stop.stopped_epoch == 2
    assert "Epoch 3: early stopping" in capsys.readouterr().out
    w, b = seen[0]
    np.testing.assert_allclose(model.get_weights()[0], w)
    # the compiled module got the restored weights too
    np.testing.assert_allclose(model.predict(X, verbose=0), X @ w + b, rtol=1e-5, atol=1e-6)
    more = model.fit(X, Y, batch_size=10, epochs=1, verbose=0)
    np.testing.assert_allclose(more.history["loss"][0], np.mean((X @ w + b - Y) ** 2), rtol=1e-5)


def test_early_stopping_on_val_loss_with_patience():
    model = linear(lr=0.0)  # nothing changes: no epoch after the first improves
    stop = aot.callbacks.EarlyStopping(patience=1)
    history = model.fit(X, Y, epochs=10, validation_data=(X, Y), callbacks=[stop], verbose=0)
    assert history.epoch == [0, 1]
    with pytest.warns(UserWarning, match="conditioned on metric `val_auc` which is not available"):
        model.fit(X, Y, epochs=1, callbacks=[aot.callbacks.EarlyStopping(monitor="val_auc")],
                  verbose=0)


def test_model_checkpoint_writes_artifacts_with_training_state(tmp_path):
    model = linear()
    seen = []
    track = aot.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(model.get_weights()))
    ckpt = aot.callbacks.ModelCheckpoint(str(tmp_path / "ckpt-{epoch:02d}.aot"), monitor="loss")
    model.fit(X, Y, batch_size=5, epochs=2, callbacks=[track, ckpt], verbose=0)
    first = aot.runtime.load(tmp_path / "ckpt-01.aot")
    assert set(first.entries) == {"predict", "train_step", "evaluate"}
    state = first.state_dict()
    np.testing.assert_allclose(state["dense/kernel"], seen[0][0])
    assert int(state["optimizer/iterations"]) == 2
    assert int(aot.runtime.load(tmp_path / "ckpt-02.aot").state_dict()["optimizer/iterations"]) == 4

    best = aot.callbacks.ModelCheckpoint(str(tmp_path / "best.aot"), monitor="loss", mode="max",
                                         save_best_only=True)
    model.fit(X, Y, batch_size=5, epochs=2, callbacks=[best], verbose=0)
    kept = aot.runtime.load(tmp_path / "best.aot").state_dict()
    assert int(kept["optimizer/iterations"]) == 6  # only the first epoch "improved" the max


def test_save_writes_the_training_artifact_before_and_after_fit(tmp_path):
    model = linear()
    model.save(tmp_path / "fresh.aot")
    manifest = json.loads((tmp_path / "fresh.aot" / "manifest.json").read_text())
    assert set(manifest["entries"]) == {"predict", "train_step", "evaluate"}
    model.fit(X, Y, batch_size=5, epochs=1, verbose=0)  # no second compile: the module is reused
    model.save(tmp_path / "trained.aot")
    m = aot.runtime.load(tmp_path / "trained.aot")
    np.testing.assert_allclose(m.state_dict()["dense/kernel"], model.get_weights()[0])
    assert int(m.state_dict()["optimizer/iterations"]) == 2
    before = m.state_dict()["dense/kernel"]
    m.train_step(X, Y)  # the runtime alone goes on training from the saved state
    assert not np.allclose(m.state_dict()["dense/kernel"], before)


def test_progress_output(capsys):
    model = linear()
    model.fit(X, Y, batch_size=5, epochs=2, verbose=2, validation_split=0.2)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2" and out[2] == "Epoch 2/2"
    assert out[1].startswith("2/2 - ") and " - loss: " in out[1]
    assert out[1].split(" - ")[-1].startswith("val_loss: ")
    model.evaluate(X, Y)
    line = capsys.readouterr().out.strip()
    assert line.startswith("1/1 ━━━━━━━━━━━━━━━━━━━━") and " - loss: " in line
    model.fit(X, Y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""
