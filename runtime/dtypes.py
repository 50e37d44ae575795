"""Dtype names as the artifact writes them, and their numpy dtypes.

The runtime cannot use `aot.ir.DType` (it never imports the IR), so it keeps
this small map of its own. bfloat16, float8, float4, int4/int2 and uint4/uint2
come from ml_dtypes (one byte per element for the sub-byte ones); safetensors
cannot hold them, so the weights file stores their raw bits as unsigned ints of
the same width and the manifest keeps the real dtype.
"""
from __future__ import annotations

import numpy as np

# dtype name -> the unsigned int type that stores its bits in safetensors
BITS_DTYPES = {"bfloat16": "uint16", "float8_e4m3fn": "uint8", "float8_e5m2": "uint8",
               "float8_e4m3fnuz": "uint8", "float8_e5m2fnuz": "uint8", "float8_e8m0fnu": "uint8",
               "float4_e2m1fn": "uint8", "int4": "uint8", "uint4": "uint8", "int2": "uint8",
               "uint2": "uint8"}


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype for an artifact dtype name (ml_dtypes only when one is asked for)."""
    if name in BITS_DTYPES:
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(name)


def dtype_name(dtype) -> str:
    """The artifact name of a numpy dtype ('float32', 'bfloat16', ...)."""
    return np.dtype(dtype).name


def to_storage(arr: np.ndarray) -> np.ndarray:
    """The array as safetensors can store it: bits for the dtypes it lacks, C order always."""
    arr = np.asarray(arr, order="C")
    bits = BITS_DTYPES.get(dtype_name(arr.dtype))
    return arr.view(bits) if bits else arr


def from_storage(raw: np.ndarray, name: str) -> np.ndarray:
    """Undo `to_storage`: reinterpret stored bits as `name` where needed."""
    return raw.view(numpy_dtype(name)) if name in BITS_DTYPES else raw


def storage_dtype(name: str) -> str:
    return BITS_DTYPES.get(name, name)
