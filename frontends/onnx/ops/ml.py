"""Classical-ML ops (the ai.onnx.ml domain, as skl2onnx writes scikit-learn models).

Linear models, scalers, encoders and SVMs are compositions of registry ops (matmul, add,
argmax, softmax, sigmoid, take, ...); tree ensembles become one `tree_ensemble` op. The
post transforms and the binary-class special cases follow onnxruntime's CPU kernels, which
are what users compare with. Our IR has no strings: string labels or keys are refused with
one line. Converters read the attributes of every version of their op (the *_as_tensor
forms of ai.onnx.ml 3 included), so they register since ai.onnx.ml 1.
"""
from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from aot.ir import DType

from ..registry import ML, converter
from .common import scalar

F32 = np.float32


# ------------------------------------------------------------ attribute helpers

def _floats(ctx, name: str, default=()) -> np.ndarray:
    """A float list attribute, or its `<name>_as_tensor` form (ai.onnx.ml 3)."""
    t = ctx.attr(name + "_as_tensor")
    if t is not None:
        return numpy_helper.to_array(t).astype(F32).reshape(-1)
    return np.asarray(ctx.attr(name, default) or default, F32)


def _ints(ctx, name: str) -> np.ndarray:
    return np.asarray(ctx.attr(name) or (), np.int64)


def _strings(ctx, name: str) -> list:
    return [s.decode() if isinstance(s, bytes) else s for s in ctx.attr(name) or ()]


def _class_labels(ctx) -> np.ndarray:
    if ctx.attr("classlabels_strings"):
        raise ctx.fail("string class labels (classlabels_strings) are not supported: our IR "
                       "has no strings; train and export the model with integer labels")
    return _ints(ctx, "classlabels_int64s" if ctx.attr("classlabels_int64s") else "classlabels_ints")


def _features(ctx):
    """Input 0 as a float32 matrix [N, F] (ints and doubles cast, as onnxruntime does)."""
    x = ctx.input(0)
    if ctx.type(x).dtype != DType.float32:
        x = ctx.emit("cast", x, dtype=DType.float32)
    if ctx.type(x).rank == 1:
        x = ctx.emit("expand_dims", x, axes=(0,))
    if ctx.type(x).rank != 2:
        raise ctx.fail(f"expects a matrix [N, features], got {ctx.type(x)}")
    return x


def _n_features(ctx, x) -> int:
    f = ctx.type(x).shape[1]
    if not isinstance(f, int):
        raise ctx.fail(f"needs a static number of features, got input {ctx.type(x)}")
    return f


def _labels_at(ctx, labels: np.ndarray, idx):
    return ctx.emit("take", labels, idx, axis=0)


def _argmax(ctx, s):
    """Row-wise index of the first maximum, as onnxruntime's scans (strict >) find it."""
    return ctx.emit("argmax", s, axis=1)


# ------------------------------------------------------------ post transforms

def _const(value):
    return np.asarray(value, F32)


def _probit(ctx, s):
    """sqrt(2) * erfinv(2s - 1) with onnxruntime's closed-form erfinv approximation."""
    e = ctx.emit
    x = e("subtract", e("multiply", s, _const(2.0)), _const(1.0))
    sgn = e("where", e("less", x, _const(0.0)), _const(-1.0), _const(1.0))
    lg = e("log", e("multiply", e("subtract", _const(1.0), x), e("add", _const(1.0), x)))
    v = e("add", _const(2 / (3.14159 * 0.147)), e("multiply", lg, _const(0.5)))
    v2 = e("multiply", lg, _const(1 / 0.147))
    v3 = e("subtract", e("sqrt", e("subtract", e("multiply", v, v), v2)), v)
    return e("multiply", e("multiply", sgn, e("sqrt", v3)), _const(1.41421356))


