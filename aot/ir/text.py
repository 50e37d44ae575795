"""The text form of the IR: prints and parses back.

    graph @mlp(%x: f32[N,784]) params(%w0: f32[784,256], const %shape: i64[2] = [1, -1]) {
      %0 = matmul(%x, %w0) : f32[N,256]
      %1 = conv2d(%0, %k) {strides=[2,2], padding=[1,1,1,1]} : f32[N,14,14,8]
      %a, %b = split(%1) {axis=3, sections=2} : f32[N,14,14,4], f32[N,14,14,4]
      return %0, %a
      update %w0 <- %1
    }

Trainable params print as `%w`, state as `state %s`, constants as `const %c`; small
constants and state carry
their data inline (`= [...]`), so shape tensors survive the round trip; big
weights live beside the text in a safetensors file. Parse errors give line and column.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum
from typing import Optional

import numpy as np

from .graph import Graph, IRError, Node, Param, Value
from . import dims
from .types import DType, TensorType

INLINE_LIMIT = 16  # constants with at most this many elements print their data


class ParseError(IRError):
    def __init__(self, msg: str, line: int, col: int):
        super().__init__(f"line {line}, column {col}: {msg}")
        self.line, self.col = line, col


# ------------------------------------------------------------------ printing

def _format_scalar(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return repr(f)
    if isinstance(v, DType):
        return v.short
    if isinstance(v, Enum):
        return _format_scalar(v.value)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(_format_scalar(x) for x in v) + "]"
    raise TypeError(f"cannot print attribute value {v!r}")


def _format_data(p: Param) -> str:
    flat = np.asarray(p.data).reshape(-1)
    if p.type.dtype == DType.bool:
        return _format_scalar([bool(x) for x in flat])
    if p.type.dtype.is_float:
        return _format_scalar([float(x) for x in flat])
    return _format_scalar([int(x) for x in flat])


class _Namer:
    """Names each value once: its own name when free and a valid identifier, else a number."""

    def __init__(self):
        self.names: dict[int, str] = {}
        self.used: set[str] = set()
        self.counter = 0

    def __call__(self, v: Value) -> str:
        key = id(v)
        if key not in self.names:
            self.names[key] = self._fresh(v.name)
        return self.names[key]

    def _fresh(self, name: Optional[str]) -> str:
        if name and _IDENT.fullmatch(name) and name not in self.used and not name.isdigit():
            self.used.add(name)
            return name
        while str(self.counter) in self.used:
            self.counter += 1
        n = str(self.counter)
        self.used.add(n)
        self.counter += 1
        return n


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_./]*")


def print_graph(g: Graph) -> str:
    name = _Namer()
    ins = ", ".join(f"%{name(v)}: {v.type}" for v in g.inputs)
    params = []
    for p in g.params:
        s = f"{p.kind}%{name(p)}: {p.type}"
        if not p.trainable and p.data is not None and np.size(p.data) <= INLINE_LIMIT:
            s += f" = {_format_data(p)}"
        params.append(s)
    head = f"graph @{g.name}({ins})"
    if params:
        head += f" params({', '.join(params)})"
    lines = [head + " {"]
    for node in g.nodes:
        lines.append("  " + print_node(node, name))
    lines.append("  return " + ", ".join(f"%{name(v)}" for v in g.outputs))
    for p, v in g.updates.items():
        lines.append(f"  update %{name(p)} <- %{name(v)}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def print_node(node: Node, name=None) -> str:
    name = name or (lambda v: v.name or "?")
    outs = ", ".join(f"%{name(v)}" for v in node.outputs)
    args = ", ".join(f"%{name(v)}" for v in node.inputs)
    attrs = node.non_default_attrs()
    attr_text = ""
    if attrs:
        attr_text = " {" + ", ".join(f"{k}={_format_scalar(v)}" for k, v in attrs.items()) + "}"
    label = f' "{node.name}"' if node.name else ""
    types = ", ".join(str(v.type) for v in node.outputs)
    return f"{outs} = {node.op.name}{label}({args}){attr_text} : {types}"


# ------------------------------------------------------------------ parsing

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r]+|\#[^\n]*)
  | (?P<nl>\n)
  | (?P<value>%[A-Za-z0-9_./]+)
  | (?P<global>@[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\.\d+(?:[eE][-+]?\d+)?|\d+)|-?inf\b|nan\b)
  | (?P<arrow><-)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[()\[\]{},:=*+/])
""", re.VERBOSE)


