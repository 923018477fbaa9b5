r"""The whole energy bill of a run: learning (writes, :math:`\sum|\Delta w|`, caching) beside
computing (spikes, synaptic events, MACs, weight reads), per technology.

Each row prices one *basis* on one technology, :math:`E = N \cdot e`, with :math:`N` a
count from the run and :math:`e` a catalogue figure (:mod:`spikegate.energy.catalogue`):

=================  ==========================================  ===========================================
basis              :math:`N`                                   :math:`e`
=================  ==========================================  ===========================================
write              :math:`M_0`, synaptic writes                 the technology's J per write (``--bits``)
bit_flip           bits flipped by the writes (finite-          the technology's J per bit written
                   precision synapses; not measured for float)
abs_dw             :math:`M_1 = \sum|\Delta w|`                 J per write / :math:`d` (see below)
transient_write    writes of the transient weight (caching)    J per write
maintenance        :math:`c \sum |w_\mathrm{transient}|`        J per write / :math:`d`
spike              action potentials, all layers               ``[event]`` figure (Loihi, cortex)
synaptic_event     presynaptic spikes x fan-out                ``[event]`` figure (Loihi, TrueNorth, CPU, cortex)
mac                forward-pass MACs (rate backend)            ``[event]`` figure (45 nm CPU)
memory_access      weight reads: one per synaptic event or MAC  b bits x the memory's read J/bit
=================  ==========================================  ===========================================

**Assumption of abs_dw**: the energy of a change is proportional to its size, and a change
of :math:`|\Delta w| = d` costs one full write (``abs_dw_per_write``, default 1: one unit of
weight, i.e. a PSP of ``w_scale`` in the spiking model). The papers' dimensionless
:math:`M_1` and :math:`M_\alpha` are kept beside it. ``write``, ``bit_flip`` and ``abs_dw``
are three measures of the same learning (per word, per bit, per amount), so only ``write``
enters the total (``in_total``).

*Learning* is write + transient_write + maintenance; *computing* is the rest. The counts
are those of the training presentations (:mod:`spikegate.energy.operations`).

The writes alone, priced per technology with each figure's provenance and the ratios to
biology and to the Landauer limit, are the *report* (:func:`report`, ``energy_writes.csv``):
the bill's ``write`` rows. :func:`compare` and :func:`bill_curves` put runs side by side,
each labelled by its gate and seed (:func:`run_labels`); :func:`summary` is the short text
that ``spikegate energy RUN_DIR`` prints.

**One width per run**: the bits per stored weight :math:`b` that price a write and a weight
read (and restate NeuroBench's footprint) are the run's synapse format (``synapse.bits``;
32, float32, for float synapses) unless the caller gives ``bits`` (:func:`weight_bits`).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from brian2 import joule

from ..errors import DataError, EnergyError
from ..files import atomic_path, csv_text, read_toml, write_text
from ..ledger import EnergyLedger
from ..rundir import CONFIG, LEDGER, METRICS, RunRecord, read_run
from ..tables import text_table
from .catalogue import BIOLOGY_REFERENCE, as_catalogue, load_events, select
from .operations import cumulative_operations, footprint, format_neurobench, operation_counts
from .pricing import BODY_TEMPERATURE, Landauer, LongTermMemory, bits_per_synapse, check_bits

#: Technologies shown by :func:`compare` when none are chosen.
DEFAULT_COMPARE = ("SRAM-32KB", "DRAM", "Loihi", "long-term-memory")


def _read(run_dir) -> RunRecord:
    """The metrics and the ledger of a run directory (all that energy reads)."""
    return read_run(run_dir, (METRICS, LEDGER), purpose="energy needs the run's metrics.json and ledger.npz")


def run_metrics(run_dir) -> dict:
    """The ``metrics.json`` of a run directory."""
    return read_run(run_dir, (METRICS,), purpose="energy needs the run's metrics.json").metrics


def _csv(records, fields) -> str:
    # floats written in full (repr), so the CSV reads back to the same numbers
    return csv_text([{k: (repr(r[k]) if isinstance(r.get(k), float) else r.get(k)) for k in fields}
                     for r in records], fields)


def _unique(run_dirs) -> list[Path]:
    """Run directories in order, each once (compared by resolved path)."""
    seen = {}
    for d in run_dirs:
        seen.setdefault(Path(d).resolve(), Path(d))
    return list(seen.values())


def weight_bits(metrics: dict, bits=None, given: str = "bits", where: str = "metrics.json") -> tuple[float, str]:
    """The bits per stored weight that price a run, and where the figure comes from.

    Parameters
    ----------
    metrics : dict
        The run's ``metrics.json`` (``synapse_bits``: the bits of a stored code, 0 for float).
    bits : float, optional
        A width chosen by the caller (checked: 0.001 to 1024); None: the run's own.
    given : str
        How the caller's width is named in the provenance (``--bits`` at the command line).
    where : str
        The metrics' file, named in errors.

    Returns
    -------
    tuple of (float, str)
        :math:`b` and its provenance: the caller's, the run's synapse format
        (``synapse.bits``), or 32 (float32) for float synapses.
    """
    if bits is not None:
        b = check_bits(bits, given)
        return b, f"from {given}"
    stored = metrics.get("synapse_bits")
    if not stored:
        return 32.0, "float32 for the run's float synapses, synapse.bits = 0"
    if stored > 1024:
        raise EnergyError(f"{where} synapse_bits = {stored}: must be <= 1024 to price a write; "
                          f"give --bits B (0.001 to 1024)")
    return float(stored), f"the run's synapse format, synapse.bits = {stored}"


def _seed(run_dir: Path):
    """The seed in the run's ``config.toml`` (None without one)."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        return None
    seed = read_toml(path, "run file", error=DataError).get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise DataError(f"run file {path}: seed = {seed!r}: expected an integer >= 0")
    return seed


