"""Physical quantities (Brian2 units) and the validators every declaration uses.

One unit table serves the whole package: configuration strings such as ``"20 ms"``, the
energy catalogue's figures (``"10 pJ"``) and rendered quantities all go through it.
Every validator raises :class:`~spikegate.errors.ParameterError` whose message starts with
the name it was given (``"LIF.tau_m = ..."``) and states the allowed values.
"""
from __future__ import annotations

import math
import re

from brian2 import Quantity, Unit, get_dimensions
from brian2.units import allunits, stdunits
from brian2.units.fundamentalunits import DIMENSIONLESS

from .errors import ParameterError

#: Unit names accepted in quantity strings such as ``"20 ms"`` or ``"10 pJ"``.
UNITS = {
    "s": allunits.second, "second": allunits.second, "ms": allunits.msecond, "us": allunits.usecond,
    "Hz": allunits.hertz, "kHz": allunits.khertz,
    "V": allunits.volt, "volt": allunits.volt, "mV": allunits.mvolt,
    "A": allunits.amp, "nA": allunits.namp, "pA": allunits.pamp,
    "J": allunits.joule, "mJ": allunits.mjoule, "uJ": allunits.ujoule, "nJ": allunits.njoule,
    "pJ": allunits.pjoule, "fJ": allunits.fjoule, "aJ": allunits.ajoule, "zJ": allunits.zjoule,
}

#: Units in which :func:`format_quantity` writes a quantity back, by preference.
_FORMAT_UNITS = ("ms", "Hz", "mV", "second", "volt", "J")

_QUANTITY = re.compile(r"^\s*([-+]?(?:inf(?:inity)?|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?))"
                       r"\s*\*?\s*([A-Za-z]+)?\s*$",
                       re.IGNORECASE)


def units_of(dimension) -> list[str]:
    """Names in :data:`UNITS` with the dimensions of ``dimension`` (a unit such as ``joule``)."""
    dim = get_dimensions(dimension)
    return [name for name, unit in UNITS.items() if get_dimensions(unit) is dim]


def parse_quantity(text, where: str):
    """Parse ``"20 ms"``, ``"1e-3 second"`` or ``"inf ms"`` into a Brian2 quantity.

    Numbers (int/float) and quantities are returned unchanged; a string without a unit
    gives a float (``"inf"`` gives infinity).
    """
    if isinstance(text, bool):
        raise ParameterError(f"{where} = {text!r}: expected a number or a quantity such as '20 ms'", where)
    if isinstance(text, (int, float, Quantity)):
        return text
    if not isinstance(text, str):
        raise ParameterError(f"{where} = {text!r}: expected a number or a quantity such as '20 ms'", where)
    m = _QUANTITY.match(text)
    if not m:
        raise ParameterError(f"{where} = {text!r}: expected '<number> <unit>', e.g. '20 ms'", where)
    number = float(m.group(1))
    unit_name = m.group(2)
    if unit_name is None:
        return number
    unit = brian_unit(unit_name)
    if unit is None:
        raise ParameterError(f"{where} = {text!r}: unknown unit {unit_name!r}; allowed: Brian2's unit names "
                             f"(e.g. {', '.join(sorted(UNITS))}, msecond, mvolt, Gsecond)", where)
    return number * unit


def brian_unit(name: str):
    """The Brian2 unit called ``name`` (``ms``, ``msecond``, ``kHz``, ``pjoule``, ...), or None."""
    if name in UNITS:
        return UNITS[name]
    for table in (allunits, stdunits):   # stdunits: the short names (nS, pF, uS, ...)
        unit = getattr(table, name, None)
        if isinstance(unit, Unit):
            return unit
    return None


