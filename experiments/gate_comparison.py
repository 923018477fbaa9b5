"""Claim (Pache & van Rossum 2026, arXiv 2604.14336): mistake gating needs 50-80 % fewer updates at the accuracy of conventional learning.

The cost-accuracy protocol for one spiking model (SCIENCE.md, section 7):

1. **Every gate at its own best learning rate.** ``always``, ``lazy``, ``memorized``,
   ``ern`` (or ``--gates``) train with every seed at every learning rate of a small grid
   (``--eta-scale``: multiples of the model's ``rule.eta`` and ``rule.eta_hidden``), through
   ``spikegate scan`` (resumable). A gate's rate is the one with the best mean *validation*
   accuracy (a split held out from the training images, ``--n-validation``), never test.
2. **Controls.** ``random`` opens with the probability that ``ern`` opened at its best rate
   (the matched rate, measured first), tuned on the same grid; ``always`` with validation
   stopping (patience ``--patience``) is conventional learning stopped early.
3. **The frontier** (:mod:`spikegate.scan.frontier`) over each gate's best-rate runs: the cost
   to first reach each validation accuracy (median over seeds, bootstrap 90 % interval), and
   the verdict at the highest validation accuracy every seed of every gate reaches: each
   gate's cost ratio to ``always`` and whether ``ern`` costs less than ``random``, intervals
   apart. The bar: ``ern`` with at most ``--bar`` (default 0.5) of ``always``'s cost there.

The training window is the test window (a model that sets ``network.t_test`` is refused).
Test accuracy is reported as mean with a 95 % t-interval over seeds. Writes
``results/gate_comparison/<model>/summary.json``, ``figure.png``/``.svg`` (the frontier) and
the scan store ``store/`` beside them.

Usage:
    python experiments/gate_comparison.py models/digits.toml --set train.device=cpp_standalone
    python experiments/gate_comparison.py models/mnist-2layer.toml --gates always ern --data-dir ../shared/data/mnist \\
        --set data.n_train=10000 --set train.epochs=2 --n-validation 5000 --validate-every 2500 \\
        --set train.device=cpp_standalone
"""
from __future__ import annotations

import math
from pathlib import Path

from _common import (add_protocol_arguments, claim_line, protocol_overrides, run_main, run_protocol, save_figure,
                     table)

from spikegate.config import resolve
from spikegate.energy.catalogue import load_catalogue
from spikegate.errors import ConfigError
from spikegate.files import write_json
from spikegate.scan import frontier as fr
from spikegate.scan import load_scan
from spikegate.units import format_quantity

GATES = ("always", "lazy", "memorized", "ern")
CLAIM = "mistake gating needs 50-80 % fewer updates than conventional learning at the same accuracy"


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    xs = [float(v) for v in values]
    mu = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - mu) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return mu, sd


def t_interval(values) -> tuple[float, float]:
    """Mean and the half-width of its 95 % t-interval (0 for one value)."""
    from scipy.stats import t

    mu, sd = mean_sd(values)
    n = len(values)
    return mu, (float(t.ppf(0.975, n - 1)) * sd / math.sqrt(n) if n > 1 else 0.0)


