"""`aot tune` end to end with a tiny budget, then `aot compile --tuning-db`, and its errors."""
from __future__ import annotations

import numpy as np
import pytest

from aot.cli import write_air
from aot.ir import interpret

from ..codegen.test_tuning import mlp
from .helpers import assert_bad_input, invoke


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("tune")
    write_air(mlp(), d / "tiny.air")
    return d


@pytest.fixture(scope="module")
def tuned(model):
    result = invoke("tune", model / "tiny.air", "--trials", 3, "--batch", 2,
                     "--tuning-db", model / "db")
    assert result.exit_code == 0, result.output
    return result


def test_tune_reports_and_resumes(model, tuned):
    assert "measurements" in tuned.output and "batch 2" in tuned.output
    again = invoke("tune", model / "tiny.air", "--trials", 3, "--batch", 2,
                    "--tuning-db", model / "db")
    assert again.exit_code == 0 and "0 tuned" in again.output, again.output


def test_compile_with_the_database_runs_correctly(model, tuned, tmp_path):
    out = tmp_path / "tiny.aot"
    result = invoke("compile", model / "tiny.air", "--tuning-db", model / "db", "-o", out)
    assert result.exit_code == 0, result.output
    from aot.runtime import load

    m = load(out)
    for n in (2, 3):
        x = np.random.default_rng(n).standard_normal((n, 16)).astype("float32")
        want = interpret(mlp(), {"x": x})[0]
        np.testing.assert_allclose(next(iter(m.run({"x": x}).values())), want,
                                   rtol=1e-5, atol=1e-5)


def test_bad_input_is_one_line(model, tuned, tmp_path):
    air = model / "tiny.air"
    assert_bad_input(invoke("tune", air, "--trials", 2, "--tuning-db", tmp_path / "a", "--target", "nope"),
         "unknown target")
    assert_bad_input(invoke("tune", air, "--trials", 2, "--tuning-db", tmp_path / "b",
                 "--rpc", "127.0.0.1:1", "--key", "k"), "cannot reach the RPC tracker")
    assert_bad_input(invoke("tune", air, "--trials", 2, "--tuning-db", tmp_path / "c", "--key", "k"),
         "--key needs --rpc")
    assert_bad_input(invoke("compile", air, "--tuning-db", tmp_path / "missing", "-o", tmp_path / "o.aot"),
         "does not exist")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "aot-tuning.json").write_text('{"target": "llvm", "batches": [1]}')
    (corrupt / "database_workload.json").write_text("garbage\n")
    assert_bad_input(invoke("tune", air, "--trials", 2, "--tuning-db", corrupt), "corrupt tuning database")
    assert_bad_input(invoke("compile", air, "--tuning-db", corrupt, "-o", tmp_path / "o.aot"),
         "corrupt tuning database")
    assert_bad_input(invoke("tune", air, "--trials", 2, "--tuning-db", tmp_path / "d", "--train"),
         "--train needs a zoo model")


def test_tune_help():
    result = invoke("tune", "--help")
    assert result.exit_code == 0 and "--tuning-db" in result.output and "--rpc" in result.output
