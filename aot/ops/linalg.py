"""Matrix ops ONNX models bring: einsum (ONNX Einsum) and trilu (ONNX Trilu), with their
gradient rules.

einsum takes numpy's equation language: letters label dims, "..." stands for the
leading dims (broadcast between operands, right-aligned), and without "->" the output
is the ellipsis dims then the letters used once, in alphabetical order. Spaces are
ignored. The type rule normalises the equation to explicit letters (see `_Einsum`);
the lowering and the gradient rule use that form.
"""
from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np

from aot.ir.opdef import register
from aot.ir.types import DType, TensorType

from .common import broadcast_shapes, same_dtype


# ---------------------------------------------------------------- einsum

@dataclass(frozen=True)
class EinsumAttrs:
    equation: str


@dataclass(frozen=True)
class _Einsum:
    """An equation in explicit form: one letter string per operand, the output's letters,
    and each letter's dim. An ellipsis dim becomes a fresh letter; an operand's size-1 dim
    broadcast against a larger one gets a letter of its own (summed over a size-1 dim,
    which is the same as broadcasting it)."""

    inputs: tuple[str, ...]
    output: str
    dims: dict

    @property
    def equation(self) -> str:
        return ",".join(self.inputs) + "->" + self.output


def _split_terms(equation: str, n: int) -> tuple[list[str], str | None]:
    eq = "".join(equation.split())
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != n:
        raise ValueError(f"equation {equation!r} has {len(terms)} operand(s), got {n} input(s)")
    for t in terms + ([rhs] if arrow else []):
        if any(ch not in string.ascii_letters for ch in t.replace("...", "")):
            raise ValueError(f"equation {equation!r}: subscripts must be letters or '...', got {t!r}")
    return terms, (rhs if arrow else None)


def _ellipsis_shape(terms, types) -> tuple:
    """The broadcast shape of every operand's ellipsis dims."""
    shapes = []
    for term, t in zip(terms, types):
        named = len(term.replace("...", ""))
        if "..." not in term and named != t.rank:
            raise ValueError(f"subscripts {term!r} name {named} dims, the operand has rank {t.rank}")
        if "..." in term and named > t.rank:
            raise ValueError(f"subscripts {term!r} name {named} dims, the operand has rank {t.rank}")
        shapes.append(tuple(t.shape[:t.rank - named]) if "..." in term else ())
    return broadcast_shapes(*shapes)


def parse_einsum(equation: str, types) -> _Einsum:
    terms, out = _split_terms(equation, len(types))
    fresh = iter(ch for ch in string.ascii_letters if ch not in equation)
    ell_shape = _ellipsis_shape(terms, types)
    ell = "".join(next(fresh) for _ in ell_shape)
    dims: dict = dict(zip(ell, ell_shape))
    inputs = []
    for term, t in zip(terms, types):
        head, _, tail = term.partition("...") if "..." in term else ("", "", term)
        k = t.rank - len(head) - len(tail)
        mine = ""
        for letter, d in zip(ell[len(ell) - k:], t.shape[len(head):len(head) + k]):
            mine += letter if d == dims[letter] else next(fresh)
            dims.setdefault(mine[-1], d)
        letters = head + mine + tail
        for letter, d in zip(head + tail, t.shape[:len(head)] + t.shape[len(head) + k:]):
            if dims.setdefault(letter, d) != d:
                raise ValueError(f"subscript {letter!r} labels dims of sizes {dims[letter]} and {d}")
        inputs.append(letters)
    if out is None:
        counts = "".join(terms)
        out = ell + "".join(sorted(ch for ch in set(counts) if ch.isalpha() and counts.count(ch) == 1))
    elif ell and "..." not in out:
        raise ValueError(f"equation {equation!r}: the operands have '...' dims, the output must name them")
    else:
        out = out.replace("...", ell)
    seen = "".join(inputs)
    for ch in out:
        if ch not in seen:
            raise ValueError(f"output subscript {ch!r} labels no input dim")
    if len(set(out)) != len(out):
        raise ValueError(f"output subscripts {out!r} repeat a letter")
    return _Einsum(tuple(inputs), out, dims)


