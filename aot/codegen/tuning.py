"""MetaSchedule tuning: measure every kernel of a model into a database that later
builds apply, falling back to the default schedules for what was not tuned.

The database is a directory: MetaSchedule's two JSON files (workloads and tuning
records, appended one line per measurement, so an interrupted run keeps what it
measured) and `aot-tuning.json` (the target it was tuned for and the batch sizes).

Batch sizes. MetaSchedule tunes static shapes, our models have a symbolic batch
`N`. `specialize` rewrites each entry function into a dispatcher: for each tuned
batch B, `if N == B` it calls a copy of the function with N bound to B (its
kernels are static, so tuning records match them), else the symbolic version
(default schedules). Tuning extracts its tasks from the very same specialised
module, so what is tuned is structurally what the build later looks up.
"""
from __future__ import annotations

import functools
import json
import math
import os
import sys
import types
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .tvm import tvm
import tvm_ffi.structural

META = "aot-tuning.json"
WORKLOADS = "database_workload.json"
RECORDS = "database_tuning_record.json"
TUNABLE_TARGETS = ("llvm", "aarch64")


class TuningError(ValueError):
    """A tuning database or tuning request that cannot be used (one line)."""


# ------------------------------------------------------------------ the database

@dataclass
class TuningDB:
    """An aot tuning database directory: target, tuned batch sizes, MetaSchedule's files."""

    path: Path
    target: str
    batches: list[int] = field(default_factory=list)

    def ms_database(self):
        """MetaSchedule's JSONDatabase over the directory (files validated first)."""
        from tvm.s_tir import meta_schedule as ms

        validate_files(self.path)
        try:
            return ms.database.JSONDatabase(work_dir=str(self.path), module_equality="structural")
        except Exception as e:  # TVM's parse errors: the files are JSON but not records
            raise TuningError(f"{self.path}: corrupt tuning database ({_first_line(e)})") from None

    def save(self) -> None:
        """Write aot-tuning.json atomically (write aside, fsync, rename)."""
        body = {"format": "aot-tuning", "version": 1, "target": self.target,
                "batches": sorted(set(self.batches))}
        _atomic_write(self.path / META, json.dumps(body, indent=1) + "\n")


def open_db(path, target: str, create: bool = False) -> TuningDB:
    """The database at `path` for `target`; with `create`, a new one where none exists."""
    path = Path(path)
    meta = path / META
    if not meta.exists():
        if not create:
            what = "does not exist" if not path.exists() else "is not an aot tuning database"
            raise TuningError(f"tuning database {path} {what} (run `aot tune` first)")
        if path.exists() and not path.is_dir():
            raise TuningError(f"tuning database {path} is a file, not a directory")
        path.mkdir(parents=True, exist_ok=True)
        db = TuningDB(path, target)
        db.save()
        return db
    try:
        body = json.loads(meta.read_text())
        db = TuningDB(path, str(body["target"]), [int(b) for b in body["batches"]])
    except (ValueError, KeyError, TypeError) as e:
        raise TuningError(f"{meta}: corrupt tuning database ({_first_line(e)})") from None
    if db.target != target:
        raise TuningError(f"tuning database {path} was tuned for target {db.target}, "
                          f"not {target}")
    validate_files(path)
    return db


def validate_files(path: Path) -> None:
    """Every line of MetaSchedule's files is a JSON list and every record names a known
    workload. A last line cut short (a run killed mid-append) is dropped, atomically;
    anything else wrong is a one-line TuningError."""
    n_workloads = _check_lines(path / WORKLOADS, lambda row: None)

    def check_record(row):
        if not (isinstance(row[0], int) and 0 <= row[0] < n_workloads):
            raise ValueError(f"record names workload {row[0]!r}, the database has {n_workloads}")

    _check_lines(path / RECORDS, check_record)


