"""int8 matmul and convolution on AVX-512 VNNI: `vpdpbusd`, sixteen 4-deep u8 x s8 -> s32
dot products per instruction (TVM's tensor intrinsic `dot_16x4_vnni`).

The lowering of qmatmul / qconv2d (aot/ops/quant.py) already gives the kernel the form the
intrinsic needs: u8 data [rows..., T, Cp] (an s8 input shifted by +128, a conv's im2col
copy, channels padded to a multiple of 4), s8 weights packed at compile time as
[Np/16, T*Cp/4, 16, 4], and an int32 dot block named QDOT_BLOCK over [rows..., Np] whose
zero-point correction, bias, requantization and activation follow as elementwise blocks.
This rule schedules it register-blocked, as the float contraction rule does:

    parallel for (column panels, rows..., row tiles):           # fused
        acc[mr, nt x 16] = 0                                    # mr * nt zmm registers
        for taps, for channel quads:
            for mr (unrolled): for nt (unrolled): vpdpbusd(acc, bcast(x[4]), w[16x4])
        epilogue on the tile: - zp' * colsum, + bias, requantize, activation; store

Targets without VNNI (generic x86, aarch64; `c` takes TVM's default pipeline) are left to the
other rules: the same kernel as a plain int32 contraction, correct everywhere, not fast (the
packed weights are read with a stride of 4 bytes along the vector axis).
"""
from __future__ import annotations

from aot.ops.quant import QDOT_BLOCK, ROW_TILE, VNNI_DEPTH, VNNI_LANES

from .analysis import static

INTRIN = "aot_dot_16x4_vnni"
REGISTERS = 32  # zmm registers: accumulators + weight vectors + the broadcast data


def has_vnni(target) -> bool:
    """Does the llvm target's mcpu/mattr include AVX-512 VNNI (cascadelake, icelake,
    sapphirerapids, znver4, the host when it has it)?"""
    if target.kind.name != "llvm" or "x86" not in str(target.attrs.get("mtriple", "x86")):
        return False
    from tvm.target.codegen import target_has_features

    return bool(target_has_features("avx512vnni", target))


def schedule_int8(sch, target) -> bool:
    """Schedule the function's VNNI-form int8 kernel in place; False when it has none or
    the target lacks VNNI."""
    main = _find_qdot(sch)
    if main is None or not has_vnni(target):
        return False
    _register_intrin()
    epilogue = inline_epilogue(sch, main)
    tile, inner = _tile(sch, main)
    sch.reverse_compute_at(epilogue, tile)
    _vectorize_epilogue(sch, epilogue)
    _parallel_data(sch, main)
    init = sch.decompose_reduction(main, inner[0])
    _vectorize_init(sch, init)
    sch.tensorize(inner[-2], INTRIN)
    sch.set_scope(init, 0, "local")  # after tensorize: the intrinsic's buffers are global
    return True


def _register_intrin() -> None:
    """Register INTRIN: the description of TVM's `dot_16x4_vnni`, and its implementation
    with the operand types of the LLVM inside TVM. TVM 0.27's own implementation declares
    `llvm.x86.avx512.vpdpbusd.512` over i32 vectors, which LLVM 22 rejects ("Call parameter
    type does not match function signature": it takes the data and weights as <64 x i8>).
    Written here rather than imported: `tvm.s_tir.tensor_intrin` parses ~500 TVMScript
    functions for every target at import (minutes on a loaded machine)."""
    from tvm.s_tir import TensorIntrin

    if TensorIntrin.get(INTRIN, allow_missing=True) is None:
        _fast_tvmscript_frames()
        TensorIntrin.register(INTRIN, *_vnni_funcs())


def _fast_tvmscript_frames() -> None:
    """TVMScript's parser calls `inspect.stack()`, which looks up the module of every frame;
    the frozen importlib's frames have no file, so each lookup rescans `sys.modules` unless
    `inspect` is told their module (what aot.codegen.build does for GPU builds too)."""
    import inspect

    for name in ("importlib._bootstrap", "importlib._bootstrap_external"):
        inspect.modulesbyfile.setdefault(f"<frozen {name}>", name)


