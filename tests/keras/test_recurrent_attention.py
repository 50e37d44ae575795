"""LSTM, GRU, SimpleRNN and MultiHeadAttention against textbook numpy, from get_weights()."""
import numpy as np
import pytest

import aot
from aot import layers

from .helpers import assert_close, randn, run, run_layer, sigmoid


def lstm_ref(x, kernel, recurrent, bias, h=None, c=None, backwards=False):
    """i, f, c~, o gates (Keras order); returns all h and the final (h, c)."""
    n, steps, _ = x.shape
    u = recurrent.shape[0]
    h = np.zeros((n, u)) if h is None else h
    c = np.zeros((n, u)) if c is None else c
    outs = []
    for t in (reversed(range(steps)) if backwards else range(steps)):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = sigmoid(z[:, :u]), sigmoid(z[:, u:2 * u]), np.tanh(z[:, 2 * u:3 * u]), \
            sigmoid(z[:, 3 * u:])
        c = f * c + i * g
        h = o * np.tanh(c)
        outs.append(h)
    return np.stack(outs, 1), h, c


def gru_ref(x, kernel, recurrent, bias, reset_after=True):
    """z, r, h~ gates (Keras order); reset_after applies r after the recurrent matmul."""
    n, steps, _ = x.shape
    u = recurrent.shape[0]
    b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, np.zeros(3 * u))
    h, outs = np.zeros((n, u)), []
    for t in range(steps):
        xz, xr, xh = np.split(x[:, t] @ kernel + b_in, 3, axis=-1)
        rec = h @ recurrent + b_rec
        z = sigmoid(xz + rec[:, :u])
        r = sigmoid(xr + rec[:, u:2 * u])
        if reset_after:
            hh = np.tanh(xh + r * rec[:, 2 * u:])
        else:
            hh = np.tanh(xh + (r * h) @ recurrent[:, 2 * u:])
        h = z * h + (1 - z) * hh
        outs.append(h)
    return np.stack(outs, 1), h


def test_lstm_last_output(rng):
    x = randn(rng, 2, 4, 5)
    layer = layers.LSTM(3)
    got = run_layer(layer, x, rng=rng)
    kernel, recurrent, bias = layer.get_weights()
    assert (kernel.shape, recurrent.shape, bias.shape) == ((5, 12), (3, 12), (12,))
    assert_close(got, lstm_ref(x, kernel, recurrent, bias)[1])


def test_lstm_sequences_states_backwards(rng):
    x = randn(rng, 2, 4, 5)
    layer = layers.LSTM(3, return_sequences=True, return_state=True, go_backwards=True)
    seq, h, c = run_layer(layer, x, rng=rng)
    want_seq, want_h, want_c = lstm_ref(x, *layer.get_weights(), backwards=True)
    assert_close(seq, want_seq)
    assert_close(h, want_h)
    assert_close(c, want_c)


def test_lstm_initial_state(rng):
    x, h0, c0 = randn(rng, 2, 3, 4), randn(rng, 2, 3), randn(rng, 2, 3)
    xi, hi, ci = aot.Input((3, 4)), aot.Input((3,)), aot.Input((3,))
    layer = layers.LSTM(3)
    model = aot.Model([xi, hi, ci], layer(xi, initial_state=[hi, ci]))
    got = run(model, x, h0, c0)
    assert_close(got, lstm_ref(x, *layer.get_weights(), h=h0, c=c0)[1])


def test_lstm_defaults_follow_keras():
    layer = layers.LSTM(2)
    layer.build((None, 3, 4))
    assert [w.path for w in layer.weights] == [
        "lstm/lstm_cell/kernel", "lstm/lstm_cell/recurrent_kernel", "lstm/lstm_cell/bias"]
    kernel, recurrent, bias = layer.get_weights()
    assert bias.tolist() == [0, 0, 1, 1, 0, 0, 0, 0]  # unit_forget_bias
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(2), atol=1e-5)  # orthogonal


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru(reset_after, rng):
    x = randn(rng, 2, 4, 5)
    layer = layers.GRU(3, return_sequences=True, reset_after=reset_after)
    got = run_layer(layer, x, rng=rng)
    kernel, recurrent, bias = layer.get_weights()
    assert bias.shape == ((2, 9) if reset_after else (9,))
    assert_close(got, gru_ref(x, kernel, recurrent, bias, reset_after)[0])


