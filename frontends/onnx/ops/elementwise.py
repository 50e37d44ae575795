"""Elementwise ops: unary and binary tables, variadic Sum/Max/Min/Mean, activations
with parameters (composed from registry ops), Cast, Clip, Where."""
from __future__ import annotations

import numpy as np

from aot.ir import DType

from ..registry import converter
from .common import same_type, scalar

# ONNX op -> registry op, one to one (the exporter reads these backwards)
ONE_TO_ONE_UNARY = {
    "Abs": "abs", "Neg": "neg", "Exp": "exp", "Log": "log", "Sqrt": "sqrt",
    "Reciprocal": "reciprocal", "Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu",
    "Sin": "sin", "Cos": "cos", "Tan": "tan", "Asin": "asin", "Acos": "acos", "Atan": "atan",
    "Sinh": "sinh", "Cosh": "cosh", "Asinh": "asinh", "Acosh": "acosh", "Atanh": "atanh",
    "Ceil": "ceil", "Floor": "floor", "Round": "round", "Sign": "sign", "Erf": "erf",
    "IsNaN": "isnan", "Not": "logical_not", "Softplus": "softplus", "Softsign": "softsign",
}
ONE_TO_ONE_BINARY = {
    "Add": "add", "Sub": "subtract", "Mul": "multiply", "Div": "divide",
    "Equal": "equal", "Less": "less", "Greater": "greater", "LessOrEqual": "less_equal",
    "GreaterOrEqual": "greater_equal", "And": "logical_and", "Or": "logical_or",
    "Xor": "logical_xor",
}


def _unary(op):
    def convert(ctx, node):
        return ctx.emit(op, ctx.input(0))
    return convert


for _onnx, _op in ONE_TO_ONE_UNARY.items():
    converter(_onnx)(_unary(_op))


def legacy_broadcast(ctx, x, y):
    """Opsets < 7: `broadcast=1, axis=k` aligns y's dims at x's axis k (not at the end)."""
    if ctx.opset >= 7 or not ctx.attr("broadcast", 0):
        return y
    rx, ry = ctx.type(x).rank, ctx.type(y).rank
    axis = ctx.attr("axis", rx - ry)
    axis = axis % rx if rx else 0
    trailing = rx - axis - ry
    if trailing > 0:
        y = ctx.emit("reshape", y, shape=ctx.type(y).shape + (1,) * trailing)
    return y


def _binary(op):
    def convert(ctx, node):
        x, y = ctx.input(0), ctx.input(1)
        return ctx.emit(op, x, legacy_broadcast(ctx, x, y))
    return convert


for _onnx, _op in ONE_TO_ONE_BINARY.items():
    converter(_onnx)(_binary(_op))


@converter("Pow")
def pow_(ctx, node):
    x, y = ctx.input(0), ctx.input(1)
    return ctx.emit("power", x, same_type(ctx, x, legacy_broadcast(ctx, x, y)))


@converter("Mod")
def mod(ctx, node):
    x, y = ctx.input(0), ctx.input(1)
    if not ctx.attr("fmod", 0):
        return ctx.emit("mod", x, y)
    # fmod: the remainder takes the dividend's sign (C fmod): x - trunc(x / y) * y
    if ctx.type(x).dtype.is_float:
        q = ctx.emit("divide", x, y)
        trunc = ctx.emit("multiply", ctx.emit("sign", q), ctx.emit("floor", ctx.emit("abs", q)))
        return ctx.emit("subtract", x, ctx.emit("multiply", trunc, y))
    return ctx.emit("subtract", x, ctx.emit("multiply", ctx.emit("divide", x, y), y))


def _variadic(op, mean=False):
    def convert(ctx, node):
        xs = [t for t in ctx.inputs() if t is not None]
        out = xs[0]
        for t in xs[1:]:
            out = ctx.emit(op, out, t)
        if mean:
            out = ctx.emit("divide", out, scalar(ctx, len(xs), out))
        if len(xs) == 1:
            out = ctx.emit("add", out, scalar(ctx, 0, out)) if op == "add" else out
        return out
    return convert


