"""Elementwise ops: unary math, activations, binary arithmetic with numpy
broadcasting, comparisons, logic, `where`, `cast` and `clip`.

Most entries are one row of a table; the rules they share are written once below.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aot.ir.opdef import register
from aot.ir.types import DType, TensorType

from .common import broadcast_shapes, require_float, same_dtype
from .grad_helpers import add, div, mask, mul, neg, scalar, sub, unary_vjp


# ---------------------------------------------------------------- unary

def _erf(x):
    import math

    return np.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()


def _same_type(a, x: TensorType) -> TensorType:
    return x


def _float_type(a, x: TensorType) -> TensorType:
    require_float(x)
    return x


def _numeric_type(a, x: TensorType) -> TensorType:
    if x.dtype == DType.bool:
        raise ValueError("input must be numeric, got bool")
    return x


def _f(fn):
    """A reference that keeps the input dtype (numpy may promote for float16/bfloat16)."""
    return lambda a, x: np.asarray(fn(x)).astype(x.dtype, copy=False)


def _sigmoid(x):
    return 0.5 * (np.tanh(0.5 * x.astype(np.float64)) + 1.0)


def _gelu(x):
    x64 = x.astype(np.float64)
    return 0.5 * x64 * (1.0 + _erf(x64 / np.sqrt(2.0)))


# (name, type rule, numpy, lowering)
_UNARY = [
    ("neg", _numeric_type, np.negative, lambda c, a, x: c.R.negative(x)),
    ("abs", _numeric_type, np.abs, lambda c, a, x: c.R.abs(x)),
    ("sign", _numeric_type, np.sign, lambda c, a, x: c.R.sign(x)),
    ("exp", _float_type, np.exp, lambda c, a, x: c.R.exp(x)),
    ("log", _float_type, np.log, lambda c, a, x: c.R.log(x)),
    ("sqrt", _float_type, np.sqrt, lambda c, a, x: c.R.sqrt(x)),
    ("rsqrt", _float_type, lambda x: 1.0 / np.sqrt(x), lambda c, a, x: c.R.rsqrt(x)),
    ("reciprocal", _float_type, lambda x: 1.0 / x,
     lambda c, a, x: c.R.divide(c.const(1.0, c.in_dtype(0)), x)),
    ("tanh", _float_type, np.tanh, lambda c, a, x: c.R.tanh(x)),
    ("sigmoid", _float_type, _sigmoid, lambda c, a, x: c.R.sigmoid(x)),
    ("erf", _float_type, _erf, lambda c, a, x: c.R.erf(x)),
    ("sin", _float_type, np.sin, lambda c, a, x: c.R.sin(x)),
    ("cos", _float_type, np.cos, lambda c, a, x: c.R.cos(x)),
    ("tan", _float_type, np.tan, lambda c, a, x: c.R.tan(x)),
    ("asin", _float_type, np.arcsin, lambda c, a, x: c.R.asin(x)),
    ("acos", _float_type, np.arccos, lambda c, a, x: c.R.acos(x)),
    ("atan", _float_type, np.arctan, lambda c, a, x: c.R.atan(x)),
    ("sinh", _float_type, np.sinh, lambda c, a, x: c.R.sinh(x)),
    ("cosh", _float_type, np.cosh, lambda c, a, x: c.R.cosh(x)),
    ("asinh", _float_type, np.arcsinh, lambda c, a, x: c.R.asinh(x)),
    ("acosh", _float_type, np.arccosh, lambda c, a, x: c.R.acosh(x)),
    ("atanh", _float_type, np.arctanh, lambda c, a, x: c.R.atanh(x)),
    ("floor", _float_type, np.floor, lambda c, a, x: c.R.floor(x)),
    ("ceil", _float_type, np.ceil, lambda c, a, x: c.R.ceil(x)),
    ("round", _float_type, np.round, lambda c, a, x: c.R.round(x)),  # half to even, as ONNX
    ("relu", _numeric_type, lambda x: np.maximum(x, 0), lambda c, a, x: c.R.nn.relu(x)),
    ("gelu", _float_type, _gelu, lambda c, a, x: c.R.nn.gelu(x)),
    ("gelu_tanh", _float_type,
     lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x.astype(np.float64) ** 3))),
     lambda c, a, x: c.R.nn.gelu_tanh(x)),
    ("silu", _float_type, lambda x: x * _sigmoid(x), lambda c, a, x: c.R.nn.silu(x)),
    ("softplus", _float_type, lambda x: np.logaddexp(0.0, x.astype(np.float64)),
     lambda c, a, x: c.R.nn.softplus(x)),
    ("softsign", _float_type, lambda x: x / (1 + np.abs(x)),
     lambda c, a, x: c.R.divide(x, c.R.add(c.const(1.0, c.in_dtype(0)), c.R.abs(x)))),
    ("selu", _float_type,
     lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0))),
     lambda c, a, x: c.R.multiply(c.const(1.0507009873554805, c.in_dtype(0)), _elu_expr(c, x, 1.6732632423543772))),
    ("logical_not", lambda a, x: _bool_type(x), np.logical_not, lambda c, a, x: c.R.logical_not(x)),
    ("isnan", lambda a, x: _float_type(a, x).with_dtype(DType.bool), np.isnan,
     lambda c, a, x: c.R.isnan(x)),
    ("isinf", lambda a, x: _float_type(a, x).with_dtype(DType.bool), np.isinf,
     lambda c, a, x: c.R.isinf(x)),
]


def _bool_type(x: TensorType) -> TensorType:
    if x.dtype != DType.bool:
        raise ValueError(f"input must be bool, got {x.dtype.short}")
    return x


def _elu_expr(c, x, alpha: float):
    """alpha * (exp(min(x,0)) - 1) where x < 0, else x."""
    R, dt = c.R, c.in_dtype(0)
    neg = R.multiply(c.const(alpha, dt), R.subtract(R.exp(R.minimum(x, c.const(0.0, dt))), c.const(1.0, dt)))
    return R.where(R.greater(x, c.const(0.0, dt)), x, neg)


def _sigmoid_grad(b, x, y=None):
    s = y if y is not None else b.emit("sigmoid", x)
    return mul(b, s, sub(b, scalar(b, 1.0, s), s))


def _gelu_grad(b, x):
    """d/dx x*Phi(x) = Phi(x) + x*phi(x)."""
    k = 1.0 / np.sqrt(2.0)
    cdf = mul(b, scalar(b, 0.5, x), add(b, scalar(b, 1.0, x), b.emit("erf", mul(b, x, scalar(b, k, x)))))
    pdf = mul(b, scalar(b, 1.0 / np.sqrt(2 * np.pi), x),
              b.emit("exp", mul(b, scalar(b, -0.5, x), mul(b, x, x))))
    return add(b, cdf, mul(b, x, pdf))


def _gelu_tanh_grad(b, x):
    """d/dx 0.5*x*(1 + t), t = tanh(c*(x + k*x^3)): 0.5*(1 + t) + 0.5*x*(1 - t^2)*c*(1 + 3k*x^2)."""
    c, k = np.sqrt(2 / np.pi), 0.044715
    x2 = mul(b, x, x)
    t = b.emit("tanh", mul(b, scalar(b, c, x), add(b, x, mul(b, scalar(b, k, x), mul(b, x2, x)))))
    dinner = mul(b, scalar(b, c, x), add(b, scalar(b, 1.0, x), mul(b, scalar(b, 3 * k, x), x2)))
    sech2 = sub(b, scalar(b, 1.0, t), mul(b, t, t))
    half = scalar(b, 0.5, x)
    return add(b, mul(b, half, add(b, scalar(b, 1.0, x), t)),
               mul(b, mul(b, half, x), mul(b, sech2, dinner)))


# d out / d x, as a function of (b, attrs, x, y); the rule multiplies by g.
_UNARY_DERIV = {
    "abs": lambda b, a, x, y: b.emit("sign", x),
    "exp": lambda b, a, x, y: y,
    "log": lambda b, a, x, y: b.emit("reciprocal", x),
    "sqrt": lambda b, a, x, y: div(b, scalar(b, 0.5, y), y),
    "rsqrt": lambda b, a, x, y: mul(b, scalar(b, -0.5, y), mul(b, y, mul(b, y, y))),
    "reciprocal": lambda b, a, x, y: neg(b, mul(b, y, y)),
    "tanh": lambda b, a, x, y: sub(b, scalar(b, 1.0, y), mul(b, y, y)),
    "sigmoid": lambda b, a, x, y: _sigmoid_grad(b, x, y),
    "erf": lambda b, a, x, y: mul(b, scalar(b, 2 / np.sqrt(np.pi), x),
                                  b.emit("exp", neg(b, mul(b, x, x)))),
    "sin": lambda b, a, x, y: b.emit("cos", x),
    "cos": lambda b, a, x, y: neg(b, b.emit("sin", x)),
    "tan": lambda b, a, x, y: add(b, scalar(b, 1.0, y), mul(b, y, y)),
    "asin": lambda b, a, x, y: b.emit("rsqrt", sub(b, scalar(b, 1.0, x), mul(b, x, x))),
    "acos": lambda b, a, x, y: neg(b, b.emit("rsqrt", sub(b, scalar(b, 1.0, x), mul(b, x, x)))),
    "atan": lambda b, a, x, y: b.emit("reciprocal", add(b, scalar(b, 1.0, x), mul(b, x, x))),
    "sinh": lambda b, a, x, y: b.emit("cosh", x),
    "cosh": lambda b, a, x, y: b.emit("sinh", x),
    "asinh": lambda b, a, x, y: b.emit("rsqrt", add(b, mul(b, x, x), scalar(b, 1.0, x))),
    "acosh": lambda b, a, x, y: b.emit("rsqrt", sub(b, mul(b, x, x), scalar(b, 1.0, x))),
    "atanh": lambda b, a, x, y: b.emit("reciprocal", sub(b, scalar(b, 1.0, x), mul(b, x, x))),
    "gelu": lambda b, a, x, y: _gelu_grad(b, x),
    "gelu_tanh": lambda b, a, x, y: _gelu_tanh_grad(b, x),
    "silu": lambda b, a, x, y: _silu_grad(b, x),
    "softplus": lambda b, a, x, y: b.emit("sigmoid", x),
    "softsign": lambda b, a, x, y: b.emit("reciprocal", _square(b, add(b, scalar(b, 1.0, x), b.emit("abs", x)))),
    "selu": lambda b, a, x, y: b.emit("where", b.emit("greater", x, scalar(b, 0.0, x)),
                                      b.emit("broadcast_to", scalar(b, 1.0507009873554805, x), shape=x.type.shape),
                                      add(b, y, scalar(b, 1.0507009873554805 * 1.6732632423543772, x))),
}
# Piecewise-constant ops: zero gradient almost everywhere (as in every framework).
_ZERO_GRAD = {"sign", "floor", "ceil", "round"}


def _square(b, x):
    return mul(b, x, x)


def _silu_grad(b, x):
    s = b.emit("sigmoid", x)
    return mul(b, s, add(b, scalar(b, 1.0, x), mul(b, x, sub(b, scalar(b, 1.0, s), s))))


def _deriv_vjp(deriv):
    return unary_vjp(lambda b, a, x, y, g: mul(b, g, deriv(b, a, x, y)))


def _unary_vjp(name):
    if name in _UNARY_DERIV:
        return _deriv_vjp(_UNARY_DERIV[name])
    if name in _ZERO_GRAD:
        return unary_vjp(lambda b, a, x, y, g: mul(b, g, scalar(b, 0.0, g)))
    if name == "neg":
        return unary_vjp(lambda b, a, x, y, g: neg(b, g))
    if name == "relu":
        return unary_vjp(lambda b, a, x, y, g: mask(b, b.emit("greater", x, scalar(b, 0.0, x)), g))
    return None  # logical_not, isnan, isinf: not differentiable


# Run in 16 bits under fp16/bf16 inference (bounded or sign-only: no overflow, no
# precision-hungry range); exp, log, pow, sqrt and the rest stay float32.
_LOW_PRECISION_UNARY = {"neg", "abs", "relu", "sigmoid", "tanh", "silu", "gelu", "gelu_tanh"}
_LOW_PRECISION_BINARY = {"add", "subtract", "multiply", "divide", "maximum", "minimum"}

for _name, _infer, _np, _lower in _UNARY:
    register(_name, infer=_infer, reference=_f(_np), lower=_lower, num_inputs=1,
             vjp=_unary_vjp(_name), precision="follow" if _name in _LOW_PRECISION_UNARY else None)


# ------------------------------------------------ unary with attributes

@dataclass(frozen=True)
class AlphaAttrs:
    alpha: float = 0.01


@dataclass(frozen=True)
class ClipAttrs:
    min: float = float("-inf")
    max: float = float("inf")


@dataclass(frozen=True)
class HardSigmoidAttrs:
    alpha: float = 0.2
    beta: float = 0.5


@dataclass(frozen=True)
class CastAttrs:
    dtype: DType


def _leaky_relu_lower(c, a, x):
    return c.R.nn.leakyrelu(x, a.alpha)


def _ref_leaky(a, x):
    return np.where(x >= 0, x, x * a.alpha).astype(x.dtype)


def _ref_elu(a, x):
    return np.where(x > 0, x, a.alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype)


def _ref_clip(a, x):
    return np.clip(x, a.min, a.max).astype(x.dtype)


def _ref_hard_sigmoid(a, x):
    return np.clip(a.alpha * x + a.beta, 0, 1).astype(x.dtype)


def _clip_lower(c, a, x):
    dt = c.in_dtype(0)
    out = x
    if a.min != float("-inf"):
        out = c.R.maximum(out, c.const(a.min, dt))
    if a.max != float("inf"):
        out = c.R.minimum(out, c.const(a.max, dt))
    return out


def _hard_sigmoid_lower(c, a, x):
    dt = c.in_dtype(0)
    lin = c.R.add(c.R.multiply(x, c.const(a.alpha, dt)), c.const(a.beta, dt))
    return c.R.minimum(c.R.maximum(lin, c.const(0.0, dt)), c.const(1.0, dt))


def _cast_infer(a, x: TensorType) -> TensorType:
    return x.with_dtype(a.dtype)


def _cast_ref(a, x):
    if a.dtype == DType.bool:
        return x != 0
    if a.dtype.is_int and x.dtype.kind == "f":
        return np.trunc(x).astype(a.dtype.numpy)
    return x.astype(a.dtype.numpy)


def _cast_lower(c, a, x):
    """R.astype, except from/to the 8-bit floats, which go through their bits (ops/float8.py)."""
    from .float8 import FLOAT8_READ, lower_from_float8

    src, dst = c.in_dtype(0), a.dtype
    if src == dst:
        return x
    if src in FLOAT8_READ:
        x, src = lower_from_float8(c, x, src), DType.float32
        return x if dst == src else _cast_lower_from(c, x, src, dst)
    return _cast_lower_from(c, x, src, dst)


def _cast_lower_from(c, x, src: DType, dst: DType):
    from .float8 import FLOAT8, lower_to_float8

    if dst not in FLOAT8:
        return c.R.astype(x, dst.value)
    work = src if src in (DType.float32, DType.float64) else (
        DType.float32 if src.is_float else DType.float64)  # f16/bf16 widen exactly; ints to f64
    if work != src:
        x = c.bb.emit(c.R.astype(x, work.value))
    return lower_to_float8(c, x, work, dst)


def _positive(b, x):
    return b.emit("greater", x, scalar(b, 0.0, x))


def _leaky_vjp(b, a, x, y, g):
    return b.emit("where", b.emit("greater_equal", x, scalar(b, 0.0, x)), g, mul(b, g, scalar(b, a.alpha, g)))


def _elu_vjp(b, a, x, y, g):
    return b.emit("where", _positive(b, x), g, mul(b, g, add(b, y, scalar(b, a.alpha, y))))


def _clip_vjp(b, a, x, y, g):
    inside = b.emit("logical_and", b.emit("greater_equal", x, scalar(b, a.min, x)),
                    b.emit("less_equal", x, scalar(b, a.max, x)))
    return mask(b, inside, g)


def _hard_sigmoid_vjp(b, a, x, y, g):
    lin = add(b, mul(b, x, scalar(b, a.alpha, x)), scalar(b, a.beta, x))
    inside = b.emit("logical_and", b.emit("greater", lin, scalar(b, 0.0, x)),
                    b.emit("less", lin, scalar(b, 1.0, x)))
    return mask(b, inside, mul(b, g, scalar(b, a.alpha, g)))


def _cast_vjp(b, a, x, y, g):
    if not (x.type.dtype.is_float and y.type.dtype.is_float):
        return None
    return b.emit("cast", g, dtype=x.type.dtype)


register("leaky_relu", precision="follow", attrs=AlphaAttrs, infer=_float_type, num_inputs=1,
         reference=_ref_leaky, lower=_leaky_relu_lower, vjp=unary_vjp(_leaky_vjp))
register("elu", attrs=AlphaAttrs, infer=_float_type, num_inputs=1, reference=_ref_elu,
         lower=lambda c, a, x: _elu_expr(c, x, a.alpha), vjp=unary_vjp(_elu_vjp))
register("clip", precision="follow", attrs=ClipAttrs, infer=_numeric_type, num_inputs=1, reference=_ref_clip,
         lower=_clip_lower, vjp=unary_vjp(_clip_vjp))
register("hard_sigmoid", precision="follow", attrs=HardSigmoidAttrs, infer=_float_type, num_inputs=1,
         reference=_ref_hard_sigmoid, lower=_hard_sigmoid_lower, vjp=unary_vjp(_hard_sigmoid_vjp))
register("cast", attrs=CastAttrs, infer=_cast_infer, num_inputs=1, reference=_cast_ref,
         lower=_cast_lower, vjp=unary_vjp(_cast_vjp))


# ---------------------------------------------------------------- binary

def _binary_type(a, x: TensorType, y: TensorType) -> TensorType:
    dt = same_dtype(x, y)
    return TensorType(broadcast_shapes(x.shape, y.shape), dt)


def _numeric_binary_type(a, x, y):
    t = _binary_type(a, x, y)
    if t.dtype == DType.bool:
        raise ValueError("inputs must be numeric, got bool")
    return t


def _compare_type(a, x, y):
    return _binary_type(a, x, y).with_dtype(DType.bool)


def _logic_type(a, x, y):
    t = _binary_type(a, x, y)
    if t.dtype != DType.bool:
        raise ValueError(f"inputs must be bool, got {t.dtype.short}")
    return t


def _int_div(x, y):
    """Integer division truncating toward zero (C, ONNX and TVM semantics)."""
    q = np.floor_divide(x, np.where(y == 0, 1, y))
    fix = (q < 0) & (q * y != x)
    return q + fix


def _divide(x, y):
    if x.dtype.kind in "iu":
        return _int_div(x, y).astype(x.dtype)
    return np.divide(x, y)


def _mod(x, y):
    """Python-style modulo (sign of divisor), as Relax `floor_mod` and ONNX Mod(fmod=0)."""
    return np.mod(x, y)


def _power(x, y):
    return np.power(x, y)


_BINARY = [
    ("add", _binary_type, np.add, "add"),
    ("subtract", _numeric_binary_type, np.subtract, "subtract"),
    ("multiply", _binary_type, np.multiply, "multiply"),
    ("divide", _numeric_binary_type, _divide, "divide"),
    ("floor_divide", _numeric_binary_type, np.floor_divide, "floor_divide"),
    ("mod", _numeric_binary_type, _mod, "floor_mod"),
    ("power", _numeric_binary_type, _power, "power"),
    ("maximum", _binary_type, np.maximum, "maximum"),
    ("minimum", _binary_type, np.minimum, "minimum"),
    ("equal", _compare_type, np.equal, "equal"),
    ("not_equal", _compare_type, np.not_equal, "not_equal"),
    ("less", _compare_type, np.less, "less"),
    ("less_equal", _compare_type, np.less_equal, "less_equal"),
    ("greater", _compare_type, np.greater, "greater"),
    ("greater_equal", _compare_type, np.greater_equal, "greater_equal"),
    ("logical_and", _logic_type, np.logical_and, "logical_and"),
    ("logical_or", _logic_type, np.logical_or, "logical_or"),
    ("logical_xor", _logic_type, np.logical_xor, "logical_xor"),
]


def _binary_lowering(relax_name: str):
    def lower(c, a, x, y):
        if relax_name == "power" and not c.in_dtype(0).is_float:
            return _int_power(c, x, y)
        return getattr(c.R, relax_name)(x, y)

    return lower


def _int_power(c, x, y):
    """TVM's pow is float-only: integer powers go through float64 (exact below 2**53)."""
    R, dt = c.R, c.in_dtype(0).value
    p = R.power(R.astype(x, "float64"), R.astype(y, "float64"))
    return R.astype(R.round(p), dt)


