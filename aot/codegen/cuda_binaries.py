"""Compile CUDA kernels at build time, so the runtime never needs a CUDA compiler.

On a machine without a CUDA driver, TVM 0.27 keeps the generated CUDA C source
in the library and compiles it when the library is loaded, through a Python
callback (`tvm_callback_cuda_compile`) that lives in TVM's compiler package and
needs nvcc or NVRTC on the device. We compile each source here with nvcc for
the target's arch and ship the fatbins in the artifact, keyed by the SHA-256 of
the source; the runtime answers TVM's callback from that table
(`aot/runtime/cuda_binaries.py`).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile

from .build import kernel_modules


class CudaCompileError(RuntimeError):
    pass


def cuda_sources(executable) -> list[str]:
    """The CUDA C sources TVM left in the library (empty when it compiled them already)."""
    out = []
    for m in kernel_modules(executable):
        if m.kind != "cuda":
            continue
        src = m.inspect_source("cuda")
        if src and "__global__" in src:
            out.append(src)
    return out


def source_key(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def compile_fatbin(source: str, arch: str) -> bytes:
    """nvcc --fatbin for `arch` (sm_XX), with PTX embedded so newer GPUs can JIT it."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise CudaCompileError("building for cuda needs nvcc on PATH to compile the kernels")
    compute = arch.replace("sm_", "compute_")
    with tempfile.TemporaryDirectory(prefix="aot-cuda-") as d:
        src, out = os.path.join(d, "kernels.cu"), os.path.join(d, "kernels.fatbin")
        with open(src, "w") as f:
            f.write(source)
        cmd = [nvcc, "--fatbin", "-O3", f"-gencode=arch={compute},code=[{arch},{compute}]",
               "-o", out, src]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            first = next((l for l in proc.stderr.splitlines() if "error" in l), proc.stderr.strip())
            raise CudaCompileError(f"nvcc failed on the generated kernels: {first}")
        with open(out, "rb") as f:
            return f.read()


def precompile(executable, arch: str) -> dict[str, bytes]:
    """{source sha256: fatbin} for every CUDA source in the executable."""
    return {source_key(s): compile_fatbin(s, arch) for s in cuda_sources(executable)}
