"""Claim (inspired by Placais & Preat, Science 2013; Mery & Kawecki, Science 2005): when energy is scarce, learning from mistakes learns most per joule.

Flies under food deprivation suppress costly long-term memory, and memory formation
shortens survival: learning has to fit a metabolic budget. spikegate's ``[reserve]``
(:class:`spikegate.model.MetabolicReserve`) gives a network a fixed reserve of energy that
every synaptic write draws on (``j_per_write``); once it is spent, the gate stays shut
however large the error. This experiment trains each gate (``always``, ``lazy``,
``memorized``, ``ern``) at each budget with every seed through ``spikegate scan``
(resumable), the training window as the test window, and reports test accuracy against the
budget, mean +- s.d. over the seeds. The question: which gate reaches the highest accuracy
when the budget is small?

Writes ``results/energy_budget/<model>/summary.json``, ``figure.png`` and ``figure.svg``
(accuracy against budget, one line per gate) and the scan store ``store/`` beside them.

Usage:
    python experiments/energy_budget.py models/digits.toml --seeds 1 2 3 \\
        [--budgets 100 300 1000 3000 inf] [--gates always lazy memorized ern]
"""
from __future__ import annotations

import math
from pathlib import Path

from _common import ROOT, add_protocol_arguments, claim_line, pyplot, run_main, run_protocol, save_figure, table
from gate_comparison import mean_sd

from spikegate.config import parse_override, resolve
from spikegate.errors import ConfigError
from spikegate.files import write_json
from spikegate.scan import load_scan

GATES = ("always", "lazy", "memorized", "ern")
BUDGETS = ("100", "300", "1000", "3000", "inf")
CLAIM = "with a scarce energy budget, a mistake-gated learner reaches a higher accuracy than one that writes always"


