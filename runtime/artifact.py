"""The artifact: a directory `NAME.aot/` that the compiler writes and the runtime loads.

    NAME.aot/
      manifest.json        format and versions, target, entry points, weights table, file hashes
      kernels.so           the exported TVM library (kernels.tar for cross-compiled targets)
      weights.safetensors  every param by name (bfloat16/float8 as their raw bits)

Reading checks the format, the manifest's shape and the SHA-256 of every file
before anything is loaded, so a tampered library is never dlopen'ed. Writing is
atomic: the files go into a temporary directory beside the target, are fsync'ed,
and the directory is renamed into place (an existing artifact is swapped out in
one step, and stays intact if anything fails before that).
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

import numpy as np

from .dtypes import from_storage, storage_dtype, to_storage
from .errors import ArtifactError

FORMAT = "aot-artifact"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"

_TOP_KEYS = ("name", "aot_version", "tvm_version", "target", "device", "library", "entries",
             "weights", "files")
_ENTRY_KEYS = ("function", "inputs", "outputs", "params", "updates")

# What `write` accepts for a file: its bytes, or a function that writes it at a path.
FileContent = Union[bytes, Callable[[str], None]]


@dataclass
class Artifact:
    """A verified artifact: its manifest and the contents of its files (hashes already checked)."""

    path: Path
    manifest: dict
    files: dict[str, bytes]

    @property
    def library_path(self) -> Path:
        return self.path / self.manifest["library"]

    def weights(self) -> dict[str, np.ndarray]:
        return decode_weights(self.files[WEIGHTS], self.manifest["weights"])


# ------------------------------------------------------------------ reading

def read(path) -> Artifact:
    """Read and verify an artifact; raises ArtifactError (one line) before loading anything."""
    path = Path(path)
    manifest = read_manifest(path)
    files = {}
    for name, info in manifest["files"].items():
        data = _read_file(path, name)
        if _sha256(data) != info["sha256"]:
            raise ArtifactError(f"{path}: {name} does not match its SHA-256 in the manifest "
                                "(the file was changed or is corrupt); refusing to load it")
        files[name] = data
    return Artifact(path, manifest, files)


def read_manifest(path) -> dict:
    """The manifest, with its format, version and structure checked (file hashes not yet)."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: no such artifact")
    if not path.is_dir():
        raise ArtifactError(f"{path}: not an artifact directory (expected NAME.aot/ with {MANIFEST})")
    data = _read_file(path, MANIFEST)
    try:
        manifest = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ArtifactError(f"{path}: {MANIFEST} is not valid JSON ({e})") from None
    check_manifest(manifest, path)
    return manifest


def check_manifest(m, path) -> None:
    """Format name and version first (a newer format is refused as such), then the structure."""
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ArtifactError(f"{path}: not an aot artifact (manifest format is "
                            f"{m.get('format') if isinstance(m, dict) else None!r}, expected {FORMAT!r})")
    if m.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{path}: artifact format version {m.get('format_version')!r} is not "
                            f"supported (this runtime reads version {FORMAT_VERSION})")
    _require(m, _TOP_KEYS, path, "manifest")
    for name, entry in m["entries"].items():
        _require(entry, _ENTRY_KEYS, path, f"entry {name!r}")
        unknown = [p for p in entry["params"] if p not in m["weights"]]
        if unknown:
            raise ArtifactError(f"{path}: entry {name!r} takes params missing from the weights "
                                f"table: {', '.join(unknown)}")
    for name in [m["library"], WEIGHTS]:
        if name not in m["files"]:
            raise ArtifactError(f"{path}: manifest lists no hash for {name}")
    for name, info in m["files"].items():
        if not _plain_name(name) or not isinstance(info, dict) or "sha256" not in info:
            raise ArtifactError(f"{path}: malformed file entry {name!r} in the manifest")


def _require(d, keys, path, what) -> None:
    missing = [k for k in keys if not isinstance(d, dict) or k not in d]
    if missing:
        raise ArtifactError(f"{path}: malformed manifest: {what} lacks {', '.join(missing)}")


