"""The ai.onnx.ml domain: tiny one-node models made with onnx.helper, and scikit-learn models
exported by skl2onnx, imported, compiled for the host CPU and compared with onnxruntime."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import aot
from aot.frontends.onnx import ONNXImportError
from aot.ir import interpret, verify

from .helpers import NP_TO_ONNX, ort_run

ML = "ai.onnx.ml"


def ml_model(node, feeds: dict, outputs, ml_opset: int = 3):
    """A one-node model; its outputs typed from what onnxruntime computes (onnx's shape
    inference leaves most ai.onnx.ml outputs without a shape)."""
    ins = [helper.make_tensor_value_info(k, NP_TO_ONNX[v.dtype], v.shape) for k, v in feeds.items()]

    def make(outs):
        g = helper.make_graph([node], "ml", ins, outs)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                                helper.make_opsetid(ML, ml_opset)])
        m.ir_version = 8
        return m

    classifier = node.op_type.endswith("Classifier")
    types = [TensorProto.INT64 if classifier and k == 0 else TensorProto.FLOAT
             for k in range(len(outputs))]
    if node.op_type in ("LabelEncoder", "OneHotEncoder", "ArrayFeatureExtractor"):
        types = [TensorProto.UNDEFINED]
    m = onnx.shape_inference.infer_shapes(make([helper.make_tensor_value_info(o, t, None)
                                                for o, t in zip(outputs, types)]))
    if any(a.strings for a in node.attribute if a.name.endswith("strings")):
        if not classifier:
            return m
        n = next(iter(feeds.values())).shape[0]  # we refuse it: no onnxruntime run needed
        return make([helper.make_tensor_value_info(o, TensorProto.STRING if k == 0
                                                   else TensorProto.FLOAT, [n, 2][: k + 1])
                     for k, o in enumerate(outputs)])
    return make([helper.make_tensor_value_info(o, NP_TO_ONNX[a.dtype], a.shape)
                 for o, a in zip(outputs, ort_run(m, feeds))])


def _dense(out) -> np.ndarray:
    """onnxruntime's ZipMap output (a list of {label: probability}) as the [N, classes] array."""
    if isinstance(out, list) and out and isinstance(out[0], dict):
        return np.asarray([[row[k] for k in row] for row in out], np.float32)
    return np.asarray(out)


def check_ml(m, feeds, atol=1e-5, rtol=1e-5):
    """Interpreter and compiled results equal onnxruntime's: labels exactly, scores to atol."""
    graph = verify(aot.import_onnx(m))
    want = [_dense(w) for w in ort_run(m, feeds)]
    got = interpret(graph, {v.name: feeds[v.name] for v in graph.inputs})
    compiled = aot.compile(graph, target="llvm").run(feeds)
    for name, g, w in zip(graph.output_names, got, want):
        for res in (g, compiled[name]):
            res = np.asarray(res)
            assert res.shape == w.shape, (name, res.shape, w.shape)
            if w.dtype.kind in "iu":
                np.testing.assert_array_equal(res, w)
            else:
                np.testing.assert_allclose(res, w, rtol=rtol, atol=atol)
    return graph


def rows(n=7, f=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, f)).astype(np.float32)


N = helper.make_node


def _ml(op, ins, outs, **attrs):
    return N(op, ins, outs, domain=ML, **attrs)


# ------------------------------------------------------------ one-node models