def parser():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("model", nargs="?", default=str(ROOT / "models" / "digits.toml"),
                    help="spiking or rate model file (default models/digits.toml)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="seeds (at least 3 for a claim)")
    ap.add_argument("--gates", nargs="+", default=list(GATES), help=f"gates (default: {' '.join(GATES)})")
    ap.add_argument("--budgets", nargs="+", default=list(BUDGETS), metavar="JOULES",
                    help="reserve capacities in joules ('inf': no budget); default " + " ".join(BUDGETS))
    ap.add_argument("--j-per-write", default="10 mJ",
                    help="energy of one write (default 10 mJ: the long-term-memory figure, one bit per write)")
    add_protocol_arguments(ap)
    return ap


def budgets(values) -> list[float]:
    out = []
    for v in values:
        try:
            b = float(v)
        except ValueError:
            raise ConfigError(f"--budgets {v!r}: expected a number of joules or 'inf'") from None
        if math.isnan(b) or b < 0:
            raise ConfigError(f"--budgets {v!r}: must be >= 0 (joules) or 'inf'")
        out.append(b)
    return sorted(set(out))


def scan_definition(args, levels) -> dict:
    fixed = dict(parse_override(o) for o in args.overrides)
    if args.data_dir:
        fixed["data.dir"] = str(Path(args.data_dir).resolve())
    if args.quick:
        fixed.update({"data.n_train": 150, "data.n_test": 60, "train.epochs": 1})
    fixed["reserve.j_per_write"] = args.j_per_write
    cfg = resolve(args.model, list(fixed.items()))
    if cfg.backend.name == "spiking" and cfg.spec.t_test is not None:
        raise ConfigError("network.t_test is set: the protocol tests with the training window; remove it")
    if len(set(args.seeds)) != len(args.seeds):
        raise ConfigError(f"--seeds {args.seeds}: a seed is listed twice")
    return {"model": str(Path(args.model).resolve()), "name": f"energy-budget-{Path(args.model).stem}",
            "seeds": list(args.seeds), "set": fixed,
            "grid": {"gate.name": list(args.gates), "reserve.capacity": [f"{b!r} J" for b in levels]}}


def summarise(rows, gates, levels) -> list[dict]:
    out = []
    for gate in gates:
        for b in levels:
            mine = [r for r in rows if r["gate.name"] == gate and _joules(r["reserve.capacity"]) == b]
            if not mine:
                continue
            acc, acc_sd = mean_sd([100 * r["test_accuracy"] for r in mine])
            writes, writes_sd = mean_sd([r["n_writes"] for r in mine])
            row = {"gate": gate, "budget_j": b, "seeds": len(mine), "test_accuracy_percent": acc,
                   "test_accuracy_sd": acc_sd, "n_writes": writes, "n_writes_sd": writes_sd,
                   "gated_fraction": sum(r["n_gated_presentations"] / r["n_presentations"] for r in mine) / len(mine)}
            always = {r["seed"]: r for r in rows if r["gate.name"] == "always" and _joules(r["reserve.capacity"]) == b}
            paired = [100 * (r["test_accuracy"] - always[r["seed"]]["test_accuracy"]) for r in mine
                      if r["seed"] in always]
            if paired and gate != "always":
                row["points_vs_always"], row["points_vs_always_sd"] = mean_sd(paired)
            out.append(row)
    return out


def verdict(row) -> bool | None:
    """Whether a gate beats ``always`` at a budget: its paired difference (mean +- s.d. over seeds)
    above zero (True), below (False), or within the seed spread (None)."""
    if row is None or "points_vs_always" not in row or row["seeds"] < 3:
        return None
    d, sd = row["points_vs_always"], row["points_vs_always_sd"]
    return True if d - sd > 0 else (False if d + sd < 0 else None)


def _joules(text) -> float:
    return float(str(text).split()[0])


def figure(rows, gates, levels, title):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    finite = [b for b in levels if math.isfinite(b) and b > 0]
    right = max(finite) * 10 if finite else 1.0
    for gate in gates:
        mine = [r for r in rows if r["gate"] == gate]
        xs = [r["budget_j"] if math.isfinite(r["budget_j"]) else right for r in mine]
        xs = [x if x > 0 else (min(finite) / 10 if finite else 0.1) for x in xs]
        ax.errorbar(xs, [r["test_accuracy_percent"] for r in mine], yerr=[r["test_accuracy_sd"] for r in mine],
                    fmt="o-", capsize=3, label=gate)
    ax.set_xscale("log")
    if any(math.isinf(b) for b in levels):
        ax.axvline(right / 2, color="0.7", lw=0.8, ls=":")
        ax.text(right, ax.get_ylim()[0], " no budget", fontsize=8, va="bottom", ha="center")
    ax.set_xlabel("metabolic budget: reserve capacity (J)")
    ax.set_ylabel("test accuracy (%, mean ± s.d. over seeds)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(title="gate", fontsize=8)
    return fig


def main():
    args = parser().parse_args()
    levels = budgets(["30", "inf"] if args.quick and args.budgets == list(BUDGETS) else args.budgets)
    model = Path(args.model).stem
    folder = Path(args.results) / "energy_budget" / (model + ("-quick" if args.quick else ""))
    scan = load_scan(scan_definition(args, levels), base_dir=Path.cwd())
    rows = run_protocol(scan, folder, args.workers)
    rows = [r for r in rows if r["gate.name"] in args.gates and r["seed"] in args.seeds]
    summary_rows = summarise(rows, args.gates, levels)
    scarce = min((b for b in levels if b > 0), default=None)
    at = [r for r in summary_rows if r["budget_j"] == scarce and r["gate"] != "always"]
    best = max(at, key=lambda r: r["test_accuracy_percent"]) if at else None
    always = next((r for r in summary_rows if r["gate"] == "always" and r["budget_j"] == scarce), None)
    holds = None if args.quick else verdict(best)
    summary = {"experiment": "energy_budget", "model": model, "quick": args.quick, "claim": CLAIM,
               "protocol": "every gate x every budget x every seed (spikegate scan); training window = test window; "
                           "mean +- s.d. over seeds; a write draws j_per_write from the reserve; no refill",
               "j_per_write": args.j_per_write, "budgets_j": levels, "seeds": args.seeds, "overrides": scan.fixed,
               "rows": summary_rows, "scarcest_budget_j": scarce, "best_gate_at_scarcest": best and best["gate"],
               "claim_holds": holds}
    write_json(folder / "summary.json", summary)
    save_figure(figure(summary_rows, args.gates, levels, f"{model}: {len(args.seeds)} seed(s), "
                                                          f"{args.j_per_write} per write"), folder)
    print(table([{"gate": r["gate"], "budget J": "no budget" if math.isinf(r["budget_j"]) else f"{r['budget_j']:g}",
                  "test acc %": f"{r['test_accuracy_percent']:.2f} ± {r['test_accuracy_sd']:.2f}",
                  "vs always (points)": f"{r['points_vs_always']:+.2f} ± {r['points_vs_always_sd']:.2f}"
                  if "points_vs_always" in r else "",
                  "writes M0": f"{r['n_writes']:.4g} ± {r['n_writes_sd']:.2g}", "gated": f"{r['gated_fraction']:.1%}"}
                 for r in sorted(summary_rows, key=lambda r: (r["budget_j"], GATES.index(r["gate"])
                                                              if r["gate"] in GATES else 9))],
                ["budget J", "gate", "test acc %", "vs always (points)", "writes M0", "gated"]))
    if best is not None:
        measured = (f"at the scarcest budget ({scarce:g} J) the best gated learner is {best['gate']} with "
                    f"{best['test_accuracy_percent']:.2f} ± {best['test_accuracy_sd']:.2f} %"
                    + (f"; always: {always['test_accuracy_percent']:.2f} ± {always['test_accuracy_sd']:.2f} %"
                       if always else "")
                    + (f"; paired difference {best['points_vs_always']:+.2f} ± {best['points_vs_always_sd']:.2f} points"
                       if "points_vs_always" in best else "")
                    + ("" if holds is not None else " (n/a: within the seed spread, or fewer than 3 seeds)"))
        print(claim_line("Placais & Preat 2013; Mery & Kawecki 2005 (inspiration)", CLAIM, measured, holds))
    print(f"summary: {folder / 'summary.json'}")


if __name__ == "__main__":
    run_main(main)
