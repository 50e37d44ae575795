"""`aot compile ZOO --train --loss L --optimizer O`: an artifact whose train_step the runtime
runs and resumes from, with no compiler in the process."""
import subprocess
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

import aot
from aot.cli import main

AOT = str(Path(sys.executable).with_name("aot"))


def test_compile_train_then_train_in_the_runtime(tmp_path):
    out = tmp_path / "mlp.aot"
    res = CliRunner().invoke(main, ["compile", "mlp", "--train", "--loss",
                                    "sparse_categorical_crossentropy", "--optimizer", "adam",
                                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "entries predict, train_step, evaluate" in res.output
    m = aot.runtime.load(out)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 784)).astype(np.float32)
    y = rng.integers(0, 10, 32).astype(np.int32)
    losses = [m.train_step(x, y)["loss"] for _ in range(20)]
    assert losses[-1] < 0.5 * losses[0]  # it learns the batch
    assert int(m.state_dict()["optimizer/iterations"]) == 20


def test_train_without_a_loss_is_a_clear_error(tmp_path):
    proc = subprocess.run([AOT, "compile", "mlp", "--train", "-o", str(tmp_path / "x.aot")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["Error: --train needs --loss (e.g. "
                                                "sparse_categorical_crossentropy)"]
    assert not (tmp_path / "x.aot").exists()
