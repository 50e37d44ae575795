"""The train_step pass: optimizer updates against numpy transcriptions of Keras 3's update
formulas over several steps (interpreter and compiled), clipping, schedules, eval_step,
and the runtime's in-place updates, NaN guard and resume."""
import math

import numpy as np
import pytest

import aot
from aot.ir import GraphBuilder, TensorType, interpret_step, verify
from aot.passes.train_step import ITERATIONS, MetricSpec, TrainingSpec, eval_step, train_step
from aot.runtime import NonFiniteLossError

RNG = np.random.default_rng(0)
X = RNG.standard_normal((8, 3)).astype(np.float32)
Y = (X @ np.array([[1.0], [2.0], [-1.0]], np.float32) + 0.5).astype(np.float32)
W0 = RNG.standard_normal((3, 1)).astype(np.float32)


def linear_model():
    b = GraphBuilder("lin")
    x = b.input("x", TensorType(("N", 3), "float32"))
    w = b.param("w", W0.copy())
    bias = b.param("b", np.zeros((1,), np.float32))
    return b.build([b.emit("add", b.emit("matmul", x, w), bias)])


def mse(b, preds, labels):
    d = b.emit("subtract", preds[0], labels[0])
    return b.emit("mean", b.emit("multiply", d, d))


def mae_metric(b, preds, labels):
    d = b.emit("abs", b.emit("subtract", preds[0], labels[0]))
    return {"mae/total": b.emit("sum", d),
            "mae/count": b.emit("sum", b.emit("broadcast_like", b.const(1.0), d))}


def spec_for(optimizer):
    return TrainingSpec(linear_model(), mse, optimizer, (TensorType(("N", 1), "float32"),), ("y",),
                        (MetricSpec("mae", mae_metric, "ratio"),))


def grads_numpy(w, b):
    pred = X @ w + b
    d = 2 * (pred - Y) / pred.size
    return X.T @ d, d.sum(axis=0)


def lr_at(config, it):
    lr = config.get("learning_rate", 0.001)
    if isinstance(lr, dict):
        c = lr["config"]
        if lr["class_name"] == "ExponentialDecay":
            p = it / c["decay_steps"]
            p = math.floor(p) if c.get("staircase") else p
            return c["initial_learning_rate"] * c["decay_rate"] ** p
        frac = min(it / c["decay_steps"], 1.0)
        cos = 0.5 * (1 + math.cos(math.pi * frac))
        return c["initial_learning_rate"] * ((1 - c.get("alpha", 0.0)) * cos + c.get("alpha", 0.0))
    return lr


def clip(gs, c):
    if c.get("clipvalue") is not None:
        gs = [np.clip(g, -c["clipvalue"], c["clipvalue"]) for g in gs]
    if c.get("clipnorm") is not None:
        gs = [g * c["clipnorm"] / max(np.linalg.norm(g), c["clipnorm"]) for g in gs]
    if c.get("global_clipnorm") is not None:
        n = math.sqrt(sum(float(np.sum(g * g)) for g in gs))
        gs = [g * c["global_clipnorm"] / max(n, c["global_clipnorm"]) for g in gs]
    return gs


def keras_step(c, ws, gs, slots, it):
    """Keras 3's update formulas (keras/src/optimizers/*.py), transcribed in numpy."""
    name, lr, t = c["name"], lr_at(c, it), it + 1
    out_w, out_s = [], []
    for w, g, s in zip(ws, gs, slots):
        wd = c.get("weight_decay", 0.004 if name == "adamw" else None)
        if wd:
            w = w - w * wd * lr
        if name == "sgd":
            if c.get("momentum"):
                v = c["momentum"] * s[0] - lr * g
                w = w + (c["momentum"] * v - lr * g if c.get("nesterov") else v)
                s = [v]
            else:
                w = w - lr * g
        elif name in ("adam", "adamw"):
            b1, b2, eps = c.get("beta_1", 0.9), c.get("beta_2", 0.999), c.get("epsilon", 1e-7)
            m = s[0] + (g - s[0]) * (1 - b1)
            v = s[1] + (g * g - s[1]) * (1 - b2)
            alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            if c.get("amsgrad"):
                vhat = np.maximum(s[2], v)
                s = [m, v, vhat]
                w = w - m * alpha / (np.sqrt(vhat) + eps)
            else:
                s = [m, v]
                w = w - m * alpha / (np.sqrt(v) + eps)
        elif name == "rmsprop":
            rho, eps = c.get("rho", 0.9), c.get("epsilon", 1e-7)
            vel = rho * s[0] + (1 - rho) * g * g
            ns, denom, i = [vel], vel, 1
            if c.get("centered"):
                avg = rho * s[1] + (1 - rho) * g
                ns.append(avg)
                denom = vel - avg * avg
                i = 2
            inc = lr * g / np.sqrt(denom + eps)
            if c.get("momentum"):
                mom = c["momentum"] * s[i] + inc
                ns.append(mom)
                w = w - mom
            else:
                w = w - inc
            s = ns
        elif name == "adagrad":
            acc = s[0] + g * g
            w = w - lr * g / np.sqrt(acc + c.get("epsilon", 1e-7))
            s = [acc]
        out_w.append(w)
        out_s.append(s)
    return out_w, out_s


