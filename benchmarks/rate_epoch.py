"""Benchmark: one full 60,000-sample MNIST epoch of 784-100-10 per-sample SGD, gate ``always``.

The issue's bar is at most 15 s on the 2-core reference machine. Also times the same epoch
with ``lazy`` (same initial weights and sample order), in the same run, and float64 beside
the default float32. Training time only (no evaluation); data loading excluded.

Usage: python benchmarks/rate_epoch.py [--data-dir DIR] [--hidden 100]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--hidden", type=int, default=100)
    args = ap.parse_args()
    from spikegate.data import load_mnist
    from spikegate.model import make_gate
    from spikegate.backends.rate import RateClassifier
    from spikegate.model import RateSpec

    ds = load_mnist(args.data_dir)
    images = np.vstack([ds.x_train, ds.x_test])
    mean = ds.x_train.mean(axis=0)
    order = np.random.default_rng(0).permutation(len(ds.x_train))
    rows = []
    for dtype, gate in (("float32", "always"), ("float32", "lazy"), ("float64", "always")):
        spec = RateSpec(layers=(784, args.hidden, 10), dtype=dtype)
        clf = RateClassifier(spec, make_gate(gate), images, seed=1, mean=mean)
        t0 = time.perf_counter()
        log = clf.present(order, ds.y_train[order])
        seconds = time.perf_counter() - t0
        test = clf.present(np.arange(60000, 70000), ds.y_test, learn=False)
        rows.append({"dtype": dtype, "gate": gate, "epoch_seconds": seconds, "samples_per_second": len(order) / seconds,
                     "gated": int(log.gate_open.sum()), "writes": int(log.writes.sum()),
                     "test_accuracy": test.accuracy})
        print(f"{dtype:8s} {gate:7s} epoch {seconds:6.2f} s  ({len(order) / seconds:8.0f} samples/s)  "
              f"gated {rows[-1]['gated']:6d}  test accuracy {test.accuracy:.4f}", flush=True)
    base = rows[0]["epoch_seconds"]
    print(f"bar: always, float32: {base:.2f} s per 60,000-sample epoch (<= 15 s: {'yes' if base <= 15 else 'NO'}); "
          f"lazy is {base / rows[1]['epoch_seconds']:.1f}x faster on the same epoch")
    out = ROOT / "results" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / "rate_epoch.json").write_text(json.dumps({"hidden": args.hidden, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
