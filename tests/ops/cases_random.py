"""Test cases for the random family (aot/ops/random.py). The counter is a fixed input; the
values of `like` are never read, only its shape. The output depends on no float input:
"f64-zero-grad" has the gradient check confirm that (both sides are 0); the others set
grad=False because their float32 output gives that check nothing to differentiate."""
import numpy as np

from .harness import OpCase

F32, F64 = "float32", "float64"


def _counter(value: int) -> np.ndarray:
    return np.array(value, np.int64)


CASES = [
    OpCase("random_uniform", [_counter(0), ((3, 5), F32)], {"seed": 0}, id="f32", grad=False),
    OpCase("random_uniform", [_counter(7), (("N", 2, 3), F32)], {"seed": 1234}, bind={"N": 4},
           id="symbolic", grad=False),
    OpCase("random_uniform", [_counter(-3), ((4, 4), "int32")], {"seed": 2**40 + 5, "dtype": F64},
           id="f64-int-like-big-seed", grad=False),
    OpCase("random_uniform", [_counter(2**33 + 1), ((2, 7), F32)], {"seed": 9, "dtype": "float16"},
           id="f16-high-counter", grad=False),
    OpCase("random_uniform", [_counter(5), ((), F32)], {"seed": 3}, id="scalar", grad=False),
    OpCase("random_uniform", [_counter(4), ((3, 4), F64)], {"seed": 8, "dtype": F64},
           id="f64-zero-grad"),
    OpCase("random_uniform", [_counter(5), ((0, 3), F32)], {"seed": 3}, id="empty", grad=False),
]
