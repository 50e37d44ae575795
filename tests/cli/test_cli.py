"""The `aot` command line, through click's CliRunner and through the installed script."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aot.cli import main, read_air, write_air
from aot.ir import interpret

from ..runtime.graphs import feeds, two_input_graph
from .helpers import assert_bad_input, invoke

AOT = Path(sys.executable).parent / "aot"


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A model as .air + .safetensors, its compiled artifact, and input files."""
    d = tmp_path_factory.mktemp("cli")
    write_air(two_input_graph(), d / "tiny.air")
    for name, arr in feeds(3).items():
        np.save(d / f"{name}.npy", arr)
    result = CliRunner().invoke(main, ["compile", str(d / "tiny.air"), "-o", str(d / "tiny.aot")])
    assert result.exit_code == 0, result.output
    return d


def test_version_and_help():
    assert invoke("--version").output.strip() == "aot, version 0.1.0"
    for cmd in ([], ["compile"], ["run"], ["inspect"], ["import"]):
        result = invoke(*cmd, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output


def test_air_files_keep_their_weights(work):
    g, back = two_input_graph(), read_air(work / "tiny.air")
    assert [p.name for p in back.params] == [p.name for p in g.params]
    for p, q in zip(g.params, back.params):
        np.testing.assert_array_equal(p.data, q.data)


def test_import_prints_a_summary_and_writes_ir(work, tmp_path):
    result = invoke("import", work / "tiny.air", "-o", tmp_path / "copy.air")
    assert result.exit_code == 0, result.output
    assert "inputs:  a: f32[N,4], b: f32[N,4]" in result.output
    assert "outputs: y: f32[N,4], z: " in result.output
    assert "relu 1" in result.output
    assert "params: 2 tensors" in result.output
    assert (tmp_path / "copy.air").read_text() == (work / "tiny.air").read_text()
    assert (tmp_path / "copy.safetensors").is_file()


def test_run_prints_and_saves_outputs(work, tmp_path):
    result = invoke("run", work / "tiny.aot", "--input", f"a={work / 'a.npy'}",
                     "--input", f"b={work / 'b.npy'}", "-o", tmp_path / "out.npz")
    assert result.exit_code == 0, result.output
    assert "y: (3, 4) float32  min " in result.output and "mean" in result.output
    want = interpret(two_input_graph(), feeds(3))
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["y"], want[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["z"], want[1], rtol=1e-5, atol=1e-6)


def test_run_bench_reports_latency(work, tmp_path):
    np.savez(tmp_path / "in.npz", **feeds(2))
    result = invoke("run", work / "tiny.aot", "--input", tmp_path / "in.npz", "--bench", 3)
    assert result.exit_code == 0, result.output
    assert "latency over 3 runs: median " in result.output and "p90" in result.output


def test_inspect_shows_the_manifest(work):
    result = invoke("inspect", work / "tiny.aot")
    assert result.exit_code == 0, result.output
    assert "target: llvm" in result.output
    assert "entry predict(a: (N, 4) float32, b: (N, 4) float32) -> (y: " in result.output
    assert result.output.count(" ok") == 2


def test_compile_a_zoo_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("compile", "mlp")
    assert result.exit_code == 0, result.output
    assert "predict(x: (N, 784) float32) -> (probs: (N, 10) float32)" in result.output
    assert (tmp_path / "mlp.aot" / "manifest.json").is_file()
    assert_bad_input(invoke("compile", "resnet1000"), "not a zoo model (zoo: dcgan_generator, ")


def test_cross_compile(work, tmp_path):
    result = invoke("compile", work / "tiny.air", "--target", "aarch64", "-o", tmp_path / "a.aot")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "a.aot" / "manifest.json").read_text())["library"] == "kernels.tar"


def test_bad_inputs_exit_2_with_one_line(work, tmp_path):
    art = work / "tiny.aot"
    assert_bad_input(invoke("compile", tmp_path / "missing.air"), "missing.air")
    assert_bad_input(invoke("compile", work / "tiny.air", "--target", "tpu", "-o", tmp_path / "t.aot"),
         "unknown target 'tpu'")
    (tmp_path / "broken.air").write_text("graph @g(%x: f32[2]) {\n  return %nope\n}\n")
    assert_bad_input(invoke("compile", tmp_path / "broken.air"), "line 2, column 10: %nope is not defined")
    assert_bad_input(invoke("import", tmp_path / "model.txt"), "unsupported model file")
    assert_bad_input(invoke("run", art, "--input", f"c={work / 'a.npy'}"), "unknown input 'c'")
    assert_bad_input(invoke("run", art, "--input", f"a={work / 'nope.npy'}"), "nope.npy")
    assert_bad_input(invoke("run", art, "--input", work / "a.npy"), "name it as NAME=")
    np.save(tmp_path / "wide.npy", np.zeros((3, 5), np.float32))
    assert_bad_input(invoke("run", art, "--input", f"a={tmp_path / 'wide.npy'}", "--input",
                 f"b={work / 'b.npy'}"), "input 'a': expected shape (N, 4) float32, got (3, 5)")
    assert_bad_input(invoke("run", tmp_path / "none.aot"), "no such artifact")
    assert invoke("run", art, "--bench", 0).exit_code == 2  # click's own usage error


def test_tampered_artifacts_exit_2(work, tmp_path):
    import shutil

    art = Path(shutil.copytree(work / "tiny.aot", tmp_path / "t.aot"))
    with open(art / "weights.safetensors", "ab") as f:
        f.write(b"\0")
    assert_bad_input(invoke("inspect", art), "weights.safetensors (sha256 mismatch)")
    assert_bad_input(invoke("run", art, "-i", f"a={work / 'a.npy'}", "-i", f"b={work / 'b.npy'}"),
         "does not match its SHA-256")


# ------------------------------------------------------------------ the installed script

def _script(*args, cwd=None):
    return subprocess.run([str(AOT), *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_installed_script_end_to_end(work, tmp_path):
    out = tmp_path / "s.aot"
    r = _script("compile", work / "tiny.air", "-o", out)
    assert r.returncode == 0, r.stderr
    r = _script("run", out, "-i", f"a={work / 'a.npy'}", "-i", f"b={work / 'b.npy'}")
    assert r.returncode == 0, r.stderr
    assert "z: (3, " in r.stdout
    r = _script("run", out, "-i", f"x={work / 'a.npy'}")
    assert r.returncode == 2 and r.stderr.strip() == "Error: unknown input 'x'; the inputs are a, b"


_RUN_PROBE = r"""
import json, sys
from aot.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    maps = open("/proc/self/maps").read()
    bad = sorted(n for n in sys.modules if n.split(".")[0] in ("onnx", "torch")
                 or n.startswith(("aot.ir", "aot.codegen", "aot.driver", "aot.frontends")))
    print(json.dumps({"compiler_lib": "libtvm_compiler" in maps, "modules": bad}))
"""


def test_run_and_inspect_use_only_the_runtime(work):
    for args in (["run", work / "tiny.aot", "-i", f"a={work / 'a.npy'}", "-i", f"b={work / 'b.npy'}"],
                 ["inspect", work / "tiny.aot"]):
        r = subprocess.run([sys.executable, "-c", _RUN_PROBE, *map(str, args)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout.strip().splitlines()[-1]) == {"compiler_lib": False,
                                                                 "modules": []}
