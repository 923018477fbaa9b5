"""Claim (Izhikevich, Cereb. Cortex 2007; spikegate issue 22): an eligibility trace bridges the delay to a third factor, but only while no other stimulus fills the gap: a late ERN on a fast stream credits the wrong synapses.

Learning against the ERN's latency and the inter-stimulus interval on the continuous stream
(``network.stimulus_mode = "stream"``, simulated ERN). Only timing differs between the ERN
time courses: each latency keeps the model's rise and decay, its window ends the same time
after the onset (rounded up to whole stimulus windows), and the learning rates are scaled by
the ratio of the closed-form integrals :math:`W = \\int \\varepsilon(t) e^{-t/\\tau_e} dt`, so that on the
reset schedule (silence while the ERN lasts) every latency writes the same weights
(``tests/test_stream.py``). On the stream an ERN that outlasts the interval also multiplies
the eligibility of the next stimuli (one slot per pending decision,
:attr:`spikegate.model.NetworkSpec.ern_slots`).

Every (latency, interval) pair trains with every seed through ``spikegate scan``
(resumable); the reset schedule at the model's latency is the reference. The training
window is the test window. Writes ``results/ern_timing/<model>/summary.json``,
``figure.png``/``.svg`` (accuracy and writes against the interval, a line per latency) and
the scan stores ``store/`` and ``reset/store/``.

Usage:
    python experiments/ern_timing.py models/digits.toml --set train.device=cpp_standalone
"""
from __future__ import annotations

import math
from pathlib import Path

from _common import (add_protocol_arguments, claim_line, finish_figure, protocol_overrides, pyplot, run_main,
                     run_protocol, save_figure, spiking_protocol_config, table)

from gate_comparison import mean_sd
from spikegate.config import resolve
from spikegate.files import write_json
from spikegate.scan import load_scan

LATENCIES_MS = (50, 100, 200, 300)
ISI_MS = (0, 100, 200, 400, 700)
QUICK_LATENCIES_MS, QUICK_ISI_MS = (50, 150), (100,)
CLAIM = ("an eligibility trace bridges the delay to the third factor while the gap is silent; "
         "an ERN overlapping the next stimuli credits their synapses")


