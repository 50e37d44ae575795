"""Importer unit tests per op family, against onnxruntime on small models."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from aot.frontends.onnx import supported_ops

from .helpers import check, model, rand

N = helper.make_node


# ------------------------------------------------------------ elementwise

@pytest.mark.parametrize("op", ["Abs", "Neg", "Exp", "Tanh", "Sigmoid", "Relu", "Floor", "Erf",
                                "Softsign", "Softplus", "Selu", "Celu", "HardSwish", "Mish"])
def test_unary(op):
    x = rand(2, 3)
    check(model([N(op, ["x"], ["y"])], {"x": x}, ["y"], opset=18), {"x": x})


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum"])
def test_binary_broadcast(op):
    x, y = np.abs(rand(2, 3)) + 0.5, rand(3, seed=1)
    check(model([N(op, ["x", "y"], ["z"])], {"x": x, "y": y}, ["z"]), {"x": x, "y": y})


def test_mod_fmod_and_compare_where():
    x, y = rand(4, 3) * 5, np.full((4, 3), 1.5, np.float32)
    nodes = [N("Mod", ["x", "y"], ["m"], fmod=1), N("Less", ["x", "m"], ["c"]),
             N("Where", ["c", "x", "m"], ["z"])]
    check(model(nodes, {"x": x, "y": y}, ["z"]), {"x": x, "y": y})


def test_clip_forms():
    x = rand(3, 4) * 3
    old = model([N("Clip", ["x"], ["y"], min=-1.0, max=0.5)], {"x": x}, ["y"], opset=6)
    check(old, {"x": x})
    new = model([N("Clip", ["x", "lo", "hi"], ["y"])], {"x": x}, ["y"],
                inits={"lo": np.float32(-1), "hi": np.float32(0.5)})
    check(new, {"x": x}, compiled=True)


def test_cast_and_legacy_broadcast():
    """Opset 6 Add aligns y at axis 1 (onnxruntime no longer runs opset 6: numpy decides)."""
    import aot
    from aot.ir import interpret

    x, y = rand(2, 3, 4) * 3, rand(3, seed=2)
    m = model([N("Add", ["x", "y"], ["z"], broadcast=1, axis=1),
               N("Cast", ["z"], ["w"], to=7)], {"x": x, "y": y}, ["w"], opset=6)
    got = interpret(aot.import_onnx(m), {"x": x, "y": y})[0]
    np.testing.assert_array_equal(got, (x + y[:, None]).astype(np.int64))


# ------------------------------------------------------------ nn

def test_conv_bias_pads_group():
    x, w, b = rand(1, 4, 6, 6), rand(4, 2, 3, 3, seed=1), rand(4, seed=2)
    m = model([N("Conv", ["x", "w", "b"], ["y"], pads=[1, 0, 1, 2], strides=[2, 1], group=2)],
              {"x": x}, ["y"], inits={"w": w, "b": b})
    check(m, {"x": x}, compiled=True, rtol=1e-4, atol=1e-5)


def test_conv1d_auto_pad_and_pools():
    x, w = rand(1, 2, 9), rand(3, 2, 3, seed=1)
    nodes = [N("Conv", ["x", "w"], ["c"], auto_pad="SAME_UPPER"),
             N("MaxPool", ["c"], ["p"], kernel_shape=[2], strides=[2])]
    check(model(nodes, {"x": x}, ["p"], inits={"w": w}), {"x": x}, rtol=1e-4, atol=1e-5)


def test_conv_transpose_output_shape():
    x, w = rand(1, 2, 3, 3), rand(2, 3, 3, 3, seed=1)
    m = model([N("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], output_shape=[7, 7])],
              {"x": x}, ["y"], inits={"w": w})
    check(m, {"x": x}, rtol=1e-4, atol=1e-5)


def test_gemm_batchnorm_softmax_legacy():
    x = rand(2, 3, 2, 2)
    s, bias, mean, var = rand(3, seed=1), rand(3, seed=2), rand(3, seed=3), np.abs(rand(3, seed=4))
    nodes = [N("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"]),
             N("Flatten", ["bn"], ["f"]),
             N("Gemm", ["f", "w", "c"], ["g"], transB=1, alpha=0.5, beta=2.0),
             N("Softmax", ["g"], ["y"])]
    inits = {"s": s, "b": bias, "m": mean, "v": var, "w": rand(5, 12, seed=5), "c": rand(5, seed=6)}
    check(model(nodes, {"x": x}, ["y"], inits=inits, opset=11), {"x": x}, compiled=True,
          rtol=1e-4, atol=1e-5)


def test_softmax_opset11_flattens_to_2d():
    x = rand(2, 3, 4)
    check(model([N("Softmax", ["x"], ["y"], axis=1)], {"x": x}, ["y"], opset=11), {"x": x})


def test_layer_norm_through_function_body():
    x, s, b = rand(2, 3, 4), rand(4, seed=1), rand(4, seed=2)
    m = model([N("LayerNormalization", ["x", "s", "b"], ["y"], axis=-1)], {"x": x}, ["y"],
              inits={"s": s, "b": b})
    check(m, {"x": x}, rtol=1e-4, atol=1e-5)


def test_instance_norm_lrn_global_pool():
    x = rand(1, 4, 3, 3)
    nodes = [N("InstanceNormalization", ["x", "s", "b"], ["i"]),
             N("LRN", ["i"], ["l"], size=3), N("GlobalAveragePool", ["l"], ["y"])]
    check(model(nodes, {"x": x}, ["y"], inits={"s": rand(4, seed=1), "b": rand(4, seed=2)}),
          {"x": x}, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------ shape (folding)

def test_shape_subgraph_folds_with_symbolic_batch():
    from onnx import TensorProto

    x = rand(3, 2, 4)
    nodes = [N("Shape", ["x"], ["s"]), N("Gather", ["s", "zero"], ["n"], axis=0),
             N("Unsqueeze", ["n", "ax"], ["n1"]), N("Concat", ["n1", "minus1"], ["shape"], axis=0),
             N("Reshape", ["x", "shape"], ["y"])]
    inits = {"zero": np.int64(0), "ax": np.array([0]), "minus1": np.array([-1])}
    m = model(nodes, {"x": x}, ["y"], inits=inits)
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch size"
    g = check(m, {"x": x})
    assert [n.op.name for n in g.nodes] == ["reshape"]
    assert g.inputs[0].type.shape[0] == "batch_size"
    assert TensorProto.FLOAT == m.graph.input[0].type.tensor_type.elem_type


@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze_unsqueeze_slice_split_forms(opset):
    x = rand(1, 4, 6)
    if opset < 13:
        nodes = [N("Squeeze", ["x"], ["a"], axes=[0]), N("Unsqueeze", ["a"], ["b"], axes=[2]),
                 N("Split", ["b"], ["c", "d"], axis=1, split=[2, 4])]
        inits = {}
    else:
        nodes = [N("Squeeze", ["x", "ax0"], ["a"]), N("Unsqueeze", ["a", "ax2"], ["b"]),
                 N("Split", ["b", "sz"], ["c", "d"], axis=1)]
        inits = {"ax0": np.array([0]), "ax2": np.array([2]), "sz": np.array([2, 4])}
    nodes.append(N("Slice", ["d", "st", "en", "axs", "stp"], ["y"]))
    inits.update(st=np.array([5, 0]), en=np.array([0, 9]), axs=np.array([2, 0]),
                 stp=np.array([-2, 1]))
    check(model(nodes, {"x": x}, ["c", "y"], inits=inits, opset=opset), {"x": x})


def test_pad_tile_expand_constant_of_shape():
    x = rand(2, 3)
    nodes = [N("Pad", ["x", "pads"], ["p"], mode="reflect"), N("Tile", ["p", "rep"], ["t"]),
             N("ConstantOfShape", ["shp"], ["o"]), N("Add", ["t", "o"], ["y"]),
             N("Expand", ["x", "eshape"], ["e"])]
    inits = {"pads": np.array([0, 1, 1, 1]), "rep": np.array([1, 2]), "shp": np.array([3, 10]),
             "eshape": np.array([2, 1, 1])}
    check(model(nodes, {"x": x}, ["y", "e"], inits=inits), {"x": x})


def test_gather_topk_free_indexing_ops():
    x, idx = rand(4, 5), np.array([[3, 0], [1, 1]], dtype=np.int64)
    nodes = [N("Gather", ["x", "i"], ["g"], axis=0),
             N("GatherElements", ["x", "j"], ["ge"], axis=1)]
    j = np.array([[0, 4], [1, 1], [2, 3], [4, 0]], dtype=np.int64)
    check(model(nodes, {"x": x, "i": idx, "j": j}, ["g", "ge"]), {"x": x, "i": idx, "j": j})


# ------------------------------------------------------------ reduce, control

@pytest.mark.parametrize("opset", [13, 18])
def test_reductions(opset):
    x = np.abs(rand(2, 3, 4)) + 0.1
    ops = ["ReduceMean", "ReduceMax", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare"]
    if opset >= 18:
        nodes = [N(op, ["x", "axes"], [f"y{i}"], keepdims=0) for i, op in enumerate(ops)]
    else:
        nodes = [N(op, ["x"], [f"y{i}"], axes=[1], keepdims=0) for i, op in enumerate(ops)]
    nodes.append(N("ReduceSum", ["x", "axes"], ["s"]))
    nodes.append(N("ArgMax", ["x"], ["am"], axis=2, keepdims=0))
    outs = [f"y{i}" for i in range(len(ops))] + ["s", "am"]
    check(model(nodes, {"x": x}, outs, inits={"axes": np.array([1])}, opset=opset), {"x": x},
          rtol=1e-5, atol=1e-5)


def test_if_with_constant_condition():
    x = rand(2, 2)
    then = helper.make_graph([N("Relu", ["x"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", 1, [2, 2])])
    other = helper.make_graph([N("Neg", ["x"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", 1, [2, 2])])
    nodes = [N("If", ["cond"], ["y"], then_branch=then, else_branch=other)]
    m = model(nodes, {"x": x}, ["y"], inits={"cond": np.array(False)})
    g = check(m, {"x": x})
    assert [n.op.name for n in g.nodes] == ["neg"]


# ------------------------------------------------------------ the table

def test_supported_pairs_are_listed():
    pairs = supported_ops()
    for pair in [("Conv", 1), ("Reshape", 5), ("Reshape", 1), ("Squeeze", 13), ("Clip", 11),
                 ("Slice", 10), ("Pad", 11), ("ReduceMean", 18), ("ReduceSum", 13),
                 ("Split", 13), ("Softmax", 13), ("Softmax", 1), ("If", 1)]:
        assert pair in pairs
    assert len(pairs) == len(set(pairs)) and len(pairs) > 120
