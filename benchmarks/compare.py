"""Zoo models side by side: ONNX Runtime, PyTorch eager and ours (untuned, and tuned when a
tuning database is given), in one process, interleaved (each round runs every contestant
once, in a rotating order, so load from elsewhere hits them alike). Writes a Markdown table
and JSON under benchmarks/results/; never asserts.

    .venv/bin/python benchmarks/compare.py                       # every case
    .venv/bin/python benchmarks/compare.py mlp_b1 resnet18 --rounds 30
    .venv/bin/python benchmarks/compare.py --tuning-db DB_DIR    # adds the tuned column
    .venv/bin/python benchmarks/compare.py --tuning-db DB_DIR --tune-trials 600
                                        # tunes each case first (resumable), timing it

Per case: median and min/max latency (ms) of each contestant, ours/ORT, GFLOP/s (the
multiply-adds of matmul and conv, counted from the graph) and the fraction of this CPU's
peak FP32 rate, compile time; cold start (process start to first result, in a fresh
subprocess) of our runtime vs ONNX Runtime's.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# PyTorch's OpenMP threads spin-wait after each op by default; interleaved with ORT and
# TVM on 2 cores they took the cores from the next contestant (ORT's MobileNetV2 measured
# 28 ms median beside torch, 8.5 ms alone). Passive waiting keeps each contestant's
# threads off the cores while the others run; set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aot  # noqa: E402
import aot.models as zoo  # noqa: E402
from aot.driver import optimize_entries, to_graph  # noqa: E402

from benchmarks import torch_models  # noqa: E402
from benchmarks.flops import count_flops, cpu_peak  # noqa: E402

# id -> (zoo model, batch)
CASES = {
    "mlp_b1": ("mlp", 1),
    "mlp_b32": ("mlp", 32),
    "lenet_b64": ("lenet", 64),
    "resnet18": ("resnet18", 1),
    "mobilenet_v2": ("mobilenet_v2", 1),
    "transformer_s128": ("transformer_encoder", 1),
    "lstm_s64_b8": ("lstm_classifier", 8),
}


def onnx_model(model, graph):
    """The ONNX model of the zoo model: the project's exporter, else the benchmark's own."""
    try:
        return aot.export_onnx(model)
    except Exception:  # noqa: BLE001 - fall back to the simpler exporter
        from benchmarks.onnx_export import to_onnx

        return to_onnx(graph)


def ort_session(proto, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])


def contestants(name, zoo_name, model, graph, feeds, threads, tuning_db, workdir):
    """{label: callable} and {label: compile seconds}; each callable returns its first output."""
    import torch

    torch.set_num_threads(threads)
    runs, compile_s = {}, {}
    t = time.perf_counter()
    ours = aot.compile(graph, target="llvm", output=workdir / f"{name}.aot")
    compile_s["ours"] = time.perf_counter() - t
    runs["ours"] = lambda: ours.predict(feeds)
    if tuning_db:
        t = time.perf_counter()
        tuned = aot.compile(graph, target="llvm", output=workdir / f"{name}.tuned.aot",
                            tuning_db=tuning_db)
        compile_s["tuned"] = time.perf_counter() - t
        runs["tuned"] = lambda: tuned.predict(feeds)
    proto = onnx_model(model, graph)
    (workdir / f"{name}.onnx").write_bytes(proto.SerializeToString())
    t = time.perf_counter()
    sess = ort_session(proto, threads)
    compile_s["ort"] = time.perf_counter() - t
    runs["ort"] = lambda: sess.run(None, feeds)[0]
    module = torch_models.build(zoo_name, model)
    if module is not None:
        x = torch_models.feed(zoo_name, next(iter(feeds.values())))

        def run_torch():
            with torch.no_grad():
                return module(x).numpy()
        runs["torch"] = run_torch
    return runs, compile_s


def measure(runs, rounds, gap_s=float(os.environ.get("AOT_BENCH_GAP_S", "0.05")), turn=5):
    """Interleaved rounds: {label: [ms, ...]}. In each round every contestant takes a turn
    (the order rotates): an untimed gap, an untimed call, then `turn` timed calls back to
    back. The gap lets the thread pools that spin after their work (ORT's, TVM's, OpenMP's)
    go idle, so no contestant is timed against another's spinning threads on 2 cores; the
    untimed call wakes the contestant's own pool, so its timed calls measure its warm,
    steady-state latency rather than a wake-up from idle."""
    labels, times = list(runs), {k: [] for k in runs}
    for r in range(rounds):
        for k in labels[r % len(labels):] + labels[:r % len(labels)]:
            time.sleep(gap_s)
            runs[k]()
            for _ in range(turn):
                t = time.perf_counter()
                runs[k]()
                times[k].append((time.perf_counter() - t) * 1e3)
    return times


def agreement(runs):
    """Largest difference of each contestant's output from ORT's, relative to ORT's range."""
    ref = np.asarray(runs["ort"]())
    scale = float(np.abs(ref).max()) or 1.0
    return {k: float(np.abs(np.asarray(fn()) - ref).max() / scale) for k, fn in runs.items()}


_COLD = """
import sys, time
import numpy as np
x = dict(np.load(sys.argv[2]))
if sys.argv[1] == "ort":
    import onnxruntime as ort
    so = ort.SessionOptions(); so.intra_op_num_threads = 2; so.inter_op_num_threads = 1
    s = ort.InferenceSession(sys.argv[3], so, providers=["CPUExecutionProvider"])
    s.run(None, x)
else:
    import aot.runtime
    aot.runtime.load(sys.argv[3]).predict(x)
"""


def cold_start(kind, artifact, feeds_path, repeats):
    """Median seconds from spawning `python` to its first result (load + one call).

    Our runtime's modules are byte-compiled first, as installing a package does (ORT's were
    at its install): this checkout is an editable install, and where PYTHONDONTWRITEBYTECODE
    is set (as on this machine) Python would otherwise compile them from source in every
    fresh process, ~9 ms of each of our cold starts that no installed copy pays."""
    import compileall

    compileall.compile_dir(ROOT / "runtime", quiet=1)
    compileall.compile_file(ROOT / "aot" / "__init__.py", quiet=1)
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", _COLD, kind, str(feeds_path), str(artifact)],
                       check=True, cwd=ROOT)
        out.append(time.perf_counter() - t)
    return float(np.median(out))


