"""The runtime's ctypes binding of TVM's C ABI (aot.runtime.ffi), and what cold starts rely on:
values cross both ways intact, TVM's errors stay the Python exceptions they were, output
dtypes numpy cannot view still come back right, the kernels load without the tempfile module
where $TMPDIR cannot be used, and TVM's worker spin is bounded (an exit does not wait ~0.1 s)."""
from __future__ import annotations

import ctypes
import gc
import os
import subprocess
import sys

import numpy as np
import pytest

from aot.ir import GraphBuilder, TensorType, interpret
from aot.runtime import load
from aot.runtime.tvm_loader import SPIN_COUNT, load_runtime

from .graphs import feeds, two_input_graph


@pytest.fixture(scope="module")
def rt():
    return load_runtime()


def test_values_cross_the_abi_both_ways(rt):
    values = [0, -7, 2**40, True, False, 2.5, "hi", "a string longer than eight bytes", None]
    assert list(rt.ffi.get_global_func("ffi.Array")(*values)) == values


def test_missing_functions_are_named(rt):
    with pytest.raises(ValueError, match="cannot find global function no.such.function"):
        rt.ffi.get_global_func("no.such.function")
    assert rt.ffi.get_global_func("no.such.function", allow_missing=True) is None


def test_tvm_errors_keep_their_message_and_python_type(rt):
    t = rt.empty((2, 3), "float32", rt.device("cpu", 0))
    small = np.zeros(2, np.float32)
    with pytest.raises(RuntimeError, match="size mismatch"):  # TVM's own check, its own words
        rt._copy_from(t, ctypes.c_void_p(small.ctypes.data), small.nbytes)
    with pytest.raises(IndexError):  # a kind that names a Python exception becomes that one
        rt.ffi.get_global_func("ffi.ArrayGetItem")(rt.ffi.get_global_func("ffi.Array")(1), 5)


def test_tensors_views_and_copies(rt):
    cpu = rt.device("cpu", 0)
    src = np.arange(6, dtype=np.float16).reshape(2, 3)
    t = rt.tensor(src, cpu)
    assert t.shape == (2, 3)
    np.testing.assert_array_equal(rt.numpy(t, src.dtype), src)
    view = np.asarray(t)  # numpy's view keeps the tensor alive
    del t
    gc.collect()
    view += 1
    np.testing.assert_array_equal(view, src + 1)


def test_float4_values_round_trip_as_tvm_packs_them(rt):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    a = np.array([1, -2, 3, 1, 0, 1, 2], dtype=ml_dtypes.float4_e2m1fn)
    t = rt.tensor(a, rt.device("cpu", 0))
    np.testing.assert_array_equal(rt.numpy(t, a.dtype), a)


def _mixed_outputs_graph():
    """Outputs numpy can view (float32, through DLPack) and those it cannot (bool, bfloat16:
    copied through TVM), in one result."""
    g = GraphBuilder("mixed")
    a = g.input("a", TensorType(("N", 4), "float32"))
    b = g.input("b", TensorType(("N", 4), "float32"))
    outs = [g.emit("greater", a, b), g.emit("cast", a, dtype="bfloat16"),
            g.emit("transpose", a), g.emit("cast", b, dtype="float16")]
    for v, name in zip(outs, "pqrs"):
        v.name = name
    return g.build(outs)


def test_outputs_of_every_kind_come_back_right(tmp_path):
    from aot.driver import compile as compile_model

    graph = _mixed_outputs_graph()
    m = load(compile_model(graph, output=tmp_path / "mixed.aot").path)
    for n in (3, 3, 5):  # the first call of a shape, a cached one, another shape
        f = feeds(n)
        got, want = m.predict(f), interpret(graph, f)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_allclose(g.astype(np.float32), w.astype(np.float32), rtol=1e-2)
            assert g.flags.c_contiguous and g.flags.writeable and g.flags.owndata


def test_kernels_load_where_tmpdir_is_unusable(built_artifact, monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "missing"))
    f = feeds(2)
    out = load(built_artifact).predict(f)
    np.testing.assert_allclose(out[0], interpret(two_input_graph(), f)[0], rtol=1e-5)


_SPIN = "import os, aot.runtime.tvm_loader as L; L.load_runtime(); " \
        "print(os.environ['TVM_THREAD_POOL_SPIN_COUNT'])"


@pytest.mark.parametrize("given, expected", [(None, str(SPIN_COUNT)), ("123", "123")])
def test_tvm_worker_spin_is_bounded_unless_the_user_chose(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "TVM_THREAD_POOL_SPIN_COUNT"}
    if given is not None:
        env["TVM_THREAD_POOL_SPIN_COUNT"] = given
    out = subprocess.run([sys.executable, "-c", _SPIN], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == expected
