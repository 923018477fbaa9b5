"""Claim (spikegate issue 20; Bartol et al., eLife 2015): a synapse needs only a few bits; with stochastic rounding a few-bit synapse learns as well as a float one.

Accuracy of conventional learning (gate ``always``) against the bits of a stored weight:
every depth trains with every seed through ``spikegate scan`` (resumable), the training
window is the test window, and each depth's accuracy is compared with float synapses
(``synapse.bits = 0``) paired by seed. The *chosen depth* is the smallest whose mean paired
difference to float is at least ``-tolerance`` points (default 0.3): the default of the
spiking model files. Writes (changed codes) and bits flipped are reported beside it.

Writes ``results/synapse_bits/<model>/summary.json``, ``figure.png`` and ``figure.svg``
(accuracy and bits flipped against depth) and the scan store ``store/`` beside them.

Usage:
    python experiments/synapse_bits.py models/digits.toml --seeds 1 2 3 --set train.device=cpp_standalone
    python experiments/synapse_bits.py models/mnist-2layer.toml --data-dir ../shared/data/mnist \\
        --seeds 1 2 3 --set data.n_train=10000 --set train.epochs=2 --set train.device=cpp_standalone
"""
from __future__ import annotations

from pathlib import Path

from _common import (add_protocol_arguments, claim_line, finish_figure, pyplot, run_main, run_protocol,
                     save_figure, spiking_protocol_config, table)

from gate_comparison import mean_sd
from spikegate.config import parse_override, resolve
from spikegate.files import write_json
from spikegate.scan import load_scan

BITS = (0, 4, 6, 8, 12)
CLAIM = "a synapse of a few bits (stochastic rounding) learns within 0.3 points of a float synapse"


def parser():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("model", help="spiking model file, e.g. models/digits.toml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="seeds (at least 3 for a claim)")
    ap.add_argument("--bits", type=int, nargs="+", default=list(BITS), help="depths; 0 (float) is always added")
    ap.add_argument("--rounding", default="stochastic", choices=("stochastic", "nearest"))
    ap.add_argument("--gate", default="always", help="the gate that trains (default always)")
    ap.add_argument("--tolerance", type=float, default=0.3, help="points below float that a depth may lose")
    add_protocol_arguments(ap)
    return ap


def scan_definition(args) -> dict:
    fixed = dict(parse_override(o) for o in args.overrides)
    fixed.update({"gate.name": args.gate, "synapse.rounding": args.rounding})
    if args.data_dir:
        fixed["data.dir"] = str(Path(args.data_dir).resolve())
    if args.quick:
        fixed.update({"data.n_train": 200, "data.n_test": 100, "train.epochs": 1})
    spiking_protocol_config(args, fixed, "bit-depth")
    bits = sorted(set([0] + list(args.bits)))
    for b in bits:
        resolve(args.model, list(fixed.items()) + [("synapse.bits", b)])   # every depth valid before any work
    return {"model": str(Path(args.model).resolve()), "name": f"synapse-bits-{Path(args.model).stem}",
            "seeds": list(args.seeds), "set": fixed, "grid": {"synapse.bits": bits}}


def summarise(rows, tolerance: float) -> tuple[list[dict], int | None]:
    """One row per depth (mean +- s.d. over seeds, differences to float paired by seed) and the chosen depth."""
    by = {(int(r["synapse.bits"]), r["seed"]): r for r in rows}
    depths = sorted({b for b, _ in by})
    seeds = sorted({s for _, s in by})
    out, chosen = [], None
    for b in depths:
        mine = [by[(b, s)] for s in seeds if (b, s) in by]
        paired = [(by[(b, s)], by[(0, s)]) for s in seeds if (b, s) in by and (0, s) in by]
        acc, acc_sd = mean_sd([100 * r["test_accuracy"] for r in mine])
        diff, diff_sd = mean_sd([100 * (a["test_accuracy"] - f["test_accuracy"]) for a, f in paired])
        writes, writes_sd = mean_sd([r["n_writes"] for r in mine])
        flipped, flipped_sd = mean_sd([r.get("bits_flipped", 0) for r in mine])
        row = {"bits": b, "seeds": len(mine), "test_accuracy_percent": acc, "test_accuracy_sd": acc_sd,
               "points_vs_float": diff, "points_vs_float_sd": diff_sd, "n_writes": writes, "n_writes_sd": writes_sd,
               "bits_flipped": flipped if b else None, "bits_flipped_sd": flipped_sd if b else None,
               "within_tolerance": bool(diff >= -tolerance)}
        if b and chosen is None and row["within_tolerance"]:
            chosen = b
        out.append(row)
    return out, chosen


def figure(rows, title):
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.8))
    quantized = [r for r in rows if r["bits"]]
    flt = next(r for r in rows if r["bits"] == 0)
    ax.errorbar([r["bits"] for r in quantized], [r["test_accuracy_percent"] for r in quantized],
                yerr=[r["test_accuracy_sd"] for r in quantized], fmt="o-", capsize=3, label="b-bit synapses")
    ax.axhspan(flt["test_accuracy_percent"] - flt["test_accuracy_sd"], flt["test_accuracy_percent"] + flt["test_accuracy_sd"],
               alpha=0.2, color="gray", label="float (mean ± s.d.)")
    ax.set_xlabel("bits per synapse")
    ax.set_ylabel("test accuracy (%, ties are errors)")
    ax.legend(fontsize=8)
    bx.errorbar([r["bits"] for r in quantized], [r["bits_flipped"] for r in quantized],
                yerr=[r["bits_flipped_sd"] for r in quantized], fmt="s-", capsize=3, label="bits flipped")
    bx.errorbar([r["bits"] for r in quantized], [r["n_writes"] for r in quantized],
                yerr=[r["n_writes_sd"] for r in quantized], fmt="o--", capsize=3, label="writes (changed codes)")
    bx.set_xlabel("bits per synapse")
    bx.set_yscale("log")
    bx.legend(fontsize=8)
    return finish_figure(fig, (ax, bx), title)


