"""The runtime's hot path (checks cached per feed names, shapes and dtypes; input tensors reused
per thread; weights passed as a cached tuple) keeps every promise of the slow one, and the
runtime stays light to import (no tvm Python package, no click, no onnx)."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from aot.ir import interpret
from aot.runtime import InputError, load

from .graphs import feeds, two_input_graph


@pytest.fixture
def m(built_artifact):
    return load(built_artifact)  # a fresh module per test: plans and caches start empty


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((3, 5), np.float32), "input 'a': expected shape (N, 4) float32, got (3, 5) float32"),
    (np.zeros((3, 4), np.float64), "input 'a': expected shape (N, 4) float32, got (3, 4) float64"),
    (np.zeros((2, 4), np.float32), "input 'b': expected shape (N, 4) float32, got (3, 4) float32 "
                                   "(N is 2 from input 'a')"),
])
def test_a_wrong_feed_is_refused_after_good_calls(m, bad, message):
    good = feeds(3)
    for _ in range(3):  # the second and third calls take the cached path
        m.predict(good["a"], good["b"])
    with pytest.raises(InputError) as info:
        m.predict(bad, good["b"])
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
    _close(m.predict(good)[0], interpret(two_input_graph(), good)[0])  # still fine after


def test_an_unknown_or_missing_feed_is_refused_after_good_calls(m):
    good = feeds(2)
    m.run(good)
    m.run(good)
    with pytest.raises(InputError, match="unknown input 'c'"):
        m.run({**good, "c": good["a"]})
    with pytest.raises(InputError, match="missing input"):
        m.run({"a": good["a"]})


def test_outputs_are_not_overwritten_by_the_next_call(m):
    f1, f2 = feeds(3, seed=1), feeds(3, seed=2)
    y1, z1 = m.predict(f1["a"], f1["b"])
    kept = y1.copy(), z1.copy()
    y2, z2 = m.predict(f2["a"], f2["b"])
    np.testing.assert_array_equal(y1, kept[0])
    np.testing.assert_array_equal(z1, kept[1])
    assert not np.shares_memory(y1, y2) and not np.shares_memory(z1, z2)
    _close(y2, interpret(two_input_graph(), f2)[0])


def test_feeds_are_copied_in_so_changing_them_later_changes_nothing(m):
    f = feeds(2)
    want = interpret(two_input_graph(), f)[0]
    a = f["a"].copy()
    y = m.predict(a, f["b"])[0]
    a[:] = 100.0
    _close(y, want)
    _close(m.predict(f["a"], f["b"])[0], want)  # the reused input tensor gets the new values


def test_strided_and_unaligned_feeds_take_the_fast_path_correctly(m):
    f = feeds(4)
    want = interpret(two_input_graph(), f)
    wide = np.zeros((4, 8), np.float32)
    wide[:, ::2] = f["a"]  # a non-contiguous view with the right shape
    raw = np.zeros(4 * 4 * 4 + 1, np.uint8)[1:].view(np.float32).reshape(4, 4)  # misaligned
    raw[:] = f["b"]
    for _ in range(2):
        y, z = m.predict(wide[:, ::2], raw)
        _close(y, want[0])
        _close(z, want[1])


def test_changing_batch_sizes_and_feed_styles_share_one_module(m):
    for n in (1, 5, 1, 2, 5):
        f = feeds(n, seed=n)
        want = interpret(two_input_graph(), f)[1]
        _close(m.predict(f["a"], f["b"])[1], want)
        _close(m.run({"b": f["b"], "a": f["a"]})["z"], want)  # other key order: its own plan


def test_loaded_weights_replace_the_cached_ones(m):
    f = feeds(2)
    before = m.predict(f)[0]
    state = {k: v * 2 for k, v in m.state_dict().items()}
    m.load_state_dict(state)
    after = m.predict(f)[0]
    assert not np.allclose(before, after)
    fresh = load(m.path)
    fresh.load_state_dict(state)
    _close(after, fresh.predict(f)[0])


def test_threads_calling_at_once_get_their_own_results(m):
    results, errors = {}, []

    def work(n):
        try:
            f = feeds(n, seed=n)
            want = interpret(two_input_graph(), f)[0]
            for _ in range(20):
                got = m.predict(f["a"], f["b"])[0]
                if not np.allclose(got, want, rtol=1e-5, atol=1e-6):
                    errors.append(n)
            results[n] = True
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 3, 3, 6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 3


_IMPORTS = r"""
import json, sys
import numpy as np
import aot.runtime
after_import = sorted(sys.modules)
m = aot.runtime.load(sys.argv[1])
m.predict(np.zeros((2, 4), np.float32), np.zeros((2, 4), np.float32))
top = lambda names: sorted({n.split(".")[0] for n in names})
print(json.dumps({"after_import": top(after_import), "after_predict": top(sys.modules),
                  "aot": sorted(n for n in sys.modules if n.startswith("aot"))}))
"""


def test_the_runtime_imports_neither_tvm_nor_click_nor_onnx(built_artifact):
    out = subprocess.run([sys.executable, "-c", _IMPORTS, str(built_artifact)],
                         capture_output=True, text=True, timeout=120, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    for heavy in ("tvm", "tvm_ffi", "click", "onnx", "torch", "safetensors"):
        assert heavy not in seen["after_import"], heavy  # TVM loads with the first artifact
    for heavy in ("tvm", "tvm_ffi", "click", "onnx", "onnxruntime", "torch"):
        assert heavy not in seen["after_predict"], heavy  # libtvm_runtime.so through ctypes only
    assert [n for n in seen["aot"] if not n.startswith("aot.runtime")] == ["aot"]


_COMPILE_AFTER_LOAD = r"""
import sys
import numpy as np
import aot.runtime
from aot.driver import compile as compile_model
from tests.runtime.graphs import feeds, two_input_graph
f = feeds(2)
first = aot.runtime.load(sys.argv[1]).predict(f)[0]
again = compile_model(two_input_graph()).predict(f)[0]
np.testing.assert_allclose(first, again, rtol=1e-6)
print("ok")
"""


def test_the_compiler_still_loads_after_an_artifact_in_one_process(built_artifact):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", _COMPILE_AFTER_LOAD, str(built_artifact)],
                         capture_output=True, text=True, timeout=300, cwd=root)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_tvm_thread_pool_uses_every_physical_core():
    """TVM guesses half the logical CPUs; on a machine without SMT that was one thread for
    every kernel. A fresh process (no TVM_NUM_THREADS / OMP_NUM_THREADS) gets one thread per
    physical core, for the runtime and the compiler alike."""
    import os
    import subprocess
    import sys

    from aot.runtime.tvm_loader import physical_cores

    env = {k: v for k, v in os.environ.items() if k not in ("TVM_NUM_THREADS", "OMP_NUM_THREADS")}
    for code in ("import aot.runtime.tvm_loader as L; rt = L.load_runtime(); "
                 "print(rt.ffi.get_global_func('runtime.NumThreads')())",
                 "from aot.codegen.tvm import tvm; print(tvm.get_global_func('runtime.NumThreads')())"):
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout
        assert int(out.strip().splitlines()[-1]) == physical_cores()
    assert 1 <= physical_cores() <= (os.cpu_count() or 1)
