"""The one place that imports TVM, for the runtime and the compiler alike.

The runtime needs only `libtvm_runtime.so` and the `tvm_ffi` package that calls
into it (`load_runtime`). It does not import the `tvm` Python package at all:
that package imports its IR, TIR, TE and script printer even when only the
runtime library is loaded (TVM_USE_RUNTIME_LIB=1), ~0.25 s of every cold start,
most of it libbacktrace reading debug info the first time a type lookup misses.
The compiler imports `tvm` whole (`load_tvm(runtime_only=False)`).

`tvm_ffi` imports torch at import time whenever torch is installed (+2-4 s,
+200 MB); we hide torch while it loads so neither path pays for it.
"""
from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Optional


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
    saved = os.environ.get("TVM_USE_RUNTIME_LIB")
    if runtime_only:
        os.environ["TVM_USE_RUNTIME_LIB"] = "1"
    try:
        with _torch_hidden():
            import tvm  # noqa: PLC0415
    finally:
        if saved is None:
            os.environ.pop("TVM_USE_RUNTIME_LIB", None)
        else:
            os.environ["TVM_USE_RUNTIME_LIB"] = saved
    return tvm


def physical_cores() -> int:
    """Cores this process may run on, counting each physical core once (hyperthread
    siblings share one), from sysfs; the CPU count where sysfs says nothing."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
    cores = set()
    for cpu in cpus:
        try:
            cores.add(Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/core_cpus_list").read_text())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


def _set_thread_count() -> None:
    """TVM's thread pool guesses half the logical CPUs (assuming two hyperthreads per core):
    on a 2-core machine without SMT it ran every kernel on ONE thread. The pool reads
    TVM_NUM_THREADS when the library loads, so set it first, to the physical cores, unless
    the user chose (TVM_NUM_THREADS or OMP_NUM_THREADS). Child processes (tuning workers)
    inherit it."""
    if "TVM_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in os.environ:
        os.environ["TVM_NUM_THREADS"] = str(physical_cores())


@contextlib.contextmanager
def _torch_hidden():
    """While TVM's Python packages import: `import torch` inside tvm_ffi raises ImportError.
    Also the moment before TVM's library loads, when its thread count must be set."""
    os.environ.setdefault("TVM_FFI_DISABLE_TORCH_C_DLPACK", "1")
    _set_thread_count()
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None
    try:
        yield
    finally:
        if hide:
            sys.modules.pop("torch", None)


# ------------------------------------------------------------------ the runtime's view of TVM

_RUNTIME = None
_LOCK = threading.Lock()


def load_runtime() -> "Runtime":
    """The TVM runtime (libtvm_runtime.so through tvm_ffi), loaded once per process."""
    global _RUNTIME
    with _LOCK:
        if _RUNTIME is None:
            _RUNTIME = Runtime(_load_ffi())
        return _RUNTIME


def _load_ffi():
    """Import tvm_ffi and load libtvm_runtime.so globally (kernel libraries link against it)."""
    with _torch_hidden():
        try:
            import tvm_ffi  # noqa: PLC0415
        except ImportError as e:
            raise TVMLoadError(f"cannot import tvm_ffi (is apache-tvm installed?): {e}") from None
    if "tvm" not in sys.modules:  # else `import tvm` has loaded the library already
        path = _runtime_library()
        try:
            ctypes.CDLL(str(path), ctypes.RTLD_GLOBAL)
        except OSError as e:
            raise TVMLoadError(f"cannot load {path}: {e}") from None
    return tvm_ffi


def _runtime_library() -> Path:
    """libtvm_runtime.so where `import tvm` would find it: $TVM_LIBRARY_PATH, else the tvm
    package's lib/ (found without importing the package: beside tvm_ffi in a wheel install,
    else where the import system would find it)."""
    if os.environ.get("TVM_LIBRARY_PATH"):
        found = _in_dirs([Path(os.environ["TVM_LIBRARY_PATH"])])
        if found:
            return found
    site = Path(sys.modules["tvm_ffi"].__file__).parent.parent
    found = _in_dirs([site / "tvm" / "lib"])
    if found:
        return found
    spec = importlib.util.find_spec("tvm")
    dirs = []
    if spec is not None and spec.origin:
        pkg = Path(spec.origin).parent
        dirs = [pkg / "lib", pkg.parent.parent / "build" / "lib", pkg.parent.parent / "lib"]
    return _in_dirs(dirs) or _not_found(dirs)


