"""int8 depthwise convolution: the kernel qconv2d lowers depthwise convs to (aot/ops/quant.py,
QDW_BLOCK): u8 data x s8 weights -> i32, NHWC, so channels are the vector axis of data,
weights and output alike.

    parallel for (batch, chunks of up to 8 output rows):        # fused
        padded rows = the input rows the chunk reads            # QDW_PAD_BLOCK, when there is
                                                                # one: padding, s8 shift
        for rows of the chunk, for channel blocks (one vector):
            for column tiles (mr output columns):
                acc[mr] = 0                                     # mr vector registers
                for ty, tx (unrolled): for mr (unrolled):
                    acc += i32(u8 data) * i32(s8 weight)        # x86: vpmovzxbd + vpmaddwd
                epilogue on the tile: + correction, + bias, requantize, clamps; store u8

The block's KH * KW weight vectors are the same for every column tile of the row, so they
stay in registers (9 + 8 accumulators of the 32 zmm); a stride-1 tile loads each input
column once per tap row (mr + KW - 1 loads for mr * KW multiply-adds). Padding the input rows
per chunk (rather than bounds checks in the multiply-add, or a padded copy of the whole
input) costs 10-30% of the kernel against the same conv on an already padded input.
Measured on 2 AVX-512 cores (112x112x96 stride 1, 56x56x144 stride 2, 14x14x576, 7x7x960):
8 columns x 1 vector was the best tile or within 1% of it (4 or 14 columns, 2 or 4 vectors:
up to 36% slower); chunks of 8 rows rather than 1: 2-8% faster at 56x56 and above.

Targets without AVX-512 get the same loops at their vector width (AVX2: 8 lanes, vpmaddwd
on ymm; aarch64: NEON's 4). A symbolic spatial extent is left to the other rules.
"""
from __future__ import annotations

from aot.ops.quant import QDW_BLOCK, QDW_PAD_BLOCK

from .analysis import static
from .common import cores, vector_bits
from .int8 import find_block, inline_epilogue

MAX_COLUMNS = 8  # output columns per tile: its accumulators beside the weights in registers
MAX_CHUNK = 8  # output rows per parallel task: their padded input rows stay in L2


def schedule_int8_depthwise(sch, target) -> bool:
    """Schedule the function's int8 depthwise kernel in place; False when it has none."""
    main = find_block(sch, QDW_BLOCK)
    if main is None:
        return False
    b, y, x, o, ty, tx = sch.get_loops(main)
    columns, channels = static(sch.get(x).extent), static(sch.get(o).extent)
    if columns is None or channels is None:
        return False
    lanes = max(4, vector_bits(target) // 32)
    epilogue = inline_epilogue(sch, main)
    o0, o1 = sch.split(o, [None, _channel_block(channels, lanes)])
    x0, x1 = sch.split(x, [None, _column_tile(columns)])
    y0, y1 = sch.split(y, [None, _row_chunk(static(sch.get(y).extent), cores(target))])
    sch.reorder(b, y0, y1, o0, x0, ty, tx, x1, o1)
    chunk = sch.fuse(b, y0)
    sch.parallel(chunk)
    _padded_rows(sch, chunk, lanes)
    sch.set_scope(main, 0, "local")
    sch.reverse_compute_at(epilogue, x0)
    *_, cols, vec = sch.get_loops(epilogue)
    sch.unroll(cols)
    _vectorize(sch, vec, lanes)
    for loop in (ty, tx, x1):
        sch.unroll(loop)
    _vectorize(sch, o1, lanes)
    init = sch.decompose_reduction(main, ty)
    _vectorize(sch, sch.get_loops(init)[-1], lanes)
    return True


def _channel_block(channels: int, lanes: int) -> int:
    """Channels per tile: one vector where vectors divide the channels, else the largest
    divisor up to 4 vectors (an odd count, vectorized in the pieces `_vectorize` finds)."""
    if channels % lanes == 0:
        return lanes
    return max(d for d in range(1, min(channels, 4 * lanes) + 1) if channels % d == 0)


def _column_tile(columns: int) -> int:
    """Output columns per tile: the largest divisor up to MAX_COLUMNS (every tile whole)."""
    return max(d for d in range(1, min(columns, MAX_COLUMNS) + 1) if columns % d == 0)


def _row_chunk(rows: int, threads: int) -> int:
    """Output rows per parallel task: up to MAX_CHUNK, so that each task pads its input rows
    once (a chunk of r rows reads (r - 1) * stride + KH of them), in a number of tasks the
    threads share evenly (else the largest r giving at least 4 tasks a thread)."""
    fits = [r for r in range(1, min(rows, MAX_CHUNK) + 1) if rows % r == 0]
    even = [r for r in fits if (rows // r) % threads == 0]
    return max(even or [r for r in fits if rows // r >= 4 * threads] or [1])


def _padded_rows(sch, row, lanes):
    """The padding stage, when there is one: computed under the output row loop (the input
    rows that row reads, all channels), channels vectorized as whole u8 vectors."""
    pad = find_block(sch, QDW_PAD_BLOCK)
    if pad is None:
        return
    sch.compute_at(pad, row)
    _vectorize(sch, sch.get_loops(pad)[-1], lanes * 4)


def _vectorize(sch, loop, lanes):
    """Vectorize `loop` in vectors of the widest power of two up to `lanes` dividing it, the
    pieces unrolled; a loop no power of two from 2 divides stays scalar."""
    extent = static(sch.get(loop).extent)
    piece = lanes
    while piece > 1 and extent % piece:
        piece //= 2
    if piece == 1:
        return
    if piece != extent:
        outer, loop = sch.split(loop, [None, piece])
        sch.unroll(outer)
    sch.vectorize(loop)
