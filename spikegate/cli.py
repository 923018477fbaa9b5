"""Command line: ``spikegate train``, ``evaluate``, ``scan``, ``collect`` and ``energy``.

Every user error (bad config, bad data, missing files) is printed as one line
``spikegate: error: ...`` on stderr with exit code 2; an interrupted run exits with 130
and leaves no run directory.
"""
from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from .errors import SpikegateError
from .tables import text_table


def _quiet_brian():
    from brian2 import prefs, BrianLogger

    prefs.logging.file_log = False
    prefs.core.stop_on_keyboard_interrupt = False  # Ctrl+C interrupts at once: no half-finished run
    prefs.logging.delete_log_on_exit = True
    BrianLogger.log_level_warn()




def format_summary(metrics: dict) -> str:
    rows = [
        ("test accuracy", f"{metrics['test_accuracy']:.4f}"),
        ("train accuracy (last epoch, online)", f"{metrics['train_accuracy']:.4f}"),
        ("presentations", metrics["n_presentations"]),
        ("gated presentations", f"{metrics['n_gated_presentations']} "
                                f"({metrics['n_gated_presentations'] / max(metrics['n_presentations'], 1):.1%})"),
        ("synaptic writes M0", metrics["n_writes"]),
        ("sum |dw| M1", f"{metrics['sum_abs_dw']:.4g}"),
        (f"M_alpha (alpha={metrics['alpha']:g})", f"{metrics['m_alpha']:.4g}"),
        ("M_min = sum |w_end - w_start|", f"{metrics['m_min']:.4g}"),
        ("inefficiency M1/M_min", "n/a" if metrics["inefficiency"] is None else f"{metrics['inefficiency']:.3g}"),
        ("eligibility-trace updates", metrics["trace_updates"]),
        ("wall time", f"{metrics['wall_seconds']:.1f} s"),
        ("presentations/s", f"{metrics['presentations_per_second']:.1f}"),
    ]
    head = f"{metrics['model']} | gate {metrics['gate']} | {metrics['data']} " \
           f"({metrics['n_train']} train, {metrics['n_test']} test) | {metrics['epochs']} epoch(s)"
    epochs = text_table([[c["epoch"], f"{c['train_accuracy']:.4f}",
                      f"{c['test_accuracy']:.4f}" if "test_accuracy" in c else "-",
                      c["gated_presentations"], c["n_writes"], f"{c['sum_abs_dw']:.4g}"] for c in metrics["curves"]],
                    ["epoch", "train acc", "test acc", "gated", "writes", "sum|dw|"])
    return head + "\n\n" + text_table(rows, ["measure", "value"]) + "\n\n" + epochs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="spikegate", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="train a model specification (TOML)")
    p_train.add_argument("model", help="model file, e.g. models/digits.toml")
    p_train.add_argument("--gate", help="gate: always, lazy, memorized, trace, margin")
    p_train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                         help="override a dotted config key, e.g. data.n_train=1000 (repeatable)")
    p_train.add_argument("--out", help="run directory to create (default runs/<model>-<gate>-<time>)")
    p_train.add_argument("--data-dir", help="directory with the MNIST IDX files")
    p_train.add_argument("--no-progress", action="store_true", help="no progress bar")
    p_eval = sub.add_parser("evaluate", help="re-measure the test accuracy of a run directory")
    p_eval.add_argument("run_dir")
    p_eval.add_argument("--data-dir", help="directory with the MNIST IDX files")
    p_eval.add_argument("--no-progress", action="store_true")
    p_scan = sub.add_parser("scan", help="run a parameter scan (TOML) into a resumable store")
    p_scan.add_argument("scan_file", help="scan file, e.g. experiments/scan_digits_gates.toml")
    p_scan.add_argument("--store", required=True, help="store directory (rerun to resume)")
    p_scan.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    where = p_scan.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="run the points on this Dask scheduler")
    where.add_argument("--dask-local", type=int, metavar="N", help="run the points on a local Dask cluster of N workers")
    p_scan.add_argument("--no-progress", action="store_true", help="one line per point instead of a progress bar")
    p_coll = sub.add_parser("collect", help="gather a scan store into a CSV (and plots)")
    p_coll.add_argument("store")
    p_coll.add_argument("-o", "--output", help="CSV file (default STORE/results.csv)")
    p_coll.add_argument("--plot", nargs=2, action="append", default=[], metavar=("X", "Y"),
                        help="plot Y (mean +/- s.e.m. over seeds) against X, one line per --hue (repeatable)")
    p_coll.add_argument("--hue", default="gate.name", help="one line per value of this column (default gate.name)")
    p_coll.add_argument("--heatmap", nargs=3, action="append", default=[], metavar=("X", "Y", "Z"),
                        help="heatmap of the mean of Z over X and Y (repeatable)")
    p_energy = sub.add_parser("energy", help="price a run's synaptic writes in joules: hardware beside biology")
    p_energy.add_argument("run_dir", nargs="?", help="run directory (reads metrics.json and ledger.npz)")
    p_energy.add_argument("--compare", nargs="+", metavar="RUN_DIR", help="put several runs side by side")
    p_energy.add_argument("--bits", default="32", help="bits per stored weight (default 32, float32)")
    p_energy.add_argument("--catalogue", help="TOML file of technologies merged over the default catalogue")
    p_energy.add_argument("--technology", nargs="+", action="extend", metavar="NAME",
                          help="technologies to report (default: all; with --compare: SRAM-32KB DRAM Loihi "
                               "long-term-memory)")
    p_energy.add_argument("--synapses-per-bit", default="1",
                          help="biology: synapses changed per stored bit of long-term memory (default 1)")
    p_energy.add_argument("--out", help="output directory (default: the run directory; with --compare: .)")
    args = parser.parse_args(argv)
    try:
        _quiet_brian()
        if args.command == "train":
            from .config import resolve
            from .training import train

            out = args.out
            if out is None:
                cfg = resolve(args.model, args.overrides, args.gate)
                stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
                out = Path("runs") / f"{cfg.name}-{cfg.gate.name.split('(')[0]}-{stamp}"
            result = train(args.model, gate=args.gate, overrides=args.overrides, out=out,
                           data_dir=args.data_dir, progress=not args.no_progress)
            print(format_summary(result.metrics))
            print(f"\nrun directory: {result.run_dir}")
        elif args.command == "evaluate":
            from .training import evaluate

            res = evaluate(args.run_dir, data_dir=args.data_dir, progress=not args.no_progress)
            rec = res["recorded_test_accuracy"]
            print(f"{res['model']} | gate {res['gate']}: test accuracy {res['test_accuracy']:.4f} "
                  f"on {res['n_test']} images (recorded at training: {rec:.4f}"
                  + ("; spike trains are resampled, so small differences are expected)"
                     if res.get("backend", "spiking") == "spiking" else ")"))
        elif args.command == "scan":
            from .scan import main_scan

            return main_scan(args)
        elif args.command == "collect":
            from .scan import main_collect

            return main_collect(args)
        elif args.command == "energy":
            from .energy import run_command

            run_command(args)
    except SpikegateError as exc:
        print(f"spikegate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spikegate: interrupted; no run directory was written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
