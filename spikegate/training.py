"""Training and evaluation: epochs of in-graph presentations, the ledger, and run directories.

A run directory holds ``config.toml`` (the resolved model), ``metrics.json``,
``weights.npz`` (initial and final weights) and ``ledger.npz`` (per-presentation
counts). It is written into a hidden temporary directory next to the target and renamed
into place at the very end, so an interrupted run leaves nothing that looks complete.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import data as data_mod
from .config import RunConfig, resolve
from .errors import ConfigError, DataError
from .ledger import EnergyLedger
from .memory import MistakeMemory
from .network import GatedClassifier

RUN_FILES = ("config.toml", "metrics.json", "weights.npz", "ledger.npz")


@dataclass
class TrainResult:
    """Outcome of :func:`train`."""

    config: RunConfig
    metrics: dict
    ledger: EnergyLedger
    classifier: GatedClassifier
    run_dir: Path | None

    @property
    def test_accuracy(self) -> float:
        return self.metrics["test_accuracy"]


def _projection_names(layers) -> list[str]:
    names = ["input"] + [f"hidden{k}" for k in range(len(layers) - 2)] + ["output"]
    return [f"{a}->{b}" for a, b in zip(names[:-1], names[1:])]


def load_dataset(cfg: RunConfig) -> data_mod.Dataset:
    """The configured data set, validated against the network and cut to ``n_train``/``n_test``."""
    d = cfg.section("data")
    spec = cfg.spec
    ds = data_mod.load(d["source"], data_dir=d["dir"] or None, path=d["path"] or None, n_classes=spec.n_out)
    ds = data_mod.validate(ds, n_pixels=spec.n_in, n_classes=spec.n_out)
    return ds.subset(d["n_train"], d["n_test"])


def _use_target(target: str) -> None:
    from brian2 import prefs

    prefs.codegen.target = target


class _Progress:
    """A tqdm bar over presentations (silent when disabled)."""

    def __init__(self, total, enabled):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="pres", dynamic_ncols=True, mininterval=0.5)

    def advance(self, n):
        if self.bar is not None:
            self.bar.update(n)

    def describe(self, text):
        if self.bar is not None:
            self.bar.set_description(text)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def train(model, gate: str | None = None, overrides=(), out=None, data_dir=None, progress: bool = True,
          dataset: data_mod.Dataset | None = None) -> TrainResult:
    """Train a model specification and (optionally) write a run directory.

    Parameters
    ----------
    model : str, Path or dict
        A model TOML file (see ``models/``) or the same content as a dict.
    gate : str, optional
        Gate name overriding ``gate.name``.
    overrides : iterable of str or (key, value)
        Dotted overrides such as ``"data.n_train=1000"``.
    out : path, optional
        Run directory to create (must not exist yet). Nothing is written when None.
    data_dir : path, optional
        Directory of the MNIST files (overrides ``data.dir``).
    dataset : Dataset, optional
        Use these arrays instead of loading ``data.source``.
    """
    overrides = list(overrides)
    if data_dir:
        overrides.append(("data.dir", str(data_dir)))
    cfg = resolve(model, overrides, gate)
    out = Path(out) if out is not None else None
    if out is not None and out.exists():
        raise ConfigError(f"--out {out}: already exists; choose a new run directory")
    if dataset is None:
        ds = load_dataset(cfg)
    else:
        ds = data_mod.validate(dataset, n_pixels=cfg.spec.n_in, n_classes=cfg.spec.n_out)
        ds = ds.subset(cfg.section("data")["n_train"], cfg.section("data")["n_test"])
    train_cfg = cfg.section("train")
    _use_target(train_cfg["target"])
    import brian2

    brian2.seed(cfg.seed)
    n_train, n_test = len(ds.x_train), len(ds.x_test)
    t_begin = time.perf_counter()
    clf = GatedClassifier(cfg.spec, cfg.gate, np.vstack([ds.x_train, ds.x_test]), seed=cfg.seed,
                          chunk=train_cfg["chunk"])
    initial = [clf.weights(k) for k in range(cfg.spec.n_projections)]
    ledger = EnergyLedger(_projection_names(cfg.spec.layers), cfg.spec.alpha, initial)
    memory = MistakeMemory(n_train, cfg.gate.tau_mem, cfg.gate.theta_mem) if cfg.gate.uses_memory else None
    rng = np.random.default_rng(cfg.seed + 1)
    test_idx = np.arange(n_train, n_train + n_test)
    epochs = train_cfg["epochs"]
    n_evals = epochs if train_cfg["eval_every_epoch"] else 1
    bar = _Progress(epochs * n_train + n_evals * n_test, progress)
    curves = []
    test_log = None
    try:
        for epoch in range(1, epochs + 1):
            order = rng.permutation(n_train)
            memgate = memory.gate(order) if memory is not None else None
            bar.describe(f"epoch {epoch}/{epochs} train")
            log = clf.present(order, ds.y_train[order], memgate, learn=True, progress=bar.advance)
            if memory is not None:
                memory.update(order, log.mistake)
            ledger.record(log)
            point = {"epoch": epoch, "train_accuracy": log.accuracy,
                     "gated_presentations": int(log.gate_open.sum()), "n_writes": int(log.writes.sum()),
                     "sum_abs_dw": float(log.sum_abs_dw.sum()), "cumulative_n_writes": ledger.m0,
                     "cumulative_sum_abs_dw": ledger.m1, "train_seconds": log.wall_seconds}
            if train_cfg["eval_every_epoch"] or epoch == epochs:
                bar.describe(f"epoch {epoch}/{epochs} test")
                test_log = clf.present(test_idx, ds.y_test, learn=False, progress=bar.advance)
                point["test_accuracy"] = test_log.accuracy
                point["test_seconds"] = test_log.wall_seconds
            curves.append(point)
    finally:
        bar.close()
    wall = time.perf_counter() - t_begin
    final = [clf.weights(k) for k in range(cfg.spec.n_projections)]
    metrics = {
        "model": cfg.name,
        "gate": cfg.gate.name,
        "data": ds.name,
        "n_train": n_train,
        "n_test": n_test,
        "epochs": epochs,
        "test_accuracy": test_log.accuracy,
        "train_accuracy": curves[-1]["train_accuracy"],
        **ledger.summary(final),
        "wall_seconds": wall,
        "presentations_per_second": (ledger.n_presentations + n_evals * n_test) / wall,
        "target": train_cfg["target"],
        "curves": curves,
    }
    run_dir = None
    if out is not None:
        run_dir = write_run_dir(out, cfg, metrics, ledger, initial, final)
    return TrainResult(cfg, metrics, ledger, clf, run_dir)


def write_run_dir(out: Path, cfg: RunConfig, metrics: dict, ledger: EnergyLedger, initial, final) -> Path:
    """Write all run files into a temporary sibling directory, then rename it to ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        (tmp / "config.toml").write_text(cfg.to_toml())
        np.savez_compressed(tmp / "weights.npz", **{f"w{k}": w for k, w in enumerate(final)},
                            **{f"w{k}_initial": w for k, w in enumerate(initial)})
        ledger.save(tmp / "ledger.npz")
        (tmp / "metrics.json").write_text(json.dumps(_jsonable(metrics), indent=2) + "\n")
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def read_run_dir(run_dir) -> tuple[RunConfig, dict, dict]:
    """Config, metrics and weights of a run directory (checked to be complete)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run directory {run_dir}: does not exist")
    missing = [f for f in RUN_FILES if not (run_dir / f).exists()]
    if missing:
        raise DataError(f"run directory {run_dir}: missing {', '.join(missing)}; not a complete spikegate run")
    cfg = resolve(run_dir / "config.toml")
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        with np.load(run_dir / "weights.npz", allow_pickle=False) as f:
            weights = {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"run directory {run_dir}: unreadable ({exc})") from None
    return cfg, metrics, weights


def evaluate(run_dir, data_dir=None, progress: bool = True) -> dict:
    """Rebuild a trained network from its run directory and measure its test accuracy again."""
    cfg, metrics, weights = read_run_dir(run_dir)
    if data_dir:
        cfg = resolve(Path(run_dir) / "config.toml", [("data.dir", str(data_dir))])
    ds = load_dataset(cfg)
    _use_target(cfg.section("train")["target"])
    import brian2

    brian2.seed(cfg.seed + 7)
    clf = GatedClassifier(cfg.spec, cfg.gate, np.vstack([ds.x_train, ds.x_test]), seed=cfg.seed,
                          chunk=cfg.section("train")["chunk"])
    for k in range(cfg.spec.n_projections):
        clf.set_weights(k, weights[f"w{k}"])
    n_train = len(ds.x_train)
    bar = _Progress(len(ds.x_test), progress)
    try:
        log = clf.present(np.arange(n_train, n_train + len(ds.x_test)), ds.y_test, learn=False,
                          progress=bar.advance)
    finally:
        bar.close()
    return {"test_accuracy": log.accuracy, "recorded_test_accuracy": metrics.get("test_accuracy"),
            "n_test": len(ds.x_test), "wall_seconds": log.wall_seconds, "model": cfg.name, "gate": cfg.gate.name}