def _softmax_zero(ctx, s):
    """Softmax over the non-zero scores; zeros stay (almost) zero."""
    e = ctx.emit
    top = e("max", s, axes=(1,), keepdims=True)
    nz = e("greater", e("abs", s), _const(1e-7))
    ex = e("where", nz, e("exp", e("subtract", s, top)),
           e("multiply", s, e("exp", e("neg", top))))
    total = e("sum", e("where", nz, ex, _const(0.0)), axes=(1,), keepdims=True)
    return e("divide", ex, total)


def post_transform(ctx, s, mode: str):
    """A post transform over the score columns of s [N, C] (C >= 2)."""
    if mode == "NONE":
        return s
    if mode == "LOGISTIC":
        return ctx.emit("sigmoid", s)
    if mode == "SOFTMAX":
        return ctx.emit("softmax", s, axis=1)
    if mode == "SOFTMAX_ZERO":
        return _softmax_zero(ctx, s)
    if mode == "PROBIT":
        return _probit(ctx, s)
    raise ctx.fail(f"unknown post_transform {mode!r}")


def _single_score(ctx, s, mode: str):
    """onnxruntime on one score column without a second class: only PROBIT applies."""
    if mode == "PROBIT":
        return _probit(ctx, s)
    if mode != "NONE":
        raise ctx.fail(f"post_transform {mode} on a single score column: onnxruntime ignores "
                       "it, so we refuse it rather than guess")
    return s


def _two_columns(ctx, first, second):
    return ctx.emit("concat", first, second, axis=1)


# ------------------------------------------------------------ linear models

@converter("LinearClassifier", domain=ML)
def linear_classifier(ctx, node):
    labels, mode = _class_labels(ctx), ctx.attr_str("post_transform", "NONE")
    x = _features(ctx)
    b = _floats(ctx, "intercepts")
    w = _floats(ctx, "coefficients").reshape(len(b) or -1, _n_features(ctx, x))
    s = ctx.emit("add", ctx.emit("matmul", x, w.T.copy()), b if len(b) else np.zeros(len(w), F32))
    if w.shape[0] > 1:
        return _labels_at(ctx, labels, _argmax(ctx, s)), post_transform(ctx, s, mode)
    pos, neg = (labels[1], labels[0]) if len(labels) == 2 else (1, 0)
    y = ctx.emit("where", ctx.emit("greater", ctx.emit("squeeze", s, axes=(1,)), _const(0.0)),
                 np.asarray(pos, np.int64), np.asarray(neg, np.int64))
    if len(labels) != 2:
        return y, _single_score(ctx, s, mode)
    if mode == "PROBIT":
        raise ctx.fail("PROBIT on a binary LinearClassifier is not supported")
    return y, _two_columns(ctx, ctx.emit("subtract", _const(1.0), s), s)  # no transform: as ORT


@converter("LinearRegressor", domain=ML)
def linear_regressor(ctx, node):
    x = _features(ctx)
    n = ctx.attr("targets", 1)
    w = _floats(ctx, "coefficients").reshape(n, _n_features(ctx, x))
    b = _floats(ctx, "intercepts")
    y = ctx.emit("matmul", x, w.T.copy())
    if len(b):
        y = ctx.emit("add", y, b)
    mode = ctx.attr_str("post_transform", "NONE")
    return post_transform(ctx, y, mode) if n > 1 else _single_score(ctx, y, mode)


# ------------------------------------------------------------ feature transforms

@converter("Scaler", domain=ML)
def scaler(ctx, node):
    x = _features(ctx)
    offset, scale = _floats(ctx, "offset", (0.0,)), _floats(ctx, "scale", (1.0,))
    return ctx.emit("multiply", ctx.emit("subtract", x, offset), scale)


