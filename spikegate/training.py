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
    n_train, n_test = len(ds.x_train), len(ds.x_test)
    t_begin = time.perf_counter()
    clf = build_classifier(cfg, ds)
    tester = build_test_classifier(cfg, ds, clf)
    initial = [clf.weights(k) for k in range(cfg.spec.n_projections)]
    ledger = EnergyLedger(_projection_names(cfg.spec.layers), cfg.spec.alpha, initial)
    memory = MistakeMemory(n_train, cfg.gate.tau_mem, cfg.gate.theta_mem) if cfg.gate.uses_memory else None
    rng = np.random.default_rng(cfg.seed + 1)
    test_idx = np.arange(n_train, n_train + n_test)
    epochs = train_cfg["epochs"]
    segment = train_cfg["eval_every"] or n_train
    per_epoch = -(-n_train // segment)
    target = train_cfg["target_accuracy"]
    evaluate_each = train_cfg["eval_every"] > 0 or train_cfg["eval_every_epoch"]
    n_evals = epochs * per_epoch if train_cfg["eval_every"] else (epochs if evaluate_each else 1)
    bar = _Progress(epochs * n_train + n_evals * n_test, progress)
    curves = []
    test_log = None
    reached = None
    train_seconds = 0.0
    try:
        for epoch in range(1, epochs + 1):
            order = rng.permutation(n_train)
            memgate = memory.gate(order) if memory is not None else None
            for start in range(0, n_train, segment):
                idx = order[start:start + segment]
                bar.describe(f"epoch {epoch}/{epochs} train")
                log = clf.present(idx, ds.y_train[idx], None if memgate is None else memgate[start:start + segment],
                                  learn=True, progress=bar.advance)
                if memory is not None:
                    memory.update(idx, log.mistake)  # exact: each sample once per epoch
                ledger.record(log)
                train_seconds += log.wall_seconds
                last = epoch == epochs and start + segment >= n_train
                point = {"epoch": epoch, "samples_seen": ledger.n_presentations, "train_accuracy": log.accuracy,
                         "gated_presentations": int(log.gate_open.sum()), "n_writes": int(log.writes.sum()),
                         "sum_abs_dw": float(log.sum_abs_dw.sum()), "cumulative_n_writes": ledger.m0,
                         "cumulative_sum_abs_dw": ledger.m1, "train_seconds": log.wall_seconds,
                         "cumulative_train_seconds": train_seconds}
                if evaluate_each or last:
                    bar.describe(f"epoch {epoch}/{epochs} test")
                    test_log = present_test_set(clf, tester, test_idx, ds.y_test, bar.advance)
                    point["test_accuracy"] = test_log.accuracy
                    point["test_seconds"] = test_log.wall_seconds
                curves.append(point)
                if target and reached is None and point.get("test_accuracy", 0.0) >= target:
                    reached = point
                    break
            if reached is not None:
                break
        if test_log is None or "test_accuracy" not in curves[-1]:
            test_log = present_test_set(clf, tester, test_idx, ds.y_test, bar.advance)
            curves[-1]["test_accuracy"] = test_log.accuracy
    finally:
        bar.close()
    wall = time.perf_counter() - t_begin
    final = [clf.weights(k) for k in range(cfg.spec.n_projections)]
    last_epoch = ledger.mistake[-min(n_train, ledger.n_presentations):]
    metrics = {
        "model": cfg.name,
        "backend": cfg.backend,
        "gate": cfg.gate.name,
        "data": ds.name,
        "n_train": n_train,
        "n_test": n_test,
        "epochs": epochs,
        "test_accuracy": test_log.accuracy,
        "train_accuracy": float(1.0 - last_epoch.mean()),
        **ledger.summary(final),
        "diverged": not all(np.isfinite(w).all() for w in final),
        "wall_seconds": wall,
        "train_seconds": train_seconds,
        "presentations_per_second": (ledger.n_presentations + len(curves) * n_test) / wall,
        "target": train_cfg["target"] if cfg.backend == "spiking" else "numpy",
        "curves": curves,
    }
    if target:
        metrics.update({
            "target_accuracy": target, "reached_target": reached is not None,
            "samples_to_target": reached["samples_seen"] if reached else None,
            "n_writes_to_target": reached["cumulative_n_writes"] if reached else None,
            "sum_abs_dw_to_target": reached["cumulative_sum_abs_dw"] if reached else None,
            "train_seconds_to_target": reached["cumulative_train_seconds"] if reached else None,
        })
    run_dir = None
    if out is not None:
        run_dir = write_run_dir(out, cfg, metrics, ledger, initial, final)
    return TrainResult(cfg, metrics, ledger, clf, run_dir)


def build_classifier(cfg: RunConfig, ds: data_mod.Dataset, seed_offset: int = 0):
    """The backend's classifier for a resolved config, its image bank = training then test rows."""
    images = np.vstack([ds.x_train, ds.x_test])
    if cfg.backend == "rate":
        from .rate import RateClassifier

        mean = ds.x_train.mean(axis=0) if cfg.spec.mean_subtract else None
        return RateClassifier(cfg.spec, cfg.gate, images, seed=cfg.seed, restriction=cfg.restriction,
                              caching=cfg.caching, mean=mean)
    _use_target(cfg.section("train")["target"])
    import brian2

    brian2.seed(cfg.seed + seed_offset)
    return GatedClassifier(cfg.spec, cfg.gate, images, seed=cfg.seed, chunk=cfg.section("train")["chunk"])


def build_test_classifier(cfg: RunConfig, ds: data_mod.Dataset, clf):
    """The classifier of test presentations: ``clf`` itself, or (spiking, ``network.t_test`` set)
    a second network whose presentation window is ``t_test``; weights are copied before each test."""
    if cfg.backend == "rate" or cfg.test_spec is None or cfg.test_spec == cfg.spec:
        return clf
    return GatedClassifier(cfg.test_spec, cfg.gate, np.vstack([ds.x_train, ds.x_test]), seed=cfg.seed,
                           chunk=cfg.section("train")["chunk"], name="sgtest")


def present_test_set(clf, tester, samples, labels, progress=None):
    """Present test samples without learning, on ``tester`` with ``clf``'s current weights."""
    if tester is not clf:
        for k in range(clf.spec.n_projections):
            tester.set_weights(k, clf.weights(k))
    return tester.present(samples, labels, learn=False, progress=progress)


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
    clf = build_classifier(cfg, ds, seed_offset=7)
    tester = build_test_classifier(cfg, ds, clf)
    for k in range(cfg.spec.n_projections):
        clf.set_weights(k, weights[f"w{k}"])
    n_train = len(ds.x_train)
    bar = _Progress(len(ds.x_test), progress)
    try:
        log = present_test_set(clf, tester, np.arange(n_train, n_train + len(ds.x_test)), ds.y_test, bar.advance)
    finally:
        bar.close()
    return {"test_accuracy": log.accuracy, "recorded_test_accuracy": metrics.get("test_accuracy"),
            "n_test": len(ds.x_test), "wall_seconds": log.wall_seconds, "model": cfg.name, "gate": cfg.gate.name,
            "backend": cfg.backend}
