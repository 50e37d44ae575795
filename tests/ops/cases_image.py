"""resize cases: each mode (nearest with every rounding, linear, cubic) under each coordinate
transformation mode, up- and downsampling, scales that differ from sizes / input, antialias,
exclude_outside, tf_crop_and_resize with extrapolation, 1-D, 2-D in NCHW and NHWC, 3-D,
a symbolic batch, float16 and an integer nearest. tests/ops/test_image_onnx.py checks the
reference against onnx's own on ONNX's examples."""
from .harness import OpCase

F32 = "float32"
TOL = dict(rtol=1e-4, atol=1e-5)


def rs(id, shape, sizes, axes, dtype=F32, bind=None, **attrs):
    tol = TOL if dtype != "float16" else dict(rtol=1e-3, atol=1e-3)  # one float16 ulp: f32 vs f64 sums
    return OpCase("resize", [(shape, dtype)], dict(attrs, sizes=sizes, axes=axes), id=id,
                  bind=bind or {}, **tol)


CASES = [
    rs("nearest-up-asym-floor", (1, 2, 3, 4), (6, 8), (2, 3), coordinate_transformation_mode="asymmetric",
       nearest_mode="floor"),
    rs("nearest-down-ceil", (1, 2, 7, 5), (3, 2), (2, 3), nearest_mode="round_prefer_ceil"),
    rs("nearest-align-corners-ceil", (2, 5, 3), (7,), (1,), coordinate_transformation_mode="align_corners",
       nearest_mode="ceil"),
    rs("nearest-int8", (1, 1, 3, 3), (5, 4), (2, 3), dtype="int8"),
    rs("nearest-exclude", (1, 5), (2,), (1,), coordinate_transformation_mode="pytorch_half_pixel",
       exclude_outside=True),
    rs("linear-up-nhwc", (1, 3, 4, 2), (7, 9), (1, 2), mode="linear"),
    rs("linear-align-corners", (1, 1, 4, 4), (8, 3), (2, 3), mode="linear",
       coordinate_transformation_mode="align_corners"),
    rs("linear-pytorch-to-1", (1, 2, 4, 5), (1, 3), (2, 3), mode="linear",
       coordinate_transformation_mode="pytorch_half_pixel"),
    rs("linear-symmetric", (1, 1, 4, 4), (2, 3), (2, 3), scales=(0.6, 0.8), mode="linear",
       coordinate_transformation_mode="half_pixel_symmetric"),
    rs("linear-antialias", (1, 2, 9, 7), (4, 3), (2, 3), mode="linear", antialias=True),
    rs("linear-3d", (1, 2, 3, 4, 2), (5, 6, 3), (2, 3, 4), mode="linear"),
    rs("linear-sym-batch", ("N", 2, 3, 3), (6, 6), (2, 3), bind={"N": 2}, mode="linear"),
    rs("linear-f16", (1, 2, 3, 4), (6, 5), (2, 3), dtype="float16", mode="linear"),
    rs("cubic-up-scales", (1, 1, 4, 4), (8, 8), (-2, -1), scales=(2.0, 2.0), mode="cubic"),
    rs("cubic-asym", (1, 1, 4, 5), (10, 7), (2, 3), scales=(2.5, 1.4), mode="cubic",
       coordinate_transformation_mode="asymmetric"),
    rs("cubic-exclude", (1, 1, 6, 6), (4, 3), (2, 3), mode="cubic", cubic_coeff_a=-0.5,
       exclude_outside=True),
    rs("cubic-antialias", (1, 2, 8, 8), (3, 5), (2, 3), mode="cubic", antialias=True),
    rs("crop-and-resize", (1, 1, 5, 5), (3, 4), (2, 3), mode="linear",
       coordinate_transformation_mode="tf_crop_and_resize", roi=(0.4, -0.2, 1.3, 0.8),
       extrapolation_value=10.0),
    rs("identity-axis", (2, 3, 4), (3, 8), (1, 2), mode="linear"),
]
