"""RNN, GRU and LSTM, unrolled over the (static) sequence length with registry ops.

ONNX layouts: X [seq, batch, in] (layout=1: [batch, seq, in]); W [dirs, gates*hidden, in],
R [dirs, gates*hidden, hidden], B [dirs, 2*gates*hidden]; Y [seq, dirs, batch, hidden]
(layout=1: [batch, seq, dirs, hidden]), Y_h/Y_c [dirs, batch, hidden]. The input projection
of every step is one matmul; each step adds the recurrent one. With `sequence_lens`, steps at
or past a row's length keep its state and output zeros (the same masking serves the reverse
direction: the masked tail leaves the initial state in place until the row's last step)."""
from __future__ import annotations

import numpy as np

from aot.ir import DType

from ..registry import converter
from .common import scalar

_DEFAULTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_TAKES = {"Affine": 2, "LeakyRelu": 1, "ThresholdedRelu": 1, "ScaledTanh": 2,
          "HardSigmoid": 2, "Elu": 1}
_DEFAULT_AB = {"LeakyRelu": (0.01,), "ThresholdedRelu": (1.0,), "HardSigmoid": (0.2, 0.5),
               "Elu": (1.0,)}


def _activation(ctx, name: str, params):
    """A function applying ONNX activation `name` with its alpha/beta."""
    def f(x):
        a = [scalar(ctx, v, x) for v in params]
        if name in ("Tanh", "Sigmoid", "Relu", "Softsign", "Softplus"):
            return ctx.emit(name.lower(), x)
        if name == "Affine":
            return ctx.emit("add", ctx.emit("multiply", x, a[0]), a[1])
        if name == "LeakyRelu":
            return ctx.emit("leaky_relu", x, alpha=params[0])
        if name == "ScaledTanh":
            return ctx.emit("multiply", ctx.emit("tanh", ctx.emit("multiply", x, a[1])), a[0])
        if name == "HardSigmoid":
            y = ctx.emit("add", ctx.emit("multiply", x, a[0]), a[1])
            return ctx.emit("minimum", ctx.emit("maximum", y, scalar(ctx, 0, x)), scalar(ctx, 1, x))
        if name == "ThresholdedRelu":
            return ctx.emit("where", ctx.emit("greater", x, a[0]), x, scalar(ctx, 0, x))
        if name == "Elu":
            return ctx.emit("elu", x, alpha=params[0])
        raise ctx.fail(f"RNN activation {name} is not supported")
    return f


def _activations(ctx, op: str, dirs: int):
    names = [n.decode() if isinstance(n, bytes) else n
             for n in (ctx.attr("activations") or _DEFAULTS[op] * dirs)]
    alphas, betas = list(ctx.attr("activation_alpha") or []), list(ctx.attr("activation_beta") or [])
    fns = []
    for n in names:
        k, default = _TAKES.get(n, 0), _DEFAULT_AB.get(n, (1.0, 0.0))
        params = []
        if k >= 1:
            params.append(alphas.pop(0) if alphas else default[0])
        if k >= 2:
            params.append(betas.pop(0) if betas else default[1])
        fns.append(_activation(ctx, n, params))
    per = len(_DEFAULTS[op])
    return [fns[d * per:(d + 1) * per] for d in range(dirs)]


def _pick(ctx, t, d: int):
    """t[d] of a [dirs, ...] tensor."""
    return ctx.emit("squeeze", ctx.emit("slice", t, starts=(d,), ends=(d + 1,), axes=(0,)), axes=(0,))


def _cols(ctx, t, k: int, hidden: int):
    """Gate k's columns of a [..., gates*hidden] tensor."""
    r = ctx.type(t).rank
    return ctx.emit("slice", t, starts=(k * hidden,), ends=((k + 1) * hidden,), axes=(r - 1,))


