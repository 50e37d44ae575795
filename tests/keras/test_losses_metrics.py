"""Losses, metrics and optimizers of the Keras-style frontend, standalone: each loss against
its numpy formula (probabilities and logits), its gradient through autodiff against finite
differences, metrics against numpy (AUC against Keras' bucketed algorithm), and optimizer
configs as Keras 3 writes them."""
import numpy as np
import pytest

import aot
from aot.frontends.keras import losses, metrics, ops, optimizers
from aot.ir import GraphBuilder, TensorType, interpret
from aot.passes.autodiff import build_gradients

EPS = 1e-7
RNG = np.random.default_rng(0)


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def np_bce(y, p, from_logits=False, smoothing=0.0):
    y = y * (1 - smoothing) + 0.5 * smoothing
    if from_logits:
        p = sigmoid(p)
    p = np.clip(p, EPS, 1 - EPS)
    return np.mean(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p), axis=-1))


def np_cce(y, p, from_logits=False, smoothing=0.0):
    y = y * (1 - smoothing) + smoothing / y.shape[-1]
    logp = np.log(softmax(p)) if from_logits else np.log(np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS))
    return np.mean(-np.sum(y * logp, axis=-1))


def np_scce(y, p, from_logits=False):
    return np_cce(np.eye(p.shape[-1])[y.reshape(-1)], p, from_logits)


def np_huber(y, p, delta=1.0):
    e = np.abs(p - y)
    return np.mean(np.mean(np.where(e <= delta, 0.5 * e ** 2, delta * e - 0.5 * delta ** 2), -1))


PROBS = softmax(RNG.standard_normal((6, 4))).astype(np.float32)
LOGITS = (RNG.standard_normal((6, 4)) * 2).astype(np.float32)
ONE_HOT = np.eye(4, dtype=np.float32)[RNG.integers(0, 4, 6)]
CLASSES = RNG.integers(0, 4, 6).astype(np.int32)
BIN_Y = RNG.integers(0, 2, (6, 3)).astype(np.float32)
BIN_P = RNG.uniform(0.01, 0.99, (6, 3)).astype(np.float32)
REG_Y = RNG.standard_normal((6, 3)).astype(np.float32)
REG_P = (REG_Y + RNG.standard_normal((6, 3)) * 1.5).astype(np.float32)

LOSS_CASES = [
    ("mse", losses.MeanSquaredError(), REG_Y, REG_P, lambda y, p: np.mean((y - p) ** 2)),
    ("mae", losses.MeanAbsoluteError(), REG_Y, REG_P, lambda y, p: np.mean(np.abs(y - p))),
    ("huber", losses.Huber(), REG_Y, REG_P, np_huber),
    ("huber_delta", losses.Huber(delta=0.5), REG_Y, REG_P, lambda y, p: np_huber(y, p, 0.5)),
    ("bce", losses.BinaryCrossentropy(), BIN_Y, BIN_P, np_bce),
    ("bce_logits", losses.BinaryCrossentropy(from_logits=True), BIN_Y, LOGITS[:, :3],
     lambda y, p: np_bce(y, p, True)),
    ("bce_smooth", losses.BinaryCrossentropy(label_smoothing=0.2), BIN_Y, BIN_P,
     lambda y, p: np_bce(y, p, smoothing=0.2)),
    ("cce", losses.CategoricalCrossentropy(), ONE_HOT, PROBS, np_cce),
    ("cce_logits", losses.CategoricalCrossentropy(from_logits=True), ONE_HOT, LOGITS,
     lambda y, p: np_cce(y, p, True)),
    ("cce_smooth", losses.CategoricalCrossentropy(label_smoothing=0.1), ONE_HOT, PROBS,
     lambda y, p: np_cce(y, p, smoothing=0.1)),
    ("scce", losses.SparseCategoricalCrossentropy(), CLASSES, PROBS, np_scce),
    ("scce_logits", losses.SparseCategoricalCrossentropy(from_logits=True), CLASSES, LOGITS,
     lambda y, p: np_scce(y, p, True)),
]


