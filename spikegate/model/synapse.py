r"""Finite-precision synapses: what a synapse stores, and what a write of it changes.

A synapse stores a :math:`b`-bit code :math:`c \in \{0, \dots, 2^b - 1\}` (offset binary)
for the weight

.. math::

    w(c) = (c - 2^{b-1})\,\delta, \qquad \delta = w_\mathrm{max} / 2^{b-1},

so the stored weights are the grid :math:`[-w_\mathrm{max}, w_\mathrm{max} - \delta]` with
zero on it. A learning rule proposes :math:`w + \Delta w`; the stored code becomes

.. math::

    c' = \mathrm{clip}\bigl(\lfloor (w + \Delta w)/\delta + 2^{b-1} + u \rfloor,\; 0,\; 2^b - 1\bigr),
    \qquad u = \tfrac12 \text{ (nearest)} \text{ or } u \sim U[0, 1) \text{ (stochastic)},

and the network uses :math:`w(c')`. Stochastic rounding is unbiased,
:math:`E[w(c')] = w + \Delta w` inside the range: a change smaller than a step still moves
the weight in expectation, where nearest rounding drops it.

A **write** is a change of stored state, :math:`c' \ne c`; it flips
:math:`\mathrm{popcount}(c \oplus c')` bits (the Hamming distance of the two codes; offset
binary and two's complement codes have the same distances). ``bits = 0`` keeps float64
weights: a write is any :math:`\Delta w \ne 0` (the seed papers' definition), and bits
flipped are not measured.

Pure numpy functions (:func:`quantize`, :func:`weights_of`, :func:`bit_flips`) hold the
math; :class:`SynapseFormat` is the declaration (the ``[synapse]`` section of a model file).
"""
from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from .declaration import Declaration, declaration, param

ROUNDINGS = ("nearest", "stochastic")
#: Most bits a stored code may have (codes are exact in float64 and popcounted as int64).
MAX_BITS = 24


@declaration
class SynapseFormat(Declaration):
    r"""How a synapse stores its weight: float64, or a :math:`b`-bit code (module docstring).

    Parameters
    ----------
    bits : int (0 or 2 to 24), default 0
        Bits of a stored weight; 0 keeps float64 weights.
    rounding : {"nearest", "stochastic"}, default "stochastic"
        How a proposed weight is rounded to a code; stochastic draws from the network's
        seeded random stream, so runs are reproducible.
    w_max : float (> 0) or None, default None
        Half-range of the codes. None: the rule's clipping range (``rule.w_max``) in a
        spiking network; a rate network's weights are not clipped, so it must be given there.
    """

    bits: int = param(0, minimum=0, maximum=MAX_BITS, integer=True, doc="bits of a stored weight (0: float64)")
    rounding: str = param("stochastic", choices=ROUNDINGS, compiled=True,
                          doc="rounding to a code: nearest, or stochastic (seeded, unbiased)")
    w_max: float | None = param(None, minimum=0, strict_min=True, optional=True, cast=float,
                                doc="half-range of the codes (default: rule.w_max; needed by the rate backend)")

    def validate(self):
        if self.bits == 1:
            raise ParameterError("SynapseFormat.bits = 1: a code needs at least 2 bits (a sign and a magnitude); "
                                 "allowed: 0 (float64) or 2 to 24", "SynapseFormat.bits")

    @property
    def quantized(self) -> bool:
        return self.bits > 0

    def structure(self) -> dict:
        """Whether weights are codes, and how they are rounded; the depth and range are run-time values."""
        return {"type": "SynapseFormat", "quantized": self.quantized,
                "rounding": self.rounding if self.quantized else None}

    def step(self, w_max: float) -> float:
        r""":math:`\delta = w_\mathrm{max} / 2^{b-1}` (0 for float weights)."""
        return float(w_max) / 2 ** (self.bits - 1) if self.quantized else 0.0

    def half(self) -> float:
        """:math:`2^{b-1}`, the code of weight zero (0 for float weights)."""
        return float(2 ** (self.bits - 1)) if self.quantized else 0.0

    def range_for(self, rule_w_max: float | None) -> float:
        """The codes' half-range: ``w_max`` if given, else the rule's clipping range."""
        if self.w_max is not None:
            return self.w_max
        if rule_w_max is None:
            raise ParameterError("SynapseFormat.w_max = None: required with bits > 0 on the rate backend (its "
                                 "weights are not clipped), for example 1.0", "SynapseFormat.w_max")
        return float(rule_w_max)


# --------------------------------------------------------------------------- pure functions
def quantize(w, bits: int, w_max: float, offset) -> np.ndarray:
    r"""Codes :math:`c = \mathrm{clip}(\lfloor w/\delta + 2^{b-1} + u \rfloor, 0, 2^b - 1)` as int64.

    ``offset`` is :math:`u`: 0.5 (nearest) or an array of uniform draws in [0, 1) (stochastic).
    """
    half = 2 ** (bits - 1)
    step = float(w_max) / half
    return np.clip(np.floor(np.asarray(w, dtype=float) / step + half + offset), 0, 2 * half - 1).astype(np.int64)


def weights_of(codes, bits: int, w_max: float) -> np.ndarray:
    r"""The stored weights :math:`w(c) = (c - 2^{b-1})\,\delta` of codes."""
    half = 2 ** (bits - 1)
    return (np.asarray(codes, dtype=float) - half) * (float(w_max) / half)


def codes_of(w, bits: int, w_max: float) -> np.ndarray:
    """The codes of weights already on the grid (exact: grid weights are whole multiples of the step)."""
    return quantize(w, bits, w_max, 0.5)


def written_codes(codes, change, bits: int, w_max: float, offset) -> np.ndarray:
    r"""New codes after a proposed weight change: :math:`\mathrm{clip}(\lfloor c + \Delta w/\delta + u
    \rfloor, 0, 2^b - 1)`, in code units, so that a change of exactly 0 keeps every code."""
    step = float(w_max) / 2 ** (bits - 1)
    return np.clip(np.floor(np.asarray(codes, dtype=float) + np.asarray(change, dtype=float) / step + offset),
                   0, 2 ** bits - 1).astype(np.int64)


def stored(w, fmt: "SynapseFormat", w_max: float) -> np.ndarray:
    """What synapses of format ``fmt`` store for weights ``w``: ``w`` (float), or the nearest codes' weights."""
    w = np.asarray(w)
    if not fmt.quantized:
        return w
    return weights_of(codes_of(w, fmt.bits, w_max), fmt.bits, w_max).astype(w.dtype if w.dtype.kind == "f" else float)


def bit_flips(old_codes, new_codes) -> np.ndarray:
    """Hamming distance of two arrays of codes, element by element."""
    x = np.bitwise_xor(np.asarray(old_codes, dtype=np.int64), np.asarray(new_codes, dtype=np.int64))
    if hasattr(np, "bitwise_count"):      # numpy >= 2.0
        return np.bitwise_count(x).astype(np.int64)
    as_bytes = np.ascontiguousarray(x, dtype="<i8").view(np.uint8).reshape(x.shape + (8,))
    return np.unpackbits(as_bytes, axis=-1).sum(axis=-1).astype(np.int64)


def round_offsets(rounding: str, shape, rng: np.random.Generator | None):
    """:math:`u` for :func:`quantize`: 0.5, or uniform draws from ``rng`` (stochastic)."""
    if rounding == "nearest":
        return 0.5
    return rng.random(shape)