def _binary_reference(fn):
    return lambda a, x, y: np.asarray(fn(x, y))


def _binary_vjp(rule):
    """rule(b, x, y, out, g) -> (gx, gy) in the broadcast shape; the walker reduces them."""
    def vjp(b, attrs, inputs, outputs, grads):
        x, y = inputs
        if not x.type.dtype.is_float:
            return [None, None]
        return list(rule(b, x, y, outputs[0], grads[0]))

    return vjp


def _div_grads(b, x, y, out, g):
    gx = div(b, g, y)
    return gx, neg(b, mul(b, gx, out))


def _power_grads(b, x, y, out, g):
    gx = mul(b, g, mul(b, y, b.emit("power", x, sub(b, y, scalar(b, 1.0, y)))))
    safe_log = b.emit("log", b.emit("where", _positive(b, x), x, b.emit("broadcast_to", scalar(b, 1.0, x), shape=x.type.shape)))
    return gx, mul(b, g, mul(b, out, safe_log))


def _select_grads(prefer_x: str):
    def rule(b, x, y, out, g):
        take_x = b.emit(prefer_x, x, y)
        return mask(b, take_x, g), mask(b, b.emit("logical_not", take_x), g)

    return rule


_BINARY_GRADS = {
    "add": lambda b, x, y, out, g: (g, g),
    "subtract": lambda b, x, y, out, g: (g, neg(b, g)),
    "multiply": lambda b, x, y, out, g: (mul(b, g, y), mul(b, g, x)),
    "divide": _div_grads,
    "power": _power_grads,
    "maximum": _select_grads("greater_equal"),
    "minimum": _select_grads("less_equal"),
    "mod": lambda b, x, y, out, g: (g, neg(b, mul(b, g, b.emit("floor_divide", x, y)))),
    "floor_divide": lambda b, x, y, out, g: (mul(b, g, scalar(b, 0.0, g)), mul(b, g, scalar(b, 0.0, g))),
}

for _name, _infer, _np, _relax in _BINARY:
    rule = _BINARY_GRADS.get(_name)
    register(_name, infer=_infer, reference=_binary_reference(_np), lower=_binary_lowering(_relax),
             num_inputs=2, vjp=_binary_vjp(rule) if rule else None,
             precision="follow" if _name in _LOW_PRECISION_BINARY else None)


# ---------------------------------------------------------------- where

def _where_type(a, cond: TensorType, x: TensorType, y: TensorType) -> TensorType:
    if cond.dtype != DType.bool:
        raise ValueError(f"condition must be bool, got {cond.dtype.short}")
    dt = same_dtype(x, y)
    return TensorType(broadcast_shapes(cond.shape, x.shape, y.shape), dt)


def _where_vjp(b, attrs, inputs, outputs, grads):
    cond, x, _ = inputs
    g = grads[0]
    if not x.type.dtype.is_float:
        return [None, None, None]
    return [None, mask(b, cond, g), mask(b, b.emit("logical_not", cond), g)]


register("where", precision="follow", infer=_where_type, num_inputs=3,
         reference=lambda a, c, x, y: np.where(c, x, y),
         lower=lambda c, a, cond, x, y: c.R.where(cond, x, y), vjp=_where_vjp)