@pytest.mark.parametrize("name, loss, y, p, ref", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_matches_numpy_formula(name, loss, y, p, ref):
    got = loss(y, p)
    assert got.shape == () and got.dtype == np.float32
    np.testing.assert_allclose(got, ref(y.astype(np.float64) if y.dtype.kind == "f" else y,
                                        p.astype(np.float64)), rtol=2e-5, atol=1e-6)


def test_probabilities_are_clipped_like_keras():
    """p = 0 or 1 against the wrong label: Keras' epsilon keeps the loss finite, clipping to
    [1e-7, 1 - 1e-7] in float32."""
    got = losses.BinaryCrossentropy()(np.array([[1.0], [0.0]]), np.array([[0.0], [1.0]]))
    lo, hi = np.float32(EPS), np.float32(1) - np.float32(EPS)
    np.testing.assert_allclose(got, -(np.log(lo) + np.log(np.float32(1) - hi)) / 2, rtol=1e-6)
    big = losses.BinaryCrossentropy(from_logits=True)(np.array([[0.0]]), np.array([[200.0]]))
    np.testing.assert_allclose(big, 200.0, rtol=1e-6)  # stable for large logits


@pytest.mark.parametrize("name, loss, y, p, ref", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_gradient_matches_finite_differences(name, loss, y, p, ref):
    """d loss / d predictions from the ops' VJPs (autodiff), against central differences
    of the interpreted loss, in float64."""
    p64 = p.astype(np.float64)
    if name.startswith("huber") or name == "mae":  # keep clear of the kinks
        p64 = np.where(np.abs(p64 - REG_Y) < 0.1, p64 + 0.3, p64)
    b = GraphBuilder("loss")
    pred = b.param("pred", p64)
    label = b.input("label", TensorType(y.shape, "int32" if y.dtype.kind == "i" else "float64"))
    value = losses.emit_loss(b, loss, pred, label)
    (grad,) = build_gradients(b, list(b.nodes), value, [pred])
    graph = b.build([value, grad])
    feed_y = y if y.dtype.kind == "i" else y.astype(np.float64)
    _, g = interpret(graph, {"label": feed_y})

    def f(q):
        b2 = GraphBuilder("fd")
        v = losses.emit_loss(b2, loss, b2.const(q), b2.input("label", label.type))
        return float(interpret(b2.build([v]), {"label": feed_y})[0])

    direction = RNG.standard_normal(p64.shape)
    h = 1e-6
    fd = (f(p64 + h * direction) - f(p64 - h * direction)) / (2 * h)
    np.testing.assert_allclose(np.sum(g * direction), fd, rtol=1e-5, atol=1e-8)


def test_labels_are_matched_to_the_predictions_rank():
    """Keras' squeeze_or_expand_to_same_rank: (N,) labels against (N, 1) predictions."""
    y, p = REG_Y[:, 0], REG_P[:, :1]
    np.testing.assert_allclose(losses.MeanSquaredError()(y, p), losses.MeanSquaredError()(y[:, None], p))
    sparse = losses.SparseCategoricalCrossentropy()
    np.testing.assert_allclose(sparse(CLASSES[:, None], PROBS), sparse(CLASSES, PROBS))


def test_reductions_and_custom_losses():
    per_sample = losses.MeanSquaredError(reduction="none")(REG_Y, REG_P)
    np.testing.assert_allclose(per_sample, np.mean((REG_Y - REG_P) ** 2, -1), rtol=1e-6)
    total = losses.MeanSquaredError(reduction="sum")(REG_Y, REG_P)
    np.testing.assert_allclose(total, np.sum(np.mean((REG_Y - REG_P) ** 2, -1)), rtol=1e-6)

    def cubic(y_true, y_pred):  # a user loss written with aot's ops
        return ops.mean(ops.abs(y_pred - y_true) ** 3.0, axis=-1)
    got = losses.get(cubic)(REG_Y, REG_P)
    np.testing.assert_allclose(got, np.mean(np.abs(REG_P - REG_Y) ** 3), rtol=1e-5)
    assert losses.get(cubic).name == "cubic"


def test_loss_lookup():
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get("binary_crossentropy"), losses.BinaryCrossentropy)
    assert isinstance(losses.get(losses.Huber), losses.Huber)
    assert isinstance(losses.get(losses.sparse_categorical_crossentropy), losses.SparseCategoricalCrossentropy)
    assert losses.get("sparse_categorical_crossentropy").label_kind == "sparse"
    assert aot.losses.BinaryCrossentropy(from_logits=True).get_config() == {
        "name": "binary_crossentropy", "reduction": "sum_over_batch_size", "from_logits": True,
        "label_smoothing": 0.0, "axis": -1}
    with pytest.raises(ValueError, match="Could not interpret loss identifier: 'nope'"):
        losses.get("nope")
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="avg")


