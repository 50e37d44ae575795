"""model.predict: compiled through aot.compile, batched, cached until the weights change."""
import numpy as np
import pytest

import aot
from aot import layers
from aot.ir import interpret

from .helpers import assert_close, randn


class FakeModule:
    """What aot.compile returns, run by the interpreter; records the batch sizes it sees."""

    def __init__(self, graph):
        self.graph, self.batches = graph, []

    def predict(self, *arrays):
        self.batches.append(arrays[0].shape[0])
        outs = interpret(self.graph, dict(zip(self.graph.input_names, arrays)))
        return outs[0] if len(outs) == 1 else outs


@pytest.fixture
def fake_compile(monkeypatch):
    calls = []

    def compile(model, target="llvm", output=None):
        calls.append((model, target))
        module = FakeModule(model.to_graph())
        calls[-1] = (model, target, module)
        return module
    monkeypatch.setattr(aot, "compile", compile, raising=False)
    return calls


def mlp():
    return aot.Sequential([aot.Input((3,)), layers.Dense(4, activation="relu"), layers.Dense(2)])


def test_predict_batches_and_caches(fake_compile, rng, capsys):
    model = mlp()
    x = randn(rng, 70, 3)
    y = model.predict(x)
    assert_close(y, model.predict_reference(x))
    assert len(fake_compile) == 1 and fake_compile[0][1] == "llvm"
    assert fake_compile[0][2].batches == [32, 32, 6]
    assert capsys.readouterr().out.startswith("3/3 ━")
    model.predict(x[:5], batch_size=2, verbose=0)
    assert len(fake_compile) == 1 and fake_compile[0][2].batches[3:] == [2, 2, 1]
    assert capsys.readouterr().out == ""


def test_set_weights_invalidates_the_compiled_module(fake_compile, rng):
    model = mlp()
    x = randn(rng, 4, 3)
    before = model.predict(x, verbose=0)
    model.set_weights([w * 2 for w in model.get_weights()])
    after = model.predict(x, verbose=0)
    assert len(fake_compile) == 2
    assert not np.allclose(before, after)
    assert_close(after, model.predict_reference(x))
    model.add(layers.Dense(1))
    assert model.predict(x, verbose=0).shape == (4, 1) and len(fake_compile) == 3


def test_predict_accepts_lists_dicts_and_converts_dtypes(fake_compile, rng):
    a, b = aot.Input((2,), name="a"), aot.Input((3,), name="b")
    model = aot.Model([a, b], [layers.Dense(1)(a), layers.Dense(2)(b)])
    xa, xb = rng.normal(size=(5, 2)), rng.normal(size=(5, 3))  # float64 in
    out1, out2 = model.predict([xa.tolist(), xb], verbose=0)
    assert out1.dtype == np.float32 and out1.shape == (5, 1) and out2.shape == (5, 2)
    again = model.predict({"b": xb, "a": xa}, verbose=0)
    assert_close(again[1], out2)
    with pytest.raises(ValueError, match="2 inputs"):
        model.predict(xa, verbose=0)
    with pytest.raises(ValueError, match="expected shape"):
        model.predict([xa, xa], verbose=0)


def test_predict_builds_an_unbuilt_sequential(fake_compile, rng):
    model = aot.Sequential([layers.Dense(2)])
    x = randn(rng, 3, 5)
    assert_close(model.predict(x, verbose=0), model.predict_reference(x))


def test_predict_with_the_real_compiler(rng):
    """Compiled code (TVM, host CPU) agrees with the interpreter, batch size not a divisor."""
    x_in = aot.Input((4, 4, 2), name="image")
    h = layers.Conv2D(3, 3, padding="same", activation="relu")(x_in)
    h = layers.GlobalAveragePooling2D()(h)
    model = aot.Model(x_in, [layers.Dense(2, activation="softmax", name="probs")(h), h])
    x = randn(rng, 5, 4, 4, 2)
    probs, features = model.predict(x, batch_size=2, verbose=0)
    want_probs, want_features = model.predict_reference(x)
    assert_close(probs, want_probs, rtol=1e-5, atol=1e-6)
    assert_close(features, want_features, rtol=1e-5, atol=1e-6)
