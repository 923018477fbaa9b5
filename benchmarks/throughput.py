"""Presentations per second of mnist-2layer training: in-graph chunks vs one run() per presentation.

Same network object, same Brian2 target (Cython), same simulated time per presentation;
the naive loop only differs in calling ``Network.run`` once per presentation (the
decision of each presentation still happens in generated code, at the next run's first
step). Both measurements come from this one process, after a warm-up that compiles.

Usage: python benchmarks/throughput.py [--data-dir DIR] [--in-graph N] [--naive N]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--model", default=str(ROOT / "models" / "mnist-2layer.toml"))
    ap.add_argument("--in-graph", type=int, default=2000, help="presentations in-graph")
    ap.add_argument("--naive", type=int, default=300, help="presentations in the naive loop")
    args = ap.parse_args(argv)

    import brian2 as b2
    from spikegate.config import resolve
    from spikegate.data import load_mnist
    from spikegate.backends.spiking import GatedClassifier

    b2.prefs.logging.file_log = False
    b2.BrianLogger.log_level_warn()
    b2.prefs.codegen.target = "cython"
    cfg = resolve(args.model, gate="always")
    ds = load_mnist(args.data_dir)
    n = max(args.in_graph, args.naive)
    x, y = ds.x_train[:n], ds.y_train[:n]
    b2.seed(0)
    clf = GatedClassifier(cfg.spec, cfg.gate, x, seed=0, chunk=1000)
    net = clf.network
    clf.present(np.arange(20), y[:20])                      # warm-up: compiles everything

    t0 = time.perf_counter()
    log = clf.present(np.arange(args.in_graph), y[:args.in_graph])
    in_graph = args.in_graph / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    for s in range(args.naive):
        clf.load_schedule([s], [y[s]])
        clf.align(net)
        net.run(cfg.spec.t_stim, namespace={})             # one run() per presentation
    clf.load_schedule([], [])
    clf.align(net)
    net.run(cfg.spec.t_stim, namespace={})                 # closes the last presentation
    naive = args.naive / (time.perf_counter() - t0)

    print(f"model {cfg.name} ({'-'.join(map(str, cfg.spec.layers))}), gate always, target cython, "
          f"T_stim {cfg.spec.t_stim}, dt {cfg.spec.dt}")
    print(f"in-graph (chunks of {clf.chunk} per run()): {in_graph:8.1f} presentations/s  ({args.in_graph} presentations)")
    print(f"naive (one run() per presentation):    {naive:8.1f} presentations/s  ({args.naive} presentations)")
    print(f"speed-up in-graph / naive: {in_graph / naive:.2f}x")
    print(f"(writes during the in-graph part: {int(log.writes.sum())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
