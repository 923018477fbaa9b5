"""Claim (Pache & van Rossum 2026, arXiv 2604.14336): mistake gating needs 50-80 % fewer updates at the accuracy of conventional learning.

The statistical protocol for comparing gates on one spiking model: every gate trains with
every seed through ``spikegate scan`` (resumable: rerun to finish an interrupted protocol),
the training window is the test window (a model that sets ``network.t_test`` is refused),
and accuracy and writes (M0) are reported as mean +- s.d. over the seeds. A gate's
accuracy difference to ``always`` is the mean +- s.d. of the per-seed differences (same
seed, same data, same sample order). The bar: ``ern`` within ``--bar-points`` of ``always``
with at most ``--bar-writes`` of its writes.

Writes ``results/gate_comparison/<model>/summary.json``, ``figure.png`` and ``figure.svg``
(accuracy against writes, one point per gate, ``always`` marked) and the scan store
``store/`` beside them.

Usage:
    python experiments/gate_comparison.py models/mnist-1layer.toml --data-dir ../shared/data/mnist \\
        --seeds 1 2 3 --set data.n_train=10000 --set train.epochs=2 [--gates always lazy memorized ern]
"""
from __future__ import annotations

import math
from pathlib import Path

from _common import ROOT, claim_line, pyplot, run_main, run_protocol, save_figure, table

from spikegate.config import parse_override, resolve
from spikegate.errors import ConfigError
from spikegate.files import write_json
from spikegate.scan import load_scan

GATES = ("always", "lazy", "memorized", "ern")
CLAIM = "mistake gating needs 50-80 % fewer updates than conventional learning at the same accuracy"


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    xs = [float(v) for v in values]
    mu = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - mu) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return mu, sd