def _check_lines(file: Path, check: Callable) -> int:
    if not file.exists():
        return 0
    text = file.read_text()
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n") and _parse_row(lines[-1]) is None:
        lines.pop()  # an append cut short: the measurement is lost, the rest is sound
        _atomic_write(file, "".join(lines))
    for i, line in enumerate(lines, 1):
        row = _parse_row(line)
        try:
            if row is None:
                raise ValueError("not a JSON list")
            check(row)
        except ValueError as e:
            raise TuningError(f"{file}: corrupt tuning database (line {i}: {e}); delete it "
                              "to start over") from None
    return len(lines)


def _parse_row(line: str):
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, list) and len(row) >= 2 else None


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _first_line(e: BaseException) -> str:
    lines = [ln for ln in str(e).splitlines() if ln.strip() and not ln.startswith((" ", "\t"))]
    return lines[-1] if lines else type(e).__name__


# ------------------------------------------------------------------ build side

def database_context(db: Optional[TuningDB]):
    """Make `db` MetaSchedule's current database for a build (a no-op context for None)."""
    return db.ms_database() if db is not None else nullcontext()


def apply_database_passes() -> list:
    """The pass applying tuning records (marking those kernels scheduled, so the default
    schedules leave them alone), when a build runs under `database_context`."""
    from tvm.s_tir import meta_schedule as ms

    if ms.Database.current() is None:
        return []
    return [tvm.relax.transform.MetaScheduleApplyDatabase()]


def specialize(mod, batches) -> object:
    """Each public function with a symbolic batch becomes a dispatcher over static copies
    for `batches`, falling back to the symbolic one for any other batch size."""
    relax = tvm.relax
    batches = sorted(set(batches or ()))
    todo = [(gv, f) for gv, f in mod.functions_items()
            if isinstance(f, relax.Function) and _batch_vars(f)]
    if not batches or not todo:
        return mod
    keep = {gv: f for gv, f in mod.functions_items() if all(not gv.same_as(t) for t, _ in todo)}
    bb = relax.BlockBuilder(tvm.IRModule(keep))
    for gv, func in todo:
        _add_dispatcher(bb, gv.name_hint, func, batches)
    return bb.get()


def _batch_vars(func) -> list:
    """The shape variables that are the leading dim of a tensor parameter."""
    found = []
    for p in func.params:
        dims = getattr(getattr(p.ty, "shape", None), "values", None)
        if dims and isinstance(dims[0], tvm.tirx.Var) and not any(dims[0].same_as(v) for v in found):
            found.append(dims[0])
    return found


def _add_dispatcher(bb, name: str, func, batches: list[int]) -> None:
    """`name(args)`: `if N == b: name__batch<b>(args)` for each b, else `name__any_batch`."""
    relax = tvm.relax
    bvars = _batch_vars(func)
    fresh = relax.utils.copy_with_new_vars
    fallback = bb.add_func(fresh(func).without_attr("global_symbol"), f"{name}__any_batch")
    params = [relax.Var(p.name, p.ty) for p in func.params]
    body = relax.Call(fallback, params)
    for b in reversed(batches):
        static = fresh(func.bind_symbolic_vars({v: b for v in bvars})).without_attr("global_symbol")
        gv = bb.add_func(static, f"{name}__batch{b}")
        casts = [relax.MatchCast(relax.Var(p.name, s.ty), p, s.ty)
                 for p, s in zip(params, static.params)]
        cond = functools.reduce(lambda a, c: a & c,
                                [v == tvm.tirx.const(b, "int64") for v in bvars])
        body = relax.If(relax.prim_value(cond),
                        relax.SeqExpr([relax.BindingBlock(casts)],
                                      relax.Call(gv, [c.var for c in casts])),
                        relax.SeqExpr([], body))
    with bb.function(name, params):
        result = bb.emit(body)
        bb.emit_func_output(bb.match_cast(result, func.body.ty))


# ------------------------------------------------------------------ tasks

