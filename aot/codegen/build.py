"""Build Relax modules into kernels with TVM, for any target in the table.

`build` returns TVM's executable; `export` writes it as a shared library (or a
tar of objects when this machine cannot link for the target); `run_local`
compiles and runs a graph on the host CPU (tests use it to check lowerings
against the interpreter without going through an artifact).

The Relax pipeline, by kind of target:
- CPU (llvm, aarch64): TVM's CPU stages with our default schedules
  (`aot.codegen.schedules`: tiled, vectorized, parallel matmul/conv/pool/reduction
  kernels) after legalization, so untuned code is fast.
- c: TVM's default build pipeline (portable C, no vector types).
- GPU (cuda, opencl, metal, webgpu): TVM's per-target default pipeline, whose
  legalize stage ends with dlight's default GPU schedules (matmul, GEMV,
  reductions, and a fallback that binds every spatial loop), then
  `DefaultGPUSchedule` for any kernel no dlight rule took: every kernel leaves
  with thread bindings, so nothing fails with "did you forget to bind?".
"""
from __future__ import annotations

import importlib.util
import inspect
import os
import shutil

import numpy as np

from aot.ir.graph import Graph
from aot.ir.text import print_node

from . import tuning
from .lower import TRANSFORM_SUFFIX, Entry, LoweringError, lifted_entries, to_relax
from .targets import TargetSpec, make_target, spec
from .tvm import tvm


def build(entries: list[Entry], target: str = "llvm", tuning_db=None, lift_weights=False):
    """Lower and compile the entries into one executable for `target`.

    With `tuning_db` (an `aot.codegen.tuning.TuningDB`), entries dispatch to static
    copies for its tuned batch sizes, whose kernels take the tuning records.

    The executable remembers its target name (`aot_target`) so that `export` can
    pick the right linker without being told again.
    """
    s = spec(target)
    check_dtypes(entries, s)
    mod = to_relax(entries, lift_weights)
    lifted = lifted_entries(mod)
    tgt = make_target(target)
    if s.gpu:
        _prepare_gpu_build(s)
    if tuning_db is not None:
        mod = tuning.specialize(mod, tuning_db.batches)
    with tuning.database_context(tuning_db):
        ex = tvm.compile(mod, target=tgt, relax_pipeline=relax_pipeline(tgt))
    ex.aot_target = target
    ex.aot_transforms = {name: name + TRANSFORM_SUFFIX for name in lifted}
    return ex


def relax_pipeline(tgt):
    """The scheduled pipelines below for llvm and GPU targets; TVM's default one for c."""
    if "gpu" in tgt.keys:
        return gpu_pipeline(tgt)
    return cpu_pipeline(tgt) if tgt.kind.name == "llvm" else "default"


def cpu_pipeline(tgt):
    """TVM's four CPU stages, with our default schedules right after legalization (the
    PrimFuncs are fused by then, so each schedule covers its epilogue too), and vector
    exp/tanh/sigmoid/softmax (`fast_math`) before it."""
    from tvm.relax.backend.cpu_generic import pipeline as stages

    from .schedules import default_schedule_pass

    @tvm.transform.module_pass(opt_level=0, name="AotCPUPipeline")
    def pipeline(mod, _ctx):
        with tgt:
            passes = (tuning.kernel_passes(tgt)
                      + tuning.apply_database_passes() + [default_schedule_pass(tgt)]
                      + stages.dataflow_lower_passes(tgt) + stages.finalize_passes(tgt)
                      + [_noalias_shape_funcs()])
            return tvm.transform.Sequential(passes)(mod)

    return pipeline


def _noalias_shape_funcs():
    """Mark the shape functions of a dynamic-shape module `tirx.noalias`, as every kernel is.

    VMShapeLower emits them without it, and TVM's LLVM codegen then treats the buffers of
    *every* PrimFunc of the module as possibly aliased: no `noalias` arguments, one TBAA
    class for all accesses, so LLVM keeps each register accumulator of a matmul tile in
    memory (a store per multiply-add; a dense layer with a symbolic batch ran 2x slower
    than the same layer with a fixed one). A shape function reads and writes one buffer
    (the VM's shape heap), so no two of its arguments alias: the mark is true."""

    @tvm.transform.module_pass(opt_level=0, name="AotNoaliasShapeFuncs")
    def mark(mod, _ctx):
        for gv, func in list(mod.functions_items()):
            if (isinstance(func, tvm.tirx.PrimFunc) and gv.name_hint.startswith("shape_func")
                    and not func.attrs.get("tirx.noalias")):
                mod[gv] = func.with_attr("tirx.noalias", True)
        return mod

    return mark


