"""A loaded artifact: its kernels in TVM's Relax VM, its weights on the device, and
the calls users make (`predict` as in Keras, `run` as in ONNX Runtime).

Weights are copied to the device once and passed to each entry function after
its inputs, in the order the manifest lists; an entry that updates state (a
training step) returns the new values after its outputs, and they replace the
old ones in place of a copy back to the host.

Calls into one module run one at a time (TVM's Relax VM is not thread-safe);
checking feeds and copying them in and out runs in the calling thread.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import Optional

import numpy as np

from . import artifact as _artifact
from .dtypes import numpy_dtype
from .errors import ArtifactError, InputError, NonFiniteLossError
from .metrics import Accumulator, batch_result
from .signature import Signature, TensorSpec, check_array, check_feeds
from .tvm_loader import load_runtime


@dataclass(frozen=True)
class _Entry:
    name: str
    signature: Signature
    params: tuple[str, ...]
    updates: dict  # param name -> index in the function's result tuple
    function: object  # the VM function
    out_dtypes: tuple = field(default=())  # numpy dtypes of the outputs, in order
    out_viewable: tuple = field(default=())  # per output: numpy can view it through DLPack
    input_names: tuple = field(default=())
    outputs: tuple = field(default=())  # (index, viewable, numpy dtype) of each output
    transform: object = None  # VM function: weights tuple -> what the entry takes (or None)


class _Plan:
    """One thread's record of feed names, shapes and dtypes that passed an entry's checks
    (they depend on nothing else, so the next such feeds skip them), and where the fast path
    applies, the input tensors the feeds are copied into (reused call after call) with numpy
    views of their memory."""

    __slots__ = ("names", "tensors", "views", "packed", "args")

    def __init__(self, names: tuple, tensors: Optional[tuple], views: Optional[tuple],
                 packed: bytes = b""):
        self.names = names  # feed names in input order
        self.tensors = tensors  # None: the general path (fresh tensors per call)
        self.views = views
        self.packed = packed  # the tensors packed as call arguments
        self.args = (None, b"", 0)  # (the state it was made with, all arguments packed, count)


class Module:
    """Run an artifact's entry points. Made by `aot.runtime.load` (or `aot.compile`)."""

    def __init__(self, art: _artifact.Artifact, device: Optional[str] = None):
        self._rt = load_runtime()
        self._artifact = art
        self.path = art.path
        self.manifest = art.manifest
        self.device = device or art.manifest["device"]
        self._dev = _open_device(self._rt, self.device, art.manifest)
        self._vm = _make_vm(self._rt, art, self._dev)
        self._entries = {name: _make_entry(name, spec, self._vm)
                         for name, spec in art.manifest["entries"].items()}
        self._state = {n: self._to_device(a) for n, a in art.weights().items()}
        self._state_args = {}  # entry -> (state tensors in call order, packed), dropped on change
        self._keepalive = None  # what must live as long as the module (aot.compile's temp dir)
        self._weight_specs = {n: TensorSpec(n, tuple(w["shape"]), w["dtype"])
                              for n, w in art.manifest["weights"].items()}
        self._host = self._dev.dlpack_device_type() == 1  # kDLCPU: numpy views of tensors
        self._plans = threading.local()  # per thread: {(entry, feed names, shapes, dtypes): _Plan}
        self._lock = threading.Lock()  # one call in the VM at a time: it is not thread-safe

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
        entry = self._entries.get("predict") or self._entry("predict")
        names = entry.input_names
        first = arrays[0] if len(arrays) == 1 else None
        if type(first) is dict or type(first) is not np.ndarray and isinstance(first, Mapping):
            feeds = first
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
        """Check the feeds (before any kernel runs), run the entry, return host copies of its
        outputs; an entry that updates state commits the new state unless the loss is not
        finite (the guard is for training steps: nothing else updates state)."""
        plan = self._plan(entry, feeds)
        if plan is not None and plan.views is not None:  # the hot path
            for view, name in zip(plan.views, plan.names):
                view[...] = feeds[name]  # same shape and dtype (the plan's key): a plain copy
            with self._lock:
                state = self._state_args.get(entry.name) or self._entry_state_packed(entry)
                if plan.args[0] is not state:  # the state changed (or the first call)
                    plan.args = (state, plan.packed + state[1], len(plan.tensors) + len(state[0]))
                result = entry.function.call_packed(plan.args[1], plan.args[2])
            return self._rt.ffi.host_outputs(result, entry.outputs, self._rt.numpy)
        if plan is not None:
            arrays = [np.asarray(feeds[name]) for name in plan.names]
        else:
            arrays = check_feeds(entry.signature.inputs, feeds)
        inputs = [self._to_device(a) for a in arrays]
        with self._lock:  # a training step reads, updates and commits the state in one go
            result = entry.function(*inputs, *self._entry_state(entry))
            values = list(result)
            outs = [self._to_host(v, i, entry)
                    for i, v in enumerate(values[:len(entry.out_dtypes)])]
            if entry.updates and "loss" in entry.signature.output_names:
                loss = outs[entry.signature.output_names.index("loss")]
                if not np.all(np.isfinite(loss)):  # keep the last good state: commit nothing
                    raise NonFiniteLossError(f"{entry.name}: the loss is {float(loss)}; the "
                                             "weights were left as they were before this step")
            if entry.updates:
                self._set_state({p: values[index] for p, index in entry.updates.items()})
        return outs

    def _plan(self, entry: _Entry, feeds: Mapping) -> Optional[_Plan]:
        """This thread's plan for these feeds, made once their names, shapes and dtypes pass
        the checks (which raise otherwise); None for feeds that are not all plain numpy arrays
        (checked on every call). The plan has no tensors where the general path runs: entries
        that update state (an input may come back as new state, so each call gets fresh
        tensors), other devices, and dtypes numpy cannot view (bfloat16, float8, bool)."""
        try:
            key = (entry.name, *[(k, v.shape, v.dtype) for k, v in feeds.items()
                                 if type(v) is np.ndarray])
        except AttributeError:  # not a mapping of arrays: let the checks say what is wrong
            return None
        plans = self._plans.__dict__
        plan = plans.get(key)
        if plan is not None or len(key) != len(feeds) + 1:
            return plan
        arrays = check_feeds(entry.signature.inputs, feeds)  # raises on a bad feed
        names = entry.input_names
        if len(plans) >= 16:  # many batch sizes: forget, stay small
            plans.clear()
        if entry.updates or not self._host or not all(a.dtype.name in _VIEWABLE for a in arrays):
            plan = plans[key] = _Plan(names, None, None)
        else:
            held = [_host_buffer(self._rt, a, self._dev) for a in arrays]
            tensors = tuple(t for t, _ in held)
            plan = plans[key] = _Plan(names, tensors, tuple(v for _, v in held),
                                      self._rt.ffi.pack(tensors))
        return plan

    def _entry_state(self, entry: _Entry) -> tuple:
        """The entry's state tensors in call order (cached until the state changes)."""
        return self._entry_state_packed(entry)[0]

    def _entry_state_packed(self, entry: _Entry) -> tuple:
        """The entry's state tensors in call order, and the same packed as call arguments."""
        cached = self._state_args.get(entry.name)
        if cached is None:
            args = tuple(self._state[p] for p in entry.params)
            if entry.transform is not None:  # weight-only computations, once per weights
                args = tuple(entry.transform(args))
            cached = self._state_args[entry.name] = (args, self._rt.ffi.pack(args))
        return cached

    def _set_state(self, tensors: Mapping) -> None:
        for name, tensor in tensors.items():
            self._state[name] = tensor
        self._state_args = {}  # replaced, not cleared: a call in another thread keeps its own

    def _to_host(self, tensor, index: int, entry: _Entry) -> np.ndarray:
        """A numpy copy of output `index` (through a numpy view on the host: ~10x cheaper
        than copying out through TVM; other dtypes and devices copy through TVM)."""
        if self._host and entry.out_viewable[index]:
            return np.array(tensor)
        return self._rt.numpy(tensor, entry.out_dtypes[index])

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
        return self._rt.tensor(np.asarray(arr), self._dev)

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every weight (and optimizer slot) by name, as host numpy copies."""
        return {n: self._rt.numpy(t, numpy_dtype(self._weight_specs[n].dtype))
                for n, t in self._state.items()}

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
        tensors = {n: self._to_device(arr) for n, arr in checked.items()}
        with self._lock:
            self._set_state(tensors)

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


def _host_buffer(rt, like: np.ndarray, dev) -> tuple:
    """A host tensor shaped like `like` and a numpy view of its memory (copies into the view
    fill the tensor). Feeds are copied, never wrapped through DLPack: the kernels assume
    64-byte aligned data, which a numpy array need not have."""
    tensor = rt.empty(like.shape, like.dtype.name, dev)
    return tensor, np.asarray(tensor)


def _batch_size(arrays) -> int:
    first = arrays[0]
    if isinstance(first, Mapping):
        first = next(iter(first.values()))
    return len(first)


def load(path, device: Optional[str] = None) -> Module:
    """Load an artifact directory. `device` defaults to the one it was compiled for ('cpu')."""
    return Module(_artifact.read(path), device)


# ------------------------------------------------------------ setup helpers

def _open_device(rt, device: str, manifest: dict):
    """The TVM device for 'cpu', 'cuda', 'cuda:1'...; it must be the kind the kernels are for."""
    kind, _, index = device.partition(":")
    if kind != manifest["device"]:
        raise ArtifactError(f"artifact was compiled for {manifest['device']} (target "
                            f"{manifest['target']['name']}); it cannot run on {device!r}")
    if index and not index.isdigit():
        raise ArtifactError(f"bad device {device!r}; expected KIND or KIND:INDEX, e.g. cuda:0")
    try:
        dev = rt.device(kind, int(index or 0))
    except (ValueError, KeyError):
        raise ArtifactError(f"unknown device {device!r}") from None
    if not rt.exists(dev):
        raise ArtifactError(f"device {device!r} is not available on this machine")
    return dev


def _make_vm(rt, art: _artifact.Artifact, dev):
    lib_path = art.library_path
    if lib_path.suffix != ".so":
        raise ArtifactError(f"{art.path}: the kernels for target {art.manifest['target']['name']} "
                            f"are unlinked objects ({lib_path.name}); link them on that device")
    if art.manifest.get("cuda_binaries"):
        from . import cuda_binaries

        cuda_binaries.install(art)  # before loading: TVM asks for them while it loads
    try:
        lib = _load_verified_library(rt, art.files[lib_path.name])
    except Exception as e:  # TVM reports a failed dlopen with its own error type
        raise ArtifactError(f"{art.path}: cannot load {lib_path.name}: {_last_line(e)}") from None
    return rt.virtual_machine(lib, dev)


def _load_verified_library(rt, data: bytes):
    """dlopen the bytes whose hash was checked, from a private copy: the artifact's file could
    change after the check, and dlopen would hand back a stale library for a path it has
    already opened in this process (a recompile to the same output)."""
    fd, name = _private_file("aot-kernels-", ".so")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return rt.load_module(name)
    finally:
        os.unlink(name)  # the mapping outlives the name


def _private_file(prefix: str, suffix: str) -> tuple[int, str]:
    """A new file only this user can read, open for writing: in $TMPDIR or /tmp directly
    (the module `tempfile` adds ~3 ms to every cold start), else where `tempfile` finds room."""
    name = os.path.join(os.environ.get("TMPDIR") or "/tmp", prefix + os.urandom(8).hex() + suffix)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | \
        getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(name, flags, 0o600), name
    except OSError:
        import tempfile  # noqa: PLC0415

        return tempfile.mkstemp(prefix=prefix, suffix=suffix)


def _last_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[-1] if text else type(e).__name__


def _make_entry(name: str, spec: dict, vm) -> _Entry:
    try:
        sig = Signature(tuple(TensorSpec.from_json(d) for d in spec["inputs"]),
                        tuple(TensorSpec.from_json(d) for d in spec["outputs"]))
        for s in sig.inputs:
            numpy_dtype(s.dtype)  # an unknown dtype fails here, at load, not at the first call
        out_dtypes = tuple(numpy_dtype(s.dtype) for s in sig.outputs)
        function = vm[spec["function"]]
        transform = vm[spec["transform_params"]] if spec.get("transform_params") else None
    except Exception as e:  # malformed specs, unknown dtypes, a function the library lacks
        raise ArtifactError(f"entry {name!r} cannot be set up: {_last_line(e)}") from None
    viewable = tuple(d.name in _VIEWABLE for d in out_dtypes)
    return _Entry(name, sig, tuple(spec["params"]), dict(spec["updates"]), function, out_dtypes,
                  viewable, tuple(sig.input_names),
                  tuple(zip(range(len(out_dtypes)), viewable, out_dtypes)), transform)