@dataclass
class Task:
    """One kernel to tune: its module (`main` = the PrimFunc), calls per run, FLOPs."""

    name: str
    mod: object
    weight: int
    flops: float
    budget: int = 0
    measured: int = 0  # records already in the database

    @property
    def remaining(self) -> int:
        return max(0, self.budget - self.measured)


def kernel_passes(target) -> list:
    """The CPU pipeline's passes up to fused, legalized kernels (library dispatch, vector
    exp/tanh/sigmoid/softmax, legalization): the one list both the build and task extraction
    use, so tuning records match the kernels the build makes."""
    from tvm.relax.backend.cpu_generic import pipeline as stages

    from .fast_math import fast_math_pass

    return (stages.library_dispatch_passes(target) + [fast_math_pass()]
            + stages.legalize_passes(target))


def extract_tasks(mod, target) -> list[Task]:
    """The distinct static kernels of `mod` (already specialised) as the CPU pipeline
    makes them: legalized and fused, exactly what the build hands to the schedules."""
    with target:
        mod = tvm.transform.Sequential(kernel_passes(target))(mod)
    calls = _call_counts(mod)
    tasks: dict[int, Task] = {}
    for gv, func in mod.functions_items():
        if not isinstance(func, tvm.tirx.PrimFunc) or not _is_static(func):
            continue
        kernel = tvm.IRModule({"main": func.with_attr("global_symbol", "main")})
        key = tvm_ffi.structural.structural_hash(kernel)
        if key in tasks:
            tasks[key].weight += calls.get(gv.name_hint, 1)
        else:
            tasks[key] = Task(gv.name_hint, kernel, calls.get(gv.name_hint, 1), _flops(kernel))
    return sorted(tasks.values(), key=lambda t: -t.flops * t.weight)


def _call_counts(mod) -> dict[str, int]:
    counts: dict[str, int] = {}
    call_tir = tvm.ir.Op.get("relax.call_tir")

    def visit(e):
        if isinstance(e, tvm.relax.Call) and e.op.same_as(call_tir):
            name = e.args[0].name_hint
            counts[name] = counts.get(name, 0) + 1

    for _, func in mod.functions_items():
        if isinstance(func, tvm.relax.Function):
            tvm.relax.analysis.post_order_visit(func, visit)
    return counts


def _is_static(func) -> bool:
    """No shape variables: every buffer's shape is constant (MetaSchedule tunes those)."""
    for p in func.params:
        shape = getattr(p.ty, "shape", None)
        if shape is None or not all(isinstance(d, tvm.tirx.IntImm) for d in shape):
            return False  # a scalar parameter is a shape variable
    return True


def _flops(kernel) -> float:
    try:
        return float(tvm.s_tir.analysis.estimate_tir_flops(kernel))
    except Exception:  # kernels the estimator cannot walk still get the equal share
        return 0.0


def plan_budget(tasks: list[Task], trials: int) -> None:
    """Split `trials` between the tasks: half evenly, half by FLOPs x calls (the big
    kernels matter most); every task gets at least one."""
    total = sum(t.flops * t.weight for t in tasks) or 1.0
    for t in tasks:
        even = trials / (2 * len(tasks))
        t.budget = max(1, math.floor(even + trials * t.flops * t.weight / (2 * total)))


def count_measured(tasks: list[Task], database) -> None:
    """How many records each task already has (a resumed run skips what is done)."""
    done: dict[int, int] = {}
    for rec in database.get_all_tuning_records():
        key = tvm_ffi.structural.structural_hash(rec.workload.mod)
        done[key] = done.get(key, 0) + 1
    for t in tasks:
        t.measured = done.get(tvm_ffi.structural.structural_hash(t.mod), 0)


# ------------------------------------------------------------------ measuring

@dataclass
class TuneReport:
    tasks: int
    skipped: int          # already tuned to their budget by an earlier run
    measured: int         # measurements this run
    seconds: float
    best_us: dict = field(default_factory=dict)  # task name -> best measured latency (us)

    def summary(self) -> str:
        return (f"{self.tasks} kernels: {self.tasks - self.skipped} tuned, {self.skipped} "
                f"already tuned; {self.measured} measurements in {self.seconds:.1f} s")


