"""Training-phase tracing: `model.to_graph(training=True)` with Dropout active (masks from the
counter-based `random_uniform` op) and BatchNormalization on batch statistics, the state each
step changes in the graph's `updates`. Checked against numpy through the interpreter, against
finite differences through autodiff, compiled against the interpreter, and end to end through
a compiled train_step."""
import numpy as np
import pytest

import aot
from aot import layers
from aot.codegen.build import build
from aot.codegen.lower import Entry
from aot.codegen.tvm import tvm
from aot.ir import GraphBuilder, get_op, interpret, interpret_step, verify
from aot.passes.autodiff import build_gradients
from aot.passes.train_step import TrainingSpec

from .helpers import assert_close, check_graph, randn, randomize

COUNTER = "dropout/seed_counter"


def uniform(seed, counter, like, dtype="float32"):
    """The numbers the random_uniform op draws (its numpy reference)."""
    op = get_op("random_uniform")
    attrs = op.attrs(seed=seed, dtype=aot.ir.DType.of(dtype))
    return op.reference(attrs, np.array(counter, np.int64), like)


def dropout_numpy(x, rate, seed, counter):
    keep = uniform(seed, counter, x, x.dtype.name) >= rate
    return np.where(keep, x / np.float32(1 - rate), 0).astype(x.dtype)


def bn_numpy(x, gamma, beta, mm, mv, axis, momentum, eps):
    """Keras 3 training: batch mean, biased batch variance, moving averages."""
    reduce = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    shape = [1] * x.ndim
    shape[axis] = -1
    mean, var = x.mean(reduce), x.var(reduce)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) \
        + beta.reshape(shape)
    return y, mm * momentum + mean * (1 - momentum), mv * momentum + var * (1 - momentum)


def ops_of(graph) -> set:
    return {n.op.name for n in graph.nodes}


def updates_by_name(graph) -> dict:
    return {p.name: v for p, v in graph.updates.items()}


# ------------------------------------------------------------ (a) against numpy


@pytest.mark.parametrize("shape, axis", [((6, 5), -1), ((4, 3, 2, 5), -1), ((4, 3, 2, 2), 1)])
def test_batch_norm_training_uses_batch_statistics_and_updates_moving_ones(rng, shape, axis):
    layer = layers.BatchNormalization(axis=axis, momentum=0.9, epsilon=1e-2)
    model = aot.Sequential([aot.Input(shape[1:]), layer])
    gamma, beta, mm, mv = randomize(model, rng)
    graph = model.to_graph(training=True)
    check_graph(graph)
    x = randn(rng, *shape, scale=2.0) + 1.0
    (y,), new = interpret_step(graph, {graph.input_names[0]: x})
    want_y, want_mm, want_mv = bn_numpy(x.astype(np.float64), gamma, beta, mm, mv, axis, 0.9, 1e-2)
    assert_close(y, want_y, rtol=1e-4, atol=1e-4)
    assert sorted(new) == ["batch_normalization/moving_mean", "batch_normalization/moving_variance"]
    assert_close(new["batch_normalization/moving_mean"], want_mm)
    assert_close(new["batch_normalization/moving_variance"], want_mv)
    assert all(p.state and not p.trainable for p in graph.updates)
    assert {p.name for p in graph.params if p.trainable} == {"batch_normalization/gamma",
                                                            "batch_normalization/beta"}


def test_frozen_batch_norm_stays_on_moving_statistics(rng):
    """Keras 3: a BatchNormalization with trainable=False runs in inference mode."""
    layer = layers.BatchNormalization()
    model = aot.Sequential([aot.Input((3,)), layer])
    randomize(model, rng)
    layer.trainable = False
    x = randn(rng, 5, 3)
    graph = model.to_graph(training=True)
    assert graph.updates == {} and "mean" not in ops_of(graph)
    assert_close(interpret(graph, {"input_layer": x})[0], model.predict_reference(x))


def test_dropout_training_graph_matches_numpy(rng):
    model = aot.Sequential([aot.Input((7,)), layers.Dropout(0.4, seed=123)])
    graph = model.to_graph(training=True)
    check_graph(graph)
    x = randn(rng, 5, 7)
    for counter in (0, 1, 41):
        state = {COUNTER: np.array(counter, np.int64)}
        (y,), new = interpret_step(graph, {"input_layer": x}, state)
        np.testing.assert_array_equal(y, dropout_numpy(x, 0.4, 123, counter))
        assert list(new) == [COUNTER] and int(new[COUNTER]) == counter + 1
    counter = graph.param(COUNTER)
    assert counter.type.dtype.value == "int64" and counter.type.rank == 0
    assert counter.state and not counter.trainable