def parser():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("model", help="spiking model file, e.g. models/mnist-2layer.toml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5], help="seeds (at least 5 for a claim)")
    ap.add_argument("--gates", nargs="+", default=list(GATES), help=f"gates (default: {' '.join(GATES)})")
    ap.add_argument("--eta-scale", type=float, nargs="+", default=[0.5, 1.0, 2.0],
                    help="learning-rate grid: multiples of the model's rule.eta and rule.eta_hidden")
    ap.add_argument("--n-validation", type=int, default=300, help="validation images held out (default 300)")
    ap.add_argument("--validate-every", type=int, default=200, help="presentations between validations")
    ap.add_argument("--patience", type=int, default=3, help="validations without improvement (always, stopped)")
    ap.add_argument("--bar", type=float, default=0.5, help="ern at most this fraction of always's cost")
    ap.add_argument("--cost", default="auto", help="cost of the verdict (default: bits_flipped if synapses "
                                                   "store codes, else writes)")
    ap.add_argument("--technologies", nargs="+", default=["SRAM-32KB", "Loihi", "long-term-memory"],
                    help="energy catalogue entries for the energy to reach the verdict's accuracy")
    ap.add_argument("--name", help="results folder under results/gate_comparison (default: the model's stem)")
    add_protocol_arguments(ap)
    return ap


def fixed_settings(args) -> dict:
    """The settings every point shares; checked (the whole protocol's configs) before any training."""
    fixed = protocol_overrides(args, {"data.n_train": 200, "data.n_test": 100, "train.epochs": 1})
    fixed.update({"data.n_validation": args.n_validation, "train.validate_every": args.validate_every})
    cfg = resolve(args.model, list(fixed.items()))
    if cfg.backend.name != "spiking":
        raise ConfigError(f"{args.model}: the gate comparison is for spiking models (backend = {cfg.backend.name!r})")
    if cfg.spec.t_test is not None:
        raise ConfigError("network.t_test is set: the protocol tests with the training window; remove it")
    if len(set(args.seeds)) != len(args.seeds):
        raise ConfigError(f"--seeds {args.seeds}: a seed is listed twice")
    if not args.eta_scale or any(not x > 0 for x in args.eta_scale) or len(set(args.eta_scale)) != len(args.eta_scale):
        raise ConfigError(f"--eta-scale {args.eta_scale}: expected distinct multiples > 0")
    catalogue = load_catalogue()     # before anything trains
    unknown = [t for t in args.technologies if t not in catalogue]
    if unknown:
        raise ConfigError(f"--technologies {' '.join(unknown)}: not in the energy catalogue; allowed: "
                          f"{', '.join(sorted(catalogue))}")
    if "ern" not in args.gates or "always" not in args.gates:
        raise ConfigError(f"--gates {' '.join(args.gates)}: the protocol compares ern with always; list both")
    return fixed


def eta_axis(args) -> dict:
    """The learning-rate grid as one zipped axis of (rule.eta, rule.eta_hidden)."""
    rule = resolve(args.model).spec.rule
    return {"rule.eta": [format_quantity(rule.eta * s) for s in args.eta_scale],
            "rule.eta_hidden": [format_quantity(rule.eta_hidden * s) for s in args.eta_scale]}


def scan_of(args, fixed, name, grid, zipped=None) -> object:
    raw = {"model": str(Path(args.model).resolve()), "name": name, "seeds": list(args.seeds), "set": fixed,
           "grid": grid}
    if zipped:
        raw["zip"] = zipped
    return load_scan(raw, base_dir=Path.cwd())


def best_rate(rows, gate: str) -> tuple[str, list]:
    """The rule.eta with the best mean best-validation accuracy over seeds, and its rows."""
    by_eta: dict = {}
    for r in rows:
        if r["gate.name"] == gate:
            by_eta.setdefault(r["rule.eta"], []).append(r)
    eta = max(by_eta, key=lambda e: (mean_sd([r["best_validation_accuracy"] for r in by_eta[e]])[0], e))
    return eta, by_eta[eta]


def line_summary(label, eta, rows) -> dict:
    acc, acc_ci = t_interval([100 * r["test_accuracy"] for r in rows])
    val, _ = mean_sd([100 * r["best_validation_accuracy"] for r in rows])
    writes, _ = mean_sd([r["n_writes"] for r in rows])
    bits, _ = mean_sd([r.get("bits_flipped", 0) for r in rows])
    gated, _ = mean_sd([r["n_gated_presentations"] / r["n_presentations"] for r in rows])
    return {"line": label, "eta": eta, "seeds": len(rows), "test_accuracy_percent": acc, "test_accuracy_ci95": acc_ci,
            "best_validation_percent": val, "n_writes": writes, "bits_flipped": bits, "gated_fraction": gated}


def run_protocol_phases(args, folder, fixed):
    """The three phases (module docstring), each in a store of its own under ``folder``; returns
    ``{line: (rule.eta, rows, store)}`` for each gate at its best rate, and the matched p."""
    zipped = eta_axis(args)
    mine = lambda rows: [r for r in rows if r["seed"] in args.seeds]  # noqa: E731
    rows = mine(run_protocol(scan_of(args, fixed, "gates", {"gate.name": list(args.gates)}, zipped),
                             folder / "gates", args.workers))
    chosen = {g: (*best_rate(rows, g), folder / "gates" / "store") for g in args.gates}
    p = round(mean_sd([r["n_gated_presentations"] / r["n_presentations"] for r in chosen["ern"][1]])[0], 4)
    rows = mine(run_protocol(scan_of(args, {**fixed, "gate.p": p}, "random-at-ern-rate", {"gate.name": ["random"]},
                                     zipped), folder / f"random-p{p:g}", args.workers))
    chosen["random"] = (*best_rate(rows, "random"), folder / f"random-p{p:g}" / "store")
    eta = chosen["always"][0]
    stopped = {**fixed, "train.stop": "patience", "train.patience": args.patience, "rule.eta": eta,
               "rule.eta_hidden": zipped["rule.eta_hidden"][zipped["rule.eta"].index(eta)]}
    rows = mine(run_protocol(scan_of(args, stopped, "always-stopped", {"gate.name": ["always"]}),
                             folder / "always-stopped", args.workers))
    chosen["always, stopped"] = (eta, rows, folder / "always-stopped" / "store")
    return chosen, p


def energy_at_target(args, fixed, chosen, target) -> dict:
    """``{line: {technology: medians}}``: each gate's energy to first reach the verdict's accuracy
    (:func:`spikegate.scan.frontier.energy_to_reach`), at its best rate."""
    if target is None:
        return {}
    spec = resolve(args.model, list(fixed.items())).spec
    return {label: fr.energy_to_reach(store, rows, target, args.technologies, "spiking", spec.synapse.bits or 32)
            for label, (_, rows, store) in chosen.items() if label != "always, stopped"}


def main():
    args = parser().parse_args()
    model = Path(args.model).stem
    folder = Path(args.results) / "gate_comparison" / ((args.name or model) + ("-quick" if args.quick else ""))
    fixed = fixed_settings(args)
    chosen, p = run_protocol_phases(args, folder, fixed)
    summaries = [line_summary(label, eta, rows) for label, (eta, rows, _) in chosen.items()]
    # the frontier's lines: each gate at its best rate (stopping changes the end of a curve, not its start)
    lines = {label: fr.lines_of(store, rows, lambda r, lab=label: lab)[label]
             for label, (eta, rows, store) in chosen.items() if label != "always, stopped"}
    cost = args.cost
    if cost == "auto":
        cost = "bits_flipped" if any(pt["bits_flipped"] for c in lines.values() for cv in c.values() for pt in cv) \
            else "writes"
    records = fr.frontier(lines, fr.default_targets(lines))
    verdict = fr.verdict(lines, records, cost)
    ern = verdict.get("lines", {}).get("ern", {})
    holds = None if args.quick or verdict.get("target") is None else bool(
        ern.get("ratio_to_always", math.inf) <= args.bar and verdict.get("ern_beats_random", False))
    energy = energy_at_target(args, fixed, chosen, verdict.get("target"))
    summary = {"experiment": "gate_comparison", "model": model, "quick": args.quick, "claim": CLAIM,
               "protocol": "every gate at its best learning rate (validation); random at ern's opening rate; always "
                           "stopped on validation; cost to first reach each validation accuracy (frontier)",
               "seeds": args.seeds, "eta_scale": args.eta_scale, "random_p": p, "overrides": fixed,
               "cost": cost, "bar": args.bar, "rows": summaries, "verdict": verdict, "energy_to_target": energy,
               "claim_holds": holds}
    write_json(folder / "summary.json", summary)
    fig = fr.plot_frontier(records, cost)
    fr.write_frontier(records, verdict, fig, folder)
    save_figure(fig, folder)
    print(table([{"gate": r["line"], "eta": r["eta"], "test acc % (95% CI)":
                  f"{r['test_accuracy_percent']:.2f} ± {r['test_accuracy_ci95']:.2f}",
                  "best val %": f"{r['best_validation_percent']:.2f}", "writes": f"{r['n_writes']:.4g}",
                  "bits flipped": f"{r['bits_flipped']:.4g}", "gated": f"{r['gated_fraction']:.1%}"}
                 for r in summaries], ["gate", "eta", "test acc % (95% CI)", "best val %", "writes", "bits flipped",
                                       "gated"]))
    print(f"random opens with p = {p:g}, ern's opening fraction at its best learning rate\n")
    print(fr.format_frontier(records, cost, verdict))
    if energy:
        print(f"\nenergy to first reach {100 * verdict['target']:.1f} % validation accuracy (median over seeds; "
              "learning = the writes, total = learning + forward computation):")
        print(table([{"gate": line, "technology": tech, "presentations": f"{e['presentations']:,.0f}",
                      "learning J": f"{e['learning_j']:.3g}", "total J": f"{e['total_j']:.3g}"}
                     for line, techs in energy.items() for tech, e in techs.items() if e["seeds"]],
                    ["gate", "technology", "presentations", "learning J", "total J"]))
    if "ratio_to_always" in ern:
        measured = (f"ern reaches {100 * verdict['target']:.1f} % validation accuracy with "
                    f"{ern['ratio_to_always']:.1%} of always's {cost} [90 % interval {ern['ratio_low']:.1%}, "
                    f"{ern['ratio_high']:.1%}]; below random, intervals apart: "
                    f"{'yes' if verdict.get('ern_beats_random') else 'no'}; bar: at most {args.bar:.0%} and below random")
        print(claim_line("Pache & van Rossum 2026", CLAIM, measured, holds))
    print(f"summary: {folder / 'summary.json'}")


if __name__ == "__main__":
    run_main(main)
