"""What every experiment script shares: arguments, data, summaries beside the claim, figures.

Each experiment writes ``results/<name>/summary.json`` (atomically) and ``figure.png``/``.svg``,
and prints the paper's claim beside the measurement. ``--quick`` runs a seconds-long
variant on the embedded digits (used by the test suite); without it the full MNIST setup.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from spikegate import data as data_mod
from spikegate.errors import SpikegateError
from spikegate.files import atomic_path, write_json

ROOT = Path(__file__).resolve().parents[1]

SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"


def parser(doc: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc)
    ap.add_argument("--quick", action="store_true", help="seconds-long variant on the embedded digits")
    ap.add_argument("--data-dir", help="MNIST directory (default: ../shared/data/mnist or the user cache)")
    ap.add_argument("--results", default=str(ROOT / "results"), help="results root (default results/)")
    ap.add_argument("--seed", type=int, default=1)
    return ap


def add_protocol_arguments(ap, quick_help: str = "a seconds-long variant on digits (for the tests)") -> None:
    """The arguments every scan-based protocol takes: overrides, data, workers, results, --quick."""
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--data-dir", help="MNIST directory (sets data.dir)")
    ap.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    ap.add_argument("--results", default=str(ROOT / "results"), help="results root (default results/)")
    ap.add_argument("--quick", action="store_true", help=quick_help)


def dataset(args, n_train=None, n_test=None) -> data_mod.Dataset:
    """Digits for ``--quick``, MNIST otherwise (first ``n_train``/``n_test`` samples)."""
    if args.quick:
        ds = data_mod.load_digits()
    else:
        d = args.data_dir or (SHARED_MNIST if SHARED_MNIST.exists() else None)
        ds = data_mod.load_mnist(d)
    return ds.subset(n_train and min(n_train, len(ds.x_train)), n_test and min(n_test, len(ds.x_test)))


def rate_model(args, layers, gate="always", **sections) -> dict:
    """A rate-backend model dict: the reference setup of van Rossum & Pache (2024) plus changes."""
    model = {"name": "experiment", "seed": args.seed, "backend": "rate", "data": {"source": "npz"},
             "network": {"layers": list(layers)},
             "rate": {"hidden": "leaky_relu", "slope": 0.1, "output": "linear_mse", "eta": 0.01, "sigma": 0.03,
                      "mean_subtract": True},
             "gate": {"name": gate}, "train": {"epochs": 5}}
    for section, values in sections.items():
        model.setdefault(section, {}).update(values)
    return model


def write_summary(args, name: str, summary: dict) -> Path:
    """``results/<name>[-quick]/summary.json``, written atomically; returns the folder."""
    out = Path(args.results) / (name + ("-quick" if args.quick else ""))
    summary = {"experiment": name, "quick": bool(args.quick), "seed": args.seed,
               "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]), **summary}
    write_json(out / "summary.json", summary)
    return out


def protocol_overrides(args, quick: dict) -> dict:
    """A protocol's shared settings from its arguments: the ``--set`` overrides, ``--data-dir`` as
    ``data.dir``, and with ``--quick`` the sizes ``quick``."""
    from spikegate.config import parse_override

    fixed = dict(parse_override(o) for o in args.overrides)
    if args.data_dir:
        fixed["data.dir"] = str(Path(args.data_dir).resolve())
    if args.quick:
        fixed.update(quick)
    return fixed


def spiking_protocol_config(args, fixed: dict, protocol: str):
    """The resolved config of a scan-based protocol on a spiking model, with distinct ``--seeds``."""
    from spikegate.config import resolve
    from spikegate.errors import ConfigError

    cfg = resolve(args.model, list(fixed.items()))
    if cfg.backend.name != "spiking":
        raise ConfigError(f"{args.model}: the {protocol} protocol is for spiking models (backend = "
                          f"{cfg.backend.name!r})")
    if len(set(args.seeds)) != len(args.seeds):
        raise ConfigError(f"--seeds {args.seeds}: a seed is listed twice")
    return cfg


def finish_figure(fig, axes, title: str):
    """Light grids on ``axes`` and the figure's title; returns ``fig``."""
    for a in axes:
        a.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return fig


def save_figure(fig, folder: Path, stem: str = "figure") -> None:
    for ext in ("png", "svg"):
        with atomic_path(Path(folder) / f"{stem}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=120, bbox_inches="tight")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def claim_line(paper: str, claim: str, measured: str, agrees: bool | None) -> str:
    verdict = {True: "AGREES", False: "DISAGREES", None: "n/a"}[agrees]
    return f"claim ({paper}): {claim}\nmeasured: {measured}\nverdict: {verdict}"


def table(rows: list[dict], columns: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return "-" if v is None else str(v)
    cells = [columns] + [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_main(main):
    """Run an experiment's ``main`` with spikegate's one-line errors and exit codes."""
    t0 = time.perf_counter()
    try:
        main()
    except SpikegateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted; the summary of this experiment was not written", file=sys.stderr)
        sys.exit(130)
    print(f"wall time {time.perf_counter() - t0:.1f} s")


def accuracy(clf, ds: data_mod.Dataset, classes=None) -> float:
    """Test accuracy of a rate classifier, optionally on the test samples of some classes only."""
    keep = np.ones(len(ds.y_test), bool) if classes is None else np.isin(ds.y_test, classes)
    rows = len(ds.x_train) + np.flatnonzero(keep)
    return float(np.mean(np.argmax(clf.outputs(rows), axis=1) == ds.y_test[keep]))


def run_protocol(scan, folder: Path, workers=None) -> list[dict]:
    """Run (or resume) a protocol's scan in ``folder/store`` and return its collected rows."""
    from spikegate.errors import ConfigError
    from spikegate.scan import collect, run_scan

    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers}: must be >= 1")
    report = run_scan(scan, folder / "store", workers=workers, progress=False,
                      log=lambda line: print(line, flush=True))
    if report.failures:
        raise ConfigError(f"{len(report.failures)} point(s) failed; see {folder / 'store' / 'points'}/*.error.json")
    return collect(folder / "store")[0]
