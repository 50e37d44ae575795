"""The contraction schedule's two sizing decisions: when a column panel of the weights is
copied into a contiguous buffer (`_packing_pays`), and the register tile (`_register_tile`).
Each case checks the decision taken in the scheduled TIR and that the compiled result still
matches the numpy interpreter, on odd sizes and with a symbolic batch."""
import numpy as np
import pytest

from aot.codegen.build import run_local
from aot.codegen.lower import Entry, to_relax
from aot.codegen.schedules.common import vector_bits
from aot.codegen.schedules.contraction import (_register_tile, _vector_piece, _vector_tiles,
                                               vector_registers)
from aot.codegen.targets import make_target
from aot.codegen.tvm import tvm
from aot.ir.builder import GraphBuilder
from aot.ir.interpreter import interpret
from aot.ir.types import TensorType

from .test_schedules import _feeds, _scheduled_module

# (id, op, x shape, w shape (None: a second graph input of that shape), attrs, batch, packed)
CASES = [
    # A symbolic batch is the only reuse of a panel: copied when the panel fits L1 (40 x 32
    # floats), so a large batch keeps it there (batch 128 as well as a small one)...
    ("dense-symbolic-batch", "matmul", ("N", 40), (40, 96), {}, 3, True),
    ("dense-symbolic-batch-128", "matmul", ("N", 13), (13, 96), {}, 128, True),
    # ...not when it is deep (600 x 64 floats): it streams from L2 either way, and the copy
    # is pure cost at batch 1.
    ("dense-symbolic-deep-panel", "matmul", ("N", 600), (600, 128), {}, 3, False),
    ("dense-odd-k13-n7", "matmul", ("N", 13), (13, 7), {}, 5, False),
    # 64 static rows sweep each 32-wide panel of a 96-wide weight: copied.
    ("dense-static-rows", "matmul", (64, 13), (13, 96), {}, None, True),
    ("batched-constant-b", "matmul", ("N", 40, 13), (13, 96), {}, 2, True),
    # B varies with the batch: nothing constant to pack.
    ("batched-input-b", "matmul", ("N", 40, 13), ("input", ("N", 13, 96)), {}, 2, False),
    # The whole weight is one contiguous panel (nr = Cout): a copy would change nothing.
    ("conv-nhwc-whole-panel", "conv2d", ("N", 9, 11, 3), (3, 3, 3, 32),
     dict(padding=(1, 1, 1, 1)), 2, False),
    ("conv-nhwc-stride-dilation", "conv2d", ("N", 13, 10, 8), (3, 2, 8, 96),
     dict(strides=(2, 1), dilation=(2, 2), padding=(1, 0, 2, 1)), 2, True),
    ("conv-nhwc-grouped", "conv2d", ("N", 9, 9, 8), (3, 3, 4, 96),
     dict(groups=2, padding=(1, 1, 1, 1)), 2, True),
    ("conv-nchw-strided", "conv2d", ("N", 6, 12, 70), (12, 6, 3, 3),
     dict(strides=(1, 2), padding=(1, 1, 1, 1), layout="NCHW"), 2, None),
    # Column counts that are not whole vectors (classifier heads): 1000 = 25 tiles of 40
    # (five 8-wide vectors), 1001 and 7 in masked vectors; symbolic and static batch.
    ("dense-1000-symbolic", "matmul", ("N", 24), (24, 1000), {}, 3, None),
    ("dense-1000-static", "matmul", (33, 24), (24, 1000), {}, None, None),
    ("dense-1001-symbolic", "matmul", ("N", 9), (9, 1001), {}, 5, None),
    ("dense-1001-static", "matmul", (4, 9), (9, 1001), {}, None, None),
    ("dense-7-symbolic", "matmul", ("N", 5), (5, 7), {}, 9, None),
    ("dense-7-static", "matmul", (40, 5), (5, 7), {}, None, None),
    ("conv-nhwc-24-channels", "conv2d", ("N", 6, 6, 8), (3, 3, 8, 24),
     dict(padding=(1, 1, 1, 1)), 2, None),
]


def _graph(op, x_shape, w, attrs):
    rng = np.random.default_rng(3)
    b = GraphBuilder(op)
    x = b.input("x", TensorType(x_shape, "f32"))
    if w[0] == "input":
        y = b.input("y", TensorType(w[1], "f32"))
    else:
        y = b.param("w", rng.standard_normal(w).astype(np.float32))
    out = b.emit(op, x, y, **attrs)
    bias = b.param("bias", rng.standard_normal((out.type.shape[-1],)).astype(np.float32))
    return b.build([b.emit("relu", b.emit("add", out, bias))])


def _contraction_script(graph, tgt=None) -> str:
    mod = _scheduled_module(graph, tgt)
    funcs = [f for gv, f in mod.functions_items()
             if isinstance(f, tvm.tirx.PrimFunc) and ("matmul" in gv.name_hint or "conv" in gv.name_hint)]
    assert len(funcs) == 1, [gv.name_hint for gv in mod.get_global_vars()]
    assert funcs[0].attrs.get("tirx.is_scheduled")
    return funcs[0].script()


