"""Memory-bound kernels: elementwise/broadcast/transpose/concat (injective), reductions,
pooling, softmax and normalisations (a few reductions feeding elementwise blocks).

Each is limited by how fast it streams memory, so the schedule only has to keep every core
streaming with whole vectors:

    parallel for rows (the leading output axes all blocks share; fused):
        each block's part of the row, computed at the row (compute_at):
            injective blocks: innermost contiguous axis vectorized
            reductions over outer axes (pooling windows, NHWC global pooling, softmax over
            a non-last axis): reduction loops outside, the contiguous output axis inside
            and vectorized (windows unrolled)
            reductions over the contiguous axis (softmax / layer norm over the last axis):
            a vector of partial results (rfactor), reduced once at the end
- cheap producers (padding, a broadcast add) are inlined into their consumers, except a
  block that feeds a reduction and something else (softmax's exp: computed once);
- a row whose last axis is the whole output row (the global pool, a single reduction) is
  split in vector-sized chunks so there is something to parallelise over at batch 1;
- a small kernel is not parallelised (the thread pool's wake-up costs more than it saves).
"""
from __future__ import annotations

from ..tvm import tvm
from .analysis import normalize, static, vars_in
from .common import vector_lanes

# Below this many elements (static dims; a symbolic batch counts as 1) a kernel runs on one
# thread: a parallel launch costs a few microseconds, what ~16K floats take to stream.
PARALLEL_MIN_ELEMENTS = 1 << 14


def schedule_injective(sch, target) -> bool:
    """Elementwise, broadcast, transpose, concat, pad, gather: every block spatial. The
    producers are inlined; what remains runs parallel over its outer loops, vectorized
    along the last."""
    blocks = normalize(sch)
    if not blocks or any(not b.is_injective() for b in blocks):
        return False
    _inline_producers(sch, blocks)
    blocks = normalize(sch) or []
    parallel = _large(sch, blocks)
    for b in blocks:
        loops = sch.get_loops(b.block_rv)
        if loops:
            _parallel_vectorize(sch, b.block_rv, loops, vector_lanes(target, sch.get(b.block_rv)),
                                parallel)
    return True


def schedule_reduction(sch, target) -> bool:
    """Reductions with their elementwise producers and consumers (sum/mean/max, pooling,
    softmax, log-softmax, layer norm, global pooling), computed row by row in parallel."""
    blocks = normalize(sch)
    if not blocks or all(b.is_injective() for b in blocks) or any(_is_contraction(sch, b) for b in blocks):
        return False
    if any(len(sch.get(b.block_rv).writes) != 1 for b in blocks):
        return False  # argmax-style tuple reductions: their init does not survive compute_at
    _inline_producers(sch, blocks)
    blocks = normalize(sch)
    if not blocks:
        return False
    last = blocks[-1].block_rv
    lanes = vector_lanes(target, sch.get(last))
    rows = _shared_rows(sch, blocks)
    if rows == 0:
        return False
    row_loops = list(sch.get_loops(last)[:rows])
    chunk = _row_chunk(sch, blocks, rows, lanes)
    if chunk is not None:  # the chunk's loop goes inside the row, the rest stays in it
        row_loops[-1] = sch.split(row_loops[-1], [None, chunk])[0]
    par = sch.fuse(*row_loops) if len(row_loops) > 1 else row_loops[0]
    if _large(sch, blocks) and static(sch.get(par).extent) != 1:
        sch.parallel(par)
    kinds = {}
    for b in blocks:
        kinds[b.block_rv] = "injective" if b.is_injective() else (
            "row" if _reduction_is_contiguous(sch, b) else "outer")
    order = []
    for b in blocks:
        partial = _rfactor_row_reduction(sch, b, lanes) if kinds[b.block_rv] == "row" else None
        if partial is not None:
            kinds[partial] = "outer"  # its vector of partial results is the output axis
            order.append(partial)
        order.append(b.block_rv)
    for blk in reversed(order[:-1]):
        if not any(sch.get(lp).same_as(sch.get(par)) for lp in sch.get_loops(blk)):
            sch.compute_at(blk, par, preserve_unit_loops=True)
    for blk in order:
        if kinds[blk] == "outer" and blk is not order[-1] and _is_partial(sch, blk):
            sch.set_scope(blk, 0, "local")  # one vector of registers per row
        _schedule_in_row(sch, blk, par, lanes, kinds[blk])
    return True


def _is_partial(sch, block) -> bool:
    return sch.get(block).name_hint.endswith("_rf")


