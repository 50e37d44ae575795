"""Control flow, where it is static: If with a condition known at import time becomes
the taken branch, converted in place."""
from __future__ import annotations

import numpy as np

from ..registry import converter


@converter("If")
def if_(ctx, node):
    cond = ctx.const(0, "cond (only an If whose condition is known at import time is supported)")
    branch = ctx.attr("then_branch") if bool(np.asarray(cond).reshape(-1)[0]) else ctx.attr("else_branch")
    for t in branch.initializer:
        from onnx import numpy_helper

        ctx.env[t.name] = numpy_helper.to_array(t)
    ctx.convert_nodes(branch.node, ctx.opset)
    return tuple(ctx.env[o.name] for o in branch.output)
