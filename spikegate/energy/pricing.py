r"""Pricing a synaptic write: the maths, and the biological and physical cost models.

The ledger (:mod:`spikegate.ledger`) counts :math:`M_0`, the number of synaptic writes
of a run. This module prices one write with published figures and reports

.. math::

    E_\mathrm{run} = M_0 \, E_\mathrm{write},

for each technology of a catalogue (:mod:`spikegate.energy.catalogue`; users add or
replace entries with their own TOML file). How a write is
charged depends on the entry's ``cost``, with :math:`b` the bits of a stored weight
(``--bits``, 32 for float32, 8 for int8) and :math:`e_r, e_w` the read and write
energies per bit:

* ``rmw`` (memories): a read-modify-write, :math:`E_\mathrm{write} = b\,(e_r + e_w)`;
  where only one figure is published, :math:`e_r = e_w` = that figure.
* ``update`` (devices that publish a per-update figure, e.g. Loihi's 120 pJ):
  the figure itself, whatever :math:`b`.
* ``synapse`` (biological per-bit figures such as synaptic transmission):
  :math:`E_\mathrm{write} = b_\mathrm{syn}\, e`, with :math:`b_\mathrm{syn} =
  \log_2 26 \approx 4.7` bits per biological synapse (26 distinguishable strengths,
  Bartol et al., eLife 2015).
* ``memory`` (the whole-animal long-term-memory figure, ~10 mJ per bit, Girard, Jiang
  & van Rossum, arXiv 2301.09565): :math:`E_\mathrm{write} = e / S`, with the
  explicit assumption :math:`S` = *synapses changed per stored bit*
  (``synapses_per_bit``, default 1). A synapse holds at most :math:`b_\mathrm{syn}` bits,
  so :math:`S \ge 1/b_\mathrm{syn}`.
* ``erase`` (the Landauer limit): :math:`E_\mathrm{write} = b\,kT\ln 2`, erasing the
  :math:`b` old bits; reading can in principle be reversible.

Two ratios put every row in context:

* *ratio to biology* :math:`= E_\mathrm{write} / E^\mathrm{LTM}_\mathrm{write}`, where
  :math:`E^\mathrm{LTM}_\mathrm{write} = e_\mathrm{LTM} / S` is the catalogue's
  ``long-term-memory`` entry priced with the same assumptions: what the same number of
  writes would cost as long-term memory in an animal. Both sides have the same
  :math:`M_0`, so the ratio of the run totals equals the ratio per write.
* *ratio to Landauer* :math:`= E_\mathrm{write} / (b\,kT\ln 2)` at 310 K: how far a write
  of a :math:`b`-bit weight is from the thermodynamic floor.

The metabolic model of the plasticity papers, :math:`M_\alpha = \sum |\Delta w|^\alpha`
(dimensionless), is available as :class:`MetabolicModel`.

Pure functions hold the math (:func:`rmw_energy`, :func:`landauer_energy`,
:func:`atp_energy`, :func:`memory_energy_per_write`, :func:`bits_per_synapse`,
:func:`metabolic_cost`); the declarations (:class:`Technology`, :class:`LongTermMemory`,
:class:`ATPCost`, :class:`Landauer`, :class:`MetabolicModel`) are thin, frozen,
validated wrappers. :mod:`spikegate.energy.report` prices runs with them.
"""
from __future__ import annotations

import math

import numpy as np
from brian2 import Quantity, joule, kelvin
from brian2.units.constants import boltzmann_constant

from ..ledger import EnergyLedger
from ..model.declaration import Declaration, declaration, default
from ..errors import ParameterError
from ..units import UNITS, check_number, check_quantity, units_of

#: Free energy of hydrolysing one ATP in a cell (50-65 kJ/mol), rounded.
JOULE_PER_ATP = 1e-19 * joule
#: Distinguishable strengths of a biological synapse (Bartol et al., eLife 2015).
SYNAPSE_STATES = 26
#: Body temperature for the Landauer floor.
BODY_TEMPERATURE = 310 * kelvin
#: System boundaries a figure may have.
BOUNDARIES = ("cell", "chip", "system", "organism", "physics")
#: How a write is charged (see the module docstring).
COSTS = ("rmw", "update", "synapse", "memory", "erase")
#: Energy units of catalogue figures (from the package's unit table); "X/bit" is accepted
#: too, and "ATP" is x JOULE_PER_ATP.
ENERGY_UNITS = units_of(joule)
_UNITS_TEXT = ", ".join(ENERGY_UNITS + [f"{u}/bit" for u in ENERGY_UNITS] + ["ATP", "ATP/bit"])


