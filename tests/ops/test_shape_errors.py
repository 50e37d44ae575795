"""Bad inputs to the shape, reduce and indexing type rules fail at graph construction
with one clear ValueError naming the op, its input types and what is wrong."""
import pytest

from .harness import assert_type_error

# (op, input types, attrs, a fragment the message must contain)
BAD = [
    ("reshape", ["f32[2,3]"], {"shape": (4, 2)}, "cannot reshape f32[2,3] (6 elements) into (4, 2) (8 elements)"),
    ("reshape", ["f32[2,3]"], {"shape": (-1, -1)}, "more than one -1"),
    ("reshape", ["f32[2,3]"], {"shape": (-1, 4)}, "cannot reshape f32[2,3]"),
    ("reshape", ["f32[N,6]"], {"shape": ("M", 6)}, "target symbol(s) ['M'] are not dims of the input"),
    ("reshape", ["f32[N,6]"], {"shape": (-1, 4)}, "6*N is not provably a multiple of 4"),
    ("reshape", ["f32[N,3]"], {"shape": (-1, "2*N")}, "3*N is not provably a multiple of 2*N"),
    ("reshape", ["f32[N,6]"], {"shape": ("N", 5)}, "cannot reshape f32[N,6] (6*N elements) into (N, 5) (5*N elements)"),
    ("transpose", ["f32[2,3,4]"], {"perm": (0, 0, 1)}, "not a permutation"),
    ("expand_dims", ["f32[2,3]"], {"axes": (3,)}, "axis 3 out of range for rank 3"),
    ("squeeze", ["f32[2,1]"], {"axes": (0,)}, "cannot squeeze axis 0 of f32[2,1]: its size is 2"),
    ("squeeze", ["f32[N,1]"], {}, "ambiguous"),
    ("concat", ["f32[2,3]", "f32[2,4]"], {"axis": 0}, "dim 1 differs between inputs"),
    ("concat", ["f32[2,3]", "i32[2,3]"], {}, "inputs must share a dtype"),
    ("concat", ["f32[2,3]", "f32[2,3,1]"], {}, "inputs must share a rank"),
    ("concat", ["f32[N,3]", "f32[N,4]"], {"axis": 0}, "dim 1 differs between inputs"),
    ("concat", ["f32[2,3]", "f32[2,3]"], {"axis": 2}, "axis 2 out of range for rank 2"),
    ("split", ["f32[5,2]"], {"sizes": (2, 2)}, "add up to 4, but axis 0 has size 5"),
    ("split", ["f32[N,2]"], {"sizes": (1, 2)}, "cannot split symbolic dim N"),
    ("slice", ["f32[5]"], {"starts": (0,), "ends": (3,), "steps": (0,)}, "steps must not be 0"),
    ("slice", ["f32[5]"], {"starts": (0, 1), "ends": (3,)}, "one entry each per sliced axis"),
    ("slice", ["f32[N,5]"], {"starts": (3,), "ends": (0,), "steps": (-1,)}, "a backward slice must take the whole dim"),
    ("broadcast_to", ["f32[3,2]"], {"shape": (3, 4)}, "dim 1 is 2, target 4"),
    ("broadcast_to", ["f32[1,2]"], {"shape": ("N", 2)}, "target symbol N (position 0)"),
    ("pad", ["f32[3,2]"], {"pads": (1, 1)}, "pads needs 2*rank = 4 values"),
    ("pad", ["f32[3,2]"], {"pads": (0, 2, 0, 0), "mode": "reflect"}, "reflect pads on axis 1 must be < its size 2"),
    ("pad", ["f32[N,2]"], {"pads": (1, 0, 0, 0), "mode": "reflect"}, "cannot reflect-pad symbolic dim N"),
    ("flip", ["f32[3]"], {"axes": (0, -1)}, "repeated axis"),
    ("sum", ["f32[2,3]"], {"axes": (2,)}, "axis 2 out of range for rank 2"),
    ("mean", ["i32[2,3]"], {}, "must be a float tensor"),
    ("argmax", ["f32[2,3]"], {"axis": -3}, "axis -3 out of range for rank 2"),
    ("cumsum", ["bool[4]"], {}, "must be numeric"),
    ("take", ["f32[4,3]", "f32[2]"], {}, "indices must be int32 or int64, got f32"),
    ("gather_elements", ["f32[4,3]", "i64[2]"], {}, "indices must have the rank of data (2)"),
    ("gather_elements", ["f32[4,3]", "i64[2,5]"], {}, "indices dim 1 (5) must fit in data dim 1 (3)"),
    ("one_hot", ["f32[3]"], {"depth": 4}, "indices must be an int tensor"),
    ("scatter_elements", ["f32[4,3]", "i64[2,3]", "f32[2,2]"], {}, "must have the shape of indices"),
]


@pytest.mark.parametrize("op, types, attrs, message", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_inputs_raise_clear_value_error(op, types, attrs, message):
    assert_type_error(op, types, attrs, message)
