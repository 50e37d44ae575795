"""Ops without a converter whose schema defines them as a function of other ops.

onnx ships function bodies for many ops (LayerNormalization, Gelu, Attention,
the losses, ...). We take the body for the model's opset (context-dependent ones
need the inputs' types), rename its tensors apart, and convert it node by node
with the body's own opset, using onnx's own expansion helper.
"""
from __future__ import annotations

import onnx
from onnx import FunctionProto

from .errors import ONNXImportError, node_label
from .exporter import DTYPE_TO_ONNX

_counter = [0]


def expand(ctx, node: onnx.NodeProto, opset: int) -> tuple[list[onnx.NodeProto], int]:
    """(body nodes, body opset) for `node`, or an ONNXImportError naming it."""
    from onnx.backend.test.case.node import function_expand_helper

    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    except Exception:
        raise ONNXImportError(f"{node_label(node)}: unsupported op at opset {opset}") from None
    node = _with_defaults(node, schema)
    fn = _function(ctx, node, schema, opset)
    if fn is None:
        raise ONNXImportError(f"{node_label(node)}: unsupported op at opset {opset}")
    _counter[0] += 1
    prefix = f"{node.name or node.op_type}__f{_counter[0]}__"
    body = function_expand_helper(node, fn, prefix)
    body_opset = next((o.version for o in fn.opset_import if o.domain in ("", "ai.onnx")), opset)
    return body, body_opset


def _with_defaults(node, schema) -> onnx.NodeProto:
    node = onnx.NodeProto.FromString(node.SerializeToString())
    have = {a.name for a in node.attribute}
    for name, attr in schema.attributes.items():
        if name not in have and attr.default_value and attr.default_value.name:
            node.attribute.append(attr.default_value)
    return node


def _best(versions, opset: int):
    ok = [v for v in versions if v <= opset]
    return max(ok) if ok else None


def _function(ctx, node, schema, opset: int):
    v = _best(schema.function_opset_versions, opset)
    if v is not None:
        return FunctionProto.FromString(schema.get_function_with_opset_version(v))
    v = _best(schema.context_dependent_function_opset_versions, opset)
    if v is None:
        return None
    types = [_type_proto(ctx, i).SerializeToString() for i in range(len(node.input))]
    data = schema.get_context_dependent_function_with_opset_version(
        v, node.SerializeToString(), types)
    return FunctionProto.FromString(data) if data else None


def _type_proto(ctx, i: int) -> onnx.TypeProto:
    t = ctx.input(i) if ctx.has_input(i) else None
    if t is None:
        return onnx.TypeProto()
    tt = ctx.type(t)
    shape = [d if isinstance(d, int) else str(d) for d in tt.shape]
    return onnx.helper.make_tensor_type_proto(DTYPE_TO_ONNX[tt.dtype], shape)
