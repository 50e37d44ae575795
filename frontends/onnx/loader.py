"""Reading, checking and vetting an ONNX model before any conversion work.

Every problem here becomes one `ONNXImportError` line: a file that is not ONNX, a
model the onnx checker rejects, an opset we cannot serve, or ops without converters
(all of them listed at once, with counts and the first node of each).
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import onnx

from .errors import ONNXImportError
from .registry import lookup

MIN_OPSET = 1
_STD_DOMAINS = ("", "ai.onnx")


def load_model(source) -> tuple[onnx.ModelProto, str]:
    """A ModelProto (external data loaded) and the directory external data is relative to."""
    if isinstance(source, onnx.ModelProto):
        return source, os.getcwd()
    path = Path(source)
    if not path.is_file():
        raise ONNXImportError(f"{path}: no such file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf DecodeError and friends: never a trace
        raise ONNXImportError(f"{path}: not a valid ONNX file ({_first_line(e)})") from None
    if not model.HasField("graph") or not model.opset_import:
        raise ONNXImportError(f"{path}: not a valid ONNX file (no graph or no opset_import)")
    base = str(path.resolve().parent)
    try:
        from onnx.external_data_helper import load_external_data_for_model

        load_external_data_for_model(model, base)
    except Exception as e:
        raise ONNXImportError(f"{path}: cannot read external data ({_first_line(e)})") from None
    return model, base


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def default_opset(model: onnx.ModelProto) -> int:
    for o in model.opset_import:
        if o.domain in _STD_DOMAINS:
            return int(o.version)
    return 1  # a model importing no default-domain opset uses no standard op


def check_opset(model: onnx.ModelProto) -> None:
    opset = default_opset(model)
    latest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= latest:
        raise ONNXImportError(f"model uses opset {opset}; onnx {onnx.__version__} knows "
                              f"opsets {MIN_OPSET} to {latest}")


def check_model(model: onnx.ModelProto) -> None:
    """onnx's own checker (structure, names, attribute types)."""
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        raise ONNXImportError(f"invalid ONNX model: {_first_line(e)}") from None


def infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """onnx shape inference, strict: inconsistent shapes or types fail here, naming the node."""
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True,
                                                 data_prop=True)
    except Exception as e:
        raise ONNXImportError(f"invalid ONNX model: {_first_line(e)}") from None


def inline_functions(model: onnx.ModelProto) -> onnx.ModelProto:
    """Model-local functions become their bodies (onnx's own inliner)."""
    if not model.functions:
        return model
    from onnx import inliner

    return inliner.inline_local_functions(model)


def iter_nodes(graph: onnx.GraphProto):
    """Every node, subgraphs (If/Loop/Scan bodies) included."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from iter_nodes(attr.g)
            for g in attr.graphs:
                yield from iter_nodes(g)


def has_function_body(op_type: str, opset: int) -> bool:
    """Can the node be expanded into its schema's function body?"""
    try:
        schema = onnx.defs.get_schema(op_type, opset, "")
    except Exception:
        return False
    return bool(schema.has_function or schema.has_context_dependent_function)


def refuse_unsupported(graph: onnx.GraphProto, opset: int) -> None:
    """One error listing every op type we cannot convert, with its count and first node."""
    counts: Counter = Counter()
    first: dict[str, str] = {}
    for node in iter_nodes(graph):
        key = node.op_type if node.domain in _STD_DOMAINS else f"{node.domain}.{node.op_type}"
        if lookup(node.op_type, opset, node.domain) or (
                node.domain in _STD_DOMAINS and has_function_body(node.op_type, opset)):
            continue
        counts[key] += 1
        first.setdefault(key, node.name or "<unnamed>")
    if counts:
        items = ", ".join(f"{op} x{n} (first: {first[op]!r})" for op, n in sorted(counts.items()))
        raise ONNXImportError(f"unsupported ONNX op(s) at opset {opset}: {items}")
