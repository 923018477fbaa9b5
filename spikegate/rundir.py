"""The run directory: what a training leaves behind, written atomically and read back in one place.

A run directory holds

* ``config.toml``: the resolved model (every default written out; it trains again as is);
* ``metrics.json``: the results (:func:`spikegate.training.train` lists the keys);
* ``weights.npz``: ``w0, w1, ...`` after training and ``w0_initial, ...`` before;
* ``ledger.npz``: the per-presentation :class:`~spikegate.ledger.EnergyLedger`;
* ``checkpoint.npz``: where the training can go on from (``spikegate train --init-from``).

:func:`write_run` writes them into a hidden temporary directory beside the target and
renames it into place at the very end (:func:`spikegate.files.atomic_path`), so an
interrupted run leaves nothing that looks complete. :func:`read_run` is the one reader:
training (``evaluate``), energy and scans read run directories through it.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError
from .files import atomic_path, csv_text, jsonable, read_toml
from .ledger import EnergyLedger

CONFIG, METRICS, WEIGHTS, LEDGER = "config.toml", "metrics.json", "weights.npz", "ledger.npz"
#: The validation curve of a run with a validation split (also under ``validation`` in metrics.json).
VALIDATION = "validation.csv"
VALIDATION_FIELDS = ("epoch", "presentations", "validation_accuracy", "writes", "bits_flipped", "sum_abs_dw",
                     "learning_j", "total_j", "technology")
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


def write_run(out, config_toml: str, metrics: dict, ledger: EnergyLedger, initial, final, checkpoint=None) -> Path:
    """Write all run files (and ``checkpoint.npz``, :mod:`spikegate.checkpoint`) into a temporary sibling
    directory, then rename it to ``out``."""
    out = Path(out)
    with atomic_path(out, directory=True) as tmp:
        (tmp / CONFIG).write_text(config_toml)
        if checkpoint is not None:
            from .checkpoint import CHECKPOINT, write_training

            write_training(tmp / CHECKPOINT, checkpoint)
        np.savez_compressed(tmp / WEIGHTS, **{f"w{k}": w for k, w in enumerate(final)},
                            **{f"w{k}_initial": w for k, w in enumerate(initial)})
        ledger.save(tmp / LEDGER)
        (tmp / METRICS).write_text(json.dumps(jsonable(metrics), indent=2) + "\n")
        if metrics.get("validation"):
            (tmp / VALIDATION).write_text(csv_text(metrics["validation"], VALIDATION_FIELDS))
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
        rec.metrics = read_metrics(run_dir / METRICS, f"run directory {run_dir}: {METRICS}")
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
        n = rec.ledger.n_presentations
        seen = [c["samples_seen"] for c in rec.metrics.get("curves") or [] if c.get("samples_seen") is not None]
        if (rec.metrics.get("n_presentations") not in (None, n)) or any(s > n for s in seen):
            raise DataError(f"run directory {run_dir}: {METRICS} counts more presentations than the {n} of {LEDGER}")
    return rec


#: Largest ``metrics.json`` read (a run's is kilobytes, its learning curves included).
MAX_METRICS_BYTES = 16 * 2 ** 20
#: Nesting of JSON containers in ``metrics.json`` (spikegate writes 4 levels).
MAX_METRICS_DEPTH = 16
_FRACTION, _COUNT, _AMOUNT, _TEXT = "a fraction in [0, 1]", "an integer >= 0", "a finite number >= 0", "a string"
#: The metrics that spikegate's readers use, and what each must be (null is allowed).
METRIC_TYPES = {
    **dict.fromkeys(("test_accuracy", "train_accuracy", "test_accuracy_random_ties", "test_tie_fraction",
                     "best_validation_accuracy"), _FRACTION),
    **dict.fromkeys(("n_writes", "n_presentations", "n_gated_presentations", "trace_updates", "epochs", "n_train",
                     "n_test", "test_ties", "m0_min", "bits_flipped", "synapse_bits", "n_validation",
                     "best_validation_presentations"), _COUNT),
    **dict.fromkeys(("sum_abs_dw", "m_alpha", "m_min", "inefficiency", "wall_seconds", "train_seconds",
                     "compile_seconds", "alpha"), _AMOUNT),
    **dict.fromkeys(("model", "gate", "backend", "data"), _TEXT),
}
CURVE_TYPES = {"epoch": _COUNT, "samples_seen": _COUNT, "test_accuracy": _FRACTION, "train_accuracy": _FRACTION,
               "n_writes": _COUNT, "gated_presentations": _COUNT, "sum_abs_dw": _AMOUNT, "bits_flipped": _COUNT,
               "cumulative_bits_flipped": _COUNT, "learning_scale": _AMOUNT}

#: A point of the validation curve: every field required (the frontier reads them all).
VALIDATION_TYPES = {"epoch": _COUNT, "presentations": _COUNT, "validation_accuracy": _FRACTION, "writes": _COUNT,
                    "bits_flipped": _COUNT, "sum_abs_dw": _AMOUNT, "learning_j": _AMOUNT, "total_j": _AMOUNT,
                    "technology": _TEXT}



def _refuse_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def read_metrics(path: Path, where: str) -> dict:
    """``metrics.json`` read and checked: size, nesting, no NaN or infinity, and the type and
    range of every metric that spikegate reads (:data:`METRIC_TYPES`, :data:`CURVE_TYPES`)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_METRICS_BYTES + 1)
        if len(raw) > MAX_METRICS_BYTES:
            raise ValueError(f"larger than {MAX_METRICS_BYTES // 2 ** 20} MiB")
        metrics = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise DataError(f"{where} unreadable (nested too deeply)") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{where} unreadable ({exc})") from None
    if not isinstance(metrics, dict):
        raise DataError(f"{where} unreadable (not a JSON object)")
    stack = [(metrics, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_METRICS_DEPTH:
            raise DataError(f"{where}: nested more than {MAX_METRICS_DEPTH} levels deep")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    _check_fields(metrics, METRIC_TYPES, where)
    for name, types, required in (("curves", CURVE_TYPES, False), ("validation", VALIDATION_TYPES, True)):
        points = metrics.get(name)
        if points is None:
            continue
        if not isinstance(points, list) or not all(isinstance(c, dict) for c in points):
            raise DataError(f"{where}: {name} = {_short(points)}: expected a list of objects")
        for k, point in enumerate(points):
            _check_fields(point, types, f"{where}: {name}[{k}]", required=required)
    if metrics.get("backend") not in (None, "spiking", "rate"):
        raise DataError(f"{where}: backend = {_short(metrics['backend'])}: expected 'spiking' or 'rate'")
    nb = metrics.get("neurobench")
    if nb is not None:
        ops = nb.get("synaptic_operations") if isinstance(nb, dict) else None
        if not isinstance(ops, dict):
            raise DataError(f"{where}: neurobench: expected an object with synaptic_operations")
        _check_fields(ops, dict.fromkeys(("Effective_ACs", "Effective_MACs", "Dense"), _AMOUNT),
                      f"{where}: neurobench.synaptic_operations", required=True)
        _check_fields(nb, {"activation_sparsity": _FRACTION, "connection_sparsity": _FRACTION, "footprint": _COUNT},
                      f"{where}: neurobench")
    return metrics


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _finite(value) -> float | None:
    """``value`` as a finite float, or None if it is no number (JSON reads 1e400 as infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        x = float(value)
    except OverflowError:
        return None
    return x if math.isfinite(x) else None


def _check_fields(table: dict, types: dict, where: str, required: bool = False) -> None:
    for key, kind in types.items():
        if key not in table:
            if required:
                raise DataError(f"{where}: {key} missing")
            continue
        value = table[key]
        if value is None:
            continue
        x = _finite(value)
        ok = {_TEXT: isinstance(value, str),
              _COUNT: x is not None and x.is_integer() and 0 <= x < 2 ** 63,
              _AMOUNT: x is not None and x >= 0,
              _FRACTION: x is not None and 0 <= x <= 1}[kind]
        if not ok:
            raise DataError(f"{where}: {key} = {_short(value)}: expected {kind}")
