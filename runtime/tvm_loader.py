"""The one place that imports TVM, for the runtime and the compiler alike.

The runtime loads only libtvm_ffi.so and libtvm_runtime.so and calls them through
ctypes (`ffi`, `load_runtime`). It imports neither the `tvm` Python package, which
brings its IR, TIR, TE and script printer even when only the runtime library is
loaded (TVM_USE_RUNTIME_LIB=1), ~0.25 s of every cold start, nor the `tvm_ffi`
package (~40 ms). The compiler imports `tvm` whole (`load_tvm(runtime_only=False)`).

`tvm_ffi` imports torch at import time whenever torch is installed (+2-4 s,
+200 MB); we hide torch while it loads so the compiler does not pay for it.
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
    the user chose (TVM_NUM_THREADS or OMP_NUM_THREADS); and its workers' spin (SPIN_COUNT)
    unless the user set TVM_THREAD_POOL_SPIN_COUNT. Child processes (tuning workers)
    inherit both."""
    if "TVM_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in os.environ:
        os.environ["TVM_NUM_THREADS"] = str(physical_cores())
    os.environ.setdefault("TVM_THREAD_POOL_SPIN_COUNT", str(SPIN_COUNT))


# After each parallel kernel TVM's workers spin, calling sched_yield() up to this many times,
# before they sleep. TVM's default, 300,000, is OpenMP's count of pause instructions (~1-10 ms)
# but here counts system calls (~60-120 ms): no kernel needed that long a spin (warm latency
# unchanged at 10,000 on the zoo), and the process that exits right after a call waits for
# it, since the pool joins its workers at exit (50-100 ms of a 0.2 s cold start). 10,000
# yields are ~2-4 ms, like OpenMP's spin. TVM reads it when the first worker starts.
SPIN_COUNT = 10_000


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
    """The TVM runtime (libtvm_ffi.so and libtvm_runtime.so, called through `ffi`), loaded
    once per process."""
    global _RUNTIME
    with _LOCK:
        if _RUNTIME is None:
            _RUNTIME = Runtime(_load_ffi())
        return _RUNTIME


def _load_ffi():
    """Load libtvm_ffi.so and then libtvm_runtime.so, globally (libtvm_runtime and the kernel
    libraries link against them), without importing the tvm_ffi package (see `ffi`)."""
    from . import ffi  # noqa: PLC0415

    _set_thread_count()
    path = _ffi_library()
    try:
        ffi.open_library(str(path))
    except OSError as e:
        raise TVMLoadError(f"cannot load {path}: {e}") from None
    if "tvm" not in sys.modules:  # else `import tvm` has loaded the library already
        path = _runtime_library()
        try:
            ctypes.CDLL(str(path), ctypes.RTLD_GLOBAL)
        except OSError as e:
            raise TVMLoadError(f"cannot load {path}: {e}") from None
    return ffi


def _package_dir(name: str) -> Optional[Path]:
    """Where the import system would find package `name`, without importing it."""
    module = sys.modules.get(name)
    origin = getattr(module, "__file__", None) if module else None
    if origin is None:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
    return Path(origin).parent if origin else None


def _ffi_library() -> Path:
    """libtvm_ffi.so where the tvm_ffi package loads it from: the package's lib/ (a wheel
    install), else its source tree's build/lib/ (a development install)."""
    pkg = _package_dir("tvm_ffi")
    dirs = [pkg / "lib", pkg.parent / "build" / "lib", pkg.parent.parent / "build" / "lib"] \
        if pkg else []
    for d in dirs:
        if (d / "libtvm_ffi.so").is_file():
            return d / "libtvm_ffi.so"
    raise TVMLoadError("cannot find libtvm_ffi.so (is apache-tvm-ffi installed? looked in "
                       f"{', '.join(map(str, dirs)) or 'no tvm_ffi package'})")


def _runtime_library() -> Path:
    """libtvm_runtime.so where `import tvm` would find it: $TVM_LIBRARY_PATH, else the tvm
    package's lib/ (found without importing the package: beside tvm_ffi in a wheel install,
    else where the import system would find it)."""
    if os.environ.get("TVM_LIBRARY_PATH"):
        found = _in_dirs([Path(os.environ["TVM_LIBRARY_PATH"])])
        if found:
            return found
    ffi_pkg = _package_dir("tvm_ffi")
    found = _in_dirs([ffi_pkg.parent / "tvm" / "lib"]) if ffi_pkg else None
    if found:
        return found
    pkg = _package_dir("tvm")
    dirs = [pkg / "lib", pkg.parent.parent / "build" / "lib", pkg.parent.parent / "lib"] \
        if pkg else []
    return _in_dirs(dirs) or _not_found(dirs)