def check_quantity(where: str, value, unit, *, minimum=None, strict=False, allow_inf=False, example=None):
    """Validate that ``value`` has the dimensions of ``unit`` and lies in range; return it.

    Parameters
    ----------
    where : str
        Name used in error messages, e.g. ``"LIF.tau_m"``.
    value : Quantity or str
    unit : Quantity
        A unit with the required dimensions (e.g. ``ms``).
    minimum : Quantity, optional
        Lower bound; ``strict`` makes it exclusive.
    allow_inf : bool
        Whether a positive infinite value is allowed.
    """
    example = example or f"1*{unit!s}"
    if isinstance(value, str):
        value = parse_quantity(value, where)
    if isinstance(value, bool) or not isinstance(value, (int, float, Quantity)):
        raise ParameterError(f"{where} = {value!r}: expected a quantity with units of {unit!s}, e.g. {example}",
                             where)
    if get_dimensions(value) is not get_dimensions(unit):
        raise ParameterError(f"{where} = {value!r}: wrong unit, expected units of {unit!s} (e.g. {example})", where)
    number = float(value / unit)
    if math.isnan(number):
        raise ParameterError(f"{where} = {value!r}: must not be NaN", where)
    if math.isinf(number) and not (allow_inf and number > 0):
        raise ParameterError(f"{where} = {value!r}: must be finite", where)
    if minimum is not None:
        low = float(minimum / unit)
        if number < low or (strict and number == low):
            rel = ">" if strict else ">="
            raise ParameterError(f"{where} = {value!r}: must be {rel} {minimum!r}", where)
    return Quantity(value) if isinstance(value, Quantity) else value


def check_number(where: str, value, *, minimum=None, maximum=None, strict_min=False, strict_max=False,
                 integer=False, allow_inf=False):
    """Validate a dimensionless number (optionally an integer) and its range; return it."""
    if isinstance(value, str):
        value = parse_quantity(value, where)
    if isinstance(value, Quantity):
        if get_dimensions(value) is not DIMENSIONLESS:
            raise ParameterError(f"{where} = {value!r}: expected a dimensionless number", where)
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "an integer" if integer else "a number"
        raise ParameterError(f"{where} = {value!r}: expected {kind}", where)
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        raise ParameterError(f"{where} = {value!r}: expected an integer", where)
    if math.isnan(value):
        raise ParameterError(f"{where} = {value!r}: must not be NaN", where)
    if math.isinf(value) and not (allow_inf and value > 0):
        raise ParameterError(f"{where} = {value!r}: must be finite", where)
    rng = []
    if minimum is not None:
        rng.append(f"{'>' if strict_min else '>='} {minimum}")
    if maximum is not None:
        rng.append(f"{'<' if strict_max else '<='} {maximum}")
    bad = ((minimum is not None and (value < minimum or (strict_min and value == minimum)))
           or (maximum is not None and (value > maximum or (strict_max and value == maximum))))
    if bad:
        raise ParameterError(f"{where} = {value!r}: must be {' and '.join(rng)}", where)
    return int(value) if integer else value


def check_choice(where: str, value, allowed):
    """``value`` if it is one of ``allowed``."""
    if value not in allowed:
        raise ParameterError(f"{where} = {value!r}: unknown; allowed: {', '.join(allowed)}", where)
    return value


def check_bool(where: str, value) -> bool:
    """``value`` if it is a bool (TOML ``true``/``false``)."""
    if not isinstance(value, bool):
        raise ParameterError(f"{where} = {value!r}: expected true or false", where)
    return value


def check_text(where: str, value, required: bool = True) -> str:
    """``value`` if it is a string (non-blank when ``required``)."""
    if not isinstance(value, str):
        raise ParameterError(f"{where} = {value!r}: expected a text string", where)
    if required and not value.strip():
        raise ParameterError(f"{where} = {value!r}: must not be empty", where)
    return value


def quantity_key(value):
    """A hashable, exact key for a number or quantity (value in SI units and dimensions)."""
    if isinstance(value, Quantity):
        return (float(value), str(get_dimensions(value)))
    return value


def format_quantity(value):
    """Render a quantity as a config string that :func:`parse_quantity` reads back."""
    if isinstance(value, Quantity):
        dim = get_dimensions(value)
        for name in _FORMAT_UNITS:
            u = UNITS[name]
            if get_dimensions(u) is dim:
                return f"{float(value / u)!r} {name}"
        return str(value)
    return value
