"""Bad inputs to the nn type rules (matmul, convolutions, pooling, softmax and the gradient
helper ops) fail at graph construction with one clear line naming the op, its input types
and what is wrong."""
import pytest

from aot.ir import GraphBuilder, IRError

from .harness import assert_type_error, parse_type

# (op, input types, attrs, a fragment the message must contain)
BAD = [
    ("matmul", ["bool[2,3]", "bool[3,2]"], {}, "matmul inputs must be numeric, got bool"),
    ("matmul", ["f32[]", "f32[3]"], {}, "must be at least 1-D, got a scalar"),
    ("matmul", ["f32[2,4]", "f32[5,3]"], {}, "contraction dims differ: lhs has 4 columns, rhs has 5 rows"),
    ("matmul", ["f32[4]", "f32[3]"], {}, "lhs has 4 columns, rhs has 3 rows"),
    ("matmul", ["f32[2,3,4]", "f32[5,4,2]"], {}, "batch dims: shapes [2] and [5] do not broadcast"),
    ("matmul", ["f32[2,3]", "f64[3,2]"], {}, "inputs must share a dtype, got f32, f64"),
    ("conv2d", ["i32[1,5,5,3]", "i32[3,3,3,4]"], {}, "input must be a float tensor, got i32"),
    ("conv2d", ["f32[5,5,3]", "f32[3,3,3,4]"], {}, "input must be 4-D (NHWC), got rank 3"),
    ("conv2d", ["f32[1,5,5,3]", "f32[3,3,4]"], {}, "kernel must be 4-D (kh, kw, in/groups, out) for NHWC"),
    ("conv2d", ["f32[1,3,5,5]", "f32[3,3,4]"], {"layout": "NCHW"},
     "kernel must be 4-D (out, in/groups, kh, kw) for NCHW data"),
    ("conv2d", ["f32[1,5,5,C]", "f32[3,3,3,4]"], {}, "input channels must be static, got symbol 'C'"),
    ("conv2d", ["f32[1,H,5,3]", "f32[3,3,3,4]"], {}, "input spatial dims must be static, got symbol 'H'"),
    ("conv2d", ["f32[1,5,5,4]", "f32[3,3,2,6]"], {"groups": 3},
     "groups=3 does not divide the input's 4 channels"),
    ("conv2d", ["f32[1,5,5,4]", "f32[3,3,2,5]"], {"groups": 2},
     "groups=2 does not divide the kernel's 5 output channels"),
    ("conv2d", ["f32[1,5,5,4]", "f32[3,3,3,6]"], {"groups": 2},
     "input has 4 channels but the kernel expects 6 (in/groups=3 x groups=2)"),
    ("conv2d", ["f32[1,5,5,3]", "f32[3,3,3,4]"], {"strides": (0, 1)}, "strides must be >= 1, got (0, 1)"),
    ("conv2d", ["f32[1,5,5,3]", "f32[3,3,3,4]"], {"padding": (0, -1, 0, 0)}, "padding must be >= 0"),
    ("conv2d", ["f32[1,5,5,3]", "f32[3,3,3,4]"], {"groups": 0}, "groups must be >= 1, got 0"),
    ("conv2d", ["f32[1,2,5,3]", "f32[3,3,3,4]"], {},
     "output height would be 0 < 1: input 2 padded by (0, 0) is smaller than the dilated kernel 3"),
    ("conv2d", ["f32[1,5,5,3]", "f32[3,3,3,4]"], {"layout": "NWHC"}, "expected one of ['NHWC', 'NCHW']"),
    ("conv2d", ["f32[1,5,5,3]", "f32[3,3,3,4]"], {"strides": (1,)}, "expected 2 items, got 1"),
    ("conv1d", ["f32[1,5,5,3]", "f32[3,3,4]"], {}, "input must be 3-D (NWC), got rank 4"),
    ("conv1d", ["f32[1,4,3]", "f32[3,3,4]"], {"dilation": (2,)},
     "output width would be 0 < 1: input 4 padded by (0, 0) is smaller than the dilated kernel 5"),
    ("conv2d_transpose", ["f32[1,3,3,2]", "f32[3,3,4,2]"], {"strides": (2, 2), "output_padding": (2, 0)},
     "output_padding (2, 0) must be >= 0 and smaller than the stride or the dilation"),
    ("conv2d_transpose", ["f32[1,3,3,3]", "f32[3,3,4,2]"], {},
     "input has 3 channels but the kernel expects 2"),
    ("conv2d_transpose", ["f32[1,3,3,3]", "f32[3,3,4,3]"], {"groups": 2},
     "groups=2 does not divide the input's 3 channels"),
    ("conv2d_transpose", ["f32[1,1,1,2]", "f32[1,1,4,2]"], {"padding": (1, 0, 0, 0)},
     "padding (1, 0) removes more than the full output"),
    ("max_pool2d", ["bool[1,4,4,1]"], {"pool_size": (2, 2)}, "input must be numeric, got bool"),
    ("max_pool2d", ["f32[1,4,4,1]"], {"pool_size": (2, 2), "count_include_pad": True},
     "count_include_pad applies to avg_pool2d only"),
    ("max_pool2d", ["f32[1,4,4,1]"], {}, "missing attribute 'pool_size'"),
    ("max_pool2d", ["f32[1,4,4,1]"], {"pool_size": (0, 2)}, "pool_size must be >= 1, got (0, 2)"),
    ("avg_pool2d", ["i32[1,4,4,1]"], {"pool_size": (2, 2)}, "input must be a float tensor, got i32"),
    ("avg_pool2d", ["f32[1,4,4,1]"], {"pool_size": (2, 2), "padding": (2, 0, 0, 0)},
     "padding (2, 0, 0, 0) must be smaller than the window 2 (pool_size (2, 2), dilation (1, 1))"),
    ("avg_pool2d", ["f32[1,1,4,1]"], {"pool_size": (2, 2)},
     "output height would be 0 < 1: input 1 is smaller than the window"),
    ("softmax", ["i32[3,4]"], {}, "input must be a float tensor, got i32"),
    ("softmax", ["f32[]"], {}, "softmax needs at least a 1-D input, got a scalar"),
    ("log_softmax", ["f32[3,4]"], {"axis": 2}, "axis 2 out of range for rank 2"),
    ("conv2d_backward_weight", ["f32[2,5,5,3]", "f32[3,3,3,4]"], {"kernel_size": (3, 3)},
     "batch dims differ: input 2, output gradient 3"),
    ("conv2d_backward_weight", ["f32[1,5,5,3]", "f32[1,4,3,4]"], {"kernel_size": (3, 3)},
     "output gradient height 4 exceeds the conv's output 3"),
    ("conv2d_backward_weight", ["f32[1,5,5,3]", "f32[3,3,4]"], {"kernel_size": (3, 3)},
     "output gradient must be 4-D (NHWC), got rank 3"),
    ("conv2d_backward_weight", ["f32[1,5,5,4]", "f32[1,3,3,3]"], {"kernel_size": (3, 3), "groups": 2},
     "groups=2 does not divide the output gradient's 3 channels"),
    ("conv2d_backward_weight", ["f32[1,5,5,3]", "f32[1,3,3,4]"], {"kernel_size": (0, 3)},
     "kernel_size must be >= 1, got (0, 3)"),
    ("conv2d_backward_weight", ["f32[1,5,5,3]", "f32[1,3,3,4]"], {}, "missing attribute 'kernel_size'"),
    ("max_pool2d_grad", ["f32[1,4,4,1]", "f32[1,3,3,1]"], {"pool_size": (2, 2), "strides": (2, 2)},
     "output gradient must have the pool's output type f32[1,2,2,1], got f32[1,3,3,1]"),
    ("max_pool2d_grad", ["i32[1,4,4,1]", "i32[1,2,2,1]"], {"pool_size": (2, 2), "strides": (2, 2)},
     "input must be a float tensor, got i32"),
]


def test_the_message_names_the_node_and_its_input_types():
    b = GraphBuilder("bad")
    x, w = b.input("x", parse_type("f32[1,5,5,4]")), b.input("w", parse_type("f32[3,3,3,6]"))
    with pytest.raises(IRError, match=r"^node 'conv1' \(conv2d\)\(f32\[1,5,5,4\], f32\[3,3,3,6\]\): "
                                      r"input has 4 channels"):
        b.emit("conv2d", x, w, groups=2, name="conv1")


@pytest.mark.parametrize("op, types, attrs, message", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_inputs_raise_one_clear_line(op, types, attrs, message):
    assert_type_error(op, types, attrs, message)
