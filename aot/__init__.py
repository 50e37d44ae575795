"""aot: an ahead-of-time model compiler.

This module stays light: everything is a lazy attribute, so `import aot.runtime`
never loads the compiler, TVM's compiler library, or onnx.
"""
from __future__ import annotations

import importlib
import os

os.environ.setdefault("TVM_FFI_DISABLE_TORCH_C_DLPACK", "1")

__version__ = "0.1.0"

# public name -> (module, attribute or None for the module itself)
_LAZY = {
    "compile": ("aot.driver", "compile"),
    "Sequential": ("aot.frontends.keras", "Sequential"),
    "Model": ("aot.frontends.keras", "Model"),
    "Input": ("aot.frontends.keras", "Input"),
    "layers": ("aot.frontends.keras.layers", None),
    "optimizers": ("aot.frontends.keras.optimizers", None),
    "losses": ("aot.frontends.keras.losses", None),
    "metrics": ("aot.frontends.keras.metrics", None),
    "callbacks": ("aot.frontends.keras.callbacks", None),
    "initializers": ("aot.frontends.keras.initializers", None),
    "models": ("aot.models", None),
    "runtime": ("aot.runtime", None),
    "ir": ("aot.ir", None),
    "import_onnx": ("aot.frontends.onnx", "import_onnx"),
    "export_onnx": ("aot.frontends.onnx", "export_onnx"),
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'aot' has no attribute {name!r}")
    module, attr = _LAZY[name]
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
