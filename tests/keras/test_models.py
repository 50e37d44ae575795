"""Sequential, functional and subclassed models: the to_graph contract, weights, summary,
errors, and eager calls."""
import numpy as np
import pytest

import aot
from aot import layers
from aot.frontends.keras import ops
from aot.frontends.keras.layers import UnknownArgumentError

from .helpers import assert_close, check_graph, randn, run


def mlp():
    return aot.Sequential([layers.Dense(4, activation="relu", input_shape=(3,)), layers.Dense(2)])


def mlp_ref(model, x):
    k0, b0, k1, b1 = model.get_weights()
    return np.maximum(x @ k0 + b0, 0) @ k1 + b1


# ------------------------------------------------------------------ Sequential

def test_sequential_graph_contract(rng):
    model = mlp()
    g = model.to_graph()
    check_graph(g)
    assert g.name == "sequential"
    assert g.input_names == ["input_layer"] and g.inputs[0].type.shape == ("N", 3)
    assert g.output_names == ["dense_1"] and g.outputs[0].type.shape == ("N", 2)
    assert [p.name for p in g.params] == ["dense/kernel", "dense/bias", "dense_1/kernel",
                                          "dense_1/bias"]
    assert all(p.trainable for p in g.params)
    x = randn(rng, 5, 3)
    assert_close(run(model, x), mlp_ref(model, x))


@pytest.mark.parametrize("make", [
    lambda: aot.Sequential([aot.Input((3,)), layers.Dense(2)]),
    lambda: aot.Sequential([layers.Dense(2, input_dim=3)]),
    lambda: aot.Sequential([layers.InputLayer(shape=(3,)), layers.Dense(2)]),
], ids=["Input", "input_dim", "InputLayer"])
def test_sequential_input_forms(make, rng):
    model = make()
    assert model.built and len(model.layers) == 1 and model.count_params() == 8
    x = randn(rng, 4, 3)
    kernel, bias = model.get_weights()
    assert_close(run(model, x), x @ kernel + bias)


def test_sequential_add_pop_and_late_build(rng):
    model = aot.Sequential(name="stack")
    model.add(layers.Dense(3))
    model.add(layers.Dense(2))
    assert not model.built
    with pytest.raises(ValueError, match="not been built"):
        model.to_graph()
    model.build((None, 5))
    assert model.to_graph().inputs[0].type.shape == ("N", 5)
    model.add(layers.Dense(1))
    assert model.layers[-1].name == "dense_2" and model.count_params() == 18 + 8 + 3
    assert model.pop().name == "dense_2"
    x = randn(rng, 2, 5)
    k0, b0, k1, b1 = model.get_weights()
    assert_close(run(model, x), (x @ k0 + b0) @ k1 + b1)
    with pytest.raises(ValueError, match="Only instances"):
        model.add("dense")


def test_sequential_builds_from_data(rng):
    model = aot.Sequential([layers.Dense(2)])
    x = randn(rng, 3, 4)
    got = model.predict_reference(x)
    kernel, bias = model.get_weights()
    assert kernel.shape == (4, 2)
    assert_close(got, x @ kernel + bias)


def test_static_batch_size():
    model = aot.Sequential([aot.Input((3,), batch_size=4), layers.Dense(2)])
    assert model.to_graph().outputs[0].type.shape == (4, 2)


# ------------------------------------------------------------------ functional

def test_functional_multi_input_multi_output(rng):
    a, b = aot.Input((4,), name="a"), aot.Input((3,), name="b")
    shared = layers.Dense(5, name="shared")
    x = layers.Concatenate()([shared(a), layers.Dense(5)(b)])
    out1 = layers.Dense(2, activation="softmax", name="probs")(x)
    out2 = layers.Add(name="sum")([shared(a), shared(a)])
    model = aot.Model(inputs=[a, b], outputs=[out1, out2], name="two_heads")
    g = model.to_graph()
    check_graph(g)
    assert g.name == "two_heads" and g.input_names == ["a", "b"]
    assert g.output_names == ["probs", "sum"]
    assert [layer.name for layer in model.layers] == ["a", "b", "shared", "dense", "concatenate",
                                                      "probs", "sum"]
    xa, xb = randn(rng, 3, 4), randn(rng, 3, 3)
    ks, bs, kd, bd, kp, bp = model.get_weights()
    h = np.concatenate([xa @ ks + bs, xb @ kd + bd], 1) @ kp + bp
    e = np.exp(h - h.max(-1, keepdims=True))
    probs, total = run(model, xa, xb)
    assert_close(probs, e / e.sum(-1, keepdims=True))
    assert_close(total, 2 * (xa @ ks + bs))
    assert_close(model.predict_reference({"a": xa, "b": xb})[1], total)


