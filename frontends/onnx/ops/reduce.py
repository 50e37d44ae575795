"""Reductions: ReduceX (axes an attribute, or an input since opset 13 for ReduceSum and 18
for the others), ArgMax/ArgMin, CumSum."""
from __future__ import annotations

import numpy as np

from aot.ir import DType

from ..registry import converter


def _axes(ctx, from_input: bool):
    if from_input:
        if ctx.has_input(1) and ctx.type(ctx.input(1)).shape == (0,):
            return ()  # an empty axes tensor, whatever its (run-time) source
        if ctx.has_input(1) and not ctx.is_const(1):
            return _declared_axes(ctx)
        return ctx.ints(1, "axes") if ctx.has_input(1) else None
    axes = ctx.attr("axes")
    return tuple(axes) if axes is not None else None


def _declared_axes(ctx):
    """Run-time axes, recovered from the output shape the model declares where that is
    unambiguous (keepdims=1: the dims that became 1; keepdims=0: the one way the output
    dims embed in the input's). Otherwise the axes must be constants."""
    import itertools

    t, out = ctx.type(ctx.input(0)), ctx.declared_shape()
    if out is None or not t.is_static or len(out) > t.rank:
        return ctx.ints(1, "axes")
    if ctx.attr("keepdims", 1):
        axes = tuple(i for i, (a, b) in enumerate(zip(t.shape, out)) if a != b)
        if not axes and any(d != 1 for d in t.shape):
            return ctx.ints(1, "axes")
        return axes or tuple(range(t.rank))
    fits = [keep for keep in itertools.combinations(range(t.rank), len(out))
            if all(t.shape[k] == d for k, d in zip(keep, out))]
    reduced = {tuple(i for i in range(t.rank) if i not in keep and t.shape[i] != 1)
               for keep in fits}
    if len(fits) != 1 and len(reduced) != 1:
        return [tuple(i for i in range(t.rank) if i not in keep) for keep in fits]
    keep = fits[0]
    return tuple(i for i in range(t.rank) if i not in keep) or tuple(range(t.rank))


def _select_axes(ctx, x, kind, choices):
    """Run-time axes that the declared shape leaves ambiguous: reduce over every candidate
    set and pick, at run time, the one the axes input names."""
    r = ctx.type(x).rank
    axes = ctx.emit("cast", ctx.input(1), dtype=DType.int64)
    axes = ctx.emit("where", ctx.emit("less", axes, np.int64(0)),
                    ctx.emit("add", axes, np.int64(r)), axes)
    out = None
    for cand in reversed(choices):
        y = _reduce(ctx, x, kind, cand)
        if out is None:
            out = y
            continue
        cond = None
        for d in cand:
            hit = ctx.emit("sum", ctx.emit("cast", ctx.emit("equal", axes, np.int64(d)),
                                           dtype=DType.int32), axes=None, keepdims=False)
            hit = ctx.emit("greater", hit, np.int32(0))
            cond = hit if cond is None else ctx.emit("logical_and", cond, hit)
        out = ctx.emit("where", cond, y, out)
    return out


def _reduce(ctx, x, kind, axes):
    if isinstance(axes, list):
        return _select_axes(ctx, x, kind, axes)
    keep = bool(ctx.attr("keepdims", 1))
    if not axes:
        if ctx.attr("noop_with_empty_axes", 0):
            return x
        axes = None
    a = dict(axes=axes, keepdims=keep)
    if kind in ("sum", "mean", "max", "min", "prod", "logsumexp"):
        return ctx.emit(kind, x, **a)
    if kind == "l1":
        return ctx.emit("sum", ctx.emit("abs", x), **a)
    square = ctx.emit("multiply", x, x)
    if kind == "sumsquare":
        return ctx.emit("sum", square, **a)
    if kind == "l2":
        return ctx.emit("sqrt", ctx.emit("sum", square, **a))
    return ctx.emit("log", ctx.emit("sum", x, **a))  # logsum


def _reducer(kind, since_input):
    def attr_form(ctx, node):
        return _reduce(ctx, ctx.input(0), kind, _axes(ctx, False))

    def input_form(ctx, node):
        return _reduce(ctx, ctx.input(0), kind, _axes(ctx, True))
    return attr_form, input_form, since_input


_REDUCE = {"ReduceSum": ("sum", 13), "ReduceMean": ("mean", 18), "ReduceMax": ("max", 18),
           "ReduceMin": ("min", 18), "ReduceProd": ("prod", 18),
           "ReduceLogSumExp": ("logsumexp", 18), "ReduceL1": ("l1", 18),
           "ReduceL2": ("l2", 18), "ReduceSumSquare": ("sumsquare", 18),
           "ReduceLogSum": ("logsum", 18)}

for _onnx, (_kind, _since) in _REDUCE.items():
    _attr, _input, _ = _reducer(_kind, _since)
    converter(_onnx)(_attr)
    converter(_onnx, since=_since)(_input)


def _arg(op):
    def convert(ctx, node):
        return ctx.emit(op, ctx.input(0), axis=ctx.attr("axis", 0),
                        keepdims=bool(ctx.attr("keepdims", 1)),
                        select_last_index=bool(ctx.attr("select_last_index", 0)))
    return convert


converter("ArgMax")(_arg("argmax"))
converter("ArgMin")(_arg("argmin"))


def _cumprod(ctx, x, axis, exclusive, reverse):
    """Running products along a static axis, one multiply per position."""
    t = ctx.type(x)
    n = t.shape[axis]
    if not isinstance(n, int):
        raise ctx.fail(f"CumProd needs a static axis, got {t}")
    if reverse:
        x = ctx.emit("flip", x, axes=(axis,))
    parts = [ctx.emit("slice", x, starts=(k,), ends=(k + 1,), axes=(axis,)) for k in range(n)]
    if exclusive:
        shape = list(t.shape)
        shape[axis] = 1
        parts = [np.ones(shape, t.dtype.numpy)] + parts[:-1]
    run = [parts[0]]
    for p in parts[1:]:
        run.append(ctx.emit("multiply", run[-1], p))
    run = [ctx.value(v) if isinstance(v, np.ndarray) else v for v in run]
    y = ctx.emit("concat", *run, axis=axis) if n > 1 else run[0]
    return ctx.emit("flip", y, axes=(axis,)) if reverse else y


def _cumulative(op):
    def convert(ctx, node):
        """The axis input may be run-time data: each candidate axis is computed and the one
        it names is picked at run time (a rank-1 input has only one)."""
        x, r = ctx.input(0), ctx.type(ctx.input(0)).rank
        excl, rev = bool(ctx.attr("exclusive", 0)), bool(ctx.attr("reverse", 0))

        def along(a):
            if op == "cumsum":
                return ctx.emit("cumsum", x, axis=a, exclusive=excl, reverse=rev)
            return _cumprod(ctx, x, a, excl, rev)
        if ctx.is_const(1) or r == 1:
            axis = 0 if r == 1 else int(np.asarray(ctx.const(1, "axis")).reshape(-1)[0])
            return along(axis % r)
        axis = ctx.emit("reshape", ctx.emit("cast", ctx.input(1), dtype=DType.int64), shape=())
        axis = ctx.emit("where", ctx.emit("less", axis, np.int64(0)),
                        ctx.emit("add", axis, np.int64(r)), axis)
        out = along(r - 1)
        for a in range(r - 2, -1, -1):
            out = ctx.emit("where", ctx.emit("equal", axis, np.int64(a)), along(a), out)
        return out
    return convert


converter("CumSum", since=11)(_cumulative("cumsum"))
converter("CumProd", since=26)(_cumulative("cumprod"))
