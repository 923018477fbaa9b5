"""Command line: ``spikegate train``, ``evaluate``, ``scan``, ``collect`` and ``energy``.

Every handler turns the parsed arguments into typed calls of the library. Every user
error (bad config, bad data, missing files) is printed as one line ``spikegate: error: ...``
on stderr with exit code 2; an interrupted run exits with 130 and leaves no run directory.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import re
import secrets
import sys
from pathlib import Path

from .errors import ConfigError, DataError, EnergyError, ParameterError, SpikegateError
from .tables import text_table


def format_summary(metrics: dict) -> str:
    rows = [
        ("test accuracy (ties are errors)", f"{metrics['test_accuracy']:.4f}"),
        ("test accuracy, ties broken at random", f"{metrics['test_accuracy_random_ties']:.4f}"),
        ("test ties", f"{metrics['test_ties']} ({metrics['test_tie_fraction']:.1%})"),
        ("train accuracy (last epoch, online)", f"{metrics['train_accuracy']:.4f}"),
        ("presentations", metrics["n_presentations"]),
        ("gated presentations", f"{metrics['n_gated_presentations']} "
                                f"({metrics['n_gated_presentations'] / max(metrics['n_presentations'], 1):.1%})"),
        ("synaptic writes M0", metrics["n_writes"]),
        ("bits flipped", metrics["bits_flipped"] if metrics.get("synapse_bits") else "not measured (float synapses)"),
        ("sum |dw| M1", f"{metrics['sum_abs_dw']:.4g}"),
        (f"M_alpha (alpha={metrics['alpha']:g})", f"{metrics['m_alpha']:.4g}"),
        ("M_min = sum |w_end - w_start|", f"{metrics['m_min']:.4g}"),
        ("inefficiency M1/M_min", "n/a" if metrics["inefficiency"] is None else f"{metrics['inefficiency']:.3g}"),
        ("eligibility-trace updates", metrics["trace_updates"]),
        ("wall time", f"{metrics['wall_seconds']:.1f} s"),
        ("training time (compiling aside)", f"{metrics['train_seconds']:.1f} s"),
        ("compile time", f"{metrics.get('compile_seconds', 0.0):.1f} s"),
        ("presentations/s", f"{metrics['presentations_per_second']:.1f}"),
    ]
    head = f"{metrics['model']} | gate {metrics['gate']} | {metrics['data']} " \
           f"({metrics['n_train']} train, {metrics['n_test']} test) | {metrics['epochs']} epoch(s)"
    epochs = text_table([[c["epoch"], f"{c['train_accuracy']:.4f}",
                          f"{c['test_accuracy']:.4f}" if "test_accuracy" in c else "-",
                          c["gated_presentations"], c["n_writes"], f"{c['sum_abs_dw']:.4g}"] for c in metrics["curves"]],
                        ["epoch", "train acc", "test acc", "gated", "writes", "sum|dw|"])
    return head + "\n\n" + text_table(rows, ["measure", "value"]) + "\n\n" + epochs


def default_run_name(model: str, gate: str) -> str:
    """``<model>-<gate>-<time>-<random>``, one path component: runs started in the same second
    (a shell loop over seeds) get distinct directories, and a model name such as
    ``../x`` or ``/abs`` cannot place a run outside ``runs/``."""
    def safe(s):
        return re.sub(r"[^A-Za-z0-9_.+-]+", "_", str(s)).strip("._") or "run"

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{safe(model)}-{safe(gate)}-{stamp}-{secrets.token_hex(3)}"


# --------------------------------------------------------------------------- handlers
def cmd_train(args) -> int:
    from .config import resolve
    from .training import train

    out = args.out
    if args.device:
        args.overrides = list(args.overrides) + [f"train.device={args.device}"]
    if out is None:
        cfg = resolve(args.model, args.overrides, args.gate)
        out = Path("runs") / default_run_name(cfg.name, cfg.gate.name.split("(")[0])
    result = train(args.model, gate=args.gate, overrides=args.overrides, out=out, data_dir=args.data_dir,
                   progress=not args.no_progress, init_from=args.init_from)
    print(format_summary(result.metrics))
    print(f"\nrun directory: {result.run_dir}")
    return 0


def cmd_evaluate(args) -> int:
    from .training import evaluate

    res = evaluate(args.run_dir, data_dir=args.data_dir, progress=not args.no_progress)
    rec = res["recorded_test_accuracy"]
    print(f"{res['model']} | gate {res['gate']}: test accuracy {res['test_accuracy']:.4f} "
          f"on {res['n_test']} images (recorded at training: {rec:.4f}"
          + ("; spike trains are resampled, so small differences are expected)"
             if res.get("backend", "spiking") == "spiking" else ")"))
    return 0


def cmd_scan(args) -> int:
    """``spikegate scan``: 0 when every point is finished, 1 when some failed, 130 on Ctrl+C."""
    from .scan import Store, load_scan, run_scan

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: must be >= 1")
    if args.dask_local is not None and args.dask_local < 1:
        raise ConfigError(f"--dask-local {args.dask_local}: must be >= 1")
    if args.max_attempts < 1:
        raise ConfigError(f"--max-attempts {args.max_attempts}: must be >= 1")
    # data sets may live only on the cluster: check them here unless a remote scheduler runs the points
    scan = load_scan(args.scan_file, check_data=not args.scheduler)
    store = Path(args.store)
    if store.exists() and not store.is_dir():
        raise ConfigError(f"--store {store}: exists and is not a directory")
    print(f"scan {scan.name}: {len(scan.points)} points ({' x '.join(scan.keys) or 'no swept keys'}) "
          f"-> {store}", file=sys.stderr, flush=True)
    try:
        report = run_scan(scan, store, workers=args.workers, scheduler=args.scheduler, dask_local=args.dask_local,
                          progress=not args.no_progress, max_attempts=args.max_attempts)
    except KeyboardInterrupt:
        print(f"spikegate: interrupted; finished points are kept in {store}; rerun to resume", file=sys.stderr)
        return 130
    ran, skipped = report.count("done"), report.count("skipped")
    print(f"scan {scan.name}: {len(scan.points)} points: {report.n_already + skipped} already finished, "
          f"{ran} trained, {len(report.failures)} failed ({report.seconds:.0f} s); store {store}")
    for p, msg in report.failures:
        print(f"failed: {p.hash} {p.label()}: {msg} (see {Store(store).error_path(p.hash)})", file=sys.stderr)
    return 1 if report.failures else 0


def cmd_collect(args) -> int:
    """``spikegate collect``: write the CSV and the requested plots."""
    from .files import write_csv
    from .scan import Store, aggregate, collect, plot_axis, plot_heatmap

    store = Store(args.store)
    rows, columns = collect(store, on_skip=lambda h, reason: print(
        f"spikegate: warning: point {h} left out: {store.run_dir(h)}: {reason}", file=sys.stderr))
    out = Path(args.output) if args.output else store.root / "results.csv"
    for x, y in args.plot:            # every requested figure is checked before anything is written
        if rows:
            aggregate(rows, x, y, args.hue if rows and args.hue in rows[0] else None)
    for x, y, z in args.heatmap:
        if rows:
            aggregate(rows, x, z, hue=y)
    write_csv(out, rows, columns)
    m = store.manifest()
    errors = store.errors()
    n_listed = len(m.get("points", []))
    print(f"{len(rows)} finished points ({n_listed} listed in scan.json, {len(errors)} failed) -> {out}")
    for x, y in args.plot:
        if not rows:
            raise DataError("no finished points to plot")
        path = out.with_name(f"{out.stem}_{_slug(y)}_vs_{_slug(x)}.png")
        plot_axis(rows, x, y, hue=args.hue, out=path)
        print(f"plot: {path}")
    for x, y, z in args.heatmap:
        if not rows:
            raise DataError("no finished points to plot")
        path = out.with_name(f"{out.stem}_{_slug(z)}_{_slug(x)}_{_slug(y)}.png")
        plot_heatmap(rows, x, y, z, out=path)
        print(f"heatmap: {path}")
    return 0


def cmd_frontier(args) -> int:
    """``spikegate frontier``: the cost to first reach each validation accuracy, per gate, and the verdict."""
    from .scan import frontier as fr

    if args.bootstrap < 100:
        raise ConfigError(f"--bootstrap {args.bootstrap}: must be >= 100 resamples")
    if args.cost not in fr.COSTS + ("auto",):
        raise ConfigError(f"--cost {args.cost!r}: unknown; allowed: auto, {', '.join(fr.COSTS)}")
    targets = None
    if args.targets is not None:
        targets = sorted({_fraction("--targets", t) for t in args.targets})
    lines = fr.curves_of(args.store)
    if args.cost == "auto":   # bits flipped where synapses store codes, else writes
        flipped = any(p["bits_flipped"] for by_seed in lines.values() for c in by_seed.values() for p in c)
        args.cost = "bits_flipped" if flipped else "writes"
    records = fr.frontier(lines, targets or fr.default_targets(lines), args.bootstrap, args.seed)
    verdict = fr.verdict(lines, records, args.cost, args.bootstrap, args.seed)
    print(fr.format_frontier(records, args.cost, verdict))
    out = Path(args.out) if args.out else Path(args.store) / "frontier"
    for path in fr.write_frontier(records, verdict, fr.plot_frontier(records, args.cost), out):
        print(f"wrote {path}")
    return 0


def _fraction(where: str, text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise ConfigError(f"{where} {text!r}: expected accuracies in (0, 1], e.g. 0.85") from None
    if not 0 < x <= 1:
        raise ConfigError(f"{where} {text!r}: expected accuracies in (0, 1], e.g. 0.85")
    return x


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-")


def cmd_energy(args) -> int:
    """``spikegate energy``: a run's summary (``--full``: its tables before it) or ``--compare``'s
    runs by gate and seed; the files written are the same either way."""
    from . import energy
    from .units import check_number

    bits = None if args.bits is None else energy.check_bits(args.bits, "--bits")
    spb = float(check_number("--synapses-per-bit", args.synapses_per_bit, minimum=0, strict_min=True))
    per_write = energy.check_abs_dw_per_write(args.abs_dw_per_write)
    bases = energy.check_bases(args.basis)
    target = None if args.target_accuracy is None else float(
        check_number("--target-accuracy", args.target_accuracy, minimum=0, maximum=1))
    cat = energy.load_catalogue(args.catalogue)
    energy.load_events(args.catalogue, cat)
    energy.select(cat, args.technology)  # unknown names fail before any run is read
    if args.compare and args.run_dir:
        raise EnergyError("give either one RUN_DIR or --compare DIR1 DIR2 ..., not both")
    if args.full and args.compare:
        raise EnergyError("--full: only with one RUN_DIR; --compare prints all of its tables already "
                          "(allowed: spikegate energy RUN_DIR --full)")
    try:
        energy.biology_reference(cat, energy.bits_per_synapse(), spb)
    except ParameterError as exc:
        raise EnergyError(exc.restated("--synapses-per-bit")) from None
    out_dir = Path(args.out) if args.out else (Path.cwd() if args.compare else Path(args.run_dir or "."))
    names = (["energy_compare.csv", "energy_to_target.csv", "energy_compare.png", "energy_compare.svg"] if args.compare
             else ["energy.csv", "energy_writes.csv", "energy.png", "energy.svg"])
    existing = [out_dir / n for n in names if (out_dir / n).exists()]
    stem = "energy_compare" if args.compare else "energy"
    if existing and not args.force:
        raise EnergyError(f"{existing[0]}: exists; pass --force to replace the {stem} outputs, "
                          f"or --out DIR to write them elsewhere")
    if args.compare:
        tech = args.technology[0] if args.technology else "SRAM-32KB"
        records = energy.compare(args.compare, bits, cat, args.technology, synapses_per_bit=spb)
        curves = energy.bill_curves(args.compare, bits, args.catalogue, tech, per_write, spb)
        target, targets = energy.energy_to_target(curves, target)
        paths = energy.write_compare(records, curves, targets, out_dir)
        print(energy.format_compare(records))
        print(f"\nenergy to reach test accuracy {target:.4f} on {energy.select(cat, [tech])[0].name} "
              f"(learning = writes; total = learning + computing):")
        print(text_table([[t["label"], "no" if not t["reached"] else f"{t['presentations']:,}",
                           "-" if not t["reached"] else f"{t['learning_j']:.3g}",
                           "-" if not t["reached"] else f"{t['total_j']:.3g}"] for t in targets],
                         ["run", "presentations", "learning J", "total J"]))
    else:
        if not args.run_dir:
            raise EnergyError("give a run directory (spikegate energy RUN_DIR) or --compare DIR1 DIR2 ...")
        records = energy.report(args.run_dir, bits, cat, args.technology, synapses_per_bit=spb)
        rows = energy.bill(args.run_dir, bits, args.catalogue, args.technology, bases, per_write, spb)
        text = energy.summary(args.run_dir, rows, bits, args.technology, spb, given="--bits")
        paths = energy.write_bill(rows, out_dir) + energy.write_report(records, out_dir)
        if args.full:
            print(energy.format_report(records) + "\n\nthe whole bill: learning beside computing\n\n"
                  + energy.format_bill(rows) + "\n\nsummary\n")
        print(text)
    print("\n" + energy.format_written(paths, "" if args.full or args.compare else
                                       "--full prints the tables of every technology and basis"))
    return 0


# --------------------------------------------------------------------------- the parser
def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spikegate", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for add in (_train_parser, _evaluate_parser, _scan_parser, _collect_parser, _frontier_parser, _energy_parser):
        add(sub)
    return ap


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model specification (TOML)")
    p.set_defaults(handler=cmd_train)
    p.add_argument("model", help="model file, e.g. models/digits.toml")
    p.add_argument("--gate", help="gate: always, lazy, memorized, trace, margin, ern, random")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a dotted config key, e.g. data.n_train=1000 (repeatable)")
    p.add_argument("--out", help="run directory to create (default runs/<model>-<gate>-<time>)")
    p.add_argument("--data-dir", help="directory with the MNIST IDX files")
    p.add_argument("--device", choices=("runtime", "cpp_standalone"),
                   help="spiking: Brian2's runtime or the compiled engine (sets train.device)")
    p.add_argument("--init-from", metavar="RUN_DIR",
                   help="continue a run: its checkpoint.npz brings weights, mistake memory, epoch order and (runtime "
                        "engine) the network's state and random stream; train.epochs more epochs follow")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="re-measure the test accuracy of a run directory")
    p.set_defaults(handler=cmd_evaluate)
    p.add_argument("run_dir")
    p.add_argument("--data-dir", help="directory with the MNIST IDX files")
    p.add_argument("--no-progress", action="store_true")


def _scan_parser(sub) -> None:
    p = sub.add_parser("scan", help="run a parameter scan (TOML) into a resumable store")
    p.set_defaults(handler=cmd_scan)
    p.add_argument("scan_file", help="scan file, e.g. experiments/scan_digits_gates.toml")
    p.add_argument("--store", required=True, help="store directory (rerun to resume)")
    p.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    p.add_argument("--max-attempts", type=int, default=3, metavar="N",
                   help="local workers: a point whose worker dies under it (CPU/memory limit, crash) is "
                        "retried in a fresh worker, then failed after N attempts (default 3)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="run the points on this Dask scheduler")
    where.add_argument("--dask-local", type=int, metavar="N", help="run the points on a local Dask cluster of N workers")
    p.add_argument("--no-progress", action="store_true", help="one line per point instead of a progress bar")


def _collect_parser(sub) -> None:
    p = sub.add_parser("collect", help="gather a scan store into a CSV (and plots)")
    p.set_defaults(handler=cmd_collect)
    p.add_argument("store")
    p.add_argument("-o", "--output", help="CSV file (default STORE/results.csv)")
    p.add_argument("--plot", nargs=2, action="append", default=[], metavar=("X", "Y"),
                   help="plot Y (mean +/- s.e.m. over seeds) against X, one line per --hue (repeatable)")
    p.add_argument("--hue", default="gate.name", help="one line per value of this column (default gate.name)")
    p.add_argument("--heatmap", nargs=3, action="append", default=[], metavar=("X", "Y", "Z"),
                   help="heatmap of the mean of Z over X and Y (repeatable)")


def _frontier_parser(sub) -> None:
    p = sub.add_parser("frontier", help="cost to first reach each validation accuracy, per gate, over a scan store")
    p.set_defaults(handler=cmd_frontier)
    p.add_argument("store", help="a scan store whose points trained with data.n_validation")
    p.add_argument("--cost", default="auto", help="the cost of the verdict and the figure: bits_flipped, writes, "
                                                   "sum_abs_dw, learning_j, total_j, presentations (default auto: "
                                                   "bits_flipped if synapses store codes, else writes)")
    p.add_argument("--targets", nargs="+", help="validation accuracies (default: 0.01 steps over the curves' range)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (default 0: reproducible intervals)")
    p.add_argument("--out", help="folder for frontier.csv, .json, .png, .svg (default STORE/frontier)")


def _energy_parser(sub) -> None:
    p = sub.add_parser("energy", help="the energy bill of a run: learning (writes) beside computing (spikes, "
                                      "synaptic events, MACs), hardware beside biology")
    p.set_defaults(handler=cmd_energy)
    p.add_argument("run_dir", nargs="?", help="run directory (reads metrics.json and ledger.npz)")
    p.add_argument("--compare", nargs="+", metavar="RUN_DIR", help="put several runs side by side")
    p.add_argument("--bits", help="bits per stored weight, for writes, weight reads and the NeuroBench footprint "
                                  "(default: the run's synapse format, synapse.bits; 32, float32, for float synapses)")
    p.add_argument("--catalogue", help="TOML file of technologies merged over the default catalogue")
    p.add_argument("--technology", nargs="+", action="extend", metavar="NAME",
                   help="technologies to report (default: all in the files and --full, SRAM-32KB DRAM Loihi "
                        "long-term-memory in the summary and with --compare)")
    p.add_argument("--synapses-per-bit", default="1",
                   help="biology: synapses changed per stored bit of long-term memory (default 1)")
    p.add_argument("--basis", nargs="+", action="extend", metavar="BASIS",
                   help="bases of the bill (default: all): write abs_dw transient_write maintenance spike "
                        "synaptic_event mac memory_access")
    p.add_argument("--abs-dw-per-write", default="1",
                   help="abs_dw basis: the |dw| that costs one write (default 1, one unit of weight)")
    p.add_argument("--target-accuracy", help="with --compare: energy to reach this test accuracy "
                                             "(default: the lowest best accuracy of the runs)")
    p.add_argument("--out", help="output directory (default: the run directory; with --compare: .)")
    p.add_argument("--force", action="store_true", help="replace energy outputs that exist already")
    p.add_argument("--full", action="store_true", help="one RUN_DIR: print the full tables (the writes per technology, "
                                                       "the bill per technology and basis) before the summary")


def _check_arguments(argv) -> None:
    """Every argument must be text in the locale: a path with undecodable bytes would fail
    later, half-way, wherever it is printed or opened."""
    import os

    encoding = sys.getfilesystemencoding()
    for arg in argv:
        try:
            os.fsencode(arg).decode(encoding)
            arg.encode(encoding)
        except UnicodeError:
            from .startup import printable_argument

            raise ConfigError(f"argument '{printable_argument(arg)}' is not valid {encoding} text in this locale; "
                              "rename the file, or run in a locale that can spell it") from None


def _one_line_deprecations() -> None:
    """A renamed key in a model file or ``--set`` is said in one line on stderr."""
    import warnings

    from .config import SpikegateDeprecationWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, SpikegateDeprecationWarning):
            print(f"spikegate: deprecated: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def _closed_output() -> int:
    """stdout was closed under us (``spikegate ... | head``): one line, no traceback at exit."""
    import os

    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # Python's final flush then writes nowhere
    with contextlib.suppress(OSError):
        print("spikegate: output closed (broken pipe); stopped", file=sys.stderr)
    return 141


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    for stream in (sys.stdout, sys.stderr):   # a model name or path that the terminal cannot show
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    try:
        _check_arguments(argv)
    except SpikegateError as exc:
        print(f"spikegate: error: {exc}", file=sys.stderr)
        return 2
    args = parser().parse_args(argv)
    try:
        from .backends.brian import quiet_brian

        quiet_brian()
        _one_line_deprecations()
        code = args.handler(args)
        sys.stdout.flush()
        return code
    except SpikegateError as exc:
        print(f"spikegate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spikegate: interrupted; no run directory was written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _closed_output()


if __name__ == "__main__":
    sys.exit(main())
