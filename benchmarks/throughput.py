"""Presentations per second of mnist-2layer training: the compiled engine, the runtime engine, the naive loop.

One process, one network declaration, the same data, gate (``always``: every presentation
writes) and simulated time per presentation, measured after a warm-up that compiles:

* ``cpp_standalone``: the network compiled once (``spikegate.backends.spiking.standalone``), one run
  of the binary per chunk of presentations;
* runtime in-graph: Brian2's runtime engine (Cython), one ``Network.run`` per chunk;
* runtime naive: one ``Network.run`` per presentation (the decisions still happen in
  generated code, at the next run's first step).

All run on one core (``OMP_NUM_THREADS=1``; the binary uses one thread). Reports the ratios
and how far the compiled engine is from 0.5 ms per presentation.

Usage: python benchmarks/throughput.py [--data-dir DIR] [--n 2000] [--naive 200] [--model FILE]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--model", default=str(ROOT / "models" / "mnist-2layer.toml"))
    ap.add_argument("--n", type=int, default=2000, help="presentations for each in-graph engine")
    ap.add_argument("--naive", type=int, default=200, help="presentations in the naive loop")
    ap.add_argument("--chunk", type=int, default=1000)
    args = ap.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"

    import brian2 as b2
    from spikegate.backends.brian import codegen_target, quiet_brian
    from spikegate.backends.spiking import GatedClassifier
    from spikegate.backends.spiking import StandaloneClassifier
    from spikegate.config import resolve
    from spikegate.data import load_mnist

    quiet_brian()
    cfg = resolve(args.model, [("train.chunk", args.chunk)], gate="always")
    ds = load_mnist(args.data_dir)
    n = max(args.n, args.naive)
    x, y = ds.x_train[:n], ds.y_train[:n]
    spec = cfg.spec
    rates = {}

    t0 = time.perf_counter()
    sa = StandaloneClassifier(spec, cfg.gate, x, seed=0, chunk=args.chunk, name="sgbench")
    build = time.perf_counter() - t0
    sa.present(np.arange(min(n, args.chunk)), y[:min(n, args.chunk)])          # warm-up: the first run of the binary
    t0 = time.perf_counter()
    log = sa.present(np.arange(args.n), y[:args.n])
    rates["cpp_standalone"] = args.n / (time.perf_counter() - t0)
    writes_sa = int(log.writes.sum())

    with codegen_target("cython"):
        b2.seed(0)
        clf = GatedClassifier(spec, cfg.gate, x, seed=0, chunk=args.chunk, name="sgbench")
        net = clf.network
        clf.present(np.arange(20), y[:20])                   # warm-up: compiles (or loads) the Cython code
        t0 = time.perf_counter()
        log = clf.present(np.arange(args.n), y[:args.n])
        rates["runtime in-graph"] = args.n / (time.perf_counter() - t0)
        writes_rt = int(log.writes.sum())
        t0 = time.perf_counter()
        for s in range(args.naive):
            clf.load_schedule([s], [y[s]])
            clf.align(net)
            net.run(spec.t_stim, namespace={})               # one run() per presentation
        clf.load_schedule([], [])
        clf.align(net)
        net.run(spec.t_stim, namespace={})                   # closes the last presentation
        rates["runtime naive"] = args.naive / (time.perf_counter() - t0)

    print(f"model {cfg.name} ({'-'.join(map(str, spec.layers))}), gate always, T_stim {float(spec.t_stim / b2.ms):g} ms, dt {float(spec.dt / b2.ms):g} ms, "
          f"chunks of {args.chunk}; one core")
    for name, rate in rates.items():
        print(f"{name:>22}: {rate:8.1f} presentations/s  ({1000 / rate:6.2f} ms per presentation)")
    print(f"compiled / runtime in-graph: {rates['cpp_standalone'] / rates['runtime in-graph']:.2f}x; "
          f"runtime in-graph / naive: {rates['runtime in-graph'] / rates['runtime naive']:.2f}x; "
          f"compiled / naive: {rates['cpp_standalone'] / rates['runtime naive']:.1f}x")
    print(f"compiled engine: {1000 / rates['cpp_standalone'] / 0.5:.2f}x the 0.5 ms per presentation mark "
          f"(build and compile {build:.1f} s, once per network structure)")
    print(f"(writes: {writes_sa} compiled, {writes_rt} runtime, over {args.n} presentations each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
