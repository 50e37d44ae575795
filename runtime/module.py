"""A loaded artifact: its kernels in TVM's Relax VM, its weights on the device, and
the calls users make (`predict` as in Keras, `run` as in ONNX Runtime).

Weights are copied to the device once and passed to each entry function after
its inputs, in the order the manifest lists; an entry that updates state (a
training step) returns the new values after its outputs, and they replace the
old ones in place of a copy back to the host.
"""
from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

from . import artifact as _artifact
from .dtypes import numpy_dtype
from .errors import ArtifactError, InputError, NonFiniteLossError
from .metrics import Accumulator, batch_result
from .signature import Signature, TensorSpec, check_array, check_feeds
from .tvm_loader import load_tvm


@dataclass(frozen=True)
class _Entry:
    name: str
    signature: Signature
    params: tuple[str, ...]
    updates: dict  # param name -> index in the function's result tuple
    function: object  # the VM function


class Module:
    """Run an artifact's entry points. Made by `aot.runtime.load` (or `aot.compile`)."""

    def __init__(self, art: _artifact.Artifact, device: Optional[str] = None):
        self._tvm = load_tvm(runtime_only=True)
        self._artifact = art
        self.path = art.path
        self.manifest = art.manifest
        self.device = device or art.manifest["device"]
        self._dev = _open_device(self._tvm, self.device, art.manifest)
        self._vm = _make_vm(self._tvm, art, self._dev)
        self._entries = {name: _make_entry(name, spec, self._vm)
                         for name, spec in art.manifest["entries"].items()}
        self._state = {n: self._to_device(a) for n, a in art.weights().items()}
        self._keepalive = None  # what must live as long as the module (aot.compile's temp dir)
        self._weight_specs = {n: TensorSpec(n, tuple(w["shape"]), w["dtype"])
                              for n, w in art.manifest["weights"].items()}
        self._host = self._dev.dlpack_device_type() == 1  # kDLCPU: numpy views of tensors
        self._checked = set()  # (entry, feed names, shapes and dtypes) that passed the checks
        self._buffers = threading.local()  # per thread: reused input tensors

    # ------------------------------------------------------------ description

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def target(self) -> str:
        return self.manifest["target"]["name"]

    @property
    def entries(self) -> tuple[str, ...]:
        return tuple(self._entries)

    @property
    def signature(self) -> Signature:
        """The signature of `predict` (or of the only entry)."""
        return self._entry("predict" if "predict" in self._entries else self.entries[0]).signature

    @property
    def signatures(self) -> dict[str, Signature]:
        return {n: e.signature for n, e in self._entries.items()}

    def __repr__(self) -> str:
        return (f"<aot.runtime.Module {self.name!r} target={self.target} device={self.device} "
                f"entries={','.join(self.entries)}>")

    # ------------------------------------------------------------ calls

    def predict(self, *arrays):
        """Keras-like: inputs in order (or one dict by name); one output -> an array, else a list."""
        entry = self._entry("predict")
        names = entry.signature.input_names
        if len(arrays) == 1 and isinstance(arrays[0], Mapping):
            feeds = arrays[0]
        elif len(arrays) != len(names):
            raise InputError(f"predict takes {len(names)} input(s) ({', '.join(names)}), "
                             f"got {len(arrays)}")
        else:
            feeds = dict(zip(names, arrays))
        outs = self._call(entry, feeds)
        return outs[0] if len(outs) == 1 else outs

    def run(self, feeds: Mapping, output_names: Optional[Sequence[str]] = None,
            entry: str = "predict") -> dict[str, np.ndarray]:
        """ONNX Runtime-like: inputs and outputs by name (all outputs unless `output_names`)."""
        e = self._entry(entry)
        all_names = e.signature.output_names
        wanted = list(all_names if output_names is None else output_names)
        unknown = [n for n in wanted if n not in all_names]
        if unknown:
            raise InputError(f"unknown output(s) {', '.join(map(repr, unknown))}; "
                             f"the outputs are {', '.join(all_names)}")
        outs = dict(zip(all_names, self._call(e, feeds)))
        return {n: outs[n] for n in wanted}

    def _call(self, entry: _Entry, feeds: Mapping) -> list[np.ndarray]:
        arrays = self._check(entry, feeds)  # before any kernel runs
        args = self._inputs(entry, arrays) + [self._state[p] for p in entry.params]
        result = entry.function(*args)
        values = [result[i] for i in range(len(result))]
        outs = [self._to_host(v) for v in values[:len(entry.signature.outputs)]]
        if entry.updates and "loss" in entry.signature.output_names:
            loss = outs[entry.signature.output_names.index("loss")]
            if not np.all(np.isfinite(loss)):  # keep the last good state: commit nothing
                raise NonFiniteLossError(f"{entry.name}: the loss is {float(loss)}; "
                                         "the weights were left as they were before this step")
        for param, index in entry.updates.items():
            self._state[param] = values[index]
        return outs

    def _check(self, entry: _Entry, feeds: Mapping) -> list[np.ndarray]:
        """The feeds in input order, checked. Numpy feeds whose names, shapes and dtypes already
        passed for this entry skip the checks: they depend on nothing else (the hot path of
        repeated calls; any other feed is checked every time and errors stay as they are)."""
        try:
            key = (entry.name,) + tuple((k, v.shape, v.dtype) for k, v in feeds.items()
                                        if type(v) is np.ndarray)
        except AttributeError:  # not a mapping of arrays: let the checks say what is wrong
            key = None
        if key is not None and len(key) == len(feeds) + 1 and key in self._checked:
            return [feeds[s.name] for s in entry.signature.inputs]
        arrays = check_feeds(entry.signature.inputs, feeds)
        if key is not None and len(key) == len(feeds) + 1:
            if len(self._checked) > 256:  # many batch sizes: forget, stay small
                self._checked.clear()
            self._checked.add(key)
        return arrays

    def _inputs(self, entry: _Entry, arrays: list) -> list:
        """The inputs as device tensors. On the host, an entry that updates no state copies
        them into tensors it keeps per thread and shape (no allocation per call); an entry
        that does may return an input as new state, so it gets fresh tensors."""
        if entry.updates or not self._host:
            return [self._to_device(a) for a in arrays]
        cache = self._buffers.__dict__.setdefault(entry.name, {})
        out = []
        for i, a in enumerate(arrays):
            if a.dtype.name not in _VIEWABLE:  # bfloat16, float8, bool: numpy cannot view them
                out.append(self._to_device(a))
                continue
            held = cache.get(i)
            if held is None or held[1].shape != a.shape or held[1].dtype != a.dtype:
                held = cache[i] = _host_buffer(self._tvm, a, self._dev)
            np.copyto(held[1], a)
            out.append(held[0])
        return out

    def _to_host(self, tensor) -> np.ndarray:
        """A numpy copy of a result (through a DLPack view on the host: ~10x cheaper than
        `Tensor.numpy`; dtypes numpy cannot view, and other devices, take `numpy()`)."""
        if self._host and tensor.dtype in _VIEWABLE:
            return np.from_dlpack(tensor).copy()
        return tensor.numpy()

    # ------------------------------------------------------------ training

    def metrics(self, entry: str = "train_step") -> list[dict]:
        """The metrics an entry reports: [{"name", "finalize", "outputs"}] (see runtime.metrics)."""
        return list(self.manifest["entries"][self._entry(entry).name].get("metrics", []))

    def train_step(self, *arrays) -> dict:
        """One compiled training step on a batch: inputs then labels (positionally, or one dict
        by name). Updates weights, optimizer state and step counter in place; returns the
        batch's {"loss": ..., metric: ...}. A non-finite loss raises and changes nothing."""
        entry = self._entry("train_step")
        outs = self._call(entry, self._feeds(entry, arrays))
        raw = dict(zip(entry.signature.output_names, outs))
        return batch_result(self.metrics("train_step"), raw, _batch_size(arrays))

    def evaluate(self, *arrays, batch_size: int = 32) -> dict:
        """Loss (batch-size weighted mean) and metrics over the whole data, in batches."""
        entry = self._entry("evaluate")
        feeds = self._feeds(entry, arrays)
        n = _batch_size(list(feeds.values()))
        acc = Accumulator(self.metrics("evaluate"))
        for i in range(0, n, batch_size):
            batch = {k: np.asarray(v)[i:i + batch_size] for k, v in feeds.items()}
            outs = self._call(entry, batch)
            acc.add(dict(zip(entry.signature.output_names, outs)), len(next(iter(batch.values()))))
        return acc.result()

    def _feeds(self, entry: _Entry, arrays) -> dict:
        names = entry.signature.input_names
        if len(arrays) == 1 and isinstance(arrays[0], Mapping):
            return dict(arrays[0])
        if len(arrays) != len(names):
            raise InputError(f"{entry.name} takes {len(names)} input(s) ({', '.join(names)}), "
                             f"got {len(arrays)}")
        return dict(zip(names, arrays))

    def _entry(self, name: str) -> _Entry:
        if name not in self._entries:
            raise InputError(f"this artifact has no entry {name!r}; it has {', '.join(self.entries)}")
        return self._entries[name]

    def _to_device(self, arr: np.ndarray):
        return self._tvm.runtime.tensor(np.asarray(arr, order="C"), self._dev)

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every weight (and optimizer slot) by name, as host numpy copies."""
        return {n: t.numpy() for n, t in self._state.items()}

    def load_state_dict(self, state: Mapping, strict: bool = True) -> None:
        """Replace weights by name. All are checked (names, shapes, dtypes) before any is set."""
        unknown = [n for n in state if n not in self._weight_specs]
        if unknown:
            raise InputError(f"unknown weight(s) {', '.join(map(repr, unknown))}; "
                             f"the weights are {', '.join(self._weight_specs)}")
        missing = [n for n in self._weight_specs if n not in state]
        if strict and missing:
            raise InputError(f"missing weight(s) {', '.join(map(repr, missing))} "
                             "(pass strict=False to load a subset)")
        checked = {n: check_array(self._weight_specs[n], v, {}, what="weight")
                   for n, v in state.items()}
        for n, arr in checked.items():
            self._state[n] = self._to_device(arr)

    def save(self, path) -> Path:
        """Write this module as an artifact with its current weights (atomically)."""
        weights, table = _artifact.encode_weights(self.state_dict())
        body = {k: v for k, v in self.manifest.items()
                if k not in ("format", "format_version", "files")}
        body["weights"] = table
        files = {n: data for n, data in self._artifact.files.items() if n != _artifact.WEIGHTS}
        files[_artifact.WEIGHTS] = weights
        return _artifact.write(path, body, files)


_VIEWABLE = frozenset(["float64", "float32", "float16", "int64", "int32", "int16", "int8",
                       "uint64", "uint32", "uint16", "uint8"])


def _host_buffer(tvm, like: np.ndarray, dev) -> tuple:
    """A host tensor shaped like `like` and a numpy view of its memory (copies into the view
    fill the tensor)."""
    tensor = tvm.runtime.empty(like.shape, like.dtype.name, dev)
    return tensor, np.from_dlpack(tensor)


def _batch_size(arrays) -> int:
    first = arrays[0]
    if isinstance(first, Mapping):
        first = next(iter(first.values()))
    return len(first)


def load(path, device: Optional[str] = None) -> Module:
    """Load an artifact directory. `device` defaults to the one it was compiled for ('cpu')."""
    return Module(_artifact.read(path), device)


# ------------------------------------------------------------ setup helpers

def _open_device(tvm, device: str, manifest: dict):
    """The TVM device for 'cpu', 'cuda', 'cuda:1'...; it must be the kind the kernels are for."""
    kind, _, index = device.partition(":")
    if kind != manifest["device"]:
        raise ArtifactError(f"artifact was compiled for {manifest['device']} (target "
                            f"{manifest['target']['name']}); it cannot run on {device!r}")
    if index and not index.isdigit():
        raise ArtifactError(f"bad device {device!r}; expected KIND or KIND:INDEX, e.g. cuda:0")
    try:
        dev = tvm.device(kind, int(index or 0))
    except (ValueError, KeyError):
        raise ArtifactError(f"unknown device {device!r}") from None
    if not dev.exist:
        raise ArtifactError(f"device {device!r} is not available on this machine")
    return dev


def _make_vm(tvm, art: _artifact.Artifact, dev):
    from tvm.runtime.vm import VirtualMachine

    lib_path = art.library_path
    if lib_path.suffix != ".so":
        raise ArtifactError(f"{art.path}: the kernels for target {art.manifest['target']['name']} "
                            f"are unlinked objects ({lib_path.name}); link them on that device")
    if art.manifest.get("cuda_binaries"):
        from . import cuda_binaries

        cuda_binaries.install(art)  # before loading: TVM asks for them while it loads
    try:
        lib = _load_verified_library(tvm, art.files[lib_path.name])
    except Exception as e:  # TVM reports a failed dlopen with its own error type
        raise ArtifactError(f"{art.path}: cannot load {lib_path.name}: {_last_line(e)}") from None
    return VirtualMachine(lib, dev)


def _load_verified_library(tvm, data: bytes):
    """dlopen the bytes whose hash was checked, from a private copy: the artifact's file could
    change after the check, and dlopen would hand back a stale library for a path it has
    already opened in this process (a recompile to the same output)."""
    fd, name = tempfile.mkstemp(prefix="aot-kernels-", suffix=".so")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return tvm.runtime.load_module(name)
    finally:
        os.unlink(name)  # the mapping outlives the name


def _last_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[-1] if text else type(e).__name__


def _make_entry(name: str, spec: dict, vm) -> _Entry:
    try:
        sig = Signature(tuple(TensorSpec.from_json(d) for d in spec["inputs"]),
                        tuple(TensorSpec.from_json(d) for d in spec["outputs"]))
        for s in sig.inputs + sig.outputs:
            numpy_dtype(s.dtype)  # an unknown dtype fails here, at load, not at the first call
        function = vm[spec["function"]]
    except Exception as e:  # malformed specs, unknown dtypes, a function the library lacks
        raise ArtifactError(f"entry {name!r} cannot be set up: {_last_line(e)}") from None
    return _Entry(name, sig, tuple(spec["params"]), dict(spec["updates"]), function)
