"""resize's numpy reference against onnx's reference implementation of Resize-19 over a grid
of modes, coordinate modes, scales-or-sizes, antialias and exclude_outside (no compiling:
test_registry checks the lowering against our reference)."""
import itertools

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from aot.ir.attrs import make_attrs
from aot.ir.opdef import get_op

COORDS = ["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
          "tf_crop_and_resize"]
GRID = list(itertools.product(["nearest", "linear", "cubic"], COORDS, [(0.6, 1.7), (2.0, 0.5)],
                              [False, True]))


def _onnx_resize(x, scales, roi, **attrs):
    node = helper.make_node("Resize", ["x", "roi", "scales"], ["y"], axes=[2, 3], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [helper.make_tensor("roi", TensorProto.FLOAT, [len(roi)], roi),
                               helper.make_tensor("scales", TensorProto.FLOAT, [2], scales)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    return ReferenceEvaluator(model).run(None, {"x": x})[0]


@pytest.mark.parametrize("mode,coord,scales,extra", GRID,
                         ids=[f"{m}-{c}-{s[0]}-{e}" for m, c, s, e in GRID])
def test_resize_matches_onnx_reference(mode, coord, scales, extra, rng):
    x = rng.standard_normal((1, 2, 5, 6)).astype(np.float32)
    scales = tuple(float(np.float32(s)) for s in scales)  # what an ONNX float tensor holds
    roi = (0.1, -0.3, 0.9, 1.2) if coord == "tf_crop_and_resize" else ()
    attrs = dict(mode=mode, coordinate_transformation_mode=coord, extrapolation_value=-2.0)
    if mode == "nearest":
        attrs["nearest_mode"] = "ceil" if extra else "round_prefer_floor"
    else:
        attrs["antialias" if mode == "linear" else "exclude_outside"] = int(extra)
    want = _onnx_resize(x, scales, roi, **attrs)
    sizes = tuple(int(s * n) for s, n in zip(scales, x.shape[2:]))
    a = make_attrs(get_op("resize").attrs, dict(attrs, sizes=sizes, axes=(2, 3), scales=scales,
                                                  roi=roi or None))
    got = get_op("resize").reference(a, x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