def tune_case(graph, batch, db, trials):
    """`aot tune` of the case's predict graph at its batch: seconds spent and the summary
    (a case whose kernels the database already holds takes ~0 s)."""
    from aot.codegen.tuning import tune

    t = time.perf_counter()
    report = tune({"predict": graph}, "llvm", trials, db, batch=batch, progress=False)
    return {"trials": trials, "seconds": time.perf_counter() - t, "summary": report.summary()}


def run_case(case, rounds, threads, tuning_db, workdir, cold_repeats, peak, tune_trials=0):
    zoo_name, batch = CASES[case]
    model = zoo.get(zoo_name)
    graph = optimize_entries(to_graph(model))["predict"]
    feeds = zoo.example_inputs(model, batch=batch)
    tuning = tune_case(graph, batch, tuning_db, tune_trials) if tune_trials else None
    runs, compile_s = contestants(case, zoo_name, model, graph, feeds, threads, tuning_db, workdir)
    err = agreement(runs)
    times = measure(runs, rounds)
    flops = count_flops(graph, batch)
    row = {"case": case, "model": zoo_name, "batch": batch, "gflop": flops / 1e9,
           "compile_s": compile_s, "max_rel_diff_vs_ort": err, "ms": {}}
    if tuning:
        row["tuning"] = tuning
    for k, v in times.items():
        med = float(np.median(v))
        row["ms"][k] = {"median": med, "min": float(np.min(v)), "max": float(np.max(v)),
                        "gflops": flops / med / 1e6, "peak_fraction": flops / med / 1e6 / peak}
    row["ours_over_ort"] = row["ms"]["ours"]["median"] / row["ms"]["ort"]["median"]
    if "tuned" in row["ms"]:
        row["tuned_over_ort"] = row["ms"]["tuned"]["median"] / row["ms"]["ort"]["median"]
    if cold_repeats:
        path = workdir / f"{case}.npz"
        np.savez(path, **feeds)
        row["cold_start_s"] = {"ours": cold_start("ours", workdir / f"{case}.aot", path, cold_repeats),
                               "ort": cold_start("ort", workdir / f"{case}.onnx", path, cold_repeats)}
    return row


