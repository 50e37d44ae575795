"""Unrolled converters against onnxruntime: RNN/GRU/LSTM (directions, layouts, biases,
peepholes, sequence lengths) and Scan (axes, directions, scan outputs)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import aot
from aot.ir import interpret

from .helpers import check, model, rand

N = helper.make_node


def _rnn_inputs(op, hidden=3, seq=4, batch=2, inp=5, dirs=1, seed=0):
    g = {"RNN": 1, "GRU": 3, "LSTM": 4}[op]
    rng = np.random.default_rng(seed)
    f = lambda *s: (rng.standard_normal(s) * 0.5).astype(np.float32)  # noqa: E731
    return {"X": f(seq, batch, inp), "W": f(dirs, g * hidden, inp),
            "R": f(dirs, g * hidden, hidden), "B": f(dirs, 2 * g * hidden),
            "h0": f(dirs, batch, hidden), "c0": f(dirs, batch, hidden), "P": f(dirs, 3 * hidden)}


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_recurrent_directions_with_bias_and_initial_state(op, direction):
    dirs = 2 if direction == "bidirectional" else 1
    v = _rnn_inputs(op, dirs=dirs)
    ins = ["X", "W", "R", "B", "", "h0"] + (["c0"] if op == "LSTM" else [])
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = N(op, ins, outs, hidden_size=3, direction=direction)
    feeds = {k: v[k] for k in ins if k}
    check(model([node], feeds, outs), feeds, rtol=1e-4, atol=1e-5)


def test_gru_linear_before_reset_and_lstm_peepholes_compiled():
    v = _rnn_inputs("GRU")
    feeds = {k: v[k] for k in ("X", "W", "R", "B")}
    node = N("GRU", ["X", "W", "R", "B"], ["Y", "Y_h"], hidden_size=3, linear_before_reset=1)
    check(model([node], feeds, ["Y", "Y_h"]), feeds, compiled=True, rtol=1e-4, atol=1e-5)
    v = _rnn_inputs("LSTM")
    ins = ["X", "W", "R", "B", "", "h0", "c0", "P"]
    feeds = {k: v[k] for k in ins if k}
    node = N("LSTM", ins, ["Y", "Y_h", "Y_c"], hidden_size=3, clip=0.8)
    check(model([node], feeds, ["Y", "Y_h", "Y_c"]), feeds, rtol=1e-4, atol=1e-5)


def test_rnn_sequence_lengths_and_batch_major_layout():
    v = _rnn_inputs("RNN", dirs=2)
    feeds = {"X": v["X"], "W": v["W"], "R": v["R"], "lens": np.array([4, 2], np.int32)}
    node = N("RNN", ["X", "W", "R", "", "lens"], ["Y", "Y_h"], hidden_size=3,
             direction="bidirectional", activations=["Tanh", "Relu"])
    check(model([node], feeds, ["Y", "Y_h"], opset=14), feeds, rtol=1e-4, atol=1e-5)
    # onnxruntime has no layout=1 (and onnx's reference no sequence_lens): the reference
    feeds["X"] = np.ascontiguousarray(v["X"].transpose(1, 0, 2))
    feeds = {"X": feeds["X"], "W": v["W"][:1], "R": v["R"][:1]}
    node = N("RNN", ["X", "W", "R"], ["Y", "Y_h"], hidden_size=3, layout=1)
    m = model([node], feeds, ["Y", "Y_h"], opset=14)
    want = ReferenceEvaluator(m).run(None, feeds)
    got = interpret(aot.import_onnx(m), feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_scan_reverse_input_and_output_axis():
    body = helper.make_graph(
        [N("Add", ["s_in", "x_t"], ["s_out"]), N("Mul", ["s_out", "x_t"], ["y_t"])], "body",
        [helper.make_tensor_value_info("s_in", TensorProto.FLOAT, [3]),
         helper.make_tensor_value_info("x_t", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("s_out", TensorProto.FLOAT, [3]),
         helper.make_tensor_value_info("y_t", TensorProto.FLOAT, [3])])
    node = N("Scan", ["s0", "x"], ["s", "ys"], body=body, num_scan_inputs=1,
             scan_input_axes=[1], scan_input_directions=[1], scan_output_axes=[1])
    feeds = {"s0": rand(3), "x": rand(3, 4, seed=1)}
    check(model([node], feeds, ["s", "ys"]), feeds, compiled=True)
