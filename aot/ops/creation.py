"""arange (ONNX Range with constant start, limit and delta): a 1-D tensor of evenly spaced
values, made from attributes alone (no inputs).

Its length is max(ceil((limit - start) / delta), 0); element i is start + i * delta,
computed in float64 (int64 for integer dtypes) and then cast, as onnx's reference does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aot.ir.opdef import register
from aot.ir.types import DType, TensorType


@dataclass(frozen=True)
class ArangeAttrs:
    start: float
    limit: float
    delta: float = 1.0
    dtype: DType = DType.float32


def _length(a: ArangeAttrs) -> int:
    return max(math.ceil((a.limit - a.start) / a.delta), 0)


def _arange_type(a: ArangeAttrs) -> TensorType:
    if a.delta == 0:
        raise ValueError("delta must not be 0")
    if a.dtype == DType.bool:
        raise ValueError("dtype must be numeric, got bool")
    if a.dtype.is_int and not all(float(v).is_integer() for v in (a.start, a.limit, a.delta)):
        raise ValueError(f"start, limit and delta must be whole numbers for {a.dtype.short}, "
                         f"got {a.start}, {a.limit}, {a.delta}")
    return TensorType((_length(a),), a.dtype)


def _wide(a: ArangeAttrs) -> str:
    return "int64" if a.dtype.is_int else "float64"


def _arange_ref(a: ArangeAttrs):
    wide = np.dtype(_wide(a))
    i = np.arange(_length(a), dtype=wide)
    return (wide.type(a.start) + i * wide.type(a.delta)).astype(a.dtype.numpy)


def _arange_lower(c, a: ArangeAttrs):
    te, tirx, wide = c.te, c.tirx, _wide(a)
    cast = int if a.dtype.is_int else float
    start, delta = tirx.const(cast(a.start), wide), tirx.const(cast(a.delta), wide)

    def fn():
        return te.compute((_length(a),), lambda i: tirx.Cast(a.dtype.value, start + tirx.Cast(wide, i) * delta),
                          name="arange")

    return c.emit_te(fn)


register("arange", attrs=ArangeAttrs, infer=_arange_type, num_inputs=0, reference=_arange_ref,
         lower=_arange_lower, doc="ONNX Range with constant bounds: start + i * delta for i < length")
