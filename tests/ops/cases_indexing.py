"""Test cases for the indexing family (aot/ops/indexing.py). Indices are fixed arrays
(or drawn in range by `gen`), negative ones included, since out-of-range is undefined.
Fixed indices are given as plain arrays (fed as inputs, used as is) rather than
("const", array): the gradient test's case filter cannot compare an array spec."""
import numpy as np

from .harness import OpCase

F32, F64, I32, I64 = "float32", "float64", "int32", "int64"


def _const(values, dtype="int64"):
    return np.array(values, dtype=dtype)


def _unique_along(rng, shape, axis: int, size: int, dtype="int64"):
    """Indices with no repeats along `axis` (some negative): scatter 'none' is then exact."""
    perm = np.argsort(rng.random(shape[:axis] + (size,) + shape[axis + 1:]), axis=axis)
    idx = np.take(perm, np.arange(shape[axis]), axis=axis)
    return np.where(rng.random(shape) < 0.5, idx - size, idx).astype(dtype)


def _one_hot_gen(rng, shape, dtype):
    return rng.integers(-4, 6, size=shape).astype(dtype.numpy)  # depth 4: some negative, some out of range


def _rand_idx(low: int, high: int):
    """gen: indices drawn in [low, high), normal floats for the other inputs."""
    return lambda rng, s, dt: (rng.integers(low, high, size=s).astype(dt.numpy) if dt.is_int
                               else rng.standard_normal(s).astype(dt.numpy))


def _fixed(array):
    """gen: this float array, whatever the shape asked (zeros placed on purpose)."""
    return lambda rng, s, dt: np.asarray(array, dtype=dt.numpy)


# scatter mul with zeros: column 0 gathers three updates into (1,0), one of them zero; (3,1)
# holds a zero and receives a zero (two zeros); (2,2) is a zero that nothing is sent to.
_MUL_DATA = np.array([[1.5, -0.5, 2.0], [0.7, 1.1, -1.3], [0.9, 0.4, 0.0], [-1.2, 0.0, 0.8]])
_MUL_UPDATES = [[1.2, 0.0, -0.6], [0.0, 1.4, 0.9], [-0.8, 1.3, 1.1]]

_rng = np.random.default_rng(7)

