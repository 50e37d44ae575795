"""quantize / dequantize / requantize and the integer kernels (aot/ops/quant.py).

Tolerance zero everywhere: the integer results are compared exactly by the registry test,
the float ones (dequantize) with rtol=atol=0. The inputs hold exact ties (k + 0.5 after the
division) to pin round-half-to-even, values past both ends of the range to pin saturation,
per-axis scales, and zero points at the extremes.
"""
import numpy as np

from .harness import OpCase


def _ties() -> np.ndarray:
    """x / 0.5 lands on k + 0.5 for many k, both signs, plus out-of-range values."""
    v = np.arange(-70, 70, dtype=np.float32) * 0.5 + 0.25
    return np.concatenate([v, np.float32([1e6, -1e6, 0.0, -0.0])]).reshape(4, 36)


def _u8(rng, shape, dtype):
    return rng.integers(0, 256, size=shape).astype(np.uint8)


def _s8(rng, shape, dtype):
    return rng.integers(-128, 128, size=shape).astype(np.int8)


def _acc(rng, shape, dtype):
    return rng.integers(-40000, 40000, size=shape).astype(np.int32)


_S8_W = np.random.default_rng(7).integers(-127, 128, size=(12, 5)).astype(np.int8)
_S8_K = np.random.default_rng(8).integers(-127, 128, size=(3, 3, 3, 4)).astype(np.int8)
_S8_DW = np.random.default_rng(9).integers(-127, 128, size=(3, 3, 1, 6)).astype(np.int8)
_F = dict(rtol=0, atol=0, grad=False)
_SCALE4 = np.float32([0.5, 0.25, 0.1, 2.0])
_ZP4 = np.int32([0, 10, -128, 127])

CASES = [
    # quantize: per tensor (ties, saturation), per axis, uint8 with a zero point, f16 input
    OpCase("quantize", [_ties(), ("const", np.float32(0.5)), ("const", np.int32(0))],
           {"dtype": "int8"}, id="ties-s8", **_F),
    OpCase("quantize", [_ties(), ("const", np.float32(0.5)), ("const", np.int32(128))],
           {"dtype": "uint8"}, id="ties-u8", **_F),
    OpCase("quantize", [(("N", 4), "float32"), ("const", _SCALE4), ("const", _ZP4)],
           {"dtype": "int8", "axis": 1}, bind={"N": 5}, id="per-axis",
           gen=lambda r, s, d: r.standard_normal(s) * 100, **_F),
    OpCase("quantize", [((2, 4, 3), "float16"), ("const", _SCALE4), ("const", _ZP4.clip(0, 255))],
           {"dtype": "uint8", "axis": 1}, id="f16-per-axis-u8",
           gen=lambda r, s, d: r.standard_normal(s) * 50, **_F),
    # dequantize: u8 and s8 per tensor, per axis, int32 accumulators
    OpCase("dequantize", [((3, 4), "uint8"), ("const", np.float32(0.037)), ("const", np.int32(131))],
           id="u8", gen=_u8, **_F),
    OpCase("dequantize", [((2, 3, 4), "int8"), ("const", _SCALE4), ("const", _ZP4)], {"axis": -1},
           id="s8-per-axis", gen=_s8, **_F),
    OpCase("dequantize", [((3, 4), "int32"), ("const", _SCALE4 * 1e-3), ("const", np.zeros(4, np.int32))],
           id="i32-per-axis", gen=_acc, **_F),
    # requantize: per tensor to u8, per axis to s8 (saturating both ways), exact ties
    OpCase("requantize", [((4, 6), "int32"), ("const", np.float32(0.01)), ("const", np.int32(3))],
           {"dtype": "uint8"}, id="u8", gen=_acc, **_F),
    OpCase("requantize", [(("N", 4), "int32"), ("const", _SCALE4 * 0.01), ("const", _ZP4)],
           {"dtype": "int8"}, bind={"N": 7}, id="s8-per-axis", gen=_acc, **_F),
    OpCase("requantize", [np.arange(-20, 20, dtype=np.int32).reshape(4, 10), ("const", np.float32(0.5)),
                          ("const", np.int32(0))], {"dtype": "int8"}, id="ties", **_F),
    # qmatmul: u8 with a zero point and s8 without, 2-D, 3-D and a symbolic batch
    OpCase("qmatmul", [((6, 12), "uint8"), ("const", _S8_W), ("const", np.int32(128))],
           id="u8", gen=_u8, **_F),
    OpCase("qmatmul", [(("N", 3, 12), "int8"), ("const", _S8_W), ("const", np.int32(0))],
           bind={"N": 2}, id="s8-batch", gen=_s8, **_F),
    OpCase("qmatmul", [(("N", 12), "uint8"), ("const", _S8_W), ("const", np.int32(255))],
           bind={"N": 9}, id="u8-symbolic", gen=_u8, **_F),
    # qconv2d: padded with the zero point, strided, and depthwise
    OpCase("qconv2d", [((2, 6, 6, 3), "uint8"), ("const", _S8_K), ("const", np.int32(77))],
           {"padding": (1, 1, 1, 1)}, id="u8-same", gen=_u8, **_F),
    OpCase("qconv2d", [(("N", 7, 7, 3), "int8"), ("const", _S8_K), ("const", np.int32(0))],
           {"strides": (2, 2)}, bind={"N": 2}, id="s8-strided", gen=_s8, **_F),
    OpCase("qconv2d", [((1, 5, 5, 6), "uint8"), ("const", _S8_DW), ("const", np.int32(5))],
           {"groups": 6, "padding": (1, 1, 1, 1)}, id="depthwise", gen=_u8, **_F),
]
