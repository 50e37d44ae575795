"""Bad inputs to the ops added for ONNX models (bitwise, einsum, trilu, resize, topk,
gather_nd, arange) fail at graph construction with one clear ValueError."""
import pytest

from .harness import assert_type_error

# (op, input types, attrs, a fragment the message must contain)
BAD = [
    ("bitwise_and", ["f32[3]", "f32[3]"], {}, "inputs must be integer tensors, got f32"),
    ("left_shift", ["i32[3]", "i64[3]"], {}, "inputs must share a dtype"),
    ("bitwise_not", ["bool[3]"], {}, "input must be an integer tensor, got bool"),
    ("einsum", ["f32[2,3]", "f32[4,5]"], {"equation": "ij,jk->ik"}, "labels dims of sizes 3 and 4"),
    ("einsum", ["f32[2,3]"], {"equation": "ij,jk->ik"}, "has 2 operand(s), got 1 input(s)"),
    ("einsum", ["f32[2,3]"], {"equation": "ijk->i"}, "name 3 dims, the operand has rank 2"),
    ("einsum", ["f32[2,3]"], {"equation": "ij->iz"}, "output subscript 'z' labels no input dim"),
    ("einsum", ["f32[5,2,3]"], {"equation": "...ij->ij"}, "the output must name them"),
    ("trilu", ["f32[3]"], {}, "rank >= 2"),
    ("resize", ["f32[1,2,3,4]"], {"sizes": (6,), "axes": (2, 3)}, "sizes (6,) must have 2 entries"),
    ("resize", ["f32[1,2,3,4]"], {"sizes": (6, 8), "axes": (2, 4)}, "axes (2, 4) out of range for rank 4"),
    ("resize", ["f32[N,2,3,4]"], {"sizes": (6,), "axes": (0,)}, "resized dim 0 must be static"),
    ("resize", ["i32[1,3]"], {"sizes": (6,), "axes": (1,), "mode": "linear"}, "linear resize needs a float"),
    ("resize", ["f32[1,3]"], {"sizes": (6,), "axes": (1,), "coordinate_transformation_mode":
                              "tf_crop_and_resize"}, "roi is required by"),
    ("resize", ["f32[1,3]"], {"sizes": (6,), "axes": (1,), "antialias": True}, "antialias applies"),
    ("topk", ["f32[2,5]"], {"k": 6}, "k=6 must be in 0..5"),
    ("topk", ["f32[2,N]"], {"k": 1}, "must be static"),
    ("gather_nd", ["f32[2,3]", "f32[2,1]"], {}, "indices must be int32 or int64"),
    ("gather_nd", ["f32[2,3]", "i64[2,3]"], {}, "must be an int in 1..2"),
    ("gather_nd", ["f32[2,3,4]", "i64[3,1]"], {"batch_dims": 1}, "the first 1 (batch) dims"),
    ("arange", [], {"start": 0.0, "limit": 3.0, "delta": 0.0}, "delta must not be 0"),
    ("arange", [], {"start": 0.5, "limit": 3.0, "dtype": "int32"}, "must be whole numbers for i32"),
]


@pytest.mark.parametrize("op, types, attrs, message", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_inputs_raise_clear_value_error(op, types, attrs, message):
    assert_type_error(op, types, attrs, message)
