"""aot's typed IR: types, values, nodes, graphs, the builder, verifier, text form
and the numpy interpreter."""
from .types import DType, Dim, TensorType
from .attrs import AttrError, NoAttrs
from .graph import Graph, IRError, Node, Param, Value
from .builder import GraphBuilder
from .verify import verify
from .opdef import OpDef, all_ops, get_op, register
from .interpreter import interpret, interpret_step

__all__ = ["DType", "Dim", "TensorType", "AttrError", "NoAttrs", "Graph", "IRError", "Node",
           "Param", "Value", "GraphBuilder", "verify", "OpDef", "all_ops", "get_op", "register",
           "interpret", "interpret_step"]
from .text import ParseError, parse_graph, print_graph  # noqa: E402

__all__ += ["ParseError", "parse_graph", "print_graph"]
