"""`aot.compile`: a model or graph in, an artifact out, loaded and ready to run.

The steps, top to bottom: take the graph (from a Keras-style model if need be),
run the inference pipeline, lower every entry point to Relax and build it with
TVM for the target, write the artifact (manifest, kernels, weights), and load
it with the runtime, so that what `compile` returns behaves exactly like
`aot.runtime.load` of the file it wrote.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from aot.ir import Graph, IRError, verify
from aot.runtime import artifact as _artifact
from aot.runtime.signature import TensorSpec


class CompileError(ValueError):
    """The model cannot be compiled as asked (unknown target, missing weights, TVM failure)."""


_STEPS = ("optimize", "build", "write", "load")


def compile(model_or_graph, target: str = "llvm", output=None, quantize=None, tuning_db=None,
            *, training=None, device: Optional[str] = None,
            on_step: Optional[Callable[[str], None]] = None, calibration=None,
            calibration_method: str = "minmax", max_accuracy_drop: Optional[float] = None,
            labels=None):
    """Compile for `target`; write the artifact to `output` (or a private temp dir).

    With `training` (an `aot.passes.train_step.TrainingSpec`), the artifact also
    has `train_step` and `evaluate` entries sharing the weights with `predict`.
    Returns the loaded module, or None when `output` is given and the target's
    kernels cannot run on this machine (a cross-compile). `on_step(name)` is
    called as each of the steps in `_STEPS` starts (the CLI's progress bar).

    quantize: None, "fp16" / "bf16" (weights and most compute in that dtype, float32 where
    accuracy needs it: aot.passes.cast_precision), "int8" (static: needs `calibration`, data
    by input name or one array; `calibration_method` minmax|percentile|entropy; with
    `max_accuracy_drop` the most sensitive layers return to float until the metric, accuracy
    against `labels` or top-1 agreement with float, drops by at most that) or "int8-dynamic"
    (weights int8, matmul inputs quantized at run time). The module's `quantization_report` holds the report.
    """
    from aot.codegen.targets import TARGETS

    step = on_step or (lambda name: None)
    _refuse_unsupported(quantize, training)
    spec = TARGETS.get(target)
    if spec is None:
        raise CompileError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
    db = open_tuning_db(tuning_db, target)
    if output is None and not spec.runnable_here:
        raise CompileError(f"target {target!r} cannot run on this machine: pass output= to "
                           "write the artifact and run it on the device")
    step("optimize")
    entries = optimize_entries(to_graph(model_or_graph), training)
    report = None
    if quantize is not None:
        entries["predict"], report = quantize_for_inference(
            entries["predict"], quantize, calibration, calibration_method, max_accuracy_drop, labels)
    graph = entries["predict"]
    step("build")
    executable = _build(entries, target, db)
    step("write")
    keep, path = _output_path(output, graph.name)
    write_artifact(path, entries, executable, target, training)
    if not spec.runnable_here:
        return None
    step("load")
    from aot.runtime import load

    module = load(path, device)
    module._keepalive = keep  # the temp artifact lives as long as the module
    module.quantization_report = report
    return module


QUANTIZE_MODES = ("int8", "int8-dynamic", "fp16", "bf16")
_CAST_MODES = {"fp16": "float16", "bf16": "bfloat16"}


def _refuse_unsupported(quantize, training) -> None:
    if quantize is None:
        return
    if quantize not in QUANTIZE_MODES:
        raise CompileError(f"unknown quantize mode {quantize!r}; known: {', '.join(QUANTIZE_MODES)}")
    if training is not None:
        raise CompileError("quantize applies to inference artifacts; compile without training=")


def quantize_for_inference(graph: Graph, mode: str, calibration, method: str = "minmax",
                           max_accuracy_drop: Optional[float] = None, labels=None):
    """(the quantized, re-optimised graph, its report or None). Bad calibration data and
    unquantizable activations become a CompileError naming the input or layer."""
    from aot.passes.quantize import QuantizeError, quantize_dynamic
    from aot.passes.quantize_calibrate import calibrate
    from aot.passes.quantize_report import quantize_within

    if mode in _CAST_MODES:
        from aot.passes.cast_precision import cast_precision

        return optimize(cast_precision(graph, _CAST_MODES[mode])), None
    try:
        if mode == "int8-dynamic":
            return optimize(quantize_dynamic(graph)), None
        if calibration is None:
            raise CompileError("quantize='int8' needs calibration= data (arrays by input name)")
        cal = calibrate(graph, calibration, method)
        quantized, report = quantize_within(graph, cal, labels=labels,
                                            max_accuracy_drop=max_accuracy_drop)
        return optimize(quantized), report
    except QuantizeError as e:
        raise CompileError(f"quantizing graph @{graph.name}: {e}") from None


def open_tuning_db(tuning_db, target: str):
    """The `aot tune` database at `tuning_db` for `target` (None for None): kernels it holds
    records for are built with their tuned schedules, the rest with the default ones."""
    if tuning_db is None:
        return None
    from aot.codegen.tuning import TuningError, open_db

    try:
        return open_db(tuning_db, target)
    except TuningError as e:
        raise CompileError(str(e)) from None


def to_graph(model) -> Graph:
    """An `aot.ir.Graph` as is; a Keras-style model through its `.to_graph()`."""
    if isinstance(model, Graph):
        return model
    to_graph_method = getattr(model, "to_graph", None)
    if not callable(to_graph_method):
        raise CompileError(f"cannot compile a {type(model).__name__}: expected an aot.ir.Graph "
                           "or a model with .to_graph()")
    graph = to_graph_method()
    if not isinstance(graph, Graph):
        raise CompileError(f"{type(model).__name__}.to_graph() returned a "
                           f"{type(graph).__name__}, not an aot.ir.Graph")
    return graph


def optimize_entries(graph: Graph, training=None) -> dict[str, Graph]:
    """{entry name: optimised graph}: predict alone, or with train_step and evaluate.
    Weights and state are shared Param objects; constants the passes made in
    different entries get entry-qualified names where two would clash."""
    if training is None:
        return {"predict": optimize(graph)}
    from aot.pipeline import training_entries

    entries = {name: verify(g) for name, g in training_entries(training, graph).items()}
    _qualify_clashing_params(entries)
    return entries


def _qualify_clashing_params(entries: dict[str, Graph]) -> None:
    seen: dict[str, object] = {}
    for entry, g in entries.items():
        for p in g.params:
            other = seen.setdefault(p.name, p)
            if other is not p:
                if not (p.is_const and other.is_const):
                    raise CompileError(f"two different weights are both named %{p.name}")
                p.name = f"{entry}/{p.name}"
                seen[p.name] = p


def optimize(graph: Graph) -> Graph:
    """The inference pipeline (aot/pipeline.py), then the verifier."""
    from aot.pipeline import optimize_for_inference

    return verify(optimize_for_inference(graph))


def _build(entries: dict[str, Graph], target: str, tuning_db=None):
    """Lower and build; TVM's failures become one line naming the graph and target."""
    from aot.codegen.build import build
    from aot.codegen.lower import Entry, lifts_weights

    graph = entries["predict"]
    for g in entries.values():
        missing = [f"%{p.name}" for p in g.params if p.data is None]
        if missing:
            raise CompileError(f"graph @{g.name}: params without data: {', '.join(missing)}")
    try:
        tuned = {"tuning_db": tuning_db} if tuning_db is not None else {}
        return build([Entry(name, g) for name, g in entries.items()], target, **tuned,
                     lift_weights=lifts_weights(entries.values()))
    except IRError:
        raise
    except Exception as e:  # TVM's own error types; its trace is not for our users
        raise CompileError(f"TVM could not build graph @{graph.name} for {target}: "
                           f"{_message(e)}") from e


def _output_path(output, name: str) -> tuple[Optional[tempfile.TemporaryDirectory], Path]:
    if output is not None:
        return None, Path(output)
    keep = tempfile.TemporaryDirectory(prefix="aot-")
    return keep, Path(keep.name) / f"{name}.aot"


def write_artifact(path, entries: dict[str, Graph], executable, target: str,
                   training=None) -> Path:
    """Export the library and write the artifact for its entry points."""
    import aot
    from aot.codegen.build import library_suffix
    from aot.codegen.targets import TARGETS, target_dict
    from aot.codegen.tvm import tvm

    tgt, host = target_dict(target)
    library = "kernels" + library_suffix(target)
    graph = entries["predict"]
    all_params = {p.name: p for g in entries.values() for p in g.params}
    weights, table = _artifact.encode_weights({n: np.asarray(p.data) for n, p in all_params.items()})
    manifests = {name: entry_manifest(name, g) for name, g in entries.items()}
    for name, transform in getattr(executable, "aot_transforms", {}).items():
        manifests[name]["transform_params"] = transform  # weights -> what the entry takes
    if training is not None:
        from aot.passes.train_step import metric_manifest

        for name in ("train_step", "evaluate"):
            manifests[name]["metrics"] = metric_manifest(training, entries[name])
    body = {"name": graph.name, "aot_version": aot.__version__, "tvm_version": tvm.__version__,
            "target": {"name": target, "tvm": tgt, "host": host},
            "device": TARGETS[target].device, "library": library,
            "entries": manifests, "weights": table}
    files = {library: lambda p: _export(executable, p, target), _artifact.WEIGHTS: weights}
    if target == "cuda":
        body["cuda_binaries"] = _cuda_binaries(executable, tgt["arch"], files)
    return _artifact.write(path, body, files)


def _cuda_binaries(executable, arch: str, files: dict) -> dict:
    """Compile the CUDA sources TVM left in the library; add the fatbins to `files`."""
    from aot.codegen.cuda_binaries import CudaCompileError, precompile

    try:
        binaries = precompile(executable, arch)
    except CudaCompileError as e:
        raise CompileError(str(e)) from None
    table = {}
    for key, blob in binaries.items():
        name = f"cuda-{key[:16]}.fatbin"
        files[name] = blob
        table[key] = name
    return table


def _export(executable, path: str, target: str) -> None:
    from aot.codegen.build import export

    try:
        export(executable, path)
    except Exception as e:  # the C compiler or linker failed; say so in one line
        raise CompileError(f"exporting the kernels for {target} failed: {_message(e)}") from e


def _message(e: Exception) -> str:
    """The first line of an error that is not part of a traceback (TVM's carry their C++ one)."""
    lines = [line for line in str(e).splitlines()
             if line.strip() and not line.startswith((" ", "\t", "Traceback"))]
    return lines[0] if lines else type(e).__name__


def entry_manifest(function: str, graph: Graph) -> dict:
    """An entry's manifest: signature, the params it takes in order, and the state it updates
    (param name -> index of its new value in the function's results: after the outputs)."""
    def spec(name, v):
        return TensorSpec(name, v.type.shape, v.type.dtype.value).to_json()

    n_out = len(graph.outputs)
    return {"function": function,
            "inputs": [spec(v.name, v) for v in graph.inputs],
            "outputs": [spec(n, v) for n, v in zip(graph.output_names, graph.outputs)],
            "params": [p.name for p in graph.params],
            "updates": {p.name: n_out + i for i, p in enumerate(graph.updates)}}
