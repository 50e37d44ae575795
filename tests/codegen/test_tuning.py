"""MetaSchedule tuning: the batch dispatcher, the database (resume, repair, errors), tuned
builds matching the interpreter, and tuning through an RPC tracker on loopback.

Budgets are a few trials on an MLP with small dims; nothing here asserts a timing."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import aot
from aot.codegen import tuning
from aot.codegen.build import build, run_local
from aot.codegen.lower import Entry, to_relax
from aot.codegen.targets import make_target
from aot.codegen.tvm import tvm
from aot.ir import interpret
from aot.ir.builder import GraphBuilder
from aot.ir.types import TensorType

BATCH = 4


def mlp(seed: int = 0, width: int = 16):
    rng = np.random.default_rng(seed)
    b = GraphBuilder("tiny_mlp")
    x = b.input("x", TensorType(("N", width), "float32"))
    w0 = b.param("w0", rng.standard_normal((width, 8)).astype("float32"))
    b0 = b.param("b0", rng.standard_normal(8).astype("float32"))
    w1 = b.param("w1", rng.standard_normal((8, 3)).astype("float32"))
    h = b.emit("relu", b.emit("add", b.emit("matmul", x, w0), b0))
    return b.build([b.emit("matmul", h, w1)])


def _x(n: int, width: int = 16):
    return np.random.default_rng(n).standard_normal((n, width)).astype("float32")


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A database tuned for the MLP at batch 4 with 4 trials, and the report."""
    path = tmp_path_factory.mktemp("tuning") / "db"
    report = tuning.tune({"predict": mlp()}, "llvm", 4, path, batch=BATCH, progress=False)
    return path, report


def test_dispatcher_is_correct_for_tuned_and_other_batches(tmp_path):
    db = tuning.open_db(tmp_path / "db", "llvm", create=True)
    db.batches = [2, 5]
    g = mlp()
    ex = build([Entry("main", g)], "llvm", tuning_db=db)
    for n in (1, 2, 3, 5):
        want = interpret(g, {"x": _x(n)})[0]
        np.testing.assert_allclose(run_local(g, {"x": _x(n)}, ex)[0], want, rtol=1e-5, atol=1e-5)


def test_specialize_adds_static_copies_and_a_fallback():
    mod = tuning.specialize(to_relax([Entry("predict", mlp())]), [4])
    names = {gv.name_hint for gv, _ in mod.functions_items()}
    assert {"predict", "predict__batch4", "predict__any_batch"} <= names
    assert tuning.specialize(to_relax([Entry("predict", mlp())]), []) is not None


def test_tasks_are_the_static_kernels_with_a_budget_each():
    mod = tuning.specialize(to_relax([Entry("predict", mlp())]), [BATCH])
    tasks = tuning.extract_tasks(mod, make_target("llvm"))
    assert tasks and all(tuning._is_static(t.mod["main"]) for t in tasks)
    tuning.plan_budget(tasks, 10)
    assert all(t.budget >= 1 for t in tasks)
    assert tasks[0].flops >= tasks[-1].flops  # biggest first


def test_tune_writes_records_and_a_second_run_skips_them(tuned):
    path, report = tuned
    assert report.tasks >= 2 and report.measured > 0 and report.skipped == 0
    assert json.loads((path / tuning.META).read_text())["batches"] == [BATCH]
    assert (path / tuning.RECORDS).read_text().count("\n") >= 1
    again = tuning.tune({"predict": mlp()}, "llvm", 4, path, batch=BATCH, progress=False)
    assert again.measured == 0 and again.skipped == again.tasks


def test_build_applies_the_records_then_default_schedules(tuned):
    """Every static kernel with a record leaves the database pass scheduled (the default
    schedules then skip it); the build is correct at the tuned batch and others."""
    path, _ = tuned
    db = tuning.open_db(path, "llvm")
    tgt = make_target("llvm")
    from tvm.relax.backend.cpu_generic import pipeline as stages

    mod = tuning.specialize(to_relax([Entry("predict", mlp())]), db.batches)
    with tgt, tuning.database_context(db):
        mod = tvm.transform.Sequential(stages.legalize_passes(tgt)
                                       + tuning.apply_database_passes())(mod)
    scheduled = [gv.name_hint for gv, f in mod.functions_items()
                 if isinstance(f, tvm.tirx.PrimFunc) and f.attrs.get("tirx.is_scheduled")]
    assert scheduled and all(tuning._is_static(mod[n]) for n in scheduled)
    assert tuning.apply_database_passes() == []  # no database, no pass

    g = mlp()
    module = aot.compile(g, tuning_db=path)
    for n in (BATCH, 3):
        got = module.run({"x": _x(n)})
        want = interpret(g, {"x": _x(n)})[0]
        np.testing.assert_allclose(next(iter(got.values())), want, rtol=1e-5, atol=1e-5)


