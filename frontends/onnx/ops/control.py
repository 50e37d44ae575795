"""Control flow, where it is static: If with a condition known at import time becomes
the taken branch, converted in place; Scan is unrolled (its trip count is a static dim
of the scan inputs), each step converting the body with the step's slices bound."""
from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from ..registry import converter
from .common import norm_axis


def _run_body(ctx, body, bound: list):
    """Convert `body` once with its inputs bound to `bound`; its outputs, in order."""
    for vi, t in zip(body.input, bound):
        ctx.env[vi.name] = t
    for t in body.initializer:
        ctx.env[t.name] = numpy_helper.to_array(t)
    ctx.convert_nodes(body.node, ctx.opset)
    return [ctx.env[o.name] for o in body.output]


@converter("If")
def if_(ctx, node):
    cond = ctx.const(0, "cond (only an If whose condition is known at import time is supported)")
    branch = ctx.attr("then_branch") if bool(np.asarray(cond).reshape(-1)[0]) else ctx.attr("else_branch")
    return tuple(_run_body(ctx, branch, []))


def _step(ctx, x, axis: int, t: int):
    """x[..., t, ...] along axis, the axis dropped."""
    part = ctx.emit("slice", x, starts=(t,), ends=(t + 1,), axes=(axis,))
    return ctx.emit("squeeze", part, axes=(axis,))


def _stack(ctx, parts, axis: int):
    """The per-step outputs stacked along a new axis."""
    r = ctx.type(parts[0]).rank + 1
    axis = norm_axis(axis, r)
    return ctx.emit("concat", *[ctx.emit("expand_dims", p, axes=(axis,)) for p in parts],
                    axis=axis)


def _scan(ctx, body, states, scans, in_axes, in_dirs, out_axes, out_dirs):
    """Unroll one Scan over its (static) trip count: (final states, stacked scan outputs)."""
    lengths = {ctx.type(x).shape[a] for x, a in zip(scans, in_axes)}
    if len(lengths) != 1 or not isinstance(next(iter(lengths)), int):
        raise ctx.fail(f"the scan inputs need one static length along their axes, got {lengths}")
    steps = lengths.pop()
    n_state, collected = len(states), None
    for t in range(steps):
        xs = [_step(ctx, x, a, steps - 1 - t if d else t) for x, a, d in zip(scans, in_axes, in_dirs)]
        outs = _run_body(ctx, body, list(states) + xs)
        states = outs[:n_state]
        collected = [[o] for o in outs[n_state:]] if collected is None else \
            [c + [o] for c, o in zip(collected, outs[n_state:])]
    if steps == 0:
        raise ctx.fail("a Scan over zero steps is not supported")
    stacked = [_stack(ctx, c[::-1] if d else c, a) for c, a, d in zip(collected, out_axes, out_dirs)]
    return list(states), stacked


@converter("Scan", since=9)
def scan(ctx, node):
    body, m = ctx.attr("body"), ctx.attr("num_scan_inputs")
    ins = ctx.inputs()
    states, scans = ins[:len(ins) - m], ins[len(ins) - m:]
    n_out = len(body.output) - len(states)
    in_axes = [norm_axis(a, ctx.type(x).rank)
               for a, x in zip(ctx.attr("scan_input_axes") or [0] * m, scans)]
    in_dirs = ctx.attr("scan_input_directions") or [0] * m
    out_axes = ctx.attr("scan_output_axes") or [0] * n_out
    out_dirs = ctx.attr("scan_output_directions") or [0] * n_out
    final, stacked = _scan(ctx, body, states, scans, in_axes, in_dirs, out_axes, out_dirs)
    return tuple(final + stacked)


@converter("Scan", since=8)
def scan8(ctx, node):
    """Scan-8: axis 0 is a batch axis, scanned along axis 1; each batch row is unrolled."""
    if ctx.has_input(0):
        raise ctx.fail("Scan-8 sequence_lens is not supported (only full-length sequences)")
    body, m = ctx.attr("body"), ctx.attr("num_scan_inputs")
    ins = ctx.inputs()[1:]
    states, scans = ins[:len(ins) - m], ins[len(ins) - m:]
    dirs = ctx.attr("directions") or [0] * m
    n_out = len(body.output) - len(states)
    batch = ctx.type(ins[0]).shape[0]
    if not isinstance(batch, int):
        raise ctx.fail(f"Scan-8 needs a static batch dim, got {batch}")
    rows = []
    for b in range(batch):
        st = [_step(ctx, s, 0, b) for s in states]
        sc = [_step(ctx, x, 0, b) for x in scans]
        rows.append(_scan(ctx, body, st, sc, [0] * m, dirs, [0] * n_out, [0] * n_out))
    finals = [_stack(ctx, [r[0][k] for r in rows], 0) for k in range(len(states))]
    outs = [_stack(ctx, [r[1][k] for r in rows], 0) for k in range(n_out)]
    return tuple(finals + outs)
