r"""Energy reports of run directories: tables, CSV files and figures.

:func:`report` prices one run's synaptic writes with every technology of the catalogue
(:mod:`spikegate.energy.catalogue`, :mod:`spikegate.energy.pricing`); :func:`compare`
and :func:`compare_curves` put runs side by side. Energies are floats in joules.
"""
from __future__ import annotations

from pathlib import Path

from brian2 import joule

from ..files import atomic_path, csv_text, write_text
from ..rundir import LEDGER, METRICS, RunRecord, read_run
from ..tables import text_table
from .catalogue import BIOLOGY_REFERENCE, as_catalogue, select
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


def biology_reference(catalogue, bits_per_synapse_, synapses_per_bit) -> LongTermMemory:
    ref = select(catalogue, [BIOLOGY_REFERENCE])[0]
    return LongTermMemory(joule_per_bit=ref.joule_per_bit, bits_per_synapse=bits_per_synapse_,
                          synapses_per_bit=synapses_per_bit)


def _records(run: RunRecord, bits, catalogue, technologies, bits_per_synapse_, synapses_per_bit, temperature):
    bits = check_bits(bits)
    cat = as_catalogue(catalogue)
    techs = select(cat, technologies)
    biology = biology_reference(cat, bits_per_synapse_, synapses_per_bit)
    bio_write = float(select(cat, [BIOLOGY_REFERENCE])[0].joule_per_write(bits, biology) / joule)
    floor = float(Landauer(temperature).joule_per_write(bits) / joule)
    m = run.metrics
    out = []
    for tech in techs:
        per_write = float(tech.joule_per_write(bits, biology) / joule)
        out.append({
            "run": str(run.path), "model": m.get("model"), "gate": m.get("gate"),
            "test_accuracy": m.get("test_accuracy"), "n_writes": run.ledger.m0, "bits": bits,
            "technology": tech.name, "boundary": tech.boundary, "cost": tech.cost,
            "bits_charged": tech.bits_charged(bits, biology), "j_per_bit": float(tech.joule_per_bit / joule),
            "j_per_write": per_write, "total_j": per_write * run.ledger.m0,
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
    return _records(_read(run_dir), bits, catalogue, technologies, bits_per_synapse, synapses_per_bit,
                    temperature)


COMPARE_FIELDS = ("run", "model", "gate", "test_accuracy", "n_writes", "bits", "technology", "j_per_write",
                   "total_j")


def compare(run_dirs, bits=32, catalogue=None, technologies=None, *, bits_per_synapse=bits_per_synapse(),
            synapses_per_bit=1.0) -> list[dict]:
    """Runs side by side: one record per (run, technology) with the run's totals.

    ``technologies`` defaults to :data:`DEFAULT_COMPARE`. Fields: run, model, gate,
    test_accuracy, n_writes, bits, technology, j_per_write, total_j.
    """
    cat = as_catalogue(catalogue)
    technologies = technologies or DEFAULT_COMPARE
    out = []
    for run_dir in _unique(run_dirs):
        recs = _records(_read(run_dir), bits, cat, technologies, bits_per_synapse, synapses_per_bit,
                        BODY_TEMPERATURE)
        out += [{k: r[k] for k in COMPARE_FIELDS} for r in recs]
    return out


# --------------------------------------------------------------------------- files
#: Columns of ``energy.csv``.
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
