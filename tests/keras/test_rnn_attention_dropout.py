"""LSTM/GRU dropout and recurrent_dropout, and MultiHeadAttention dropout, act in training only:
one mask per sequence (inputs and state) as Keras draws them, advanced each step."""
import numpy as np
import pytest

import aot
from aot import layers
from aot.codegen.build import run_local
from aot.ir import interpret, verify


def _ops(graph):
    return {n.op.name for n in graph.nodes}


@pytest.mark.parametrize("rnn", [layers.LSTM, layers.GRU, layers.SimpleRNN])
def test_rnn_dropout_only_in_training(rnn):
    model = aot.Sequential([layers.Input((5, 3)), rnn(4, dropout=0.5, recurrent_dropout=0.3)])
    train, infer = verify(model._trace_graph(training=True)), verify(model.to_graph())
    name = model.layers[0].name
    assert sorted(p.name for p in train.updates) == [f"{name}/input_dropout/seed_counter",
                                                     f"{name}/recurrent_dropout/seed_counter"]
    assert "random_uniform" in _ops(train) and "random_uniform" not in _ops(infer)
    x = {train.inputs[0].name: np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")}
    # exactly two random draws: one mask for the inputs, one for the state, reused at every step
    assert sum(n.op.name == "random_uniform" for n in train.nodes) == 2
    dropped, clean = interpret(train, x)[0], interpret(infer, x)[0]
    assert not np.allclose(dropped, clean)
    np.testing.assert_allclose(run_local(train, x)[0], dropped, rtol=1e-5, atol=1e-6)


def test_attention_dropout_only_in_training():
    i = aot.Input((6, 8))
    model = aot.Model(i, layers.MultiHeadAttention(2, 4, dropout=0.5)(i, i))
    train, infer = verify(model._trace_graph(training=True)), verify(model.to_graph())
    assert [p.name.split("/")[-1] for p in train.updates] == ["seed_counter"]
    assert "random_uniform" not in _ops(infer)
    x = {train.inputs[0].name: np.random.default_rng(1).standard_normal((2, 6, 8)).astype("float32")}
    assert not np.allclose(interpret(train, x)[0], interpret(infer, x)[0])