def test_functional_dict_outputs_and_symbolic_ops(rng):
    x = aot.Input((3,), name="x")
    y = layers.Dense(3)(x) * 2.0 + 1.0
    model = aot.Model(x, {"double": y, "neg": -x})
    g = model.to_graph()
    assert g.output_names == ["double", "neg"]
    data = randn(rng, 2, 3)
    got = model.predict_reference(data)
    kernel, bias = model.get_weights()
    assert_close(got["double"], (data @ kernel + bias) * 2 + 1)
    assert_close(got["neg"], -data)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Dense"]


def test_nested_models_and_shared_weights(rng):
    inner = mlp()
    x = aot.Input((3,), name="features")
    outer = aot.Model(x, layers.Dense(1, name="head")(inner(x)))
    g = outer.to_graph()
    check_graph(g)
    assert [p.name for p in g.params] == ["dense/kernel", "dense/bias", "dense_1/kernel",
                                          "dense_1/bias", "head/kernel", "head/bias"]
    assert len(outer.weights) == 6
    data = randn(rng, 2, 3)
    kh, bh = outer.get_layer("head").get_weights()
    assert_close(run(outer, data), mlp_ref(inner, data) @ kh + bh)


def test_graph_disconnected():
    a, b = aot.Input((2,)), aot.Input((2,))
    out = layers.Add()([a, b])
    with pytest.raises(ValueError, match="Graph disconnected"):
        aot.Model(a, out)


# ------------------------------------------------------------------ subclassed

class Block(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(units)
        self.norm = layers.LayerNormalization()

    def call(self, x):
        return self.norm(self.dense(x))


class Net(aot.Model):
    def __init__(self):
        super().__init__(name="net")
        self.block = Block(4, name="block")
        self.drop = layers.Dropout(0.5)
        self.out = layers.Dense(2)
        self.seen_training = []

    def call(self, inputs, training=False):
        self.seen_training.append(training)
        return self.out(self.drop(self.block(inputs), training=training))


def net_ref(net, x):
    k, b, gamma, beta, ko, bo = net.get_weights()
    h = x @ k + b
    h = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-3) * gamma + beta
    return h @ ko + bo


@pytest.mark.parametrize("how", ["build", "call_symbolic", "call_eager"])
def test_subclassed_model(how, rng):
    net = Net()
    x = randn(rng, 3, 5)
    if how == "build":
        net.build((None, 5))
    elif how == "call_symbolic":
        assert net(aot.Input((5,))).shape == (None, 2)
    else:
        assert_close(net(x), net_ref(net, x), rtol=1e-4)
    g = net.to_graph()
    check_graph(g)
    assert g.input_names == ["inputs"] and g.inputs[0].type.shape == ("N", 5)
    assert g.output_names == ["dense_1"]
    assert [w.path for w in net.weights] == [
        "block/dense/kernel", "block/dense/bias", "block/layer_normalization/gamma",
        "block/layer_normalization/beta", "dense_1/kernel", "dense_1/bias"]
    assert [layer.name for layer in net.layers] == ["block", "dropout", "dense_1"]
    assert net.seen_training[-1] is False
    assert_close(run(net, x), net_ref(net, x), rtol=1e-4)


def test_subclassed_model_unbuilt():
    with pytest.raises(ValueError, match="not been built"):
        Net().to_graph()


# ------------------------------------------------------------------ weights

def test_get_set_weights_and_errors(rng):
    model = mlp()
    weights = [randn(rng, *w.shape) for w in model.weights]
    model.set_weights(weights)
    for got, want in zip(model.get_weights(), weights):
        assert_close(got, want)
    got = model.get_weights()
    got[0][...] = 0  # copies: the model is untouched
    assert model.get_weights()[0].any()
    with pytest.raises(ValueError, match="expecting 4 weights"):
        model.set_weights(weights[:3])
    with pytest.raises(ValueError, match=r"weight shape \(3, 4\) is not compatible with provided "
                                         r"weight shape \(4, 3\)"):
        model.set_weights([weights[0].T] + weights[1:])
    layer = model.get_layer("dense_1")
    layer.set_weights([np.ones((4, 2)), np.zeros(2)])
    assert model.get_weights()[2].sum() == 8


def test_count_params_get_layer_and_trainable():
    model = aot.Sequential([aot.Input((3,)), layers.Dense(4), layers.BatchNormalization()])
    assert model.count_params() == 16 + 16
    assert model.get_layer(index=1).name == "batch_normalization"
    with pytest.raises(ValueError, match="No such layer"):
        model.get_layer("nope")
    assert len(model.trainable_weights) == 4 and len(model.non_trainable_weights) == 2
    g = model.to_graph()
    assert [p.name for p in g.params[:6]] == [w.path for w in model.weights]  # Keras order
    assert [p.trainable for p in g.params[:6]] == [True, True, True, True, False, False]
    assert not any(p.trainable for p in g.params[6:])  # constants (epsilon)
    model.layers[0].trainable = False
    assert len(model.trainable_weights) == 2
    assert [p.trainable for p in model.to_graph().params][:2] == [False, False]
    with pytest.raises(ValueError, match="isn't built"):
        layers.Dense(2).count_params()


# ------------------------------------------------------------------ summary

