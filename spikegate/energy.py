r"""Energy: from synaptic writes to joules, biology beside hardware.

The ledger (:mod:`spikegate.ledger`) counts :math:`M_0`, the number of synaptic writes
of a run. This module prices one write with published figures and reports

.. math::

    E_\mathrm{run} = M_0 \, E_\mathrm{write},

for each technology of a catalogue (``energy_catalogue.toml``, shipped with the
package; users add or replace entries with their own TOML file). How a write is
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
validated wrappers; :func:`report` and :func:`compare` return tidy records.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from brian2 import Quantity, joule, kelvin
from brian2.units.constants import boltzmann_constant

from .declaration import Declaration, declaration, default
from .errors import ConfigError, DataError, ParameterError
from .ledger import EnergyLedger
from .quantities import check_number, check_quantity
from .tables import text_table


class EnergyError(ConfigError):
    """An energy catalogue, technology name or energy option is invalid."""


#: Free energy of hydrolysing one ATP in a cell (50-65 kJ/mol), rounded.
JOULE_PER_ATP = 1e-19 * joule
#: Distinguishable strengths of a biological synapse (Bartol et al., eLife 2015).
SYNAPSE_STATES = 26
#: Body temperature for the Landauer floor.
BODY_TEMPERATURE = 310 * kelvin
#: Catalogue entry used for "ratio to biology".
BIOLOGY_REFERENCE = "long-term-memory"
#: Technologies shown by :func:`compare` when none are chosen.
DEFAULT_COMPARE = ("SRAM-32KB", "DRAM", "Loihi", "long-term-memory")
#: System boundaries a figure may have.
BOUNDARIES = ("cell", "chip", "system", "organism", "physics")
#: How a write is charged (see the module docstring).
COSTS = ("rmw", "update", "synapse", "memory", "erase")
#: Energy units of catalogue figures as powers of ten below a joule ("pJ": 12, i.e. 1e-12 J);
#: "X/bit" is accepted too; "ATP" is x JOULE_PER_ATP.
ENERGY_UNITS = {"J": 0, "mJ": 3, "uJ": 6, "nJ": 9, "pJ": 12, "fJ": 15, "aJ": 18, "zJ": 21}
_UNITS_TEXT = ", ".join(list(ENERGY_UNITS) + [f"{u}/bit" for u in ENERGY_UNITS] + ["ATP", "ATP/bit"])


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
        raise ParameterError(f"{where} = {unit!r}: unknown unit; allowed units: {_UNITS_TEXT}")
    return value / 10 ** ENERGY_UNITS[base] * joule, per_bit  # exact power of ten: 10 fJ is 1e-14 J


# --------------------------------------------------------------------------- declarations
def _check_text(where, value, required=True):
    if not isinstance(value, str):
        raise ParameterError(f"{where} = {value!r}: expected a text string")
    if required and not value.strip():
        raise ParameterError(f"{where} = {value!r}: must not be empty")
    return value


def _check_choice(where, value, choices):
    if value not in choices:
        raise ParameterError(f"{where} = {value!r}: unknown; allowed: {', '.join(choices)}")
    return value


def _check_energy(where, value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = float(value) * joule
    elif isinstance(value, str):
        parts = value.split()
        if len(parts) != 2:
            raise ParameterError(f"{where} = {value!r}: expected '<number> <unit>', e.g. '1.6e-13 J'")
        try:
            number = float(parts[0])
        except ValueError:
            raise ParameterError(f"{where} = {value!r}: expected '<number> <unit>', e.g. '1.6e-13 J'") from None
        value = figure_energy(number, parts[1], where)[0]
    return check_quantity(where, value, joule, minimum=0 * joule, strict=True, example="1.6e-13 J")


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
                             f"alpha in 0, 1, {ledger.alpha:g}")


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
        self._set("joule_per_atp", _check_energy("ATPCost.joule_per_atp", self.joule_per_atp))

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
        self._set("joule_per_bit", _check_energy("LongTermMemory.joule_per_bit", self.joule_per_bit))
        b = float(check_number("LongTermMemory.bits_per_synapse", self.bits_per_synapse, minimum=0,
                               strict_min=True))
        self._set("bits_per_synapse", b)
        s = float(check_number("LongTermMemory.synapses_per_bit", self.synapses_per_bit, minimum=0,
                               strict_min=True))
        if s < 1 / b * (1 - 1e-12):
            raise ParameterError(f"LongTermMemory.synapses_per_bit = {s!r}: must be >= 1/bits_per_synapse = "
                                 f"{1 / b:.4g} (a synapse stores at most {b:.3g} bits)")
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
    """Validate a weight width in bits (> 0; fractional widths such as 4.7 are allowed)."""
    return float(check_number(where, bits, minimum=0, strict_min=True))


@declaration
class Technology(Declaration):
    r"""One catalogue entry: a published energy figure and how a weight write is charged.

    Parameters
    ----------
    name, figure, source : str
        Catalogue name, the figure as published, and where it was published (required).
    value : float
        The figure as a number, > 0.
    unit : str
        Its unit: J, mJ, uJ, nJ, pJ, fJ, aJ, zJ, optionally "/bit", or "ATP"
        (:data:`JOULE_PER_ATP` each).
    boundary : str
        What the figure includes: cell, chip, system, organism or physics.
    bits : float
        Bits the figure covers, > 0 (64 for a 64-bit read; ignored for "/bit" units).
    cost : str
        rmw, update, synapse, memory or erase (see the module docstring).
    j_per_bit : Quantity, optional
        J per bit; default :math:`\mathrm{value}\cdot\mathrm{unit}/\mathrm{bits}`.
    read_j_per_bit, write_j_per_bit : Quantity, optional
        Read and write energies per bit for ``rmw``; default ``j_per_bit`` each.
    process, confidence : str
        Process/conditions and a note on how far to trust the figure.
    year : int, optional
    """

    name: str
    figure: str
    value: float
    unit: str
    boundary: str
    source: str
    bits: float = 1.0
    cost: str = "rmw"
    j_per_bit: Quantity | None = None
    read_j_per_bit: Quantity | None = None
    write_j_per_bit: Quantity | None = None
    process: str = ""
    year: int | None = None
    confidence: str = ""

    def __post_init__(self):
        _check_text("Technology.name", self.name)
        _check_text("Technology.figure", self.figure)
        _check_text("Technology.source", self.source)
        _check_text("Technology.process", self.process, required=False)
        _check_text("Technology.confidence", self.confidence, required=False)
        value = float(check_number("Technology.value", self.value, minimum=0, strict_min=True))
        self._set("value", value)
        _check_text("Technology.unit", self.unit)
        _check_choice("Technology.boundary", self.boundary, BOUNDARIES)
        _check_choice("Technology.cost", self.cost, COSTS)
        self._set("bits", float(check_number("Technology.bits", self.bits, minimum=0, strict_min=True)))
        figure_energy(value, self.unit, "Technology.unit")
        for name in ("j_per_bit", "read_j_per_bit", "write_j_per_bit"):  # kept as given (None = derived)
            v = getattr(self, name)
            if v is not None:
                self._set(name, _check_energy(f"Technology.{name}", v))
        if self.year is not None:
            self._set("year", check_number("Technology.year", self.year, minimum=1800, maximum=2100,
                                           integer=True))

    @property
    def joule_per_bit(self) -> Quantity:
        """J per bit: ``j_per_bit`` if given, else value x unit / bits (value x unit for "/bit" units)."""
        if self.j_per_bit is not None:
            return self.j_per_bit
        energy, per_bit = figure_energy(self.value, self.unit)
        return energy if per_bit else energy / self.bits

    @property
    def read_joule_per_bit(self) -> Quantity:
        return self.joule_per_bit if self.read_j_per_bit is None else self.read_j_per_bit

    @property
    def write_joule_per_bit(self) -> Quantity:
        return self.joule_per_bit if self.write_j_per_bit is None else self.write_j_per_bit

    def joule_per_write(self, bits, biology: LongTermMemory | None = None) -> Quantity:
        """Energy of one weight write of ``bits`` bits (see the module docstring)."""
        bits = check_bits(bits)
        biology = biology or LongTermMemory()
        e = self.joule_per_bit
        if self.cost == "rmw":
            return rmw_energy(bits, self.read_joule_per_bit, self.write_joule_per_bit)
        if self.cost == "update":
            return e * (1 if self.unit.endswith("/bit") else self.bits)
        if self.cost == "synapse":
            return biology.bits_per_synapse * e
        if self.cost == "memory":
            return memory_energy_per_write(e, biology.synapses_per_bit)
        return bits * e  # erase

    def bits_charged(self, bits, biology: LongTermMemory | None = None) -> float:
        """Bits a write is charged for: b (rmw, erase), the device's own (update),
        bits_per_synapse (synapse), stored bits 1/S (memory)."""
        biology = biology or LongTermMemory()
        return {"rmw": float(bits), "erase": float(bits),
                "update": 1.0 if self.unit.endswith("/bit") else self.bits,
                "synapse": biology.bits_per_synapse, "memory": 1 / biology.synapses_per_bit}[self.cost]


# --------------------------------------------------------------------------- catalogue
_REQUIRED = ("figure", "value", "unit", "boundary", "source")
_OPTIONAL = ("bits", "cost", "j_per_bit", "read_j_per_bit", "write_j_per_bit", "process", "year", "confidence")


def default_catalogue_path():
    """The catalogue shipped with spikegate (``spikegate/energy_catalogue.toml``)."""
    return resources.files("spikegate") / "energy_catalogue.toml"


def parse_catalogue(text: str, where: str) -> dict[str, Technology]:
    """Technologies of a catalogue TOML text; errors name ``where``, the entry and the field."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EnergyError(f"catalogue {where}: invalid TOML ({exc})") from None
    extra = sorted(set(doc) - {"technology"})
    if extra:
        raise EnergyError(f"catalogue {where}: unknown top-level key {extra[0]!r}; entries go in "
                          f"[technology.NAME] tables")
    entries = doc.get("technology", {})
    if not isinstance(entries, dict) or not entries:
        raise EnergyError(f"catalogue {where}: no [technology.NAME] entries")
    out = {}
    for name, entry in entries.items():
        head = f"catalogue {where}: entry {name!r}"
        if not isinstance(entry, dict):
            raise EnergyError(f"{head}: expected a table [technology.{name}]")
        unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
        if unknown:
            raise EnergyError(f"{head}: unknown field {unknown[0]!r}; allowed: "
                              f"{', '.join(_REQUIRED + _OPTIONAL)}")
        missing = [f for f in _REQUIRED if f not in entry]
        if missing:
            raise EnergyError(f"{head}: missing field {missing[0]!r} (required: {', '.join(_REQUIRED)}; "
                              f"every figure needs a source)")
        try:
            out[name] = Technology(name=name, **entry)
        except (ParameterError, TypeError) as exc:
            raise EnergyError(f"{head}: {exc}") from None
    return out


