"""Signatures of entry points, and the checks that run on inputs before any kernel does.

Shapes hold ints and symbol names ("N"); a symbol binds to the size the first
input gives it, and every later use must agree, so a batch of 3 images with a
batch of 4 labels is refused with both sizes named.
"""
from __future__ import annotations

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
    return [check_array(s, feeds[s.name], bound) for s in inputs]


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
        _check_dim(spec, dim, size, bound, f"{what} {spec.name!r}: expected shape {expected}, got {got}")
    return arr


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