converter("Sum")(_variadic("add"))
converter("Max")(_variadic("maximum"))
converter("Min")(_variadic("minimum"))
converter("Mean")(_variadic("add", mean=True))


@converter("Where")
def where(ctx, node):
    return ctx.emit("where", *ctx.inputs())


@converter("Identity")
def identity(ctx, node):
    return ctx.input(0)


@converter("Dropout")
def dropout(ctx, node):
    """Inference: the identity; the mask (if asked) is all true."""
    x = ctx.input(0)
    mask = None
    if len(node.output) > 1 and node.output[1]:
        t = ctx.type(x)
        if not t.is_static:
            raise ctx.fail("a Dropout mask output needs a static shape")
        mask = np.ones(t.shape, dtype=bool)
    return x, mask


@converter("Cast")
def cast(ctx, node):
    from ..importer import onnx_dtype

    to = onnx_dtype(ctx.attr("to"), f"{node.op_type} node {node.name!r}")
    return _cast(ctx, ctx.input(0), to)


# float8 targets: with saturate=1 (the default) onnx clips to the finite range first
_SATURATING = (DType.float8_e4m3, DType.float8_e5m2, DType.float8_e4m3fnuz, DType.float8_e5m2fnuz)


def _cast(ctx, x, to: DType):
    if isinstance(x, np.ndarray) and x.dtype == object and to.is_int:
        return x  # a symbolic shape stays one
    src = ctx.type(x).dtype
    if src == to:
        return x
    if to == DType.float8_e8m0:
        raise ctx.fail("casting to FLOAT8E8M0 (round_mode, saturate) is not supported")
    if to in _SATURATING and ctx.attr("saturate", 1):
        import ml_dtypes

        m = float(ml_dtypes.finfo(to.numpy).max)
        if src.is_float:  # NaN stays NaN: where(isnan) guards the clip
            wide = x if src in (DType.float32, DType.float64) else ctx.emit("cast", x, dtype=DType.float32)
            wt = ctx.type(wide).dtype.numpy
            clipped = ctx.emit("minimum", ctx.emit("maximum", wide, np.asarray(-m, wt)), np.asarray(m, wt))
            x = ctx.emit("where", ctx.emit("isnan", wide), wide, clipped)
    return ctx.emit("cast", x, dtype=to)


@converter("CastLike")
def cast_like(ctx, node):
    return _cast(ctx, ctx.input(0), ctx.type(ctx.input(1)).dtype)


@converter("Clip")
def clip_attrs(ctx, node):
    """Opsets < 11: min and max are attributes."""
    return ctx.emit("clip", ctx.input(0), min=ctx.attr("min", -np.inf), max=ctx.attr("max", np.inf))


@converter("Clip", since=11)
def clip(ctx, node):
    x, lo, hi = ctx.input(0), ctx.input(1), ctx.input(2)
    if lo is not None:
        x = ctx.emit("maximum", x, lo)
    if hi is not None:
        x = ctx.emit("minimum", x, hi)
    return x


@converter("LeakyRelu")
def leaky_relu(ctx, node):
    return ctx.emit("leaky_relu", ctx.input(0), alpha=ctx.attr("alpha", 0.01))


@converter("Elu")
def elu(ctx, node):
    return ctx.emit("elu", ctx.input(0), alpha=ctx.attr("alpha", 1.0))


def _where_positive(ctx, x, neg):
    return ctx.emit("where", ctx.emit("greater", x, scalar(ctx, 0, x)), x, neg)


