"""compile / fit / evaluate on compiled training steps: exact SGD against numpy (partial last
batch, a second fit continuing, validation_split), History, Python-list inputs, label
checks before compiling, the NaN guard, and train/test_on_batch."""
import numpy as np
import pytest

import aot
from aot import layers
from aot.frontends.keras import set_random_seed
from aot.runtime import NonFiniteLossError

RNG = np.random.default_rng(0)
X = RNG.standard_normal((10, 3)).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)


def linear(lr=0.1, **compile_kwargs):
    model = aot.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=aot.optimizers.SGD(learning_rate=lr), loss="mse", **compile_kwargs)
    return model


def numpy_sgd(w, b, x, y, lr, batch_size, epochs):
    """Keras' SGD on mean squared error, batches in order, the last one partial."""
    w, b = w.astype(np.float64), b.astype(np.float64)
    for _ in range(epochs):
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            d = 2 * (xb @ w + b - yb) / len(xb)
            w, b = w - lr * xb.T @ d, b - lr * d.sum(0)
    return w, b


def test_fit_is_exact_sgd_with_a_partial_last_batch_and_continues():
    model = linear()
    w0, b0 = model.get_weights()
    history = model.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    w, b = numpy_sgd(w0, b0, X, Y, 0.1, 4, 2)
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_weights()[1], b, rtol=1e-5, atol=1e-6)
    assert model.optimizer.iterations.numpy() == 6  # 3 steps (4 + 4 + 2 samples) per epoch
    assert history.epoch == [0, 1] and list(history.history) == ["loss"]
    assert history.history["loss"][1] < history.history["loss"][0]

    model.fit(X.tolist(), Y.tolist(), batch_size=4, epochs=1, shuffle=False, verbose=0)  # lists
    w, b = numpy_sgd(w, b, X, Y, 0.1, 4, 1)  # continues from where the first fit stopped
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-5, atol=1e-6)
    assert model.optimizer.iterations.numpy() == 9
    np.testing.assert_allclose(model.predict(X, verbose=0), X @ w + b, rtol=1e-5, atol=1e-5)
    loss = float(np.mean((X @ w + b - Y) ** 2))
    np.testing.assert_allclose(model.evaluate(X, Y, verbose=0), loss, rtol=1e-5)
    np.testing.assert_allclose(model.evaluate(X, Y, batch_size=3, verbose=0), loss, rtol=1e-5)


def test_validation_split_holds_out_the_last_samples():
    model = linear(metrics=["mae"])
    w0, b0 = model.get_weights()
    history = model.fit(X, Y, batch_size=8, epochs=1, validation_split=0.2, shuffle=False, verbose=0)
    w, b = numpy_sgd(w0, b0, X[:8], Y[:8], 0.1, 8, 1)  # trained on the first 8 only
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-5, atol=1e-6)
    val = X[8:] @ w + b - Y[8:]
    assert sorted(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    np.testing.assert_allclose(history.history["val_loss"][0], np.mean(val ** 2), rtol=1e-5)
    np.testing.assert_allclose(history.history["val_mae"][0], np.mean(np.abs(val)), rtol=1e-5)
    logs = model.evaluate(X[8:], Y[8:], verbose=0, return_dict=True)
    assert logs.keys() == {"loss", "mae"}
    np.testing.assert_allclose(logs["loss"], np.mean(val ** 2), rtol=1e-5)


def test_classifier_learns_with_metrics_and_seeded_shuffling(capsys):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((96, 4)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] > 0).astype(np.int64)  # sparse labels of shape (N,)

    def run():
        aot.frontends.keras.clear_session()
        set_random_seed(7)
        model = aot.Sequential([layers.Dense(16, activation="relu", input_shape=(4,)),
                                layers.Dense(2, activation="softmax", name="probs")])
        model.compile(optimizer=aot.optimizers.Adam(0.02),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model, model.fit(x, y, batch_size=16, epochs=8, validation_data=(x[:32], y[:32]))

    model, history = run()
    out = capsys.readouterr().out
    assert "Epoch 1/8" in out and "6/6 ━━━━━━━━━━━━━━━━━━━━" in out and " - accuracy: " in out
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0] and history.history["accuracy"][-1] > 0.8
    loss, acc = model.evaluate(x, y, verbose=0)
    probs = model.predict(x, verbose=0)
    np.testing.assert_allclose(acc, np.mean(probs.argmax(-1) == y), rtol=1e-6)
    np.testing.assert_allclose(loss, -np.mean(np.log(probs[np.arange(96), y])), rtol=1e-4)
    _, again = run()  # the same seed: the same shuffles and the same losses
    np.testing.assert_allclose(again.history["loss"], losses, rtol=1e-6)


def test_labels_that_cannot_match_fail_before_compiling():
    model = aot.Sequential([layers.Dense(3, activation="softmax", input_shape=(2,), name="probs")])
    model.compile(loss="sparse_categorical_crossentropy")
    x = np.zeros((32, 2), np.float32)
    with pytest.raises(ValueError, match=r"labels for output 'probs' have shape \(32, 3\) but "
                       r"sparse_categorical_crossentropy expects class indices of shape \(N,\) "
                       r"or \(N, 1\)"):
        model.fit(x, np.zeros((32, 3)), verbose=0)
    with pytest.raises(ValueError, match=r"class index 3 is outside \[0, 3\)"):
        model.fit(x, np.full((32,), 3), verbose=0)
    with pytest.raises(ValueError, match="x has 32 samples but the labels for output 'probs' have 31"):
        model.fit(x, np.zeros((31,), np.int32), verbose=0)
    model.compile(loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"expects one-hot labels of shape \(N, 3\) \(for integer "
                       "class indices use sparse_categorical_crossentropy\\)"):
        model.fit(x, np.zeros((32,), np.int32), verbose=0)
    assert model._trainer._module is None  # nothing was compiled
    with pytest.raises(RuntimeError, match="compile"):
        aot.Sequential([layers.Dense(1, input_shape=(2,))]).fit(x, np.zeros((32, 1)))