class _Cell:
    """What every step of one direction needs: inputs, weights, activations, clip."""

    def __init__(self, ctx, op, d, x, hidden, acts):
        self.ctx, self.op, self.hidden, self.acts = ctx, op, hidden, acts
        g = _GATES[op]
        w = _pick(ctx, ctx.input(1), d)
        self.rt = ctx.emit("transpose", _pick(ctx, ctx.input(2), d), perm=(1, 0))
        xw = ctx.emit("matmul", x, ctx.emit("transpose", w, perm=(1, 0)))  # [seq, batch, g*h]
        self.rb = None
        if ctx.has_input(3):
            b = _pick(ctx, ctx.input(3), d)
            wb = ctx.emit("slice", b, starts=(0,), ends=(g * hidden,), axes=(0,))
            rb = ctx.emit("slice", b, starts=(g * hidden,), ends=(2 * g * hidden,), axes=(0,))
            if op == "GRU":  # the h gate's recurrent bias goes with the recurrent term
                self.rb = _cols(ctx, rb, 2, hidden)
                rb = ctx.emit("concat", _cols(ctx, rb, 0, hidden), _cols(ctx, rb, 1, hidden),
                              ctx.emit("multiply", self.rb, scalar(ctx, 0, self.rb)), axis=0)
            xw = ctx.emit("add", xw, ctx.emit("add", wb, rb))
        self.xw = xw
        clip = ctx.attr("clip")
        self.clip = None if clip is None else float(clip)
        self.p = _pick(ctx, ctx.input(7), d) if op == "LSTM" and ctx.has_input(7) else None

    def pre(self, t, h, k, extra=None):
        """Gate k's pre-activation at step t (clipped)."""
        ctx = self.ctx
        x = _cols(ctx, self.xw_t, k, self.hidden)
        y = ctx.emit("add", x, ctx.emit("matmul", h, _cols(ctx, self.rt, k, self.hidden)))
        if extra is not None:
            y = ctx.emit("add", y, extra)
        return self._clip(y)

    def _clip(self, y):
        if self.clip is None:
            return y
        c = scalar(self.ctx, self.clip, y)
        return self.ctx.emit("minimum", self.ctx.emit("maximum", y, self.ctx.emit("neg", c)), c)

    def step(self, t, h, c):
        ctx, hs = self.ctx, self.hidden
        self.xw_t = ctx.emit("squeeze", ctx.emit("slice", self.xw, starts=(t,), ends=(t + 1,),
                                                 axes=(0,)), axes=(0,))
        if self.op == "RNN":
            return self.acts[0](self.pre(t, h, 0)), None
        if self.op == "GRU":
            return self._gru(t, h), None
        return self._lstm(t, h, c)

    def _gru(self, t, h):
        ctx, f, g = self.ctx, self.acts[0], self.acts[1]
        z, r = f(self.pre(t, h, 0)), f(self.pre(t, h, 1))
        rh = _cols(ctx, self.rt, 2, self.hidden)
        if self.ctx.attr("linear_before_reset", 0):
            hr = ctx.emit("matmul", h, rh)
            if self.rb is not None:
                hr = ctx.emit("add", hr, self.rb)
            hh = ctx.emit("add", _cols(ctx, self.xw_t, 2, self.hidden), ctx.emit("multiply", r, hr))
        else:
            hh = ctx.emit("add", _cols(ctx, self.xw_t, 2, self.hidden),
                          ctx.emit("matmul", ctx.emit("multiply", r, h), rh))
            if self.rb is not None:
                hh = ctx.emit("add", hh, self.rb)
        hh = g(self._clip(hh))
        one = scalar(ctx, 1, h)
        return ctx.emit("add", ctx.emit("multiply", ctx.emit("subtract", one, z), hh),
                        ctx.emit("multiply", z, h))

    def _peep(self, k, c):
        if self.p is None:
            return None
        return self.ctx.emit("multiply", _cols(self.ctx, self.p, k, self.hidden), c)

    def _lstm(self, t, h, c):
        ctx, (f, g, hf) = self.ctx, self.acts
        i = f(self.pre(t, h, 0, self._peep(0, c)))
        fg = f(self.pre(t, h, 2, self._peep(2, c)))
        if ctx.attr("input_forget", 0):
            fg = ctx.emit("subtract", scalar(ctx, 1, i), i)
        cc = g(self.pre(t, h, 3))
        c_new = ctx.emit("add", ctx.emit("multiply", fg, c), ctx.emit("multiply", i, cc))
        o = f(self.pre(t, h, 1, self._peep(1, c_new)))
        return ctx.emit("multiply", o, hf(c_new)), c_new


