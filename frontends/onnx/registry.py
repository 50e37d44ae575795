"""Converters, registered per ONNX op type and the first opset their semantics hold for.

    @converter("Conv", since=1)
    def conv(ctx, node): ...

`lookup(op, opset)` picks the converter with the largest `since <= opset`. The table is
explicit (no reflection), and `supported_ops()` lists the (op, since) pairs for tests
and docs.
"""
from __future__ import annotations

from typing import Callable, Optional

_TABLE: dict[str, list[tuple[int, Callable]]] = {}


def converter(*op_types: str, since: int = 1):
    """Register `fn(ctx, node)` for each op type from opset `since` on."""
    def wrap(fn):
        for op in op_types:
            entries = _TABLE.setdefault(op, [])
            if any(s == since for s, _ in entries):
                raise ValueError(f"converter for {op} since {since} registered twice")
            entries.append((since, fn))
            entries.sort(key=lambda e: e[0])
        return fn
    return wrap


def _load() -> None:
    from . import ops  # noqa: F401  (registers every family)


def lookup(op_type: str, opset: int) -> Optional[Callable]:
    _load()
    best = None
    for since, fn in _TABLE.get(op_type, ()):
        if since <= opset:
            best = fn
    return best


def supported_ops() -> list[tuple[str, int]]:
    """Every (op type, since opset) pair with a converter, sorted."""
    _load()
    return sorted((op, since) for op, entries in _TABLE.items() for since, _ in entries)