def _in_dirs(dirs) -> Optional[Path]:
    for d in dirs:
        if (d / "libtvm_runtime.so").is_file():
            return d / "libtvm_runtime.so"
    return None


def _not_found(dirs):
    raise TVMLoadError("cannot find libtvm_runtime.so (is apache-tvm installed? looked in "
                       f"{', '.join(map(str, dirs)) or 'no tvm package'})")


# dtypes whose TVM tensors hold whole bytes laid out as numpy's (ml_dtypes for the float8s)
_SUB_BYTE = ("int4", "uint4", "int2", "uint2", "float4_e2m1fn")


class Runtime:
    """What the runtime uses of TVM, through tvm_ffi's global functions (those `tvm.runtime`
    wraps): devices, tensors and their copies, kernel libraries, the Relax VM."""

    POOLED_ALLOCATOR = 2

    def __init__(self, ffi):
        self.ffi = ffi
        self.array_get = ffi.get_global_func("ffi.ArrayGetItem")
        self._alloc = ffi.get_global_func("runtime.TVMTensorAllocWithScope")
        self._copy_from = ffi.get_global_func("runtime.TVMTensorCopyFromBytes")
        self._copy_to = ffi.get_global_func("runtime.TVMTensorCopyToBytes")
        self._device_attr = ffi.get_global_func("runtime.GetDeviceAttr")
        self._sidecars: dict = {}

    # ------------------------------------------------------------ devices

    def device(self, kind: str, index: int):
        """The device; its runtime sidecar (libtvm_runtime_cuda.so, ...) is loaded first."""
        if kind != "cpu":
            self._load_sidecar(kind)
        return self.ffi.device(kind, index)

    def exists(self, dev) -> bool:
        return self._device_attr(dev.dlpack_device_type(), dev.index, 0) != 0

    def _load_sidecar(self, kind: str) -> None:
        """TVM keeps each GPU backend's device API in its own library, registered on load."""
        if kind in self._sidecars:
            return
        self._sidecars[kind] = None
        lib = _runtime_library().parent / f"libtvm_runtime_{kind}.so"
        if lib.is_file():
            try:
                self._sidecars[kind] = ctypes.CDLL(str(lib), ctypes.RTLD_LOCAL)
            except OSError:  # no driver here: the device then reports that it does not exist
                pass

    # ------------------------------------------------------------ tensors

    def empty(self, shape, dtype: str, dev):
        return self._alloc(self.ffi.Shape([int(d) for d in shape]), self.ffi.dtype(dtype), dev,
                           None)

    def tensor(self, arr, dev):
        """A new tensor on `dev` holding a copy of the numpy array `arr`."""
        if arr.dtype.name in _SUB_BYTE:  # TVM packs these; its own Tensor knows how
            return load_tvm(runtime_only=True).runtime.tensor(arr, dev)
        out = self.empty(arr.shape, arr.dtype.name, dev)
        src = _contiguous(arr)
        if src.nbytes:
            self._copy_from(out, ctypes.c_void_p(src.ctypes.data), src.nbytes)
        return out

    def numpy(self, tensor, np_dtype):
        """A host numpy copy of any tensor (other devices, dtypes numpy cannot view)."""
        import numpy as np  # noqa: PLC0415

        if np_dtype.name in _SUB_BYTE:
            tvm = load_tvm(runtime_only=True)
            return tvm.runtime.Tensor.numpy(tensor)
        out = np.empty(tuple(tensor.shape), np_dtype)
        if out.nbytes:
            self._copy_to(tensor, ctypes.c_void_p(out.ctypes.data), out.nbytes)
        return out

    # ------------------------------------------------------------ code

    def load_module(self, path: str):
        return self.ffi.load_module(path)

    def virtual_machine(self, lib, dev):
        """The Relax VM over an exported library (as tvm.runtime.vm.VirtualMachine makes it:
        pooled allocator; a CPU device too where the kernels run elsewhere, for shape code)."""
        vm = lib["vm_load_executable"]()
        devices = [dev] if dev.dlpack_device_type() == 1 else [dev, self.ffi.device("cpu", 0)]
        init = []
        for d in devices:
            init += [d.dlpack_device_type(), d.index, self.POOLED_ALLOCATOR]
        vm["vm_initialization"](*init)
        return vm


def _contiguous(arr):
    return arr if arr.flags.c_contiguous else arr.copy(order="C")
