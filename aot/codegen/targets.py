"""Targets by short name: the one table mapping our names to TVM `Target` dicts.

`llvm` is the host CPU with its real `mcpu` and all its cores; `aarch64` is a
cross-compile; GPU targets carry a CPU host for the code that launches kernels
(the host CPU for cuda and opencl, an Apple arm64 host for metal, wasm32 for
webgpu, whose host code runs in the browser).

Each entry also says what `aot.codegen.build` needs to know about the device:
whether its kernels need GPU schedules, how the library is linked (a shared
library with the host's C compiler, a cross compiler when one is on PATH, else a
tar of objects linked on the device), and the dtypes its code generator lacks.
"""
from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass
from typing import Optional

from aot.ir.types import DType

from .tvm import tvm


@dataclass(frozen=True)
class TargetSpec:
    name: str
    device: str          # the runtime's device name: cpu, cuda, opencl, metal, webgpu
    doc: str
    gpu: bool = False    # kernels need thread bindings (GPU schedules)
    # How a shared library is linked: "host" (this machine's C compiler), a cross
    # compiler's name (used when it is on PATH), or None (never here: a .tar of objects).
    linker: Optional[str] = "host"
    cross_triple: Optional[str] = None  # a CPU cross target: native when the host is this
    unsupported_dtypes: frozenset = frozenset()  # the device code generator has no such type

    @property
    def native(self) -> bool:
        """A CPU target whose code this machine executes."""
        return self.device == "cpu" and (self.cross_triple is None
                                         or host_triple() == self.cross_triple)

    @property
    def runnable_here(self) -> bool:
        """Can this machine run its kernels (tests, `aot.compile` without output)?"""
        return self.native if self.device == "cpu" else _device_exists(self.device)

    def can_link(self) -> bool:
        """Can this machine link the host code into a loadable shared library?"""
        if self.linker == "host" or self.native:
            return True
        return self.linker is not None and shutil.which(self.linker) is not None


_NO_64BIT = frozenset({DType.float64, DType.int64, DType.uint64})

TARGETS = {
    "llvm": TargetSpec("llvm", "cpu", "the host CPU (detected mcpu, all cores)"),
    "aarch64": TargetSpec("aarch64", "cpu", "64-bit Arm Linux, cross-compiled (neon)",
                          linker="aarch64-linux-gnu-gcc", cross_triple="aarch64-linux-gnu"),
    "cuda": TargetSpec("cuda", "cuda", "NVIDIA GPUs (AOT_CUDA_ARCH, else the local GPU's "
                       "arch, else sm_80)", gpu=True),
    "opencl": TargetSpec("opencl", "opencl", "OpenCL GPUs", gpu=True),
    "metal": TargetSpec("metal", "metal", "Apple GPUs (host: arm64 macOS)", gpu=True,
                        linker=None, unsupported_dtypes=frozenset({DType.float64})),
    "webgpu": TargetSpec("webgpu", "webgpu", "WebGPU (WGSL kernels, wasm32 host)",
                         gpu=True, linker=None, unsupported_dtypes=_NO_64BIT),
    "c": TargetSpec("c", "cpu", "portable C source (built with the host C compiler)"),
}


def _device_exists(device: str) -> bool:
    try:
        return bool(tvm.device(device, 0).exist)
    except Exception:  # this TVM has no runtime for the device: it cannot run here
        return False


def spec(name: str) -> TargetSpec:
    """The table entry for a short name, or a one-line error listing the known ones."""
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; known: {', '.join(TARGETS)}") from None


def host_cpu() -> str:
    return tvm.target.codegen.llvm_get_system_cpu()


def host_triple() -> str:
    """The host's LLVM triple, spelled portably (LLVM's own may name a vendor, e.g. conda)."""
    machine = platform.machine().lower()
    arch = "aarch64" if machine in ("arm64", "aarch64") else machine
    if platform.system() == "Darwin":
        return f"{'arm64' if arch == 'aarch64' else arch}-apple-macos"
    return f"{arch}-linux-gnu"


def host_llvm() -> dict:
    return {"kind": "llvm", "mtriple": host_triple(), "mcpu": host_cpu(),
            "num-cores": os.cpu_count() or 1}


def cuda_arch() -> str:
    """AOT_CUDA_ARCH if set, else the local GPU's compute capability, else sm_80 (A100)."""
    arch = os.environ.get("AOT_CUDA_ARCH")
    if arch:
        return arch
    try:
        dev = tvm.cuda(0)
        if dev.exist:
            return "sm_" + dev.compute_version.replace(".", "")
    except Exception:  # no CUDA runtime in this TVM build, or no driver: not an error here
        pass
    return "sm_80"


def _aarch64() -> dict:
    return {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a72",
            "mattr": ["+neon"], "num-cores": 4}


def target_dict(name: str) -> tuple[dict, Optional[dict]]:
    """(target, host) dicts for a short name; host is None for CPU targets."""
    spec(name)
    if name == "llvm":
        return host_llvm(), None
    if name == "aarch64":
        return _aarch64(), None
    if name == "cuda":
        return {"kind": "cuda", "arch": cuda_arch()}, host_llvm()
    if name == "opencl":
        return {"kind": "opencl"}, host_llvm()
    if name == "metal":
        return {"kind": "metal"}, {"kind": "llvm", "mtriple": "arm64-apple-macos",
                                   "mcpu": "apple-m1"}
    if name == "webgpu":
        return {"kind": "webgpu"}, {"kind": "llvm", "mtriple": "wasm32-unknown-unknown-wasm"}
    return {"kind": "c"}, None


def make_target(name: str):
    target, host = target_dict(name)
    return tvm.target.Target(target, host=host) if host else tvm.target.Target(target)