# ---------------------------------------------------------------- metrics

def test_accuracies_match_numpy():
    y, p = BIN_Y[:, :1], BIN_P[:, :1]
    np.testing.assert_allclose(metrics.BinaryAccuracy()(y, p), np.mean((p > 0.5) == y))
    np.testing.assert_allclose(metrics.BinaryAccuracy(threshold=0.7)(y, p), np.mean((p > 0.7) == y))
    want = np.mean(ONE_HOT.argmax(-1) == PROBS.argmax(-1))
    np.testing.assert_allclose(metrics.CategoricalAccuracy()(ONE_HOT, PROBS), want)
    sparse = np.mean(CLASSES == PROBS.argmax(-1))
    np.testing.assert_allclose(metrics.SparseCategoricalAccuracy()(CLASSES, PROBS), sparse)
    np.testing.assert_allclose(metrics.SparseCategoricalAccuracy()(CLASSES[:, None], PROBS), sparse)
    np.testing.assert_allclose(metrics.MeanAbsoluteError()(REG_Y, REG_P),
                               np.mean(np.abs(REG_Y - REG_P)), rtol=1e-6)
    np.testing.assert_allclose(metrics.MeanSquaredError()(REG_Y, REG_P), np.mean((REG_Y - REG_P) ** 2),
                               rtol=1e-6)


def test_metric_state_accumulates_over_batches_and_resets():
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(CLASSES[:2], PROBS[:2])
    m.update_state(CLASSES[2:], PROBS[2:])
    np.testing.assert_allclose(m.result(), np.mean(CLASSES == PROBS.argmax(-1)))
    m.reset_state()
    assert m.result() == 0.0
    m.update_state([1], [[0.1, 0.9, 0.0, 0.0]])  # Python lists, as Keras accepts
    assert m.result() == 1.0


def keras_auc(y, p, num_thresholds=200):
    """Keras' AUC (ROC, interpolation), as keras/src/metrics/metrics_utils.py computes it for
    evenly spaced thresholds: bucket = max(ceil(p * (T - 1)) - 1, 0), reverse cumulative
    sums, then the Riemann sum with the mean of neighbouring heights."""
    y, p = y.reshape(-1).astype(bool), p.reshape(-1).astype(np.float64)
    t = num_thresholds
    bucket = np.maximum(np.ceil(p * (t - 1)) - 1, 0).astype(int)
    pos = np.bincount(bucket[y], minlength=t)
    neg = np.bincount(bucket[~y], minlength=t)
    tp = np.cumsum(pos[::-1])[::-1]
    fp = np.cumsum(neg[::-1])[::-1]
    fn, tn = y.sum() - tp, (~y).sum() - fp
    recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0)
    fpr = np.where(fp + tn > 0, fp / np.maximum(fp + tn, 1), 0)
    return np.sum((fpr[:-1] - fpr[1:]) * (recall[:-1] + recall[1:]) / 2)


@pytest.mark.parametrize("num_thresholds", [200, 7])
def test_auc_matches_keras_algorithm(num_thresholds):
    y = RNG.integers(0, 2, (40, 1)).astype(np.float32)
    p = np.clip(y * 0.3 + RNG.uniform(0, 0.7, (40, 1)), 0, 1).astype(np.float32)
    m = metrics.AUC(num_thresholds=num_thresholds)
    m.update_state(y[:25], p[:25])
    m.update_state(y[25:], p[25:])
    np.testing.assert_allclose(m.result(), keras_auc(y, p, num_thresholds), rtol=1e-6)
    assert 0.5 < m.result() <= 1.0


