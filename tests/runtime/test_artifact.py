"""The artifact format: round trip, refusal of anything not exactly as written, atomic writes."""
from __future__ import annotations

import json

import ml_dtypes
import numpy as np
import pytest

from aot.ir import interpret
from aot.runtime import ArtifactError, load
from aot.runtime import artifact as art
from aot.runtime import module as runtime_module

from .graphs import feeds, two_input_graph


def _manifest(path):
    return json.loads((path / "manifest.json").read_text())


def _write_manifest(path, m):
    (path / "manifest.json").write_text(json.dumps(m))


def _refuse(path, match):
    """Loading must fail with ArtifactError, and before any library is opened."""
    def no_code(*args):
        raise AssertionError("kernels were loaded before the artifact was verified")

    mp = pytest.MonkeyPatch()
    mp.setattr(runtime_module, "_load_verified_library", no_code)
    try:
        with pytest.raises(ArtifactError, match=match) as info:
            load(path)
    finally:
        mp.undo()
    assert "\n" not in str(info.value)


def test_manifest_describes_the_entry(artifact):
    m = _manifest(artifact)
    assert (m["format"], m["format_version"]) == ("aot-artifact", 1)
    assert m["target"]["name"] == "llvm" and m["target"]["tvm"]["kind"] == "llvm"
    assert m["device"] == "cpu" and m["library"] == "kernels.so"
    e = m["entries"]["predict"]
    assert e["inputs"][0] == {"name": "a", "shape": ["N", 4], "dtype": "float32"}
    assert [o["name"] for o in e["outputs"]] == ["y", "z"]
    assert e["params"] == ["w", "m"] and e["updates"] == {}
    assert set(m["files"]) == {"kernels.so", "weights.safetensors"}
    for name, info in m["files"].items():
        assert info["size"] == (artifact / name).stat().st_size


def test_round_trip_matches_the_interpreter(artifact):
    g, f = two_input_graph(), feeds()
    y, z = load(artifact).predict(f["a"], f["b"])
    ry, rz = interpret(g, f)
    np.testing.assert_allclose(y, ry, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z, rz, rtol=1e-5, atol=1e-6)


def test_tampered_kernels_are_refused(artifact):
    data = bytearray((artifact / "kernels.so").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (artifact / "kernels.so").write_bytes(bytes(data))
    _refuse(artifact, "kernels.so does not match its SHA-256")


def test_tampered_weights_are_refused(artifact):
    data = bytearray((artifact / "weights.safetensors").read_bytes())
    data[-1] ^= 0x01
    (artifact / "weights.safetensors").write_bytes(bytes(data))
    _refuse(artifact, "weights.safetensors does not match")


def test_missing_file_is_refused(artifact):
    (artifact / "weights.safetensors").unlink()
    _refuse(artifact, "missing weights.safetensors")


def test_unknown_format_version_is_refused(artifact):
    m = _manifest(artifact)
    m["format_version"] = 2
    _write_manifest(artifact, m)
    _refuse(artifact, "format version 2 is not supported")


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.update(format="other"), "not an aot artifact"),
    (lambda m: m.pop("entries"), "lacks entries"),
    (lambda m: m["files"].pop("kernels.so"), "no hash for kernels.so"),
    (lambda m: m["files"].update({"../evil": {"sha256": "0"}}), "malformed file entry"),
    (lambda m: m["entries"]["predict"]["params"].append("ghost"), "ghost"),
])
def test_malformed_manifests_are_refused(artifact, edit, match):
    m = _manifest(artifact)
    edit(m)
    _write_manifest(artifact, m)
    _refuse(artifact, match)


def test_not_an_artifact(tmp_path):
    _refuse(tmp_path / "nothing.aot", "no such artifact")
    (tmp_path / "file.aot").write_text("x")
    _refuse(tmp_path / "file.aot", "not an artifact directory")
    (tmp_path / "empty.aot").mkdir()
    _refuse(tmp_path / "empty.aot", "missing manifest.json")
    (tmp_path / "empty.aot" / "manifest.json").write_text("{not json")
    _refuse(tmp_path / "empty.aot", "not valid JSON")


def test_weights_keep_names_order_and_special_dtypes():
    w = {"bf": np.array([1.5, -2.0, 3.25], dtype=ml_dtypes.bfloat16),
         "f8": np.array([0.5, 1.0], dtype=ml_dtypes.float8_e4m3fn),
         "scalar": np.asarray(np.float32(7.0)), "mask": np.array([True, False]),
         "t": np.arange(6, dtype=np.int64).reshape(2, 3).T}  # not C-contiguous
    data, table = art.encode_weights(w)
    assert table["bf"] == {"shape": [3], "dtype": "bfloat16"}
    back = art.decode_weights(data, table)
    assert list(back) == list(w)
    for name, arr in w.items():
        assert back[name].dtype == arr.dtype and back[name].shape == arr.shape
        np.testing.assert_array_equal(back[name].astype(np.float64), arr.astype(np.float64))


def test_weights_that_disagree_with_the_table_are_refused():
    data, table = art.encode_weights({"w": np.zeros((2, 3), np.float32)})
    with pytest.raises(ArtifactError, match="manifest says float32"):
        art.decode_weights(data, {"w": {"shape": [3, 2], "dtype": "float32"}})
    with pytest.raises(ArtifactError, match="lacks weight 'v'"):
        art.decode_weights(data, {**table, "v": {"shape": [1], "dtype": "float32"}})


def test_save_replaces_an_artifact_and_leaves_nothing_behind(artifact, tmp_path):
    m = load(artifact)
    m.load_state_dict({"w": np.zeros(4, np.float32)}, strict=False)
    m.save(artifact)
    assert load(artifact).state_dict()["w"].tolist() == [0.0] * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.aot"]


def test_save_without_renameat2_still_replaces(artifact, tmp_path, monkeypatch):
    monkeypatch.setattr(art, "_exchange", lambda a, b: False)
    m = load(artifact)
    m.load_state_dict({"w": np.ones(4, np.float32)}, strict=False)
    m.save(artifact)
    assert load(artifact).state_dict()["w"].tolist() == [1.0] * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.aot"]


def test_a_failed_save_leaves_the_old_artifact_intact(artifact, tmp_path, monkeypatch):
    before = {p.name: p.read_bytes() for p in artifact.iterdir()}
    m = load(artifact)
    m.load_state_dict({"w": np.full(4, 9.0, np.float32)}, strict=False)
    real = art._write_file

    def fail_on_weights(p, content):
        if p.name == "weights.safetensors":
            p.write_bytes(b"half a file")
            raise OSError(28, "No space left on device")
        return real(p, content)

    monkeypatch.setattr(art, "_write_file", fail_on_weights)
    with pytest.raises(OSError, match="No space"):
        m.save(artifact)
    assert {p.name: p.read_bytes() for p in artifact.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.aot"]
    assert load(artifact).state_dict()["w"].tolist() != [9.0] * 4


def test_save_refuses_to_replace_what_is_not_an_artifact(artifact, tmp_path):
    m = load(artifact)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(ArtifactError, match="not an aot artifact; refusing"):
        m.save(tmp_path / "notes")
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"
