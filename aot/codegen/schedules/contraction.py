"""Matmul and convolution (dense, batched, NHWC/NCHW, strided, dilated, grouped,
depthwise, transposed): any block `out[s...] += a[...] * b[...]` with a reduction.

The schedule is the classic register-blocked one:

    parallel for (batch, column tiles, other spatial, row tiles):   # fused
        acc[mr, nr] = 0                                             # vector registers
        for reduction loops (k, or ry, rx, rc):
            for mr (unrolled): for nr (vectorized): acc += a * b
        epilogue on acc (bias, batch norm, activation, residual add): store
- the vector axis is the output's last axis (contiguous stores; the operand it
  indexes is read as whole vectors);
- the row axis is a static output axis that operand does not depend on, so each
  loaded vector is reused `mr` times (conv NHWC: output x; NCHW: output channel;
  matmul: row);
- the tile fills the vector registers (`_register_tile`: e.g. 14 rows x 2 zmm vectors
  = 28 accumulators on AVX-512), so each weight vector loaded is reused mr times;
- a column count that is no whole number of vectors (1000 classes) is tiled by a divisor
  vectorized as power-of-two vectors (40 = five 8-wide ones, `_vector_tiles`): a masked
  10-wide tile ran at a third of the speed, one 40-wide LLVM vector 20x slower;
- column tiles are outside the rows, so one column panel of the weights stays in
  cache while all rows stream past it; where enough static rows sweep it, each thread
  first copies its panel into a contiguous buffer (`_packing_pays`). Weights are
  function parameters fed at run time (and updated by training steps), not constants,
  so they cannot be packed once at build time: a one-time packing would need the
  runtime to run a lifted `transform_params` function at load;
- elementwise blocks after the contraction are inlined into one epilogue that is
  computed on the tile while it is in registers.
"""
from __future__ import annotations

from .analysis import is_multiply_accumulate, normalize, region_vars, static, vars_in
from .common import cores, inline_epilogue, is_x86, vector_lanes


def find_contraction(sch, blocks):
    """The multiply-accumulate reduction block with the most iterators, or None."""
    best = None
    for b in blocks:
        stmt = sch.get(b.block_rv)
        if not b.is_reduction() or len(stmt.reads) < 2 or not is_multiply_accumulate(stmt):
            continue
        if "S" not in b.dom_kind() or "R" not in b.dom_kind():
            continue
        if best is None or len(b.iters) > len(best.iters):
            best = b
    return best


def schedule_contraction(sch, target) -> bool:
    """Schedule the contraction of `sch`'s function in place; False when there is none or
    its shape does not fit (the caller then tries other rules)."""
    blocks = normalize(sch)
    if not blocks:
        return False
    main = find_contraction(sch, blocks)
    if main is None:
        return False
    lanes = vector_lanes(target, sch.get(main.block_rv))
    registers = vector_registers(target)
    plan = _plan(sch, main, lanes, registers)
    if plan is None:
        return False
    padded = _pad_symbolic_rows(sch, main, plan)
    if padded is not None:
        blocks = normalize(sch)
        main = find_contraction(sch, blocks)
        plan = _plan(sch, main, lanes, registers, rows_padded_by=plan[3])
    epilogue = inline_epilogue(sch, main.block_rv, blocks, padded=padded is not None)
    _tile(sch, main, plan, epilogue, cores(target), padded or [], lanes)
    _parallel_producers(sch, main.block_rv, lanes)
    return True