def test_dropout_noise_shape_shares_the_mask(rng):
    drop = layers.Dropout(0.5, noise_shape=(None, 1, 4), seed=3)
    model = aot.Sequential([aot.Input((6, 4)), drop])
    graph = model.to_graph(training=True)
    x = randn(rng, 3, 6, 4) + 5.0  # nonzero, so a zero is a dropped element
    y = interpret(graph, {"input_layer": x})[0]
    keep = uniform(3, 0, np.zeros((3, 1, 4), np.float32)) >= 0.5
    np.testing.assert_array_equal(y != 0, np.broadcast_to(keep, x.shape))
    assert_close(y, np.where(keep, x / 0.5, 0))
    shared = aot.Sequential([aot.Input((5,)), layers.Dropout(0.5, noise_shape=(1, None), seed=4)])
    graph = shared.to_graph(training=True)  # one mask for the whole (symbolic) batch
    y = interpret(graph, {graph.input_names[0]: np.ones((6, 5), np.float32)})[0]
    keep = uniform(4, 0, np.zeros((1, 5), np.float32)) >= 0.5
    np.testing.assert_array_equal(y, np.broadcast_to(np.where(keep, 2.0, 0.0), (6, 5)))
    with pytest.raises(ValueError, match="does not broadcast"):
        aot.Sequential([aot.Input((6, 4)), layers.Dropout(0.5, noise_shape=(None, 3, 4))]) \
            .to_graph(training=True)


def test_dropout_rate_edges(rng):
    x = randn(rng, 2, 3)
    zero = aot.Sequential([aot.Input((3,)), layers.Dropout(0.0)]).to_graph(training=True)
    assert zero.nodes == [] and zero.updates == {}
    one = aot.Sequential([aot.Input((3,)), layers.Dropout(1.0)]).to_graph(training=True)
    np.testing.assert_array_equal(interpret(one, {one.input_names[0]: x})[0], np.zeros_like(x))


def test_a_layer_called_twice_draws_twice_and_chains_its_updates(rng):
    """A shared Dropout advances its counter once per call; a shared BatchNormalization's
    second moving-average update starts from the first one's result (as Keras, eagerly)."""
    drop, bn = layers.Dropout(0.5, seed=9), layers.BatchNormalization(momentum=0.5)
    a, b = aot.Input((4,)), aot.Input((4,))
    model = aot.Model([a, b], [drop(bn(a)), drop(bn(b))])
    graph = model.to_graph(training=True)
    xa, xb = randn(rng, 8, 4) + 3.0, randn(rng, 8, 4) - 3.0
    (ya, yb), new = interpret_step(graph, {"input_layer": xa, "input_layer_1": xb})
    assert new[COUNTER] == 2
    assert not np.array_equal(ya != 0, yb != 0)
    mm = (0.0 * 0.5 + xa.mean(0) * 0.5) * 0.5 + xb.mean(0) * 0.5
    assert_close(new["batch_normalization/moving_mean"], mm)


# ------------------------------------------------------------ (b) gradients


def test_gradients_through_batch_norm_and_dropout_match_finite_differences(rng):
    """float64, loss = sum(model(x) * c): d loss / d (weights, x) along a random direction."""
    f64 = "float64"
    model = aot.Sequential([aot.Input((3,), dtype=f64), layers.Dense(4, dtype=f64),
                            layers.BatchNormalization(dtype=f64),
                            layers.Dropout(0.3, seed=1, dtype=f64), layers.Dense(2, dtype=f64)])
    randomize(model, rng)
    graph = model.to_graph(training=True)
    assert {"mean", "random_uniform"} <= ops_of(graph)
    b = GraphBuilder.extending(graph)
    cot = b.const(rng.standard_normal((5, 2)), name="cot")
    loss = b.emit("sum", b.emit("multiply", graph.outputs[0], cot))
    wrt = [graph.inputs[0]] + [p for p in graph.params if p.trainable]
    grads = build_gradients(b, list(b.nodes), loss, wrt)
    assert all(g is not None for g in grads)
    g = verify(b.build([loss] + grads))
    x = rng.standard_normal((5, 3))
    values = {"input_layer": x, **{p.name: p.data for p in wrt[1:]}}
    dirs = {n: rng.standard_normal(np.shape(v)) for n, v in values.items()}

    def loss_at(sign, eps=1e-6):
        shifted = {n: v + sign * eps * dirs[n] for n, v in values.items()}
        return interpret(g, {"input_layer": shifted.pop("input_layer")}, shifted)[0]
    outs = interpret(g, {"input_layer": x})
    analytic = sum(float(np.sum(gr * dirs[v.name])) for v, gr in zip(wrt, outs[1:]))
    numeric = (loss_at(+1) - loss_at(-1)) / 2e-6
    assert np.isclose(analytic, numeric, rtol=1e-6, atol=1e-8), (analytic, numeric)
    # gradient flows through the batch mean: a bias before batch norm cancels out exactly
    grads_by_name = {v.name: gr for v, gr in zip(wrt, outs[1:])}
    np.testing.assert_allclose(grads_by_name["dense/bias"], 0.0, atol=1e-12)
    assert np.abs(grads_by_name["dense/kernel"]).max() > 1e-3


