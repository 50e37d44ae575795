"""Float8 casts (saturating and not, FNUZ included), GridSample, DFT and BitCast converters,
against onnxruntime where it runs them and onnx's reference evaluator where it does not.
Compiled checks use run_local (the VM directly)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import aot
from aot.codegen.build import run_local
from aot.ir import interpret, verify

from .helpers import model, ort_run, rand

N = helper.make_node


def _ours(m, feeds, compiled=True):
    graph = verify(aot.import_onnx(m))
    f = {v.name: feeds[v.name] for v in graph.inputs}
    outs = [interpret(graph, f)]
    if compiled:
        outs.append([np.asarray(o) for o in run_local(graph, f)])
    return outs


def _same(got, want, rtol=0.0, atol=0.0):
    assert got.shape == want.shape and got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol)


_F8 = {TensorProto.FLOAT8E4M3FN: "float8_e4m3fn", TensorProto.FLOAT8E5M2: "float8_e5m2",
       TensorProto.FLOAT8E4M3FNUZ: "float8_e4m3fnuz", TensorProto.FLOAT8E5M2FNUZ: "float8_e5m2fnuz"}


@pytest.mark.parametrize("to", list(_F8), ids=list(_F8.values()))
@pytest.mark.parametrize("saturate", [1, 0])
def test_cast_to_float8_matches_the_reference(to, saturate):
    x = np.array([[0.47, 0.5, 1e6, 1e-7, np.nan, np.inf, -np.inf, -0.0, 3 * 2.0 ** -10, 465.0, -250.0,
                   57400.0]], np.float32)
    m = model([N("Cast", ["x"], ["y"], to=to, saturate=saturate)], {"x": x}, ["y"], opset=21)
    want = ReferenceEvaluator(m).run(None, {"x": x})[0]
    for got in _ours(m, {"x": x}):
        _same(got[0], want)


@pytest.mark.parametrize("src", list(_F8), ids=list(_F8.values()))
def test_cast_from_float8_reads_every_bit_pattern(src):
    import ml_dtypes

    x = np.arange(256, dtype=np.uint8).view(getattr(ml_dtypes, _F8[src])).reshape(16, 16)
    g = helper.make_graph([N("Cast", ["x"], ["y"], to=TensorProto.FLOAT)], "t",
                          [helper.make_tensor_value_info("x", src, (16, 16))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, (16, 16))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    want = ReferenceEvaluator(m).run(None, {"x": x})[0]
    for got in _ours(m, {"x": x}):
        _same(got[0], want)


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("pad", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_grid_sample_matches_onnxruntime_and_the_reference(mode, pad, align):
    """onnx's reference is the oracle (the conformance data come from it); onnxruntime agrees
    except for bicubic with border padding, where it clamps differently (differences ~0.2)."""
    x = rand(2, 3, 4, 5)
    grid = np.random.default_rng(1).uniform(-1.4, 1.4, (2, 3, 6, 2)).astype(np.float32)
    feeds = {"x": x, "g": grid}
    m16 = model([N("GridSample", ["x", "g"], ["y"], mode=mode, padding_mode=pad, align_corners=align)],
                feeds, ["y"], opset=16)
    new_mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    m20 = model([N("GridSample", ["x", "g"], ["y"], mode=new_mode, padding_mode=pad, align_corners=align)],
                feeds, ["y"], opset=20)
    want = ReferenceEvaluator(m20).run(None, feeds)[0]
    if (mode, pad) != ("bicubic", "border"):
        _same(ort_run(m16, feeds)[0], want, rtol=1e-4, atol=1e-5)
    for m in (m16, m20):
        for got in _ours(m, feeds, compiled=m is m16):
            _same(got[0], want, rtol=1e-4, atol=1e-5)


def test_grid_sample_3d_matches_the_reference():
    x = rand(1, 2, 3, 4, 5)
    grid = np.random.default_rng(2).uniform(-1.2, 1.2, (1, 2, 3, 2, 3)).astype(np.float32)
    m = model([N("GridSample", ["x", "g"], ["y"], mode="linear", padding_mode="reflection")],
              {"x": x, "g": grid}, ["y"], opset=20)
    want = ReferenceEvaluator(m).run(None, {"x": x, "g": grid})[0]
    for got in _ours(m, {"x": x, "g": grid}):
        _same(got[0], want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("attrs,shape", [({}, (2, 6, 1)), ({"onesided": 1}, (2, 7, 1)),
                                         ({"inverse": 1}, (2, 5, 2)), ({"axis": 2}, (3, 2, 4, 2))])
def test_dft_matches_onnxruntime(attrs, shape):
    x = rand(*shape)
    m = model([N("DFT", ["x"], ["y"], **attrs)], {"x": x}, ["y"], opset=17)
    want = ort_run(m, {"x": x})[0]
    for got in _ours(m, {"x": x}):
        _same(got[0], want, rtol=1e-4, atol=1e-5)


def test_dft_length_and_inverse_onesided_match_the_reference():
    x = rand(2, 5, 1)
    m = model([N("DFT", ["x", "n"], ["y"])], {"x": x}, ["y"], inits={"n": np.int64(8)}, opset=17)
    want = ReferenceEvaluator(m).run(None, {"x": x})[0]
    for got in _ours(m, {"x": x}):
        _same(got[0], want, rtol=1e-4, atol=1e-5)
    spec = np.fft.rfft(rand(2, 8), axis=1)
    xs = np.stack([spec.real, spec.imag], -1).astype(np.float32)  # (2, 5, 2)
    m = model([N("DFT", ["x"], ["y"], inverse=1, onesided=1)], {"x": xs}, ["y"], opset=19)
    for got in _ours(m, {"x": xs}):
        _same(got[0][..., 0], np.fft.irfft(spec, axis=1).astype(np.float32), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("x,to", [(rand(2, 3), TensorProto.INT32),
                                  (np.array([True, False]), TensorProto.UINT8),
                                  (np.array([-1, 5], np.int32), TensorProto.FLOAT)])
def test_bitcast_matches_the_reference(x, to):
    m = model([N("BitCast", ["x"], ["y"], to=to)], {"x": x}, ["y"], opset=26)
    want = ReferenceEvaluator(m).run(None, {"x": x})[0]
    for got in _ours(m, {"x": x}):
        _same(got[0], want)


def test_bitcast_refuses_different_widths():
    from aot.ir import TensorType
    from aot.ir.builder import GraphBuilder

    b = GraphBuilder("g")
    x = b.input("x", TensorType((2,), "float32"))
    with pytest.raises(ValueError, match="equal element widths"):
        b.emit("bitcast", x, dtype="int64")


@pytest.mark.parametrize("op,attrs", [
    ("MaxPool", {"kernel_shape": [2, 3, 2], "strides": [1, 2, 1], "pads": [1, 0, 1, 0, 1, 1]}),
    ("AveragePool", {"kernel_shape": [3, 2, 2], "pads": [1, 1, 0, 1, 0, 1], "count_include_pad": 0,
                     "ceil_mode": 1, "strides": [2, 1, 2]}),
    ("AveragePool", {"kernel_shape": [2, 2, 2], "pads": [1, 1, 1, 0, 0, 0], "count_include_pad": 1,
                     "dilations": [2, 1, 1]}),
    ("LpPool", {"kernel_shape": [2, 2, 2], "p": 2}),
])
def test_3d_pools_match_onnxruntime(op, attrs):
    x = rand(1, 2, 5, 6, 5)
    m = model([N(op, ["x"], ["y"], **attrs)], {"x": x}, ["y"], opset=19)
    want = ort_run(m, {"x": x})[0]
    for got in _ours(m, {"x": x}):
        _same(got[0], want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attrs", [{"strides": [2], "pads": [1, 0]}, {"auto_pad": "SAME_UPPER", "strides": [2]}])
def test_conv_transpose_1d_matches_onnxruntime(attrs):
    x, w = rand(1, 2, 5), rand(2, 3, 3, seed=1)
    m = model([N("ConvTranspose", ["x", "w"], ["y"], **attrs)], {"x": x}, ["y"], inits={"w": w})
    want = ReferenceEvaluator(m).run(None, {"x": x})[0]
    for got in _ours(m, {"x": x}):
        _same(got[0], want, rtol=1e-5, atol=1e-5)


def test_conv_transpose_auto_pad_same_upper_puts_the_smaller_half_first():
    x, w = rand(1, 1, 3, 3), rand(1, 2, 3, 3, seed=1)
    m = model([N("ConvTranspose", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2])],
              {"x": x}, ["y"], inits={"w": w})
    want = ReferenceEvaluator(m).run(None, {"x": x})[0]
    for got in _ours(m, {"x": x}):
        _same(got[0], want, rtol=1e-5, atol=1e-5)


def _declared(nodes, feeds, out, shape, opset=19):
    ins = [helper.make_tensor_value_info(k, {np.dtype("float32"): TensorProto.FLOAT,
                                             np.dtype("int64"): TensorProto.INT64}[v.dtype], v.shape)
           for k, v in feeds.items()]
    g = helper.make_graph(nodes, "t", ins, [helper.make_tensor_value_info(out, TensorProto.FLOAT, shape)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "wrap"])
def test_pad_with_run_time_pads_matches_the_reference(mode):
    x = rand(3, 4)
    feeds = {"x": x, "p": np.array([1, 0, 2, 3], np.int64)}
    m = _declared([N("Pad", ["x", "p"], ["y"], mode=mode)], feeds, "y", (6, 7))
    want = ReferenceEvaluator(m).run(None, feeds)[0]
    for got in _ours(m, feeds):
        _same(got[0], want)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "wrap"])
def test_negative_pads_crop(mode):
    """onnx's reference refuses negative pads; numpy's pad then the crop is the oracle."""
    x = rand(3, 4)
    feeds = {"x": x, "p": np.array([1, -1, 0, 2], np.int64)}
    m = _declared([N("Pad", ["x", "p"], ["y"], mode=mode)], feeds, "y", (4, 5))
    want = np.pad(x, ((1, 0), (0, 2)), mode=mode)[:, 1:]
    for got in _ours(m, feeds):
        _same(got[0], want)
    m = model([N("Pad", ["x", "p"], ["y"], mode=mode)], {"x": x}, ["y"], inits={"p": feeds["p"]}, opset=19)
    for got in _ours(m, {"x": x}):
        _same(got[0], want)


def test_pad_with_run_time_value_and_axes():
    x = rand(2, 3)
    feeds = {"x": x, "p": np.array([2, 1], np.int64), "v": np.array(1.5, np.float32),
             "a": np.array([-1], np.int64)}
    m = _declared([N("Pad", ["x", "p", "v", "a"], ["y"])], feeds, "y", (2, 6))
    want = ReferenceEvaluator(m).run(None, feeds)[0]
    for got in _ours(m, feeds):
        _same(got[0], want)


@pytest.mark.parametrize("starts,ends,axes,steps,shape", [
    ([1, 0], [3, 10], [0, 1], [1, 1], (2, 5)),
    ([-1, 4], [-1000, 0], [1, 0], [-2, -1], (4, 3)),  # negative steps, axes out of order
    ([10], [20], [0], [1], (0, 5)),
])
def test_slice_with_run_time_starts_matches_the_reference(starts, ends, axes, steps, shape):
    x = rand(5, 5)
    feeds = {"x": x, "s": np.array(starts, np.int64), "e": np.array(ends, np.int64),
             "a": np.array(axes, np.int64), "t": np.array(steps, np.int64)}
    m = _declared([N("Slice", ["x", "s", "e", "a", "t"], ["y"])], feeds, "y", shape)
    want = ReferenceEvaluator(m).run(None, feeds)[0]
    assert want.shape == shape
    for got in _ours(m, feeds, compiled=0 not in shape):
        _same(got[0], want)


def test_center_crop_pad_with_run_time_shape():
    x = rand(5, 4, 3)
    feeds = {"x": x, "s": np.array([3, 7], np.int64)}
    m = _declared([N("CenterCropPad", ["x", "s"], ["y"], axes=[0, 1])], feeds, "y", (3, 7, 3), opset=18)
    want = ReferenceEvaluator(m).run(None, feeds)[0]
    for got in _ours(m, feeds):
        _same(got[0], want)


def test_range_with_run_time_bounds_uses_the_declared_length():
    feeds = {"s": np.array(1.5, np.float32), "l": np.array(6.0, np.float32), "d": np.array(1.25, np.float32)}
    ins = [helper.make_tensor_value_info(k, TensorProto.FLOAT, ()) for k in feeds]
    g = helper.make_graph([N("Range", ["s", "l", "d"], ["y"])], "t", ins,
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, (4,))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    want = ReferenceEvaluator(m).run(None, feeds)[0]
    for got in _ours(m, feeds):
        _same(got[0], want)


def test_run_time_reduce_axes_resolved_through_a_unary_chain():
    """ReduceSum's output shape is not declared, but Sqrt/Cast after it carry the output's back."""
    x = rand(3, 2, 4)
    feeds = {"x": x, "a": np.array([-1], np.int64)}
    ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape),
           helper.make_tensor_value_info("a", TensorProto.INT64, (1,))]
    nodes = [N("Mul", ["x", "x"], ["sq"]), N("ReduceSum", ["sq", "a"], ["s"], keepdims=1),
             N("Cast", ["s"], ["sd"], to=TensorProto.DOUBLE), N("Sqrt", ["sd"], ["r"]),
             N("CastLike", ["r", "x"], ["y"])]
    g = helper.make_graph(nodes, "t", ins, [helper.make_tensor_value_info("y", TensorProto.FLOAT, (3, 2, 1))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    want = ReferenceEvaluator(m).run(None, feeds)[0]
    for got in _ours(m, feeds):
        _same(got[0], want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
def test_windows_match_onnxruntime(op, periodic):
    feeds = {"n": np.array(10, np.int32)}
    g = helper.make_graph([N(op, ["n"], ["y"], periodic=periodic)], "t",
                          [helper.make_tensor_value_info("n", TensorProto.INT32, ())],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, (10,))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    want = ort_run(m, feeds)[0]
    for got in _ours(m, feeds):
        _same(got[0], want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("k,align", [(2, 0), (2, 1), (3, 0)])
def test_affine_grid_with_run_time_size_matches_the_reference(k, align):
    theta = rand(2, k, k + 1)
    size = np.array([2, 1, 3, 4] if k == 2 else [2, 1, 2, 3, 4], np.int64)
    feeds = {"t": theta, "s": size}
    ins = [helper.make_tensor_value_info("t", TensorProto.FLOAT, theta.shape),
           helper.make_tensor_value_info("s", TensorProto.INT64, size.shape)]
    out = (2,) + tuple(int(v) for v in size[2:]) + (k,)
    g = helper.make_graph([N("AffineGrid", ["t", "s"], ["y"], align_corners=align)], "t", ins,
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)])
    want = ReferenceEvaluator(m).run(None, feeds)[0]
    for got in _ours(m, feeds):
        _same(got[0], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("attrs,block,image", [({}, [2, 2], [3, 4]),
                                               ({"pads": [1, 0, 0, 1], "strides": [2, 1], "dilations": [1, 2]},
                                                [2, 2], [4, 5]),
                                               ({}, [1, 3], [3, 3])])  # (1,3) vs (3,1): picked at run time
def test_col2im_matches_the_reference(attrs, block, image):
    from aot.frontends.onnx.ops.col2im import _grid

    n_blocks = int(np.prod(_grid(image, block, attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1]),
                                 attrs.get("pads", [0, 0, 0, 0]))))
    x = rand(1, 2 * int(np.prod(block)), n_blocks)
    feeds = {"x": x, "i": np.array(image, np.int64), "b": np.array(block, np.int64)}
    ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape),
           helper.make_tensor_value_info("i", TensorProto.INT64, (2,)),
           helper.make_tensor_value_info("b", TensorProto.INT64, (2,))]
    g = helper.make_graph([N("Col2Im", ["x", "i", "b"], ["y"], **attrs)], "t", ins,
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, (1, 2, *image))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    want = ReferenceEvaluator(m).run(None, feeds)[0]
    for got in _ours(m, feeds):
        _same(got[0], want, rtol=1e-5, atol=1e-6)
