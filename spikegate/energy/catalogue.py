r"""The catalogue of published energy figures: one :class:`Technology` per entry.

The default catalogue (``catalogue.toml`` beside this module) holds every figure with
its unit, bits, process/year, system boundary (cell, chip, system, organism, physics),
source and a confidence note. :func:`load_catalogue` merges a user's TOML file over it:
an entry replaces the default entry of the same name as a whole (a source is required).
"""
from __future__ import annotations

import os
import tomllib
from importlib import resources

from brian2 import Quantity

from ..errors import EnergyError, ParameterError
from ..files import read_toml
from ..model.declaration import Declaration, declaration, param
from ..units import check_text
from .pricing import (BOUNDARIES, COSTS, MAX_FIGURE, LongTermMemory, check_energy, check_bits, figure_energy,
                      memory_energy_per_write, rmw_energy)

#: Catalogue entry used for "ratio to biology".
BIOLOGY_REFERENCE = "long-term-memory"


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

    name: str = param(kind="text", required=True, doc="catalogue name")
    figure: str = param(kind="text", required=True, doc="the figure as published")
    value: float = param(minimum=0, strict_min=True, cast=float, doc="the figure as a number")
    unit: str = param(kind="text", required=True, doc="J ... zJ, optionally /bit, or ATP")
    boundary: str = param(choices=BOUNDARIES, doc="what the figure includes")
    source: str = param(kind="text", required=True, doc="where it was published")
    bits: float = param(1.0, minimum=0, strict_min=True, maximum=1e12, cast=float, doc="bits the figure covers")
    cost: str = param("rmw", choices=COSTS, doc="how a weight write is charged")
    j_per_bit: Quantity | None = param(None, kind="any", doc="J per bit (default: value x unit / bits)")
    read_j_per_bit: Quantity | None = param(None, kind="any", doc="read J per bit for rmw (default: j_per_bit)")
    write_j_per_bit: Quantity | None = param(None, kind="any", doc="write J per bit for rmw (default: j_per_bit)")
    process: str = param("", doc="process or conditions")
    year: int | None = param(None, minimum=1800, maximum=2100, integer=True, optional=True, doc="year published")
    confidence: str = param("", doc="how far to trust the figure")

    def validate(self):
        energy, _ = figure_energy(self.value, self.unit, "Technology.unit")
        if not energy <= MAX_FIGURE:   # larger figures overflow the bill (and inf compares False)
            raise ParameterError(f"Technology.value = {self.value:g} {self.unit}: must be <= {MAX_FIGURE!r} per unit",
                                 "Technology.value")
        for name in ("j_per_bit", "read_j_per_bit", "write_j_per_bit"):  # kept as given (None = derived)
            v = getattr(self, name)
            if v is not None:
                self._set(name, check_energy(f"Technology.{name}", v))

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

    def joule_per_bit_flipped(self) -> Quantity | None:
        """Energy of flipping one stored bit: the per-bit write figure (memories, the Landauer floor,
        and the biological per-bit figures, the seed paper's long-term-memory figure among them);
        None for a device that publishes a figure per update only."""
        if self.cost == "update":
            return None
        return self.write_joule_per_bit if self.cost == "rmw" else self.joule_per_bit

    def bits_charged(self, bits, biology: LongTermMemory | None = None) -> float:
        """Bits a write is charged for: b (rmw, erase), the device's own (update),
        bits_per_synapse (synapse), stored bits 1/S (memory)."""
        biology = biology or LongTermMemory()
        return {"rmw": float(bits), "erase": float(bits),
                "update": 1.0 if self.unit.endswith("/bit") else self.bits,
                "synapse": biology.bits_per_synapse, "memory": 1 / biology.synapses_per_bit}[self.cost]


#: What a run computes, priced by :class:`EventCost` entries (see :mod:`spikegate.energy.bill`).
EVENT_BASES = ("spike", "synaptic_event", "mac")


@declaration
class EventCost(Declaration):
    r"""A published energy per computing event (a spike, a synaptic event, a MAC) on some technologies.

    Parameters
    ----------
    name, figure, source : str
        Entry name, the figure as published, and where (required).
    basis : str
        What is counted: spike, synaptic_event or mac.
    technologies : tuple of str
        The catalogue technologies (by name) this figure computes on: e.g. a 45 nm MAC for
        every memory a processor reads its weights from.
    value, unit : float, str
        The figure per event (J ... zJ, or ATP).
    boundary, process, confidence : str
    year : int, optional
    """

    name: str = param(kind="text", required=True, doc="entry name")
    figure: str = param(kind="text", required=True, doc="the figure as published")
    basis: str = param(choices=EVENT_BASES, doc="what is counted")
    technologies: tuple = param(kind="any", doc="the technologies (by name) this figure computes on")
    value: float = param(minimum=0, strict_min=True, cast=float, doc="the figure per event")
    unit: str = param(kind="text", required=True, doc="J ... zJ, or ATP")
    boundary: str = param(choices=BOUNDARIES, doc="what the figure includes")
    source: str = param(kind="text", required=True, doc="where it was published")
    process: str = param("", doc="process or conditions")
    year: int | None = param(None, minimum=1800, maximum=2100, integer=True, optional=True, doc="year published")
    confidence: str = param("", doc="how far to trust the figure")

    def validate(self):
        techs = self.technologies
        if isinstance(techs, str) or not isinstance(techs, (list, tuple)) or not techs:
            raise ParameterError(f"EventCost.technologies = {techs!r}: expected a non-empty list of technology "
                                 "names", "EventCost.technologies")
        self._set("technologies", tuple(check_text("EventCost.technologies", t) for t in techs))
        energy, per_bit = figure_energy(self.value, self.unit, "EventCost.unit")
        if per_bit:
            raise ParameterError(f"EventCost.unit = {self.unit!r}: a figure per event, not per bit",
                                 "EventCost.unit")
        if not energy <= MAX_FIGURE:
            raise ParameterError(f"EventCost.value = {self.value:g} {self.unit}: must be <= {MAX_FIGURE!r} per event",
                                 "EventCost.value")

    @property
    def joule_per_event(self) -> Quantity:
        return figure_energy(self.value, self.unit)[0]