# ------------------------------------------------------------ (c) compiled


def run_compiled(graph, feeds, executable):
    """Outputs then the updates' new values, from the compiled function."""
    dev = tvm.cpu()
    vm = tvm.relax.VirtualMachine(executable, dev)
    args = [tvm.runtime.tensor(np.asarray(feeds[v.name], order="C"), dev) for v in graph.inputs]
    args += [tvm.runtime.tensor(np.asarray(p.data, order="C"), dev) for p in graph.params]
    out = vm["main"](*args)
    return [out[i].numpy() for i in range(len(graph.outputs) + len(graph.updates))]


def test_compiled_training_graph_matches_the_interpreter(rng):
    model = aot.Sequential([aot.Input((4, 4, 2)), layers.Conv2D(3, 3, padding="same"),
                            layers.BatchNormalization(),
                            layers.Dropout(0.5, noise_shape=(None, 1, 1, 3), seed=77),
                            layers.Flatten(), layers.Dropout(0.25)])
    randomize(model, rng)
    graph = model.to_graph(training=True)
    assert len(graph.updates) == 4  # two moving statistics, two counters
    ex = build([Entry("main", graph)], "llvm")
    for n in (2, 5):  # one executable, two batch sizes: nothing baked in
        x = randn(rng, n, 4, 4, 2)
        outs, new = interpret_step(graph, {"input_layer": x})
        want = outs + list(new.values())  # in `updates` order, as the compiled function
        got = run_compiled(graph, {"input_layer": x}, ex)
        np.testing.assert_array_equal(got[0] == 0, want[0] == 0)  # the masks, bit for bit
        assert_close(got[0], want[0], rtol=1e-4, atol=1e-4)
        for g, w in zip(got[1:], want[1:]):
            assert g.dtype == w.dtype
            assert_close(g, w, rtol=1e-4, atol=1e-5)
    assert [p.name for p in graph.updates][2:] == ["dropout/seed_counter", "dropout_1/seed_counter"]