def run_identity(run_dir, metrics: dict | None = None) -> dict:
    """``model``, ``gate``, ``seed`` (from ``config.toml``; None without one), ``backend`` and
    ``test_accuracy`` of a run directory, and its ``label`` (:func:`run_labels`, alone)."""
    m = run_metrics(run_dir) if metrics is None else metrics
    seed = _seed(run_dir)
    gate = m.get("gate") or "?"
    return {"model": m.get("model"), "gate": gate, "seed": seed, "backend": m.get("backend", "spiking"),
            "test_accuracy": m.get("test_accuracy"),
            "label": gate if seed is None else f"{gate} seed {seed}"}


def _flat(table: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in table.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _collisions(labels: dict) -> list[list[str]]:
    groups = {}
    for d, label in labels.items():
        groups.setdefault(label, []).append(d)
    return [same for same in groups.values() if len(same) > 1]


def _distinguishing(configs: dict, most: int = 2) -> list[str]:
    """Up to ``most`` settings, chosen greedily, that tell the most of ``configs`` apart."""
    keys = sorted(k for k in set().union(*configs.values()) if len({repr(c.get(k)) for c in configs.values()}) > 1)
    chosen, kinds = [], 1
    while keys and len(chosen) < most and kinds < len(configs):
        def kinds_with(k):
            return len({tuple(repr(c.get(x)) for x in chosen + [k]) for c in configs.values()})
        best = max(keys, key=kinds_with)
        chosen.append(best)
        kinds = kinds_with(best)
        keys.remove(best)
    return chosen


def run_labels(run_dirs) -> dict[str, str]:
    """A short label per run directory (keyed by ``str`` of the path as given, each run once):
    ``<gate> seed <seed>`` from its ``metrics.json`` and ``config.toml`` (``<gate>`` alone
    without a config). Runs sharing a label get suffixes, in turn while some still share one:
    the model where models differ, the settings of ``config.toml`` in which they differ (two
    at most), the directory name, ``#k``."""
    runs = [str(d) for d in _unique(run_dirs)]
    ids = {d: run_identity(d) for d in runs}
    extra = {d: [] for d in runs}

    def labels():
        return {d: ids[d]["label"] + (f" ({', '.join(extra[d])})" if extra[d] else "") for d in runs}

    for step in ("model", "config", "name"):
        for same in _collisions(labels()):
            if step == "model" and len({repr(ids[d]["model"]) for d in same}) > 1:
                for d in same:
                    extra[d].append(str(ids[d]["model"]))
            elif step == "config" and all((Path(d) / CONFIG).is_file() for d in same):
                cfgs = {d: _flat(read_toml(Path(d) / CONFIG, "run file", error=DataError)) for d in same}
                for d in same:
                    extra[d] += [f"{k}={cfgs[d].get(k)}" for k in _distinguishing(cfgs)]
            elif step == "name" and len({Path(d).name for d in same}) > 1:
                for d in same:
                    extra[d].append(Path(d).name)
    out = labels()
    for same in _collisions(out):
        out.update({d: f"{out[d]} #{k + 1}" for k, d in enumerate(same)})
    return out


def biology_reference(catalogue, bits_per_synapse_, synapses_per_bit) -> LongTermMemory:
    ref = select(catalogue, [BIOLOGY_REFERENCE])[0]
    return LongTermMemory(joule_per_bit=ref.joule_per_bit, bits_per_synapse=bits_per_synapse_,
                          synapses_per_bit=synapses_per_bit)



#: Every basis, learning first.
BASES = ("write", "bit_flip", "abs_dw", "transient_write", "maintenance", "spike", "synaptic_event", "mac",
         "memory_access")
LEARNING = ("write", "bit_flip", "abs_dw", "transient_write", "maintenance")
#: What a basis counts (the unit of ``count``).
COUNTED = {"write": "synaptic write", "bit_flip": "stored bit flipped", "abs_dw": "|dw| (weight units)", "transient_write": "transient write",
           "maintenance": "|w_transient| (weight units)", "spike": "action potential",
           "synaptic_event": "synaptic event", "mac": "multiply-accumulate", "memory_access": "weight read"}

#: Columns of ``energy.csv``.
BILL_FIELDS = ("technology", "basis", "part", "in_total", "count", "counted", "j_per_unit", "joules", "boundary",
               "source", "figure", "confidence", "assumption", "model", "gate", "backend", "bits")


def check_bases(bases) -> tuple[str, ...]:
    """``bases`` (names) validated; all of them when None or empty."""
    if not bases:
        return BASES
    out = []
    for b in bases:
        if b not in BASES:
            raise EnergyError(f"unknown basis {b!r}; allowed: {', '.join(BASES)}")
        out.append(b)
    return tuple(dict.fromkeys(out))


def check_abs_dw_per_write(value, where: str = "--abs-dw-per-write") -> float:
    """The :math:`|\\Delta w|` that costs one write: a finite number > 0."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise EnergyError(f"{where} = {value!r}: expected a number > 0") from None
    if not math.isfinite(x) or x <= 0 or isinstance(value, bool):
        raise EnergyError(f"{where} = {value!r}: must be a finite number > 0")
    return x


def learning_counts(ledger: EnergyLedger, presentations: int | None = None) -> dict:
    """:math:`M_0`, :math:`M_1`, :math:`M_\\alpha`, transient writes and maintenance (of the first
    ``presentations`` rows, all by default)."""
    rows = slice(0, presentations)
    return {"write": int(ledger.writes[rows].sum()), "bit_flip": int(ledger.bits_flipped[rows].sum()),
            "abs_dw": float(ledger.sum_abs_dw[rows].sum()),
            "m_alpha": float(ledger.sum_abs_dw_alpha[rows].sum()),
            "transient_write": int(ledger.transient_writes[rows].sum()),
            "maintenance": float(ledger.maintenance[rows].sum())}


def run_counts(backend: str, ledger: EnergyLedger, presentations: int | None = None) -> dict:
    ops = operation_counts(backend, ledger) if presentations is None else \
        cumulative_operations(backend, ledger, presentations)
    return {**learning_counts(ledger, presentations), "spike": ops["spikes"], "synaptic_event": ops["synaptic_events"],
            "mac": ops["dense_macs"], "memory_access": ops["weight_reads"]}


def price(counts: dict, bits, catalogue, events, technologies=None, bases=None, abs_dw_per_write: float = 1.0,
          biology=None) -> list[dict]:
    """Bill rows ``{technology, basis, part, in_total, count, j_per_unit, joules, ...}`` for ``counts``.

    Rows with a zero count of a computing basis are left out (a rate run has no spikes);
    learning rows of ``write`` and ``abs_dw`` are always there.
    """
    bits = check_bits(bits)
    bases = check_bases(bases)
    d = check_abs_dw_per_write(abs_dw_per_write)
    biology = biology or biology_reference(catalogue, bits_per_synapse(), 1.0)
    techs = select(catalogue, technologies)
    rows = []

    def add(tech, basis, j, boundary, source, figure, confidence, assumption=""):
        n = counts[basis]
        rows.append({"technology": tech.name, "basis": basis, "part": "learning" if basis in LEARNING else "computing",
                     "in_total": basis not in ("abs_dw", "bit_flip"), "count": n, "counted": COUNTED[basis], "j_per_unit": j,
                     "joules": n * j, "boundary": boundary, "source": source, "figure": figure,
                     "confidence": confidence, "assumption": assumption, "bits": bits})

    for tech in techs:
        j_write = float(tech.joule_per_write(bits, biology) / joule)
        own = (tech.boundary, tech.source, tech.figure, tech.confidence)
        if "write" in bases:
            add(tech, "write", j_write, *own)
        per_bit = tech.joule_per_bit_flipped()
        if "bit_flip" in bases and counts["bit_flip"] and per_bit is not None:
            add(tech, "bit_flip", float(per_bit / joule), *own,
                "a flipped bit costs the per-bit write figure; a second measure of the writes (not in the total)")
        if "abs_dw" in bases:
            add(tech, "abs_dw", j_write / d, *own, f"|dw| = {d:g} costs one write; energy proportional to |dw|")
        if "transient_write" in bases and counts["transient_write"]:
            add(tech, "transient_write", j_write, *own, "a transient write costs a write")
        if "maintenance" in bases and counts["maintenance"]:
            add(tech, "maintenance", j_write / d, *own, f"maintenance priced as |dw|: {d:g} costs one write")
        mine = [ev for ev in events.values() if tech.name.lower() in (t.lower() for t in ev.technologies)]
        for ev in mine:
            if ev.basis in bases and counts[ev.basis]:
                add(tech, ev.basis, float(ev.joule_per_event / joule), ev.boundary, ev.source, ev.figure,
                    ev.confidence)
        if "memory_access" in bases and mine and tech.cost == "rmw" and counts["memory_access"]:
            add(tech, "memory_access", float(bits * tech.read_joule_per_bit / joule), *own,
                f"one {bits:g}-bit weight read per synaptic event or MAC, no reuse")
    return rows


def totals(rows) -> list[dict]:
    """Per technology: learning J, computing J (None when no computing figure), their ratio, total."""
    out = {}
    for r in rows:
        t = out.setdefault(r["technology"], {"technology": r["technology"], "learning_j": 0.0, "computing_j": None,
                                             "computing_bases": []})
        if not r["in_total"]:
            continue
        if r["part"] == "learning":
            t["learning_j"] += r["joules"]
        else:
            t["computing_j"] = (t["computing_j"] or 0.0) + r["joules"]
            t["computing_bases"].append(r["basis"])
    for t in out.values():
        c = t["computing_j"]
        t["learning_over_computing"] = t["learning_j"] / c if c else None
        t["total_j"] = t["learning_j"] + (c or 0.0)
    return list(out.values())


def bill(run_dir, bits=None, catalogue=None, technologies=None, bases=None, abs_dw_per_write: float = 1.0,
         synapses_per_bit: float = 1.0) -> list[dict]:
    """The bill of a run directory: one row per (technology, basis), energies in joules.

    Parameters
    ----------
    run_dir : path
        A run directory (``metrics.json`` and ``ledger.npz`` are read).
    bits : float, optional
        Bits per stored weight (``write`` and ``memory_access``); default the run's
        (:func:`weight_bits`).
    catalogue : path, optional
        A TOML file merged over the default catalogue (``[technology.*]`` and ``[event.*]``).
    technologies, bases : list of str, optional
        Which to report; all by default.
    abs_dw_per_write : float
        The :math:`|\\Delta w|` that costs one write (> 0): the conversion of ``abs_dw``.
    synapses_per_bit : float
        The biological assumption of the long-term-memory figure.
    """
    path = catalogue if isinstance(catalogue, (str, Path)) else None
    cat = as_catalogue(catalogue)
    events = load_events(path, cat)
    run = _read(run_dir)
    backend = run.metrics.get("backend", "spiking")
    biology = biology_reference(cat, bits_per_synapse(), synapses_per_bit)
    bits = weight_bits(run.metrics, bits, where=f"run directory {run.path}: {METRICS}")[0]
    rows = price(run_counts(backend, run.ledger), bits, cat, events, technologies, bases, abs_dw_per_write, biology)
    for r in rows:
        r.update(model=run.metrics.get("model"), gate=run.metrics.get("gate"), backend=backend, run=str(run.path))
    return rows


def bill_curves(run_dirs, bits=None, catalogue=None, technology="SRAM-32KB", abs_dw_per_write: float = 1.0,
                synapses_per_bit: float = 1.0) -> list[dict]:
    """Cumulative learning and total energy on ``technology`` at each measured test accuracy.

    One record per (run, curve point): run, label (:func:`run_labels`), gate, bits (each
    run's own unless ``bits`` is given), epoch, presentations, test_accuracy, learning_j,
    computing_j, total_j (joules).
    """
    path = catalogue if isinstance(catalogue, (str, Path)) else None
    cat = as_catalogue(catalogue)
    events = load_events(path, cat)
    biology = biology_reference(cat, bits_per_synapse(), synapses_per_bit)
    tech = select(cat, [technology])[0].name
    labels = run_labels(run_dirs)
    out = []
    for run_dir in _unique(run_dirs):
        run = _read(run_dir)
        backend = run.metrics.get("backend", "spiking")
        b = weight_bits(run.metrics, bits, where=f"run directory {run.path}: {METRICS}")[0]
        points = [(c.get("epoch"), c.get("samples_seen"), c["test_accuracy"]) for c in run.metrics.get("curves", [])
                  if c.get("test_accuracy") is not None and c.get("samples_seen") is not None]
        if not points and run.metrics.get("test_accuracy") is not None:
            points = [(run.metrics.get("epochs"), run.ledger.n_presentations, run.metrics["test_accuracy"])]
        for epoch, seen, acc in points:
            rows = price(run_counts(backend, run.ledger, int(seen)), b, cat, events, [tech], None, abs_dw_per_write,
                         biology)
            t = totals(rows)[0]
            out.append({"run": str(run.path), "label": labels[str(run_dir)], "gate": run.metrics.get("gate"),
                        "bits": b, "epoch": epoch,
                        "presentations": int(seen), "test_accuracy": acc, "technology": tech,
                        "learning_j": t["learning_j"], "computing_j": t["computing_j"] or 0.0,
                        "total_j": t["total_j"]})
    return out


def energy_to_target(curves, target: float | None = None) -> tuple[float, list[dict]]:
    """The target accuracy (default: the lowest best accuracy of the runs, so each reaches it) and,
    per run, the learning and total energy at the first point that reaches it (None if none does)."""
    runs = list(dict.fromkeys(c["run"] for c in curves))
    if target is None:
        target = min(max(c["test_accuracy"] for c in curves if c["run"] == r) for r in runs) if runs else 0.0
    out = []
    for r in runs:
        pts = [c for c in curves if c["run"] == r]
        hit = next((c for c in pts if c["test_accuracy"] >= target), None)
        out.append({"run": r, "label": pts[0].get("label", Path(r).name), "gate": pts[0]["gate"],
                    "technology": pts[0]["technology"], "target_accuracy": target,
                    "reached": hit is not None, "presentations": hit["presentations"] if hit else None,
                    "learning_j": hit["learning_j"] if hit else None, "total_j": hit["total_j"] if hit else None})
    return target, out


# --------------------------------------------------------------------------- the writes alone
def _records(run: RunRecord, bits, catalogue, technologies, bits_per_synapse_, synapses_per_bit, temperature):
    """The report's records: the bill's ``write`` rows of ``run``, with each technology's
    provenance and the ratios to biology and to the Landauer limit."""
    cat = as_catalogue(catalogue)
    biology = biology_reference(cat, bits_per_synapse_, synapses_per_bit)
    counts = {**dict.fromkeys(BASES, 0), "write": run.ledger.m0}
    bits = weight_bits(run.metrics, bits, where=f"run directory {run.path}: {METRICS}")[0]
    rows = price(counts, bits, cat, {}, technologies, ["write"], biology=biology)
    bio_write = float(select(cat, [BIOLOGY_REFERENCE])[0].joule_per_write(bits, biology) / joule)
    floor = float(Landauer(temperature).joule_per_write(bits) / joule)
    m, techs = run.metrics, {t.name: t for t in select(cat, technologies)}
    out = []
    for row in rows:
        tech = techs[row["technology"]]
        out.append({
            "run": str(run.path), "model": m.get("model"), "gate": m.get("gate"),
            "test_accuracy": m.get("test_accuracy"), "n_writes": row["count"], "bits": bits,
            "technology": tech.name, "boundary": tech.boundary, "cost": tech.cost,
            "bits_charged": tech.bits_charged(bits, biology), "j_per_bit": float(tech.joule_per_bit / joule),
            "j_per_write": row["j_per_unit"], "total_j": row["joules"],
            "ratio_to_biology": row["j_per_unit"] / bio_write, "ratio_to_landauer": row["j_per_unit"] / floor,
            "biology_j_per_write": bio_write, "landauer_j_per_write": floor,
            "bits_per_synapse": biology.bits_per_synapse, "synapses_per_bit": biology.synapses_per_bit,
            "figure": tech.figure, "process": tech.process, "year": tech.year, "source": tech.source,
            "confidence": tech.confidence,
        })
    return out


def report(run_dir, bits=None, catalogue=None, technologies=None, *, bits_per_synapse=bits_per_synapse(),
           synapses_per_bit=1.0, temperature=BODY_TEMPERATURE) -> list[dict]:
    r"""Energy of a run's synaptic writes for each technology, as tidy records.

    Parameters
    ----------
    run_dir : path
        A run directory; only ``metrics.json`` and ``ledger.npz`` are read.
    bits : float, optional
        Bits per stored weight :math:`b` (> 0): 32 for float32, 8 for int8; default the
        run's (:func:`weight_bits`).
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
    return _records(_read(run_dir), bits, catalogue, technologies, bits_per_synapse, synapses_per_bit,
                    temperature)


COMPARE_FIELDS = ("run", "label", "model", "gate", "test_accuracy", "n_writes", "bits", "technology", "j_per_write",
                   "total_j")


def compare(run_dirs, bits=None, catalogue=None, technologies=None, *, bits_per_synapse=bits_per_synapse(),
            synapses_per_bit=1.0) -> list[dict]:
    """Runs side by side: one record per (run, technology) with the run's totals.

    ``technologies`` defaults to :data:`DEFAULT_COMPARE`; ``bits`` to each run's own
    (:func:`weight_bits`). Fields: run, label (gate and seed, :func:`run_labels`), model,
    gate, test_accuracy, n_writes, bits, technology, j_per_write, total_j.
    """
    cat = as_catalogue(catalogue)
    technologies = technologies or DEFAULT_COMPARE
    labels = run_labels(run_dirs)
    out = []
    for run_dir in _unique(run_dirs):
        recs = _records(_read(run_dir), bits, cat, technologies, bits_per_synapse, synapses_per_bit,
                        BODY_TEMPERATURE)
        out += [{k: (labels[str(run_dir)] if k == "label" else r[k]) for k in COMPARE_FIELDS} for r in recs]
    return out


# --------------------------------------------------------------------------- text and figures
def format_bill(rows) -> str:
    """Per technology: learning, computing, their ratio and the total; then the assumptions."""
    if not rows:
        return "no rows"
    ts = sorted(totals(rows), key=lambda t: -t["total_j"])
    table = [[t["technology"], f"{t['learning_j']:.3g}", "-" if t["computing_j"] is None else f"{t['computing_j']:.3g}",
              "-" if t["learning_over_computing"] is None else f"{t['learning_over_computing']:.3g}",
              f"{t['total_j']:.3g}", ", ".join(t["computing_bases"]) or "-"] for t in ts]
    r0 = rows[0]
    counts = {r["basis"]: r["count"] for r in rows}
    head = (f"{r0.get('model')} | gate {r0.get('gate')} | {r0.get('backend')} | counts: "
            + ", ".join(f"{b} {counts[b]:,.6g}" for b in BASES if b in counts))
    notes = ["learning = write + transient_write + maintenance; abs_dw (sum |dw|) is shown in energy.csv beside "
             "write, not added.",
             next((r["assumption"] for r in rows if r["basis"] == "abs_dw"), ""),
             "computing = spikes, synaptic events or MACs, and weight reads of the training presentations "
             "(forward pass); '-' where the catalogue has no computing figure for a technology."]
    order = {t["technology"]: k for k, t in enumerate(ts)}
    detail = [[r["technology"], r["basis"], r["part"] + ("" if r["in_total"] else " (beside)"), f"{r['count']:.6g}",
               f"{r['j_per_unit']:.3g}", f"{r['joules']:.3g}", r["boundary"]]
              for r in sorted(rows, key=lambda r: (order[r["technology"]], BASES.index(r["basis"])))]
    return (head + "\n\n" + text_table(table, ["technology", "learning J", "computing J", "learning/computing",
                                               "total J", "computing bases"])
            + "\n\nper basis:\n\n" + text_table(detail, ["technology", "basis", "part", "count", "J per unit", "J",
                                                         "boundary"])
            + "\n\n" + "\n".join(n for n in notes if n))


def plot_bill(rows):
    """Learning and computing energy per technology, side by side on a log axis (a Figure)."""
    from matplotlib.figure import Figure

    ts = sorted(totals(rows), key=lambda t: t["total_j"])
    fig = Figure(figsize=(8, 0.42 * len(ts) + 1.8))
    ax = fig.add_subplot()
    y = np.arange(len(ts))
    learn = [t["learning_j"] for t in ts]
    comp = [t["computing_j"] or 0.0 for t in ts]
    ax.barh(y + 0.2, learn, height=0.4, color="#c44e52", label="learning (writes)")
    ax.barh(y - 0.2, comp, height=0.4, color="#4c72b0", label="computing (spikes, synaptic events, MACs, reads)")
    ax.set_xscale("log")
    ax.set_yticks(y, [t["technology"] for t in ts])
    for yy, t in zip(y, ts):
        if t["learning_over_computing"] is not None:
            ax.text(max(t["learning_j"], t["computing_j"]), yy, f"  learning/computing {t['learning_over_computing']:.2g}",
                    va="center", fontsize=7)
    vals = [v for v in learn + comp if v > 0]
    if vals:
        ax.set_xlim(min(vals) / 10, max(vals) * 1e4)
    r0 = rows[0]
    ax.set_xlabel("energy of the run's training presentations (J)")
    ax.set_title(f"{r0.get('model')} | gate {r0.get('gate')}: learning beside computing", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_bill_curves(curves, target=None):
    """Test accuracy against cumulative energy (total solid, learning dashed), one colour per run:
    how much accuracy each joule buys along the learning curve."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot()
    runs = list(dict.fromkeys(c["run"] for c in curves))
    for k, run in enumerate(runs):
        pts = [c for c in curves if c["run"] == run]
        colour = f"C{k % 10}"
        label = pts[0].get("label") or f"{Path(run).name} ({pts[0]['gate']})"
        acc = [p["test_accuracy"] for p in pts]
        ax.plot([p["total_j"] for p in pts], acc, "o-", color=colour, label=f"{label}: total")
        ax.plot([p["learning_j"] for p in pts], acc, "s--", color=colour, alpha=0.7, label=f"{label}: learning")
    ax.set_xscale("log")
    if target is not None:
        ax.axhline(target, color="0.5", lw=0.8, ls=":")
        ax.text(ax.get_xlim()[0], target, f" target {target:.4f}", fontsize=7, va="bottom")
    tech = curves[0]["technology"] if curves else ""
    ax.set_xlabel(f"cumulative energy on {tech} (J): learning (dashed), learning + computing (solid)")
    ax.set_ylabel("test accuracy (fraction correct)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def bill_csv(rows) -> str:
    return _csv(rows, BILL_FIELDS)


def write_bill(rows, out_dir) -> list[Path]:
    """``energy.csv`` (one row per technology and basis), ``energy.png`` and ``energy.svg``."""
    out_dir = Path(out_dir)
    return [write_text(out_dir / "energy.csv", bill_csv(rows))] + _save_figure(plot_bill(rows), out_dir, "energy")


def write_compare(records, curves, targets, out_dir) -> list[Path]:
    """``energy_compare.csv`` (runs x technologies, the writes priced), ``energy_to_target.csv``
    and the figure ``energy_compare.png``/``.svg`` (cumulative energy against accuracy)."""
    out_dir = Path(out_dir)
    target_fields = ("run", "label", "gate", "technology", "target_accuracy", "reached", "presentations", "learning_j",
                     "total_j")
    paths = [write_text(out_dir / "energy_compare.csv", _csv(records, COMPARE_FIELDS)),
             write_text(out_dir / "energy_to_target.csv", _csv(targets, target_fields))]
    target = targets[0]["target_accuracy"] if targets else None
    return paths + _save_figure(plot_bill_curves(curves, target), out_dir, "energy_compare")


#: Columns of ``energy_writes.csv`` (the report).
CSV_FIELDS = ("technology", "boundary", "cost", "bits", "bits_charged", "j_per_bit", "j_per_write", "n_writes",
              "total_j", "ratio_to_biology", "ratio_to_landauer", "biology_j_per_write", "landauer_j_per_write",
              "bits_per_synapse", "synapses_per_bit", "model", "gate", "figure", "process", "year", "source",
              "confidence")

def _save_figure(fig, out_dir: Path, stem: str) -> list[Path]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    paths = []
    for ext in ("png", "svg"):
        with atomic_path(out_dir / f"{stem}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else {})
        paths.append(out_dir / f"{stem}.{ext}")
    return paths


def write_report(records, out_dir) -> list[Path]:
    """Write ``energy_writes.csv`` (one row per technology: the writes priced) into ``out_dir``."""
    return [write_text(Path(out_dir) / "energy_writes.csv", _csv(records, CSV_FIELDS))]


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
    """Runs as rows (labelled by gate and seed), the writes' energy for each technology as columns."""
    techs = list(dict.fromkeys(r["technology"] for r in records))
    runs = list(dict.fromkeys(r["run"] for r in records))
    widths = list(dict.fromkeys(r["bits"] for r in records))
    rows = []
    for run in runs:
        rs = {r["technology"]: r for r in records if r["run"] == run}
        r0 = next(iter(rs.values()))
        acc = r0["test_accuracy"]
        rows.append([r0.get("label") or Path(run).name, "-" if acc is None else f"{acc:.4f}", f"{r0['n_writes']:,}"]
                    + ([f"{r0['bits']:g}"] if len(widths) > 1 else []) + [f"{rs[t]['total_j']:.3g}" for t in techs])
    bits = f"{widths[0]:g} bits per weight" if len(widths) == 1 else "each run's bits per weight (column bits)"
    return (text_table(rows, ["run", "test acc", "M0"] + (["bits"] if len(widths) > 1 else [])
                       + [f"J {t}" for t in techs])
            + f"\n\nJ = M0 x J per write, {bits} (see `spikegate energy RUN_DIR --full` for the per-write figures).")


#: How the short text names the counts of each basis.
_PLURAL = {"write": "writes", "transient_write": "transient writes", "maintenance": "|w_transient| (weight units)",
           "spike": "spikes", "synaptic_event": "synaptic events", "mac": "MACs", "memory_access": "weight reads"}


def _count(n) -> str:
    return f"{n:,}" if isinstance(n, (int, np.integer)) else f"{n:.4g}"


def _terms(rows) -> str:
    return " + ".join(f"{_count(r['count'])} {_PLURAL[r['basis']]} x {r['j_per_unit']:.3g} J" for r in rows)


def brain_lines(rows, synapses_per_bit: float = 1.0) -> list[str]:
    """What the brain row (the :data:`BIOLOGY_REFERENCE` technology) of a bill sets side by side:
    its learning figure (organism-level by default: a whole animal's long-term memory) and its
    computing figures (cell-level by default: the ATP of spikes and synaptic events), with their
    boundaries and counts; no lines when the bill has no brain row."""
    brain = [r for r in rows if r["technology"].lower() == BIOLOGY_REFERENCE.lower() and r["in_total"]]
    if not brain:
        return []
    learn = [r for r in brain if r["part"] == "learning"]
    comp = [r for r in brain if r["part"] == "computing"]
    lb = "/".join(dict.fromkeys(r["boundary"] for r in learn)) or "-"
    cb = "/".join(dict.fromkeys(r["boundary"] for r in comp))
    t = totals(brain)[0]
    name = brain[0]["technology"]
    if not comp:
        lines = [f"brain row ({name}): learning is {lb}-level; computing not priced (no figure in the catalogue "
                 f"for this run's operations, or --basis left them out)"]
    elif lb == cb:
        lines = [f"brain row ({name}): learning and computing are both {lb}-level; learning/computing "
                 f"{t['learning_over_computing']:.3g}:"]
    else:
        lines = [f"brain row ({name}): learning is {lb}-level, computing {cb}-level, so learning/computing "
                 f"{t['learning_over_computing']:.3g} is not like for like:"]
    if learn:
        figures = "; ".join(dict.fromkeys(r["figure"] for r in learn))
        lines.append(f"  learning  = {_terms(learn)} ({figures}; {synapses_per_bit:g} "
                     f"synapse{'' if synapses_per_bit == 1 else 's'} changed per stored bit)")
    if comp:
        lines.append(f"  computing = {_terms(comp)} ({cb}-level figures; sources in energy.csv)")
    return lines


def _shown(rows, technologies) -> list[str]:
    """The technologies of the summary: all of the bill's when chosen, else those of :data:`DEFAULT_COMPARE`."""
    names = [t["technology"] for t in totals(rows)]
    if technologies:
        return names
    wanted = [d.lower() for d in DEFAULT_COMPARE]
    return sorted((n for n in names if n.lower() in wanted), key=lambda n: wanted.index(n.lower())) or names


def format_written(paths, hint: str = "") -> str:
    """``wrote a.csv, b.png in DIR`` (full paths when they are in several folders), then ``; hint``."""
    folders = list(dict.fromkeys(str(Path(p).parent) for p in paths))
    names = ", ".join(Path(p).name for p in paths) if len(folders) == 1 else ", ".join(str(p) for p in paths)
    return f"wrote {names}" + (f" in {folders[0]}" if len(folders) == 1 else "") + (f"; {hint}" if hint else "")


def summary(run_dir, rows, bits=None, technologies=None, synapses_per_bit: float = 1.0, given: str = "bits") -> str:
    """The short text of ``spikegate energy RUN_DIR``: the run, its counts, the bits per weight,
    the energy on a few technologies, what the brain row compares, and NeuroBench's metrics.

    Parameters
    ----------
    run_dir : path
        The run directory the bill was priced from.
    rows : list of dict
        Its bill (:func:`bill`).
    bits : float, optional
        The width given to :func:`bill` (None: the run's own, :func:`weight_bits`).
    technologies : list of str, optional
        The technologies to show: all those of the bill when given, else those of
        :data:`DEFAULT_COMPARE` that the bill holds.
    synapses_per_bit : float
        The biological assumption the bill was priced with.
    given : str
        How a given ``bits`` is named (``--bits`` at the command line).

    Returns
    -------
    str
        About 15 lines; the tables behind them are :func:`format_report` and :func:`format_bill`.
    """
    run = _read(run_dir)
    m, ledger = run.metrics, run.ledger
    ident = run_identity(run.path, m)
    b, source = weight_bits(m, bits, given, where=f"run directory {run.path}: {METRICS}")
    acc = ident["test_accuracy"]
    seed = "" if ident["seed"] is None else f" | seed {ident['seed']}"
    head = (f"{ident['model']} | gate {ident['gate']}{seed} | "
            f"{ident['backend']} | test accuracy {'-' if acc is None else f'{acc:.4f}'} | "
            f"{ledger.n_presentations:,} training presentations")
    learn = learning_counts(ledger)
    flipped = f"{learn['bit_flip']:,} bits flipped" if m.get("synapse_bits") else "bits flipped not measured (float synapses)"
    ops = operation_counts(ident["backend"], ledger)
    computed = (f"{ops['dense_macs']:,} MACs" if ident["backend"] == "rate"
                else f"{ops['spikes']:,} spikes, {ops['synaptic_events']:,} synaptic events")
    lines = [head,
             f"learning: {learn['write']:,} synaptic writes (M0), {flipped}, sum |dw| {learn['abs_dw']:.4g}",
             f"computing (forward pass): {computed}, {ops['weight_reads']:,} weight reads",
             f"bits per weight: {b:g} ({source}) in every write, weight read and the footprint below", ""]
    names = _shown(rows, technologies)
    by_name = {t["technology"]: t for t in totals(rows)}
    table = [[n + (" (brain)" if n.lower() == BIOLOGY_REFERENCE.lower() else ""), f"{t['learning_j']:.3g}",
              "-" if t["computing_j"] is None else f"{t['computing_j']:.3g}",
              "-" if t["learning_over_computing"] is None else f"{t['learning_over_computing']:.3g}",
              f"{t['total_j']:.3g}"] for n in names for t in [by_name[n]]]
    lines.append(text_table(table, ["technology", "learning J", "computing J", "learning/computing", "total J"]))
    shown = [r for r in rows if r["technology"] in names]
    brain = brain_lines(shown, synapses_per_bit)
    if brain:
        lines += [""] + brain
    nb = m.get("neurobench")
    if nb:
        lines += ["", "NeuroBench (per training presentation): "
                  + format_neurobench(nb, footprint(nb, ledger, b), sep="\n  ")]
    return "\n".join(lines)