def parser():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("model", help="spiking model file, e.g. models/digits.toml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="seeds (at least 3 for a claim)")
    ap.add_argument("--latencies", type=float, nargs="+", metavar="MS",
                    help=f"ERN latencies in ms, multiples of dt (default {' '.join(map(str, LATENCIES_MS))}; "
                         f"--quick: {' '.join(map(str, QUICK_LATENCIES_MS))})")
    ap.add_argument("--isi", type=float, nargs="+", metavar="MS",
                    help=f"inter-stimulus intervals in ms, multiples of t_stim, 0 allowed (default "
                         f"{' '.join(map(str, ISI_MS))}; --quick: {' '.join(map(str, QUICK_ISI_MS))})")
    add_protocol_arguments(ap)
    return ap


def _ms(q) -> float:
    from brian2 import ms

    return float(q / ms)


def time_courses(cfg, latencies_ms) -> list[dict]:
    """Per latency: the ERN's window and the compensated learning rates (config values)."""
    from brian2 import ms

    spec = cfg.spec
    ern, rule, t_stim = spec.ern, spec.rule, spec.t_stim
    tail = ern.window - ern.latency
    # the output's eligibility time constant, and the hidden projections' (rule.tau_e_hidden)
    taus = {"rule.eta": rule.tau_e, "rule.eta_hidden": rule.eligibility_time_constants(2)[0]}
    rates = {"rule.eta": rule.eta, "rule.eta_hidden": rule.eta_hidden}
    out = []
    for lat in latencies_ms:
        window = math.ceil(float((lat * ms + tail) / t_stim) - 1e-9) * t_stim
        moved = ern.replace(latency=lat * ms, window=window)
        scales = {k: float(ern.integral_weight(tau) / moved.integral_weight(tau)) for k, tau in taus.items()}
        out.append({"latency_ms": float(lat), "window_ms": _ms(window), "eta_scale": scales["rule.eta"],
                    "ern.latency": f"{lat:g} ms", "ern.window": f"{_ms(window):g} ms",
                    **{k: f"{float(rates[k] * 1000 * ms) * scales[k]:.6g} Hz" for k in rates}})
    return out


def scan_definitions(args) -> tuple[dict, dict, list[dict]]:
    """The stream scan (latency x interval), the reset reference and the time courses."""
    fixed = protocol_overrides(args, {"data.n_train": 20, "data.n_test": 20, "train.epochs": 1})
    fixed["ern.integration"] = "simulated"
    cfg = spiking_protocol_config(args, fixed, "ERN timing")
    courses = time_courses(cfg, args.latencies)
    zipped = {k: [c[k] for c in courses] for k in ("ern.latency", "ern.window", "rule.eta", "rule.eta_hidden")}
    stream = dict(fixed, **{"network.stimulus_mode": "stream"})
    isi = [f"{v:g} ms" for v in args.isi]
    for c in courses:          # every point valid before any work
        for v in isi:
            resolve(args.model, list(stream.items()) + [(k, c[k]) for k in zipped] + [("network.isi", v)])
    name = Path(args.model).stem
    return ({"model": str(Path(args.model).resolve()), "name": f"ern-timing-{name}", "seeds": list(args.seeds),
             "set": stream, "grid": {"network.isi": isi}, "zip": zipped},
            {"model": str(Path(args.model).resolve()), "name": f"ern-timing-reset-{name}",
             "seeds": list(args.seeds), "set": dict(fixed, **{"network.stimulus_mode": "reset"})},
            courses)


def summarise(rows, courses, reference, intervals_ms) -> list[dict]:
    """One row per (latency, interval) asked for: mean and s.d. over seeds, and the paired
    difference to the reset schedule."""
    ref = {r["seed"]: r for r in reference}
    out = []
    for c in courses:
        for isi in sorted(set(float(v) for v in intervals_ms)):
            mine = [r for r in rows if _isi_ms(r) == isi and r["ern.latency"] == c["ern.latency"]]
            if not mine:
                continue
            acc, acc_sd = mean_sd([100 * r["test_accuracy"] for r in mine])
            diff, diff_sd = mean_sd([100 * (r["test_accuracy"] - ref[r["seed"]]["test_accuracy"])
                                     for r in mine if r["seed"] in ref] or [float("nan")])
            writes, writes_sd = mean_sd([r["n_writes"] for r in mine])
            out.append({"latency_ms": c["latency_ms"], "window_ms": c["window_ms"], "eta_scale": c["eta_scale"],
                        "isi_ms": isi, "seeds": len(mine), "test_accuracy_percent": acc, "test_accuracy_sd": acc_sd,
                        "points_vs_reset": diff, "points_vs_reset_sd": diff_sd, "n_writes": writes,
                        "n_writes_sd": writes_sd,
                        "ern_overlaps_next_stimulus": bool(c["window_ms"] > isi)})
    return out


def _isi_ms(row) -> float:
    from brian2 import ms

    from spikegate.units import parse_quantity

    return float(parse_quantity(str(row["network.isi"]), "network.isi") / ms)


def figure(rows, reference, title):
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    ref_acc, ref_sd = mean_sd([100 * r["test_accuracy"] for r in reference])
    for lat in sorted({r["latency_ms"] for r in rows}):
        mine = sorted((r for r in rows if r["latency_ms"] == lat), key=lambda r: r["isi_ms"])
        x = [r["isi_ms"] for r in mine]
        ax.errorbar(x, [r["test_accuracy_percent"] for r in mine], yerr=[r["test_accuracy_sd"] for r in mine],
                    fmt="o-", capsize=3, label=f"latency {lat:g} ms")
        bx.errorbar(x, [r["n_writes"] for r in mine], yerr=[r["n_writes_sd"] for r in mine], fmt="o-", capsize=3)
    ax.axhspan(ref_acc - ref_sd, ref_acc + ref_sd, color="gray", alpha=0.25, label="reset schedule (any latency)")
    ax.set_xlabel("inter-stimulus interval (ms)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
    bx.set_xlabel("inter-stimulus interval (ms)")
    bx.set_ylabel("writes (changed codes)")
    return finish_figure(fig, (ax, bx), title)


def main():
    args = parser().parse_args()
    args.latencies = args.latencies or list(QUICK_LATENCIES_MS if args.quick else LATENCIES_MS)
    args.isi = args.isi or list(QUICK_ISI_MS if args.quick else ISI_MS)
    stream_def, reset_def, courses = scan_definitions(args)
    model = Path(args.model).stem
    folder = Path(args.results) / "ern_timing" / (model + ("-quick" if args.quick else ""))
    reference = [r for r in run_protocol(load_scan(reset_def, base_dir=Path.cwd()), folder / "reset", args.workers)
                 if r["seed"] in args.seeds]
    scan = load_scan(stream_def, base_dir=Path.cwd())
    rows = [r for r in run_protocol(scan, folder, args.workers) if r["seed"] in args.seeds]
    summary_rows = summarise(rows, courses, reference, args.isi)
    ref_acc, ref_sd = mean_sd([100 * r["test_accuracy"] for r in reference])
    summary = {"experiment": "ern_timing", "model": model, "quick": args.quick, "claim": CLAIM, "seeds": args.seeds,
               "overrides": scan.fixed, "time_courses": courses,
               "reset_reference": {"test_accuracy_percent": ref_acc, "test_accuracy_sd": ref_sd,
                                   "n_writes": mean_sd([r["n_writes"] for r in reference])[0]},
               "rows": summary_rows}
    write_json(folder / "summary.json", summary)
    save_figure(figure(summary_rows, reference, f"{model}: stream, simulated ERN, learning rate compensated for "
                                                f"the ERN's integral, {len(args.seeds)} seeds"), folder)
    fmt = lambda mu, sd, d=2: f"{mu:.{d}f} ± {sd:.{d}f}"  # noqa: E731
    print(f"reset schedule (model's latency): {fmt(ref_acc, ref_sd)} %")
    print(table([{"latency ms": f"{r['latency_ms']:g}", "window ms": f"{r['window_ms']:g}",
                  "eta x": f"{r['eta_scale']:.3g}", "isi ms": f"{r['isi_ms']:g}",
                  "overlaps": "yes" if r["ern_overlaps_next_stimulus"] else "no",
                  "test acc %": fmt(r["test_accuracy_percent"], r["test_accuracy_sd"]),
                  "vs reset (points)": fmt(r["points_vs_reset"], r["points_vs_reset_sd"]),
                  "writes": f"{r['n_writes']:.4g}"} for r in summary_rows],
                ["latency ms", "window ms", "eta x", "isi ms", "overlaps", "test acc %", "vs reset (points)", "writes"]))
    overl = [r for r in summary_rows if r["ern_overlaps_next_stimulus"]]
    clear = [r for r in summary_rows if not r["ern_overlaps_next_stimulus"]]
    worst = min(overl, key=lambda r: r["points_vs_reset"]) if overl else None
    measured = ("; ".join(filter(None, [
        f"ERN windows inside the interval: {min(r['points_vs_reset'] for r in clear):+.2f} to "
        f"{max(r['points_vs_reset'] for r in clear):+.2f} points vs reset" if clear else None,
        f"overlapping the next stimuli: worst {worst['points_vs_reset']:+.2f} points (latency "
        f"{worst['latency_ms']:g} ms, interval {worst['isi_ms']:g} ms)" if worst else None])))
    agrees = None
    if not args.quick and worst is not None and clear:
        agrees = bool(worst["points_vs_reset"] < min(r["points_vs_reset"] for r in clear) - 1.0)
    print(claim_line("Izhikevich 2007", CLAIM, measured, agrees))
    print(f"summary: {folder / 'summary.json'}")


if __name__ == "__main__":
    run_main(main)
