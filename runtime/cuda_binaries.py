"""Answer TVM's CUDA compile callback from the fatbins an artifact ships.

TVM loads a CUDA library whose kernels are still CUDA C source by calling the
global function `tvm_callback_cuda_compile(source)`. The compiler side built
every source into a fatbin (aot/codegen/cuda_binaries.py) and listed it in the
manifest under "cuda_binaries" ({sha256 of the source: file name}); we register
a callback that returns those bytes, so no CUDA compiler is needed here.
"""
from __future__ import annotations

import hashlib

from .errors import ArtifactError

_TABLE: dict[str, bytes] = {}
_REGISTERED = False
_PREVIOUS = None  # TVM's own nvcc/NVRTC callback, when the compiler is loaded in this process


def install(art) -> None:
    """Make the artifact's precompiled kernels available to TVM's CUDA loader."""
    global _REGISTERED
    for key, name in art.manifest.get("cuda_binaries", {}).items():
        _TABLE[key] = art.files[name]
    if _REGISTERED or not _TABLE:
        return
    from .tvm_loader import _torch_hidden

    with _torch_hidden():  # the runtime's own calls go through `ffi`; a callback needs tvm_ffi
        import tvm_ffi

    global _PREVIOUS
    _PREVIOUS = tvm_ffi.get_global_func("tvm_callback_cuda_compile", allow_missing=True)
    tvm_ffi.register_global_func("tvm_callback_cuda_compile", lookup, override=True)
    _REGISTERED = True


def lookup(source) -> bytes:
    """The fatbin for `source`; TVM's own compiler for sources no artifact holds (if loaded)."""
    key = hashlib.sha256(str(source).encode("utf-8")).hexdigest()
    if key not in _TABLE and _PREVIOUS is not None:
        return _PREVIOUS(source)
    if key not in _TABLE:
        raise ArtifactError("the artifact has no precompiled CUDA kernels for this library "
                            f"(source {key[:12]}); rebuild it with `aot compile --target cuda`")
    return _TABLE[key]