def _merge(base: dict, extra: dict) -> dict:
    """``extra`` over ``base`` by name (case-insensitive); replaced entries keep their place."""
    lower = {k.lower(): k for k in base}
    out = dict(base)
    for name, tech in extra.items():
        old = lower.get(name.lower())
        if old is not None and old != name:
            out = {(name if k == old else k): (tech if k == old else v) for k, v in out.items()}
        else:
            out[name] = tech
    return out


def load_catalogue(path=None) -> dict[str, Technology]:
    """The default catalogue, with the entries of the TOML file ``path`` (if any) merged over it.

    An entry of ``path`` replaces the default entry of the same name (compared without
    case) as a whole; new names are appended.
    """
    cat = parse_catalogue(default_catalogue_path().read_text(), "spikegate/energy_catalogue.toml")
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise EnergyError(f"catalogue {path}: cannot read ({exc.strerror or exc})") from None
        cat = _merge(cat, parse_catalogue(text, str(path)))
    return cat


def _catalogue(catalogue) -> dict[str, Technology]:
    if catalogue is None or isinstance(catalogue, (str, os.PathLike)):
        return load_catalogue(catalogue)
    return dict(catalogue)


def select(catalogue: dict, names=None) -> list[Technology]:
    """Technologies by name (case-insensitive), all of them when ``names`` is None."""
    if not names:
        return list(catalogue.values())
    lower = {k.lower(): v for k, v in catalogue.items()}
    out = []
    for name in names:
        tech = lower.get(str(name).lower())
        if tech is None:
            raise EnergyError(f"unknown technology {name!r}; known: {', '.join(catalogue)}")
        if tech not in out:
            out.append(tech)
    return out


