"""Claim (Yeung, Botvinick & Cohen, Psychol. Rev. 2004; spikegate issue 22): an ERN made by neurons that monitor the response (conflict, mismatch with the label) can stand in for the ideal error signal computed from the counts.

The spiking ERN (``ern.source = "spiking"``, :mod:`spikegate.model.error_monitor`) against the
ideal ERN, both simulated (``ern.integration = "simulated"``) with the ``ern`` gate, on the
cost-accuracy protocol (SCIENCE.md, section 7): each source trains with every seed at every
learning rate of a small grid (``--eta-scale``: multiples of ``rule.eta`` and
``rule.eta_hidden``) through ``spikegate scan`` (resumable), and is reported at the rate with
its best mean *validation* accuracy (a split held out from the training images). Reported per
source: test accuracy (mean, 95 % t-interval over seeds), writes, the fraction of presentations
that opened the gate, and for the spiking ERN how often its gate agreed with the ideal gate on
the same presentations (the ideal decision is still made and recorded beside it) over the last
training segment. The bars: agreement >= 90 % and accuracy at most 1 point below the ideal ERN's
(the summary also says whether the two are within 1 point either way).
The training window is the test window. Writes ``results/spiking_ern/<model>/summary.json``,
``figure.png``/``.svg`` and the scan store ``store/``.

Usage:
    python experiments/spiking_ern.py models/digits.toml --set train.device=cpp_standalone
    python experiments/spiking_ern.py models/mnist-2layer.toml --data-dir ../shared/data/mnist --seeds 1 2 3 \\
        --set data.n_train=5000 --set train.epochs=1 --n-validation 2000 --validate-every 2500 \\
        --set train.device=cpp_standalone
"""
from __future__ import annotations

from pathlib import Path

from _common import (add_protocol_arguments, claim_line, finish_figure, protocol_overrides, pyplot, run_main,
                     run_protocol, save_figure, spiking_protocol_config, table)

from gate_comparison import best_rate, eta_axis, mean_sd, t_interval
from spikegate.errors import ConfigError
from spikegate.files import write_json
from spikegate.scan import load_scan

SOURCES = ("ideal", "spiking")
CLAIM = ("an ERN made by a monitoring population gates like the ideal ERN (>= 90 % agreement) and learns as well "
         "(at most 1 point below it)")


def parser():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("model", help="spiking model file, e.g. models/digits.toml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="seeds (at least 3)")
    ap.add_argument("--eta-scale", type=float, nargs="+", default=[0.5, 1.0, 2.0],
                    help="learning-rate grid: multiples of the model's rule.eta and rule.eta_hidden")
    ap.add_argument("--n-validation", type=int, default=300, help="validation images held out (default 300)")
    ap.add_argument("--validate-every", type=int, default=500, help="presentations between validations")
    add_protocol_arguments(ap)
    return ap


def fixed_settings(args) -> dict:
    """Settings every point shares, checked before any training."""
    fixed = protocol_overrides(args, {"data.n_train": 60, "data.n_test": 40, "train.epochs": 1})
    if args.quick:
        args.n_validation, args.validate_every = min(args.n_validation, 40), min(args.validate_every, 60)
    fixed.update({"ern.integration": "simulated", "gate.name": "ern", "data.n_validation": args.n_validation,
                  "train.validate_every": args.validate_every})
    cfg = spiking_protocol_config(args, fixed, "spiking ERN")
    if cfg.spec.t_test is not None:
        raise ConfigError("network.t_test is set: the protocol tests with the training window; remove it")
    if not args.eta_scale or any(not x > 0 for x in args.eta_scale) or len(set(args.eta_scale)) != len(args.eta_scale):
        raise ConfigError(f"--eta-scale {args.eta_scale}: expected distinct multiples > 0")
    spiking_protocol_config(args, {**fixed, "ern.source": "spiking"}, "spiking ERN")   # valid before any work
    return fixed


def source_summary(source: str, eta: str, rows: list) -> dict:
    acc, ci = t_interval([100 * r["test_accuracy"] for r in rows])
    val, _ = mean_sd([100 * r["best_validation_accuracy"] for r in rows])
    writes, writes_sd = mean_sd([r["n_writes"] for r in rows])
    gated, _ = mean_sd([r["n_gated_presentations"] / r["n_presentations"] for r in rows])
    out = {"source": source, "eta": eta, "seeds": len(rows), "test_accuracy_percent": acc, "test_accuracy_ci95": ci,
           "test_accuracy_per_seed": [100 * r["test_accuracy"] for r in sorted(rows, key=lambda r: r["seed"])],
           "best_validation_percent": val, "n_writes": writes, "n_writes_sd": writes_sd, "gated_fraction": gated}
    if source == "spiking":
        agreement, sd = mean_sd([100 * r["gate_agreement"] for r in rows])
        out.update(gate_agreement_percent=agreement, gate_agreement_sd=sd,
                   gate_agreement_min_percent=min(100 * r["gate_agreement"] for r in rows))
    return out


def figure(lines: list, title: str):
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"wspace": 0.4})
    for k, line in enumerate(lines):
        ax.errorbar([k], [line["test_accuracy_percent"]], yerr=[line["test_accuracy_ci95"]], fmt="o", capsize=4)
        ax.plot([k] * line["seeds"], line["test_accuracy_per_seed"], "k.", alpha=0.4)
        bx.bar([k], [line["n_writes"]], yerr=[line["n_writes_sd"]], capsize=4)
    labels = [f"{line['source']}\n(eta {line['eta']})" for line in lines]
    for axis in (ax, bx):
        axis.set_xticks(range(len(lines)), labels)
    ax.set_xlim(-0.6, len(lines) - 0.4)
    ax.set_ylabel("test accuracy (%), 95 % interval")
    bx.set_ylabel("writes")
    return finish_figure(fig, (ax, bx), title)