# --------------------------------------------------------------------------- catalogue
_REQUIRED = ("figure", "value", "unit", "boundary", "source")
_EVENT_REQUIRED = ("figure", "basis", "technologies", "value", "unit", "boundary", "source")
_EVENT_OPTIONAL = ("process", "year", "confidence")
_OPTIONAL = ("bits", "cost", "j_per_bit", "read_j_per_bit", "write_j_per_bit", "process", "year", "confidence")


def default_catalogue_path():
    """The catalogue shipped with spikegate (``spikegate/energy/catalogue.toml``)."""
    return resources.files("spikegate.energy") / "catalogue.toml"


def _entries(doc: dict, where: str, table: str, cls, required, optional, note: str = "") -> dict:
    """``cls(name=NAME, **fields)`` of each ``[table.NAME]`` of ``doc``; errors name the entry and the field."""
    entries = doc.get(table, {})
    if not isinstance(entries, dict):
        raise EnergyError(f"catalogue {where}: '{table}' must hold [{table}.NAME] tables")
    kind = "entry" if table == "technology" else table
    out = {}
    for name, entry in entries.items():
        head = f"catalogue {where}: {kind} {name!r}"
        if not isinstance(entry, dict):
            raise EnergyError(f"{head}: expected a table [{table}.{name}]")
        unknown = sorted(set(entry) - set(required) - set(optional))
        if unknown:
            raise EnergyError(f"{head}: unknown field {unknown[0]!r}; allowed: {', '.join(required + optional)}")
        missing = [f for f in required if f not in entry]
        if missing:
            raise EnergyError(f"{head}: missing field {missing[0]!r} (required: {', '.join(required)}{note})")
        try:
            out[name] = cls(name=name, **entry)
        except (ParameterError, TypeError) as exc:
            raise EnergyError(f"{head}: {exc}") from None
    return out


def parse_events(doc: dict, where: str) -> dict[str, EventCost]:
    """The ``[event.NAME]`` entries of a catalogue TOML document (computing figures)."""
    return _entries(doc, where, "event", EventCost, _EVENT_REQUIRED, _EVENT_OPTIONAL)


def parse_catalogue(doc: dict, where: str) -> dict[str, Technology]:
    """Technologies of a catalogue TOML document; errors name ``where``, the entry and the field."""
    extra = sorted(set(doc) - {"technology", "event"})
    if extra:
        raise EnergyError(f"catalogue {where}: unknown top-level key {extra[0]!r}; entries go in "
                          f"[technology.NAME] and [event.NAME] tables")
    entries = doc.get("technology", {})
    if not isinstance(entries, dict) or (not entries and "event" not in doc):
        raise EnergyError(f"catalogue {where}: no [technology.NAME] entries")
    return _entries(doc, where, "technology", Technology, _REQUIRED, _OPTIONAL, "; every figure needs a source")


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
    cat = parse_catalogue(tomllib.loads(default_catalogue_path().read_text()), "spikegate/energy/catalogue.toml")
    if path is not None:
        cat = _merge(cat, parse_catalogue(read_toml(path, "catalogue", error=EnergyError), str(path)))
    return cat


def load_events(path=None, catalogue=None) -> dict[str, EventCost]:
    """The computing figures (``[event.NAME]``) of the default catalogue, with those of ``path``
    merged over them by name; every technology they name must be in ``catalogue``."""
    events = parse_events(tomllib.loads(default_catalogue_path().read_text()), "spikegate/energy/catalogue.toml")
    if path is not None:
        events = _merge(events, parse_events(read_toml(path, "catalogue", error=EnergyError), str(path)))
    known = {k.lower(): k for k in (catalogue if catalogue is not None else load_catalogue(path))}
    for ev in events.values():
        for t in ev.technologies:
            if t.lower() not in known:
                raise EnergyError(f"catalogue: event {ev.name!r} names technology {t!r}, which is not in the "
                                  f"catalogue; known: {', '.join(known.values())}")
    return events


def as_catalogue(catalogue) -> dict[str, Technology]:
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
