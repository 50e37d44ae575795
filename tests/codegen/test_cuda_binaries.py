"""CUDA artifacts carry fatbins compiled at build time, so the runtime needs no CUDA compiler:
the runtime answers TVM's compile callback with the artifact's bytes for each source."""
import json
import shutil

import numpy as np
import pytest

import aot
from aot.codegen.build import build
from aot.codegen.cuda_binaries import cuda_sources, source_key
from aot.codegen.lower import Entry
from aot.ir import GraphBuilder, TensorType
from aot.runtime import artifact as _artifact
from aot.runtime import cuda_binaries

pytestmark = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")


def _graph():
    b = GraphBuilder("g")
    x = b.input("x", TensorType(("N", 4), "float32"))
    w = b.param("w", np.ones((4, 3), np.float32))
    return b.build([b.emit("softmax", b.emit("matmul", b.emit("exp", x), w))])


def test_cuda_artifact_ships_fatbins_the_runtime_serves(tmp_path):
    out = tmp_path / "g.aot"
    assert aot.compile(_graph(), target="cuda", output=str(out)) is None  # no GPU here
    manifest = json.loads((out / "manifest.json").read_text())
    (key, name), = manifest["cuda_binaries"].items()
    blob = (out / name).read_bytes()
    assert blob[:4] == b"\x50\xed\x55\xba"  # fatbin magic
    assert manifest["files"][name]["sha256"]

    sources = cuda_sources(build([Entry("predict", _graph())], "cuda"))
    assert [source_key(s) for s in sources] == [key]  # deterministic codegen: same source, same key
    cuda_binaries.install(_artifact.read(out))
    assert cuda_binaries.lookup(sources[0]) == blob
