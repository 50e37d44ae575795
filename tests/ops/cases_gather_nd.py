"""gather_nd cases: ONNX's examples (elements, slices, batch_dims=1), tuples of every length,
negative indices, repeated tuples (their gradients add up), int32 indices, integer data and a
symbolic dim in the sliced-out part."""
import numpy as np

from .harness import OpCase

F32 = "float32"


def idx(*rows, dtype=np.int64):
    return ("const", np.array(rows, dtype=dtype))


CASES = [
    OpCase("gather_nd", [((2, 2), "int32"), idx([0, 0], [1, 1])], id="onnx-elements"),
    OpCase("gather_nd", [((2, 2), F32), idx([1], [0])], id="onnx-slices"),
    OpCase("gather_nd", [((2, 2, 2), F32), idx([[0, 1]], [[1, 0]])], id="onnx-tuples"),
    OpCase("gather_nd", [((2, 2, 2), F32), idx([1], [0])], dict(batch_dims=1), id="onnx-batch",
           grad=False),  # no gradient rule for batch_dims > 0
    OpCase("gather_nd", [((3, 4, 5), F32), idx([[2, -1, 0], [0, 1, -5]], [[1, 1, 1], [2, 3, 4]])],
           id="full-neg"),
    OpCase("gather_nd", [((3, 4, 5), F32), idx([1, 2], [1, 2], [-3, 0], dtype=np.int32)], id="repeat-i32"),
    OpCase("gather_nd", [((2, 3, 4), F32), idx([[1, 0], [2, 1]], [[0, 1], [0, 2]])], dict(batch_dims=1),
           id="batch-slices", grad=False),
    OpCase("gather_nd", [((4, 3, "N"), F32), idx([3, 1], [0, 2])], bind={"N": 2}, id="sym"),
]
