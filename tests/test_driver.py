"""aot.compile: graph or model in, loaded module (or artifact) out; clear one-line errors."""
from __future__ import annotations

import gc
import json
from pathlib import Path

import numpy as np
import pytest

import aot
from aot.driver import CompileError
from aot.ir import GraphBuilder, TensorType, interpret

from .runtime.graphs import feeds, two_input_graph


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _negate_graph(name="neg"):
    g = GraphBuilder(name)
    x = g.input("x", TensorType(("N", 4), "float32"))
    return g.build([g.emit("neg", x)])


def test_compile_without_output_returns_a_module_that_matches_the_interpreter():
    g, f = two_input_graph(), feeds(4)
    m = aot.compile(g, target="llvm")
    for got, want in zip(m.predict(f["a"], f["b"]), interpret(g, f)):
        _close(got, want)
    tmp = Path(m.path)
    assert tmp.is_dir()
    del m
    gc.collect()
    assert not tmp.exists()  # the private artifact went with its module


def test_compile_with_output_writes_the_artifact(tmp_path):
    out = tmp_path / "tiny.aot"
    m = aot.compile(two_input_graph(), output=str(out))
    assert Path(m.path) == out and (out / "manifest.json").is_file()
    f = feeds()
    _close(aot.runtime.load(out).predict(f)[1], m.predict(f)[1])


def test_recompiling_to_the_same_path_loads_the_new_kernels(tmp_path):
    out = tmp_path / "same.aot"
    x = {"x": np.ones((1, 4), np.float32)}
    first = aot.compile(_negate_graph(), output=out)
    g = GraphBuilder("neg")
    v = g.input("x", TensorType(("N", 4), "float32"))
    second = aot.compile(g.build([g.emit("exp", v)]), output=out)
    _close(first.run(x)["output_0"], -np.ones((1, 4)))
    _close(second.run(x)["output_0"], np.full((1, 4), np.e))


def test_a_keras_style_model_is_compiled_through_to_graph():
    class Model:
        def to_graph(self):
            return _negate_graph()

    got = aot.compile(Model()).predict(np.ones((2, 4), np.float32))
    _close(got, -np.ones((2, 4)))


def test_the_c_target_runs_here():
    _close(aot.compile(_negate_graph(), target="c").predict(np.ones((1, 4), np.float32)),
           -np.ones((1, 4)))


def test_cross_targets_write_the_artifact_and_return_none(tmp_path):
    out = tmp_path / "arm.aot"
    assert aot.compile(_negate_graph(), target="aarch64", output=out) is None
    m = json.loads((out / "manifest.json").read_text())
    assert m["target"]["name"] == "aarch64" and m["library"] == "kernels.tar"
    assert (out / "kernels.tar").is_file()
    with pytest.raises(aot.runtime.ArtifactError, match="unlinked objects"):
        aot.runtime.load(out)


@pytest.mark.parametrize("call, error, match", [
    (lambda: aot.compile(_negate_graph(), target="aarch64"), CompileError,
     "cannot run on this machine: pass output="),
    (lambda: aot.compile(_negate_graph(), target="tpu"), CompileError, "unknown target 'tpu'"),
    (lambda: aot.compile(object()), CompileError, "expected an aot.ir.Graph"),
    (lambda: aot.compile(_negate_graph(), quantize="int8"), CompileError, "needs calibration"),
    (lambda: aot.compile(_negate_graph(), quantize="int4"), CompileError, "unknown quantize mode"),
    (lambda: aot.compile(_negate_graph(), tuning_db="no/such/db"), CompileError, "does not exist"),
])
def test_bad_requests(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_params_without_data_are_refused():
    g = GraphBuilder("nodata")
    x = g.input("x", TensorType((4,), "float32"))
    w = g.param("w", type=TensorType((4,), "float32"))
    with pytest.raises(CompileError, match="params without data: %w"):
        aot.compile(g.build([g.emit("add", x, w)]))


def test_tvm_failures_become_one_line(monkeypatch):
    import aot.codegen.build as build

    def broken(entries, target, **options):
        raise RuntimeError("Traceback (most recent call last):\n  0: tvm::Foo\nInternalError: boom")

    monkeypatch.setattr(build, "build", broken)
    with pytest.raises(CompileError) as info:
        aot.compile(_negate_graph())
    assert str(info.value) == "TVM could not build graph @neg for llvm: InternalError: boom"
    assert "\n" not in str(info.value)


def test_bfloat16_weights_survive_the_artifact(tmp_path):
    import ml_dtypes

    g = GraphBuilder("bf")
    x = g.input("x", TensorType(("N", 3), "bfloat16"))
    w = g.param("w", np.array([1.5, -2.0, 0.25], dtype=ml_dtypes.bfloat16))
    graph = g.build([g.emit("add", x, w)])
    aot.compile(graph, output=tmp_path / "bf.aot")
    m = aot.runtime.load(tmp_path / "bf.aot")
    assert m.state_dict()["w"].dtype == np.dtype(ml_dtypes.bfloat16)
    xs = np.array([[1.0, 2.0, 3.0]], dtype=ml_dtypes.bfloat16)
    np.testing.assert_array_equal(m.predict(xs), interpret(graph, {"x": xs})[0])
