"""Read trained spiking weights out over a longer test window: how much of a gap is read-out noise?

Lazy learning stops at a zero margin, so its output spike counts are small and a short test
window misreads many images. This script takes finished run directories (e.g. the
points of a ``spikegate scan`` store or ``experiments/gate_comparison.py``) and measures their test accuracy again with the
presentation window set to ``--window`` (same weights, fresh spike trains).

Usage: python experiments/readout_window.py RUN_DIR [RUN_DIR ...] --window "800 ms" [--n-test 10000]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from _common import SHARED_MNIST, run_main

from spikegate.backends.brian import quiet_brian
from spikegate.training import load_run, simulation


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dirs", nargs="+")
    ap.add_argument("--window", required=True, help='test window, e.g. "800 ms"')
    ap.add_argument("--n-test", type=int)
    ap.add_argument("--data-dir", default=str(SHARED_MNIST))
    args = ap.parse_args()
    quiet_brian()
    for run_dir in map(Path, args.run_dirs):
        overrides = [("network.t_stim", args.window), ("data.n_train", 10)]
        if args.n_test:
            overrides.append(("data.n_test", args.n_test))
        cfg, ds, clf, _, rec = load_run(run_dir, args.data_dir, overrides=overrides)
        metrics = rec.metrics
        with simulation(cfg):
            log = clf.present(np.arange(10, 10 + len(ds.x_test)), ds.y_test, learn=False)
        print(f"{run_dir}: gate {metrics['gate']}, test accuracy {log.accuracy:.4f} over a {args.window} window "
              f"({len(ds.x_test)} images; recorded at training: {metrics['test_accuracy']:.4f})", flush=True)


if __name__ == "__main__":
    run_main(main)
