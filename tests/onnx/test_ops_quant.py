"""Quantization converters against onnxruntime: rounding half to even, saturation,
per-axis and blocked parameters, the integer matmul/conv forms."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from .helpers import check, model

N = helper.make_node


def test_quantize_rounds_half_to_even_and_saturates_compiled():
    x = np.array([[0.5, 1.5, 2.5, -0.5], [300.0, -300.0, 7.49, 127.5]], np.float32)
    inits = {"s": np.float32(1.0), "z": np.uint8(3)}
    m = model([N("QuantizeLinear", ["x", "s", "z"], ["y"])], {"x": x}, ["y"], inits=inits)
    check(m, {"x": x}, compiled=True)
    inits = {"s": np.float32(0.5), "z": np.int8(-2)}
    m = model([N("QuantizeLinear", ["x", "s", "z"], ["y"])], {"x": x}, ["y"], inits=inits)
    check(m, {"x": x})


def test_per_axis_and_blocked_quantize_dequantize():
    x = np.linspace(-4, 4, 24, dtype=np.float32).reshape(2, 3, 4)
    inits = {"s": np.array([0.1, 0.2, 0.3], np.float32), "z": np.array([1, 2, 3], np.uint8)}
    nodes = [N("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1),
             N("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1)]
    check(model(nodes, {"x": x}, ["q", "y"], inits=inits, opset=13), {"x": x})
    inits = {"s": np.full((2, 3, 2), 0.25, np.float32), "z": np.zeros((2, 3, 2), np.int8)}
    inits["s"][0, 1, 1] = 0.5
    nodes = [N("QuantizeLinear", ["x", "s", "z"], ["q"], axis=2, block_size=2),
             N("DequantizeLinear", ["q", "s", "z"], ["y"], axis=2, block_size=2)]
    check(model(nodes, {"x": x}, ["q", "y"], inits=inits, opset=21), {"x": x})


def test_integer_matmul_and_qlinear_ops():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (3, 4), dtype=np.uint8)
    b = rng.integers(0, 255, (4, 2), dtype=np.uint8)
    inits = {"b": b, "az": np.uint8(12), "bz": np.uint8(130)}
    m = model([N("MatMulInteger", ["a", "b", "az", "bz"], ["y"])], {"a": a}, ["y"], inits=inits,
              opset=10)
    m.graph.input[0].type.tensor_type.elem_type = TensorProto.UINT8
    check(m, {"a": a})
    inits.update({"as": np.float32(0.02), "bs": np.float32(0.03), "ys": np.float32(0.1),
                  "yz": np.uint8(100)})
    m = model([N("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])],
              {"a": a}, ["y"], inits=inits, opset=10)
    check(m, {"a": a}, compiled=True)
    x = rng.integers(0, 255, (1, 2, 5, 5), dtype=np.uint8)
    w = rng.integers(0, 255, (3, 2, 3, 3), dtype=np.uint8)
    inits = {"w": w, "xs": np.float32(0.01), "xz": np.uint8(120), "ws": np.float32(0.02),
             "wz": np.uint8(128), "ys": np.float32(0.5), "yz": np.uint8(10),
             "bias": np.array([1, -200, 3000], np.int32)}
    m = model([N("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "bias"], ["y"],
                 pads=[1, 1, 1, 1])], {"x": x}, ["y"], inits=inits, opset=10)
    check(m, {"x": x})
    m = model([N("ConvInteger", ["x", "w", "xz", "wz"], ["y"])], {"x": x}, ["y"], inits=inits,
              opset=10)
    check(m, {"x": x})
