"""tree_ensemble: a forest of decision trees over the rows of x [N, F], aggregated per target.

The trees are one flat table of nodes (ONNX-ML's TreeEnsemble* layout, with node ids already
made global indices): node k tests x[:, feature_ids[k]] against thresholds[k] with modes[k]
and goes to true_ids[k] or false_ids[k]; a LEAF node stays where it is. A NaN feature goes
to the true side where missing_true[k] is set. Leaf weights are sparse triplets
(leaf_ids, leaf_targets, leaf_weights). Each tree's leaf adds its weights to its targets,
aggregated over the trees (SUM, AVERAGE, MIN, MAX; a target no reached leaf weighs is 0),
then base_values (one per target) are added. The output is [N, n_targets] in x's dtype.

The kernel walks every (row, tree) pair in one loop nest: a bounded loop of `depth` steps
(the forest's longest root-to-leaf path), each reading the current node once; its size does
not grow with the number of nodes or the depth. A TE compute then aggregates the leaves.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from aot.ir.opdef import register
from aot.ir.types import TensorType

MODES = ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ", "LEAF")
LEAF = MODES.index("LEAF")


@dataclass(frozen=True)
class TreeEnsembleAttrs:
    n_targets: int
    feature_ids: tuple[int, ...]
    thresholds: tuple[float, ...]
    modes: tuple[int, ...]  # indices into MODES
    true_ids: tuple[int, ...]
    false_ids: tuple[int, ...]
    missing_true: tuple[int, ...]  # 1: a NaN feature takes the true branch
    roots: tuple[int, ...]  # one root node per tree
    leaf_ids: tuple[int, ...]
    leaf_targets: tuple[int, ...]
    leaf_weights: tuple[float, ...]
    aggregate: Literal["SUM", "AVERAGE", "MIN", "MAX"] = "SUM"
    base_values: tuple[float, ...] = ()


def _check_tables(a: TreeEnsembleAttrs) -> None:
    n = len(a.modes)
    per_node = (a.feature_ids, a.thresholds, a.true_ids, a.false_ids, a.missing_true)
    if n == 0 or any(len(t) != n for t in per_node):
        raise ValueError(f"the node tables must all have one entry per node ({n} modes), got "
                         f"lengths {[len(t) for t in per_node]}")
    if not len(a.leaf_ids) == len(a.leaf_targets) == len(a.leaf_weights):
        raise ValueError("leaf_ids, leaf_targets and leaf_weights must have the same length")
    if any(not 0 <= m <= LEAF for m in a.modes):
        raise ValueError(f"modes must be in 0..{LEAF} ({', '.join(MODES)})")
    for what, ids in (("true_ids", a.true_ids), ("false_ids", a.false_ids), ("roots", a.roots),
                      ("leaf_ids", a.leaf_ids)):
        if any(not 0 <= i < n for i in ids):
            raise ValueError(f"{what} must be node indices in 0..{n - 1}")
    if not a.roots:
        raise ValueError("the ensemble has no tree (roots is empty)")
    if any(not 0 <= t < a.n_targets for t in a.leaf_targets):
        raise ValueError(f"leaf_targets must be in 0..{a.n_targets - 1}")
    if len(a.base_values) not in (0, a.n_targets):
        raise ValueError(f"base_values must be empty or have n_targets={a.n_targets} entries, "
                         f"got {len(a.base_values)}")


def depth(a: TreeEnsembleAttrs) -> int:
    """Steps from a root to its deepest leaf (the bound of the walk); a cycle is an error."""
    n, best = len(a.modes), 0
    level, seen = set(a.roots), 0
    while level:
        level = {c for k in level if a.modes[k] != LEAF for c in (a.true_ids[k], a.false_ids[k])}
        best += 1 if level else 0
        seen += 1
        if seen > n:
            raise ValueError("the trees have a cycle (a node reaches itself)")
    return best


def _tree_type(a: TreeEnsembleAttrs, x: TensorType) -> TensorType:
    if x.rank != 2 or not x.dtype.is_float:
        raise ValueError(f"x must be a float matrix [N, features], got {x}")
    _check_tables(a)
    depth(a)
    f = x.shape[1]
    used = [a.feature_ids[k] for k in range(len(a.modes)) if a.modes[k] != LEAF]
    if any(i < 0 for i in used) or (isinstance(f, int) and any(i >= f for i in used)):
        raise ValueError(f"feature_ids must be in 0..{f}-1 for x {x}")
    return x.with_shape((x.shape[0], a.n_targets))


def tables(a: TreeEnsembleAttrs, dtype) -> dict:
    """The node tables as arrays (leaf feature ids zeroed, so every lookup is in range) and
    the dense leaf weights [nodes, targets] with their mask (where a leaf weighs a target)."""
    n = len(a.modes)
    modes = np.asarray(a.modes, np.int64)
    weights = np.zeros((n, a.n_targets), dtype)
    mask = np.zeros((n, a.n_targets), np.int64)
    for k, t, w in zip(a.leaf_ids, a.leaf_targets, a.leaf_weights):
        weights[k, t] += w
        mask[k, t] = 1
    base = np.asarray(a.base_values or (0.0,) * a.n_targets, dtype)
    return dict(feat=np.where(modes == LEAF, 0, np.asarray(a.feature_ids, np.int64)),
                thr=np.asarray(a.thresholds, dtype), mode=modes,
                true=np.asarray(a.true_ids, np.int64), false=np.asarray(a.false_ids, np.int64),
                miss=np.asarray(a.missing_true, np.int64), roots=np.asarray(a.roots, np.int64),
                weights=weights, mask=mask, base=base)


def _goes_true(mode, v, th):
    return np.select([mode == 0, mode == 1, mode == 2, mode == 3, mode == 4],
                     [v <= th, v < th, v >= th, v > th, v == th], v != th)


def _tree_ref(a: TreeEnsembleAttrs, x):
    t = tables(a, x.dtype)
    rows = np.arange(x.shape[0])[:, None]
    node = np.broadcast_to(t["roots"], (x.shape[0], len(a.roots))).copy()
    for _ in range(depth(a)):
        v, th, m = x[rows, t["feat"][node]], t["thr"][node], t["mode"][node]
        go = _goes_true(m, v, th) | ((t["miss"][node] != 0) & np.isnan(v))
        node = np.where(m == LEAF, node, np.where(go, t["true"][node], t["false"][node]))
    w, has = t["weights"][node], t["mask"][node] != 0  # [N, trees, targets]
    if a.aggregate in ("SUM", "AVERAGE"):
        out = w.sum(axis=1, dtype=x.dtype)
        out = out / x.dtype.type(len(a.roots)) if a.aggregate == "AVERAGE" else out
    else:
        pick = np.min if a.aggregate == "MIN" else np.max
        fill = np.inf if a.aggregate == "MIN" else -np.inf
        out = pick(np.where(has, w, fill), axis=1)
        out = np.where(has.any(axis=1), out, 0)
    return (out + t["base"]).astype(x.dtype)


def _walk(c, a: TreeEnsembleAttrs, x, tb):
    """leaf[i, t]: the leaf row i reaches in tree t, after `depth` steps down from its root,
    as one extern loop nest (for i, t: node = root; for d < depth: node = step(node)). A loop
    over the depth, not a stage per level: inlining levels into each other would grow the
    kernel exponentially with the depth."""
    te, tirx = c.te, c.tirx

    def body(ins, outs):
        xb, feat, thr, mode, true, false, miss, roots = ins
        leaf = outs[0]
        i, t, d = (tirx.Var(n, "int64") for n in ("i", "t", "d"))
        k, v = tirx.Var("node", "int64"), tirx.Var("value", xb.dtype)
        th, m = thr[k], mode[k]
        cmp = tirx.Select(m == 0, v <= th, tirx.Select(m == 1, v < th, tirx.Select(
            m == 2, v >= th, tirx.Select(m == 3, v > th, tirx.Select(
                m == 4, v == th, tirx.Or(v != th, tirx.isnan(v)))))))  # NaN != th, as in C++
        go = tirx.Or(cmp, tirx.And(miss[k] != 0, tirx.isnan(v)))
        step = tirx.SeqStmt([
            tirx.Bind(k, leaf[i, t]), tirx.Bind(v, xb[i, feat[k]]),
            tirx.BufferStore(leaf, tirx.Select(m == LEAF, k, tirx.Select(go, true[k], false[k])),
                             [i, t])])
        walk = tirx.SeqStmt([
            tirx.BufferStore(leaf, roots[t], [i, t]),
            tirx.For(d, tirx.const(0, "int64"), tirx.const(depth(a), "int64"),
                     tirx.ForKind.SERIAL, step)])
        inner = tirx.For(t, tirx.const(0, "int64"), tirx.const(len(a.roots), "int64"),
                         tirx.ForKind.SERIAL, walk)
        return tirx.For(i, tirx.const(0, "int64"), xb.shape[0], tirx.ForKind.SERIAL, inner)

    return te.extern((x.shape[0], len(a.roots)), [x, *tb], body, dtype="int64",
                     name="tree_walk")


def _aggregate(c, a: TreeEnsembleAttrs, x, leaf, weights, mask, base):
    te, tirx = c.te, c.tirx
    r = te.reduce_axis((0, len(a.roots)), name="tree")
    dt = x.dtype
    if a.aggregate in ("SUM", "AVERAGE"):
        total = te.compute((x.shape[0], a.n_targets),
                           lambda i, j: te.sum(weights[leaf[i, r], j], axis=r), name="tree_sum")
        if a.aggregate == "AVERAGE":
            return te.compute(total.shape, lambda i, j: total[i, j] / tirx.const(len(a.roots), dt)
                              + base[j], name="tree_out")
        return te.compute(total.shape, lambda i, j: total[i, j] + base[j], name="tree_out")
    big = tirx.max_value(dt) if a.aggregate == "MIN" else tirx.min_value(dt)
    red = te.min if a.aggregate == "MIN" else te.max
    got = te.compute((x.shape[0], a.n_targets), lambda i, j: red(tirx.Select(
        mask[leaf[i, r], j] != 0, weights[leaf[i, r], j], big), axis=r), name="tree_pick")
    anyw = te.compute((x.shape[0], a.n_targets), lambda i, j: te.max(
        mask[leaf[i, r], j], axis=r), name="tree_any")
    return te.compute(got.shape, lambda i, j: tirx.Select(
        anyw[i, j] != 0, got[i, j], tirx.const(0, dt)) + base[j], name="tree_out")


def _tree_lower(c, a: TreeEnsembleAttrs, x):
    dt = c.in_dtype(0)
    t = tables(a, dt.numpy)
    names = ("feat", "thr", "mode", "true", "false", "miss", "roots", "weights", "mask", "base")
    consts = [c.relax.const(t[n], str(t[n].dtype)) for n in names]

    def fn(x, *tb):
        leaf = _walk(c, a, x, tb[:7])
        return _aggregate(c, a, x, leaf, *tb[7:])

    return c.emit_te(fn, x, *consts)


register("tree_ensemble", attrs=TreeEnsembleAttrs, infer=_tree_type, num_inputs=1,
         reference=_tree_ref, lower=_tree_lower,
         doc="ONNX-ML TreeEnsemble*: a forest walked per row, leaf weights aggregated per target")
