"""tree_ensemble cases: two small trees of every branch mode, each aggregate, two targets with
base values, NaN features sent by missing_true, and a symbolic batch dim."""
import numpy as np

from .harness import OpCase

F32 = "float32"

# tree 0: node0 x0 <= 0.1 ? node1 : node2; node1 x1 < -0.2 ? leaf3 : leaf4; node2 leaf.
# tree 1 (nodes 5..): node5 x2 >= 0 ? node6 : leaf7; node6 x1 > 0.3 ? leaf8 : node9;
#                     node9 x0 == 0.5 ? leaf10 : node11; node11 x0 != 1 ? leaf12 : leaf13
# (NaN != 1 is true, as in C++)
FOREST = dict(
    feature_ids=(0, 1, 0, 0, 0, 2, 1, 0, 0, 0, 2, 0, 0, 0),
    thresholds=(0.1, -0.2, 0, 0, 0, 0.0, 0.3, 0, 0, 0.5, 1.0, 0, 0, 0),
    modes=(0, 1, 6, 6, 6, 2, 3, 6, 6, 4, 6, 5, 6, 6),
    true_ids=(1, 3, 0, 0, 0, 6, 8, 0, 0, 10, 0, 12, 0, 0),
    false_ids=(2, 4, 0, 0, 0, 7, 9, 0, 0, 11, 0, 13, 0, 0),
    missing_true=(1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0),
    roots=(0, 5),
)
LEAVES = dict(leaf_ids=(2, 3, 4, 7, 8, 10, 12, 13, 3),
              leaf_targets=(0, 0, 0, 0, 0, 0, 0, 0, 1),
              leaf_weights=(1.5, -2.0, 0.25, 3.0, -1.0, 7.0, 0.5, -0.75, 4.0))


def rows(rng, shape, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    x[::3, 0] = np.nan  # tracks true at node 0
    x[1::4, 0] = 0.5  # hits BRANCH_EQ
    x[2::5, 0] = 1.0  # hits BRANCH_NEQ's false side
    return x


def case(aggregate, n_targets=2, base=(0.5, -1.0), id="", **kw):
    attrs = dict(FOREST, **LEAVES, n_targets=n_targets, aggregate=aggregate, base_values=base)
    return OpCase("tree_ensemble", [kw.pop("x", ((12, 3), F32))], attrs, id=id, gen=rows,
                  grad=False, **kw)  # piecewise constant: no gradient


CASES = [
    case("SUM", id="sum"),
    case("AVERAGE", id="average"),
    case("MIN", id="min"),
    case("MAX", base=(), id="max-nobase"),
    case("SUM", x=(("N", 3), "float64"), bind={"N": 9}, id="sym-f64"),
]
