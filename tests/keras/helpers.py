"""Shared helpers for the Keras builder tests: run a layer through a traced graph and the
numpy interpreter (the oracle), checking the graph verifies and its text round-trips."""
from __future__ import annotations

import numpy as np

import aot
from aot.ir import parse_graph, print_graph, verify

RTOL = 1e-5
ATOL = 1e-5


def check_graph(graph) -> None:
    """Every traced graph verifies, and its text parses back to the same text."""
    verify(graph)
    text = print_graph(graph)
    assert print_graph(parse_graph(text)) == text


def layer_model(layer, *inputs, **call_kwargs):
    """A functional model calling `layer` on Inputs shaped like `inputs` (batch symbolic)."""
    symbols = [aot.Input(np.shape(x)[1:], dtype=np.asarray(x).dtype.name) for x in inputs]
    out = layer(*symbols, **call_kwargs)
    return aot.Model(symbols if len(symbols) > 1 else symbols[0], out)


def run(model, *inputs):
    """Trace the model, check the graph, run it with the interpreter."""
    check_graph(model.to_graph())
    return model.predict_reference(list(inputs) if len(inputs) > 1 else inputs[0])


def run_layer(layer, *inputs, rng=None, **call_kwargs):
    """`layer` applied to `inputs` through a traced graph; with `rng`, random weights first."""
    model = layer_model(layer, *inputs, **call_kwargs)
    if rng is not None:
        randomize(layer, rng)
    return run(model, *inputs)


def assert_close(got, want, rtol=RTOL, atol=ATOL) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def randn(rng, *shape, scale=1.0):
    return (rng.normal(size=shape) * scale).astype(np.float32)


def randomize(layer_or_model, rng, scale=0.5) -> list[np.ndarray]:
    """Random weights (variances kept positive) so zero/one initializers can't hide bugs."""
    weights = []
    for w in layer_or_model.weights:
        a = randn(rng, *w.shape, scale=scale)
        weights.append(np.abs(a) + 0.1 if "variance" in w.path else a)
    layer_or_model.set_weights(weights)
    return weights


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))
