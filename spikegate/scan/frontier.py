r"""The cost-accuracy frontier of a scan store: what each gate pays to *first* reach a validation accuracy.

Every point of the store that trained with a validation split (``data.n_validation``) has a
validation curve (:mod:`spikegate.stopping`): validation accuracy beside the cumulative
costs at that moment. For a *line* (the points that differ only in their seed: one gate
with its settings) and a target accuracy :math:`a`, each seed's cost is the cost at its
first validation with accuracy :math:`\ge a` (a seed that never gets there has not
reached it). The frontier reports, per line and target, for each cost
(:data:`COSTS`):

* the median over the seeds that reached the target, with a bootstrap 90 % interval of
  the median (seeds resampled with replacement, ``n_boot`` times, from a fixed ``seed``:
  the intervals are reproducible);
* the fraction of seeds that reached it.

**The verdict.** At the highest target that every seed of every line reaches, the cost
ratio of each line to the ``always`` line (ratio of medians, with a 90 % interval from
resampling the seeds of both lines), and whether the ``ern`` line beats the ``random``
line: its interval entirely below random's. With several lines of one gate (a store that
also sweeps, say, ``rule.eta``) the first in label order stands for the gate;
``experiments/gate_comparison.py`` passes one line per gate, each at its best learning rate.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..files import atomic_path, csv_text, write_json, write_text
from ..rundir import METRICS, read_run
from ..tables import text_table
from .results import collect
from .store import Store

#: Costs read from a validation curve, in the order they are reported.
COSTS = ("presentations", "writes", "bits_flipped", "sum_abs_dw", "learning_j", "total_j")
#: Keys of a store's points that do not separate lines.
NOT_LINES = ("point", "seed")


def curves_of(store) -> dict:
    """``{line label: {seed: validation curve}}`` of a store; a point without a curve is an error."""
    rows, _ = collect(store)
    keys = [k for k in Store(store).manifest().get("keys", []) if k not in NOT_LINES]
    axes = [k for k in keys if k == "gate.name" or len({str(r.get(k)) for r in rows}) > 1]
    if not rows:
        raise DataError(f"{store}: no finished points")
    return lines_of(store, rows, lambda r: line_label(r, axes))


def lines_of(store, rows, label) -> dict:
    """``{label(row): {seed: validation curve}}`` of the collected ``rows`` of ``store``."""
    out: dict = {}
    for r in rows:
        run_dir = Store(store).run_dir(r["point"])
        curve = read_run(run_dir, (METRICS,)).metrics.get("validation")
        if not curve:
            raise DataError(f"{run_dir}: no validation curve; train the scan with data.n_validation (and "
                            "train.validate_every) set")
        out.setdefault(label(r), {})[r["seed"]] = curve
    return out


def energy_to_reach(store, rows, target: float, technologies, backend: str, bits: int) -> dict:
    """``{technology: {seeds, presentations, learning_j, total_j}}``: medians over the ``rows`` (one
    line's seeds) of the energy spent up to each run's first validation at or above ``target``,
    priced from its ledger (learning: the writes; total: learning plus the forward computation)."""
    from ..ledger import EnergyLedger
    from ..stopping import CostMeter

    meters = {t: CostMeter(t, backend, bits) for t in technologies}
    reached, spent = [], {t: [] for t in technologies}
    for r in rows:
        run_dir = Store(store).run_dir(r["point"])
        point = first_reach(read_run(run_dir, (METRICS,)).metrics.get("validation") or [], target)
        if point is None:
            continue
        ledger = EnergyLedger.load(run_dir / "ledger.npz")
        reached.append(point["presentations"])
        for t, meter in meters.items():
            spent[t].append(meter(ledger, int(point["presentations"])))
    return {t: {"seeds": len(reached), "presentations": float(np.median(reached)) if reached else None,
                "learning_j": float(np.median([j[0] for j in spent[t]])) if reached else None,
                "total_j": float(np.median([j[1] for j in spent[t]])) if reached else None}
            for t in technologies}


def line_label(row: dict, axes) -> str:
    """``gate.name=ern, rule.eta=0.5 Hz`` (the gate first); ``gate.name`` alone is just the gate."""
    axes = sorted(axes, key=lambda k: (k != "gate.name", k))
    if axes == ["gate.name"]:
        return str(row["gate.name"])
    return ", ".join(f"{k}={row.get(k)}" for k in axes) or "all"


def first_reach(curve: list[dict], target: float) -> dict | None:
    """The first point of ``curve`` with validation accuracy >= ``target`` (None if none)."""
    for point in curve:
        if point["validation_accuracy"] >= target - 1e-12:
            return point
    return None


def bootstrap_median(values: np.ndarray, rng: np.random.Generator, n_boot: int) -> tuple[float, float, float]:
    """Median and the 5th and 95th percentiles of the bootstrap distribution of the median."""
    values = np.asarray(values, dtype=float)
    draws = rng.integers(0, len(values), size=(n_boot, len(values)))
    medians = np.median(values[draws], axis=1)
    return float(np.median(values)), float(np.percentile(medians, 5)), float(np.percentile(medians, 95))


def frontier(lines: dict, targets, n_boot: int = 2000, seed: int = 0) -> list[dict]:
    """One record per (line, target): reached fraction and, per cost, median and 90 % interval."""
    rng = np.random.default_rng(seed)
    out = []
    for label in sorted(lines):
        seeds = sorted(lines[label])
        for target in targets:
            hits = [first_reach(lines[label][s], target) for s in seeds]
            got = [h for h in hits if h is not None]
            rec = {"line": label, "target": float(target), "seeds": len(seeds), "reached": len(got),
                   "reached_fraction": len(got) / len(seeds)}
            for cost in COSTS:
                if got:
                    med, lo, hi = bootstrap_median(np.array([h[cost] for h in got]), rng, n_boot)
                else:
                    med = lo = hi = None
                rec.update({cost: med, f"{cost}_low": lo, f"{cost}_high": hi})
            out.append(rec)
    return out


def default_targets(lines: dict, step: float = 0.01) -> list[float]:
    """From the lowest first validation accuracy to the highest accuracy any curve reaches, in ``step`` s."""
    first = min(c[0]["validation_accuracy"] for by_seed in lines.values() for c in by_seed.values())
    top = max(p["validation_accuracy"] for by_seed in lines.values() for c in by_seed.values() for p in c)
    lo = math.floor(first / step) * step
    return [round(x, 6) for x in np.arange(lo, top + 1e-9, step)]


def verdict(lines: dict, records: list[dict], cost: str, n_boot: int = 2000, seed: int = 0) -> dict:
    """The claim's numbers at the highest target that every seed of every line reaches (module docstring)."""
    everyone = [t for t in sorted({r["target"] for r in records})
                if all(r["reached_fraction"] == 1.0 for r in records if r["target"] == t)]
    if not everyone:
        return {"target": None, "cost": cost, "note": "no target is reached by every seed of every line"}
    target = everyone[-1]
    at = {r["line"]: r for r in records if r["target"] == target}
    out = {"target": target, "cost": cost, "lines": {k: {"median": v[cost], "low": v[f"{cost}_low"],
                                                           "high": v[f"{cost}_high"]} for k, v in at.items()}}
    base = _find(at, "always")
    if base is not None:
        rng = np.random.default_rng(seed + 1)
        ref = np.array([first_reach(c, target)[cost] for c in lines[base].values()], dtype=float)
        for label in at:
            mine = np.array([first_reach(c, target)[cost] for c in lines[label].values()], dtype=float)
            ratios = [np.median(mine[rng.integers(0, len(mine), len(mine))]) /
                      max(np.median(ref[rng.integers(0, len(ref), len(ref))]), 1e-300) for _ in range(n_boot)]
            out["lines"][label]["ratio_to_always"] = float(np.median(mine) / max(np.median(ref), 1e-300))
            out["lines"][label]["ratio_low"] = float(np.percentile(ratios, 5))
            out["lines"][label]["ratio_high"] = float(np.percentile(ratios, 95))
    ern, rnd = _find(at, "ern"), _find(at, "random")
    if ern is not None and rnd is not None:
        out["ern_beats_random"] = bool(at[ern][f"{cost}_high"] < at[rnd][f"{cost}_low"])
    return out


def _find(at: dict, gate: str):
    """The line of ``gate`` (its label is the gate, or starts with ``gate.name=<gate>``)."""
    for label in at:
        if label == gate or label.startswith(f"gate.name={gate},") or label.startswith(f"{gate}("):
            return label
    return None


def format_frontier(records: list[dict], cost: str, v: dict) -> str:
    lines = sorted({r["line"] for r in records})
    targets = sorted({r["target"] for r in records})
    by = {(r["line"], r["target"]): r for r in records}

    def cell(r):
        if r["reached"] == 0:
            return f"- (0/{r['seeds']})"
        return f"{r[cost]:.3g} [{r[f'{cost}_low']:.3g}, {r[f'{cost}_high']:.3g}] ({r['reached']}/{r['seeds']})"

    table = text_table([[f"{t:.3f}"] + [cell(by[(l, t)]) for l in lines] for t in targets],
                       ["val. acc."] + lines)
    head = f"cost to first reach each validation accuracy: {cost}, median over seeds [bootstrap 90 % interval] " \
           f"(seeds that reached it)"
    if v.get("target") is None:
        return f"{head}\n\n{table}\n\nverdict: {v['note']}"
    parts = [f"verdict at {v['target']:.3f}, the highest validation accuracy every seed of every line reaches:"]
    for label, x in v["lines"].items():
        ratio = "" if "ratio_to_always" not in x else \
            f"; {x['ratio_to_always']:.3f} of always [{x['ratio_low']:.3f}, {x['ratio_high']:.3f}]"
        parts.append(f"  {label}: {cost} {x['median']:.4g} [{x['low']:.4g}, {x['high']:.4g}]{ratio}")
    if "ern_beats_random" in v:
        parts.append(f"  ern below random, intervals apart: {'yes' if v['ern_beats_random'] else 'no'}")
    return f"{head}\n\n{table}\n\n" + "\n".join(parts)


def plot_frontier(records: list[dict], cost: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label in sorted({r["line"] for r in records}):
        mine = [r for r in records if r["line"] == label and r["reached"] > 0]
        if not mine:
            continue
        x = [100 * r["target"] for r in mine]
        ax.plot(x, [r[cost] for r in mine], marker="o", markersize=3, label=label)
        ax.fill_between(x, [r[f"{cost}_low"] for r in mine], [r[f"{cost}_high"] for r in mine], alpha=0.2)
    ax.set_xlabel("validation accuracy first reached (%)")
    ax.set_ylabel(f"{cost} to get there (median, 90 % interval)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def write_frontier(records, v, fig, out_dir) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = ["line", "target", "seeds", "reached", "reached_fraction"] + [
        f"{c}{s}" for c in COSTS for s in ("", "_low", "_high")]
    paths = [write_text(out_dir / "frontier.csv", csv_text(records, columns)),
             write_json(out_dir / "frontier.json", {"records": records, "verdict": v})]
    for ext in ("png", "svg"):
        with atomic_path(out_dir / f"frontier.{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=120, bbox_inches="tight")
        paths.append(out_dir / f"frontier.{ext}")
    return [Path(p) for p in paths]