def _rfactor_row_reduction(sch, b, lanes):
    """A reduction along the contiguous axis (the row of a softmax or a layer norm) becomes
    `lanes` partial results accumulated as one vector, reduced to one at the end (rfactor,
    done before the block moves under the row loop: under a shared loop TVM's rfactor
    fails). A short or odd row stays scalar (None)."""
    if b.iters[-1].kind != "R":
        return None
    extent = static(b.iters[-1].dom)
    if extent is None or extent < 2 * lanes or extent % lanes:
        return None
    _, inner = sch.split(sch.get_loops(b.block_rv)[-1], [None, lanes])
    ndim = len(sch.get(b.block_rv).writes[0].source.shape)
    return sch.rfactor(inner, factor_axis=ndim)  # a row's partial results: contiguous


def _is_contraction(sch, b) -> bool:
    from .analysis import is_multiply_accumulate

    stmt = sch.get(b.block_rv)
    return not b.is_injective() and len(stmt.reads) >= 3 and is_multiply_accumulate(stmt)


def _inline_producers(sch, blocks):
    """Inline every spatial block but the last into its consumers. Two kinds stay, to be
    computed once rather than per use: a block read by a reduction and by another block
    (softmax's exp), and a costly block smaller than a consumer (a layer norm's per-row
    rsqrt, a batch norm's per-channel one)."""
    for b in blocks[:-1]:
        if not b.is_injective():
            continue
        consumers = sch.get_consumers(b.block_rv)
        feeds_reduction = any(_reduces(sch, c) for c in consumers)
        if feeds_reduction and len(consumers) > 1:
            continue
        if _costly(sch.get(b.block_rv)) and any(_smaller(sch, b.block_rv, c) for c in consumers):
            continue
        try:
            sch.compute_inline(b.block_rv)
        except tvm.s_tir.schedule.ScheduleError:
            continue


def _costly(stmt) -> bool:
    """Does the block compute a math call (exp, sqrt, rsqrt, tanh...) or a division?"""
    import tvm_ffi

    found = []
    tvm_ffi.structural_walk(stmt.body, (tvm.ir.Call, found.append), order="post")
    tvm_ffi.structural_walk(stmt.body, (tvm.tirx.Div, found.append), order="post")
    return bool(found)


def _smaller(sch, producer, consumer) -> bool:
    """Does `producer` write fewer elements (static dims) than `consumer`?"""
    def size(block):
        n = 1
        for d in sch.get(block).writes[0].source.shape:
            n *= static(d) or 1
        return n

    return size(producer) < size(consumer)


def _reduces(sch, block) -> bool:
    return any(int(iv.iter_type) == 2 for iv in sch.get(block).iter_vars)


def _shared_rows(sch, blocks) -> int:
    """How many leading loops of the last block every block shares: spatial iterators of
    equal extent, indexing each block's output at the same position (a layer norm's
    per-row mean has shape (N, T, 1): it shares N and T, not the last axis)."""
    from tvm.sym.analyzer import Analyzer

    ana = Analyzer()
    ref = blocks[-1].iters
    count = len(ref)
    for b in blocks:
        n = 0
        while (n < min(count, len(b.iters)) and b.iters[n].kind == "S" and ref[n].kind == "S"
               and ana.can_prove_equal(b.iters[n].dom, ref[n].dom)):
            n += 1
        count = n
    return count


def _row_chunk(sch, blocks, rows, lanes):
    """When the rows cover the last block's whole output (a single reduction: pooling,
    global pooling, sum over outer axes), the innermost row axis is the contiguous one:
    split it in chunks of `lanes` so each row computes whole vectors (and, at batch 1, there
    are several chunks to run in parallel). None when the row axis is not split."""
    spatial = [it for it in blocks[-1].iters if it.kind == "S"]
    if rows != len(spatial) or any(_reduction_is_contiguous(sch, b) for b in blocks):
        return None
    extent = static(spatial[-1].dom)
    if extent is None or extent < 2:
        return None
    return _vector_width(extent, lanes)


def _vector_width(extent, lanes):
    """The vector for a contiguous axis of `extent`: whole SIMD registers where it divides,
    a short axis whole (7, 13 channels), else its largest divisor up to one register."""
    if extent % lanes == 0 or extent <= 2 * lanes:
        return min(extent, lanes) if extent % lanes == 0 else extent
    return max(d for d in range(1, lanes + 1) if extent % d == 0)


def _reduction_is_contiguous(sch, b) -> bool:
    """Does a reduction iterator index the last dimension of what the block reads (softmax
    over the last axis), as opposed to outer ones (pooling windows, NHWC global pooling)?"""
    reduce = {it.var for it in b.iters if it.kind == "R"}
    stmt = sch.get(b.block_rv)
    return any(reduce & vars_in(r.region[-1].min) for r in stmt.reads if r.region)


