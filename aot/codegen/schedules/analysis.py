"""What the schedules need to know about a PrimFunc's blocks: which block is the
contraction (matmul, conv), which of its iterators index which operand, and the
static extents. Pure reads of the TIR; nothing here changes a schedule."""
from __future__ import annotations

import tvm_ffi

from ..tvm import tvm


def static(extent):
    """The extent as an int, or None when it is symbolic (the dynamic batch)."""
    return int(extent) if isinstance(extent, (int, tvm.tirx.IntImm)) else None


def vars_in(expr) -> set:
    """The TIR variables used in `expr`."""
    found = set()
    tvm_ffi.structural_walk(expr, (tvm.tirx.Var, found.add), order="post")
    return found


def region_vars(buffer_region) -> set:
    """The variables used in the start of each dimension of a buffer region."""
    out = set()
    for r in buffer_region.region:
        out |= vars_in(r.min)
    return out


def normalize(sch):
    """dlight's normal form: the blocks in order, each with its iterators and loops (one loop
    per iterator); None when the function has another form (then no rule here applies)."""
    from tvm.s_tir.dlight.analysis import normalize_prim_func

    return normalize_prim_func(sch)


def is_multiply_accumulate(stmt) -> bool:
    """`out = out + a * b` (possibly with casts): the body of matmul and conv blocks."""
    body = stmt.body
    if not isinstance(body, tvm.tirx.BufferStore) or not isinstance(body.value, tvm.tirx.Add):
        return False
    return any(isinstance(_strip_cast(x), tvm.tirx.Mul) for x in (body.value.a, body.value.b))


def _strip_cast(x):
    while isinstance(x, tvm.tirx.Cast):
        x = x.value
    return x
