"""The numpy interpreter: runs a graph with each op's reference implementation.

It is the executable spec: compiled kernels, passes and gradient rules are all
checked against what this returns.
"""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from . import dims
from .graph import Graph, IRError, Value


def _check_feed(v: Value, arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if not v.type.matches(arr.shape):
        raise IRError(f"input %{v.name}: expected shape {v.type}, got {arr.shape}")
    if arr.dtype != v.type.dtype.numpy:
        raise IRError(f"input %{v.name}: expected dtype {v.type.dtype.value}, got {arr.dtype}")
    return arr


def interpret(graph: Graph, feeds: Mapping[str, np.ndarray],
              params: Optional[Mapping[str, np.ndarray]] = None,
              return_env: bool = False):
    """Run `graph` on numpy arrays. `feeds` by input name; `params` overrides param data by name.

    Returns the list of outputs, and with `return_env` also {Value: array} for every
    value (used by tests that look inside). Updates are in the result of `interpret_step`.
    """
    env: dict[Value, np.ndarray] = {}
    missing = [v.name for v in graph.inputs if v.name not in feeds]
    if missing:
        raise IRError(f"graph @{graph.name}: missing input(s) {missing}")
    for v in graph.inputs:
        env[v] = _check_feed(v, feeds[v.name])
    with dims.bound(_bind_symbols(graph, env)):
        return _run(graph, env, params, return_env)


def _bind_symbols(graph: Graph, env) -> dict:
    """{symbol: size} from the inputs, so references can evaluate symbolic target shapes."""
    bindings: dict = {}
    for _ in range(2):  # a second pass checks expressions whose symbols a later input bound
        for v in graph.inputs:
            bad = dims.bind(v.type.shape, env[v].shape, bindings)
            if bad:
                raise IRError(f"input %{v.name}: expected shape {v.type}, got {env[v].shape} ({bad})")
    return bindings


def _run(graph: Graph, env: dict, params, return_env: bool):
    params = params or {}
    for p in graph.params:
        data = params.get(p.name, p.data)
        if data is None:
            raise IRError(f"graph @{graph.name}: param %{p.name} has no data")
        env[p] = np.asarray(data)
    for node in graph.nodes:
        args = [env[v] for v in node.inputs]
        out = node.op.reference(node.attrs, *args)
        out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        for v, a in zip(node.outputs, out):
            a = np.asarray(a)
            if a.dtype != v.type.dtype.numpy:
                a = a.astype(v.type.dtype.numpy)
            env[v] = a
    outs = [env[v] for v in graph.outputs]
    return (outs, env) if return_env else outs


def interpret_step(graph: Graph, feeds, params=None):
    """Run once and return (outputs, {param name: new value}) for the graph's updates."""
    outs, env = interpret(graph, feeds, params, return_env=True)
    return outs, {p.name: env[v] for p, v in graph.updates.items()}
