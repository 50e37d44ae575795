"""topk cases: largest and smallest, negative axis, k = whole axis and k = 0, ties (small
integers and repeated floats: the lower index must come first), unsigned and int64, a
symbolic batch."""
import numpy as np

from .harness import OpCase

F32 = "float32"


def ties(rng, shape, dtype):
    """Few distinct values: most entries tie with another."""
    return rng.integers(-2, 3, size=shape).astype(dtype.numpy)


CASES = [
    OpCase("topk", [((3, 7), F32)], dict(k=3), id="largest"),
    OpCase("topk", [((3, 7), F32)], dict(k=2, largest=False), id="smallest"),
    OpCase("topk", [((4, 5, 3), F32)], dict(k=2, axis=-2), id="neg-axis"),
    OpCase("topk", [((2, 6), F32)], dict(k=6, axis=1), id="all"),
    OpCase("topk", [((2, 6), F32)], dict(k=0), id="k0"),
    OpCase("topk", [((3, 8), F32)], dict(k=5), gen=ties, id="ties-largest", grad=False),
    OpCase("topk", [((3, 8), F32)], dict(k=5, largest=False), gen=ties, id="ties-smallest", grad=False),
    OpCase("topk", [((5, 4), "int64")], dict(k=3, axis=0), gen=ties, id="int64"),
    OpCase("topk", [np.array([[3, 250, 7, 250, 0]], np.uint8)], dict(k=3), id="uint8"),
    OpCase("topk", [(("N", 6), F32)], dict(k=2), bind={"N": 3}, id="sym"),
]
