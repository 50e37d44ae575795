"""The loaded module: predict/run, signatures, input checks before any kernel, state."""
from __future__ import annotations

import numpy as np
import pytest

from aot.ir import interpret
from aot.runtime import ArtifactError, InputError, load

from .graphs import feeds, two_input_graph


@pytest.fixture(scope="module")
def m(built_artifact):
    return load(built_artifact)


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_description(m):
    assert m.entries == ("predict",)
    assert m.target == "llvm" and m.device == "cpu" and m.name == "tiny"
    assert str(m.signature.inputs[0]) == "a: (N, 4) float32"
    assert m.signature.input_names == ["a", "b"] and m.signature.output_names == ["y", "z"]
    assert "predict" in repr(m)


def test_predict_positional_and_by_dict(m):
    f = feeds(5)
    ry, rz = interpret(two_input_graph(), f)
    y, z = m.predict(f["a"], f["b"])
    _close(y, ry)
    _close(z, rz)
    _close(m.predict(f)[1], rz)


def test_run_by_names(m):
    f = feeds(2)
    ry, rz = interpret(two_input_graph(), f)
    out = m.run(f)
    assert list(out) == ["y", "z"]
    _close(out["y"], ry)
    only = m.run(f, ["z"])
    assert list(only) == ["z"]
    _close(only["z"], rz)


def test_batch_size_is_dynamic(m):
    for n in (1, 7):
        assert m.predict(*feeds(n).values())[0].shape == (n, 4)


def test_python_lists_are_cast(m):
    f = feeds(2)
    got = m.predict(f["a"].tolist(), f["b"])
    _close(got[0], m.predict(f["a"], f["b"])[0])


@pytest.mark.parametrize("change, message", [
    (lambda f: f.update(a=np.zeros((3, 5), np.float32)),
     "input 'a': expected shape (N, 4) float32, got (3, 5) float32"),
    (lambda f: f.update(a=f["a"].astype(np.float64)),
     "input 'a': expected shape (N, 4) float32, got (3, 4) float64 (dtype mismatch"),
    (lambda f: f.update(b=np.zeros((5, 4), np.float32)),
     "input 'b': expected shape (N, 4) float32, got (5, 4) float32 (N is 3 from input 'a')"),
    (lambda f: f.update(a=np.zeros(4, np.float32)),
     "input 'a': expected shape (N, 4) float32, got (4,) float32 (rank 2 vs 1)"),
    (lambda f: f.pop("b"), "missing input(s): b: (N, 4) float32"),
    (lambda f: f.update(c=f["a"]), "unknown input 'c'; the inputs are a, b"),
    (lambda f: f.update(a=[[1.0, 2.0], [3.0]]), "input 'a': cannot convert list"),
])
def test_bad_inputs_are_refused_in_one_line(m, change, message):
    f = feeds(3)
    change(f)
    with pytest.raises(InputError) as info:
        m.run(f)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_bad_calls(m):
    with pytest.raises(InputError, match=r"predict takes 2 input\(s\) \(a, b\), got 1"):
        m.predict(np.zeros((1, 4), np.float32))
    with pytest.raises(InputError, match="unknown output"):
        m.run(feeds(), ["nope"])
    with pytest.raises(InputError, match="no entry 'train_step'"):
        m.run(feeds(), entry="train_step")


def test_state_dict_and_load_state_dict(built_artifact):
    m = load(built_artifact)
    state = m.state_dict()
    assert list(state) == ["w", "m"]
    new = {k: v + 1 for k, v in state.items()}
    m.load_state_dict(new)
    f = feeds()
    want = interpret(two_input_graph(), f, params=new)
    for got, ref in zip(m.predict(f["a"], f["b"]), want):
        _close(got, ref)
    np.testing.assert_array_equal(m.state_dict()["w"], new["w"])


def test_load_state_dict_checks_everything_first(built_artifact):
    m = load(built_artifact)
    before = m.state_dict()
    bad = {"w": np.zeros(4, np.float32), "m": np.zeros((9, 9), np.float32)}
    with pytest.raises(InputError, match="weight 'm': expected shape"):
        m.load_state_dict(bad)
    np.testing.assert_array_equal(m.state_dict()["w"], before["w"])  # nothing was set
    with pytest.raises(InputError, match="unknown weight"):
        m.load_state_dict({"ghost": np.zeros(1)})
    with pytest.raises(InputError, match="missing weight.*'m'"):
        m.load_state_dict({"w": np.zeros(4, np.float32)})
    with pytest.raises(InputError, match="dtype mismatch"):
        m.load_state_dict({"w": np.zeros(4, np.float64)}, strict=False)


def test_save_writes_current_weights(built_artifact, tmp_path):
    m = load(built_artifact)
    m.load_state_dict({"w": np.full(4, 2.0, np.float32)}, strict=False)
    m.save(tmp_path / "copy.aot")
    back = load(tmp_path / "copy.aot")
    np.testing.assert_array_equal(back.state_dict()["w"], np.full(4, 2.0, np.float32))
    f = feeds()
    _close(back.predict(f)[0], m.predict(f)[0])


def test_device_must_match_the_kernels(built_artifact):
    with pytest.raises(ArtifactError, match="compiled for cpu .*cannot run on 'cuda'"):
        load(built_artifact, device="cuda")
    with pytest.raises(ArtifactError, match="bad device"):
        load(built_artifact, device="cpu:x")
