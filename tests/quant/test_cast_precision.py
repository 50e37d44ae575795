"""fp16 / bf16 inference (passes/cast_precision.py, `aot.compile(quantize="fp16"|"bf16")`).

Structural: the text IR after the pass (weights stored in 16 bits, contractions accumulating in
float32, softmax and normalisation statistics in float32, float32 at the boundary). Semantic:
each zoo model compiled in fp16 and bf16 against the float32 interpreter.

Tolerance, from the dtype's machine epsilon (fp16 2**-10, bf16 2**-7): each 16-bit rounding
costs at most eps/2 relative; with float32 accumulation the errors of a layer's many products
do not add up, and those of successive layers partly cancel, so |got - want| <= 2 * eps *
max|want| (measured on these tiny zoo models: 0.002 to 0.36 eps * max|want|).
"""
import json

import numpy as np
import pytest

import aot
import aot.models as zoo
from aot.codegen.build import run_local
from aot.driver import optimize
from aot.ir import interpret, parse_graph, print_graph, verify
from aot.ir.types import DType
from aot.passes.cast_precision import cast_precision
from tests.cli.helpers import invoke

EPS = {"fp16": 2.0 ** -10, "bf16": 2.0 ** -7}
LOW = {"fp16": "float16", "bf16": "bfloat16"}

MLP = """
graph @mlp(%x: f32[N,6]) params(%w0: f32[6,8], %b0: f32[8], %w1: f32[8,3]) {
  %0 = matmul "fc0/matmul"(%x, %w0) : f32[N,8]
  %1 = add "fc0/add"(%0, %b0) : f32[N,8]
  %2 = relu "fc0/relu"(%1) : f32[N,8]
  %3 = matmul "fc1/matmul"(%2, %w1) : f32[N,3]
  %y = softmax "fc1/softmax"(%3) : f32[N,3]
  return %y, %3
}"""

LAYER_NORM = """
graph @ln(%x: f32[N,4], %r: f32[N,4]) params(%w: f32[4,4]) {
  %0 = matmul "fc/matmul"(%x, %w) : f32[N,4]
  %1 = add "res/add"(%0, %r) : f32[N,4]
  %2 = mean "ln/mean"(%1) {axes=[1], keepdims=true} : f32[N,1]
  %3 = subtract "ln/subtract"(%1, %2) : f32[N,4]
  %y = exp "exp"(%3) : f32[N,4]
  return %y
}"""


def _with_data(text: str):
    g = parse_graph(text)
    rng = np.random.default_rng(0)
    for p in g.params:
        p.data = rng.standard_normal(p.type.shape).astype(np.float32)
    return g


def _body(g) -> str:
    return "\n".join(line.strip() for line in print_graph(g).splitlines()[1:-1])


def test_mlp_structure_fp16():
    g = _with_data(MLP)
    out = verify(cast_precision(g, "float16"))
    assert [(p.name, str(p.type)) for p in out.params] == [
        ("w0/f16", "f16[6,8]"), ("b0/f16", "f16[8]"), ("w1/f16", "f16[8,3]")]
    assert _body(out) == "\n".join([
        '%0 = cast "x/to_f16"(%x) {dtype=f16} : f16[N,6]',
        '%1 = matmul "fc0/matmul"(%0, %w0/f16) {out_dtype=f32} : f32[N,8]',
        '%2 = cast "fc0/matmul/to_f16"(%1) {dtype=f16} : f16[N,8]',
        '%3 = add "fc0/add"(%2, %b0/f16) : f16[N,8]',
        '%4 = relu "fc0/relu"(%3) : f16[N,8]',
        '%5 = matmul "fc1/matmul"(%4, %w1/f16) {out_dtype=f32} : f32[N,3]',
        '%y = softmax "fc1/softmax"(%5) : f32[N,3]',
        "return %y, %5"])
    assert [v.type.dtype for v in out.outputs] == [DType.float32] * 2
    assert out.output_names == g.output_names


def test_statistics_stay_float32_and_outputs_are_cast_back():
    out = verify(cast_precision(_with_data(LAYER_NORM), "bfloat16"))
    body = _body(out)
    assert '%1 = matmul "fc/matmul"(%0, %w/bf16) {out_dtype=f32} : f32[N,4]' in body
    # the residual add reads an f32 input (%r): it runs in f32 on the matmul's f32 result
    assert '= add "res/add"(%1, %r) : f32[N,4]' in body
    assert 'mean "ln/mean"' in body and ": f32[N,1]" in body
    assert '%y = exp "exp"' in body and ": f32[N,4]" in body
    assert "bf16" not in body.split("mean")[1]  # nothing after the statistics is in bf16


