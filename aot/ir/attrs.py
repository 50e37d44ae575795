"""Typed op attributes: every op declares a frozen dataclass, and `make_attrs`
checks and coerces user values against its field annotations.

Supported field types: int, float, bool, str, DType, Literal[...], tuple[int, ...],
tuple[float, ...], tuple[Dim, ...] (ints or symbol names), and Optional of these.
Anything else is an error at registration time, not at use.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

import numpy as np

from .types import DType, Dim


class AttrError(ValueError):
    """An attribute is missing, unknown, or of the wrong type."""


@dataclass(frozen=True)
class NoAttrs:
    """For ops without attributes."""


def _is_optional(tp) -> tuple[bool, Any]:
    if typing.get_origin(tp) is Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return True, args[0]
    return False, tp


def _coerce(value, tp, where: str):
    optional, tp = _is_optional(tp)
    if value is None:
        if optional:
            return None
        raise AttrError(f"{where}: required, got None")
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise AttrError(f"{where}: expected one of {list(choices)}, got {value!r}")
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise AttrError(f"{where}: expected a list, got {value!r}")
        elem = args[0]
        items = list(value)
        if len(args) != 2 or args[1] is not Ellipsis:
            if len(items) != len(args):
                raise AttrError(f"{where}: expected {len(args)} items, got {len(items)}")
            return tuple(_coerce(v, t, where) for v, t in zip(items, args))
        return tuple(_coerce(v, elem, where) for v in items)
    if tp is Dim:
        if isinstance(value, str):
            return value
        return _coerce(value, int, where)
    if tp is bool:
        if isinstance(value, (bool, np.bool_)) or value in (0, 1):
            return bool(value)
        raise AttrError(f"{where}: expected a bool, got {value!r}")
    if tp is int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise AttrError(f"{where}: expected an int, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise AttrError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise AttrError(f"{where}: expected a string, got {value!r}")
        return value
    if tp is DType:
        try:
            return DType.of(value)
        except (ValueError, TypeError):
            raise AttrError(f"{where}: expected a dtype, got {value!r}") from None
    raise TypeError(f"{where}: unsupported attribute type {tp}")


def make_attrs(cls: type, values: dict, where: str = "attrs"):
    """Build an instance of the attrs dataclass `cls` from a dict, coercing each field."""
    if isinstance(values, cls):
        return values
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise AttrError(f"{where}: unknown attribute(s) {unknown}; known: {sorted(fields)}")
    kwargs = {}
    for name, f in fields.items():
        if name in values:
            kwargs[name] = _coerce(values[name], hints[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise AttrError(f"{where}: missing attribute {name!r}")
    return cls(**kwargs)


def attrs_dict(attrs) -> dict:
    """The attribute values, in field order (for printing and exporting)."""
    return {f.name: getattr(attrs, f.name) for f in dataclasses.fields(attrs)}


def non_default_attrs(attrs) -> dict:
    out = {}
    for f in dataclasses.fields(attrs):
        v = getattr(attrs, f.name)
        if f.default is dataclasses.MISSING or v != f.default:
            out[f.name] = v
    return out


def check_attrs_class(cls: type) -> None:
    """Fail at registration if an attrs class uses a type `make_attrs` cannot coerce."""
    if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):
        raise TypeError(f"{cls.__name__} must be a frozen dataclass")
    for name, tp in typing.get_type_hints(cls).items():
        sample = {int: 0, float: 0.0, bool: False, str: "", DType: "float32"}
        _, base = _is_optional(tp)
        origin = typing.get_origin(base)
        if origin in (Literal, tuple) or base in sample or base is Dim:
            continue
        raise TypeError(f"{cls.__name__}.{name}: unsupported attribute type {tp}")


__all__ = ["AttrError", "NoAttrs", "make_attrs", "attrs_dict", "non_default_attrs", "check_attrs_class", "Optional"]