def _vnni_funcs():
    """(description, implementation) of the 16x4 u8 x s8 -> s32 dot product."""
    from tvm.script import tirx as T
    from tvm.target.codegen import llvm_version_major

    bytes_operands = llvm_version_major() >= 22

    @T.prim_func(s_tir=True)
    def desc(a: T.Buffer((4,), "uint8", offset_factor=1),
             b: T.Buffer((16, 4), "int8", offset_factor=1),
             c: T.Buffer((16,), "int32", offset_factor=1)) -> None:
        with T.sblock("root"):
            T.reads(c[0:16], a[0:4], b[0:16, 0:4])
            T.writes(c[0:16])
            for i in T.serial(0, 16):
                for k in T.serial(0, 4):
                    with T.sblock("update"):
                        vi, vk = T.axis.remap("SR", [i, k])
                        c[vi] = c[vi] + T.cast(a[vk], "int32") * T.cast(b[vi, vk], "int32")

    @T.prim_func(s_tir=True)
    def impl(a: T.Buffer((4,), "uint8", offset_factor=1),
             b: T.Buffer((16, 4), "int8", offset_factor=1),
             c: T.Buffer((16,), "int32", offset_factor=1)) -> None:
        with T.sblock("root"):
            T.reads(c[0:16], a[0:4], b[0:16, 0:4])
            T.writes(c[0:16])
            a_i32x16 = T.broadcast(T.reinterpret(a.vload([0], "uint8x4"), dtype="int32"), 16)
            b_i8x64 = b.vload([0, 0], dtype="int8x64")
            c[T.ramp(T.int32(0), 1, 16)] = T.call_llvm_pure_intrin(
                T.llvm_lookup_intrinsic_id("llvm.x86.avx512.vpdpbusd.512"),
                c.vload([0], dtype="int32x16"),
                T.reinterpret(a_i32x16, dtype="uint8x64") if bytes_operands else a_i32x16,
                b_i8x64 if bytes_operands else T.reinterpret(b_i8x64, dtype="int32x16"),
                dtype="int32x16")
    return desc, impl


def _find_qdot(sch):
    """The dot block the lowering names QDOT_BLOCK, or None."""
    return find_block(sch, QDOT_BLOCK)


def find_block(sch, name: str):
    """The block named `name`, or None (the int8 lowerings name their kernels' blocks)."""
    try:
        return sch.get_sblock(name)
    except Exception:  # no such block (the ValueError/TVMError kind varies): not that kernel
        return None


def _root_blocks(sch):
    return sch.get_child_blocks(sch.get_sblock("root"))


def inline_epilogue(sch, main):
    """Inline every block after the dot (and the scalar blocks beside it, such as a zero
    point cast to float) into the last one, which writes the output; return that one."""
    blocks = list(_root_blocks(sch))
    pos = next(i for i, b in enumerate(blocks) if sch.get(b).same_as(sch.get(main)))
    after = blocks[pos + 1:]
    for b in after[:-1]:
        sch.compute_inline(b)
    for b in blocks[:pos]:
        if not sch.get_loops(b):  # a 0-d block: a scalar parameter's conversion
            sch.compute_inline(b)
    return after[-1]


def _tile(sch, main):
    """Split and order the dot's loops; return (the fused parallel loop, the reduction
    loops inside the tile: [taps, channel quads, ..., lanes, depth])."""
    loops = sch.get_loops(main)  # one per iterator, in the lowering's order: spatial first
    spatial = sum(iv.iter_type == iv.DataPar for iv in sch.get(main).iter_vars)
    *rows, last, col = loops[:spatial]
    *taps, ch = loops[spatial:]
    cols = static(sch.get(col).extent) // VNNI_LANES
    nt, mr = _register_tile(cols, static(sch.get(last).extent))
    l0, l1 = sch.split(last, [None, mr])
    c0, c1, c2 = sch.split(col, [None, nt, VNNI_LANES])
    q0, q1 = sch.split(ch, [None, VNNI_DEPTH])
    sch.reorder(c0, *rows, l0, *taps, q0, l1, c1, c2, q1)
    tile = sch.fuse(c0, *rows, l0)
    sch.parallel(tile)
    sch.unroll(l1)
    sch.unroll(c1)
    return tile, [*taps, q0, l1, c1, c2, q1]


def _register_tile(cols: int, rows) -> tuple[int, int]:
    """(nt vectors of 16 columns, mr rows): the accumulator tile, the most accumulators
    that fit the registers beside nt weight vectors and one broadcast; mr divides the rows
    (a symbolic row axis is a multiple of ROW_TILE: the lowering pads it)."""
    extent = ROW_TILE if rows is None else rows
    best = None
    for nt in (n for n in (4, 3, 2, 1) if cols % n == 0):
        limit = min(extent, ROW_TILE, (REGISTERS - nt - 1) // nt)
        mr = max(d for d in range(1, limit + 1) if extent % d == 0)
        score = (mr * nt, nt)
        if best is None or score > best[0]:
            best = (score, nt, mr)
    return best[1], best[2]


def _vectorize_epilogue(sch, block):
    """The epilogue's columns vectorized (a whole tile of them: nt x 16, or fewer where the
    output has fewer than the padded dot)."""
    loops = sch.get_loops(block)
    inner = loops[-1]
    if static(sch.get(inner).extent) is not None:
        sch.vectorize(inner)


def _vectorize_init(sch, init):
    loops = sch.get_loops(init)
    sch.vectorize(loops[-1])


def _parallel_data(sch, main):
    """The u8 data copy (s8 shift, im2col, padding), when there is one: parallel over its
    rows, its channels vectorized."""
    for p in sch.get_producers(main):
        if sch.get(p).name_hint != "qdata":
            continue
        loops = sch.get_loops(p)
        sch.parallel(sch.fuse(*loops[:-2]))
        if static(sch.get(loops[-1]).extent) >= VNNI_LANES:
            sch.vectorize(loops[-1])
        else:  # a few channels (an RGB stem): one scalar copy per channel, no branches
            sch.unroll(loops[-1])
