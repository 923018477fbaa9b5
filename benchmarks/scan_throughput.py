"""Scan throughput: points per minute with 1 and 2 local workers, for both engines, and the cost of a worker's first point.

One run of this script:

1. cold start (skip with ``--no-cold``): a 1-worker scan of ``--cold-points`` points with a
   fresh, empty Cython cache (``CYTHON_CACHE_DIR`` pointed at a new directory), so its
   first point compiles every Brian2 code object; reported as first-point seconds against
   the median of the later points of that worker;
2. warm-up: one point with the normal Cython cache, so that the timed scans compile nothing;
3. the same scan of ``--points`` points (gate ``lazy``, seeds 1..N) with each ``--workers``
   count and each engine (``--devices``: Brian2's runtime, the compiled ``cpp_standalone``
   engine whose workers share one binary) in turn, each on a fresh store: wall time of the
   whole scan (worker start-up included), points per minute, median point seconds and each
   worker's first point (which also pays Brian2's per-process set-up: importing it, deriving
   the exact state updaters with sympy, and for the compiled engine generating the code);
4. speed-up of the largest worker count over 1 worker, and of the compiled engine over the runtime.

Prints a table and writes ``results/scan_throughput.json``. Run it on a quiet machine:
other processes on the cores distort the speed-up.

Usage: python benchmarks/scan_throughput.py [--points 16] [--workers 1 2] [--n-train 1000]
       [--n-test 200] [--epochs 1] [--cold-points 3] [--no-cold] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def scan_dict(args, n_points: int, first_seed: int = 1, device: str = "runtime") -> dict:
    return {"model": str(ROOT / "models" / "digits.toml"), "name": f"throughput-{n_points}",
            "seeds": list(range(first_seed, first_seed + n_points)),
            "set": {"gate.name": "lazy", "data.n_train": args.n_train, "data.n_test": args.n_test,
                    "train.epochs": args.epochs, "train.device": device}}


def timed_scan(scan, store, workers: int) -> dict:
    from spikegate.scan import run_scan

    report = run_scan(scan, store, workers=workers, progress=False, log=lambda s: None)
    if report.failures:
        raise SystemExit(f"scan failed: {report.failures[0][1]}")
    done = [r for r in report.results if r["status"] == "done"]
    by_pid = {}
    for r in sorted(done, key=lambda r: r["started"]):
        by_pid.setdefault(r["pid"], []).append(r["seconds"])
    firsts = [s[0] for s in by_pid.values()]
    later = [x for s in by_pid.values() for x in s[1:]]
    return {"workers": workers, "points": len(done), "wall_s": report.seconds,
            "points_per_minute": 60 * len(done) / report.seconds,
            "median_point_s": statistics.median(r["seconds"] for r in done),
            "first_point_s_per_worker": firsts,
            "median_later_point_s": statistics.median(later) if later else None,
            "worker_processes": len(by_pid)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=16, help="points per timed scan")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--devices", nargs="+", default=["runtime", "cpp_standalone"])
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--cold-points", type=int, default=3, help="points of the fresh-cache scan (>= 2)")
    ap.add_argument("--no-cold", action="store_true", help="skip the fresh-Cython-cache measurement")
    ap.add_argument("--out", default=str(ROOT / "results" / "scan_throughput.json"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary stores")
    args = ap.parse_args(argv)

    from spikegate.backends.brian import quiet_brian
    from spikegate.scan import load_scan

    quiet_brian()
    tmp = Path(tempfile.mkdtemp(prefix="spikegate-scan-bench-"))
    result = {"benchmark": "scan_throughput", "model": "digits (gate lazy)", "n_train": args.n_train,
              "n_test": args.n_test, "epochs": args.epochs, "cpus": os.cpu_count(),
              "load_average_before": os.getloadavg(), "python": platform.python_version(), "runs": []}
    try:
        if not args.no_cold:
            cold_scan = load_scan(scan_dict(args, max(2, args.cold_points), first_seed=1001))
            saved = os.environ.get("CYTHON_CACHE_DIR")
            os.environ["CYTHON_CACHE_DIR"] = str(tmp / "fresh-cython-cache")  # inherited by the spawned worker
            try:
                print(f"cold: {len(cold_scan.points)} points, 1 worker, empty Cython cache (compiles) ...", flush=True)
                cold = timed_scan(cold_scan, tmp / "store-cold", 1)
            finally:
                if saved is None:
                    os.environ.pop("CYTHON_CACHE_DIR")
                else:
                    os.environ["CYTHON_CACHE_DIR"] = saved
            result["cold"] = {**cold, "first_point_s": cold["first_point_s_per_worker"][0],
                              "compile_and_setup_s": cold["first_point_s_per_worker"][0] - cold["median_later_point_s"]}
        for device in args.devices:
            print(f"warm-up ({device}): 1 point with the normal caches ...", flush=True)
            timed_scan(load_scan(scan_dict(args, 1, first_seed=2001, device=device)), tmp / f"store-warm-{device}", 1)
            scan = load_scan(scan_dict(args, args.points, device=device))
            for w in args.workers:
                print(f"{len(scan.points)} points, {w} worker(s), {device} ...", flush=True)
                result["runs"].append({"device": device, **timed_scan(scan, tmp / f"store-{device}-w{w}", w)})
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    result["speedups"] = {}
    for device in args.devices:
        runs = [r for r in result["runs"] if r["device"] == device]
        base = next((r for r in runs if r["workers"] == 1), None)
        top = max(runs, key=lambda r: r["workers"])
        if base is not None and top is not base:
            result["speedups"][f"{device}: {top['workers']} workers / 1"] = top["points_per_minute"] / base["points_per_minute"]
    for w in args.workers:
        rate = {r["device"]: r["points_per_minute"] for r in result["runs"] if r["workers"] == w}
        if "runtime" in rate and "cpp_standalone" in rate:
            result["speedups"][f"{w} worker(s): cpp_standalone / runtime"] = rate["cpp_standalone"] / rate["runtime"]
    result["load_average_after"] = os.getloadavg()

    print(f"\nscan throughput: digits, gate lazy, {args.n_train} train / {args.n_test} test images, "
          f"{args.epochs} epoch(s) per point; {os.cpu_count()} CPUs, load average before "
          f"{result['load_average_before'][0]:.2f}\n")
    head = f"{'engine':>14} {'workers':>7} {'points':>6} {'wall s':>8} {'points/min':>10} {'median pt s':>11} " \
           f"{'first pt s (per worker)':>24} {'later pt s':>10}"
    print(head + "\n" + "-" * len(head))
    for r in result["runs"]:
        later = "-" if r["median_later_point_s"] is None else f"{r['median_later_point_s']:.1f}"
        print(f"{r['device']:>14} {r['workers']:>7} {r['points']:>6} {r['wall_s']:>8.1f} {r['points_per_minute']:>10.2f} "
              f"{r['median_point_s']:>11.1f} {', '.join(f'{x:.1f}' for x in r['first_point_s_per_worker']):>24} "
              f"{later:>10}")
    for name, value in result["speedups"].items():
        print(f"speed-up {name}: {value:.2f}x")
    if "cold" in result:
        c = result["cold"]
        print(f"first point with an empty Cython cache: {c['first_point_s']:.1f} s vs "
              f"{c['median_later_point_s']:.1f} s for later points of the same worker "
              f"(compilation and set-up: {c['compile_and_setup_s']:.1f} s)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
