"""Every target in the table builds a small graph (matmul, add, relu, conv2d, softmax,
reductions) and exports a library holding kernels for its device. Only the host
targets (llvm, c) run here; their results are compared with the interpreter.
"""
from __future__ import annotations

import functools
import re
import tarfile

import numpy as np
import pytest

from aot.codegen.build import build, export, kernel_modules, library_suffix, run_local
from aot.codegen.lower import Entry, LoweringError
from aot.codegen import targets
from aot.codegen.targets import TARGETS, make_target, spec, target_dict
from aot.codegen.tvm import tvm
from aot.ir import GraphBuilder, TensorType, interpret

GPU = [name for name, s in TARGETS.items() if s.gpu]
OPS = ("matmul", "conv2d", "softmax", "sum", "max")

# How each device's kernels are declared in its source (CUDA adds __launch_bounds__).
KERNEL_DECL = {
    "cuda": r'extern "C" __global__ void (?:__launch_bounds__\(\d+\) )?(\w+)\(',
    "opencl": r"__kernel void (\w+)\(",
    "metal": r"kernel void (\w+)\(",
    "webgpu": r"fn (\w+)\(",
    "c": r"int32_t (\w+)\(",
}
ELF_MACHINE = {"x86_64": 62, "aarch64": 183}


def sample_graph(batch):
    rng = np.random.default_rng(0)
    b = GraphBuilder("sample")
    x = b.input("x", TensorType((batch, 8), "float32"))
    img = b.input("img", TensorType((batch, 6, 6, 3), "float32"))
    w = b.param("w", rng.standard_normal((8, 16)).astype("float32"))
    bias = b.param("b", rng.standard_normal(16).astype("float32"))
    k = b.param("k", rng.standard_normal((3, 3, 3, 4)).astype("float32"))
    h = b.emit("relu", b.emit("add", b.emit("matmul", x, w), bias))
    probs = b.emit("softmax", h, axis=-1)
    total = b.emit("sum", probs, axes=(1,))
    conv = b.emit("conv2d", img, k, padding=(1, 1, 1, 1))
    peak = b.emit("max", conv, axes=(1, 2))
    return b.build([probs, total, peak])


def feeds(batch=2):
    rng = np.random.default_rng(1)
    return {"x": rng.standard_normal((batch, 8)).astype("float32"),
            "img": rng.standard_normal((batch, 6, 6, 3)).astype("float32")}


@functools.lru_cache(maxsize=None)
def built(target: str, batch):
    graph = sample_graph(batch)
    return graph, build([Entry("main", graph)], target)


def kernel_names(target: str, ex) -> set[str]:
    device = spec(target).device if spec(target).gpu else "c"
    mods = [m for m in kernel_modules(ex) if m.kind == device]
    assert mods, f"no {device} module in {[m.kind for m in kernel_modules(ex)]}"
    return set(re.findall(KERNEL_DECL[device], mods[0].inspect_source()))


def assert_one_kernel_per_op(names: set[str]) -> None:
    for op in OPS:
        assert any(op in n for n in names), f"no kernel for {op} in {sorted(names)}"


# ------------------------------------------------------------------ the table

def test_every_target_has_a_tvm_target():
    for name, s in TARGETS.items():
        t = make_target(name)
        assert ("gpu" in t.keys) == s.gpu, name
        assert target_dict(name)[1] is None or t.host is not None


def test_host_target_is_this_cpu():
    t = make_target("llvm")
    assert t.attrs["mcpu"] == tvm.target.codegen.llvm_get_system_cpu()
    assert int(t.attrs["num-cores"]) >= 1


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(ValueError, match="known: llvm, aarch64"):
        make_target("vulkan")


def test_library_suffix(monkeypatch):
    assert library_suffix("llvm") == library_suffix("c") == ".so"
    assert library_suffix("cuda") == library_suffix("opencl") == ".so"
    assert library_suffix("metal") == library_suffix("webgpu") == ".tar"
    monkeypatch.setattr(targets.shutil, "which", lambda name: None)
    assert library_suffix("aarch64") == ".tar"
    monkeypatch.setattr(targets.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert library_suffix("aarch64") == ".so"  # a cross compiler on PATH links it


def test_export_refuses_a_shared_library_it_cannot_link(tmp_path):
    _, ex = built("metal", "N")
    with pytest.raises(ValueError, match=r"cannot link a metal library on this machine.*\.tar"):
        export(ex, tmp_path / "kernels.so")


# ------------------------------------------------------------------ every target builds

@pytest.mark.parametrize("target", GPU)
@pytest.mark.parametrize("batch", [2, "N"])
def test_gpu_targets_build_device_kernels(target, batch):
    _, ex = built(target, batch)
    assert_one_kernel_per_op(kernel_names(target, ex))


@pytest.mark.parametrize("target", ["cuda", "opencl"])
def test_gpu_library_links_here_with_its_kernels(target, tmp_path):
    _, ex = built(target, "N")
    path = tmp_path / f"kernels{library_suffix(target)}"
    export(ex, path)
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF"
    for name in kernel_names(target, ex):
        assert name.encode() in data, name


@pytest.mark.parametrize("target,host_magic", [("metal", b"\xcf\xfa\xed\xfe"),
                                               ("webgpu", b"\x00asm")])
def test_cross_gpu_library_is_a_tar_of_objects(target, host_magic, tmp_path):
    _, ex = built(target, "N")
    path = tmp_path / f"kernels{library_suffix(target)}"
    export(ex, path)
    objects = _tar_members(path)
    assert all(data[:4] == host_magic for data in objects.values()), sorted(objects)
    packed = objects["devc.o"]
    assert spec(target).device.encode() in packed
    for name in kernel_names(target, ex):
        assert name.encode() in packed, name


def test_aarch64_library_holds_aarch64_code(tmp_path):
    _, ex = built("aarch64", "N")
    path = tmp_path / f"kernels{library_suffix('aarch64')}"
    export(ex, path)
    objects = _tar_members(path) if path.suffix == ".tar" else {path.name: path.read_bytes()}
    for name, data in objects.items():
        assert data[:4] == b"\x7fELF", name
        assert int.from_bytes(data[18:20], "little") == ELF_MACHINE["aarch64"], name


def test_c_target_emits_c_source_for_every_op():
    _, ex = built("c", 2)
    assert_one_kernel_per_op(kernel_names("c", ex))


def test_webgpu_refuses_64_bit_values_naming_the_node():
    b = GraphBuilder("g")
    x = b.input("x", TensorType((4,), "int64"))
    graph = b.build([b.emit("add", x, x)])
    with pytest.raises(LoweringError, match=r"webgpu has no int64 kernels.*= add\("):
        build([Entry("main", graph)], "webgpu")


# ------------------------------------------------------------------ host targets run

@pytest.mark.parametrize("target", ["llvm", "c"])
@pytest.mark.parametrize("batch", [2, "N"])
def test_host_targets_match_the_interpreter(target, batch, tmp_path):
    graph, ex = built(target, batch)
    path = tmp_path / f"kernels{library_suffix(target)}"
    export(ex, path)
    lib = tvm.runtime.load_module(str(path))
    x = feeds(batch=3 if batch == "N" else batch)
    got = run_local(graph, x, executable=lib)
    for g, want in zip(got, interpret(graph, x)):
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-5)


def _tar_members(path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
