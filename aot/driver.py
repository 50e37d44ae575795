"""`aot.compile`: a model or graph in, an artifact out, loaded and ready to run.

The steps, top to bottom: take the graph (from a Keras-style model if need be),
run the inference pipeline, lower every entry point to Relax and build it with
TVM for the target, write the artifact (manifest, kernels, weights), and load
it with the runtime, so that what `compile` returns behaves exactly like
`aot.runtime.load` of the file it wrote.
"""
from __future__ import annotations

import importlib
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
            *, device: Optional[str] = None,
            on_step: Optional[Callable[[str], None]] = None):
    """Compile for `target`; write the artifact to `output` (or a private temp dir).

    Returns the loaded module, or None when `output` is given and the target's
    kernels cannot run on this machine (a cross-compile). `on_step(name)` is
    called as each of the steps in `_STEPS` starts (the CLI's progress bar).
    """
    from aot.codegen.targets import TARGETS

    step = on_step or (lambda name: None)
    _refuse_unsupported(quantize, tuning_db)
    spec = TARGETS.get(target)
    if spec is None:
        raise CompileError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
    if output is None and not spec.runnable_here:
        raise CompileError(f"target {target!r} cannot run on this machine: pass output= to "
                           "write the artifact and run it on the device")
    step("optimize")
    graph = optimize(to_graph(model_or_graph))
    step("build")
    executable = _build(graph, target)
    step("write")
    keep, path = _output_path(output, graph.name)
    write_artifact(path, graph, executable, target)
    if not spec.runnable_here:
        return None
    step("load")
    from aot.runtime import load

    module = load(path, device)
    module._keepalive = keep  # the temp artifact lives as long as the module
    return module


def _refuse_unsupported(quantize, tuning_db) -> None:
    if quantize is not None:
        raise NotImplementedError(f"quantize={quantize!r} is not supported yet; use quantize=None")
    if tuning_db is not None:
        raise NotImplementedError(f"tuning_db={str(tuning_db)!r} is not supported yet; "
                                  "use tuning_db=None")


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


def optimize(graph: Graph) -> Graph:
    """The inference pipeline (aot/pipeline.py), then the verifier. Without a pipeline module
    the graph is compiled as it is."""
    try:
        pipeline = importlib.import_module("aot.pipeline")
    except ModuleNotFoundError as e:
        if e.name != "aot.pipeline":
            raise
        return verify(graph)
    return verify(pipeline.optimize_for_inference(graph))


def _build(graph: Graph, target: str):
    """Lower and build; TVM's failures become one line naming the graph and target."""
    from aot.codegen.build import build
    from aot.codegen.lower import Entry

    missing = [f"%{p.name}" for p in graph.params if p.data is None]
    if missing:
        raise CompileError(f"graph @{graph.name}: params without data: {', '.join(missing)}")
    try:
        return build([Entry("predict", graph)], target)
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


def write_artifact(path, graph: Graph, executable, target: str) -> Path:
    """Export the library and write the artifact for one entry point, `predict`."""
    import aot
    from aot.codegen.build import library_suffix
    from aot.codegen.targets import TARGETS, target_dict
    from aot.codegen.tvm import tvm

    tgt, host = target_dict(target)
    library = "kernels" + library_suffix(target)
    weights, table = _artifact.encode_weights({p.name: np.asarray(p.data) for p in graph.params})
    body = {"name": graph.name, "aot_version": aot.__version__, "tvm_version": tvm.__version__,
            "target": {"name": target, "tvm": tgt, "host": host},
            "device": TARGETS[target].device, "library": library,
            "entries": {"predict": entry_manifest("predict", graph)}, "weights": table}
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