@dataclass
class _Tok:
    kind: str
    text: str
    line: int
    col: int


def _tokenize(text: str) -> list[_Tok]:
    toks, pos, line, line_start = [], 0, 1, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ParseError(f"unexpected character {text[pos]!r}", line, pos - line_start + 1)
        kind = m.lastgroup
        if kind == "nl":
            line, line_start = line + 1, m.end()
        elif kind != "ws":
            toks.append(_Tok(kind, m.group(), line, m.start() - line_start + 1))
        pos = m.end()
    toks.append(_Tok("eof", "", line, pos - line_start + 1))
    return toks


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokenize(text)
        self.i = 0
        self.env: dict[str, Value] = {}

    # token helpers
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def error(self, msg: str, tok: Optional[_Tok] = None):
        t = tok or self.tok
        return ParseError(msg, t.line, t.col)

    def next(self) -> _Tok:
        t = self.tok
        self.i += 1
        return t

    def accept(self, text: str) -> bool:
        if self.tok.text == text and self.tok.kind in ("punct", "ident", "arrow"):
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> _Tok:
        if not self.accept(text):
            raise self.error(f"expected {text!r}, got {self.tok.text or 'end of input'!r}")
        return self.toks[self.i - 1]

    def expect_kind(self, kind: str, what: str) -> _Tok:
        if self.tok.kind != kind:
            raise self.error(f"expected {what}, got {self.tok.text or 'end of input'!r}")
        return self.next()

    # grammar
    def graph(self) -> Graph:
        self.expect("graph")
        name = self.expect_kind("global", "@name").text[1:]
        inputs = self.comma_list("(", ")", self.input_decl)
        params: list[Param] = []
        if self.accept("params"):
            params = self.comma_list("(", ")", self.param_decl)
        self.expect("{")
        nodes: list[Node] = []
        while not (self.tok.kind == "ident" and self.tok.text == "return"):
            nodes.append(self.node())
        self.expect("return")
        outputs = [self.use()]
        while self.accept(","):
            outputs.append(self.use())
        updates = {}
        while self.accept("update"):
            t = self.tok
            target = self.use()
            if not isinstance(target, Param):
                raise self.error(f"update target %{target.name} is not a param", t)
            self.expect("<-")
            updates[target] = self.use()
        self.expect("}")
        if self.tok.kind != "eof":
            raise self.error(f"unexpected {self.tok.text!r} after the graph")
        return Graph(name, inputs, params, nodes, outputs, updates)

    def comma_list(self, open_: str, close: str, item):
        self.expect(open_)
        items = []
        if not self.accept(close):
            items.append(item())
            while self.accept(","):
                items.append(item())
            self.expect(close)
        return items

    def define(self, tok: _Tok, v: Value) -> Value:
        name = tok.text[1:]
        if name in self.env:
            raise self.error(f"%{name} is defined twice", tok)
        self.env[name] = v
        return v

    def input_decl(self) -> Value:
        tok = self.expect_kind("value", "%name")
        self.expect(":")
        return self.define(tok, Value(self.type(), tok.text[1:]))

    def param_decl(self) -> Param:
        const = self.accept("const")
        state = not const and self.accept("state")
        tok = self.expect_kind("value", "%name")
        self.expect(":")
        ttok = self.tok
        t = self.type()
        data = None
        if self.accept("="):
            dtok = self.tok
            values = self.literal()
            try:
                data = np.array(values, dtype=t.dtype.numpy).reshape(t.shape)
            except (ValueError, TypeError):
                raise self.error(f"inline data does not fit {t}", dtok) from None
        if not (const or state) and data is not None:
            raise self.error("only const and state params carry inline data", ttok)
        p = Param(tok.text[1:], data, type=None if data is not None else t,
                  trainable=not (const or state), state=state)
        return self.define(tok, p)

    def type(self) -> TensorType:
        tok = self.expect_kind("ident", "a dtype such as f32")
        try:
            dtype = DType.of(tok.text)
        except ValueError:
            raise self.error(f"unknown dtype {tok.text!r}", tok) from None
        self.expect("[")
        dims = []
        if not self.accept("]"):
            dims.append(self.dim())
            while self.accept(","):
                dims.append(self.dim())
            self.expect("]")
        return TensorType(dims, dtype)

    def dim(self):
        """An int, a symbol, or an expression such as 2*N or ((S+1)//2): the tokens up to the
        next , or ] outside parentheses, checked and put in canonical form by TensorType."""
        first, parts, depth = self.tok, [], 0
        while self.tok.kind != "eof" and not (depth == 0 and self.tok.text in (",", "]")):
            tok = self.next()
            depth += {"(": 1, ")": -1}.get(tok.text, 0) if tok.kind == "punct" else 0
            if tok.kind not in ("number", "ident", "punct") or tok.text in "[]{}:=":
                raise self.error(f"expected a dim (int, symbol or expression), got {tok.text!r}", tok)
            parts.append(tok.text)
        text = "".join(parts)
        if re.fullmatch(r"\d+", text):
            return int(text)
        if not text or not re.fullmatch(r"[A-Za-z0-9_()*+/-]+", text):
            raise self.error(f"expected a dim (int, symbol or expression), got {text or first.text!r}",
                             first)
        try:
            dims.normalize(text)
        except ValueError as e:
            raise self.error(str(e), first) from None
        return text

    def use(self) -> Value:
        tok = self.expect_kind("value", "%value")
        name = tok.text[1:]
        if name not in self.env:
            raise self.error(f"%{name} is not defined", tok)
        return self.env[name]

    def node(self) -> Node:
        out_toks = [self.expect_kind("value", "%result")]
        while self.accept(","):
            out_toks.append(self.expect_kind("value", "%result"))
        self.expect("=")
        op_tok = self.expect_kind("ident", "an op name")
        label = None
        if self.tok.kind == "string":
            label = self.literal()
        args = self.comma_list("(", ")", self.use)
        attrs = {}
        if self.tok.text == "{":
            attrs = dict(self.comma_list("{", "}", self.attr))
        self.expect(":")
        declared = [self.type()]
        while self.accept(","):
            declared.append(self.type())
        try:
            node = Node(op_tok.text, args, attrs, name=label,
                        output_names=[_name_of(t) for t in out_toks])
        except (IRError, KeyError) as e:
            raise self.error(str(e.args[0]), op_tok) from None
        got = [v.type for v in node.outputs]
        if len(got) != len(out_toks):
            raise self.error(f"{op_tok.text} gives {len(got)} result(s), {len(out_toks)} named",
                             out_toks[0])
        if got != declared:
            raise self.error(f"declared type {', '.join(map(str, declared))} but {op_tok.text} "
                             f"gives {', '.join(map(str, got))}", op_tok)
        for t, v in zip(out_toks, node.outputs):
            self.define(t, v)
        return node

    def attr(self):
        key = self.expect_kind("ident", "an attribute name").text
        self.expect("=")
        return key, self.literal()

    def literal(self):
        tok = self.next()
        if tok.kind == "number":
            t = tok.text
            if t in ("inf", "-inf", "nan"):
                return float(t)
            return int(t) if re.fullmatch(r"-?\d+", t) else float(t)
        if tok.kind == "string":
            return bytes(tok.text[1:-1], "utf-8").decode("unicode_escape")
        if tok.kind == "ident":
            if tok.text in ("true", "false"):
                return tok.text == "true"
            return tok.text  # a bare name: dtype or enum value
        if tok.text == "[":
            items = []
            if not self.accept("]"):
                items.append(self.literal())
                while self.accept(","):
                    items.append(self.literal())
                self.expect("]")
            return items
        raise self.error(f"expected a value, got {tok.text!r}", tok)


def _name_of(tok: _Tok) -> Optional[str]:
    """Numbered values (%0, %1) were unnamed when printed: they stay unnamed."""
    name = tok.text[1:]
    return None if name.isdigit() else name


def parse_graph(text: str) -> Graph:
    """Parse the text form. Params without inline data come back with `data=None`."""
    return _Parser(text).graph()
