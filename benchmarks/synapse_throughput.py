"""What finite-precision synapses cost the compiled engine: presentations/s of mnist-2layer training
(gate ``always``: every presentation writes) with float, 8-bit stochastic and 8-bit nearest synapses.

One process, one core (``OMP_NUM_THREADS=1``), the same 2,000 MNIST images for each, timed after a
warm-up run of each binary (the first run of a new structure builds it). Prints presentations/s,
the ratio to float, writes and bits flipped.

Usage: python benchmarks/synapse_throughput.py [--data-dir DIR] [--n 2000] [--bits 8]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--model", default=str(ROOT / "models" / "mnist-2layer.toml"))
    ap.add_argument("--n", type=int, default=2000, help="timed presentations per synapse format")
    ap.add_argument("--bits", type=int, default=8)
    args = ap.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"

    from spikegate.backends.brian import quiet_brian
    from spikegate.backends.spiking import StandaloneClassifier
    from spikegate.config import resolve
    from spikegate.data import load_mnist

    quiet_brian()
    ds = load_mnist(args.data_dir, n_train=args.n, n_test=1)
    x, y = ds.x_train, ds.y_train
    base = None
    for fmt in ({"synapse.bits": 0}, {"synapse.bits": args.bits, "synapse.rounding": "stochastic"},
                {"synapse.bits": args.bits, "synapse.rounding": "nearest"}):
        cfg = resolve(args.model, list(fmt.items()), gate="always")
        clf = StandaloneClassifier(cfg.spec, cfg.gate, x, seed=0, chunk=1000, name="sgbench")
        clf.present(np.arange(min(1000, args.n)), y[:min(1000, args.n)])       # warm-up
        t0 = time.perf_counter()
        log = clf.present(np.arange(args.n), y)
        rate = args.n / (time.perf_counter() - t0)
        base = base or rate
        label = "float" if not fmt["synapse.bits"] else f"{args.bits} bits, {fmt['synapse.rounding']}"
        print(f"{label:22s} {rate:7.1f} presentations/s  x{rate / base:.2f}  writes {int(log.writes.sum()):,}  "
              f"bits flipped {int(log.bits_flipped.sum()):,}", flush=True)


if __name__ == "__main__":
    main()