def _parallel_producers(sch, block, lanes):
    """The blocks still at the root before the contraction (a conv's zero padding of its
    input, per-channel batch-norm factors) run in parallel over their outer loops and
    vectorized along the last one, not as one thread's scalar loop (the padding of an early
    56x56x64 layer is a full copy of the activation)."""
    nest = [sch.get(lp) for lp in sch.get_loops(block)]
    for p in sch.get_producers(block):
        loops = sch.get_loops(p)
        if not loops or any(sch.get(loops[0]).same_as(x) for x in nest):
            continue  # none, or already inside the contraction's loops (packed panels)
        if len(loops) > 1:
            sch.parallel(sch.fuse(*loops[:-1]))
        extent = static(sch.get(loops[-1]).extent)
        if extent is None:
            continue  # a symbolic extent cannot be vectorized
        inner = loops[-1]
        if extent > lanes and extent % lanes == 0:
            inner = sch.split(inner, [None, lanes])[-1]
        elif extent > 4 * lanes:
            continue  # an odd long row: leave it scalar rather than one huge vector
        sch.vectorize(inner)


def _pad_symbolic_rows(sch, main, plan):
    """Pad a symbolic row axis (the batch of a dense layer) up to a multiple of the row tile.

    Split by the tile as it is, the last tile would need a guard, and a guarded accumulator
    cannot be shrunk to its tile: it stays an (N, nr) buffer in memory, allocated per tile,
    and the kernel runs ~2x slower than with a fixed batch. Padded, every tile is whole: the
    accumulator is an (mr, nr) block of registers and only the epilogue's store is guarded.
    Returns the blocks that pad the inputs (each copies one tile of rows, see `_tile`; read
    in place through a select, the branches would keep the accumulator in memory), or None
    when nothing was padded."""
    row, mr = plan[2], plan[3]
    if row is None or static(row.dom) is not None or mr == 1:
        return None
    before = [sch.get(p) for p in sch.get_producers(main.block_rv)]
    sch.pad_einsum(main.block_rv, [mr if it is row else 1 for it in main.iters])
    return [p for p in sch.get_producers(main.block_rv)
            if not any(sch.get(p).same_as(q) for q in before)]


def _plan(sch, main, lanes, registers, rows_padded_by=None):
    """Choose the vector iterator, the row iterator and their tile sizes (`rows_padded_by`:
    the row tile a symbolic row axis was padded to a multiple of)."""
    stmt = sch.get(main.block_rv)
    if len(stmt.writes) != 1 or not stmt.writes[0].region:
        return None  # a scalar result (vector dot product): nothing to tile
    out_last = stmt.writes[0].region[-1].min
    iters = main.iters
    vec = next((it for it in iters if it.kind == "S" and out_last.same_as(it.var)), None)
    if vec is None or static(vec.dom) is None:
        return None
    vector_reads = [r for r in stmt.reads if vec.var in region_vars(r)]
    used = set().union(*(region_vars(r) for r in vector_reads))
    out_order = [r.min for r in stmt.writes[0].region]
    rows = [it for it in iters if it.kind == "S" and it is not vec]
    # Prefer a row axis the vector operand ignores (each vector reused mr times), then the
    # output axis closest to the last one.
    def rank(it):
        pos = next((i for i, e in enumerate(out_order) if e.same_as(it.var)), -1)
        return (it.var not in used, static(it.dom) is not None, pos)
    row = max(rows, key=rank, default=None)
    # A symbolic row axis (the batch of a dense layer) is split by 8; the last tile is
    # guarded by a predicate.
    row_extent = (static(row.dom) or 8) if row is not None else 1
    nr, mr = _register_tile(static(vec.dom), row_extent, lanes, registers)
    if rows_padded_by is not None and row is not None and static(row.dom) is None:
        mr = rows_padded_by
    batch = {it.var for it in iters if it.kind == "S" and static(it.dom) is None}
    packable = [i for i, r in enumerate(vector_reads)
                if (row is None or row.var not in region_vars(r)) and not batch & region_vars(r)]
    pack = list(stmt.reads).index(vector_reads[packable[0]]) if len(packable) == 1 else None
    if pack is not None and not _packing_pays(stmt.reads[pack], vec, nr, iters, lanes):
        pack = None
    return vec, nr, row, mr, pack


PACK_MIN_REUSE = 32
PANEL_L1_BYTES = 32 * 1024


