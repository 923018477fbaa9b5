"""Where the compiled engine's time goes: Brian2's per-code-object profile of mnist-2layer training
(gate ``always``, the model's synapses), built with ``profile=True`` in a folder of its own.

One process, one core (``OMP_NUM_THREADS=1``); the profile covers ``--n`` presentations after a
warm-up run of 1,000 (the binary writes ``profiling_info.txt`` per run; the last run's is read).
Prints each code object's seconds and share, largest first.

Usage: python benchmarks/engine_profile.py [--data-dir DIR] [--model FILE] [--set KEY=VALUE ...] [--n 2000] [--top 15]
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--model", default=str(ROOT / "models" / "mnist-2layer.toml"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    ap.add_argument("--n", type=int, default=2000, help="profiled presentations (at most 1,000 per run)")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"

    import brian2 as b2

    from spikegate.backends.brian import quiet_brian
    from spikegate.backends.spiking import StandaloneClassifier
    from spikegate.config import resolve
    from spikegate.data import load_mnist

    quiet_brian()
    run = b2.Network.run

    def profiled(self, *a, **kw):     # the build's one run() generates the profiling code
        return run(self, *a, **{**kw, "profile": True})

    ds = load_mnist(args.data_dir, n_train=max(args.n, 1000), n_test=1)
    cfg = resolve(args.model, args.set, gate="always")
    with tempfile.TemporaryDirectory() as tmp:
        b2.Network.run = profiled
        try:
            clf = StandaloneClassifier(cfg.spec, cfg.gate, ds.x_train, seed=0, chunk=1000, name="sgprofile",
                                       directory=Path(tmp))
        finally:
            b2.Network.run = run
        clf.present(np.arange(1000), ds.y_train[:1000])       # warm-up
        totals: dict = {}
        for start in range(0, args.n, 1000):
            idx = np.arange(start, min(start + 1000, args.n))
            clf.present(idx, ds.y_train[idx])
            for line in next(Path(tmp).glob("results-*/profiling_info.txt")).read_text().splitlines():
                name, seconds = line.split()
                totals[name] = totals.get(name, 0.0) + float(seconds)
    total = sum(totals.values())
    print(f"{cfg.name}: {args.n:,} presentations, {total:.2f} s in code objects ({args.n / total:.0f} presentations/s)")
    for name, seconds in sorted(totals.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"{name.removeprefix('sgprofile_'):45s} {seconds:7.3f} s  {100 * seconds / total:5.1f} %")


if __name__ == "__main__":
    main()