# --------------------------------------------------------------------------- runs
@dataclass
class RunWrites:
    """What energy needs of a run directory: its metrics and its ledger."""

    run_dir: Path
    metrics: dict
    ledger: EnergyLedger

    @property
    def n_writes(self) -> int:
        return self.ledger.m0

    @property
    def label(self) -> str:
        return self.run_dir.name or str(self.run_dir)


def load_run(run_dir) -> RunWrites:
    """Read ``metrics.json`` and ``ledger.npz`` of a run directory (the rest is not needed)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run directory {run_dir}: does not exist")
    missing = [f for f in ("metrics.json", "ledger.npz") if not (run_dir / f).is_file()]
    if missing:
        raise DataError(f"run directory {run_dir}: missing {', '.join(missing)}; energy needs the run's "
                        f"metrics.json and ledger.npz")
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        if not isinstance(metrics, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise DataError(f"run directory {run_dir}: metrics.json unreadable ({exc})") from None
    try:
        ledger = EnergyLedger.load(run_dir / "ledger.npz")
    except Exception as exc:  # zip, npz key and value errors alike
        raise DataError(f"run directory {run_dir}: ledger.npz unreadable ({type(exc).__name__}: {exc})") from None
    recorded = metrics.get("n_writes")
    if recorded is not None and recorded != ledger.m0:
        raise DataError(f"run directory {run_dir}: metrics.json n_writes = {recorded} but ledger.npz holds "
                        f"{ledger.m0} writes")
    return RunWrites(run_dir, metrics, ledger)


def _unique(run_dirs) -> list[Path]:
    """Run directories in order, each once (compared by resolved path)."""
    seen = {}
    for d in run_dirs:
        seen.setdefault(Path(d).resolve(), Path(d))
    return list(seen.values())


def _biology(catalogue, bits_per_synapse_, synapses_per_bit) -> LongTermMemory:
    ref = select(catalogue, [BIOLOGY_REFERENCE])[0]
    return LongTermMemory(joule_per_bit=ref.joule_per_bit, bits_per_synapse=bits_per_synapse_,
                          synapses_per_bit=synapses_per_bit)


def _records(run: RunWrites, bits, catalogue, technologies, bits_per_synapse_, synapses_per_bit, temperature):
    bits = check_bits(bits)
    cat = _catalogue(catalogue)
    techs = select(cat, technologies)
    biology = _biology(cat, bits_per_synapse_, synapses_per_bit)
    bio_write = float(select(cat, [BIOLOGY_REFERENCE])[0].joule_per_write(bits, biology) / joule)
    floor = float(Landauer(temperature).joule_per_write(bits) / joule)
    m = run.metrics
    out = []
    for tech in techs:
        per_write = float(tech.joule_per_write(bits, biology) / joule)
        out.append({
            "run": str(run.run_dir), "model": m.get("model"), "gate": m.get("gate"),
            "test_accuracy": m.get("test_accuracy"), "n_writes": run.n_writes, "bits": bits,
            "technology": tech.name, "boundary": tech.boundary, "cost": tech.cost,
            "bits_charged": tech.bits_charged(bits, biology), "j_per_bit": float(tech.joule_per_bit / joule),
            "j_per_write": per_write, "total_j": per_write * run.n_writes,
            "ratio_to_biology": per_write / bio_write, "ratio_to_landauer": per_write / floor,
            "biology_j_per_write": bio_write, "landauer_j_per_write": floor,
            "bits_per_synapse": biology.bits_per_synapse, "synapses_per_bit": biology.synapses_per_bit,
            "figure": tech.figure, "process": tech.process, "year": tech.year, "source": tech.source,
            "confidence": tech.confidence,
        })
    return out


def report(run_dir, bits=32, catalogue=None, technologies=None, *, bits_per_synapse=bits_per_synapse(),
           synapses_per_bit=1.0, temperature=BODY_TEMPERATURE) -> list[dict]:
    r"""Energy of a run's synaptic writes for each technology, as tidy records.

    Parameters
    ----------
    run_dir : path
        A run directory; only ``metrics.json`` and ``ledger.npz`` are read.
    bits : float
        Bits per stored weight :math:`b` (> 0): 32 for float32, 8 for int8.
    catalogue : path or dict, optional
        A TOML file merged over the default catalogue, or a loaded catalogue.
    technologies : list of str, optional
        Names to report (case-insensitive); all by default.
    bits_per_synapse, synapses_per_bit : float
        Biological assumptions (see :class:`LongTermMemory`).
    temperature : Quantity
        Temperature of the Landauer floor (310 K).

    Returns
    -------
    list of dict
        One record per technology: ``technology``, ``boundary``, ``cost``,
        ``j_per_write``, ``total_j`` :math:`= M_0 E_\mathrm{write}`, ``ratio_to_biology``,
        ``ratio_to_landauer``, the run (``run``, ``model``, ``gate``, ``n_writes``), the
        assumptions and the figure's provenance (``figure``, ``source``, ...). Energies
        are floats in joules.
    """
    return _records(load_run(run_dir), bits, catalogue, technologies, bits_per_synapse, synapses_per_bit,
                    temperature)


_COMPARE_FIELDS = ("run", "model", "gate", "test_accuracy", "n_writes", "bits", "technology", "j_per_write",
                   "total_j")


def compare(run_dirs, bits=32, catalogue=None, technologies=None, *, bits_per_synapse=bits_per_synapse(),
            synapses_per_bit=1.0) -> list[dict]:
    """Runs side by side: one record per (run, technology) with the run's totals.

    ``technologies`` defaults to :data:`DEFAULT_COMPARE`. Fields: run, model, gate,
    test_accuracy, n_writes, bits, technology, j_per_write, total_j.
    """
    cat = _catalogue(catalogue)
    technologies = technologies or DEFAULT_COMPARE
    out = []
    for run_dir in _unique(run_dirs):
        recs = _records(load_run(run_dir), bits, cat, technologies, bits_per_synapse, synapses_per_bit,
                        BODY_TEMPERATURE)
        out += [{k: r[k] for k in _COMPARE_FIELDS} for r in recs]
    return out


def compare_curves(run_dirs, bits=32, catalogue=None, technologies=None, *, bits_per_synapse=bits_per_synapse(),
                   synapses_per_bit=1.0) -> list[dict]:
    """Cumulative energy per epoch where a test accuracy was measured (tidy records).

    Fields: run, gate, epoch, cumulative_n_writes, test_accuracy, technology,
    cumulative_j. Runs without per-epoch test accuracies contribute their final point.
    """
    cat = _catalogue(catalogue)
    technologies = technologies or DEFAULT_COMPARE
    out = []
    for run_dir in _unique(run_dirs):
        run = load_run(run_dir)
        recs = _records(run, bits, cat, technologies, bits_per_synapse, synapses_per_bit, BODY_TEMPERATURE)
        points = [(c.get("epoch"), c["cumulative_n_writes"], c["test_accuracy"])
                  for c in run.metrics.get("curves", []) if c.get("test_accuracy") is not None
                  and c.get("cumulative_n_writes") is not None]
        if not points and run.metrics.get("test_accuracy") is not None:
            points = [(run.metrics.get("epochs"), run.n_writes, run.metrics["test_accuracy"])]
        for r in recs:
            for epoch, n, acc in points:
                out.append({"run": str(run.run_dir), "gate": r["gate"], "epoch": epoch, "cumulative_n_writes": n,
                            "test_accuracy": acc, "technology": r["technology"],
                            "cumulative_j": n * r["j_per_write"]})
    return out


# --------------------------------------------------------------------------- files
def _atomic(path: Path, write) -> Path:
    """Write via ``write(tmp_path)`` into a temporary sibling, then ``os.replace`` it into place."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
        os.close(fd)
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _csv_text(records, fields) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in records:
        w.writerow({k: ("" if r.get(k) is None else (repr(r[k]) if isinstance(r[k], float) else r[k]))
                    for k in fields})
    return buf.getvalue()


