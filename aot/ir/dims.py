"""Symbolic dim arithmetic: a dim is an int, a symbol ("batch"), or an expression string.

An expression is a polynomial over atoms with int coefficients, printed in one
canonical form so that equal expressions are equal strings ("2*batch*seq",
"seq+1"). An atom is a symbol or a floor division kept whole, printed in
parentheses: "((seq+1)//2)". Arithmetic that comes out constant gives an int, so
types stay `int | str` and code that only knows symbols keeps working.

Sizes are evaluated from bindings {symbol: value}; the values may be ints or any
objects with + - * // (TVM PrimExprs in codegen). The interpreter binds the graph
inputs' symbols for the whole run (`bound`), so a reference such as reshape's can
evaluate a target like (batch, 2, seq, 8) that its input array alone cannot tell.
"""
from __future__ import annotations

import ast
import contextvars
from contextlib import contextmanager
from typing import Callable, Iterable, Mapping, Optional, Union

Dim = Union[int, str]
Mono = tuple[str, ...]  # sorted atoms, repeated for powers
Poly = dict[Mono, int]  # monomial -> nonzero coefficient


class DimError(ValueError):
    pass


# ------------------------------------------------------------ polynomials

def _clean(p: Poly) -> Poly:
    return {m: c for m, c in p.items() if c}


def _add(a: Poly, b: Poly, sign: int = 1) -> Poly:
    out = dict(a)
    for m, c in b.items():
        out[m] = out.get(m, 0) + sign * c
    return _clean(out)


def _mul(a: Poly, b: Poly) -> Poly:
    out: Poly = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            m = tuple(sorted(ma + mb))
            out[m] = out.get(m, 0) + ca * cb
    return _clean(out)


def _const(p: Poly) -> Optional[int]:
    if not p:
        return 0
    return p[()] if list(p) == [()] else None


