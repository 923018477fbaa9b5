"""Frozen, validated, hashable parameter objects: the *declarations* of spikegate.

A declaration only describes a model component; the backends (:mod:`spikegate.backends`)
turn declarations into simulator objects. Declarations compare and hash by value, with
quantities compared in SI units, so they can be dictionary keys and scan points. Their
field names are the keys of the model file's sections, and every field is validated in
``__post_init__`` with a message that names ``Class.field``, the bad value and the
allowed range.
"""
from __future__ import annotations

import dataclasses

from ..units import quantity_key, format_quantity


class Declaration:
    """Mixin for ``@declaration`` parameter objects (frozen dataclasses)."""

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

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self, fields=None) -> dict:
        """Fields (all, or those named) as TOML-friendly values (quantities as ``'20.0 ms'``)."""
        out = {}
        for name in fields or self.field_names():
            v = getattr(self, name)
            if isinstance(v, Declaration):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = [format_quantity(x) for x in v]
            else:
                v = format_quantity(v)
            out[name] = v
        return out

    def _set(self, name, value):
        # frozen dataclasses: normalised values are written once during validation
        object.__setattr__(self, name, value)


def declaration(cls):
    """Class decorator: a frozen dataclass with value-based equality and hashing."""
    return dataclasses.dataclass(frozen=True, eq=False)(cls)


def default(value):
    """Dataclass default for a quantity (quantities are numpy arrays, so need a factory)."""
    return dataclasses.field(default_factory=lambda: value)
