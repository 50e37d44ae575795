"""Elementwise op cases: every unary op on an odd shape, binary ops with broadcasting,
size-1 dims, symbolic batch, and integer/bool dtypes where the op takes them."""
import numpy as np

from .harness import OpCase

F32 = "float32"


def positive(rng, shape, dtype):
    return rng.uniform(0.1, 3.0, shape).astype(dtype.numpy)


def unit(rng, shape, dtype):
    return rng.uniform(-0.9, 0.9, shape).astype(dtype.numpy)


def above_one(rng, shape, dtype):
    return rng.uniform(1.1, 3.0, shape).astype(dtype.numpy)


def nonzero_ints(rng, shape, dtype):
    v = rng.integers(1, 7, size=shape) * rng.choice([-1, 1], size=shape)
    return v.astype(dtype.numpy)


def with_specials(rng, shape, dtype):
    x = rng.standard_normal(shape).astype(dtype.numpy)
    flat = x.reshape(-1)
    flat[: min(3, flat.size)] = [np.nan, np.inf, -np.inf][: min(3, flat.size)]
    return x


_PLAIN_UNARY = ["neg", "abs", "sign", "exp", "tanh", "sigmoid", "erf", "sin", "cos", "atan",
                "sinh", "cosh", "asinh", "floor", "ceil", "round", "relu", "gelu", "gelu_tanh",
                "silu", "softplus", "softsign", "selu"]
_GEN = {"log": positive, "sqrt": positive, "rsqrt": positive, "reciprocal": positive,
        "tan": unit, "asin": unit, "acos": unit, "atanh": unit, "acosh": above_one}

CASES = []
for op in _PLAIN_UNARY:
    CASES.append(OpCase(op, [((3, 5), F32)], id="3x5", rtol=1e-5, atol=1e-5))
for op, gen in _GEN.items():
    CASES.append(OpCase(op, [((7,), F32)], id="7", gen=gen, rtol=1e-5, atol=1e-5))
CASES += [
    OpCase("relu", [(("N", 4), F32)], bind={"N": 3}, id="symbolic"),
    OpCase("exp", [((), F32)], id="scalar"),
    OpCase("neg", [((2, 3), "int32")], id="int"),
    OpCase("abs", [((4,), "int64")], id="int64"),
    OpCase("relu", [((2, 1, 3), "float64")], id="f64"),
    OpCase("logical_not", [((2, 3), "bool")]),
    OpCase("isnan", [((2, 3), F32)], gen=with_specials),
    OpCase("isinf", [((2, 3), F32)], gen=with_specials),
    OpCase("leaky_relu", [((3, 4), F32)], {"alpha": 0.3}),
    OpCase("leaky_relu", [((3, 4), F32)], id="default"),
    OpCase("elu", [((3, 4), F32)], {"alpha": 1.5}, rtol=1e-5, atol=1e-6),
    OpCase("clip", [((3, 4), F32)], {"min": -0.5, "max": 0.5}),
    OpCase("clip", [((3, 4), F32)], {"min": 0.0}, id="min-only"),
    OpCase("clip", [((5,), "int32")], {"min": -1, "max": 2}, id="int"),
    OpCase("hard_sigmoid", [((3, 4), F32)]),
    # grad=False: an int output leaves no float loss to differentiate; a float16 output
    # rounds away the finite-difference step. f2d checks cast's gradient instead.
    OpCase("cast", [((3, 4), F32)], {"dtype": "int32"}, id="f2i", grad=False),
    OpCase("cast", [((3, 4), "int32")], {"dtype": "float32"}, id="i2f"),
    OpCase("cast", [((3, 4), F32)], {"dtype": "float16"}, id="f2h", rtol=1e-3, atol=1e-3, grad=False),
    OpCase("cast", [((3, 4), F32)], {"dtype": "float64"}, id="f2d"),
    OpCase("cast", [((3, 4), "int32")], {"dtype": "bool"}, id="i2b"),
    OpCase("cast", [((3, 4), "bool")], {"dtype": "float32"}, id="b2f"),
    OpCase("where", [((3, 1), "bool"), ((1, 4), F32), ((3, 4), F32)]),
    OpCase("where", [((2, 3), "bool"), ((2, 3), "int64"), ((), "int64")], id="int-scalar"),
]

_BINARY = ["add", "subtract", "multiply", "maximum", "minimum"]
_COMPARE = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]
_LOGIC = ["logical_and", "logical_or", "logical_xor"]
for op in _BINARY:
    CASES += [
        OpCase(op, [((3, 5), F32), ((3, 5), F32)], id="same"),
        OpCase(op, [((2, 1, 5), F32), ((3, 1), F32)], id="broadcast"),
        OpCase(op, [(("N", 5), F32), ((5,), F32)], bind={"N": 4}, id="symbolic"),
        OpCase(op, [((4,), "int32"), ((1,), "int32")], id="int"),
    ]
for op in _COMPARE:
    CASES += [OpCase(op, [((2, 3), F32), ((1, 3), F32)], id="f32"),
              OpCase(op, [((2, 3), "int64"), ((2, 3), "int64")], id="i64")]
for op in _LOGIC:
    CASES.append(OpCase(op, [((2, 3), "bool"), ((3,), "bool")]))
CASES += [
    OpCase("divide", [((3, 4), F32), ((4,), F32)], gen=positive),
    OpCase("divide", [((2, 6), "int32"), ((2, 6), "int32")], gen=nonzero_ints, id="int-trunc"),
    OpCase("floor_divide", [((2, 6), "int32"), ((2, 6), "int32")], gen=nonzero_ints, id="int"),
    OpCase("floor_divide", [((2, 6), F32), ((2, 6), F32)], gen=positive, id="f32"),
    OpCase("mod", [((2, 6), "int32"), ((2, 6), "int32")], gen=nonzero_ints, id="int"),
    OpCase("mod", [((2, 6), F32), ((2, 6), F32)], gen=positive, id="f32", rtol=1e-5, atol=1e-5),
    OpCase("power", [((3, 4), F32), ((3, 4), F32)], gen=positive, rtol=1e-5, atol=1e-5),
    OpCase("power", [((3, 4), "int32"), ((3, 4), "int32")],
           gen=lambda rng, s, d: rng.integers(0, 4, s).astype(d.numpy), id="int"),
]