def _cell(row, k):
    m = row["ms"].get(k)
    return f"{m['median']:.3f} ({m['min']:.3f}–{m['max']:.3f})" if m else "—"


def markdown(rows, meta):
    has_tuned = any("tuned" in r["ms"] for r in rows)
    head = ["case", "ORT ms (min–max)", "PyTorch ms", "ours ms (min–max)", "ours/ORT"]
    head += ["tuned ms", "tuned/ORT", "tuned GFLOP/s (% peak)"] if has_tuned else []
    head += ["ours GFLOP/s (% peak)", "compile s", "cold start ours / ORT s"]
    head += ["tuning s"] if any("tuning" in r for r in rows) else []
    lines = [f"Machine: {meta['cpu']}, {meta['cores']} cores; {meta['threads']} threads each; "
             f"{meta['rounds']} interleaved rounds; peak FP32 {meta['peak_gflops']:.0f} GFLOP/s "
             f"({meta['peak_assumption']}).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        o = r["ms"]["ours"]
        cells = [f"{r['case']}", _cell(r, "ort"), _cell(r, "torch"), _cell(r, "ours"),
                 f"{r['ours_over_ort']:.2f}x"]
        if has_tuned:
            t = r["ms"].get("tuned")
            cells += [_cell(r, "tuned"), f"{r['tuned_over_ort']:.2f}x" if t else "—",
                      f"{t['gflops']:.1f} ({100 * t['peak_fraction']:.1f}%)" if t else "—"]
        cold = r.get("cold_start_s")
        cells += [f"{o['gflops']:.1f} ({100 * o['peak_fraction']:.1f}%)",
                  f"{r['compile_s']['ours']:.1f}",
                  f"{cold['ours']:.2f} / {cold['ort']:.2f}" if cold else "—"]
        if head[-1] == "tuning s":
            cells.append(f"{r['tuning']['seconds']:.0f}" if "tuning" in r else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine():
    name = platform.processor() or "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines()
                    if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    return name, os.cpu_count() or 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cases", nargs="*", default=list(CASES), help=", ".join(CASES))
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tuning-db", default=None, help="tuning database dir: adds a tuned column")
    p.add_argument("--tune-trials", type=int, default=0,
                   help="tune each case with this many trials into --tuning-db first (a case "
                        "already tuned resumes or skips); the tuning time is reported")
    p.add_argument("--cold-repeats", type=int, default=3, help="0 skips the cold-start runs")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args(argv)
    if args.tune_trials and not args.tuning_db:
        p.error("--tune-trials needs --tuning-db DIR")
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        p.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    cpu, cores = machine()
    peak, assumption = cpu_peak(cores)
    meta = {"cpu": cpu, "cores": cores, "threads": args.threads, "rounds": args.rounds,
            "peak_gflops": peak, "peak_assumption": assumption, "tuning_db": args.tuning_db,
            "tune_trials": args.tune_trials,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M")}
    run_cases(args.cases, lambda case, tmp: run_case(case, args.rounds, args.threads,
                                                      args.tuning_db, tmp, args.cold_repeats,
                                                      peak, args.tune_trials),
              markdown, meta, Path(args.out), "compare")


def run_cases(cases, run, markdown, meta, out: Path, stem: str) -> None:
    """Each case through `run(case, workdir)` (its table row printed as it lands), then the
    whole table and the JSON written to out/STEM.md and out/STEM.json (shared by the
    benchmarks in this folder)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix=f"aot-{stem}-") as tmp:
        for case in cases:
            rows.append(run(case, Path(tmp)))
            print(markdown(rows[-1:], meta).splitlines()[-1], flush=True)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(rows, meta)
    (out / f"{stem}.md").write_text(table)
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print("\n" + table + f"\nwrote {out / f'{stem}.md'} and {out / f'{stem}.json'}")


if __name__ == "__main__":
    main()
