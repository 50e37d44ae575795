"""Helpers several rules share."""
from __future__ import annotations

import os
import platform

from .analysis import static


def vector_lanes(target, stmt) -> int:
    """How many elements of the block's output dtype fill one SIMD register of the target."""
    dtype_bits = stmt.writes[0].source.dtype.bits if stmt.writes else 32
    return max(2, vector_bits(target) // dtype_bits)


def vector_bits(target) -> int:
    """The target's SIMD register width. On x86 asked as features (AVX-512: 512, AVX: 256,
    else SSE's 128): TVM 0.27's `llvm_get_vector_width` answers 512 for a haswell target
    on an AVX-512 host, and code built with 16-lane vectors for a machine that has 8 is
    split back by LLVM into register pairs."""
    from tvm.target.codegen import llvm_get_vector_width, target_has_features

    if is_x86(target):
        for feature, bits in (("avx512f", 512), ("avx", 256)):
            if target_has_features(feature, target):
                return bits
        return 128
    bits = llvm_get_vector_width(target)
    return bits if bits > 0 else 128


def is_x86(target) -> bool:
    """An x86 CPU target (an llvm target without a triple compiles for the host)."""
    triple = str(target.attrs.get("mtriple", "")) if hasattr(target, "attrs") else ""
    if triple:
        return triple.startswith(("x86_64", "i686", "i386"))
    return platform.machine().lower() in ("x86_64", "amd64", "i686", "i386")


def cores(target) -> int:
    """The target's core count (`num-cores`, set for the host), else this machine's."""
    n = target.attrs.get("num-cores") if hasattr(target, "attrs") else None
    return int(n) if n else (os.cpu_count() or 1)


def inline_epilogue(sch, main, blocks, padded=False):
    """Inline every spatial block except `main`, the blocks it reads from (padding stays one
    cheap pass) and the function's last block, into their consumers; return that last
    block (the epilogue: bias, batch norm, activation, residual add, computed on the tile
    while it is in registers), or None when `main` writes the output itself.

    `padded`: `main` computes a padded version of the output (its symbolic rows rounded up
    to whole tiles), so each tile covers at least what the epilogue needs of it.

    Per-channel blocks such as a batch norm's rsqrt are inlined too: recomputed per element
    they cost O(1) next to the K multiply-adds behind each output."""
    upstream = _upstream(sch, main)
    rest = [b.block_rv for b in blocks
            if not sch.get(b.block_rv).same_as(sch.get(main)) and sch.get(b.block_rv) not in upstream]
    if not rest or not any(sch.get(main).same_as(x) for x in _upstream(sch, rest[-1])):
        return None
    for b in rest[:-1]:
        sch.compute_inline(b)
    return rest[-1] if padded or _same_shape(sch, rest[-1], main) else None


def _same_shape(sch, a, b) -> bool:
    """Do the two blocks write buffers of one shape? Only then can the epilogue be computed
    tile by tile (reverse_compute_at covers what the tile produced, nothing past it, so a
    padded or otherwise reshaped output would be left partly unwritten)."""
    from tvm.sym.analyzer import Analyzer

    x, y = sch.get(a).writes[0].source.shape, sch.get(b).writes[0].source.shape
    return len(x) == len(y) and all(Analyzer().can_prove_equal(i, j) for i, j in zip(x, y))


def _upstream(sch, block) -> set:
    """The statements of every block `block` depends on, transitively."""
    seen, todo = set(), list(sch.get_producers(block))
    while todo:
        b = todo.pop()
        stmt = sch.get(b)
        if stmt not in seen:
            seen.add(stmt)
            todo.extend(sch.get_producers(b))
    return seen
