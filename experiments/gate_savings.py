"""Claim (Pache & van Rossum 2026, arXiv 2604.14336): mistake gating needs 50-80 % fewer updates.

Trains one spiking model with the gates ``always``, ``lazy`` and ``memorized`` (same seed,
data and schedule of samples) and compares test accuracy and synaptic writes (M0). The
issue's bar: ``lazy`` and ``memorized`` within 1.5 accuracy points of ``always`` with at
most 50 % of its writes. Writes ``results/gate_savings/<model>/summary.json`` and prints
the claim beside the measurement.

Usage:
    python experiments/gate_savings.py models/mnist-2layer.toml --data-dir DIR \
        --set data.n_train=10000 --set train.epochs=2 [--workers 2]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GATES = ("always", "lazy", "memorized")


def run_gate(args):
    model, gate, overrides, data_dir, out = args
    # Brian2 is imported here, in the worker process's main thread (it installs a signal handler).
    from spikegate.cli import _quiet_brian
    from spikegate.training import train

    _quiet_brian()
    res = train(model, gate=gate, overrides=overrides, data_dir=data_dir, out=out, progress=False)
    return gate, res.metrics


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--data-dir")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--results", default=str(ROOT / "results" / "gate_savings"))
    args = ap.parse_args(argv)
    name = Path(args.model).stem
    out_root = Path(args.results) / name
    out_root.mkdir(parents=True, exist_ok=True)
    jobs = []
    for gate in GATES:
        run_dir = out_root / gate
        if run_dir.exists():
            print(f"{run_dir} exists: reusing it (delete it to rerun)")
        jobs.append((args.model, gate, args.overrides, args.data_dir, None if run_dir.exists() else run_dir))
    todo = [j for j in jobs if j[4] is not None]
    metrics = {}
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(max(1, min(args.workers, len(todo) or 1))) as pool:
        for gate, m in pool.imap_unordered(run_gate, todo):
            metrics[gate] = m
            print(f"finished {gate}: test accuracy {m['test_accuracy']:.4f}, writes {m['n_writes']}", flush=True)
    for gate in GATES:
        if gate not in metrics:
            metrics[gate] = json.loads((out_root / gate / "metrics.json").read_text())

    base = metrics["always"]
    rows = []
    for gate in GATES:
        m = metrics[gate]
        rows.append({
            "gate": gate, "test_accuracy": m["test_accuracy"],
            "accuracy_minus_always_points": 100 * (m["test_accuracy"] - base["test_accuracy"]),
            "gated_presentations": m["n_gated_presentations"], "n_presentations": m["n_presentations"],
            "n_writes_M0": m["n_writes"], "sum_abs_dw_M1": m["sum_abs_dw"], "m_min": m["m_min"],
            "writes_fraction_of_always": m["n_writes"] / base["n_writes"],
            "writes_saved_percent": 100 * (1 - m["n_writes"] / base["n_writes"]),
            "wall_seconds": m["wall_seconds"],
        })
    summary = {"claim": "mistake gating needs 50-80 % fewer updates (Pache & van Rossum 2026)",
               "bar": "lazy and memorized within 1.5 points of always, with <= 50 % of its writes",
               "model": name, "overrides": args.overrides, "rows": rows}
    for r in rows[1:]:
        r["meets_bar"] = bool(r["accuracy_minus_always_points"] >= -1.5 and r["writes_fraction_of_always"] <= 0.5)
    (out_root / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print(f"\nclaim: {summary['claim']}\nmodel: {name} {' '.join(args.overrides)}\n")
    print(f"{'gate':<10} {'test acc':>8} {'vs always':>9} {'gated':>13} {'writes M0':>12} {'saved':>7} "
          f"{'sum|dw| M1':>11} {'wall s':>7}")
    for r in rows:
        print(f"{r['gate']:<10} {r['test_accuracy']:>8.4f} {r['accuracy_minus_always_points']:>+8.2f}p "
              f"{r['gated_presentations']:>6}/{r['n_presentations']:<6} {r['n_writes_M0']:>12} "
              f"{r['writes_saved_percent']:>6.1f}% {r['sum_abs_dw_M1']:>11.4g} {r['wall_seconds']:>7.0f}")
    for r in rows[1:]:
        verdict = "meets" if r["meets_bar"] else "does NOT meet"
        print(f"{r['gate']}: saves {r['writes_saved_percent']:.1f} % of the writes (claim: 50-80 %), "
              f"{r['accuracy_minus_always_points']:+.2f} points: {verdict} the bar")
    print(f"\nwritten: {out_root / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
