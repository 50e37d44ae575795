"""The pass pipelines, in one place, as plain lists read top to bottom.

`run_pipeline` runs the passes in order; with AOT_DEBUG=1 (tests set it) the
verifier checks the graph after every pass, and an error names the pass that
broke it. With `dump_dir`, the IR text after each step is written there as
`01-fold_constants.air`, `02-simplify.air`, ... (`00-input.air` is the graph
as it came in), which is what `--dump-ir` shows.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Optional, Sequence

from aot.ir import Graph, IRError, print_graph, verify
from aot.passes.cse import cse
from aot.passes.dce import dce
from aot.passes.fold_constants import fold_constants
from aot.passes.layout import fold_layout_transposes
from aot.passes.simplify import simplify

Pass = Callable[[Graph], Graph]

INFERENCE: list[Pass] = [
    fold_layout_transposes,  # transpose -> NCHW conv/pool -> transpose becomes the NHWC op
    fold_constants,  # constants computed once, here, with the numpy references
    simplify,        # x*1, x+0, double transposes, no-op reshapes and casts
    cse,             # one node per distinct computation (and one param per small constant)
    dce,             # what the steps above left unused
]

# Training steps and evaluation take the same steps: none folds weights or state.
TRAINING: list[Pass] = INFERENCE


def pass_name(p: Pass) -> str:
    """`fold_constants` for a function, the class name in snake case for a pass object."""
    name = getattr(p, "__name__", None)
    return name or re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", type(p).__name__).lower()


def run_pipeline(graph: Graph, passes: Sequence[Pass],
                 dump_dir: Optional[os.PathLike] = None) -> Graph:
    """Run `passes` in order and return the final graph (the input graph is not modified)."""
    debug = os.environ.get("AOT_DEBUG") == "1"
    dump = _dumper(dump_dir)
    dump(0, "input", graph)
    for i, p in enumerate(passes, 1):
        graph = p(graph)
        if debug:
            _verify_after(graph, pass_name(p))
        dump(i, pass_name(p), graph)
    return graph


def optimize_for_inference(graph: Graph, dump_dir: Optional[os.PathLike] = None) -> Graph:
    return run_pipeline(graph, INFERENCE, dump_dir)


def _verify_after(graph: Graph, name: str) -> None:
    try:
        verify(graph)
    except IRError as e:
        raise IRError(f"after pass {name}: {e}") from e


def _dumper(dump_dir):
    if dump_dir is None:
        return lambda i, name, graph: None
    root = Path(dump_dir)
    root.mkdir(parents=True, exist_ok=True)

    def dump(i: int, name: str, graph: Graph) -> None:
        (root / f"{i:02d}-{name}.air").write_text(print_graph(graph))

    return dump


def training_entries(spec, inference: Graph, dump_dir: Optional[os.PathLike] = None) -> dict:
    """The three entry points of a trainable artifact, each optimised:
    predict (inference), train_step (forward, loss, gradients, update) and evaluate."""
    from aot.passes.train_step import eval_step, train_step

    sub = (lambda name: Path(dump_dir) / name) if dump_dir else (lambda name: None)
    return {"predict": run_pipeline(inference, INFERENCE, sub("predict")),
            "train_step": run_pipeline(train_step(spec), TRAINING, sub("train_step")),
            "evaluate": run_pipeline(eval_step(spec, inference), INFERENCE, sub("evaluate"))}
