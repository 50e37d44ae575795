"""Converters, registered per ONNX domain, op type and the first opset their semantics hold for.

    @converter("Conv", since=1)
    def conv(ctx, node): ...

    @converter("LinearClassifier", since=1, domain=ML)
    def linear_classifier(ctx, node): ...

`lookup(op, opset, domain)` picks the converter with the largest `since <= opset`, where
`opset` is the model's version of that domain. The default domain is "" (its alias
"ai.onnx" reads the same). The table is explicit (no reflection), and `supported_ops()`
lists the (op, since) pairs of a domain for tests and docs.
"""
from __future__ import annotations

from typing import Callable, Optional

ML = "ai.onnx.ml"  # the classical-ML domain (scikit-learn models exported by skl2onnx)
_TABLE: dict[tuple[str, str], list[tuple[int, Callable]]] = {}


def _domain(domain: str) -> str:
    return "" if domain == "ai.onnx" else domain


def converter(*op_types: str, since: int = 1, domain: str = ""):
    """Register `fn(ctx, node)` for each op type of `domain` from that domain's opset `since` on."""
    def wrap(fn):
        for op in op_types:
            entries = _TABLE.setdefault((_domain(domain), op), [])
            if any(s == since for s, _ in entries):
                raise ValueError(f"converter for {domain or 'ai.onnx'}.{op} since {since} "
                                 "registered twice")
            entries.append((since, fn))
            entries.sort(key=lambda e: e[0])
        return fn
    return wrap


def _load() -> None:
    from . import ops  # noqa: F401  (registers every family)


def lookup(op_type: str, opset: int, domain: str = "") -> Optional[Callable]:
    _load()
    best = None
    for since, fn in _TABLE.get((_domain(domain), op_type), ()):
        if since <= opset:
            best = fn
    return best


def supported_ops(domain: str = "") -> list[tuple[str, int]]:
    """Every (op type, since opset) pair of `domain` with a converter, sorted."""
    _load()
    d = _domain(domain)
    return sorted((op, since) for (dom, op), entries in _TABLE.items() if dom == d
                  for since, _ in entries)