def test_gru_return_state_and_default(rng):
    x = randn(rng, 2, 3, 4)
    layer = layers.GRU(2, return_state=True)
    assert layer.cell.reset_after is True
    out, h = run_layer(layer, x, rng=rng)
    want_seq, want_h = gru_ref(x, *layer.get_weights())
    assert_close(out, want_h)
    assert_close(h, want_h)


def test_simple_rnn(rng):
    x = randn(rng, 2, 4, 3)
    layer = layers.SimpleRNN(2, return_sequences=True)
    got = run_layer(layer, x, rng=rng)
    kernel, recurrent, bias = layer.get_weights()
    h, want = np.zeros((2, 2)), []
    for t in range(4):
        h = np.tanh(x[:, t] @ kernel + h @ recurrent + bias)
        want.append(h)
    assert_close(got, np.stack(want, 1))


# ------------------------------------------------------------------ attention

def mha_ref(q, v, weights, heads, mask=None, causal=False):
    """Keras's einsums with its weight shapes: kernels (dim, heads, size)."""
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    k = v
    qp = np.einsum("btd,dhk->bthk", q, wq) + bq
    kp = np.einsum("bsd,dhk->bshk", k, wk) + bk
    vp = np.einsum("bsd,dhk->bshk", v, wv) + bv
    scores = np.einsum("bthk,bshk->bhts", qp / np.sqrt(wq.shape[-1]), kp)
    keep = np.ones(scores.shape, bool)
    if mask is not None:
        keep &= mask[:, None].astype(bool)
    if causal:
        keep &= np.tril(np.ones(scores.shape[-2:], bool))
    e = np.where(keep, np.exp(scores - scores.max(-1, keepdims=True)), 0)
    probs = e / e.sum(-1, keepdims=True)
    out = np.einsum("bhts,bshk->bthk", probs, vp)
    return np.einsum("bthk,hko->bto", out, wo) + bo, probs


def test_multi_head_attention_weights_follow_keras():
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, output_shape=5)
    q, v = aot.Input((4, 6)), aot.Input((5, 7))
    out = layer(q, v)
    assert out.shape == (None, 4, 5)
    shapes = {w.path: w.shape for w in layer.weights}
    assert shapes == {
        "multi_head_attention/query/kernel": (6, 2, 3), "multi_head_attention/query/bias": (2, 3),
        "multi_head_attention/key/kernel": (7, 2, 3), "multi_head_attention/key/bias": (2, 3),
        "multi_head_attention/value/kernel": (7, 2, 4), "multi_head_attention/value/bias": (2, 4),
        "multi_head_attention/attention_output/kernel": (2, 4, 5),
        "multi_head_attention/attention_output/bias": (5,)}


def test_multi_head_attention_with_mask(rng):
    q, v = randn(rng, 2, 4, 6), randn(rng, 2, 5, 6)
    mask = (rng.random((2, 4, 5)) > 0.3).astype(np.float32)
    mask[:, :, 0] = 1
    qi, vi, mi = aot.Input((4, 6)), aot.Input((5, 6)), aot.Input((4, 5))
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    model = aot.Model([qi, vi, mi], layer(qi, vi, attention_mask=mi))
    weights = [randn(rng, *w.shape, scale=0.5) for w in layer.weights]
    layer.set_weights(weights)
    got = run(model, q, v, mask)
    assert_close(got, mha_ref(q, v, weights, 2, mask=mask)[0], rtol=1e-4)


def test_self_attention_causal_with_scores(rng):
    x = randn(rng, 2, 4, 6)
    layer = layers.MultiHeadAttention(num_heads=3, key_dim=2)
    xi = aot.Input((4, 6))
    out, scores = layer(xi, xi, use_causal_mask=True, return_attention_scores=True)
    model = aot.Model(xi, [out, scores])
    weights = [randn(rng, *w.shape, scale=0.5) for w in layer.weights]
    layer.set_weights(weights)
    got_out, got_scores = run(model, x)
    want_out, want_scores = mha_ref(x, x, weights, 3, causal=True)
    assert_close(got_out, want_out, rtol=1e-4)
    assert_close(got_scores, want_scores, rtol=1e-4)
    assert np.all(got_scores[..., 0, 1:] == 0)