@converter("Selu")
def selu(ctx, node):
    x = ctx.input(0)
    alpha, gamma = ctx.attr("alpha", 1.67326319217681884765625), ctx.attr("gamma", 1.05070102214813232421875)
    neg = ctx.emit("multiply", ctx.emit("subtract", ctx.emit("exp", x), scalar(ctx, 1, x)),
                   scalar(ctx, alpha, x))
    return ctx.emit("multiply", _where_positive(ctx, x, neg), scalar(ctx, gamma, x))


@converter("Celu")
def celu(ctx, node):
    x, alpha = ctx.input(0), ctx.attr("alpha", 1.0)
    e = ctx.emit("exp", ctx.emit("divide", x, scalar(ctx, alpha, x)))
    neg = ctx.emit("multiply", ctx.emit("subtract", e, scalar(ctx, 1, x)), scalar(ctx, alpha, x))
    return ctx.emit("add", ctx.emit("relu", x),
                    ctx.emit("minimum", neg, scalar(ctx, 0, x)))


@converter("ThresholdedRelu")
def thresholded_relu(ctx, node):
    x = ctx.input(0)
    cond = ctx.emit("greater", x, scalar(ctx, ctx.attr("alpha", 1.0), x))
    return ctx.emit("where", cond, x, scalar(ctx, 0, x))


@converter("HardSigmoid")
def hard_sigmoid(ctx, node):
    return ctx.emit("hard_sigmoid", ctx.input(0), alpha=ctx.attr("alpha", 0.2),
                    beta=ctx.attr("beta", 0.5))


@converter("HardSwish")
def hard_swish(ctx, node):
    x = ctx.input(0)
    return ctx.emit("multiply", x, ctx.emit("hard_sigmoid", x, alpha=1 / 6, beta=0.5))


@converter("PRelu")
def prelu(ctx, node):
    x, slope = ctx.input(0), ctx.input(1)
    slope = _prelu_slope(ctx, x, slope)
    return ctx.emit("where", ctx.emit("less", x, scalar(ctx, 0, x)),
                    ctx.emit("multiply", x, slope), x)


def _prelu_slope(ctx, x, slope):
    """Opsets < 7 allowed a per-channel slope of shape (C,) against (N, C, ...)."""
    rx, rs = ctx.type(x).rank, ctx.type(slope).rank
    if ctx.opset < 7 and rs == 1 and rx > 2 and ctx.type(slope).shape[0] != 1:
        slope = ctx.emit("reshape", slope, shape=ctx.type(slope).shape + (1,) * (rx - 2))
    return slope


@converter("Shrink")
def shrink(ctx, node):
    x = ctx.input(0)
    lambd, bias = ctx.attr("lambd", 0.5), ctx.attr("bias", 0.0)
    lo = ctx.emit("less", x, scalar(ctx, -lambd, x))
    hi = ctx.emit("greater", x, scalar(ctx, lambd, x))
    zero = scalar(ctx, 0, x)
    out = ctx.emit("where", lo, ctx.emit("add", x, scalar(ctx, bias, x)), zero)
    return ctx.emit("where", hi, ctx.emit("subtract", x, scalar(ctx, bias, x)), out)


@converter("Mish")
def mish(ctx, node):
    x = ctx.input(0)
    return ctx.emit("multiply", x, ctx.emit("tanh", ctx.emit("softplus", x)))


@converter("Gelu", since=20)
def gelu(ctx, node):
    approx = ctx.attr_str("approximate", "none")
    return ctx.emit("gelu_tanh" if approx == "tanh" else "gelu", ctx.input(0))


@converter("IsInf")
def isinf(ctx, node):
    x = ctx.input(0)
    inf = ctx.emit("isinf", x)
    pos, neg = ctx.attr("detect_positive", 1), ctx.attr("detect_negative", 1)
    if pos and neg:
        return inf
    if not pos and not neg:
        return ctx.emit("logical_and", inf, np.asarray(False))
    side = ctx.emit("greater" if pos else "less", x, scalar(ctx, 0, x))
    return ctx.emit("logical_and", inf, side)
