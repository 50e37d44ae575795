"""Exact casts from and to the 8-bit floats (aot/ops/float8.py): every bit pattern read back,
and rounding ties, subnormals, overflow, infinities, NaN and signed zeros written, from each
source width. Tolerance zero: the reference is ml_dtypes' astype."""
import numpy as np

from aot.ir.types import DType

from .harness import OpCase

_F8 = [DType.float8_e4m3, DType.float8_e5m2, DType.float8_e4m3fnuz, DType.float8_e5m2fnuz]


def _all_patterns(dt: DType) -> np.ndarray:
    return np.arange(256, dtype=np.uint8).view(dt.numpy).reshape(16, 16)


def _edges() -> np.ndarray:
    """Ties at several scales (odd multiples of half an ulp), the format limits, specials."""
    ties = np.array([k * 2.0 ** e for e in (-20, -17, -10, -9, -7, -3, 0, 4) for k in (1, 3, 5, 17, 19)])
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 448, 464, 465, 480, -500, 57344, 61439, 61440,
               1e6, -1e-30, 240, 247, 248, 1.0625, 1.1875]
    v = np.concatenate([ties, -ties, special, np.random.default_rng(3).standard_normal(44) * 30])
    return v.reshape(8, -1)


CASES = []
for _dt in _F8 + [DType.float8_e8m0]:
    CASES.append(OpCase("cast", [_all_patterns(_dt)], {"dtype": "float32"}, id=f"{_dt.short}-f32",
                        rtol=0, atol=0, grad=False))
for _dt in _F8:
    for _src in ("float32", "float16", "float64"):
        with np.errstate(over="ignore"):  # 1e6 is inf in float16, on purpose
            _x = _edges().astype(_src)
        CASES.append(OpCase("cast", [_x], {"dtype": _dt.value},
                            id=f"{np.dtype(_src).name}-{_dt.short}", rtol=0, atol=0, grad=False))
CASES += [
    OpCase("cast", [np.arange(-300, 300, 5, dtype=np.int32).reshape(4, 30)], {"dtype": "float8_e4m3fn"},
           id="i32-f8e4m3", rtol=0, atol=0, grad=False),
    OpCase("cast", [_all_patterns(DType.float8_e4m3)], {"dtype": "float8_e5m2fnuz"}, id="f8e4m3-f8e5m2fnuz",
           rtol=0, atol=0, grad=False),
    OpCase("cast", [_all_patterns(DType.float8_e5m2)], {"dtype": "float16"}, id="f8e5m2-f16",
           rtol=0, atol=0, grad=False),
]
