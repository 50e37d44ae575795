"""The op registry: one `OpDef` per op holds everything about it side by side.

The op families in `aot/ops/*.py` call `register(...)`; the IR looks ops up by
name with `get_op`. Keeping the table here (not in `aot.ops`) lets the IR
construct nodes without importing every family at module import time.

Signatures, all with the attrs first so that every rule reads the same way:

    infer(attrs, *input_types) -> TensorType | tuple[TensorType, ...]
    reference(attrs, *arrays) -> np.ndarray | tuple[np.ndarray, ...]
    lower(ctx, attrs, *relax_exprs) -> relax.Expr | tuple[relax.Expr, ...]
    vjp(ctx, attrs, inputs, outputs, output_grads) -> list[Value | None]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from .attrs import NoAttrs, check_attrs_class


@dataclass(frozen=True)
class OpDef:
    name: str
    infer: Callable
    reference: Callable
    lower: Optional[Callable] = None
    attrs: type = NoAttrs
    num_inputs: Optional[int] = None  # None: variadic
    num_outputs: Optional[int] = 1  # None: decided by the type rule (split)
    vjp: Optional[Callable] = None
    quant: Optional[object] = None
    # fp16/bf16 inference (passes/cast_precision.py): "accumulate" reads 16-bit inputs and
    # accumulates in float32 (the op's out_dtype attr); "follow" runs in 16 bits when its
    # float inputs are held in 16 bits; None keeps float32 (softmax, reductions, exp/log...).
    precision: Optional[str] = None
    doc: str = ""
    # Inputs that must be compile-time constants (e.g. a shape tensor); index list.
    const_inputs: tuple[int, ...] = field(default=())

    def __repr__(self) -> str:
        return f"OpDef({self.name})"


_REGISTRY: dict[str, OpDef] = {}
_LOADED = False


def register(name: str, *, infer, reference, lower=None, attrs=NoAttrs, num_inputs=None,
             num_outputs=1, vjp=None, quant=None, precision=None, doc="",
             const_inputs=()) -> OpDef:
    """Add an op to the registry. Names are unique: a second registration is a bug."""
    if name in _REGISTRY:
        raise ValueError(f"op {name!r} registered twice")
    check_attrs_class(attrs)
    if precision not in (None, "accumulate", "follow"):
        raise ValueError(f"op {name!r}: precision must be None, 'accumulate' or 'follow'")
    op = OpDef(name, infer, reference, lower, attrs, num_inputs, num_outputs, vjp, quant,
               precision, doc, tuple(const_inputs))
    _REGISTRY[name] = op
    return op


def _load_families() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        import aot.ops  # noqa: F401  (registers every family)


def get_op(name: str) -> OpDef:
    _load_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}") from None


def all_ops() -> dict[str, OpDef]:
    _load_families()
    return dict(_REGISTRY)
