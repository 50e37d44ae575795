"""The runtime's errors: each says in one line what is wrong and where."""
from __future__ import annotations


class ArtifactError(Exception):
    """The artifact cannot be used: missing, tampered, of an unknown format, or for another device."""


class InputError(ValueError):
    """Inputs or state given to a loaded module do not fit its signature."""


class NonFiniteLossError(ArithmeticError):
    """A training step's loss was NaN or infinite; its updates were not applied."""