def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_last_good_weights():
    model = linear()
    w0, b0 = model.get_weights()
    y = Y.copy()
    y[8] = np.nan  # in the third batch (samples 8 and 9) of the first epoch
    with pytest.raises(NonFiniteLossError, match=r"epoch 1/2, step 3/3: .*loss is nan"):
        model.fit(X, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    w, b = numpy_sgd(w0, b0, X[:8], Y[:8], 0.1, 4, 1)  # the two good steps
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-5, atol=1e-6)
    assert model.optimizer.iterations.numpy() == 2


def test_train_and_test_on_batch():
    model = linear(metrics=["mse"])
    w0, b0 = model.get_weights()
    loss, mse = model.train_on_batch(X, Y)
    np.testing.assert_allclose([loss, mse], np.mean((X @ w0 + b0 - Y) ** 2), rtol=1e-5)
    w, b = numpy_sgd(w0, b0, X, Y, 0.1, 10, 1)
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-5, atol=1e-6)
    logs = model.test_on_batch(X, Y, return_dict=True)
    np.testing.assert_allclose(logs["loss"], np.mean((X @ w + b - Y) ** 2), rtol=1e-5)


def test_learning_rate_change_recompiles_and_keeps_the_optimizer_slots():
    """SGD momentum with learning rate 0 still moves the weights by momentum * velocity:
    only if the velocity survived the recompile."""
    model = aot.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=aot.optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="mse")
    model.fit(X, Y, batch_size=10, epochs=1, verbose=0)
    velocity = model.optimizer._slots["optimizer/dense/kernel/momentum"]
    before = model.get_weights()[0]
    model.optimizer.learning_rate = 0.0
    model.fit(X, Y, batch_size=10, epochs=1, verbose=0)
    np.testing.assert_allclose(model.get_weights()[0], before + 0.9 * velocity, rtol=1e-5, atol=1e-7)
    assert model.optimizer.iterations.numpy() == 2


def test_multi_output_losses_weights_and_metrics():
    inp = aot.Input((3,))
    h = layers.Dense(4, activation="relu")(inp)
    reg = layers.Dense(1, name="reg")(h)
    cls = layers.Dense(1, activation="sigmoid", name="cls")(h)
    model = aot.Model(inp, [reg, cls])
    model.compile(optimizer="sgd", loss={"reg": "mse", "cls": "binary_crossentropy"},
                  loss_weights={"reg": 0.5, "cls": 2.0}, metrics={"cls": ["accuracy"]})
    y_cls = (X[:, 0] > 0).astype(np.float32)  # (N,) against the (N, 1) output
    history = model.fit(X, {"reg": Y, "cls": y_cls}, epochs=2, verbose=0)
    assert sorted(history.history) == ["cls_accuracy", "cls_loss", "loss", "reg_loss"]
    logs = model.evaluate(X, [Y, y_cls], verbose=0, return_dict=True)
    r, c = model.predict(X, verbose=0)
    mse = np.mean((r - Y) ** 2)
    pc = np.clip(c[:, 0], 1e-7, 1 - 1e-7)
    bce = -np.mean(y_cls * np.log(pc) + (1 - y_cls) * np.log(1 - pc))
    np.testing.assert_allclose([logs["reg_loss"], logs["cls_loss"]], [mse, bce], rtol=1e-4)
    np.testing.assert_allclose(logs["loss"], 0.5 * mse + 2.0 * bce, rtol=1e-4)
    np.testing.assert_allclose(logs["cls_accuracy"], np.mean((c[:, 0] > 0.5) == y_cls))
    assert list(logs) == ["loss", "cls_accuracy", "reg_loss", "cls_loss"]


def test_steps_per_epoch_streams_batches_across_epochs():
    model = linear()
    w0, b0 = model.get_weights()
    history = model.fit(X, Y, batch_size=4, epochs=2, steps_per_epoch=2, shuffle=False, verbose=0)
    assert model.optimizer.iterations.numpy() == 4 and len(history.history["loss"]) == 2
    # batches 0-3, 4-7, 8-9, then 0-3 again: the second epoch goes on where the first stopped
    w, b = numpy_sgd(w0, b0, X, Y, 0.1, 4, 1)
    w, b = numpy_sgd(w, b, X[:4], Y[:4], 0.1, 4, 1)
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-5, atol=1e-6)


def test_training_phase_layers_update_their_state():
    """Batch norm's moving statistics and dropout's seed counter change in the compiled step
    and come back to the model's variables."""
    model = aot.Sequential([layers.Dense(4, activation="relu", input_shape=(3,)),
                            layers.BatchNormalization(), layers.Dropout(0.5), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    w, b = model.get_weights()[:2]
    model.fit(X, Y, batch_size=10, epochs=1, verbose=0)
    h = np.maximum(X @ w + b, 0)
    bn = model.layers[1]
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * h.mean(0), rtol=1e-4, atol=1e-6)
    assert model.layers[2].seed_counter.numpy() == 1