def _worker_init() -> None:
    """Builder and runner workers: TVM without torch (the environment says so)."""
    os.environ.setdefault("TVM_FFI_DISABLE_TORCH_C_DLPACK", "1")


# The `sitecustomize.py` of aot's MetaSchedule workers: `import torch` fails in them, so
# tvm_ffi's import-time `import torch` (+2.5-4 s, +200 MB per worker) is skipped.
_WORKER_SITE = 'import sys\nsys.modules.setdefault("torch", None)\n'


@contextmanager
def torch_free_workers():
    """Worker processes started inside this block (`python -m tvm.exec.popen_worker`,
    which imports tvm before any initializer runs) find a `sitecustomize` first on their
    PYTHONPATH that hides torch. The parent's environment is restored afterwards."""
    import tempfile

    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "TVM_FFI_DISABLE_TORCH_C_DLPACK")}
    with tempfile.TemporaryDirectory(prefix="aot-worker-site-") as site:
        Path(site, "sitecustomize.py").write_text(_WORKER_SITE)
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (site, saved["PYTHONPATH"]) if p)
        os.environ["TVM_FFI_DISABLE_TORCH_C_DLPACK"] = "1"
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _build_kernel(mod, target, _params):
    """MetaSchedule's default build minus its import of all tensor intrinsics (~13 s per
    worker): our schedule rules never tensorize, so the build does not need them."""
    from tvm.driver import build as tvm_build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    return tvm_build(mod, target=target)


def _make_builder(timeout_sec: float):
    """A builder whose worker processes live for the whole run (MetaSchedule's LocalBuilder
    starts new ones, each importing TVM, for every batch of candidates)."""
    from tvm.s_tir.meta_schedule.builder import BuilderResult, PyBuilder
    from tvm.s_tir.meta_schedule.builder.local_builder import _worker_func
    from tvm.ir.utils import derived_object
    from tvm.support.popen_pool import PopenPoolExecutor, StatusKind

    @derived_object
    class PooledBuilder(PyBuilder):
        def __init__(self):
            super().__init__()
            self.pool = PopenPoolExecutor(max_workers=os.cpu_count() or 1,
                                          timeout=timeout_sec, initializer=_worker_init)

        def build(self, build_inputs):
            args = [(_build_kernel, None, b.mod, b.target, None) for b in build_inputs]
            results = []
            for r in self.pool.map_with_error_catching(lambda a: _worker_func(*a), args):
                if r.status == StatusKind.COMPLETE:
                    results.append(BuilderResult(r.value, None))
                else:
                    results.append(BuilderResult(None, f"build failed: {r.status} {r.value}"))
            return results

    return PooledBuilder()


def _make_runner(rpc: Optional[str], key: Optional[str], timeout_sec: float):
    from tvm.s_tir import meta_schedule as ms

    evaluator = ms.runner.EvaluatorConfig(number=3, repeat=1, min_repeat_ms=40)
    if rpc is None:
        return ms.runner.LocalRunner(timeout_sec=timeout_sec, evaluator_config=evaluator,
                                     initializer=_worker_init)
    config = rpc_config(rpc, key, timeout_sec)
    return ms.runner.RPCRunner(config, evaluator, max_workers=1, initializer=_worker_init)


def rpc_config(rpc: str, key: Optional[str], timeout_sec: float = 30):
    """The tracker's RPCConfig, after checking that it answers and serves `key`."""
    from tvm.s_tir import meta_schedule as ms

    host, sep, port = rpc.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise TuningError(f"--rpc {rpc!r}: expected HOST:PORT")
    if not key:
        raise TuningError("--rpc needs --key (the device key the RPC servers registered with)")
    config = ms.runner.RPCConfig(tracker_host=host, tracker_port=int(port), tracker_key=key,
                                 session_timeout_sec=int(timeout_sec))
    try:
        summary = _connect(host, int(port)).summary()
    except Exception as e:
        raise TuningError(f"cannot reach the RPC tracker at {rpc}: {_first_line(e)}") from None
    free = summary.get("queue_info", {}).get(key, {}).get("free", 0)
    if not free and not any(key in str(s.get("key", "")) for s in summary.get("server_info", [])):
        raise TuningError(f"the RPC tracker at {rpc} has no server for key {key!r}")
    return config