# --------------------------------------------------------------------------- pure functions
def bits_per_synapse(n_states: int = SYNAPSE_STATES) -> float:
    r"""Information capacity of a synapse with ``n_states`` strengths, :math:`\log_2 n`.

    26 distinguishable strengths (Bartol et al., eLife 2015) give :math:`\approx 4.70` bits.
    """
    n = check_number("bits_per_synapse.n_states", n_states, minimum=2, integer=True)
    return math.log2(n)


def landauer_energy(temperature=BODY_TEMPERATURE) -> Quantity:
    r"""Minimum energy to erase one bit, :math:`E = k_B T \ln 2` (Landauer 1961).

    At :math:`T = 310` K this is :math:`2.97 \times 10^{-21}` J.
    """
    return boltzmann_constant * temperature * math.log(2)


def atp_energy(n_atp, joule_per_atp=JOULE_PER_ATP) -> Quantity:
    r"""Energy of hydrolysing ``n_atp`` ATP molecules, :math:`E = n\,e_\mathrm{ATP}`."""
    return n_atp * joule_per_atp


def rmw_energy(bits, read_per_bit, write_per_bit) -> Quantity:
    r"""Read-modify-write of a :math:`b`-bit weight: :math:`E = b\,(e_r + e_w)`."""
    return bits * (read_per_bit + write_per_bit)


def memory_energy_per_write(joule_per_bit, synapses_per_bit) -> Quantity:
    r"""Long-term-memory energy per synaptic write, :math:`E = e_\mathrm{bit} / S`.

    :math:`S` is the number of synapses changed per stored bit (an assumption).
    """
    return joule_per_bit / synapses_per_bit


def metabolic_cost(dw, alpha: float = 1.0) -> float:
    r"""Dimensionless metabolic cost :math:`M_\alpha = \sum_{ij} |\Delta w_{ij}|^\alpha`.

    :math:`\alpha = 0` counts the non-zero changes (:math:`M_0`, the number of writes),
    :math:`\alpha = 1` sums their magnitudes (:math:`M_1`), as in Li & van Rossum (2020)
    and van Rossum & Pache (2024).
    """
    a = np.abs(np.asarray(dw, dtype=float))
    a = a[a != 0]
    return float(a.size) if alpha == 0 else float(np.sum(a ** alpha))


def figure_energy(value: float, unit: str, where: str = "unit") -> tuple[Quantity, bool]:
    """The published figure ``value unit`` in joules and whether the unit is per bit."""
    per_bit = unit.endswith("/bit")
    base = unit[:-4] if per_bit else unit
    if base == "ATP":
        return atp_energy(value), per_bit
    if base not in ENERGY_UNITS:
        raise ParameterError(f"{where} = {unit!r}: unknown unit; allowed units: {_UNITS_TEXT}", where)
    scale = float(UNITS[base] / joule)
    # divide by an exact power of ten: 10 fJ is 1e-14 J, not 10 * 1e-15 = 1.0000000000000002e-14 J
    return (value / round(1 / scale) if scale < 1 else value * scale) * joule, per_bit


#: The largest energy per unit (write, bit, event) a catalogue figure may have.
MAX_FIGURE = 1e6 * joule


