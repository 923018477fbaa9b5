"""Frozen, validated, hashable parameter objects (the *declarations* of spikegate).

A declaration only describes a model component; builders in :mod:`spikegate.network`
turn declarations into Brian2 objects. Declarations compare and hash by value, with
quantities compared in SI units, so they can be used as dictionary keys and in scans.
"""
from __future__ import annotations

import dataclasses

from .quantities import quantity_key, format_quantity


class Declaration:
    """Mixin for ``@dataclass(frozen=True, eq=False)`` parameter objects.

    Subclasses validate their fields in ``__post_init__`` and raise
    :class:`~spikegate.errors.ParameterError` naming the field and allowed range.
    """

    def _key(self):
        return (type(self).__name__,) + tuple(
            quantity_key(getattr(self, f.name)) for f in dataclasses.fields(self))

    def __eq__(self, other):
        return type(other) is type(self) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def replace(self, **changes):
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Fields as TOML-friendly values (quantities as strings such as ``'20.0 ms'``)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Declaration):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = [format_quantity(x) for x in v]
            else:
                v = format_quantity(v)
            out[f.name] = v
        return out

    def _set(self, name, value):
        # frozen dataclasses: normalised values are written once during validation
        object.__setattr__(self, name, value)


def declaration(cls):
    """Class decorator: a frozen dataclass with value-based equality and hashing."""
    cls = dataclasses.dataclass(frozen=True, eq=False)(cls)
    return cls


def default(value):
    """Dataclass default for a quantity (quantities are numpy arrays, so need a factory)."""
    return dataclasses.field(default_factory=lambda: value)