def parser():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("model", help="spiking model file, e.g. models/mnist-2layer.toml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="seeds (at least 3 for a claim)")
    ap.add_argument("--gates", nargs="+", default=list(GATES), help=f"gates (default: {' '.join(GATES)})")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--data-dir", help="MNIST directory (sets data.dir)")
    ap.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    ap.add_argument("--results", default=str(ROOT / "results"), help="results root (default results/)")
    ap.add_argument("--bar-points", type=float, default=1.0, help="ern within this many points of always")
    ap.add_argument("--bar-writes", type=float, default=0.5, help="ern with at most this fraction of its writes")
    ap.add_argument("--name", help="results folder under results/gate_comparison (default: the model's stem)")
    ap.add_argument("--quick", action="store_true", help="a seconds-long protocol on digits (for the tests)")
    return ap


def scan_definition(args) -> dict:
    fixed = dict(parse_override(o) for o in args.overrides)
    if args.data_dir:
        fixed["data.dir"] = str(Path(args.data_dir).resolve())
    if args.quick:
        fixed.update({"data.n_train": 200, "data.n_test": 100, "train.epochs": 1})
    cfg = resolve(args.model, list(fixed.items()))
    if cfg.backend.name != "spiking":
        raise ConfigError(f"{args.model}: the gate comparison is for spiking models (backend = {cfg.backend.name!r})")
    if cfg.spec.t_test is not None:
        raise ConfigError("network.t_test is set: the protocol tests with the training window; remove it")
    if len(set(args.seeds)) != len(args.seeds):
        raise ConfigError(f"--seeds {args.seeds}: a seed is listed twice")
    return {"model": str(Path(args.model).resolve()), "name": f"gate-comparison-{Path(args.model).stem}",
            "seeds": list(args.seeds), "set": fixed, "grid": {"gate.name": list(args.gates)}}


def summarise(rows, gates, bar_points, bar_writes) -> list[dict]:
    by = {(r["gate.name"], r["seed"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    out = []
    for gate in gates:
        mine = [by[(gate, s)] for s in seeds if (gate, s) in by]
        if not mine:
            continue
        paired = [(by[(gate, s)], by[("always", s)]) for s in seeds if (gate, s) in by and ("always", s) in by]
        acc, acc_sd = mean_sd([100 * r["test_accuracy"] for r in mine])
        ties_acc, ties_acc_sd = mean_sd([100 * r["test_accuracy_random_ties"] for r in mine])
        ties, ties_sd = mean_sd([100 * r["test_tie_fraction"] for r in mine])
        writes, writes_sd = mean_sd([r["n_writes"] for r in mine])
        gated, _ = mean_sd([r["n_gated_presentations"] / r["n_presentations"] for r in mine])
        row = {"gate": gate, "seeds": len(mine), "test_accuracy_percent": acc, "test_accuracy_sd": acc_sd,
               "test_accuracy_random_ties_percent": ties_acc, "test_accuracy_random_ties_sd": ties_acc_sd,
               "test_tie_percent": ties, "test_tie_sd": ties_sd, "n_writes_M0": writes, "n_writes_sd": writes_sd,
               "gated_fraction": gated}
        if paired:
            diff, diff_sd = mean_sd([100 * (a["test_accuracy"] - b["test_accuracy"]) for a, b in paired])
            frac, frac_sd = mean_sd([a["n_writes"] / b["n_writes"] for a, b in paired])
            row.update({"points_vs_always": diff, "points_vs_always_sd": diff_sd, "writes_fraction_of_always": frac,
                        "writes_fraction_sd": frac_sd})
            if gate != "always":
                row["meets_bar"] = bool(diff >= -bar_points and frac <= bar_writes)
        out.append(row)
    return out


def figure(summary_rows, title):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for r in summary_rows:
        marker = "*" if r["gate"] == "always" else "o"
        ax.errorbar(r["n_writes_M0"], r["test_accuracy_percent"], xerr=r["n_writes_sd"], yerr=r["test_accuracy_sd"],
                    fmt=marker, markersize=12 if marker == "*" else 7, capsize=3, label=r["gate"])
    ax.set_xlabel("synaptic writes M0 (count, mean ± s.d. over seeds)")
    ax.set_ylabel("test accuracy (%, mean ± s.d.; ties are errors)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(title="gate (★ always)", fontsize=8)
    return fig


def main():
    args = parser().parse_args()
    model = Path(args.model).stem
    folder = Path(args.results) / "gate_comparison" / ((args.name or model) + ("-quick" if args.quick else ""))
    scan = load_scan(scan_definition(args), base_dir=Path.cwd())
    rows = run_protocol(scan, folder, args.workers)
    rows = [r for r in rows if r["gate.name"] in args.gates and r["seed"] in args.seeds]
    summary_rows = summarise(rows, args.gates, args.bar_points, args.bar_writes)
    ern = next((r for r in summary_rows if r["gate"] == "ern"), None)
    bar = f"ern within {args.bar_points:g} point(s) of always with at most {args.bar_writes:.0%} of its writes"
    summary = {"experiment": "gate_comparison", "model": model, "quick": args.quick, "claim": CLAIM,
               "protocol": "every gate x every seed; training window = test window; mean +- s.d. over seeds; "
                           "differences to always paired by seed",
               "bar": bar, "seeds": args.seeds, "overrides": scan.fixed, "rows": summary_rows,
               "claim_holds": None if ern is None or args.quick else ern.get("meets_bar")}
    write_json(folder / "summary.json", summary)
    save_figure(figure(summary_rows, f"{model}: {len(args.seeds)} seeds, {' '.join(args.overrides)}"), folder)
    fmt = lambda mu, sd, d=2: f"{mu:.{d}f} ± {sd:.{d}f}"  # noqa: E731
    print(table([{"gate": r["gate"], "test acc %": fmt(r["test_accuracy_percent"], r["test_accuracy_sd"]),
                  "vs always (points)": fmt(r.get("points_vs_always", 0), r.get("points_vs_always_sd", 0)),
                  "random-tie acc %": fmt(r["test_accuracy_random_ties_percent"], r["test_accuracy_random_ties_sd"]),
                  "ties %": fmt(r["test_tie_percent"], r["test_tie_sd"], 1),
                  "writes M0": f"{r['n_writes_M0']:.4g} ± {r['n_writes_sd']:.2g}",
                  "writes / always": fmt(r.get("writes_fraction_of_always", 1), r.get("writes_fraction_sd", 0), 3),
                  "gated": f"{r['gated_fraction']:.1%}", "bar": {True: "met", False: "NOT met"}.get(r.get("meets_bar"), "")}
                 for r in summary_rows],
                ["gate", "test acc %", "vs always (points)", "random-tie acc %", "ties %", "writes M0",
                 "writes / always", "gated", "bar"]))
    if ern is not None and "points_vs_always" in ern:
        measured = (f"ern: {ern['points_vs_always']:+.2f} ± {ern['points_vs_always_sd']:.2f} points vs always with "
                    f"{ern['writes_fraction_of_always']:.1%} of its writes ({100 * (1 - ern['writes_fraction_of_always']):.0f} % "
                    f"fewer); bar: {bar}")
        print(claim_line("Pache & van Rossum 2026", CLAIM, measured, summary["claim_holds"]))
    print(f"summary: {folder / 'summary.json'}")


if __name__ == "__main__":
    run_main(main)
