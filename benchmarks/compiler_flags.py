"""What exact arithmetic costs the compiled engine: presentations/s of mnist-2layer training (gate
``always``) built with Brian2's default flags (``-ffast-math``, fused multiply-adds) and with
spikegate's (:func:`spikegate.backends.spiking.standalone.exact_write_flags`), float and 8-bit synapses.

One process, one core (``OMP_NUM_THREADS=1``); each build in a cache folder of its own under a
temporary directory; the same MNIST images for each, timed after a warm-up run, the two builds
alternating ``--repeats`` times (the best of each is reported). Prints presentations/s, the ratio
and the writes each ledger logged (Brian2's flags log writes that change no float weight).

Usage: python benchmarks/compiler_flags.py [--data-dir DIR] [--n 2000] [--repeats 2]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--model", default=str(ROOT / "models" / "mnist-2layer.toml"))
    ap.add_argument("--n", type=int, default=2000, help="timed presentations per build and repeat")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"

    from spikegate.backends.brian import quiet_brian
    from spikegate.backends.spiking import StandaloneClassifier
    from spikegate.backends.spiking import standalone
    from spikegate.config import resolve
    from spikegate.data import load_mnist

    quiet_brian()
    ds = load_mnist(args.data_dir, n_train=args.n, n_test=1)
    x, y = ds.x_train, ds.y_train
    exact = standalone.exact_write_flags
    with tempfile.TemporaryDirectory() as tmp:
        for bits in (0, 8):
            cfg = resolve(args.model, [("synapse.bits", bits)], gate="always")
            builds = {}
            for label, flags in (("Brian2's flags", list), ("spikegate's flags", exact)):
                standalone.exact_write_flags = flags
                try:
                    clf = StandaloneClassifier(cfg.spec, cfg.gate, x, seed=0, chunk=1000, name="sgflags",
                                               directory=Path(tmp) / f"{bits}-{flags.__name__}")
                finally:
                    standalone.exact_write_flags = exact
                clf.present(np.arange(min(1000, args.n)), y[:min(1000, args.n)])     # warm-up
                builds[label] = clf
            best = {label: 0.0 for label in builds}
            for _ in range(args.repeats):
                for label, clf in builds.items():
                    t0 = time.perf_counter()
                    log = clf.present(np.arange(args.n), y)
                    rate = args.n / (time.perf_counter() - t0)
                    best[label] = max(best[label], rate)
                    print(f"{bits:2d} bits (0: float)  {label:18s} {rate:7.1f} presentations/s  "
                          f"writes {int(log.writes.sum()):,}", flush=True)
            name = "float" if not bits else f"{bits} bits"
            old, new = best["Brian2's flags"], best["spikegate's flags"]
            print(f"{name}: best {new:.1f} against {old:.1f} presentations/s (x{new / old:.2f})", flush=True)


if __name__ == "__main__":
    main()
