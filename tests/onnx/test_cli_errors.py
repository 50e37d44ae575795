"""CLI paths for .onnx files, and bad input: one line, exit code 2, nothing written."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import helper

import aot
from aot.cli import main
from aot.frontends.onnx import ONNXImportError

from .helpers import model, rand

N = helper.make_node


@pytest.fixture
def small(tmp_path):
    x = rand(2, 3)
    m = model([N("MatMul", ["x", "w"], ["m"]), N("Relu", ["m"], ["y"])], {"x": x}, ["y"],
              inits={"w": rand(3, 4, seed=1)})
    path = tmp_path / "small.onnx"
    onnx.save(m, str(path))
    return path


def test_import_prints_summary_and_writes_air(small, tmp_path):
    out = tmp_path / "small.air"
    r = CliRunner().invoke(main, ["import", str(small), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "ops (2 nodes): matmul 1, relu 1" in r.output and "params: 1 tensors, 12 values" in r.output
    assert out.exists() and out.with_suffix(".safetensors").exists()


def test_compile_onnx_end_to_end(small, tmp_path):
    out = tmp_path / "small.aot"
    r = CliRunner().invoke(main, ["compile", str(small), "-o", str(out)])
    assert r.exit_code == 0, r.output
    m = aot.runtime.load(str(out))
    x = rand(2, 3)
    want = np.maximum(x @ rand(3, 4, seed=1), 0)
    np.testing.assert_allclose(m.run({"x": x})["y"], want, rtol=1e-5, atol=1e-6)


def _bad(tmp_path, data: bytes, name="bad.onnx"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _one_line_exit_2(path, tmp_path):
    out = tmp_path / "out.air"
    r = CliRunner().invoke(main, ["import", str(path), "-o", str(out)])
    assert r.exit_code == 2, r.output
    assert r.output.count("\n") == 1 and r.output.startswith("Error: ")
    assert not out.exists()
    return r.output


def test_not_onnx_and_truncated(small, tmp_path):
    assert "not a valid ONNX file" in _one_line_exit_2(_bad(tmp_path, b"\x00garbage\xff" * 9), tmp_path)
    data = small.read_bytes()
    text = _one_line_exit_2(_bad(tmp_path, data[: len(data) // 2], "cut.onnx"), tmp_path)
    assert "Traceback" not in text


def test_unsupported_ops_listed_with_counts(tmp_path):
    x = rand(2, 3)
    m = model([N("Relu", ["x"], ["a"]), N("Det", ["a"], ["b"]), N("Unique", ["a"], ["c"]),
               N("Unique", ["a"], ["d"], name="u2")], {"x": x}, ["b", "c", "d"])
    with pytest.raises(ONNXImportError, match=r"Unique x2 \(first: '<unnamed>'\)") as e:
        aot.import_onnx(m)
    assert "Det x1" in str(e.value)


def test_dangling_name_and_bad_initializer(tmp_path):
    x = rand(2, 3)
    m = model([N("Relu", ["x"], ["a"])], {"x": x}, ["a"])
    m.graph.node.append(N("Add", ["a", "nowhere"], ["b"], name="add1"))
    m.graph.output[0].name = "b"
    with pytest.raises(ONNXImportError, match="nowhere"):
        aot.import_onnx(m)
    m2 = model([N("MatMul", ["x", "w"], ["y"], name="mm")], {"x": x}, ["y"],
               inits={"w": rand(4, 4)})
    with pytest.raises(ONNXImportError):
        aot.import_onnx(m2)


def test_wrong_opset_and_run_time_shape(tmp_path):
    x = rand(2, 3)
    m = model([N("Relu", ["x"], ["y"])], {"x": x}, ["y"])
    m.opset_import[0].version = 99
    with pytest.raises(ONNXImportError, match="opset 99"):
        aot.import_onnx(m)
    dyn = model([N("Reshape", ["x", "s"], ["y"], name="r1")],
                {"x": x, "s": np.array([3, 2])}, ["y"])
    dyn.graph.output[0].type.tensor_type.shape.dim[0].ClearField("dim_value")
    with pytest.raises(ONNXImportError, match="Reshape node 'r1'.*constant"):
        aot.import_onnx(dyn)


def test_unsupported_attribute_value_names_node():
    x = rand(1, 1, 4, 4)
    m = model([N("Pad", ["x", "p"], ["y"], mode="symmetric", name="pad7")], {"x": x}, ["y"],
              inits={"p": np.array([0, 0, 1, 1, 0, 0, 1, 1])}, opset=19)
    with pytest.raises(ONNXImportError, match="Pad node 'pad7'.*symmetric"):
        aot.import_onnx(m)
