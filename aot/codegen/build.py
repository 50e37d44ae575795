"""Build Relax modules into kernels with TVM, for any target in the table.

`build` returns TVM's executable; `export` writes it as a shared library (or a
tar of objects when this machine cannot link for the target); `run_local`
compiles and runs a graph on the host CPU (tests use it to check lowerings
against the interpreter without going through an artifact).
"""
from __future__ import annotations

import numpy as np

from aot.ir.graph import Graph

from .lower import Entry, to_relax
from .targets import TARGETS, make_target
from .tvm import tvm


def build(entries: list[Entry], target: str = "llvm"):
    """Lower and compile the entries into one executable for `target`."""
    mod = to_relax(entries)
    tgt = make_target(target)
    return tvm.compile(mod, target=tgt)


def library_suffix(target: str) -> str:
    """.so where this machine can link the host code, else .tar (objects, linked on the device)."""
    return ".so" if TARGETS[target].runnable_here or target in ("cuda", "opencl") else ".tar"


def export(executable, path: str) -> None:
    executable.export_library(path)


def run_local(graph: Graph, feeds: dict, executable=None) -> list[np.ndarray]:
    """Compile `graph` for the host CPU (unless given) and run it on `feeds` (by input name)."""
    ex = executable or build([Entry("main", graph)], "llvm")
    dev = tvm.cpu()
    vm = tvm.relax.VirtualMachine(ex, dev)
    args = [tvm.runtime.tensor(np.asarray(feeds[v.name], order="C"), dev) for v in graph.inputs]
    args += [tvm.runtime.tensor(np.asarray(p.data, order="C"), dev) for p in graph.params]
    out = vm["main"](*args)
    return [out[i].numpy() for i in range(len(graph.outputs))]