@converter("Normalizer", domain=ML)
def normalizer(ctx, node):
    x, norm = _features(ctx), ctx.attr_str("norm", "MAX")
    e = ctx.emit
    if norm == "MAX":
        d = e("max", x, axes=(1,), keepdims=True)
    elif norm == "L1":
        d = e("sum", e("abs", x), axes=(1,), keepdims=True)
    elif norm == "L2":
        d = e("sqrt", e("sum", e("multiply", x, x), axes=(1,), keepdims=True))
    else:
        raise ctx.fail(f"unknown norm {norm!r} (MAX, L1 or L2)")
    return e("divide", x, d)


@converter("Binarizer", domain=ML)
def binarizer(ctx, node):
    x = ctx.input(0)
    above = ctx.emit("greater", x, scalar(ctx, ctx.attr("threshold", 0.0), x))
    return ctx.emit("cast", above, dtype=ctx.type(x).dtype)


@converter("Imputer", domain=ML)
def imputer(ctx, node):
    x = ctx.input(0)
    if not ctx.type(x).dtype.is_float:
        raise ctx.fail("only float inputs are supported (imputed_value_floats)")
    values = _floats(ctx, "imputed_value_floats").astype(ctx.type(x).dtype.numpy)
    old = ctx.attr("replaced_value_float", 0.0)
    hit = (ctx.emit("isnan", x) if np.isnan(old)
           else ctx.emit("equal", x, scalar(ctx, old, x)))
    return ctx.emit("where", hit, values, x)


@converter("ArrayFeatureExtractor", domain=ML)
def array_feature_extractor(ctx, node):
    idx = ctx.input(1)
    if ctx.type(idx).rank != 1:
        idx = ctx.emit("reshape", idx, shape=(-1,))
    return ctx.emit("take", ctx.input(0), idx, axis=-1)


@converter("OneHotEncoder", domain=ML)
def one_hot_encoder(ctx, node):
    if ctx.attr("cats_strings"):
        raise ctx.fail("string categories (cats_strings) are not supported: our IR has no strings")
    cats, x = _ints(ctx, "cats_int64s"), ctx.input(0)
    if not ctx.attr("zeros", 1):
        raise ctx.fail("zeros=0 (fail on an unknown category) is not supported")
    if ctx.type(x).dtype != DType.int64:
        x = ctx.emit("cast", x, dtype=DType.int64)
    hit = ctx.emit("equal", ctx.emit("expand_dims", x, axes=(-1,)), cats)
    return ctx.emit("cast", hit, dtype=DType.float32)


def _label_table(ctx):
    """(keys, values, default) of a LabelEncoder; any string table is refused."""
    for name in ("keys_strings", "values_strings", "default_string"):
        if ctx.attr(name) not in (None, [], (), b"_Unused", "_Unused"):
            raise ctx.fail(f"string tables ({name}) are not supported: our IR has no strings")
    for name in ("keys_tensor", "values_tensor"):
        if ctx.attr(name) is not None:
            raise ctx.fail(f"{name} (ai.onnx.ml 4) is not supported; use keys_*/values_* lists")
    keys = _ints(ctx, "keys_int64s") if ctx.attr("keys_int64s") else _floats(ctx, "keys_floats")
    if ctx.attr("values_int64s"):
        return keys, _ints(ctx, "values_int64s"), np.asarray(ctx.attr("default_int64", -1), np.int64)
    return keys, _floats(ctx, "values_floats"), np.asarray(ctx.attr("default_float", -0.0), F32)


@converter("LabelEncoder", domain=ML)
def label_encoder(ctx, node):
    keys, values, default = _label_table(ctx)
    x = ctx.input(0)
    if len(keys) != len(values) or not len(keys):
        raise ctx.fail(f"needs as many keys as values (got {len(keys)} and {len(values)})")
    keys = keys.astype(ctx.type(x).dtype.numpy)
    hit = ctx.emit("equal", ctx.emit("expand_dims", x, axes=(-1,)), keys)
    r = ctx.type(x).rank
    found = ctx.emit("max", ctx.emit("cast", hit, dtype=DType.int32), axes=(r,))
    at = ctx.emit("argmax", ctx.emit("cast", hit, dtype=DType.int32), axis=r)
    return ctx.emit("where", ctx.emit("greater", found, np.asarray(0, np.int32)),
                    ctx.emit("take", values, at, axis=0), default)


