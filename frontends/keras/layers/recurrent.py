"""Recurrent layers: SimpleRNN, LSTM, GRU, unrolled over a static number of time steps
with matmul / sigmoid / tanh.

Weights are Keras's (in a cell sublayer, so paths read "lstm/lstm_cell/kernel"), gates in
Keras's order: LSTM (i, f, c, o), GRU (z, r, h); GRU's bias is (2, 3*units) with
reset_after=True (the default) and (3*units,) without. The input projection of every
step is one matmul over the whole sequence; each step adds the recurrent matmul. The zero
initial state is folded away (the first step has no recurrent term).
"""
from __future__ import annotations

import numpy as np

from .. import activations, initializers, ops
from .base import Layer, UnknownArgumentError
from .core import Dropout


def _rows(var, start: int, stop: int):
    """Columns [start, stop) of a 2-D weight."""
    return ops.slice_axes(var, [start], [stop], [1])


def _gate(x, hr, start: int, stop: int):
    """Columns [start, stop) of x (+ hr, where there is a recurrent term)."""
    z = _rows(x, start, stop)
    return z if hr is None else ops.add(z, _rows(hr, start, stop))


class _Cell(Layer):
    _gates = 1

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        if units <= 0:
            raise ValueError("Received an invalid value for argument `units`, expected a "
                             f"positive integer, got {units}.")
        super().__init__(**kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.dropout, self.recurrent_dropout, self.seed = dropout, recurrent_dropout, seed
        self.regularizers = (kernel_regularizer, recurrent_regularizer, bias_regularizer)
        self.constraints = (kernel_constraint, recurrent_constraint, bias_constraint)

    def build(self, input_shape):
        n = self._gates * self.units
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], n),
                                      initializer=self.kernel_initializer)
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(self.units, n),
                                                initializer=self.recurrent_initializer)
        self.bias = self.add_weight(name="bias", shape=self._bias_shape(),
                                    initializer=self._bias_init()) if self.use_bias else None

    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def prepare(self):
        return {}

    def project(self, sequences):
        """x @ kernel (+ input bias) for every step at once: (N, T, gates*units)."""
        x = ops.matmul(sequences, self.kernel)
        return ops.add(x, self.bias) if self.bias is not None else x

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "seed": self.seed}


class SimpleRNNCell(_Cell):
    def step(self, x_t, states, ctx):
        (h,) = states
        z = x_t if h is None else ops.add(x_t, ops.matmul(h, self.recurrent_kernel))
        h = self.activation(z)
        return h, [h]


class LSTMCell(_Cell):
    _gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias=True, **kwargs):
        kwargs.pop("implementation", None)
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        u, init = self.units, self.bias_initializer

        def forget_ones(shape, dtype=None):
            return np.concatenate([init((u,), dtype=dtype), np.ones((u,), dtype or "float32"),
                                   init((2 * u,), dtype=dtype)])
        return forget_ones

    def step(self, x_t, states, ctx):
        """Each gate adds its columns of x_t and of h @ recurrent_kernel: slices that fuse
        into the gate kernels as reads, where a split of their sum was a copy kernel per
        step (and x_t's slice of the projection another)."""
        h, c = states
        u = self.units
        hr = None if h is None else ops.matmul(h, self.recurrent_kernel)
        zi, zf, zc, zo = (_gate(x_t, hr, k * u, (k + 1) * u) for k in range(4))
        i, o = self.recurrent_activation(zi), self.recurrent_activation(zo)
        c_new = ops.multiply(i, self.activation(zc))
        if c is not None:
            c_new = ops.add(ops.multiply(self.recurrent_activation(zf), c), c_new)
        h = ops.multiply(o, self.activation(c_new))
        return h, [h, c_new]

    def get_config(self) -> dict:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias,
                "recurrent_activation": activations.serialize(self.recurrent_activation)}


class GRUCell(_Cell):
    _gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 reset_after=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = reset_after

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _bias_row(self, i: int):
        return ops.reshape(ops.slice_axes(self.bias, [i], [i + 1], [0]), (3 * self.units,))

    def project(self, sequences):
        x = ops.matmul(sequences, self.kernel)
        if self.bias is None:
            return x
        return ops.add(x, self._bias_row(0) if self.reset_after else self.bias)

    def prepare(self):
        """Per-call constants: the recurrent bias, or the recurrent kernel's three parts."""
        u, k = self.units, self.recurrent_kernel
        if self.reset_after:
            return {"bias": self._bias_row(1) if self.use_bias else None}
        return {"kz": _rows(k, 0, u), "kr": _rows(k, u, 2 * u), "kh": _rows(k, 2 * u, 3 * u)}

    def step(self, x_t, states, ctx):
        (h,) = states
        u = self.units
        xz, xr, xh = ops.split_sizes(x_t, [u] * 3, axis=-1)
        rz = rr = rh = None
        if self.reset_after:
            inner = ctx["bias"]
            if h is not None:
                hu = ops.matmul(h, self.recurrent_kernel)
                inner = hu if inner is None else ops.add(hu, inner)
            if inner is not None:
                rz, rr, rh = ops.split_sizes(inner, [u] * 3, axis=-1)
        elif h is not None:
            rz, rr = ops.matmul(h, ctx["kz"]), ops.matmul(h, ctx["kr"])
        z = self.recurrent_activation(xz if rz is None else ops.add(xz, rz))
        r = self.recurrent_activation(xr if rr is None else ops.add(xr, rr))
        if self.reset_after:
            hh_in = xh if rh is None else ops.add(xh, ops.multiply(r, rh))
        else:
            hh_in = xh if h is None else ops.add(xh, ops.matmul(ops.multiply(r, h), ctx["kh"]))
        hh = self.activation(hh_in)
        new = ops.multiply(ops.subtract(1.0, z), hh)
        if h is not None:
            new = ops.add(ops.multiply(z, h), new)
        return new, [new]

    def get_config(self) -> dict:
        return {**super().get_config(), "reset_after": self.reset_after,
                "recurrent_activation": activations.serialize(self.recurrent_activation)}