def check_energy(where, value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = float(value) * joule
    elif isinstance(value, str):
        parts = value.split()
        if len(parts) != 2:
            raise ParameterError(f"{where} = {value!r}: expected '<number> <unit>', e.g. '1.6e-13 J'", where)
        try:
            number = float(parts[0])
        except ValueError:
            raise ParameterError(f"{where} = {value!r}: expected '<number> <unit>', e.g. '1.6e-13 J'", where) from None
        value = figure_energy(number, parts[1], where)[0]
    value = check_quantity(where, value, joule, minimum=0 * joule, strict=True, example="1.6e-13 J")
    if value > MAX_FIGURE:   # far above any per-event figure; larger ones overflow the bill
        raise ParameterError(f"{where} = {value!r}: must be <= {MAX_FIGURE!r} per unit", where)
    return value


@declaration


class MetabolicModel(Declaration):
    r"""The metabolic cost :math:`M_\alpha = \sum |\Delta w|^\alpha` (dimensionless).

    Parameters
    ----------
    alpha : float
        Exponent, :math:`\alpha \ge 0`; 0 counts writes (:math:`M_0`), 1 sums
        :math:`|\Delta w|` (:math:`M_1`).
    """

    alpha: float = 1.0

    def __post_init__(self):
        self._set("alpha", float(check_number("MetabolicModel.alpha", self.alpha, minimum=0)))

    def __call__(self, dw) -> float:
        """:math:`M_\\alpha` of an array of weight changes."""
        return metabolic_cost(dw, self.alpha)

    def of(self, ledger: EnergyLedger) -> float:
        """:math:`M_\\alpha` of a ledger (which holds alpha = 0, 1 and its own alpha)."""
        if self.alpha == 0:
            return float(ledger.m0)
        if self.alpha == 1:
            return ledger.m1
        if self.alpha == ledger.alpha:
            return ledger.m_alpha
        raise ParameterError(f"MetabolicModel.alpha = {self.alpha!r}: this ledger holds M_alpha only for "
                             f"alpha in 0, 1, {ledger.alpha:g}", "MetabolicModel.alpha")


@declaration
class ATPCost(Declaration):
    r"""A biological write priced in ATP: :math:`E = n_\mathrm{ATP}\, e_\mathrm{ATP}`.

    Parameters
    ----------
    atp_per_write : float
        ATP molecules per synaptic change, > 0 (default :math:`10^4`, the ATP per bit of
        synaptic transmission, Laughlin et al. 1998; plasticity likely costs more).
    joule_per_atp : Quantity
        Free energy per ATP, > 0 (default :math:`10^{-19}` J, i.e. 50-65 kJ/mol).
    """

    atp_per_write: float = 1e4
    joule_per_atp: Quantity = default(JOULE_PER_ATP)

    def __post_init__(self):
        self._set("atp_per_write", float(check_number("ATPCost.atp_per_write", self.atp_per_write,
                                                      minimum=0, strict_min=True)))
        self._set("joule_per_atp", check_energy("ATPCost.joule_per_atp", self.joule_per_atp))

    @property
    def joule_per_write(self) -> Quantity:
        return atp_energy(self.atp_per_write, self.joule_per_atp)


@declaration
class LongTermMemory(Declaration):
    r"""Whole-animal long-term memory priced per synaptic write, :math:`E = e_\mathrm{bit}/S`.

    Parameters
    ----------
    joule_per_bit : Quantity
        Energy per stored bit, > 0 (default 10 mJ: Girard, Jiang & van Rossum,
        arXiv 2301.09565, from fruit-fly starvation experiments).
    bits_per_synapse : float
        Capacity of one synapse in bits, > 0 (default :math:`\log_2 26 \approx 4.7`,
        Bartol et al. 2015).
    synapses_per_bit : float
        **Assumption**: synapses changed per stored bit, :math:`S \ge 1/b_\mathrm{syn}`
        (a synapse stores at most :math:`b_\mathrm{syn}` bits). Default 1: every write
        stores one new bit. :math:`S = 1/b_\mathrm{syn}` (capacity limit) raises the cost per
        write by :math:`b_\mathrm{syn}`; redundant, distributed storage (:math:`S \gg 1`)
        lowers it.
    """

    joule_per_bit: Quantity = default(10e-3 * joule)
    bits_per_synapse: float = bits_per_synapse()
    synapses_per_bit: float = 1.0

    def __post_init__(self):
        self._set("joule_per_bit", check_energy("LongTermMemory.joule_per_bit", self.joule_per_bit))
        b = float(check_number("LongTermMemory.bits_per_synapse", self.bits_per_synapse, minimum=0,
                               strict_min=True))
        self._set("bits_per_synapse", b)
        s = float(check_number("LongTermMemory.synapses_per_bit", self.synapses_per_bit, minimum=0,
                               strict_min=True))
        if s < 1 / b * (1 - 1e-12):
            raise ParameterError(f"LongTermMemory.synapses_per_bit = {s!r}: must be >= 1/bits_per_synapse = "
                                 f"{1 / b:.4g} (a synapse stores at most {b:.3g} bits)", "LongTermMemory.synapses_per_bit")
        self._set("synapses_per_bit", s)

    @property
    def joule_per_write(self) -> Quantity:
        return memory_energy_per_write(self.joule_per_bit, self.synapses_per_bit)


@declaration
class Landauer(Declaration):
    r"""The thermodynamic floor, :math:`k_B T \ln 2` per erased bit.

    Parameters
    ----------
    temperature : Quantity
        Absolute temperature, > 0 K (default 310 K, body temperature).
    """

    temperature: Quantity = default(BODY_TEMPERATURE)

    def __post_init__(self):
        self._set("temperature", check_quantity("Landauer.temperature", self.temperature, kelvin,
                                                minimum=0 * kelvin, strict=True, example="310*kelvin"))

    @property
    def joule_per_bit(self) -> Quantity:
        return landauer_energy(self.temperature)

    def joule_per_write(self, bits) -> Quantity:
        """Floor for overwriting a ``bits``-bit weight, :math:`b\\,k_B T \\ln 2`."""
        return check_bits(bits) * self.joule_per_bit


def check_bits(bits, where: str = "bits") -> float:
    """Validate a weight width in bits (0.001 to 1024; fractional widths such as 4.7 are allowed)."""
    return float(check_number(where, bits, minimum=1e-3, maximum=1024))
