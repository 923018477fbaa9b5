"""Parsing and validating physical quantities (Brian2 units) for declarations and configs."""
from __future__ import annotations

import math
import re

import brian2
from brian2 import Quantity, get_dimensions
from brian2.units.fundamentalunits import DIMENSIONLESS

from .errors import ParameterError

#: Unit names accepted in configuration strings such as ``"20 ms"``.
UNITS = {
    "s": brian2.second, "second": brian2.second, "ms": brian2.ms, "us": brian2.us,
    "Hz": brian2.Hz, "kHz": brian2.kHz,
    "V": brian2.volt, "volt": brian2.volt, "mV": brian2.mV,
    "A": brian2.amp, "nA": brian2.nA, "pA": brian2.pA,
    "J": brian2.joule, "pJ": brian2.pjoule, "nJ": brian2.njoule,
}

_QUANTITY = re.compile(r"^\s*([-+]?(?:inf|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?))\s*\*?\s*([A-Za-z]+)?\s*$")

#: The dimension of each unit keyword used by validators, with an example for error messages.
DIMENSION_EXAMPLES = {
    "second": ("a time", "20 ms"),
    "Hz": ("a rate", "100 Hz"),
    "volt": ("a voltage", "-65 mV"),
    "1/second": ("a rate constant", "5 Hz"),
}


def parse_quantity(text, where: str):
    """Parse ``"20 ms"``, ``"1e-3 second"`` or ``"inf ms"`` into a Brian2 quantity.

    Plain numbers (int/float) are returned unchanged (dimensionless).
    """
    if isinstance(text, bool):
        raise ParameterError(f"{where} = {text!r}: expected a number or a quantity such as '20 ms'")
    if isinstance(text, (int, float, Quantity)):
        return text
    if not isinstance(text, str):
        raise ParameterError(f"{where} = {text!r}: expected a number or a quantity such as '20 ms'")
    m = _QUANTITY.match(text)
    if not m:
        raise ParameterError(f"{where} = {text!r}: expected '<number> <unit>', e.g. '20 ms'")
    number = float(m.group(1))
    unit_name = m.group(2)
    if unit_name is None:
        return number
    if unit_name not in UNITS:
        raise ParameterError(
            f"{where} = {text!r}: unknown unit {unit_name!r}; allowed units: {', '.join(sorted(UNITS))}")
    return number * UNITS[unit_name]


def check_quantity(where: str, value, unit, *, minimum=None, strict=False, allow_inf=False, example=None):
    """Validate that ``value`` has the dimensions of ``unit`` and lies in range; return it.

    Parameters
    ----------
    where : str
        Name used in error messages, e.g. ``"LIF.tau_m"``.
    value : Quantity
    unit : Quantity
        A unit with the required dimensions (e.g. ``ms``).
    minimum : Quantity, optional
        Lower bound; ``strict`` makes it exclusive.
    allow_inf : bool
        Whether an infinite value is allowed.
    """
    example = example or f"1*{unit!s}"
    if isinstance(value, str):
        value = parse_quantity(value, where)
    if isinstance(value, bool) or not isinstance(value, (int, float, Quantity)):
        raise ParameterError(f"{where} = {value!r}: expected a quantity with units of {unit!s}, e.g. {example}")
    if get_dimensions(value) is not get_dimensions(unit):
        raise ParameterError(
            f"{where} = {value!r}: wrong unit, expected units of {unit!s} (e.g. {example})")
    number = float(value / unit)
    if math.isnan(number):
        raise ParameterError(f"{where} = {value!r}: must not be NaN")
    if math.isinf(number) and not (allow_inf and number > 0):
        raise ParameterError(f"{where} = {value!r}: must be finite")
    if minimum is not None:
        low = float(minimum / unit)
        if number < low or (strict and number == low):
            rel = ">" if strict else ">="
            raise ParameterError(f"{where} = {value!r}: must be {rel} {minimum!r}")
    return Quantity(value) if isinstance(value, Quantity) else value


def check_number(where: str, value, *, minimum=None, maximum=None, strict_min=False, strict_max=False,
                 integer=False, allow_inf=False):
    """Validate a dimensionless number (optionally an integer) and its range; return it."""
    if isinstance(value, str):
        value = parse_quantity(value, where)
    if isinstance(value, Quantity):
        if get_dimensions(value) is not DIMENSIONLESS:
            raise ParameterError(f"{where} = {value!r}: expected a dimensionless number")
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "an integer" if integer else "a number"
        raise ParameterError(f"{where} = {value!r}: expected {kind}")
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        raise ParameterError(f"{where} = {value!r}: expected an integer")
    if math.isnan(value):
        raise ParameterError(f"{where} = {value!r}: must not be NaN")
    if math.isinf(value) and not (allow_inf and value > 0):
        raise ParameterError(f"{where} = {value!r}: must be finite")
    rng = []
    if minimum is not None:
        rng.append(f"{'>' if strict_min else '>='} {minimum}")
    if maximum is not None:
        rng.append(f"{'<' if strict_max else '<='} {maximum}")
    bad = ((minimum is not None and (value < minimum or (strict_min and value == minimum)))
           or (maximum is not None and (value > maximum or (strict_max and value == maximum))))
    if bad:
        raise ParameterError(f"{where} = {value!r}: must be {' and '.join(rng)}")
    return int(value) if integer else value


def quantity_key(value):
    """A hashable, exact key for a number or quantity (value in SI units and dimensions)."""
    if isinstance(value, Quantity):
        return (float(value), str(get_dimensions(value)))
    return value


def format_quantity(value) -> str:
    """Render a quantity as a config string that :func:`parse_quantity` reads back."""
    if isinstance(value, Quantity):
        dim = get_dimensions(value)
        for name in ("ms", "Hz", "mV", "second", "volt"):
            u = UNITS[name]
            if get_dimensions(u) is dim:
                return f"{float(value / u)!r} {name}"
        return str(value)
    return value