def _plain_name(name) -> bool:
    """File names in a manifest stay inside the artifact: no separators, no '..'."""
    return isinstance(name, str) and name not in ("", ".", "..") and Path(name).name == name \
        and "\\" not in name


def _read_file(path: Path, name: str) -> bytes:
    try:
        return (path / name).read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing {name}; the artifact is incomplete") from None
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read {name}: {e.strerror}") from None


def file_status(path, manifest: dict) -> dict[str, str]:
    """For `aot inspect`: each listed file's state, 'ok', 'missing' or 'sha256 mismatch'."""
    status = {}
    for name, info in manifest["files"].items():
        p = Path(path) / name
        if not p.is_file():
            status[name] = "missing"
        else:
            status[name] = "ok" if _sha256(p.read_bytes()) == info["sha256"] else "sha256 mismatch"
    return status


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ weights

def encode_weights(weights: dict[str, np.ndarray]) -> tuple[bytes, dict]:
    """safetensors bytes and the manifest's weights table (name -> shape, dtype)."""
    from safetensors.numpy import save

    table = {n: {"shape": list(a.shape), "dtype": a.dtype.name} for n, a in weights.items()}
    return save({n: to_storage(a) for n, a in weights.items()}), table


def decode_weights(data: bytes, table: dict) -> dict[str, np.ndarray]:
    """Weights by name, in the table's order, checked against it."""
    from safetensors.numpy import load

    try:
        raw = load(data)
    except Exception as e:  # safetensors raises its own error types on a malformed header
        raise ArtifactError(f"{WEIGHTS} is not a valid safetensors file ({e})") from None
    out = {}
    for name, info in table.items():
        if name not in raw:
            raise ArtifactError(f"{WEIGHTS} lacks weight {name!r} listed in the manifest")
        arr = raw[name]
        if arr.dtype.name != storage_dtype(info["dtype"]) or list(arr.shape) != info["shape"]:
            raise ArtifactError(f"{WEIGHTS}: weight {name!r} is {arr.dtype.name}{list(arr.shape)}, "
                                f"the manifest says {info['dtype']}{info['shape']}")
        out[name] = from_storage(arr, info["dtype"])
    return out


# ------------------------------------------------------------------ writing

def write(path, body: dict, files: dict[str, FileContent]) -> Path:
    """Write an artifact atomically. `body` is the manifest less format and hashes."""
    import shutil  # noqa: PLC0415 - writing only: loading stays lighter (cold start)
    import tempfile  # noqa: PLC0415

    path = Path(path)
    _check_replaceable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        hashes = {name: _write_file(tmp / name, content) for name, content in files.items()}
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **body, "files": hashes}
        check_manifest(manifest, path)
        _write_file(tmp / MANIFEST, json.dumps(manifest, indent=2).encode() + b"\n")
        _fsync_dir(tmp)
        _move_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _check_replaceable(path: Path) -> None:
    """Only an artifact may be replaced: never clobber a file or some other directory."""
    if path.is_symlink() or (path.exists() and not (path / MANIFEST).is_file()):
        raise ArtifactError(f"{path} exists and is not an aot artifact; refusing to replace it")


def _write_file(p: Path, content: FileContent) -> dict:
    """Write (or let `content` write) one file, fsync it, and return its size and SHA-256."""
    if callable(content):
        content(str(p))
    else:
        p.write_bytes(content)
    with open(p, "rb+") as f:
        os.fsync(f.fileno())
    data = p.read_bytes()
    return {"sha256": _sha256(data), "size": len(data)}


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _move_into_place(tmp: Path, path: Path) -> None:
    """Rename `tmp` to `path`; an existing artifact is exchanged in one step where Linux can."""
    import shutil  # noqa: PLC0415

    if not path.exists():
        os.rename(tmp, path)
    elif _exchange(tmp, path):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old artifact
    else:
        old = tmp.with_suffix(".old")
        os.rename(path, old)
        os.rename(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(path.parent)


def _exchange(a: Path, b: Path) -> bool:
    """renameat2(RENAME_EXCHANGE): swap two paths atomically. False where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
