"""Test cases for the reduction family (aot/ops/reduce.py)."""
import numpy as np

from .harness import OpCase

F32, F64, I32, I64, I8 = "float32", "float64", "int32", "int64", "int8"


def _ties(rng, shape, dtype):
    """Small ints so argmax/argmin see ties (first vs last index matters)."""
    return rng.integers(0, 3, size=shape).astype(dtype.numpy)


def _with_zeros(rng, shape, dtype):
    """Normal floats; row 1 holds one zero and row 2 two: prod's gradient at zeros."""
    x = rng.standard_normal(shape)
    x[1, 2] = x[2, 0] = x[2, 3] = 0.0
    return x.astype(dtype.numpy)


def _reduce_cases(op: str, dtypes) -> list:
    f, i = dtypes
    return [
        OpCase(op, [((3, 5), f)], id="all"),
        OpCase(op, [((2, 3, 4), f)], {"axes": (1,)}, id="axis1"),
        OpCase(op, [((2, 3, 4), f)], {"axes": (-1, 0), "keepdims": True}, id="neg-keepdims"),
        OpCase(op, [((1, 7, 1), i)], {"axes": (0, 2)}, id="size1-int"),
        OpCase(op, [(("N", 4), f)], {"axes": (0,)}, bind={"N": 3}, id="symbolic"),
        OpCase(op, [(("N", 5), f)], {"axes": (1,), "keepdims": True}, bind={"N": 3}, id="symbolic-keep"),
        OpCase(op, [((3, 4), f)], {"axes": ()}, id="no-axes"),
        OpCase(op, [((), f)], id="scalar"),
    ]


CASES = (
    _reduce_cases("sum", (F32, I32))
    + _reduce_cases("max", (F32, I64))
    + _reduce_cases("min", (F64, I8))
    + _reduce_cases("prod", (F32, I32))
    + _reduce_cases("mean", (F32, F64))
    + _reduce_cases("logsumexp", (F32, F64))
    + [
        OpCase("prod", [((3, 4), F32)], {"axes": (1,)}, gen=_with_zeros, id="zeros"),
        OpCase("prod", [((3, 4), F32)], {"axes": (0,), "keepdims": True}, gen=_with_zeros, id="zeros-axis0"),
        OpCase("mean", [(("N", 3, 4), F32)], {"axes": (0, 2)}, bind={"N": 3}, id="symbolic-and-static"),
        OpCase("mean", [(("N", "T", 2), F32)], {"axes": (1,)}, bind={"N": 3, "T": 4}, id="two-symbols"),
        OpCase("sum", [(("N", "T"), F32)], {"axes": (0, 1)}, bind={"N": 3, "T": 2}, id="two-symbols"),
        # grad=False: the -inf row makes the loss infinite, so finite differences mean nothing
        OpCase("logsumexp", [np.array([[1e4, 1e4 - 1.0, -1e4], [-np.inf, -np.inf, -np.inf]], np.float32)],
               {"axes": (1,)}, id="stable-and-neg-inf", grad=False),
        OpCase("argmax", [((3, 5), F32)], {"axis": 1}, id="axis1"),
        OpCase("argmax", [((4, 3, 2), I32)], {"axis": -2, "keepdims": True}, gen=_ties, id="ties-keep"),
        OpCase("argmax", [((4, 6), I32)], {"axis": 1, "select_last_index": True}, gen=_ties, id="last"),
        OpCase("argmax", [(("N", 6), F32)], {"axis": 0}, bind={"N": 3}, id="symbolic"),
        OpCase("argmax", [((1, 5), F32)], {"axis": 0}, id="size1"),
        OpCase("argmin", [((3, 5), F64)], {"axis": -1}, id="neg-axis"),
        OpCase("argmin", [((4, 6), I64)], {"axis": 0}, gen=_ties, id="ties-first"),
        OpCase("argmin", [((4, 6), I32)], {"axis": 1, "keepdims": True, "select_last_index": True},
               gen=_ties, id="last-keep"),
        OpCase("argmin", [(("N", 2, 5), F32)], {"axis": 2, "select_last_index": True}, bind={"N": 3},
               id="symbolic-last"),
        OpCase("cumsum", [((7,), F32)], id="1d"),
        OpCase("cumsum", [((3, 5), I32)], {"axis": 1}, id="int"),
        OpCase("cumsum", [((3, 5), F32)], {"axis": -1, "exclusive": True}, id="exclusive"),
        OpCase("cumsum", [((4, 3), F64)], {"axis": 0, "reverse": True}, id="reverse"),
        OpCase("cumsum", [((2, 5, 1), I64)], {"axis": 1, "exclusive": True, "reverse": True}, id="both"),
        OpCase("cumsum", [(("N", 4), F32)], {"axis": 0, "exclusive": True}, bind={"N": 3}, id="symbolic"),
        OpCase("cumsum", [((1, 4), F32)], {"axis": 0, "reverse": True}, id="size1"),
    ]
)
