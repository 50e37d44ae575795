"""grid_sample cases: every mode x padding mode, both align_corners, 2-D and 3-D, with grid
points outside [-1, 1] so the padding rules are exercised."""
from .harness import OpCase


def _grid(rng, shape, dtype):
    return (rng.uniform(-1.6, 1.6, size=shape)).astype(dtype.numpy)


CASES = []
for _mode in ("nearest", "linear", "cubic"):
    for _pad in ("zeros", "border", "reflection"):
        for _ac in (False, True):
            CASES.append(OpCase("grid_sample", [((2, 3, 4, 5), "float32"), ((2, 3, 4, 2), "float32")],
                                {"mode": _mode, "padding_mode": _pad, "align_corners": _ac},
                                id=f"{_mode}-{_pad}-{int(_ac)}", gen=_grid, grad=False))
CASES += [
    OpCase("grid_sample", [((1, 2, 3, 4, 5), "float32"), ((1, 2, 3, 2, 3), "float32")],
           {"mode": "linear", "padding_mode": "reflection"}, id="3d-linear", gen=_grid, grad=False),
    OpCase("grid_sample", [((1, 2, 3, 4, 5), "float64"), ((1, 2, 3, 2, 3), "float64")],
           {"mode": "nearest", "padding_mode": "border", "align_corners": True}, id="3d-nearest-f64",
           gen=_grid, grad=False),
]