def _floordiv_int(p: Poly, k: int) -> Poly:
    """p // k for an int k > 0: terms divisible by k come out; the rest, with its constant
    brought into [0, k), stays one atom, so (seq-1)//2 and (seq+1)//2-1 print alike."""
    whole = {m: c // k for m, c in p.items() if m and c % k == 0}
    rest = {m: c for m, c in p.items() if m and c % k}
    const = p.get((), 0)
    if not rest:
        return _add(whole, {(): const // k})
    rest[()] = const % k
    atom = f"(({_print(_clean(rest))})//{k})" if len(_clean(rest)) > 1 else f"({_print(rest)}//{k})"
    return _add(whole, {(atom,): 1, (): const // k})


def _order_key(variables: list[str]):
    return lambda m: (len(m), tuple(m.count(v) for v in variables))


def _mono_div(a: Mono, b: Mono) -> Optional[Mono]:
    rest = list(a)
    for x in b:
        if x not in rest:
            return None
        rest.remove(x)
    return tuple(rest)


def _divide_exact(f: Poly, g: Poly) -> Optional[Poly]:
    """f / g when g divides f with an int polynomial quotient, else None (multivariate
    division in graded lex order: for a single divisor the remainder is 0 exactly then)."""
    if not g:
        return None
    key = _order_key(sorted({x for m in list(f) + list(g) for x in m}))
    lead = max(g, key=key)
    q: Poly = {}
    while f:
        top = max(f, key=key)
        m = _mono_div(top, lead)
        if m is None or f[top] % g[lead]:
            return None
        term = {m: f[top] // g[lead]}
        q = _add(q, term)
        f = _add(f, _mul(term, g), -1)
    return q


# ------------------------------------------------------------ printing and parsing

def _print_term(m: Mono, c: int) -> str:
    if not m:
        return str(c)
    body = "*".join(m)
    return body if c == 1 else f"-{body}" if c == -1 else f"{c}*{body}"


def _print(p: Poly) -> str:
    if not p:
        return "0"
    terms = sorted(p.items(), key=lambda t: (-len(t[0]), t[0]))
    text = _print_term(*terms[0])
    for m, c in terms[1:]:
        t = _print_term(m, c)
        text += t if t.startswith("-") else "+" + t
    return text


def _parse(text: str) -> Poly:
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise DimError(f"bad dim expression {text!r}") from None
    return _from_ast(tree, text)


_BINOPS = {ast.Add: lambda a, b: _add(a, b), ast.Sub: lambda a, b: _add(a, b, -1), ast.Mult: _mul}


def _from_ast(node, text: str) -> Poly:
    if isinstance(node, ast.Name):
        return {(node.id,): 1}
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return _clean({(): node.value})
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        p = _from_ast(node.operand, text)
        return p if isinstance(node.op, ast.UAdd) else {m: -c for m, c in p.items()}
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_from_ast(node.left, text), _from_ast(node.right, text))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.FloorDiv):
        return _floordiv(_from_ast(node.left, text), _from_ast(node.right, text))
    raise DimError(f"bad dim expression {text!r}: only ints, symbols, + - * // and parentheses")


def _poly(d: Dim) -> Poly:
    if isinstance(d, bool):
        raise DimError(f"bad dim {d!r}")
    if isinstance(d, int) or hasattr(d, "__index__") and not isinstance(d, str):
        return _clean({(): int(d)})
    if isinstance(d, str):
        return _parse(d)
    raise DimError(f"a dim is an int or a symbolic expression, got {d!r}")


def _dim(p: Poly) -> Dim:
    c = _const(p)
    return c if c is not None else _print(p)


# ------------------------------------------------------------ the public API

def normalize(d: Dim) -> Dim:
    """The canonical form: an int when constant, else the canonical expression string."""
    return _dim(_poly(d))


def is_symbol(d) -> bool:
    """A plain symbol name such as "batch" (not an int, not a compound expression)."""
    return isinstance(d, str) and d.isidentifier()


def is_expr(d) -> bool:
    """A symbolic dim that is not a plain symbol ("2*batch", "seq+1")."""
    return isinstance(d, str) and not d.isidentifier()


def add(a: Dim, b: Dim) -> Dim:
    return _dim(_add(_poly(a), _poly(b)))


def sub(a: Dim, b: Dim) -> Dim:
    return _dim(_add(_poly(a), _poly(b), -1))


def mul(a: Dim, b: Dim) -> Dim:
    return _dim(_mul(_poly(a), _poly(b)))


def prod(dims: Iterable[Dim]) -> Dim:
    p: Poly = {(): 1}
    for d in dims:
        p = _mul(p, _poly(d))
    return _dim(p)


def _floordiv(a: Poly, b: Poly) -> Poly:
    k = _const(b)
    if k is not None and k > 0:
        return _floordiv_int(a, k)
    q = _divide_exact(a, b) if k is None else None
    if q is None:
        raise DimError(f"cannot divide {_print(a)} by {_print(b)}: the quotient is not a "
                       f"polynomial in the symbols")
    return q


def floordiv(a: Dim, b: Dim) -> Dim:
    """a // b: any a by a positive int (a floor atom where it does not divide), or by a
    symbolic b that divides a exactly."""
    return _dim(_floordiv(_poly(a), _poly(b)))


def divide_exact(a: Dim, b: Dim) -> Optional[Dim]:
    """a / b when b provably divides a (as polynomials with int coefficients), else None."""
    pb = _poly(b)
    k = _const(pb)
    if k == 0:
        return None
    q = _divide_exact(_poly(a), pb)
    return None if q is None else _dim(q)


def equal(a: Dim, b: Dim) -> bool:
    return normalize(a) == normalize(b)


def symbols(d: Dim) -> set[str]:
    """The symbol names a dim uses (inside floor atoms too)."""
    if isinstance(d, int):
        return set()
    return {n.id for n in ast.walk(ast.parse(str(d), mode="eval")) if isinstance(n, ast.Name)}


def evaluate(d: Dim, bindings: Union[Mapping[str, object], Callable[[str], object]]):
    """The dim's value with each symbol replaced by bindings[symbol] (or bindings(symbol)):
    an int for int bindings, a TVM expression for shape variables."""
    if isinstance(d, int):
        return d
    look = bindings if callable(bindings) else (lambda s: _lookup(bindings, s, d))
    return _eval(ast.parse(d, mode="eval").body, look)


def _lookup(bindings: Mapping, s: str, d: Dim):
    if s not in bindings:
        raise DimError(f"dim {d} needs the size of symbol {s}, which is not bound")
    return bindings[s]


_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.FloorDiv: lambda a, b: a // b}


def _eval(node, look):
    if isinstance(node, ast.Name):
        return look(node.id)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, look)
        return -v if isinstance(node.op, ast.USub) else v
    return _OPS[type(node.op)](_eval(node.left, look), _eval(node.right, look))


def bind(dims: Iterable[Dim], sizes: Iterable[int], bindings: dict) -> Optional[str]:
    """Bind the plain symbols of `dims` to the concrete `sizes` into `bindings`, then check
    ints and expressions whose symbols are all bound. Returns a one-line mismatch or None;
    an expression with a symbol bound nowhere is left for a later call."""
    pairs = list(zip(dims, sizes))
    for d, n in pairs:
        if is_symbol(d) and d not in bindings:
            bindings[d] = int(n)
    for d, n in pairs:
        if isinstance(d, str) and not symbols(d) <= set(bindings):
            continue
        want = evaluate(d, bindings)
        if want != n:
            return f"{d} is {want}" if isinstance(d, str) else f"expected {d}"
    return None


# ------------------------------------------------------------ bindings in scope

_BOUND: contextvars.ContextVar[Optional[Mapping[str, int]]] = contextvars.ContextVar(
    "aot_dim_bindings", default=None)


@contextmanager
def bound(bindings: Mapping[str, int]):
    """Make {symbol: size} visible to references run inside (the interpreter's graph run)."""
    token = _BOUND.set(dict(bindings))
    try:
        yield
    finally:
        _BOUND.reset(token)


def current() -> Optional[Mapping[str, int]]:
    """The bindings in scope, or None outside any `bound` block."""
    return _BOUND.get()