def n_slots(c):
    return {"sgd": 1 if c.get("momentum") else 0, "adam": 3 if c.get("amsgrad") else 2,
            "adamw": 2, "adagrad": 1,
            "rmsprop": 1 + bool(c.get("centered")) + bool(c.get("momentum"))}[c["name"]]


SCHEDULE_EXP = {"class_name": "ExponentialDecay",
                "config": {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5}}
SCHEDULE_COS = {"class_name": "CosineDecay",
                "config": {"initial_learning_rate": 0.1, "decay_steps": 3, "alpha": 0.1}}
CONFIGS = [
    {"name": "sgd", "learning_rate": 0.05},
    {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9},
    {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": True},
    {"name": "adam", "learning_rate": 0.05},
    {"name": "adam", "learning_rate": 0.05, "amsgrad": True},
    {"name": "adamw", "learning_rate": 0.05, "weight_decay": 0.1},
    {"name": "rmsprop", "learning_rate": 0.01},
    {"name": "rmsprop", "learning_rate": 0.01, "centered": True, "momentum": 0.5},
    {"name": "adagrad", "learning_rate": 0.1, "initial_accumulator_value": 0.1},
    {"name": "sgd", "learning_rate": 0.05, "clipnorm": 0.5},
    {"name": "rmsprop", "learning_rate": 0.01, "weight_decay": 0.05},
    {"name": "adamw", "learning_rate": 0.05},
    {"name": "sgd", "learning_rate": 0.05, "clipvalue": 0.1},
    {"name": "adam", "learning_rate": 0.05, "global_clipnorm": 0.3},
    {"name": "sgd", "learning_rate": SCHEDULE_EXP},
    {"name": "sgd", "learning_rate": SCHEDULE_EXP | {"config": SCHEDULE_EXP["config"] | {"staircase": True}}},
    {"name": "adam", "learning_rate": SCHEDULE_COS},
]


def expected_weights(config, steps):
    ws, init = [W0.astype(np.float64), np.zeros(1)], config.get("initial_accumulator_value", 0.0)
    slots = [[np.full_like(w, init if config["name"] == "adagrad" else 0.0)
              for _ in range(n_slots(config))] for w in ws]
    losses = []
    for it in range(steps):
        losses.append(float(np.mean((X @ ws[0] + ws[1] - Y) ** 2)))
        gs = clip(list(grads_numpy(*ws)), config)
        ws, slots = keras_step(config, ws, gs, slots, it)
    return ws, losses


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(
    f"{k}" for k, v in c.items() if k != "learning_rate" and v not in (None, False)) or c["name"])
def test_updates_match_keras_formulas(config):
    step = verify(train_step(spec_for(config)))
    params, losses = {}, []
    for _ in range(4):
        (loss, *_), new = interpret_step(step, {"x": X, "y": Y}, params)
        losses.append(float(loss))
        params.update(new)
    want_w, want_losses = expected_weights(config, 4)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    np.testing.assert_allclose(params["w"], want_w[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(params["b"], want_w[1], rtol=1e-5, atol=1e-6)
    assert int(params[ITERATIONS]) == 4


def test_compiled_training_matches_the_interpreter_and_resumes(tmp_path):
    config = {"name": "adam", "learning_rate": 0.05}
    spec = spec_for(config)
    m = aot.compile(spec.forward, training=spec)
    assert m.entries == ("predict", "train_step", "evaluate")
    results = [m.train_step(X, Y) for _ in range(3)]
    want_w, want_losses = expected_weights(config, 3)
    np.testing.assert_allclose([r["loss"] for r in results], want_losses, rtol=1e-5)
    np.testing.assert_allclose(m.state_dict()["w"], want_w[0], rtol=1e-5, atol=1e-6)
    mae = float(np.mean(np.abs(m.predict(X) - Y)))
    assert m.evaluate(X, Y, batch_size=3)["mae"] == pytest.approx(mae, rel=1e-5)

    m.save(tmp_path / "lin.aot")  # resume: the reloaded module continues exactly
    reloaded = aot.runtime.load(tmp_path / "lin.aot")
    assert int(reloaded.state_dict()[ITERATIONS]) == 3
    a, b = m.train_step(X, Y), reloaded.train_step(X, Y)
    assert a == b


def test_non_finite_loss_changes_nothing():
    spec = spec_for({"name": "sgd", "learning_rate": 0.1})
    m = aot.compile(spec.forward, training=spec)
    m.train_step(X, Y)
    before = m.state_dict()
    with pytest.raises(NonFiniteLossError, match="loss is nan"):
        m.train_step(X, np.full_like(Y, np.nan))
    after = m.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_eval_step_has_no_updates_and_same_loss():
    spec = spec_for({"name": "sgd"})
    ev = verify(eval_step(spec, spec.forward))
    assert ev.updates == {} and ev.output_names == ["loss", "mae/total", "mae/count"]
    (loss, total, count), _ = interpret_step(ev, {"x": X, "y": Y})
    assert float(loss) == pytest.approx(float(np.mean((X @ W0 - Y) ** 2)), rel=1e-5)
    assert float(count) == Y.size