CASES = [
    # take
    OpCase("take", [((5, 3), F32), _const([4, 0, -1, 2])], id="axis0"),
    OpCase("take", [((2, 5, 3), I32), _const([[1, -5], [3, 3]], "int32")], {"axis": 1}, id="2d-idx"),
    OpCase("take", [((2, 4), F32), _const(-2)], {"axis": -1}, id="scalar-idx"),
    OpCase("take", [(("N", 6), F32), _const([[5], [0], [-6]])], {"axis": 1}, bind={"N": 3}, id="symbolic"),
    OpCase("take", [((10, 4), F64), (("N", 2), I64)], bind={"N": 3},
           gen=lambda rng, s, dt: rng.integers(-10, 10, size=s).astype(dt) if dt.is_int
           else rng.standard_normal(s).astype(dt.numpy), id="symbolic-idx"),
    OpCase("take", [((2, 5, 3), F32), _const([[1, -5], [3, 3]], "int32")], {"axis": 1}, id="2d-idx-float"),
    OpCase("take", [((3, 4, 5), F32), _const([[4, 0, -1], [2, 2, 4]])], {"axis": -1}, id="last-axis"),
    OpCase("take", [(("N", 4), F32), _const([0, -1, 0, 2])], bind={"N": 3}, id="symbolic-axis"),
    OpCase("take", [((7, 4), F32), (("N", 5), I64)], bind={"N": 3}, gen=_rand_idx(0, 3),
           id="embedding-repeats"),
    # gather_elements
    OpCase("gather_elements", [((3, 4), F32), _const([[2, -1, 0, 1], [0, 0, -3, 2]])], id="axis0"),
    OpCase("gather_elements", [((3, 4), I32), _const([[3, -4], [1, 1], [0, 2]], "int32")], {"axis": -1},
           id="smaller-idx"),
    OpCase("gather_elements", [((2, 1, 5), F32), _const([[[4, 0, -1]], [[1, 1, 2]]])], {"axis": 2},
           id="size1"),
    OpCase("gather_elements", [(("N", 4), F32), (("N", 6), I64)], {"axis": 1}, bind={"N": 3},
           gen=lambda rng, s, dt: rng.integers(-4, 4, size=s).astype(dt) if dt.is_int
           else rng.standard_normal(s).astype(dt.numpy), id="symbolic"),
    # one_hot
    OpCase("one_hot", [((5,), I64)], {"depth": 4}, gen=_one_hot_gen, id="default"),
    OpCase("one_hot", [((2, 3), I32)], {"depth": 4, "axis": 0, "on_value": 2.5, "off_value": -1.0},
           gen=_one_hot_gen, id="axis0-values"),
    OpCase("one_hot", [((2, 3), I64)], {"depth": 4, "axis": -2, "dtype": "int32", "on_value": 7},
           gen=_one_hot_gen, id="int-out"),
    OpCase("one_hot", [(("N",), I64)], {"depth": 4, "dtype": "float64"}, bind={"N": 3}, gen=_one_hot_gen,
           id="symbolic"),
    # scatter_elements
    OpCase("scatter_elements", [((4, 3), F32), _unique_along(_rng, (2, 3), 0, 4), ((2, 3), F32)],
           id="none-axis0"),
    OpCase("scatter_elements", [((3, 5), I32), _unique_along(_rng, (3, 2), 1, 5, "int32"), ((3, 2), I32)],
           {"axis": -1}, id="none-int-neg-axis"),
    OpCase("scatter_elements", [((4, 3), F32), _const([[1, -1, 1], [1, 0, 3], [1, 2, 0]]), ((3, 3), F32)],
           {"reduction": "add"}, id="add-dups"),
    OpCase("scatter_elements", [((3, 4), I64), _const([[0, 0, -1], [2, 2, 2], [1, 0, 1]]), ((3, 3), I64)],
           {"axis": 1, "reduction": "mul"}, id="mul-dups"),
    OpCase("scatter_elements", [((4, 2), F64), _const([[3, 0], [3, 0], [-1, 1]]), ((3, 2), F64)],
           {"reduction": "max"}, id="max-dups"),
    OpCase("scatter_elements", [((4, 2), F32), _const([[3, 0], [3, 0], [-1, 1]]), ((3, 2), F32)],
           {"reduction": "min"}, id="min-dups"),
    OpCase("scatter_elements", [(("N", 5), F32), (("N", 2), I64), (("N", 2), F32)], {"axis": 1},
           bind={"N": 3}, gen=lambda rng, s, dt: (np.stack([rng.permutation(5)[:2] for _ in range(s[0])])
                                                  .astype(dt.numpy) if dt.is_int
                                                  else rng.standard_normal(s).astype(dt.numpy)),
           id="symbolic"),
    OpCase("scatter_elements", [_MUL_DATA, _const([[1, -1, 1], [1, 0, 3], [1, 2, 0]]), ((3, 3), F64)],
           {"reduction": "mul"}, gen=_fixed(_MUL_UPDATES), id="mul-zeros"),
    OpCase("scatter_elements", [((3, 5), F32), _const([[4, -1], [0, 0], [2, 3]]), ((3, 2), F32)],
           {"axis": 1, "reduction": "add"}, id="add-axis1"),
    # scatter_nd: indices[..., k] index the first k dims of data
    OpCase("scatter_nd", [((5, 3), F32), _const([[4], [0], [-2]]), ((3, 3), F32)], id="none-k1"),
    OpCase("scatter_nd", [((3, 4, 2), F32), _const([[[1, 2], [-2, 2]], [[0, -1], [2, 0]]], "int32"),
                          ((2, 2, 2), F32)], {"reduction": "add"}, id="add-dups-k2"),
    OpCase("scatter_nd", [((3, 4), I64), _const([[0, 1], [0, 1], [-1, 3], [2, -1]]), ((4,), I64)],
           {"reduction": "mul"}, id="mul-full-tuples"),
    OpCase("scatter_nd", [((4, 2), F64), _const([[3], [0], [3], [-1]]), ((4, 2), F64)],
           {"reduction": "max"}, id="max-dups"),
    OpCase("scatter_nd", [((4, 2), F32), _const([[3], [0], [3], [-1]]), ((4, 2), F32)],
           {"reduction": "min"}, id="min-dups"),
    OpCase("scatter_nd", [((10, 4), F32), (("N", 2, 1), I64), (("N", 2, 4), F32)], {"reduction": "add"},
           bind={"N": 3}, gen=_rand_idx(-10, 10), id="symbolic-embedding-grad"),
    OpCase("scatter_nd", [(("N", 3), F32), _const([[0], [-1]]), ((2, 3), F32)], bind={"N": 3},
           id="symbolic-data"),
]
