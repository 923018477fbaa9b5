"""Frozen, validated, hashable parameter objects: the *declarations* of spikegate.

A declaration only describes a model component; the backends (:mod:`spikegate.backends`)
turn declarations into simulator objects. Declarations compare and hash by value, with
quantities compared in SI units, so they can be dictionary keys and scan points.

**Parameters are declared once.** Each field is a :func:`param`: its default, unit, bounds
or choices, which backend reads it, whether the generated code depends on it (``compiled``)
and a one-line meaning. From that one declaration come

* the validation in ``__post_init__``, with the message users know
  (``LIF.tau_m = -1. * msecond: must be > 0. * second``); a class adds cross-field checks in
  :meth:`Declaration.validate`;
* the model file's keys (a section's keys are its declaration's fields) and which backend
  reads them (:meth:`Declaration.backend_fields`);
* the compiled engine's structure key (:meth:`Declaration.structure`: only ``compiled``
  fields; the others are run arguments);
* the parameter tables of the documentation (:func:`parameter_table`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from brian2 import Quantity

from ..units import (check_bool, check_choice, check_number, check_quantity, check_text, format_quantity,
                     quantity_key)


@dataclass(frozen=True)
class Param:
    """How one field of a declaration is checked and what it means (see :func:`param`)."""

    unit: object = None            # a Brian2 unit: a quantity of these dimensions
    minimum: object = None
    maximum: object = None
    strict_min: bool = False
    strict_max: bool = False
    integer: bool = False
    allow_inf: bool = False
    choices: tuple | None = None
    kind: str = "number"           # number, quantity, choice, bool, text, any
    optional: bool = False         # None allowed (means: not given)
    required: bool = False         # text: must not be empty
    cast: type | None = None       # float: numbers stored as floats
    backend: str | None = None     # the one backend that reads it (None: every backend)
    compiled: bool = False         # the generated code depends on it
    example: str | None = None
    doc: str = ""

    def check(self, where: str, value):
        """``value`` validated (and normalised) for the field named ``where``."""
        if value is None and self.optional:
            return None
        if self.kind == "quantity":
            value = check_quantity(where, value, self.unit, minimum=self.minimum, strict=self.strict_min,
                                   allow_inf=self.allow_inf, example=self.example)
            if self.maximum is not None and value > self.maximum:
                from ..errors import ParameterError

                raise ParameterError(f"{where} = {value!r}: must be <= {self.maximum!r}", where)
            return value
        if self.kind == "number":
            value = check_number(where, value, minimum=self.minimum, maximum=self.maximum, strict_min=self.strict_min,
                                 strict_max=self.strict_max, integer=self.integer, allow_inf=self.allow_inf)
            return self.cast(value) if self.cast is not None else value
        if self.kind == "choice":
            return check_choice(where, value, self.choices)
        if self.kind == "bool":
            return check_bool(where, value)
        if self.kind == "text":
            return check_text(where, value, required=self.required)
        return value

    def allowed(self) -> str:
        """The allowed values in words (documentation)."""
        if self.kind == "choice":
            return ", ".join(map(str, self.choices))
        if self.kind == "bool":
            return "true, false"
        if self.kind in ("text", "any"):
            return ""
        low = "" if self.minimum is None else f"{'>' if self.strict_min else '>='} {_show(self.minimum)}"
        high = "" if self.maximum is None else f"{'<' if self.strict_max else '<='} {_show(self.maximum)}"
        rng = " and ".join(x for x in (low, high) if x)
        kind = "integer" if self.integer else ("time" if self.kind == "quantity" and self.unit is not None
                                               and str(self.unit.dim) == "s" else "")
        return ", ".join(x for x in (kind, rng, "inf allowed" if self.allow_inf else "") if x)


def _show(value) -> str:
    return format_quantity(value) if isinstance(value, Quantity) else f"{value:g}"


def param(default=dataclasses.MISSING, **meta):
    """A declaration field: its ``default`` and its :class:`Param` metadata.

    ``kind`` is inferred when not given: ``unit`` makes a quantity, ``choices`` a choice, a
    boolean default a bool, a string default text. Quantities and other mutable defaults are
    given by a factory (quantities are numpy arrays).
    """
    if "kind" not in meta:
        meta["kind"] = ("quantity" if meta.get("unit") is not None else "choice" if meta.get("choices") is not None
                        else "bool" if isinstance(default, bool) else "text" if isinstance(default, str) else "number")
    if meta.get("choices") is not None:
        meta["choices"] = tuple(meta["choices"])
    info = {"param": Param(**meta)}
    if isinstance(default, (Quantity, list, dict)) or (default is not dataclasses.MISSING and hasattr(default, "__array__")):
        return dataclasses.field(default_factory=lambda: default, metadata=info)
    return dataclasses.field(default=default, metadata=info)


def part(factory, doc: str = ""):
    """A field holding another declaration (``NetworkSpec.neuron``), built by ``factory``."""
    return dataclasses.field(default_factory=factory, metadata={"param": Param(kind="any", doc=doc)})


class Declaration:
    """Mixin for ``@declaration`` parameter objects (frozen dataclasses)."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            p = f.metadata.get("param")
            if p is not None:
                self._set(f.name, p.check(f"{type(self).__name__}.{f.name}", getattr(self, f.name)))
        self.validate()

    def validate(self) -> None:
        """Checks across fields (after each field was checked on its own)."""

    @classmethod
    def params(cls) -> dict:
        """``{field name: Param}``."""
        return {f.name: f.metadata["param"] for f in dataclasses.fields(cls) if "param" in f.metadata}

    @classmethod
    def backend_fields(cls, backend: str) -> tuple[str, ...]:
        """The fields ``backend`` reads (those of every backend and its own)."""
        return tuple(name for name, p in cls.params().items() if p.backend in (None, backend))

    def structure(self) -> dict:
        """What generated code depends on: the ``compiled`` fields, and the structure of parts."""
        out = {"type": type(self).__name__}
        for f in dataclasses.fields(self):
            value, p = getattr(self, f.name), f.metadata.get("param")
            if isinstance(value, Declaration):
                out[f.name] = value.structure()
            elif p is not None and p.compiled:
                out[f.name] = quantity_key(value) if not isinstance(value, tuple) else [quantity_key(v) for v in value]
        return out

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


def parameter_table(cls, section: str) -> str:
    """A Markdown table of a declaration's parameters: key, default, allowed values, backend,
    whether it is compiled, meaning (generated into ``docs/parameters.md``)."""
    def cell(text) -> str:
        return str(text).replace("|", "\\|")

    def shown(value) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, float) and math.isinf(value):
            return "inf"
        if isinstance(value, tuple):
            return str([format_quantity(v) for v in value])
        return str(format_quantity(value))

    rows = ["| key | default | allowed | backend | compiled | meaning |", "| --- | --- | --- | --- | --- | --- |"]
    for f in dataclasses.fields(cls):
        p = f.metadata.get("param")
        value = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if p is None or isinstance(value, Declaration):
            continue
        rows.append(f"| `{section}.{f.name}` | `{cell(shown(value))}` | {cell(p.allowed())} | {p.backend or 'both'} | "
                    f"{'yes' if p.compiled else ''} | {cell(p.doc)} |")
    return "\n".join(rows)