@pytest.mark.parametrize("id, op, x_shape, w, attrs, batch, packed", CASES,
                         ids=[c[0] for c in CASES])
def test_panel_packing_decision_and_result(id, op, x_shape, w, attrs, batch, packed):
    graph = _graph(op, x_shape, w, attrs)
    script = _contraction_script(graph)
    if packed is not None:
        assert ('sblock("w_global")' in script) == packed, script
    feeds = _feeds(graph, batch or 1)
    want, got = interpret(graph, feeds)[0], run_local(graph, feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("registers, lanes", [(32, 16), (16, 8), (32, 4)])
@pytest.mark.parametrize("cols, rows", [(64, 56), (512, 7), (256, 8), (96, 28), (7, 13), (10, 1)])
def test_register_tile_fits_the_registers_and_divides_the_extents(registers, lanes, cols, rows):
    nr, mr = _register_tile(cols, rows, lanes, registers)
    vectors = -(-nr // lanes)
    assert cols % nr == 0 and rows % mr == 0, (nr, mr)
    assert mr * vectors + vectors + 1 <= registers, (nr, mr)


def test_register_tile_uses_most_of_the_avx512_registers():
    """56 output columns of a 64-channel conv: 14 rows x 2 vectors (28 accumulators), not
    4 x 4 (16), the tile the earlier 24-accumulator budget gave."""
    assert _register_tile(64, 56, 16, 32) == (32, 14)


@pytest.mark.parametrize("mcpu, triple, registers", [
    ("skylake-avx512", "x86_64-linux-gnu", 32),
    ("haswell", "x86_64-linux-gnu", 16),
    ("cortex-a72", "aarch64-linux-gnu", 32),
])
def test_vector_registers_by_target(mcpu, triple, registers):
    assert vector_registers(tvm.target.Target({"kind": "llvm", "mtriple": triple, "mcpu": mcpu})) == registers


@pytest.mark.parametrize("cols, lanes, tile", [(1000, 16, 40), (1000, 8, 8), (1024, 16, 64),
                                               (1001, 16, 13), (7, 16, 7), (24, 16, 24)])
def test_odd_column_counts_tile_into_power_of_two_vectors(cols, lanes, tile):
    """1000 columns: tiles of 40 vectorized as five 8-wide vectors, not of 10 (one masked
    16-wide vector, 3x slower) nor one 40-wide vector (LLVM scalarizes parts of it)."""
    (nr,) = _vector_tiles(cols, lanes)[:1]
    assert nr == tile
    piece = _vector_piece(nr, lanes)
    assert nr % piece == 0 and (piece & (piece - 1) == 0 or piece == nr <= lanes), piece


def test_1000_columns_run_as_8_wide_vectors_on_avx512():
    avx512 = tvm.target.Target({"kind": "llvm", "mtriple": "x86_64-linux-gnu",
                                "mcpu": "skylake-avx512", "num-cores": 2})
    script = _contraction_script(_graph("matmul", ("N", 64), (64, 1000), {}), avx512)
    assert "T.vectorized(T.int64(8))" in script and "T.vectorized(T.int64(40))" not in script
    assert "T.vectorized(T.int64(10))" not in script


@pytest.mark.parametrize("target, bits", [
    ({"mcpu": "skylake-avx512", "mtriple": "x86_64-linux-gnu"}, 512),
    ({"mcpu": "haswell", "mtriple": "x86_64-linux-gnu"}, 256),
    ({"mcpu": "x86-64", "mtriple": "x86_64-linux-gnu"}, 128),
    ({"mcpu": "cortex-a72", "mtriple": "aarch64-linux-gnu", "mattr": ["+neon"]}, 128),
])
def test_vector_bits_by_target(target, bits):
    assert vector_bits(tvm.target.Target({"kind": "llvm", **target})) == bits


def _host_has(feature) -> bool:
    return tvm.target.codegen.target_has_features(feature, make_target("llvm"))


@pytest.mark.skipif(not _host_has("avx2"), reason="the host cannot run haswell code")
def test_haswell_build_uses_ymm_registers_and_matches_numpy():
    """Built for haswell on any AVX2 host: 256-bit vectors (no zmm in the assembly) and
    the interpreter's result."""
    from aot.codegen.build import relax_pipeline

    graph = _graph("matmul", ("N", 40), (40, 1000), {})
    tgt = tvm.target.Target({"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "haswell",
                             "num-cores": 2})
    ex = tvm.compile(to_relax([Entry("main", graph)]), target=tgt,
                     relax_pipeline=relax_pipeline(tgt))
    asm = "".join(m.inspect_source("asm") for m in ex.mod.imports if m.kind == "llvm")
    assert "vfmadd" in asm and "%ymm" in asm and "%zmm" not in asm
    feeds = _feeds(graph, 3)
    want, got = interpret(graph, feeds)[0], run_local(graph, feeds, executable=ex)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
