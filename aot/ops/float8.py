"""Exact lowering of casts from and to the 8-bit float types.

TVM 0.27's LLVM code for float8 conversions is wrong for zeros, subnormals, NaN and
infinity (f8e4m3fn 0 reads back as 2**-7, NaN as 480), and it does not know the FNUZ
layouts at all. So the `cast` lowering goes through the bits instead:

- from an 8-bit float: reinterpret as uint8 and look the value up in a 256-entry float32
  table built from ml_dtypes (float32 holds every 8-bit float exactly);
- to an 8-bit float: round half to even to the format's grid in float32/float64
  arithmetic (scaling by powers of two only, so every step is exact), then assemble the
  sign, exponent and mantissa bits, and reinterpret the byte. Overflow gives NaN, or
  infinity where the format has one (e5m2), exactly as ml_dtypes' astype does; saturation
  is the caller's business (the ONNX importer clips first).
"""
from __future__ import annotations

import numpy as np

from aot.ir.types import DType

# 8-bit floats whose casts are lowered here; (has inf, unsigned-zero-only NaN=0x80)
FLOAT8 = {DType.float8_e4m3: (False, False), DType.float8_e5m2: (True, False),
          DType.float8_e4m3fnuz: (False, True), DType.float8_e5m2fnuz: (False, True)}
# from-direction only: the table works for any one-byte float
FLOAT8_READ = set(FLOAT8) | {DType.float8_e8m0}

# the float type the rounding runs in, and its (mantissa bits, exponent bias, bits type)
_WORK = {"float32": (23, 127, "uint32"), "float64": (52, 1023, "uint64")}


def value_table(dtype: DType) -> np.ndarray:
    """float32 value of each of the 256 bit patterns of a one-byte float type."""
    return np.arange(256, dtype=np.uint8).view(dtype.numpy).astype(np.float32)


def lower_from_float8(c, x, src: DType):
    """x (an 8-bit float tensor) as float32, through the bit-pattern table."""
    te, tirx = c.te, c.tirx
    table = c.relax.const(value_table(src), "float32")

    def fn(v, t):
        return te.compute(v.shape, lambda *i: t[tirx.reinterpret("uint8", v(*i)).astype("int32")],
                          name="f8_to_f32")

    return c.emit_te(fn, x, table)


def lower_to_float8(c, x, src: DType, dst: DType):
    """x (float32 or float64) rounded half to even into dst's bits (see the module doc)."""
    import ml_dtypes

    te, tirx = c.te, c.tirx
    info = ml_dtypes.finfo(dst.numpy)
    m, emin, fmax = int(info.nmant), int(info.minexp), float(info.max)
    has_inf, fnuz = FLOAT8[dst]
    wd = src.value
    wm, wbias, wbits = _WORK[wd]
    bias8 = 1 - emin  # the exponent field of the smallest normal is 1
    nan_bits = 0x80 if fnuz else 0x7F
    over_bits = 0x7C if has_inf else nan_bits

    def const(v, dt="int32"):
        return tirx.const(v, dt)

    def pow2(k):
        """2**k in the working float type, k an int32 expression within its normal range."""
        return tirx.reinterpret(wd, ((k + wbias).astype(wbits) << const(wm, wbits)))

    def exponent(a):
        """floor(log2(a)) for a normal a > 0 (subnormals give the format's minimum - 1)."""
        field = (tirx.reinterpret(wbits, a) >> const(wm, wbits)) & const(0x7FF if wd == "float64" else 0xFF, wbits)
        return field.astype("int32") - const(wbias)

    def one(v):
        a = tirx.abs(v)
        neg = tirx.reinterpret(wbits, v) >> const(63 if wd == "float64" else 31, wbits)
        e = tirx.max(exponent(a), const(emin))
        ulp_exp = e - const(m)
        q = tirx.nearbyint(a * pow2(-ulp_exp)) * pow2(ulp_exp)  # exact: powers of two only
        eq = tirx.max(exponent(q), const(emin))
        normal = q >= pow2(const(emin))
        mant = tirx.Select(normal, q * pow2(const(m) - eq) - tirx.const(2 ** m, wd), q * pow2(const(m - emin)))
        field = tirx.Select(normal, eq + const(bias8), const(0))
        mag = (field << const(m)) | mant.astype("int32")
        mag = tirx.Select(q > tirx.const(fmax, wd), const(over_bits), mag)
        sign_on = neg.astype("int32") == const(1)
        if fnuz:  # no negative zero; NaN (0x80) is its own sign
            sign_on = tirx.all(sign_on, mag != const(0))
        bits = tirx.Select(sign_on, mag | const(0x80), mag)
        bits = tirx.Select(tirx.isnan(v), const(nan_bits), bits)
        return tirx.reinterpret(dst.value, bits.astype("uint8"))

    def fn(v):
        return te.compute(v.shape, lambda *i: one(v(*i)), name="to_f8")

    return c.emit_te(fn, x)