class _RNN(Layer):
    """Runs a cell over the time axis, unrolled. Outputs as Keras: the last output (or
    all of them with return_sequences, in processing order), then the final states with
    return_state."""

    _cell_class = None
    _n_states = 1

    def __init__(self, units, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, use_cudnn="auto", activity_regularizer=None,
                 trainable=True, dtype=None, name=None, **cell_kwargs):
        if stateful:
            raise NotImplementedError(f"{type(self).__name__}(stateful=True) is not supported")
        super().__init__(activity_regularizer=activity_regularizer, trainable=trainable,
                         dtype=dtype, name=name, **{k: cell_kwargs.pop(k) for k in
                                                    ("input_shape", "input_dim") if k in cell_kwargs})
        try:
            self.cell = self._cell_class(units, name=to_cell_name(type(self).__name__),
                                         dtype=dtype, trainable=trainable, **cell_kwargs)
        except UnknownArgumentError as e:  # name the layer the user called, as Keras does
            raise UnknownArgumentError(str(e).replace(self._cell_class.__name__,
                                                      type(self).__name__)) from None
        self.units = units
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards, self.stateful, self.unroll = go_backwards, stateful, unroll
        self.use_cudnn = use_cudnn

    def build(self, sequences_shape, initial_state_shape=None):
        if sequences_shape[1] is None:
            raise ValueError(f"{type(self).__name__} needs a static number of time steps, got "
                             f"input shape {sequences_shape}")
        self.cell.build(sequences_shape)
        # Keras draws one dropout mask per sequence for the inputs and one for the state,
        # and uses it at every step: noise shape (batch, 1, features) for the inputs.
        self._input_dropout = self._recurrent_dropout = None
        if self.cell.dropout > 0:
            self._input_dropout = Dropout(self.cell.dropout, noise_shape=(None, 1, sequences_shape[-1]),
                                          seed=self.cell.seed, name="input_dropout")
            self._input_dropout.build(sequences_shape)
        if self.cell.recurrent_dropout > 0:
            self._recurrent_dropout = Dropout(self.cell.recurrent_dropout, seed=self.cell.seed,
                                              name="recurrent_dropout")
            self._recurrent_dropout.build((sequences_shape[0], self.cell.units))

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if mask is not None:
            raise NotImplementedError("masked sequences are not supported")
        steps = sequences.shape[1]
        states = list(initial_state) if initial_state is not None else [None] * self._n_states
        if len(states) != self._n_states:
            raise ValueError(f"{type(self).__name__} expects {self._n_states} initial state "
                             f"tensor(s), got {len(states)}")
        if training and self._input_dropout is not None:
            sequences = self._input_dropout(sequences, training=True)
        projected = self.cell.project(sequences)
        ctx = self.cell.prepare()
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs, state_mask = [], None
        for t in order:
            x_t = ops.squeeze(ops.slice_axes(projected, [t], [t + 1], [1]), [1])
            if training and self._recurrent_dropout is not None and states[0] is not None:
                if state_mask is None:  # one mask for the whole sequence
                    state_mask = self._recurrent_dropout(
                        ops.add(ops.multiply(states[0], 0.0), 1.0), training=True)
                states = [ops.multiply(states[0], state_mask)] + list(states[1:])
            out, states = self.cell.step(x_t, states, ctx)
            outputs.append(out)
        if self.return_sequences:
            out = ops.concatenate([ops.expand_dims(o, 1) for o in outputs], axis=1)
        return [out] + list(states) if self.return_state else out

    def get_config(self) -> dict:
        cell = {k: v for k, v in self.cell.get_config().items() if k not in ("name", "trainable", "dtype")}
        return {**super().get_config(), **cell, "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards,
                "stateful": self.stateful, "unroll": self.unroll}


def to_cell_name(cls_name: str) -> str:
    return {"SimpleRNN": "simple_rnn_cell", "LSTM": "lstm_cell", "GRU": "gru_cell"}[cls_name]


class SimpleRNN(_RNN):
    _cell_class = SimpleRNNCell


class LSTM(_RNN):
    _cell_class = LSTMCell
    _n_states = 2


class GRU(_RNN):
    _cell_class = GRUCell
