"""The run directory: what a training leaves behind, written atomically and read back in one place.

A run directory holds

* ``config.toml``: the resolved model (every default written out; it trains again as is);
* ``metrics.json``: the results (:func:`spikegate.training.train` lists the keys);
* ``weights.npz``: ``w0, w1, ...`` after training and ``w0_initial, ...`` before;
* ``ledger.npz``: the per-presentation :class:`~spikegate.ledger.EnergyLedger`.

:func:`write_run` writes them into a hidden temporary directory beside the target and
renames it into place at the very end (:func:`spikegate.files.atomic_path`), so an
interrupted run leaves nothing that looks complete. :func:`read_run` is the one reader:
training (``evaluate``), energy and scans read run directories through it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError
from .files import atomic_path, jsonable, read_toml
from .ledger import EnergyLedger

CONFIG, METRICS, WEIGHTS, LEDGER = "config.toml", "metrics.json", "weights.npz", "ledger.npz"
RUN_FILES = (CONFIG, METRICS, WEIGHTS, LEDGER)


@dataclass
class RunRecord:
    """The parts of a run directory that were read (the others are None)."""

    path: Path
    config: dict | None = None      # config.toml as a TOML document (resolve it for declarations)
    metrics: dict | None = None
    weights: dict | None = None     # name -> array
    ledger: EnergyLedger | None = None

    @property
    def name(self) -> str:
        return self.path.name or str(self.path)


def write_run(out, config_toml: str, metrics: dict, ledger: EnergyLedger, initial, final) -> Path:
    """Write all run files into a temporary sibling directory, then rename it to ``out``."""
    out = Path(out)
    with atomic_path(out, directory=True) as tmp:
        (tmp / CONFIG).write_text(config_toml)
        np.savez_compressed(tmp / WEIGHTS, **{f"w{k}": w for k, w in enumerate(final)},
                            **{f"w{k}_initial": w for k, w in enumerate(initial)})
        ledger.save(tmp / LEDGER)
        (tmp / METRICS).write_text(json.dumps(jsonable(metrics), indent=2) + "\n")
    return out


def missing_files(run_dir, parts=RUN_FILES) -> list[str]:
    """The files of ``parts`` that ``run_dir`` lacks (all of them if it is not a directory)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return list(parts)
    return [f for f in parts if not (run_dir / f).is_file()]


def read_run(run_dir, parts=RUN_FILES, purpose: str = "not a complete spikegate run") -> RunRecord:
    """Read ``parts`` (file names of :data:`RUN_FILES`) of a run directory.

    A missing directory or file, or an unreadable one, raises :class:`DataError` naming the
    directory and the file (``purpose`` says what the caller needed them for). When both
    the metrics and the ledger are read, their write counts must agree.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run directory {run_dir}: does not exist")
    missing = missing_files(run_dir, parts)
    if missing:
        raise DataError(f"run directory {run_dir}: missing {', '.join(missing)}; {purpose}")
    rec = RunRecord(run_dir)
    if CONFIG in parts:
        rec.config = read_toml(run_dir / CONFIG, "run file", error=DataError)
    if METRICS in parts:
        try:
            rec.metrics = json.loads((run_dir / METRICS).read_text())
            if not isinstance(rec.metrics, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            raise DataError(f"run directory {run_dir}: {METRICS} unreadable ({exc})") from None
    if WEIGHTS in parts:
        try:
            with np.load(run_dir / WEIGHTS, allow_pickle=False) as f:
                rec.weights = {k: f[k] for k in f.files}
        except Exception as exc:  # zip, npz key and value errors alike
            raise DataError(f"run directory {run_dir}: {WEIGHTS} unreadable ({type(exc).__name__}: {exc})") from None
    if LEDGER in parts:
        try:
            rec.ledger = EnergyLedger.load(run_dir / LEDGER)
        except Exception as exc:  # zip, npz key and value errors alike
            raise DataError(f"run directory {run_dir}: {LEDGER} unreadable ({type(exc).__name__}: {exc})") from None
    if rec.metrics is not None and rec.ledger is not None:
        recorded = rec.metrics.get("n_writes")
        if recorded is not None and recorded != rec.ledger.m0:
            raise DataError(f"run directory {run_dir}: {METRICS} n_writes = {recorded} but {LEDGER} holds "
                            f"{rec.ledger.m0} writes")
    return rec