@pytest.mark.parametrize("post", ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"])
def test_linear_classifier_multiclass(post):
    x = rows()
    w = np.random.default_rng(1).standard_normal(12).astype(np.float32)
    node = _ml("LinearClassifier", ["x"], ["y", "z"], coefficients=w.tolist(),
               intercepts=[0.1, 0.0, -0.2], classlabels_ints=[3, 5, 7], post_transform=post)
    check_ml(ml_model(node, {"x": x}, ["y", "z"]), {"x": x})


def test_linear_classifier_one_score():
    x = rows()
    node = _ml("LinearClassifier", ["x"], ["y", "z"], coefficients=[0.5, -1.0, 0.25, 2.0],
               intercepts=[0.1], classlabels_ints=[4, 9])
    check_ml(ml_model(node, {"x": x}, ["y", "z"]), {"x": x})


def test_linear_classifier_probit():
    x = rows() * 0.1
    node = _ml("LinearClassifier", ["x"], ["y", "z"], coefficients=[0.1] * 8,
               intercepts=[0.3, 0.6], classlabels_ints=[0, 1], post_transform="PROBIT")
    check_ml(ml_model(node, {"x": x}, ["y", "z"]), {"x": x})


def test_linear_regressor_and_scaler_normalizer():
    x = rows()
    node = _ml("LinearRegressor", ["x"], ["y"], coefficients=[0.5, -1.0, 2.0, 0.1, 1.0, 1.0, 1.0, 1.0],
               intercepts=[0.5, -0.5], targets=2)
    check_ml(ml_model(node, {"x": x}, ["y"]), {"x": x})
    node = _ml("Scaler", ["x"], ["y"], offset=[0.1, 0.2, 0.3, 0.4], scale=[2.0, 1.0, 0.5, 3.0])
    check_ml(ml_model(node, {"x": x}, ["y"]), {"x": x})
    for norm in ("MAX", "L1", "L2"):
        node = _ml("Normalizer", ["x"], ["y"], norm=norm)
        check_ml(ml_model(node, {"x": np.abs(x) + 0.1}, ["y"]), {"x": np.abs(x) + 0.1})


def test_binarizer_imputer_feature_extractor():
    x = rows()
    check_ml(ml_model(_ml("Binarizer", ["x"], ["y"], threshold=0.2), {"x": x}, ["y"]), {"x": x})
    xn = x.copy()
    xn[::2, 1] = np.nan
    node = _ml("Imputer", ["x"], ["y"], imputed_value_floats=[1.0, 2.0, 3.0, 4.0],
               replaced_value_float=float("nan"))
    check_ml(ml_model(node, {"x": xn}, ["y"]), {"x": xn})
    idx = np.array([3, 0, 3], np.int64)
    m = ml_model(_ml("ArrayFeatureExtractor", ["x", "i"], ["y"]), {"x": x, "i": idx}, ["y"])
    check_ml(m, {"x": x, "i": idx})


def test_one_hot_and_label_encoders():
    c = np.array([[1, 5], [7, 1], [2, 5]], np.int64)
    check_ml(ml_model(_ml("OneHotEncoder", ["x"], ["y"], cats_int64s=[1, 5, 7]), {"x": c}, ["y"]),
             {"x": c})
    node = _ml("LabelEncoder", ["x"], ["y"], keys_int64s=[1, 5, 7], values_int64s=[10, 50, 70],
               default_int64=-9)
    check_ml(ml_model(node, {"x": c}, ["y"], ml_opset=2), {"x": c})
    f = np.array([0.5, 2.0, -1.0, 0.5], np.float32)
    node = _ml("LabelEncoder", ["x"], ["y"], keys_floats=[0.5, -1.0], values_int64s=[3, 4])
    check_ml(ml_model(node, {"x": f}, ["y"], ml_opset=2), {"x": f})
    node = _ml("LabelEncoder", ["x"], ["y"], keys_int64s=[1, 5], values_strings=["a", "b"])
    with pytest.raises(ONNXImportError, match="LabelEncoder.*no strings"):
        aot.import_onnx(ml_model(node, {"x": c}, ["y"], ml_opset=2))


def test_string_class_labels_are_refused_by_name():
    x = rows()
    node = _ml("LinearClassifier", ["x"], ["y", "z"], coefficients=[0.1] * 8, intercepts=[0.0, 1.0],
               classlabels_strings=["a", "b"], name="clf")
    with pytest.raises(ONNXImportError, match="LinearClassifier node 'clf'.*integer labels"):
        aot.import_onnx(ml_model(node, {"x": x}, ["y", "z"]))


SV = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)


