"""One table of op test cases drives every registry check.

Each op family has a `cases_<family>.py` beside this file with `CASES = [...]`
of `OpCase`s. `test_registry.py` expands them: the type rule agrees with the
numpy reference, the TVM lowering agrees with the reference (compiled for the
host CPU), and every registered op has at least one case.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from aot.ir import DType, GraphBuilder, TensorType


@dataclass
class OpCase:
    """op: registry name. inputs: one entry per op input, each either
    - a (shape, dtype) pair (random data; shape may hold symbols bound by `bind`),
    - a numpy array (used as is, fed as a graph input),
    - ("const", array): passed as a constant param (e.g. indices that must be in range).
    gen(rng, shape, dtype) makes random data when the default (normal floats, small ints) won't do.
    """

    op: str
    inputs: Sequence
    attrs: dict = field(default_factory=dict)
    id: str = ""
    bind: dict = field(default_factory=dict)
    gen: Optional[Callable] = None
    rtol: float = 1e-5
    atol: float = 1e-5
    compile: bool = True  # False only for cases the host CPU cannot run (documented in the case)
    grad: bool = True  # False where finite differences are meaningless (a kink or jump at the input)

    def label(self) -> str:
        return f"{self.op}-{self.id}" if self.id else self.op


def default_gen(rng, shape, dtype: DType):
    if dtype == DType.bool:
        return rng.random(shape) > 0.5
    if dtype.is_int:
        lo = 0 if not dtype.is_signed else -5
        return rng.integers(lo, 6, size=shape).astype(dtype.numpy)
    return rng.standard_normal(shape).astype(dtype.numpy)


def build_case(case: OpCase, rng):
    """-> (graph, feeds) for one case."""
    b = GraphBuilder(case.op)
    feeds, args = {}, []
    for i, spec in enumerate(case.inputs):
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and spec[0] == "const":
            args.append(b.const(np.asarray(spec[1]), name=f"c{i}"))
            continue
        if isinstance(spec, np.ndarray):
            t, data = TensorType(spec.shape, DType.of(spec.dtype)), spec
        else:
            t = TensorType(spec[0], spec[1])
            concrete = tuple(case.bind.get(d, d) for d in t.shape)
            data = (case.gen or default_gen)(rng, concrete, t.dtype)
            data = np.asarray(data).astype(t.dtype.numpy)
        name = f"x{i}"
        args.append(b.input(name, t))
        feeds[name] = data
    out = b.emit(case.op, *args, **case.attrs)
    outs = list(out) if isinstance(out, tuple) else [out]
    return b.build(outs), feeds


def all_cases() -> list[OpCase]:
    import tests.ops as pkg

    cases = []
    for m in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if m.name.startswith("cases_"):
            cases += importlib.import_module(f"tests.ops.{m.name}").CASES
    return cases


def parse_type(text: str) -> TensorType:
    """'f32[N,3]' -> TensorType(("N", 3), float32): the error tables write types as IR text."""
    dtype, dims = text[:-1].split("[")
    return TensorType([int(d) if d.isdigit() else d for d in dims.split(",") if d], dtype)


def assert_type_error(op: str, types: Sequence[str], attrs: dict, message: str) -> None:
    """Building `op` on inputs of `types` fails with one line that names the op and says `message`."""
    import pytest

    from aot.ir import IRError

    b = GraphBuilder("bad")
    inputs = [b.input(f"x{i}", parse_type(t)) for i, t in enumerate(types)]
    with pytest.raises(IRError) as err:
        b.emit(op, *inputs, **attrs)
    text = str(err.value)
    assert message in text, text
    assert text.startswith(f"op {op}") and "\n" not in text, text