#: Columns of ``energy.csv``.
CSV_FIELDS = ("technology", "boundary", "cost", "bits", "bits_charged", "j_per_bit", "j_per_write", "n_writes",
              "total_j", "ratio_to_biology", "ratio_to_landauer", "biology_j_per_write", "landauer_j_per_write",
              "bits_per_synapse", "synapses_per_bit", "model", "gate", "figure", "process", "year", "source",
              "confidence")

_BOUNDARY_COLOURS = {"cell": "#4c72b0", "chip": "#55a868", "system": "#8172b2", "organism": "#c44e52",
                     "physics": "#7f7f7f"}


def _save_figure(fig, out_dir: Path, stem: str) -> list[Path]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    paths = []
    for ext in ("png", "svg"):
        meta = {"Date": None} if ext == "svg" else {}
        paths.append(_atomic(out_dir / f"{stem}.{ext}",
                             lambda tmp, ext=ext, meta=meta: fig.savefig(tmp, format=ext, dpi=150,
                                                                         bbox_inches="tight", metadata=meta)))
    return paths


def plot_report(records):
    """Log-scale horizontal bars of the run's total energy per technology (a matplotlib Figure)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    recs = sorted(records, key=lambda r: r["total_j"])
    fig = Figure(figsize=(8, 0.32 * len(recs) + 1.6))
    ax = fig.add_subplot()
    y = np.arange(len(recs))
    ax.barh(y, [r["total_j"] for r in recs], color=[_BOUNDARY_COLOURS[r["boundary"]] for r in recs])
    ax.set_xscale("log")
    ax.set_yticks(y, [r["technology"] for r in recs])
    for yy, r in zip(y, recs):
        ax.text(r["total_j"], yy, f" {r['total_j']:.2g} J", va="center", fontsize=8)
    lo = min(r["total_j"] for r in recs)
    hi = max(r["total_j"] for r in recs)
    ax.set_xlim(lo / 10, hi * 1e3)
    r0 = records[0]
    ax.set_xlabel(f"energy of the run's {r0['n_writes']:,} synaptic writes (J), {r0['bits']:g}-bit weights")
    ax.set_title(f"{r0['model']} | gate {r0['gate']}: writes to joules", fontsize=10)
    used = [b for b in BOUNDARIES if any(r["boundary"] == b for r in recs)]
    ax.legend(handles=[Patch(color=_BOUNDARY_COLOURS[b], label=b) for b in used], title="boundary",
              fontsize=8, loc="lower right")
    ax.grid(axis="x", which="major", alpha=0.3)
    fig.tight_layout()
    return fig


def write_report(records, out_dir) -> list[Path]:
    """Write ``energy.csv``, ``energy.png`` and ``energy.svg`` into ``out_dir`` (atomically)."""
    out_dir = Path(out_dir)
    paths = [_atomic(out_dir / "energy.csv", lambda tmp: Path(tmp).write_text(_csv_text(records, CSV_FIELDS)))]
    return paths + _save_figure(plot_report(records), out_dir, "energy")


def plot_compare(curves):
    """Cumulative energy against test accuracy, one panel per technology, one line per run."""
    from matplotlib.figure import Figure

    techs = list(dict.fromkeys(c["technology"] for c in curves))
    runs = list(dict.fromkeys(c["run"] for c in curves))
    fig = Figure(figsize=(3.6 * len(techs) + 0.6, 3.6))
    axes = [fig.add_subplot(1, len(techs), k + 1) for k in range(len(techs))]
    for ax, tech in zip(axes, techs):
        for run in runs:
            pts = [c for c in curves if c["technology"] == tech and c["run"] == run]
            if pts:
                ax.plot([p["test_accuracy"] for p in pts], [p["cumulative_j"] for p in pts], "o-",
                        label=f"{Path(run).name} ({pts[0]['gate']})")
        ax.set_yscale("log")
        ax.set_title(tech, fontsize=10)
        ax.set_xlabel("test accuracy")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("cumulative energy of writes (J)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_compare(records, curves, out_dir) -> list[Path]:
    """Write ``energy_compare.csv``, ``energy_compare.png`` and ``.svg`` into ``out_dir``."""
    out_dir = Path(out_dir)
    paths = [_atomic(out_dir / "energy_compare.csv",
                     lambda tmp: Path(tmp).write_text(_csv_text(records, _COMPARE_FIELDS)))]
    return paths + _save_figure(plot_compare(curves), out_dir, "energy_compare")


# --------------------------------------------------------------------------- text


def format_report(records) -> str:
    """The report as a text table, most expensive first, with the assumptions spelled out."""
    r0 = records[0]
    recs = sorted(records, key=lambda r: -r["j_per_write"])
    rows = [[r["technology"], r["boundary"], f"{r['j_per_write']:.3g}", f"{r['total_j']:.3g}",
             f"{r['ratio_to_biology']:.3g}", f"{r['ratio_to_landauer']:.3g}"] for r in recs]
    head = (f"{r0['model']} | gate {r0['gate']} | M0 = {r0['n_writes']:,} synaptic writes | "
            f"{r0['bits']:g}-bit weights")
    notes = [
        f"J per write: rmw = b x (read + write J/bit) with b = {r0['bits']:g}; update = the published "
        f"per-update figure; synapse = {r0['bits_per_synapse']:.3g} bits x J/bit; memory = J/bit / "
        f"synapses_per_bit; erase = b x J/bit.",
        f"x biology = J per write / {BIOLOGY_REFERENCE} per write ({r0['biology_j_per_write']:.3g} J: "
        f"J/bit / {r0['synapses_per_bit']:g} synapse(s) changed per stored bit), i.e. the same "
        f"{r0['n_writes']:,} writes as long-term memory in an animal.",
        f"x Landauer = J per write / ({r0['bits']:g} bits x kT ln 2 at 310 K = {r0['landauer_j_per_write']:.3g} J).",
    ]
    return head + "\n\n" + text_table(rows, ["technology", "boundary", "J per write", "J for run", "x biology",
                                         "x Landauer"]) + "\n\n" + "\n".join(notes)


def format_compare(records) -> str:
    """Runs as rows, the total energy for each technology as columns."""
    techs = list(dict.fromkeys(r["technology"] for r in records))
    runs = list(dict.fromkeys(r["run"] for r in records))
    rows = []
    for run in runs:
        rs = {r["technology"]: r for r in records if r["run"] == run}
        r0 = next(iter(rs.values()))
        acc = r0["test_accuracy"]
        rows.append([Path(run).name, r0["gate"], "-" if acc is None else f"{acc:.4f}", f"{r0['n_writes']:,}"]
                    + [f"{rs[t]['total_j']:.3g}" for t in techs])
    bits = records[0]["bits"]
    return (text_table(rows, ["run", "gate", "test acc", "M0"] + [f"J {t}" for t in techs])
            + f"\n\nJ = M0 x J per write, {bits:g}-bit weights (see `spikegate energy RUN_DIR` for the per-write figures).")


def run_command(args) -> None:
    """``spikegate energy``: print the table and write the files (called by :mod:`spikegate.cli`)."""
    bits = check_bits(args.bits, "--bits")
    spb = float(check_number("--synapses-per-bit", args.synapses_per_bit, minimum=0, strict_min=True))
    cat = load_catalogue(args.catalogue)
    select(cat, args.technology)  # unknown names fail before any run is read
    if args.compare and args.run_dir:
        raise EnergyError("give either one RUN_DIR or --compare DIR1 DIR2 ..., not both")
    try:
        _biology(cat, bits_per_synapse(), spb)
    except ParameterError as exc:
        raise EnergyError(str(exc).replace("LongTermMemory.synapses_per_bit", "--synapses-per-bit")) from None
    if args.compare:
        records = compare(args.compare, bits, cat, args.technology, synapses_per_bit=spb)
        curves = compare_curves(args.compare, bits, cat, args.technology, synapses_per_bit=spb)
        out = Path(args.out) if args.out else Path.cwd()
        paths = write_compare(records, curves, out)
        print(format_compare(records))
    else:
        if not args.run_dir:
            raise EnergyError("give a run directory (spikegate energy RUN_DIR) or --compare DIR1 DIR2 ...")
        records = report(args.run_dir, bits, cat, args.technology, synapses_per_bit=spb)
        paths = write_report(records, Path(args.out) if args.out else Path(args.run_dir))
        print(format_report(records))
    print(f"\nwrote {', '.join(str(p) for p in paths)}")