def _schedule_in_row(sch, block, par, lanes, kind):
    """Vectorize one block's part of a row: injective blocks along their last loop,
    reductions over outer axes (and a row's vector of partial results) along the contiguous
    output axis, moved inside the reduction loops."""
    loops = _loops_below(sch, block, par)
    if not loops or kind == "row":
        return
    if kind == "injective":
        _vectorize_tail(sch, block, loops[-1], lanes)
        return
    kinds = _loop_kinds(sch, block, loops)
    if "mixed" in kinds or "R" not in kinds:
        return
    spatial = [lp for lp, k in zip(loops, kinds) if k == "S"]
    reduce = [lp for lp, k in zip(loops, kinds) if k == "R"]
    wide = [lp for lp in spatial if static(sch.get(lp).extent) not in (None, 1)]
    inner = wide[-1] if wide else None  # the contiguous output axis (the others are 1 here)
    sch.reorder(*[s for s in spatial if s is not inner], *reduce, *([inner] if inner else []))
    for r in reduce:  # pooling windows: a few loads and max/adds each, no loop overhead
        if (static(sch.get(r).extent) or 8) <= 7:
            sch.unroll(r)
    if inner is not None:  # before the init is split off: the update is a reduction block then
        _vectorize_tail(sch, block, inner, lanes)
    init = sch.decompose_reduction(block, reduce[0])
    if inner is not None:
        _vectorize_tail(sch, init, sch.get_loops(init)[-1], lanes)


def _loop_kinds(sch, block, loops) -> list[str]:
    """For each loop: 'S' or 'R' (the kind of the block iterators it drives), 'mixed' when
    it drives both, '' when none."""
    from tvm.s_tir.dlight.analysis.common_analysis import get_sblockrealize

    realize = get_sblockrealize(sch, block)
    pairs = list(zip(realize.block.iter_vars, realize.iter_values))
    out = []
    for lp in loops:
        var = sch.get(lp).loop_var
        used = {int(iv.iter_type) for iv, bind in pairs if var in vars_in(bind)}
        out.append({frozenset({0}): "S", frozenset({2}): "R", frozenset(): ""}.get(frozenset(used), "mixed"))
    return out


def _loops_below(sch, block, par):
    """The block's loops inside the shared row loop `par`."""
    loops = sch.get_loops(block)
    for i, lp in enumerate(loops):
        if sch.get(lp).same_as(sch.get(par)):
            return list(loops[i + 1:])
    return list(loops)


# Math calls TVM's LLVM backend lowers for scalars only (a vector of them fails to compile).
SCALAR_ONLY_CALLS = frozenset({"tirx.sinh", "tirx.cosh"})


def _vectorizable(stmt) -> bool:
    import tvm_ffi

    calls = []
    tvm_ffi.structural_walk(stmt.body, (tvm.ir.Call, calls.append), order="post")
    return not any(getattr(c.op, "name", "") in SCALAR_ONLY_CALLS for c in calls)


def _vectorize_tail(sch, block, loop, lanes):
    """Vectorize `loop` (the block's innermost, contiguous) in whole vectors where it divides,
    whole when short; an odd long loop is left scalar."""
    extent = static(sch.get(loop).extent)
    if extent is None or extent < 2 or not _vectorizable(sch.get(block)):
        return
    width = _vector_width(extent, lanes)
    if width < 4 and extent > 2 * lanes:
        return
    if width < extent:
        loop = sch.split(loop, [None, width])[-1]
    sch.vectorize(loop)


def _parallel_vectorize(sch, block, loops, lanes, parallel):
    """An injective block: its last loop vectorized, all loops outside fused and parallel."""
    extent = static(sch.get(loops[-1]).extent)
    outer = list(loops[:-1])
    inner = loops[-1]
    if extent is not None and extent >= 2 and _vectorizable(sch.get(block)):
        width = _vector_width(extent, lanes)
        if width >= 4 or extent <= 2 * lanes:
            if width < extent:
                o, inner = sch.split(inner, [None, width])
                outer.append(o)
            sch.vectorize(inner)
    if parallel and outer:
        sch.parallel(sch.fuse(*outer) if len(outer) > 1 else outer[0])


def _large(sch, blocks) -> bool:
    """Is the largest buffer the blocks touch big enough to be worth a parallel launch?"""
    def size(buf):
        n = 1
        for d in buf.shape:
            n *= static(d) or 1
        return n

    stmts = [sch.get(b.block_rv) for b in blocks]
    regions = [r for s in stmts for r in list(s.reads) + list(s.writes)]
    return max((size(r.source) for r in regions), default=0) >= PARALLEL_MIN_ELEMENTS