def _packing_pays(operand, vec, nr, iters, lanes) -> bool:
    """Is copying each column panel of `operand` into a contiguous buffer (per call: the
    weights are fed at run time, so they cannot be packed once at build time) worth it?

    The copy reads the whole operand once more; it pays back only when many output rows
    sweep each panel (strided panels of a power-of-two width thrash L1 sets; packed ones
    stream). Measured on 2 AVX-512 cores, 2 threads: a batch-1 dense layer (784x256) ran
    1.6x faster unpacked, batch 32 1.2x; a 7x7x512 conv (49 rows per panel) 2.7x slower.
    So: no copy when the panel already is the whole contiguous operand (nr spans the
    operand's last axis); a copy when PACK_MIN_REUSE static rows sweep it, or when a
    symbolic batch does and the packed panel fits L1 (PANEL_L1_BYTES): then the copy is
    cheap (batch 1, 128x512: 1.07x slower) and a large batch keeps the panel in L1
    (batch 128: 1.2x faster), while a deeper panel streams from L2 either way and its
    copy is pure cost at small batches (256x256 at batch 1: 1.2x slower).
    A panel of masked vectors (an odd width) is always copied: read in place, each row
    would be a masked gather (1.2x)."""
    if _masked(nr, lanes):
        return True
    if static(vec.dom) == nr and vec.var in vars_in(operand.region[-1].min):
        return False
    used = region_vars(operand)
    reuse, symbolic, depth = 1, False, 1
    for it in iters:
        if it.kind == "R" and it.var in used:
            depth *= static(it.dom) or 1
        elif it.kind == "S" and it is not vec and it.var not in used:
            reuse *= static(it.dom) or 1
            symbolic |= static(it.dom) is None
    if reuse >= PACK_MIN_REUSE:
        return True
    return symbolic and depth * nr * operand.source.dtype.bits // 8 <= PANEL_L1_BYTES


def vector_registers(target) -> int:
    """The target's architectural vector registers: 16 on x86 without AVX-512 (ymm), 32
    with it (zmm) and on AArch64 (NEON/SVE) and the rest. (Asked as a feature: TVM 0.27's
    `llvm_get_vector_width` answers 512 for a haswell target on an AVX-512 host.)"""
    from tvm.target.codegen import target_has_features

    if not is_x86(target):
        return 32
    return 32 if target_has_features("avx512f", target) else 16