@converter("ZipMap", domain=ML)
def zipmap(ctx, node):
    """ZipMap turns the [N, classes] probabilities into a list of {label: probability} maps.
    Our IR has no sequences or maps: the import passes the probability tensor itself
    through, so the user gets the [N, classes] tensor (columns in class-label order), not
    a list of dicts."""
    return ctx.input(0)



# ------------------------------------------------------------ support vector machines

def _kernel(ctx, x, sv: np.ndarray):
    """k(x, support vectors) [N, V] with the node's kernel_type and kernel_params."""
    e, kind = ctx.emit, ctx.attr_str("kernel_type", "LINEAR")
    gamma, coef0, degree = (list(ctx.attr("kernel_params") or ()) + [0.0, 0.0, 0.0])[:3]
    if kind == "RBF":
        diff = e("subtract", e("expand_dims", x, axes=(1,)), sv[None])
        return e("exp", e("multiply", e("sum", e("multiply", diff, diff), axes=(2,)),
                          _const(-gamma)))
    dot = e("matmul", x, sv.T.copy())
    if kind == "LINEAR":
        return dot
    z = e("add", e("multiply", dot, _const(gamma)), _const(coef0))
    if kind == "SIGMOID":
        return e("tanh", z)
    if kind != "POLY":
        raise ctx.fail(f"unknown kernel_type {kind!r}")
    if degree in (2, 3):
        return e("multiply", z, z) if degree == 2 else e("multiply", e("multiply", z, z), z)
    return e("power", z, _const(degree))


def _pairwise(per_class, coef: np.ndarray, n: int):
    """(M [V, pairs], votes-for-i A [pairs, C], votes-for-j B): the one-vs-one decision of
    each class pair i < j is kernels @ M[:, p] + rho[p], as libsvm and onnxruntime sum it."""
    start = np.concatenate([[0], np.cumsum(per_class)])
    pairs = [(i, j) for i in range(n - 1) for j in range(i + 1, n)]
    m = np.zeros((start[-1], len(pairs)), F32)
    a, b = np.zeros((len(pairs), n), F32), np.zeros((len(pairs), n), F32)
    for p, (i, j) in enumerate(pairs):
        m[start[i]:start[i + 1], p] = coef[j - 1, start[i]:start[i + 1]]
        m[start[j]:start[j + 1], p] = coef[i, start[j]:start[j + 1]]
        a[p, i], b[p, j] = 1, 1
    return m, a, b


@converter("SVMClassifier", domain=ML)
def svm_classifier(ctx, node):
    labels, mode = _class_labels(ctx), ctx.attr_str("post_transform", "NONE")
    if ctx.attr("prob_a"):
        raise ctx.fail("SVM probabilities (prob_a/prob_b, scikit-learn's probability=True) "
                       "are not supported: export with probability=False")
    x, n = _features(ctx), len(labels)
    coef, rho = _floats(ctx, "coefficients"), _floats(ctx, "rho")
    per_class = _ints(ctx, "vectors_per_class")
    if not per_class.sum():
        return _linear_svc(ctx, x, labels, coef.reshape(n, -1), rho[0], mode)
    sv = _floats(ctx, "support_vectors").reshape(int(per_class.sum()), -1)
    m, a, b = _pairwise(per_class, coef.reshape(n - 1, -1), n)
    s = ctx.emit("add", ctx.emit("matmul", _kernel(ctx, x, sv), m), rho[: m.shape[1]])
    pos = ctx.emit("cast", ctx.emit("greater", s, _const(0.0)), dtype=DType.float32)
    votes = ctx.emit("add", ctx.emit("matmul", pos, a),
                     ctx.emit("matmul", ctx.emit("subtract", _const(1.0), pos), b))
    y = _labels_at(ctx, labels, _argmax(ctx, votes))
    if n > 2:
        return y, post_transform(ctx, s, mode)
    if mode == "PROBIT":
        raise ctx.fail("PROBIT on a binary SVMClassifier is not supported")
    first = ctx.emit("neg", s) if mode == "NONE" else ctx.emit("subtract", _const(1.0), s)
    return y, _two_columns(ctx, first, s)


