"""Seconds for one full MNIST training epoch of the full-scale model on the compiled engine, one core.

mnist-full (``models/mnist-full.toml``): one epoch is the 60,000 training images less the
model's validation split (55,000), with its own gate (``ern``) and ``always`` (every
presentation writes, the slowest case), after a warm-up run that builds or loads the binary.
One process, one thread (``OMP_NUM_THREADS=1``). The time is the presentations' (one run of
the binary per chunk, reading back the ledger), not the test or validation passes.

``--n`` presents fewer and scales the time to a whole epoch (the README's numbers: ``--n 5000``).

Usage: python benchmarks/full_epoch.py [--data-dir DIR] [--model FILE] [--gates always ern] [--n 55000]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BAR_SECONDS = 120.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--model", default=str(ROOT / "models" / "mnist-full.toml"))
    ap.add_argument("--gates", nargs="+", default=["always", "ern"])
    ap.add_argument("--n", type=int, default=55000, help="presentations timed (scaled to a whole epoch)")
    args = ap.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"

    from spikegate.backends.brian import quiet_brian
    from spikegate.backends.spiking import StandaloneClassifier
    from spikegate.config import resolve
    from spikegate.data import load_mnist

    quiet_brian()
    ds = load_mnist(args.data_dir)
    for gate in args.gates:
        cfg = resolve(args.model, [], gate=gate)
        epoch = len(ds.x_train) - cfg.data.n_validation
        order = np.random.default_rng(0).permutation(epoch)[:args.n]
        clf = StandaloneClassifier(cfg.spec, cfg.gate, ds.x_train, seed=1, chunk=cfg.training.chunk)
        clf.present(order[:1000], ds.y_train[order[:1000]])            # warm-up
        t0 = time.perf_counter()
        log = clf.present(order, ds.y_train[order])
        seconds = time.perf_counter() - t0
        per_epoch = seconds * epoch / len(order)
        gated = int(np.sum(log.gate_open))
        print(f"{cfg.name} {gate:7s} {len(order):,} presentations in {seconds:7.1f} s: {len(order) / seconds:6.1f} "
              f"presentations/s, {per_epoch:6.1f} s per {epoch:,}-image epoch ({per_epoch / BAR_SECONDS:.2f} x the "
              f"2-minute bar), {gated:,} gated")


if __name__ == "__main__":
    main()