def test_compiled_train_step_advances_the_state(rng):
    """End to end: the runtime's train_step applies the counter and moving-average updates,
    and predict (sharing the state) then uses the new moving statistics."""
    model = aot.Sequential([aot.Input((3,)), layers.Dense(4),
                            layers.BatchNormalization(momentum=0.5),
                            layers.Dropout(0.5, seed=5), layers.Dense(1)])
    randomize(model, rng)
    inference, forward = model.to_graph(), model.to_graph(training=True)
    assert {p.name: p for p in inference.params}["batch_normalization/moving_mean"] is \
        forward.param("batch_normalization/moving_mean")  # one Param shared by both entries

    def mse(b, preds, labels):
        d = b.emit("subtract", preds[0], labels[0])
        return b.emit("mean", b.emit("multiply", d, d))
    spec = TrainingSpec(forward, mse, {"name": "sgd", "learning_rate": 0.0},
                        (aot.ir.TensorType(("N", 1), "float32"),), ("y",))
    m = aot.compile(inference, training=spec)
    x, y = randn(rng, 6, 3), randn(rng, 6, 1)
    losses = [m.train_step(x, y)["loss"] for _ in range(2)]
    state = m.state_dict()
    assert int(state[COUNTER]) == 2
    assert losses[0] != losses[1]  # lr 0: only a new dropout mask changes the loss
    (_, ), step1 = interpret_step(forward, {"input_layer": x})
    h = x @ model.layers[0].kernel.value + model.layers[0].bias.value
    mm = (model.layers[1].moving_mean.value * 0.5 + h.mean(0) * 0.5) * 0.5 + h.mean(0) * 0.5
    assert_close(state["batch_normalization/moving_mean"], mm, rtol=1e-4, atol=1e-5)
    assert_close(step1["batch_normalization/moving_mean"],
                 model.layers[1].moving_mean.value * 0.5 + h.mean(0) * 0.5, rtol=1e-5)
    ref = interpret(inference, {"input_layer": x}, {k: v for k, v in state.items()
                                                    if k in {p.name for p in inference.params}})
    assert_close(m.predict(x), ref[0], rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------ (d) statistics, reproducibility


def test_dropout_rate_statistics():
    model = aot.Sequential([aot.Input((1000,)), layers.Dropout(0.3, seed=0)])
    graph = model.to_graph(training=True)
    y = interpret(graph, {"input_layer": np.ones((20, 1000), np.float32)})[0]
    assert abs(float(np.mean(y == 0)) - 0.3) < 0.015  # 20000 draws: 4.6 standard errors
    np.testing.assert_array_equal(np.unique(y), np.float32([0, 1 / np.float32(0.7)]))


def test_same_seed_same_masks_and_advancing_counter_new_masks(rng):
    x = randn(rng, 4, 50) + 10.0

    def masks(layer, counters):
        graph = aot.Sequential([aot.Input((50,)), layer]).to_graph(training=True)
        feeds = {graph.input_names[0]: x}
        return [interpret(graph, feeds, {layer.seed_counter.path: np.array(c)})[0] != 0
                for c in counters]
    first = masks(layers.Dropout(0.5, seed=7), [0, 1])
    again = masks(layers.Dropout(0.5, seed=7), [0, 1])
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])
    other = masks(layers.Dropout(0.5, seed=8), [0])
    assert not np.array_equal(first[0], other[0])


def test_default_seed_is_reproducible_across_sessions_and_differs_between_layers(rng):
    x = randn(rng, 3, 40) + 10.0

    def masks():
        aot.frontends.keras.clear_session()
        model = aot.Sequential([aot.Input((40,)), layers.Dropout(0.5), layers.Dropout(0.5)])
        graph = model.to_graph(training=True)
        outs = interpret(graph, {"input_layer": x}, return_env=True)[1]
        drops = [n.outputs[0] for n in graph.nodes if n.op.name == "where"]
        return [outs[v] != 0 for v in drops]
    a, b = masks(), masks()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])  # "dropout" and "dropout_1" have their own seeds


def test_eager_training_call_advances_the_counter(rng):
    layer = layers.Dropout(0.5, seed=2)
    x = randn(rng, 3, 30) + 10.0
    first, second = layer(x, training=True), layer(x, training=True)
    assert int(layer.seed_counter.value) == 2
    assert not np.array_equal(first != 0, second != 0)
    np.testing.assert_array_equal(first, dropout_numpy(x, 0.5, 2, 0))
    np.testing.assert_array_equal(layer(x), x)  # inference: unchanged, counter kept
    assert int(layer.seed_counter.value) == 2


# ------------------------------------------------------------ (e) inference unchanged


def test_inference_graph_has_no_randomness_and_no_updates(rng):
    model = aot.Sequential([aot.Input((4,)), layers.Dense(3), layers.BatchNormalization(),
                            layers.Dropout(0.5)])
    randomize(model, rng)
    graph = model.to_graph()
    check_graph(graph)
    assert graph.updates == {}
    assert "random_uniform" not in ops_of(graph) and "mean" not in ops_of(graph)
    assert COUNTER not in {p.name for p in graph.params}
    x = randn(rng, 5, 4)
    dense, bn = model.layers[0], model.layers[1]
    h = x @ dense.kernel.value + dense.bias.value
    want = (h - bn.moving_mean.value) / np.sqrt(bn.moving_variance.value + 1e-3) \
        * bn.gamma.value + bn.beta.value
    assert_close(interpret(graph, {"input_layer": x})[0], want)


def test_seed_counter_is_state_not_a_weight():
    """As Keras's seed generator: in `variables`, not in `weights` (nor counted)."""
    model = aot.Sequential([aot.Input((4,)), layers.Dense(2), layers.Dropout(0.5)])
    assert [w.path for w in model.weights] == ["dense/kernel", "dense/bias"]
    assert [v.path for v in model.variables] == ["dense/kernel", "dense/bias", COUNTER]
    assert model.count_params() == 10 and len(model.get_weights()) == 2
    assert model.layers[1].get_weights() == []
