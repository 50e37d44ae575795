"""Signatures of entry points, and the checks that run on inputs before any kernel does.

Shapes hold ints, symbol names ("N") and expressions over them ("2*N", "S+1");
a symbol binds to the size the first input gives it, and every later use must
agree, so a batch of 3 images with a batch of 4 labels is refused with both sizes
named. An expression is checked once its symbols are bound (it may come before
the input that binds them). The runtime imports no compiler code, so expressions
are evaluated here with Python's own parser, limited to ints, names, + - * // ().
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .dtypes import numpy_dtype
from .errors import InputError

_PYTHON_VALUES = (list, tuple, int, float, bool)


def format_shape(shape) -> str:
    """(N, 784) style; one-dim shapes keep numpy's trailing comma: (4,)."""
    dims = ", ".join(str(d) for d in shape)
    return f"({dims},)" if len(shape) == 1 else f"({dims})"


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: its name, shape (ints and symbols) and dtype name."""

    name: str
    shape: tuple
    dtype: str

    @classmethod
    def from_json(cls, d: dict) -> "TensorSpec":
        return cls(d["name"], tuple(d["shape"]), d["dtype"])

    def to_json(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    def __str__(self) -> str:
        return f"{self.name}: {format_shape(self.shape)} {self.dtype}"


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [s.name for s in self.outputs]

    def __str__(self) -> str:
        ins = ", ".join(map(str, self.inputs))
        outs = ", ".join(map(str, self.outputs))
        return f"({ins}) -> ({outs})"


def check_feeds(inputs: tuple[TensorSpec, ...], feeds: Mapping) -> list[np.ndarray]:
    """The feeds as arrays in input order, or InputError naming the first that does not fit."""
    names = [s.name for s in inputs]
    for key in feeds:
        if key not in names:
            raise InputError(f"unknown input {key!r}; the inputs are {', '.join(names) or 'none'}")
    missing = [str(s) for s in inputs if s.name not in feeds]
    if missing:
        raise InputError(f"missing input(s): {'; '.join(missing)}")
    bound: dict[str, tuple[int, str]] = {}  # symbol -> (size, input that set it)
    arrays = [check_array(s, feeds[s.name], bound) for s in inputs]
    for spec, arr in zip(inputs, arrays):  # expressions whose symbols a later input bound
        for dim, size in zip(spec.shape, arr.shape):
            if _is_expr(dim):
                _check_expr(spec, dim, size, bound, f"input {spec.name!r}", strict=True)
    return arrays


def check_array(spec: TensorSpec, value, bound: dict, what: str = "input") -> np.ndarray:
    """One value against its spec: Python values are cast, arrays must match the dtype exactly."""
    arr = _as_array(spec, value, what)
    got = f"{format_shape(arr.shape)} {arr.dtype.name}"
    expected = f"{format_shape(spec.shape)} {spec.dtype}"
    if arr.dtype != numpy_dtype(spec.dtype):
        raise InputError(f"{what} {spec.name!r}: expected shape {expected}, got {got} "
                         f"(dtype mismatch: convert with .astype({spec.dtype!r}))")
    if len(arr.shape) != len(spec.shape):
        raise InputError(f"{what} {spec.name!r}: expected shape {expected}, got {got} "
                         f"(rank {len(spec.shape)} vs {arr.ndim})")
    for dim, size in zip(spec.shape, arr.shape):
        if _is_expr(dim):
            _check_expr(spec, dim, size, bound, f"{what} {spec.name!r}", strict=False)
            continue
        _check_dim(spec, dim, size, bound, f"{what} {spec.name!r}: expected shape {expected}, got {got}")
    return arr


def _is_expr(dim) -> bool:
    return isinstance(dim, str) and not dim.isidentifier()


def _check_expr(spec: TensorSpec, dim: str, size: int, bound: dict, what: str, strict: bool) -> None:
    """An expression dim against the size given. With an unbound symbol it waits (not
    strict) or fails, since nothing else says what the symbol is."""
    tree = ast.parse(dim, mode="eval").body
    names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)})
    unbound = [n for n in names if n not in bound]
    if unbound and not strict:
        return
    if unbound:
        raise InputError(f"{what}: dim {dim} needs symbol(s) {', '.join(unbound)}, which no input "
                         f"binds")
    want = _eval(tree, {n: bound[n][0] for n in names})
    if want != size:
        sources = ", ".join(f"{n}={bound[n][0]} from input {bound[n][1]!r}" for n in names)
        raise InputError(f"{what}: dim {dim} must be {want} ({sources}), got {size} "
                         f"(shape {format_shape(spec.shape)})")


_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.FloorDiv: lambda a, b: a // b}


def _eval(node, values: dict) -> int:
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, values)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left, values), _eval(node.right, values))
    raise InputError(f"bad dim expression in the signature: {ast.unparse(node)!r}")


def _check_dim(spec: TensorSpec, dim, size: int, bound: dict, msg: str) -> None:
    if isinstance(dim, int):
        if dim != size:
            raise InputError(msg)
        return
    if dim not in bound:
        bound[dim] = (size, spec.name)
        return
    want, source = bound[dim]
    if want != size:
        raise InputError(f"{msg} ({dim} is {want} from input {source!r})")


def _as_array(spec: TensorSpec, value, what: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    try:
        if isinstance(value, _PYTHON_VALUES):
            return np.asarray(value, dtype=numpy_dtype(spec.dtype))
        return np.asarray(value)
    except (ValueError, TypeError) as e:
        raise InputError(f"{what} {spec.name!r}: cannot convert {type(value).__name__} to a "
                         f"{spec.dtype} array ({e})") from None