def test_interrupted_append_is_dropped_and_tuning_resumes(tuned, tmp_path):
    path = tmp_path / "db"
    shutil.copytree(tuned[0], path)
    records = path / tuning.RECORDS
    lines = records.read_text().splitlines(keepends=True)
    records.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # killed mid-line
    db = tuning.open_db(path, "llvm")
    assert records.read_text() == "".join(lines[:-1])
    assert len(db.ms_database().get_all_tuning_records()) == len(lines) - 1


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p / tuning.RECORDS).write_text('{"not": "a record"}\n'), "line 1"),
    (lambda p: (p / tuning.RECORDS).write_text("[99, {}]\n[0, {}]\n"), "workload 99"),
    (lambda p: (p / tuning.META).write_text("{"), "corrupt"),
])
def test_corrupt_database_is_one_clear_error(tuned, tmp_path, damage, message):
    path = tmp_path / "db"
    shutil.copytree(tuned[0], path)
    damage(path)
    with pytest.raises(tuning.TuningError, match=message) as e:
        tuning.open_db(path, "llvm")
    assert "\n" not in str(e.value)


def test_bad_requests_are_one_line_errors(tuned, tmp_path):
    with pytest.raises(tuning.TuningError, match="tuned for target llvm, not aarch64"):
        tuning.open_db(tuned[0], "aarch64")
    with pytest.raises(aot.driver.CompileError, match="does not exist"):
        aot.compile(mlp(), tuning_db=tmp_path / "missing")
    with pytest.raises(ValueError, match="unknown target"):
        tuning.tune({"predict": mlp()}, "nope", 2, tmp_path / "db", progress=False)
    with pytest.raises(tuning.TuningError, match="supports llvm"):
        tuning.tune({"predict": mlp()}, "c", 2, tmp_path / "db", progress=False)
    with pytest.raises(tuning.TuningError, match="cannot reach the RPC tracker"):
        tuning.rpc_config("127.0.0.1:1", "cpu")
    with pytest.raises(tuning.TuningError, match="HOST:PORT"):
        tuning.rpc_config("localhost", "cpu")


def test_keras_compile_with_a_tuning_db_trains(tuned):
    """model.compile(tuning_db=...) goes through aot.compile: train steps at the tuned batch
    take the static branch, a short last batch the symbolic one."""
    model = aot.Sequential([aot.layers.Dense(3, input_shape=(16,))])
    model.compile(optimizer="sgd", loss="mse", tuning_db=tuned[0])
    x, y = _x(6), np.zeros((6, 3), "float32")
    history = model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


@pytest.fixture
def rpc_tracker():
    """A tracker and one server registered with key "aot-test", both on 127.0.0.1."""
    from tvm import rpc
    from tvm.rpc.tracker import Tracker

    tracker = Tracker(host="127.0.0.1", port=9190, port_end=9290, silent=True)
    server = rpc.Server(host="127.0.0.1", port=9300, port_end=9400, key="aot-test",
                        tracker_addr=("127.0.0.1", tracker.port), silent=True)
    yield f"127.0.0.1:{tracker.port}"
    server.terminate()
    tracker.terminate()


def test_tune_through_an_rpc_tracker(rpc_tracker, tmp_path):
    import time

    for _ in range(50):  # the server registers with the tracker shortly after it starts
        try:
            tuning.rpc_config(rpc_tracker, "aot-test")
            break
        except tuning.TuningError:
            time.sleep(0.2)
    with pytest.raises(tuning.TuningError, match="no server for key"):
        tuning.rpc_config(rpc_tracker, "other-key")
    report = tuning.tune({"predict": mlp(width=8)}, "llvm", 2, tmp_path / "db", batch=2,
                         rpc=rpc_tracker, key="aot-test", progress=False)
    assert report.measured > 0 and report.best_us


def test_tuning_workers_start_without_torch():
    """MetaSchedule's workers import tvm before any initializer runs; the temporary
    sitecustomize keeps tvm_ffi's `import torch` out of them (and the parent's
    environment is restored after)."""
    import os

    from tvm.support.popen_pool import PopenWorker

    before = os.environ.get("PYTHONPATH")
    with tuning.torch_free_workers():
        worker = PopenWorker()
        worker.send(_torch_and_tvm_loaded)
        torch_loaded, tvm_loaded = worker.recv()
        worker.kill()
    assert (torch_loaded, tvm_loaded) == (False, True)
    assert os.environ.get("PYTHONPATH") == before


def _torch_and_tvm_loaded():
    import sys

    return sys.modules.get("torch") is not None, "tvm" in sys.modules


def test_default_schedule_is_a_record_so_tuning_never_loses(tuned):
    """After tuning, every task the default rules schedule also has our default plan among
    its records (measured by the same runner): the build takes the fastest."""
    from tvm.s_tir import meta_schedule as ms

    from aot.codegen.schedules.rules import default_schedule

    db_path, _ = tuned
    database = tuning.open_db(db_path, "llvm").ms_database()
    tgt = make_target("llvm")
    mod = tuning.specialize(to_relax([Entry("predict", mlp())]), [BATCH])
    seeded = 0
    for task in tuning.extract_tasks(mod, tgt):
        sch = default_schedule(task.mod["main"], tgt)
        if sch is None:
            continue
        workload = database.commit_workload(task.mod)
        traces = [str(r.trace) for r in database.get_top_k(workload, 1000)]
        assert str(sch.trace) in traces, task.name
        seeded += 1
    assert seeded >= 1