def _einsum_type(a: EinsumAttrs, *types: TensorType) -> TensorType:
    if not types:
        raise ValueError("einsum needs at least one operand")
    dt = same_dtype(*types)
    if dt == DType.bool:
        raise ValueError("operands must be numeric, got bool")
    e = parse_einsum(a.equation, types)
    return TensorType(tuple(e.dims[ch] for ch in e.output), dt)


def _einsum_ref(a: EinsumAttrs, *xs):
    wide = [x.astype(np.float64) if DType.of(x.dtype).is_float else x for x in xs]
    eq = "".join(a.equation.split())
    return np.asarray(np.einsum(eq, *wide)).astype(xs[0].dtype)


def _einsum_lower(c, a: EinsumAttrs, *xs):
    e = parse_einsum(a.equation, [c.in_type(i) for i in range(len(xs))])
    return c.R.einsum(list(xs), e.equation)


def _einsum_vjp(b, a: EinsumAttrs, inputs, outputs, grads):
    """d x_i = einsum(g, the other operands -> x_i's letters); letters only x_i has are
    summed in the forward, so their gradient is broadcast back. A letter repeated within
    one operand (a diagonal) has no such form: the rule refuses it."""
    if not inputs[0].type.dtype.is_float:
        return [None] * len(inputs)
    e = parse_einsum(a.equation, [v.type for v in inputs])
    return [_einsum_operand_grad(b, e, inputs, grads[0], i) for i in range(len(inputs))]


def _einsum_operand_grad(b, e: _Einsum, inputs, g, i: int):
    mine = e.inputs[i]
    if len(set(mine)) != len(mine):
        raise ValueError(f"einsum gradient: operand {i} repeats a subscript in {e.equation!r} "
                         f"(a diagonal), which has no gradient rule")
    others = [s for j, s in enumerate(e.inputs) if j != i]
    elsewhere = set(e.output).union(*others)
    kept = "".join(ch for ch in mine if ch in elsewhere)
    eq = ",".join([e.output, *others]) + "->" + kept
    grad = b.emit("einsum", g, *[v for j, v in enumerate(inputs) if j != i], equation=eq)
    if kept == mine:
        return grad
    lone = tuple(k for k, ch in enumerate(mine) if ch not in elsewhere)
    grad = b.emit("expand_dims", grad, axes=lone)
    return b.emit("broadcast_to", grad, shape=tuple(inputs[i].type.shape))


register("einsum", attrs=EinsumAttrs, infer=_einsum_type, reference=_einsum_ref,
         lower=_einsum_lower, vjp=_einsum_vjp,
         doc="Einstein summation over any number of operands (numpy/ONNX equation language)")


# ---------------------------------------------------------------- trilu

@dataclass(frozen=True)
class TriluAttrs:
    upper: bool = True
    k: int = 0


def _trilu_type(a: TriluAttrs, x: TensorType) -> TensorType:
    if x.rank < 2:
        raise ValueError(f"input must have rank >= 2 (a batch of matrices), got rank {x.rank}")
    return x


def _trilu_ref(a: TriluAttrs, x):
    return (np.triu if a.upper else np.tril)(x, a.k)


def _trilu_lower(c, a: TriluAttrs, x):
    return (c.R.triu if a.upper else c.R.tril)(x, a.k)


def _trilu_vjp(b, a: TriluAttrs, inputs, outputs, grads):
    """Trilu keeps some elements and zeroes the rest: the gradient is the same mask."""
    if not inputs[0].type.dtype.is_float:
        return [None]
    return [b.emit("trilu", grads[0], upper=a.upper, k=a.k)]


register("trilu", attrs=TriluAttrs, infer=_trilu_type, num_inputs=1, reference=_trilu_ref,
         lower=_trilu_lower, vjp=_trilu_vjp,
         doc="upper (triu) or lower (tril) triangle of the last two dims, from diagonal k; the rest 0")