@pytest.mark.parametrize("kernel", ["LINEAR", "RBF", "POLY", "SIGMOID"])
@pytest.mark.parametrize("classes", [[0, 1, 2], [2, 6]])
def test_svm_classifier(kernel, classes):
    x = rows()
    per_class = [2, 2, 1][: len(classes)] if len(classes) == 3 else [3, 2]
    coef = np.random.default_rng(4).standard_normal((len(classes) - 1) * 5)
    node = _ml("SVMClassifier", ["x"], ["y", "z"], classlabels_ints=classes,
               vectors_per_class=per_class, support_vectors=SV.reshape(-1).tolist(),
               coefficients=coef.tolist(), rho=[0.1, -0.2, 0.05][: len(classes) * (len(classes) - 1) // 2],
               kernel_type=kernel, kernel_params=[0.3, 0.5, 3.0])
    check_ml(ml_model(node, {"x": x}, ["y", "z"], ml_opset=1), {"x": x})


@pytest.mark.parametrize("kernel", ["LINEAR", "RBF"])
def test_svm_regressor(kernel):
    x = rows()
    node = _ml("SVMRegressor", ["x"], ["y"], n_supports=5, support_vectors=SV.reshape(-1).tolist(),
               coefficients=[0.5, -1.0, 0.2, 0.3, 1.0], rho=[0.25], kernel_type=kernel,
               kernel_params=[0.3, 0.5, 2.0])
    check_ml(ml_model(node, {"x": x}, ["y"], ml_opset=1), {"x": x})


TREE = dict(nodes_treeids=[0, 0, 0, 0, 0, 1, 1, 1], nodes_nodeids=[0, 1, 2, 3, 4, 0, 1, 2],
            nodes_featureids=[0, 1, 0, 0, 0, 2, 0, 0],
            nodes_values=[0.1, -0.3, 0, 0, 0, 0.2, 0, 0],
            nodes_modes=["BRANCH_LEQ", "BRANCH_GT", "LEAF", "LEAF", "LEAF",
                         "BRANCH_LT", "LEAF", "LEAF"],
            nodes_truenodeids=[1, 3, 0, 0, 0, 1, 0, 0], nodes_falsenodeids=[2, 4, 0, 0, 0, 2, 0, 0],
            nodes_missing_value_tracks_true=[1, 0, 0, 0, 0, 0, 0, 0])
LEAVES = [(0, 2), (0, 3), (0, 4), (1, 1), (1, 2)]


def _leaf_tables(prefix, classes, seed=5):
    rng = np.random.default_rng(seed)
    t, n, c, w = [], [], [], []
    for tree, node in LEAVES:
        for k in classes:
            t.append(tree), n.append(node), c.append(k), w.append(float(rng.random()))
    return {prefix + "treeids": t, prefix + "nodeids": n, prefix + "ids": c, prefix + "weights": w}


@pytest.mark.parametrize("aggregate", ["SUM", "AVERAGE", "MIN", "MAX"])
def test_tree_ensemble_regressor(aggregate):
    x = rows(9, 3)
    x[::4, 0] = np.nan
    node = _ml("TreeEnsembleRegressor", ["x"], ["y"], **TREE, **_leaf_tables("target_", [0, 1]),
               n_targets=2, aggregate_function=aggregate, base_values=[0.5, -0.5])
    check_ml(ml_model(node, {"x": x}, ["y"]), {"x": x})


@pytest.mark.parametrize("post", ["NONE", "SOFTMAX", "LOGISTIC"])
@pytest.mark.parametrize("weighed", [[0, 1, 2], [0, 1], [1], [0]])
def test_tree_ensemble_classifier(post, weighed):
    x = rows(9, 3)
    labels = [0, 1, 2] if len(weighed) == 3 else [4, 8]
    node = _ml("TreeEnsembleClassifier", ["x"], ["y", "z"], **TREE,
               **_leaf_tables("class_", weighed), classlabels_int64s=labels, post_transform=post)
    check_ml(ml_model(node, {"x": x}, ["y", "z"]), {"x": x})


# ------------------------------------------------------------ scikit-learn end to end

def _sk(est, x, zipmap=True):
    from skl2onnx import to_onnx  # pinned in the test extra: missing, the test fails

    last = est.steps[-1][1] if hasattr(est, "steps") else est
    options = None if zipmap else {id(last): {"zipmap": False}}
    return to_onnx(est, x[:1], target_opset={"": 17, ML: 3}, options=options)


def _iris():
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y


@pytest.mark.parametrize("zipmap", [True, False])
def test_sklearn_classifiers(zipmap):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    x, y = _iris()
    models = [LogisticRegression(max_iter=500), make_pipeline(StandardScaler(), LogisticRegression()),
              SVC()]
    for est in models:
        est.fit(x, y)
        check_ml(_sk(est, x, zipmap), {"X": x[::7]})


def test_sklearn_binary_and_regressors():
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression, LogisticRegression

    x, y = _iris()
    for est in (LogisticRegression(),):
        est.fit(x, (y == 1).astype(np.int64))
        check_ml(_sk(est, x), {"X": x[::7]})
    xd, yd = load_diabetes(return_X_y=True)
    xd = xd.astype(np.float32)
    for est in (LinearRegression(),):
        est.fit(xd, yd)
        check_ml(_sk(est, xd), {"X": xd[::9]}, atol=1e-3)


def test_cli_compiles_a_sklearn_model(tmp_path):
    from click.testing import CliRunner
    from sklearn.linear_model import LogisticRegression

    from aot.cli import main

    x, y = _iris()
    path = tmp_path / "lr.onnx"
    path.write_bytes(_sk(LogisticRegression(max_iter=500).fit(x, y), x).SerializeToString())
    out = tmp_path / "lr.aot"
    res = CliRunner().invoke(main, ["compile", str(path), "--target", "llvm", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.exists()


@pytest.fixture
def skl2onnx_bool_flags(monkeypatch):
    """skl2onnx 1.19.1 writes scikit-learn >= 1.8's per-node missing-value flags as numpy
    bools into an INTS attribute, which onnx 1.23 rejects; written as 0/1 ints (what the
    attribute means) the trees convert."""
    make = helper.make_attribute  # onnx.helper.make_node calls it by its module global

    def make_attribute(key, value, *args, **kwargs):
        if isinstance(value, (list, tuple, np.ndarray)) and len(value) and all(
                isinstance(v, (bool, np.bool_)) for v in value):
            value = [int(v) for v in value]
        return make(key, value, *args, **kwargs)

    monkeypatch.setattr(helper, "make_attribute", make_attribute)


@pytest.mark.parametrize("zipmap", [True, False])
def test_sklearn_trees(skl2onnx_bool_flags, zipmap):
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    x, y = _iris()
    for est in (DecisionTreeClassifier(max_depth=4, random_state=0),
                RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0),
                GradientBoostingClassifier(n_estimators=5, max_depth=3, random_state=0)):
        est.fit(x, y)
        check_ml(_sk(est, x, zipmap), {"X": x[::7]})


def test_sklearn_tree_regressors(skl2onnx_bool_flags):
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

    xd, yd = load_diabetes(return_X_y=True)
    xd = xd.astype(np.float32)
    for est in (GradientBoostingRegressor(n_estimators=10, max_depth=3, random_state=0),
                RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0)):
        est.fit(xd, yd)
        check_ml(_sk(est, xd), {"X": xd[::9]}, atol=1e-3)
