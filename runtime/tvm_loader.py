"""The one place that imports TVM, for the runtime and the compiler alike.

The runtime loads only `libtvm_runtime.so` (TVM_USE_RUNTIME_LIB=1): a few MB
instead of the whole compiler. `tvm_ffi` imports torch at import time whenever
torch is installed (+2-4 s, +200 MB); we hide torch while TVM loads so neither
path pays for it.
"""
from __future__ import annotations

import os
import sys


class TVMLoadError(RuntimeError):
    pass


def load_tvm(runtime_only: bool = True):
    """Import and return the `tvm` module; `runtime_only` keeps the compiler library unloaded."""
    tvm = sys.modules.get("tvm")
    if tvm is not None:
        if not runtime_only and getattr(tvm.base, "_RUNTIME_ONLY", False):
            raise TVMLoadError("TVM was loaded runtime-only in this process; the compiler "
                               "needs a process that did not load an artifact first")
        return tvm
    os.environ.setdefault("TVM_FFI_DISABLE_TORCH_C_DLPACK", "1")
    saved = os.environ.get("TVM_USE_RUNTIME_LIB")
    if runtime_only:
        os.environ["TVM_USE_RUNTIME_LIB"] = "1"
    hide_torch = "torch" not in sys.modules
    if hide_torch:
        sys.modules["torch"] = None  # makes `import torch` inside tvm_ffi raise ImportError
    try:
        import tvm  # noqa: PLC0415
    finally:
        if hide_torch:
            sys.modules.pop("torch", None)
        if saved is None:
            os.environ.pop("TVM_USE_RUNTIME_LIB", None)
        else:
            os.environ["TVM_USE_RUNTIME_LIB"] = saved
    return tvm
