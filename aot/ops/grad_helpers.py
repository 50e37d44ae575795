"""Small emitters that VJP rules share: scalar constants of a value's dtype and
arithmetic shorthands, so a rule reads like its formula."""
from __future__ import annotations

from aot.ir import GraphBuilder, Value


def scalar(b: GraphBuilder, value: float, like: Value) -> Value:
    return b.const(value, dtype=like.type.dtype, name="k")


def mul(b, x, y):
    return b.emit("multiply", x, y)


def add(b, x, y):
    return b.emit("add", x, y)


def sub(b, x, y):
    return b.emit("subtract", x, y)


def div(b, x, y):
    return b.emit("divide", x, y)


def neg(b, x):
    return b.emit("neg", x)


def mask(b, cond: Value, g: Value) -> Value:
    """g where cond, else 0 (cond broadcast against g)."""
    return b.emit("where", cond, g, scalar(b, 0.0, g))


def unary_vjp(rule):
    """Wrap rule(b, attrs, x, y, g) -> grad into the registry's vjp signature."""
    def vjp(b, attrs, inputs, outputs, grads):
        return [rule(b, attrs, inputs[0], outputs[0], grads[0])]

    return vjp