def test_precision_and_recall():
    y, p = BIN_Y, BIN_P
    tp, fp, fn = np.sum((p > 0.5) & (y == 1)), np.sum((p > 0.5) & (y == 0)), np.sum((p <= 0.5) & (y == 1))
    np.testing.assert_allclose(metrics.Precision()(y, p), tp / (tp + fp), rtol=1e-6)
    np.testing.assert_allclose(metrics.Recall()(y, p), tp / (tp + fn), rtol=1e-6)
    assert metrics.Precision()(np.zeros((3, 1)), np.zeros((3, 1))) == 0.0  # no positives: 0, as Keras
    np.testing.assert_allclose(metrics.Precision(thresholds=0.8)(y, p),
                               np.sum((p > 0.8) & (y == 1)) / np.sum(p > 0.8), rtol=1e-6)


def test_accuracy_is_resolved_as_keras_does():
    assert isinstance(metrics.resolve("accuracy", (8, 1), (8, 1)), metrics.BinaryAccuracy)
    assert isinstance(metrics.resolve("accuracy", (8,), (8, 1)), metrics.BinaryAccuracy)
    assert isinstance(metrics.resolve("acc", (8,), (8, 3)), metrics.SparseCategoricalAccuracy)
    assert isinstance(metrics.resolve("accuracy", (8, 1), (8, 3)), metrics.SparseCategoricalAccuracy)
    assert isinstance(metrics.resolve("accuracy", (8, 3), (8, 3)), metrics.CategoricalAccuracy)
    assert metrics.resolve("acc", (8,), (8, 3)).name == "acc"
    mae = metrics.resolve("mae", (8, 1), (8, 1))
    assert isinstance(mae, metrics.MeanAbsoluteError) and mae.name == "mae"
    assert metrics.resolve("auc", (8, 1), (8, 1)).finalize == "auc"
    with pytest.raises(ValueError, match="Could not interpret metric identifier"):
        metrics.get("nope")


# ---------------------------------------------------------------- optimizers

def test_optimizer_configs_and_defaults():
    assert aot.optimizers.Adam().get_config() == {
        "name": "adam", "learning_rate": 0.001, "weight_decay": None, "clipnorm": None,
        "global_clipnorm": None, "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
        "ema_overwrite_frequency": None, "loss_scale_factor": None,
        "gradient_accumulation_steps": None, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
        "amsgrad": False}
    sgd = optimizers.get("sgd").get_config()
    assert (sgd["name"], sgd["learning_rate"], sgd["momentum"], sgd["nesterov"]) == ("SGD", 0.01, 0.0, False)
    assert optimizers.get("sgd").training_config()["name"] == "sgd"
    assert optimizers.get("adamw").get_config()["weight_decay"] == 0.004
    rms = optimizers.get("rmsprop").get_config()
    assert (rms["rho"], rms["momentum"], rms["epsilon"], rms["centered"]) == (0.9, 0.0, 1e-7, False)
    ada = optimizers.get("adagrad").get_config()
    assert (ada["learning_rate"], ada["initial_accumulator_value"]) == (0.001, 0.1)
    assert optimizers.SGD(clipnorm=1.0).get_config()["clipnorm"] == 1.0
    assert isinstance(optimizers.get({"class_name": "RMSprop", "config": {"rho": 0.8}}), optimizers.RMSprop)
    with pytest.raises(ValueError, match="Only one of"):
        optimizers.Adam(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(ValueError, match="Could not interpret optimizer"):
        optimizers.get("lbfgs")


def test_learning_rate_schedules():
    s = aot.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert optimizers.Adam(learning_rate=s).get_config()["learning_rate"] == {
        "class_name": "ExponentialDecay",
        "config": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5,
                   "staircase": False, "name": "ExponentialDecay"}}
    np.testing.assert_allclose(s(5), 0.1 * 0.5 ** 0.5, rtol=1e-6)
    stair = optimizers.schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)
    np.testing.assert_allclose(stair(15), 0.05, rtol=1e-6)
    cos = optimizers.schedules.CosineDecay(0.2, decay_steps=100, alpha=0.1)
    np.testing.assert_allclose(cos(50), 0.2 * (0.9 * 0.5 + 0.1), rtol=1e-6)
    np.testing.assert_allclose(cos(500), 0.02, rtol=1e-6)
    opt = optimizers.SGD(learning_rate=cos)
    assert opt.get_config()["learning_rate"]["class_name"] == "CosineDecay"
    np.testing.assert_allclose(opt.learning_rate, 0.2, rtol=1e-6)  # at iterations = 0
