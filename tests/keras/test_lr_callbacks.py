"""The learning rate is state of the compiled step: LearningRateScheduler and
ReduceLROnPlateau change it between epochs without recompiling, with Keras' semantics, and
the updates use the new rate (checked against plain SGD by hand)."""
import numpy as np

import aot
from aot import layers

RNG = np.random.default_rng(0)
X = RNG.standard_normal((16, 3)).astype("float32")
Y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype("float32")


def _model(lr=0.1):
    m = aot.Sequential([layers.Dense(1, input_shape=(3,), use_bias=False,
                                     kernel_initializer="zeros")])
    m.compile(optimizer=aot.optimizers.SGD(lr), loss="mse")
    return m


def _sgd_by_hand(rates):
    w = np.zeros((3, 1))
    for lr in rates:
        w = w - lr * X.T @ (2 * (X @ w - Y) / len(Y))
    return w


def test_scheduler_changes_the_rate_each_epoch_without_recompiling():
    m = _model()
    rates = [0.1, 0.05, 0.025]
    sched = aot.callbacks.LearningRateScheduler(lambda epoch, lr: rates[epoch])
    hist = m.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0, callbacks=[sched])
    assert hist.history["learning_rate"] == [float(np.float32(r)) for r in rates]
    np.testing.assert_allclose(m.get_weights()[0], _sgd_by_hand(rates), rtol=1e-5)
    module = m._trainer._module
    m.optimizer.learning_rate = 0.2
    m.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    assert m._trainer._module is module  # the same compiled step, the new rate
    np.testing.assert_allclose(m.get_weights()[0], _sgd_by_hand(rates + [0.2]), rtol=1e-5)


def test_reduce_on_plateau_follows_keras_semantics():
    m = _model(lr=0.0)  # nothing moves: the loss plateaus from the first epoch
    cb = aot.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_lr=0.0,
                                         cooldown=1)
    m.optimizer.learning_rate = 0.08
    m.fit(X, Y * 0, epochs=6, batch_size=16, verbose=0, callbacks=[cb])  # zero targets, zero loss
    # Keras: epoch 0 sets the best; epoch 1 waits 1 -> halve (cooldown 1); from epoch 2 on the
    # cooldown ends at the top of the epoch (counter 1 -> 0), so each epoch halves again:
    # 0.08 -> 0.04 (1), 0.02 (2), 0.01 (3), 0.005 (4), 0.0025 (5)
    assert float(m.optimizer.learning_rate) == np.float32(0.0025)