def _in_dirs(dirs) -> Optional[Path]:
    for d in dirs:
        if (d / "libtvm_runtime.so").is_file():
            return d / "libtvm_runtime.so"
    return None


def _not_found(dirs):
    raise TVMLoadError("cannot find libtvm_runtime.so (is apache-tvm installed? looked in "
                       f"{', '.join(map(str, dirs)) or 'no tvm package'})")


# Sub-byte dtypes: TVM packs their values; these bits per value (ml_dtypes holds one a byte).
_SUB_BYTE = {"int4": 4, "uint4": 4, "float4_e2m1fn": 4, "int2": 2, "uint2": 2}


class Runtime:
    """What the runtime uses of TVM, through its C ABI (`ffi`) and the global functions that
    `tvm.runtime` wraps: devices, tensors and their copies, kernel libraries, the Relax VM."""

    POOLED_ALLOCATOR = 2

    def __init__(self, ffi):
        self.ffi = ffi
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
        return self._device_attr(dev.device_type, dev.index, 0) != 0

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
        return self._alloc(self.ffi.shape([int(d) for d in shape]), self.ffi.DataType(dtype),
                           dev, None)

    def tensor(self, arr, dev):
        """A new tensor on `dev` holding a copy of the numpy array `arr`."""
        out = self.empty(arr.shape, arr.dtype.name, dev)
        src = _packed(arr) if arr.dtype.name in _SUB_BYTE else _contiguous(arr)
        if src.nbytes:
            self._copy_from(out, ctypes.c_void_p(src.ctypes.data), src.nbytes)
        return out

    def numpy(self, tensor, np_dtype):
        """A host numpy copy of any tensor (other devices, dtypes numpy cannot view)."""
        import numpy as np  # noqa: PLC0415

        out = np.empty(tuple(tensor.shape), np_dtype)
        bits = _SUB_BYTE.get(np_dtype.name)
        nbytes = out.nbytes if bits is None else (out.size * bits + 7) // 8
        if nbytes:
            self._copy_to(tensor, ctypes.c_void_p(out.ctypes.data), nbytes)
        return out if bits is None else _unpacked(out)

    # ------------------------------------------------------------ code

    def load_module(self, path: str):
        return self.ffi.load_module(path)

    def virtual_machine(self, lib, dev):
        """The Relax VM over an exported library (as tvm.runtime.vm.VirtualMachine makes it:
        pooled allocator; a CPU device too where the kernels run elsewhere, for shape code)."""
        vm = lib["vm_load_executable"]()
        devices = [dev] if dev.device_type == 1 else [dev, self.ffi.device("cpu", 0)]
        init = []
        for d in devices:
            init += [d.device_type, d.index, self.POOLED_ALLOCATOR]
        vm["vm_initialization"](*init)
        return vm


def _contiguous(arr):
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _packed(arr):
    """The bytes TVM's own `Tensor.copyfrom` sends for a sub-byte array: float4 values two to
    a byte (the first in the high nibble); the others one to a byte as ml_dtypes holds them
    (which TVM refuses as a size mismatch, as it does through its own Python API)."""
    import numpy as np  # noqa: PLC0415

    if arr.dtype.name != "float4_e2m1fn":
        return _contiguous(arr)
    bits = np.ascontiguousarray(arr).view(np.uint8).reshape(-1)
    if bits.size % 2:
        bits = np.pad(bits, (0, 1))
    pairs = bits.reshape(-1, 2)
    return (((pairs[:, 0] & 0x0F) << 4) | (pairs[:, 1] & 0x0F)).astype(np.uint8)


def _unpacked(raw):
    """Undo TVM's packing of int4 and float4 values copied out two to a byte, as TVM's own
    `Tensor.numpy` does (the packed bytes lie at the start of `raw`)."""
    import numpy as np  # noqa: PLC0415

    if raw.dtype.name not in ("int4", "float4_e2m1fn"):
        return raw
    n = raw.size
    packed = raw.view(np.int8).reshape(n)
    out = np.empty((n,), np.int8)
    out[1::2] = (packed & 0x0F)[:n // 2]
    out[0::2] = ((packed >> 4) & 0x0F)[:(n + 1) // 2]
    return out.reshape(raw.shape).view(raw.dtype)
