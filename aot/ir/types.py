"""Tensor types: a dtype and a shape whose dims are ints, symbol names ("N") or
symbolic expressions in canonical form ("2*N", "seq+1"; see `aot.ir.dims`).

Every value in a graph carries one of these, fixed when the value is made, so
passes and codegen never have to guess a shape.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Union

import numpy as np

from . import dims as _dims

Dim = Union[int, str]
Shape = tuple[Dim, ...]


class DType(str, Enum):
    """Element types. The value is the canonical (numpy/TVM) name."""

    float64 = "float64"
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    float8_e4m3 = "float8_e4m3fn"
    float8_e5m2 = "float8_e5m2"
    float8_e4m3fnuz = "float8_e4m3fnuz"
    float8_e5m2fnuz = "float8_e5m2fnuz"
    float8_e8m0 = "float8_e8m0fnu"
    float4_e2m1 = "float4_e2m1fn"
    int64 = "int64"
    int32 = "int32"
    int16 = "int16"
    int8 = "int8"
    int4 = "int4"
    int2 = "int2"
    uint64 = "uint64"
    uint32 = "uint32"
    uint16 = "uint16"
    uint8 = "uint8"
    uint4 = "uint4"
    uint2 = "uint2"
    bool = "bool"

    def __str__(self) -> str:
        return _SHORT[self]

    @property
    def short(self) -> str:
        return _SHORT[self]

    @property
    def is_float(self) -> bool:
        return self.value.startswith(("float", "bfloat"))

    @property
    def is_int(self) -> bool:
        return self.value.startswith(("int", "uint"))

    @property
    def is_signed(self) -> bool:
        return not self.value.startswith(("uint", "bool"))

    @property
    def numpy(self) -> np.dtype:
        """The numpy dtype (bfloat16 and float8 come from ml_dtypes)."""
        if self.value in _ML_DTYPES:
            import ml_dtypes

            return np.dtype(getattr(ml_dtypes, _ML_DTYPES[self.value]))
        return np.dtype(self.value)

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    @classmethod
    def of(cls, x: "DType | str | np.dtype | type") -> "DType":
        """Accepts a DType, its name ("float32"), its short name ("f32") or a numpy dtype."""
        if isinstance(x, DType):
            return x
        if isinstance(x, str) and x in _FROM_SHORT:
            return _FROM_SHORT[x]
        name = x if isinstance(x, str) else np.dtype(x).name
        for d in cls:
            if d.value == name:
                return d
        raise ValueError(f"unknown dtype {x!r}")


# the dtypes numpy lacks: ml_dtypes holds each in one byte (int4/int2 too, not packed)
_ML_DTYPES = {n: n for n in ("bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz",
                             "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn",
                             "int4", "uint4", "int2", "uint2")}
_SHORT = {
    DType.float64: "f64", DType.float32: "f32", DType.float16: "f16", DType.bfloat16: "bf16",
    DType.float8_e4m3: "f8e4m3", DType.float8_e5m2: "f8e5m2",
    DType.float8_e4m3fnuz: "f8e4m3fnuz", DType.float8_e5m2fnuz: "f8e5m2fnuz",
    DType.float8_e8m0: "f8e8m0", DType.float4_e2m1: "f4e2m1",
    DType.int4: "i4", DType.int2: "i2", DType.uint4: "u4", DType.uint2: "u2",
    DType.int64: "i64", DType.int32: "i32", DType.int16: "i16", DType.int8: "i8",
    DType.uint64: "u64", DType.uint32: "u32", DType.uint16: "u16", DType.uint8: "u8",
    DType.bool: "bool",
}
_FROM_SHORT = {v: k for k, v in _SHORT.items()}


def _check_dim(d: Dim) -> Dim:
    if isinstance(d, (bool, np.bool_)):
        raise ValueError(f"bad dim {d!r}")
    if isinstance(d, (int, np.integer)):
        if d < 0:
            raise ValueError(f"negative dim {d}")
        return int(d)
    if isinstance(d, str) and d.isidentifier():
        return d
    if isinstance(d, str):
        n = _dims.normalize(d)  # an expression: its canonical string, or the int it folds to
        return _check_dim(n) if isinstance(n, int) else n
    raise ValueError(f"a dim is an int >= 0, a symbol name or an expression, got {d!r}")


@dataclass(frozen=True)
class TensorType:
    """shape: ints and symbol names; dtype: a DType."""

    shape: Shape
    dtype: DType

    def __init__(self, shape, dtype="float32"):
        object.__setattr__(self, "shape", tuple(_check_dim(d) for d in shape))
        object.__setattr__(self, "dtype", DType.of(dtype))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(d for d in self.shape if isinstance(d, str))

    @property
    def size(self) -> int:
        """Number of elements; only for static shapes."""
        if not self.is_static:
            raise ValueError(f"{self} has symbolic dims")
        return int(np.prod(self.shape, dtype=np.int64))

    def with_shape(self, shape) -> "TensorType":
        return TensorType(shape, self.dtype)

    def with_dtype(self, dtype) -> "TensorType":
        return TensorType(self.shape, dtype)

    def matches(self, shape: tuple[int, ...], dtype=None) -> bool:
        """Does a concrete array shape (and dtype) fit this type? A symbol matches any size
        (once per type: N at two places must be one size); an expression must evaluate to it."""
        if len(shape) != self.rank:
            return False
        if dtype is not None and DType.of(dtype) != self.dtype:
            return False
        return _dims.bind(self.shape, shape, {}) is None

    def __str__(self) -> str:
        return f"{self.dtype.short}[{','.join(str(d) for d in self.shape)}]"

    def __repr__(self) -> str:
        return f"TensorType({self})"


def format_shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"