def _register_tile(cols, rows, lanes, registers):
    """(nr, mr): the accumulator tile, nr columns (whole vectors where the extent allows) by
    mr rows, dividing both extents.

    The tile fills the vector registers: `mr * v` accumulators (v = nr / lanes vectors per
    row) plus the `v` vectors of the operand loaded once per reduction step, plus one for
    the broadcast element. The most accumulators win (each operand vector is reused mr
    times, which keeps the weight stream off the L2's bandwidth limit); ties go to fewer
    loads per multiply-add. One register more and LLVM spills the tile (3x slower)."""
    best = None
    for nr in _vector_tiles(cols, lanes):
        vectors = -(-nr // min(_vector_piece(nr, lanes), lanes))
        mr = _divisor_tile(rows, max(1, (registers - 1 - vectors) // vectors))
        score = (mr * nr / lanes, -(mr + vectors))
        if best is None or score > best[0]:
            best = (score, nr, mr)
    return best[1], best[2]


def _vector_tiles(extent, lanes):
    """Candidate column tiles: 1 to 4 whole vectors dividing the extent; else the divisor
    up to 4 vectors (or all of a short extent) doing the most work per vector instruction
    (1000 columns: 40 as five 8-wide vectors, not 10 as one masked 16-wide one)."""
    whole = [w * lanes for w in (4, 2, 1) if extent % (w * lanes) == 0]
    if whole:
        return whole
    divisors = [d for d in range(1, 4 * lanes + 1) if extent % d == 0]
    return [max(divisors, key=lambda d: (_useful_width(d, lanes), d))]


def _useful_width(nr, lanes):
    """Lanes of work per vector instruction of a tile nr wide: a masked vector counts half
    (its loads and stores go through masks), a long vector of an odd width nothing (LLVM
    scalarizes parts of it: 20x slower)."""
    piece = _vector_piece(nr, lanes)
    if not _masked(nr, lanes):
        return min(piece, lanes)
    return piece / 2 if piece <= lanes else 0


def _masked(nr, lanes) -> bool:
    """Is a tile nr wide vectorized with masked loads and stores (not a power of two wide)?"""
    piece = _vector_piece(nr, lanes)
    return piece & (piece - 1) != 0


def _divisor_tile(extent, limit):
    return max(d for d in range(1, min(extent, limit) + 1) if extent % d == 0)


def _tile(sch, main, plan, epilogue, cores, row_pads, lanes):
    vec, nr, row, mr, pack = plan
    block = main.block_rv
    v0, v1 = sch.split(vec.loop_rv, [None, nr])
    r0, r1 = sch.split(row.loop_rv, [None, mr]) if row is not None else (None, None)
    spatial = [it for it in main.iters if it.kind == "S" and it is not vec and it is not row]
    symbolic = [it.loop_rv for it in spatial if static(it.dom) is None]
    others = [it.loop_rv for it in spatial if static(it.dom) is not None]
    reduce = [it.loop_rv for it in main.iters if it.kind == "R"]
    rows = others + ([r0] if r0 is not None else [])
    inner = ([r1] if r1 is not None else []) + [v1]
    columns = static(vec.dom) // nr
    if pack is not None and columns >= cores:
        # Parallel over column panels; each thread copies its panel of the operand into a
        # contiguous buffer once, then sweeps all rows (and the batch) over it.
        sch.reorder(v0, *symbolic, *rows, *reduce, *inner)
        par = v0
        tile = sch.fuse(*symbolic, *rows) if symbolic or rows else par
        panel = sch.cache_read(block, pack, "global")
        sch.compute_at(panel, par)
        _vectorize_inner(sch, panel, lanes)
    else:
        sch.reorder(*symbolic, v0, *rows, *reduce, *inner)
        par = tile = sch.fuse(*symbolic, v0, *rows)
    sch.parallel(par)
    for pad in row_pads:  # one tile of padded input rows, copied where the tile needs them
        sch.compute_at(pad, tile)
        sch.vectorize(sch.split(sch.get_loops(pad)[-1], [None, lanes])[-1])
    if epilogue is None:
        epilogue = sch.cache_write(block, 0, "local")
    else:
        sch.set_scope(block, 0, "local")
    sch.reverse_compute_at(epilogue, tile)
    _vectorize_inner(sch, epilogue, lanes)
    if r1 is not None:
        sch.unroll(r1)
    _vectorize(sch, v1, lanes)
    init = sch.decompose_reduction(block, reduce[0])
    _vectorize_inner(sch, init, lanes)


def _vectorize_inner(sch, block, lanes):
    """Vectorize the block's innermost loop (the vector axis after reverse_compute_at),
    unrolling the rest of the tile."""
    _vectorize(sch, sch.get_loops(block)[-1], lanes)


def _vectorize(sch, loop, lanes):
    """Vectorize `loop` as vectors of a power-of-two width: LLVM legalizes a 40-wide float
    vector by scalarizing parts of it (20x slower); 5 unrolled 8-wide ones run at full speed."""
    extent = static(sch.get(loop).extent)
    piece = _vector_piece(extent, lanes)
    if piece != extent:
        outer, loop = sch.split(loop, [None, piece])
        sch.unroll(outer)
    sch.vectorize(loop)


def _vector_piece(extent, lanes):
    """The width `extent` is vectorized at: all of it when it is a power of two up to 4
    vectors (LLVM splits it into whole registers) or when no power of two from 4 up to
    `lanes` divides it (one masked vector, the best left); else the widest such power of two."""
    if extent is None or (extent & (extent - 1) == 0 and extent <= 4 * lanes):
        return extent
    piece = lanes
    while piece >= 4 and extent % piece:
        piece //= 2
    return piece if piece >= 4 else extent
