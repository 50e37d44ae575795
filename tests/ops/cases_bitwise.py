"""Bitwise op cases: every integer width and signedness, broadcasting, and the shift edge
cases ONNX pins down (negative and too-large shift amounts, arithmetic right shift of
negative values, left shifts that overflow)."""
import zlib

import numpy as np

from aot.ir import DType

from .harness import OpCase


def full_range(rng, shape, dtype):
    info = np.iinfo(dtype.numpy)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype.numpy, endpoint=True)


def shift_amounts(rng, shape, dtype):
    """Mostly in range, some negative (signed) and some >= the bit width."""
    bits = dtype.itemsize * 8
    lo = -3 if dtype.is_signed else 0
    return rng.integers(lo, bits + 3, size=shape).astype(dtype.numpy)


def _pair(op, x_shape, s_shape, dtype, id):
    """x over the full range, shift amounts from `shift_amounts`."""
    rng = np.random.default_rng(zlib.crc32(f"{op}-{id}".encode()))
    dt = DType.of(dtype)
    return OpCase(op, [full_range(rng, x_shape, dt), shift_amounts(rng, s_shape, dt)], id=id)


CASES = []
for _op in ("bitwise_and", "bitwise_or", "bitwise_xor"):
    CASES += [
        OpCase(_op, [((3, 4), "int32"), ((3, 4), "int32")], gen=full_range, id="i32"),
        OpCase(_op, [((2, 3, 4), "uint64"), ((4,), "uint64")], gen=full_range, id="u64-bcast"),
        OpCase(_op, [(("N", 3), "uint8"), ((1, 3), "uint8")], gen=full_range, bind={"N": 2},
               id="u8-sym"),
        OpCase(_op, [((5,), "int16"), ((), "int16")], gen=full_range, id="i16-scalar"),
    ]
CASES += [
    OpCase("bitwise_not", [((3, 4), "int8")], gen=full_range, id="i8"),
    OpCase("bitwise_not", [((2, 5), "uint32")], gen=full_range, id="u32"),
    OpCase("bitwise_not", [(("N", 2), "int64")], gen=full_range, bind={"N": 3}, id="i64-sym"),
]
for _op in ("left_shift", "right_shift"):
    CASES += [_pair(_op, (4, 7), (4, 7), dt, dt) for dt in
              ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")]
    CASES += [
        _pair(_op, (2, 3, 4), (4,), "int32", "bcast"),
        OpCase(_op, [np.array([16, 4, 1, -8, -1, -128, 64], np.int8),
                     np.array([1, 2, 3, 1, 8, 1, 7], np.int8)], id="onnx-int8"),
    ]