def _linear_svc(ctx, x, labels, w, rho, mode):
    s = ctx.emit("add", ctx.emit("matmul", x, w.T.copy()), _const(rho))
    top = _argmax(ctx, s)
    y = _labels_at(ctx, labels, top)
    if len(labels) == 2:  # onnxruntime's ChooseClass without probabilities
        best = ctx.emit("max", s, axes=(1,))
        cut = (ctx.emit("greater_equal", best, _const(0.5)) if (w >= 0).all()
               else ctx.emit("greater", best, _const(0.0)))
        y = ctx.emit("where", cut, labels[1:2], y)
    return y, post_transform(ctx, s, mode)


@converter("SVMRegressor", domain=ML)
def svm_regressor(ctx, node):
    x, coef, rho = _features(ctx), _floats(ctx, "coefficients"), _floats(ctx, "rho")
    n_sv = ctx.attr("n_supports", 0)
    if n_sv:
        sv = _floats(ctx, "support_vectors").reshape(n_sv, -1)
        y = ctx.emit("matmul", _kernel(ctx, x, sv), coef.reshape(-1, 1))
    else:
        y = ctx.emit("matmul", x, coef.reshape(-1, 1))
    y = ctx.emit("add", y, _const(rho[0]))
    if ctx.attr("one_class", 0):
        y = ctx.emit("where", ctx.emit("greater", y, _const(0.0)), _const(1.0), _const(-1.0))
    return _single_score(ctx, y, ctx.attr_str("post_transform", "NONE"))


# ------------------------------------------------------------ tree ensembles

def _forest(ctx, prefix: str) -> dict:
    """tree_ensemble attributes from the nodes_* tables and the `prefix` (target_ or class_)
    leaf tables: (tree, node) ids become flat indices; a root is a node no branch points to."""
    trees, ids = _ints(ctx, "nodes_treeids"), _ints(ctx, "nodes_nodeids")
    where = {(int(t), int(k)): n for n, (t, k) in enumerate(zip(trees, ids))}
    modes = [m.decode() if isinstance(m, bytes) else m for m in ctx.attr("nodes_modes")]
    from aot.ops.trees import MODES

    def flat(kids):
        return tuple(where.get((int(t), int(k)), 0) if m != "LEAF" else 0
                     for t, k, m in zip(trees, kids, modes))

    true, false = flat(_ints(ctx, "nodes_truenodeids")), flat(_ints(ctx, "nodes_falsenodeids"))
    children = {c for n, m in enumerate(modes) if m != "LEAF" for c in (true[n], false[n])}
    miss = _ints(ctx, "nodes_missing_value_tracks_true")
    leaves = [where[(int(t), int(k))] for t, k in zip(_ints(ctx, prefix + "treeids"),
                                                       _ints(ctx, prefix + "nodeids"))]
    return dict(feature_ids=tuple(int(f) for f in _ints(ctx, "nodes_featureids")),
                thresholds=tuple(float(v) for v in _floats(ctx, "nodes_values")),
                modes=tuple(MODES.index(m) for m in modes), true_ids=true, false_ids=false,
                missing_true=tuple(int(v) for v in miss) if len(miss) else (0,) * len(modes),
                roots=tuple(n for n in range(len(modes)) if n not in children),
                leaf_ids=tuple(leaves),
                leaf_targets=tuple(int(v) for v in _ints(ctx, prefix + "ids")),
                leaf_weights=tuple(float(v) for v in _floats(ctx, prefix + "weights")))