def main():
    args = parser().parse_args()
    model = Path(args.model).stem
    folder = Path(args.results) / "synapse_bits" / (model + f"-{args.rounding}" + ("-quick" if args.quick else ""))
    scan = load_scan(scan_definition(args), base_dir=Path.cwd())
    rows = [r for r in run_protocol(scan, folder, args.workers) if r["seed"] in args.seeds]
    summary_rows, chosen = summarise(rows, args.tolerance)
    summary = {"experiment": "synapse_bits", "model": model, "quick": args.quick, "claim": CLAIM,
               "gate": args.gate, "rounding": args.rounding, "tolerance_points": args.tolerance, "seeds": args.seeds,
               "overrides": scan.fixed, "rows": summary_rows, "chosen_bits": chosen}
    write_json(folder / "summary.json", summary)
    save_figure(figure(summary_rows, f"{model}, gate {args.gate}, {args.rounding} rounding, {len(args.seeds)} seeds"),
                folder)
    fmt = lambda mu, sd, d=2: f"{mu:.{d}f} ± {sd:.{d}f}"  # noqa: E731
    print(table([{"bits": r["bits"] or "float", "test acc %": fmt(r["test_accuracy_percent"], r["test_accuracy_sd"]),
                  "vs float (points)": fmt(r["points_vs_float"], r["points_vs_float_sd"]),
                  "writes": f"{r['n_writes']:.4g}",
                  "bits flipped": "-" if r["bits_flipped"] is None else f"{r['bits_flipped']:.4g}",
                  "within": "yes" if r["within_tolerance"] else "no"} for r in summary_rows],
                ["bits", "test acc %", "vs float (points)", "writes", "bits flipped", "within"]))
    measured = (f"smallest depth within {args.tolerance:g} points of float: {chosen} bits" if chosen else
                f"no depth tried is within {args.tolerance:g} points of float")
    print(claim_line("issue 20", CLAIM, measured, None if args.quick else chosen is not None))
    print(f"summary: {folder / 'summary.json'}")


if __name__ == "__main__":
    run_main(main)