def gpu_pipeline(tgt):
    """TVM's four stages for this GPU kind (dlight schedules end `legalize_passes`), with
    `DefaultGPUSchedule` as a last resort for kernels no dlight rule scheduled."""
    from tvm.s_tir.transform import DefaultGPUSchedule

    stages = _gpu_backend(tgt)

    @tvm.transform.module_pass(opt_level=0, name="AotGPUPipeline")
    def pipeline(mod, _ctx):
        with tgt:
            passes = (stages.library_dispatch_passes(tgt) + stages.legalize_passes(tgt)
                      + [DefaultGPUSchedule()]
                      + stages.dataflow_lower_passes(tgt) + stages.finalize_passes(tgt))
            return tvm.transform.Sequential(passes)(mod)

    return pipeline


def _gpu_backend(tgt):
    """The module holding TVM's pipeline stages for this GPU kind. (Read from the backend
    modules: in 0.27 `relax.pipeline.dataflow_lower_passes` fails for cuda, whose package
    does not re-export it.)"""
    from tvm.relax.backend.cuda import pipeline as cuda
    from tvm.relax.backend.gpu_generic import pipeline as generic

    return cuda if tgt.kind.name == "cuda" else generic


def check_dtypes(entries: list[Entry], s: TargetSpec) -> None:
    """Refuse, naming the node, a graph whose kernels need a dtype the target's codegen lacks
    (WebGPU has no 64-bit types, Metal no float64). Constant inputs an op reads at compile
    time (shape tensors) never reach a kernel and are not checked."""
    if not s.unsupported_dtypes:
        return
    for e in entries:
        for node in e.graph.nodes:
            used = [v for i, v in enumerate(node.inputs) if i not in node.op.const_inputs]
            for v in used + list(node.outputs):
                if v.type.dtype in s.unsupported_dtypes:
                    raise LoweringError(f"target {s.name} has no {v.type.dtype.value} kernels; "
                                        f"graph @{e.graph.name} needs one for: {print_node(node)}")


def _prepare_gpu_build(s: TargetSpec) -> None:
    """Two process-wide settings GPU builds need, both idempotent:

    - Where the CUDA runtime is loaded (a machine with a driver), TVM compiles
      kernels at build time through NVRTC, which needs the `cuda-bindings`
      package; without it, but with nvcc on PATH, use nvcc (an explicit
      TVM_CUDA_COMPILE_MODE wins).
    - dlight's Metal and tensor-core matmul rules import TVM's tensor intrinsics:
      ~500 TVMScript functions whose parser calls `inspect.stack()`, which looks up
      the module of every frame. Frames of the frozen importlib have no file, so
      each lookup rescans `sys.modules` (10-40 s in all). Telling `inspect` which
      module those frames belong to makes it a dict lookup (~3 s).
    """
    if s.name == "cuda" and "TVM_CUDA_COMPILE_MODE" not in os.environ:
        if not _importable("cuda.bindings") and shutil.which("nvcc"):
            os.environ["TVM_CUDA_COMPILE_MODE"] = "nvcc"
    for name in ("importlib._bootstrap", "importlib._bootstrap_external"):
        inspect.modulesbyfile.setdefault(f"<frozen {name}>", name)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


# ------------------------------------------------------------------ export

def library_suffix(target: str) -> str:
    """.so where this machine can link the host code (with a cross compiler if the target
    needs one), else .tar: the objects, linked on the device."""
    return ".so" if spec(target).can_link() else ".tar"


def export(executable, path, target: str | None = None) -> None:
    """Write the library: a .tar of objects, or a shared library linked here.

    `target` defaults to the one `build` recorded; a cross target links with its
    cross compiler.
    """
    path = str(path)
    target = target or getattr(executable, "aot_target", None)
    if path.endswith(".tar"):
        executable.export_library(path)
        return
    s = spec(target) if target else None
    if s is None or s.native or s.linker == "host":
        executable.export_library(path)
        return
    if not s.can_link():
        why = f" (no {s.linker} on PATH)" if s.linker else ""
        raise ValueError(f"cannot link a {target} library on this machine{why}: "
                         f"export to a {library_suffix(target)} instead")
    from tvm.support import cc

    executable.export_library(path, fcompile=cc.cross_compiler(s.linker))


def kernel_modules(executable) -> list:
    """The compiled modules under the VM executable: the host library, then the device
    modules it imports (kind "llvm"/"c" for host code, "cuda", "opencl", "metal",
    "webgpu" for kernels), depth first."""
    out, stack = [], list(executable.mod.imports)
    while stack:
        m = stack.pop(0)
        out.append(m)
        stack[:0] = list(m.imports)
    return out


# ------------------------------------------------------------------ run

def run_local(graph: Graph, feeds: dict, executable=None) -> list[np.ndarray]:
    """Compile `graph` for the host CPU (unless given) and run it on `feeds` (by input name)."""
    ex = executable or build([Entry("main", graph)], "llvm")
    dev = tvm.cpu()
    vm = tvm.relax.VirtualMachine(ex, dev)
    args = [tvm.runtime.tensor(np.asarray(feeds[v.name], order="C"), dev) for v in graph.inputs]
    args += [tvm.runtime.tensor(np.asarray(p.data, order="C"), dev) for p in graph.params]
    out = vm["main"](*args)
    return [out[i].numpy() for i in range(len(graph.outputs))]
