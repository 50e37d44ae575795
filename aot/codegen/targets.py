"""Targets by short name: the one table mapping our names to TVM `Target` dicts.

`llvm` is the host CPU with its real `mcpu` and all its cores; `aarch64` is a
cross-compile; GPU targets carry the host CPU as their host.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .tvm import tvm


@dataclass(frozen=True)
class TargetSpec:
    name: str
    device: str        # the runtime's device name: cpu, cuda, opencl, metal, webgpu
    runnable_here: bool  # can this machine run its kernels (for tests)?
    doc: str


TARGETS = {
    "llvm": TargetSpec("llvm", "cpu", True, "the host CPU (detected mcpu, all cores)"),
    "aarch64": TargetSpec("aarch64", "cpu", False, "64-bit Arm Linux, cross-compiled (neon)"),
    "cuda": TargetSpec("cuda", "cuda", False, "NVIDIA GPUs (sm_80 unless AOT_CUDA_ARCH says)"),
    "opencl": TargetSpec("opencl", "opencl", False, "OpenCL GPUs"),
    "metal": TargetSpec("metal", "metal", False, "Apple GPUs (host: arm64 macOS)"),
    "webgpu": TargetSpec("webgpu", "webgpu", False, "WebGPU (WGSL kernels)"),
    "c": TargetSpec("c", "cpu", True, "portable C source (built with the host C compiler)"),
}


def host_cpu() -> str:
    return tvm.target.codegen.llvm_get_system_cpu()


def host_llvm() -> dict:
    return {"kind": "llvm", "mtriple": "x86_64-linux-gnu" if os.uname().machine == "x86_64"
            else "aarch64-linux-gnu", "mcpu": host_cpu(), "num-cores": os.cpu_count() or 1}


def target_dict(name: str) -> tuple[dict, dict | None]:
    """(target, host) dicts for a short name."""
    if name == "llvm":
        return host_llvm(), None
    if name == "aarch64":
        return {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a72",
                "mattr": ["+neon"], "num-cores": 4}, None
    if name == "cuda":
        return {"kind": "cuda", "arch": os.environ.get("AOT_CUDA_ARCH", "sm_80")}, host_llvm()
    if name == "opencl":
        return {"kind": "opencl"}, host_llvm()
    if name == "metal":
        return {"kind": "metal"}, {"kind": "llvm", "mtriple": "arm64-apple-macos"}
    if name == "webgpu":
        return {"kind": "webgpu"}, {"kind": "llvm", "mtriple": "wasm32-unknown-unknown-wasm"}
    if name == "c":
        return {"kind": "c"}, None
    raise ValueError(f"unknown target {name!r}; known: {', '.join(TARGETS)}")


def make_target(name: str):
    target, host = target_dict(name)
    return tvm.target.Target(target, host=host) if host else tvm.target.Target(target)