def test_outputs_computed_in_16_bits_get_a_named_cast():
    g = _with_data("""
graph @g(%x: f32[N,4]) params(%w: f32[4,4], %b: f32[4]) {
  %0 = matmul(%x, %w) : f32[N,4]
  %y = add(%0, %b) : f32[N,4]
  return %y
}""")
    out = verify(cast_precision(g, "float16"))
    assert _body(out).splitlines()[-2:] == [
        '%y = cast "y/to_f32"(%3) {dtype=f32} : f32[N,4]', "return %y"]


@pytest.mark.parametrize("low", ["float16", "bfloat16"])
def test_out_dtype_contractions_compiled_match_the_reference(low):
    """matmul and conv2d with 16-bit inputs and out_dtype=f32: type rule, reference, lowering."""
    g = parse_graph(f"""
graph @g(%x: {DType.of(low).short}[2,5,5,3], %w: {DType.of(low).short}[3,3,3,4]) {{
  %0 = conv2d(%x, %w) {{out_dtype=f32}} : f32[2,3,3,4]
  %1 = reshape(%x) {{shape=[2, 75]}} : {DType.of(low).short}[2,75]
  %3 = transpose(%1) {{perm=[1, 0]}} : {DType.of(low).short}[75,2]
  %4 = matmul(%1, %3) {{out_dtype=f32}} : f32[2,2]
  return %0, %4
}}""")
    rng = np.random.default_rng(0)
    feeds = {v.name: rng.standard_normal(v.type.shape).astype(v.type.dtype.numpy)
             for v in g.inputs}
    for want, got in zip(interpret(g, feeds), run_local(g, feeds)):
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_bad_dtype():
    with pytest.raises(ValueError, match="float16 or bfloat16, not float64"):
        cast_precision(_with_data(MLP), "float64")


def test_interpreted_result_within_the_dtype_tolerance():
    g = _with_data(MLP)
    x = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    for mode, low in LOW.items():
        want, got = interpret(g, {"x": x}), interpret(cast_precision(g, low), {"x": x})
        for w, o in zip(want, got):
            assert o.dtype == np.float32
            np.testing.assert_allclose(o, w, rtol=0, atol=2 * EPS[mode] * np.abs(w).max())


ZOO = {  # name: builder arguments (tiny sizes)
    "mlp": dict(input_dim=16, hidden=(32,), classes=5),
    "lenet": dict(),
    "resnet18": dict(input_shape=(32, 32, 3), classes=10),
    "transformer_encoder": dict(seq_len=8, vocab_size=50, d_model=16, heads=2, ff_dim=32,
                                num_layers=1),
    "lstm_classifier": dict(seq_len=6, vocab_size=50, embed_dim=8, units=16),
}


@pytest.mark.parametrize("mode", ["fp16", "bf16"])
@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_model_compiled_within_the_dtype_tolerance(name, mode):
    model = zoo.get(name, **ZOO[name])
    feeds = zoo.example_inputs(model, batch=2)
    want = interpret(model.to_graph(), feeds)[0]
    got = next(iter(aot.compile(model, quantize=mode).run(feeds).values()))
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=2 * EPS[mode] * np.abs(want).max())


def test_weights_are_stored_in_16_bits():
    g = optimize(cast_precision(_with_data(MLP), "bfloat16"))
    assert {p.type.dtype for p in g.params} == {DType.bfloat16}


def test_cli_compile_mlp_fp16(tmp_path):
    out = tmp_path / "mlp16.aot"
    result = invoke("compile", "mlp", "--quantize", "fp16", "-o", out)
    assert result.exit_code == 0, result.output
    assert "predict(x: (N, 784) float32) -> (probs: (N, 10) float32)" in result.output
    weights = json.loads((out / "manifest.json").read_text())["weights"]
    assert {w["dtype"] for w in weights.values()} >= {"float16"}
    x = np.random.default_rng(0).standard_normal((3, 784)).astype(np.float32)
    want = interpret(zoo.mlp().to_graph(), {"x": x})[0]
    got = aot.runtime.load(out).predict(x)
    np.testing.assert_allclose(got, want, rtol=0, atol=2 * EPS["fp16"] * np.abs(want).max())