@converter("TreeEnsembleRegressor", domain=ML)
def tree_ensemble_regressor(ctx, node):
    n = ctx.attr("n_targets", 1)
    y = ctx.emit("tree_ensemble", _features(ctx), **_forest(ctx, "target_"), n_targets=n,
                 aggregate=ctx.attr_str("aggregate_function", "SUM"),
                 base_values=tuple(float(v) for v in _floats(ctx, "base_values")))
    mode = ctx.attr_str("post_transform", "NONE")
    return post_transform(ctx, y, mode) if n > 1 else _single_score(ctx, y, mode)


@converter("TreeEnsembleClassifier", domain=ML)
def tree_ensemble_classifier(ctx, node):
    """Sums of class weights plus base values, then onnxruntime's label and score rules. Which
    classes carry a score is decided from the model's leaf tables (onnxruntime decides per
    row; skl2onnx's models weigh the same classes at every leaf, where both agree)."""
    labels, mode = _class_labels(ctx), ctx.attr_str("post_transform", "NONE")
    forest, base = _forest(ctx, "class_"), _floats(ctx, "base_values")
    n = len(labels)
    s = ctx.emit("tree_ensemble", _features(ctx), **forest, n_targets=n, aggregate="SUM",
                 base_values=tuple(float(v) for v in base) if len(base) == n else ())
    if n > 2:
        return _labels_at(ctx, labels, _argmax(ctx, s)), post_transform(ctx, s, mode)
    return _binary_trees(ctx, s, labels, forest, base, mode)


def _binary_trees(ctx, s, labels, forest, base, mode):
    """onnxruntime's two-class rules (TreeAggregatorClassifier) for the layouts skl2onnx
    writes: both classes weighed (no or per-class base values), or one class weighed."""
    e, weighed = ctx.emit, set(forest["leaf_targets"])
    if len(base) == 1:
        s = e("add", s, np.asarray([base[0], 0.0], F32))
    elif len(base) == 2:
        raise ctx.fail(f"this two-class layout (classes weighed {sorted(weighed)}, "
                       f"{len(base)} base values) is not supported")
    s0, s1 = _col(ctx, s, 0), _col(ctx, s, 1)
    if weighed == {0, 1}:  # not onnxruntime's binary case: labels 1/0 from the class-1 score
        y = e("where", e("greater", s1, _const(0.0)), np.asarray(1, np.int64), np.asarray(0, np.int64))
        return e("squeeze", y, axes=(1,)), post_transform(ctx, s, mode)
    positive = all(w >= 0 for w in forest["leaf_weights"])
    if 1 in weighed:  # scores [0, s1], both transformed
        pos = s1
        scores = post_transform(ctx, s, mode)
    else:  # one score s0, widened to two columns
        pos = s0
        scores = _widen_binary(ctx, s0, positive, mode)
    cut = e("greater", pos, _const(0.5 if positive else 0.0))
    y = e("where", cut, labels[1:2], labels[0:1])
    return e("squeeze", y, axes=(1,)), scores


def _col(ctx, s, k: int):
    return ctx.emit("slice", s, starts=(0, k), ends=(2 ** 62, k + 1))


def _widen_binary(ctx, s, positive: bool, mode: str):
    """onnxruntime's scores for one score column: [1-p, p] (all weights >= 0; p = logistic(s)
    under LOGISTIC, else s), else [logistic(-s), logistic(s)] under LOGISTIC or [-s, s]."""
    e = ctx.emit
    if mode == "PROBIT":
        raise ctx.fail("PROBIT on a single-score two-class tree ensemble is not supported")
    if positive:
        p = e("sigmoid", s) if mode == "LOGISTIC" else s
        return _two_columns(ctx, e("subtract", _const(1.0), p), p)
    if mode == "LOGISTIC":
        return _two_columns(ctx, e("sigmoid", e("neg", s)), e("sigmoid", s))
    return _two_columns(ctx, e("neg", s), s)