def main():
    args = parser().parse_args()
    fixed = fixed_settings(args)
    model = Path(args.model).stem
    folder = Path(args.results) / "spiking_ern" / (model + ("-quick" if args.quick else ""))
    scan = load_scan({"model": str(Path(args.model).resolve()), "name": f"spiking-ern-{model}",
                      "seeds": list(args.seeds), "set": fixed, "grid": {"ern.source": list(SOURCES)},
                      "zip": eta_axis(args)}, base_dir=Path.cwd())
    rows = [r for r in run_protocol(scan, folder, args.workers) if r["seed"] in args.seeds]
    lines = []
    for source in SOURCES:
        mine = [dict(r, **{"gate.name": source}) for r in rows if r.get("ern.source", "ideal") == source]
        eta, chosen = best_rate(mine, source)
        lines.append(source_summary(source, eta, chosen))
    ideal, spiking = lines
    gap = spiking["test_accuracy_percent"] - ideal["test_accuracy_percent"]
    summary = {"experiment": "spiking_ern", "model": model, "quick": args.quick, "claim": CLAIM, "seeds": args.seeds,
               "eta_scale": args.eta_scale, "overrides": fixed, "lines": lines, "accuracy_gap_points": gap,
               "within_one_point": bool(abs(gap) <= 1.0)}
    write_json(folder / "summary.json", summary)
    save_figure(figure(lines, f"{model}: ideal against spiking ERN (simulated, gate ern), each at its best "
                              f"learning rate, {len(args.seeds)} seeds"), folder)
    print(table([{"source": r["source"], "eta": r["eta"],
                  "test acc %": f"{r['test_accuracy_percent']:.2f} ± {r['test_accuracy_ci95']:.2f}",
                  "best val %": f"{r['best_validation_percent']:.2f}", "writes": f"{r['n_writes']:.4g}",
                  "gated": f"{100 * r['gated_fraction']:.1f} %",
                  "agreement": (f"{r['gate_agreement_percent']:.1f} % (min {r['gate_agreement_min_percent']:.1f})"
                                if "gate_agreement_percent" in r else "")} for r in lines],
                ["source", "eta", "test acc %", "best val %", "writes", "gated", "agreement"]))
    measured = (f"gates agree on {spiking['gate_agreement_percent']:.1f} % of the last segment's decisions; "
                f"accuracy {gap:+.2f} points against the ideal ERN ({'within' if abs(gap) <= 1 else 'not within'} 1 "
                f"point either way)")
    agrees = None if args.quick else bool(spiking["gate_agreement_percent"] >= 90 and gap >= -1.0)
    print(claim_line("Yeung et al. 2004", CLAIM, measured, agrees))
    print(f"summary: {folder / 'summary.json'}")


if __name__ == "__main__":
    run_main(main)
