"""Counter-based random numbers: `random_uniform(counter, like)`.

    u = random_uniform(counter: i64[], like: T[...]) {seed, dtype=float32} : dtype[like's shape]

Stateless: each element is a pure function of (seed, counter, its linear index),
so a training step draws fresh numbers by passing a counter that the graph's
`updates` advance, and the same (seed, counter) always gives the same numbers.
The shape comes from `like` (its values are never read), so a symbolic batch
works. The hash is integer-only uint32 arithmetic (the `lowbias32` finalizer of
Chris Wellons' hash-prospector), the same expression for the numpy reference
and the TVM kernel, so the two agree bit for bit:

    s  = mix(seed_lo ^ mix(seed_hi ^ GOLDEN))        (folded at compile time)
    k0 = mix(counter_lo ^ s)
    k1 = mix(counter_hi ^ k0 ^ GOLDEN)
    h  = mix(mix(index ^ k0) ^ k1)                    (two keyed rounds, a bijection of index)
    u  = (h >> (32 - m)) * 2^-m                       m = min(24, dtype's significand bits)

`u` is in [0, 1): m bits keep every value exactly representable (no rounding up
to 1.0 in float16). Not for cryptography. No gradient flows to either input.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aot.ir.opdef import register
from aot.ir.types import DType, TensorType

MASK32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B9
_MUL1, _MUL2 = 0x7FEB352D, 0x846CA68B
_BITS = {DType.float64: 24, DType.float32: 24, DType.float16: 11, DType.bfloat16: 8}


@dataclass(frozen=True)
class RandomUniformAttrs:
    seed: int
    dtype: DType = DType.float32


def mix(x, k):
    """lowbias32 on uint32 values: `k(c)` makes the constant c in x's world (numpy or TIR),
    so one function defines the hash for the reference and the kernel."""
    x = x ^ (x >> k(16))
    x = x * k(_MUL1)
    x = x ^ (x >> k(15))
    x = x * k(_MUL2)
    return x ^ (x >> k(16))


def _np_k(c):
    return np.uint32(c)


def _np_mix(x) -> np.ndarray:
    """mix on a uint32 array (arrays wrap silently; numpy scalars would warn on overflow)."""
    return mix(np.asarray(x, np.uint32).reshape(-1), _np_k)


def seed_key(seed: int) -> int:
    """The seed folded to one uint32 (any Python int: taken modulo 2**64)."""
    seed &= (1 << 64) - 1
    inner = _np_mix((seed >> 32) ^ GOLDEN)
    return int(_np_mix(np.uint32(seed & MASK32) ^ inner)[0])


def _bits(dtype: DType) -> int:
    return _BITS[dtype]


# ---------------------------------------------------------------- type rule

def _uniform_type(a: RandomUniformAttrs, counter: TensorType, like: TensorType) -> TensorType:
    if counter.dtype != DType.int64 or counter.rank != 0:
        raise ValueError(f"counter must be an i64 scalar, got {counter}")
    if a.dtype not in _BITS:
        raise ValueError(f"dtype must be one of {[d.short for d in _BITS]}, got {a.dtype.short}")
    return TensorType(like.shape, a.dtype)


# ---------------------------------------------------------------- reference

def _counter_keys(counter: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = counter & MASK32, (counter >> 32) & MASK32  # two's complement, as the kernel's casts
    k0 = _np_mix(np.uint32(lo) ^ np.uint32(s))
    k1 = _np_mix(np.uint32(hi) ^ k0 ^ np.uint32(GOLDEN))
    return k0, k1


def uniform_bits(seed: int, counter: int, size: int) -> np.ndarray:
    """The uint32 hash of elements 0..size-1: what `random_uniform` scales to [0, 1)."""
    k0, k1 = _counter_keys(int(counter), seed_key(seed))
    index = np.arange(size, dtype=np.uint64).astype(np.uint32)
    return mix(mix(index ^ k0, _np_k) ^ k1, _np_k)


def _uniform_ref(a: RandomUniformAttrs, counter, like):
    like = np.asarray(like)
    m = _bits(a.dtype)
    h = uniform_bits(a.seed, int(np.asarray(counter)), like.size) >> np.uint32(32 - m)
    out = h.astype(a.dtype.numpy) * a.dtype.numpy.type(2.0 ** -m)
    return out.reshape(like.shape)


# ---------------------------------------------------------------- lowering

def _uniform_lower(c, a: RandomUniformAttrs, counter, like):
    te, tirx = c.te, c.tirx
    s, m, dt = seed_key(a.seed), _bits(a.dtype), a.dtype.value

    def k(v):
        return tirx.const(v, "uint32")

    def kernel(ctr, x):
        n = ctr()
        hi = tirx.Cast("uint32", tirx.shift_right(n, tirx.const(32, "int64")))
        k0 = mix(tirx.Cast("uint32", n) ^ k(s), k)
        k1 = mix(hi ^ k0 ^ k(GOLDEN), k)

        def element(*idx):
            linear = tirx.const(0, "int64")
            for i, d in zip(idx, x.shape):
                linear = linear * tirx.Cast("int64", d) + tirx.Cast("int64", i)
            h = mix(mix(tirx.Cast("uint32", linear) ^ k0, k) ^ k1, k)
            return tirx.Cast(dt, h >> k(32 - m)) * tirx.const(2.0 ** -m, dt)
        return te.compute(x.shape, element, name="random_uniform")

    return c.emit_te(kernel, counter, like)


def _no_grad(b, attrs, inputs, outputs, grads):
    """The numbers do not depend on the values of `like`, and counters are integers."""
    return [None, None]


register("random_uniform", attrs=RandomUniformAttrs, infer=_uniform_type, num_inputs=2,
         reference=_uniform_ref, lower=_uniform_lower, vjp=_no_grad,
         doc="uniform [0, 1) of like's shape from a stateless hash of (seed, counter, index)")