def _connect(host: str, port: int):
    """The tracker session, or an error within a few seconds (TVM's own retries take ~minutes)."""
    import socket

    from tvm import rpc

    with socket.create_connection((host, port), timeout=5):
        pass
    return rpc.connect_tracker(host, port)


def _progress_callback(bar, task: Task, best: dict, counted: list):
    """Advance the bar by each measured batch; keep the best latency per task."""
    from tvm.s_tir.meta_schedule.measure_callback import PyMeasureCallback
    from tvm.ir.utils import derived_object

    @derived_object
    class Progress(PyMeasureCallback):
        def apply(self, task_scheduler, task_id, measure_candidates, builder_results,
                  runner_results):
            counted[0] += len(runner_results)
            for r in runner_results:
                secs = [float(s) for s in (r.run_secs or [])]
                if secs and r.error_msg is None:
                    us = 1e6 * sum(secs) / len(secs)
                    best[task.name] = min(best.get(task.name, us), us)
            bar.update(len(runner_results))
            if task.name in best:
                bar.set_postfix_str(f"{task.name}: best {best[task.name]:.1f} us")

    return Progress()


# ------------------------------------------------------------------ tune

def tune(entries, target: str, trials: int, db_path, batch: int = 1, rpc: Optional[str] = None,
         key: Optional[str] = None, progress: bool = True, timeout_sec: float = 60) -> TuneReport:
    """Tune every static kernel of `entries` ({entry name: Graph}) for `target` with a
    total of `trials` measurements, into the database at `db_path` (created or resumed).

    Symbolic batch dims are bound to `batch`. Tasks go biggest first, each with its
    share of the budget less what the database already holds for it, so an
    interrupted run resumes where it stopped.
    """
    import time

    from .lower import Entry, lifts_weights, to_relax
    from .targets import make_target, spec

    _check_request(target, trials, batch, rpc)
    spec(target)
    db = open_db(db_path, target, create=True)
    database = db.ms_database()  # validated before anything is measured
    if batch not in db.batches:
        db.batches.append(batch)
        db.save()
    tgt = make_target(target)
    mod = to_relax([Entry(n, g) for n, g in entries.items()], lifts_weights(entries.values()))
    mod = specialize(mod, [batch])  # the kernels the driver builds, weight transforms lifted
    tasks = extract_tasks(mod, tgt)
    plan_budget(tasks, trials)
    count_measured(tasks, database)
    todo = [t for t in tasks if t.remaining]
    report = TuneReport(len(tasks), len(tasks) - len(todo), 0, 0.0)
    if not todo:
        return report
    start = time.perf_counter()
    with torch_free_workers():
        runner = _make_runner(rpc, key, timeout_sec)
        builder = _make_builder(timeout_sec)
        try:
            _tune_tasks(todo, tgt, db, database, builder, runner, report, progress)
        finally:
            report.seconds = time.perf_counter() - start
            _shutdown(builder, runner)
    return report


def _check_request(target: str, trials: int, batch: int, rpc: Optional[str]) -> None:
    from .targets import spec

    s = spec(target)
    if target not in TUNABLE_TARGETS:
        raise TuningError(f"tuning supports {', '.join(TUNABLE_TARGETS)} targets, not {target}")
    if not s.native and rpc is None:
        raise TuningError(f"target {target} cannot run on this machine: tune it on the device "
                          "with --rpc HOST:PORT --key K")
    if trials < 1 or batch < 1:
        raise TuningError(f"trials and batch must be positive (got {trials}, {batch})")