KERAS_SUMMARY = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 4)              │            16 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ batch_normalization             │ (None, 4)              │            16 │
│ (BatchNormalization)            │                        │               │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 2)              │            10 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 42 (168.00 B)
 Trainable params: 34 (136.00 B)
 Non-trainable params: 8 (32.00 B)"""


def test_summary_matches_keras(capsys):
    model = aot.Sequential([aot.Input((3,)), layers.Dense(4), layers.BatchNormalization(),
                            layers.Dense(2)])
    model.summary()
    assert capsys.readouterr().out.rstrip("\n") == KERAS_SUMMARY


def test_functional_summary_has_connections():
    a, b = aot.Input((4,), name="a"), aot.Input((4,), name="b")
    model = aot.Model([a, b], layers.Add()([layers.Dense(3)(a), layers.Dense(3)(b)]))
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert 'Model: "functional"' in text and "Connected to" in text
    assert "│ a (InputLayer)      │ (None, 4)         │          0 │ -                 │" in text
    assert "dense[0][0]," in text and "dense_1[0][0]" in text
    assert " Total params: 30 (120.00 B)" in text
    with pytest.raises(ValueError, match="not yet been built"):
        aot.Sequential([layers.Dense(1)]).summary()


# ------------------------------------------------------------------ errors and configs

@pytest.mark.parametrize("make", [
    lambda: layers.Dense(3, foo=1),
    lambda: layers.Conv2D(3, 3, kernel=2),
    lambda: layers.LSTM(3, bogus=True),
    lambda: layers.MultiHeadAttention(2, 3, heads=2),
    lambda: layers.BatchNormalization(eps=1e-5),
    lambda: aot.Sequential([], foo=1),
    lambda: aot.Input((3,), foo=1),
], ids=["Dense", "Conv2D", "LSTM", "MHA", "BN", "Sequential", "Input"])
def test_unknown_arguments_raise_type_error(make):
    with pytest.raises(TypeError):
        make()


def test_unknown_argument_message_is_keras():
    with pytest.raises(UnknownArgumentError,
                       match=r"Unrecognized keyword arguments passed to Dense: \{'foo': 1\}"):
        layers.Dense(3, foo=1)
    with pytest.raises(ValueError):  # Keras 3 raises ValueError for layers: both work
        layers.Dense(3, foo=1)
    with pytest.raises(TypeError, match="passed to LSTM: {'bogus': 1}"):
        layers.LSTM(3, bogus=1)


@pytest.mark.parametrize("layer", [
    layers.Dense(3, activation="relu"), layers.Conv2D(2, 3, strides=2, padding="same"),
    layers.Conv2DTranspose(2, 3), layers.DepthwiseConv2D(3, depth_multiplier=2),
    layers.MaxPooling2D(3), layers.AveragePooling2D(), layers.GlobalAveragePooling2D(),
    layers.BatchNormalization(epsilon=0.1), layers.LayerNormalization(), layers.Dropout(0.2),
    layers.Flatten(), layers.Reshape((2, 3)), layers.Activation("gelu"), layers.ReLU(6.0),
    layers.LeakyReLU(0.1), layers.Embedding(10, 4), layers.LSTM(3, return_sequences=True),
    layers.GRU(2, reset_after=False), layers.MultiHeadAttention(2, 4), layers.Add(),
    layers.Concatenate(axis=1), layers.ZeroPadding2D(2), layers.UpSampling2D(),
], ids=lambda layer: type(layer).__name__)
def test_get_config_round_trips(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def test_sequential_config_round_trip(rng):
    model = mlp()
    clone = aot.Sequential.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = randn(rng, 2, 3)
    assert_close(run(clone, x), run(model, x))


# ------------------------------------------------------------------ eager calls and ops

def test_eager_layer_and_model_calls(rng):
    x = randn(rng, 2, 3)
    dense = layers.Dense(2)
    y = dense(x)
    kernel, bias = dense.get_weights()
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    assert_close(y, x @ kernel + bias)
    model = mlp()
    assert_close(model(x), mlp_ref(model, x))
    assert_close(dense(x.astype(np.float64).tolist()), y)  # Python lists, float64 -> float32


def test_indexing_between_functional_layers(rng):
    x = aot.Input((4, 3), name="x")
    model = aot.Model(x, layers.Dense(2)(x[:, -1]))
    data = randn(rng, 2, 4, 3)
    kernel, bias = model.get_weights()
    assert_close(run(model, data), data[:, -1] @ kernel + bias)


def test_ops_on_traced_tensors():
    class Custom(layers.Layer):
        def call(self, x):
            y = ops.sum(ops.square(x), axis=-1, keepdims=True)
            return x[:, 1:3] / (1.0 + y) - ops.max(x, axis=1)[:, None]

    data = np.arange(8, dtype=np.float32).reshape(2, 4)
    got = Custom()(data)
    want = data[:, 1:3] / (1 + (data ** 2).sum(-1, keepdims=True)) - data.max(1)[:, None]
    assert_close(got, want)