def _initial(ctx, i, d, batch, hidden, like):
    if ctx.has_input(i):
        return _pick(ctx, ctx.input(i), d)
    return np.zeros((batch, hidden), ctx.type(like).dtype.numpy)


def _run_direction(ctx, op, d, reverse, x, lens, hidden, acts):
    seq, batch = ctx.type(x).shape[:2]
    cell = _Cell(ctx, op, d, x, hidden, acts)
    h = _initial(ctx, 5, d, batch, hidden, x)
    c = _initial(ctx, 6, d, batch, hidden, x) if op == "LSTM" else None
    ys = [None] * seq
    for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
        h_new, c_new = cell.step(t, h, c)
        if lens is not None:
            live = ctx.emit("expand_dims", ctx.emit("less", np.asarray(t, np.int64), lens), axes=(1,))
            ys[t] = ctx.emit("where", live, h_new, scalar(ctx, 0, h_new))
            h_new = ctx.emit("where", live, h_new, h)
            c_new = ctx.emit("where", live, c_new, c) if c is not None else None
        else:
            ys[t] = h_new
        h, c = h_new, c_new
    return ys, h, c


def _recurrent(op):
    def convert(ctx, node):
        x, hidden = ctx.input(0), ctx.attr("hidden_size")
        layout = ctx.attr("layout", 0)
        if layout:
            x = ctx.emit("transpose", x, perm=(1, 0, 2))
        seq = ctx.type(x).shape[0]
        if not isinstance(seq, int):
            raise ctx.fail(f"the sequence length must be static to unroll, got {seq}")
        direction = ctx.attr_str("direction", "forward")
        dirs = 2 if direction == "bidirectional" else 1
        lens = ctx.emit("cast", ctx.input(4), dtype=DType.int64) if ctx.has_input(4) else None
        acts = _activations(ctx, op, dirs)
        ys, hs, cs = [], [], []
        for d in range(dirs):
            rev = direction == "reverse" or d == 1
            y, h, c = _run_direction(ctx, op, d, rev, x, lens, hidden, acts[d])
            ys.append(ctx.emit("concat", *[ctx.emit("expand_dims", v, axes=(0, 1)) for v in y],
                               axis=0))
            hs.append(h)
            cs.append(c)
        y = ctx.emit("concat", *ys, axis=1) if dirs > 1 else ys[0]  # [seq, dirs, batch, hidden]
        yh = _stack_dirs(ctx, hs)
        yc = _stack_dirs(ctx, cs) if op == "LSTM" else None
        if layout:
            y = ctx.emit("transpose", y, perm=(2, 0, 1, 3))
            yh = ctx.emit("transpose", yh, perm=(1, 0, 2))
            yc = ctx.emit("transpose", yc, perm=(1, 0, 2)) if yc is not None else None
        return (y, yh, yc)[:len(node.output)]
    return convert


def _stack_dirs(ctx, parts):
    parts = [ctx.value(p) if isinstance(p, np.ndarray) else p for p in parts]
    return ctx.emit("concat", *[ctx.emit("expand_dims", p, axes=(0,)) for p in parts], axis=0)


for _op in ("RNN", "GRU", "LSTM"):
    converter(_op)(_recurrent(_op))
