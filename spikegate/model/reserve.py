r"""Learning on a budget: a metabolic reserve that every synaptic write draws on.

The reserve :math:`R` (joules) starts at :math:`R_0` (default: full) and, after each
training presentation :math:`k` with :math:`W_k` writes,

.. math::

    R_{k+1} = \min\left(R_k - e_w W_k + r,\; C\right),

with :math:`e_w` the energy of a write (``j_per_write``), :math:`r` the refill per
presentation and :math:`C` the capacity. The gate of presentation :math:`k` may open only
while :math:`R_k > 0`: an empty reserve keeps it shut however large the error. A write
that costs more than is left takes the reserve below zero, and the gate stays shut until
the refill has paid the debt.

Inspired by the fly: long-term memory formation is suppressed under food deprivation
(Placais & Preat, Science 2013) and costs survival (Mery & Kawecki, Science 2005).
With an unlimited reserve (the default, :math:`C = R_0 = \infty`) the gate is the gate it
wraps, bit for bit; with :math:`C = R_0 = r = 0` nothing is written.
"""
from __future__ import annotations

import math

from brian2 import Quantity, joule

from ..errors import ParameterError
from .declaration import Declaration, declaration, param


@declaration
class MetabolicReserve(Declaration):
    r"""A reserve of energy the writes draw on (see the module docstring).

    Parameters
    ----------
    capacity : Quantity
        Joules the reserve holds at most, >= 0 (default infinite: no budget).
    refill : Quantity
        Joules added after each training presentation, >= 0 and finite (default 0).
    j_per_write : Quantity
        Energy of one synaptic write, > 0 and finite (default 10 mJ, the long-term-memory
        figure of the catalogue, one bit per write).
    initial : Quantity, optional
        The reserve at the start, 0 <= initial <= capacity (default: full).
    """

    capacity: Quantity = param(math.inf * joule, unit=joule, minimum=0 * joule, allow_inf=True, example="1 J",
                               doc="joules the reserve holds at most (inf: no budget)")
    refill: Quantity = param(0 * joule, unit=joule, minimum=0 * joule, example="1 mJ",
                             doc="joules added after each training presentation")
    j_per_write: Quantity = param(10e-3 * joule, unit=joule, minimum=0 * joule, strict_min=True, example="10 mJ",
                                  doc="energy of one synaptic write")
    initial: Quantity | None = param(None, unit=joule, minimum=0 * joule, allow_inf=True, optional=True,
                                     example="1 J", doc="the reserve at the start (default: full)")

    def validate(self):
        if self.initial is not None and self.initial > self.capacity:
            raise ParameterError(f"MetabolicReserve.initial = {self.initial!r}: must be <= capacity = "
                                 f"{self.capacity!r}", "MetabolicReserve.initial")

    @property
    def start(self) -> Quantity:
        """The reserve at the start (the capacity unless ``initial`` is given)."""
        return self.capacity if self.initial is None else self.initial

    @property
    def unlimited(self) -> bool:
        """Whether the reserve can never run out (infinite start and capacity)."""
        return math.isinf(float(self.start / joule)) and math.isinf(float(self.capacity / joule))

    def to_dict(self, fields=None) -> dict:
        out = super().to_dict(fields)
        if "initial" in out and out["initial"] is None:
            del out["initial"]     # TOML has no null: absent means full
        return out


def reserve_step(reserve: float, writes, j_per_write: float, refill: float, capacity: float) -> float:
    r"""One presentation's update, in joules: :math:`\min(R - e_w W + r, C)`."""
    return min(reserve - j_per_write * float(writes) + refill, capacity)