def _tune_tasks(todo, tgt, db, database, builder, runner, report, progress) -> None:
    from tqdm import tqdm
    from tvm.s_tir import meta_schedule as ms

    with tqdm(total=sum(t.remaining for t in todo), desc="tuning", unit="trial",
              disable=not progress or None, leave=False) as bar:
        for task in todo:
            bar.set_description(task.name[:40])
            with _no_tensor_intrinsics():
                ctx = ms.TuneContext(mod=task.mod, target=tgt, task_name=task.name,
                                     space_generator=ms.space_generator.PostOrderApply(
                                         sch_rules="llvm", postprocs="llvm",
                                         mutator_probs="llvm"),
                                     search_strategy=_search(task.remaining),
                                     num_threads="physical")
            counted = [0]
            callbacks = list(ms.MeasureCallback.create("default"))
            callbacks.append(_progress_callback(bar, task, report.best_us, counted))
            ms.tune_tasks(tasks=[ctx], task_weights=[1.0], work_dir=str(db.path),
                          max_trials_global=task.remaining, max_trials_per_task=task.remaining,
                          num_trials_per_iter=min(64, task.remaining), builder=builder,
                          runner=runner, database=database, cost_model="xgb",
                          measure_callbacks=callbacks, task_scheduler="round-robin")
            report.measured += counted[0]
            _seed_default_schedule(task, tgt, database, builder, runner, report)


def _seed_default_schedule(task, tgt, database, builder, runner, report) -> None:
    """Measure our default schedule of the task with the same builder and runner and add it
    to the database as one more record: the build picks the fastest record, so a tuned
    kernel is never slower than the untuned one (a small budget often finds nothing
    better than our hand-written plan)."""
    from tvm.s_tir import meta_schedule as ms

    from .schedules.rules import default_schedule

    func = task.mod["main"]
    sch = default_schedule(func, tgt)
    if sch is None:
        return
    (built,) = builder.build([ms.builder.BuilderInput(sch.mod, tgt)])
    if built.error_msg is not None:
        return
    args = ms.arg_info.ArgInfo.from_prim_func(func)
    (future,) = runner.run([ms.runner.RunnerInput(built.artifact_path, "cpu", args)])
    result = future.result()
    if result.error_msg is not None or not result.run_secs:
        return
    workload = database.commit_workload(task.mod)
    database.commit_tuning_record(ms.database.TuningRecord(
        sch.trace, workload, [float(r) for r in result.run_secs], tgt, args))
    us = 1e6 * float(sum(float(r) for r in result.run_secs)) / len(result.run_secs)
    if us < report.best_us.get(task.name, float("inf")):
        report.best_us[task.name] = us


@contextmanager
def _no_tensor_intrinsics():
    """TuneContext imports every tensor intrinsic TVM has (~12 s of TVMScript parsing) for
    rules that tensorize; our rule set ("llvm") never does. A placeholder module stands
    in while the context is made, and is removed after (a later real import still works)."""
    name = "tvm.s_tir.tensor_intrin"
    if name in sys.modules:
        yield
        return
    placeholder = types.ModuleType(name)
    sys.modules[name] = placeholder
    try:
        yield
    finally:
        if sys.modules.get(name) is placeholder:
            del sys.modules[name]


def _search(budget: int):
    """Evolutionary search with a population sized to the budget: the default 512 costs
    tens of seconds per round of cost-model scoring on a small machine, wasted on a
    task measured a few times."""
    from tvm.s_tir import meta_schedule as ms

    population = int(min(512, max(32, 16 * budget)))
    return ms.search_strategy.EvolutionarySearch(
        population_size=population, init_min_unmeasured=min(50, population // 2))


def _shutdown(builder, runner) -> None:
    for pool in (getattr(builder, "pool", None), getattr(runner, "pool", None)):
        if pool is not None:
            pool.shutdown(wait=False)
