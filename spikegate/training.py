"""Training and evaluation: the one epoch loop, the ledger, and the run directory it leaves.

:func:`train` resolves a model, builds the backend's classifier (:mod:`spikegate.backends`),
presents the training samples epoch by epoch in a fresh random order, drives the
mistake memory between presentations (:class:`~spikegate.model.MistakeMemory`), records
every presentation in an :class:`~spikegate.ledger.EnergyLedger`, tests, and writes a run
directory (:mod:`spikegate.rundir`). Experiments that train on a subset of the samples or
continue from given weights use the same loop (``samples=``, ``initial_weights=``).
"""
from __future__ import annotations

import gc
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import data as data_mod
from .backends import Classifier, present_test_set
from .checkpoint import TrainingCheckpoint, read_training
from .config import RunConfig, resolve
from .errors import ConfigError, DataError, ParameterError
from .ledger import EnergyLedger
from .rundir import read_run, write_run
from .stopping import ValidationMonitor, check_technology


@dataclass
class TrainResult:
    """Outcome of :func:`train`."""

    config: RunConfig
    metrics: dict
    ledger: EnergyLedger
    classifier: Classifier
    run_dir: Path | None
    initial_weights: list = field(default_factory=list)   # per projection, before training
    final_weights: list = field(default_factory=list)     # per projection, after training
    checkpoint: TrainingCheckpoint | None = None            # where the epoch loop ended (run_dir/checkpoint.npz)

    @property
    def test_accuracy(self) -> float:
        return self.metrics["test_accuracy"]


def projection_names(layers) -> list[str]:
    """``["input->hidden0", "hidden0->output"]`` for ``layers = (n_in, n_hidden, n_out)``."""
    names = ["input"] + [f"hidden{k}" for k in range(len(layers) - 2)] + ["output"]
    return [f"{a}->{b}" for a, b in zip(names[:-1], names[1:])]


def load_dataset(cfg: RunConfig) -> data_mod.Dataset:
    """The configured data set, validated against the network and cut to ``n_train``/``n_test``."""
    d, spec = cfg.data, cfg.spec
    # the validation split is the end of the whole training set: MNIST then converts all of it
    ds = data_mod.load(d.source, data_dir=d.dir or None, path=d.path or None, n_classes=spec.n_out,
                       n_train=None if d.n_validation else d.n_train, n_test=d.n_test)
    return data_mod.validate(ds.subset(d.n_train, d.n_test, d.n_validation), n_pixels=spec.n_in,
                             n_classes=spec.n_out)


def simulation(cfg: RunConfig):
    """The context a configuration's classifiers run in (spiking: its Brian2 code-generation target)."""
    return cfg.backend.simulation(cfg)


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
          dataset: data_mod.Dataset | None = None, samples=None, initial_weights=None, init_from=None) -> TrainResult:
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
    samples : array of int, optional
        Train on these training samples only (indices into the training set, each once per
        epoch); all of them by default. The mistake memory covers these samples.
    initial_weights : list of arrays, optional
        Start from these weights (one array per projection, as ``classifier.weights(k)``
        returns them) instead of the model's random initial weights.
    init_from : path, optional
        A run directory to continue: its ``checkpoint.npz`` brings the weights, the mistake
        memory (or the random gate's coin), the epoch order and, on the runtime engine, the
        network's whole state and random stream; epochs count on from the run's. Training 2
        epochs and continuing for 1 equals 3 epochs in one run, bit for bit on the runtime
        engine (tests after every epoch, the default, or no validation split).

    Returns
    -------
    TrainResult
        ``metrics`` holds ``test_accuracy``, ``train_accuracy`` (last epoch, decided online
        while learning), the ledger's summary (``n_writes`` M0, ``sum_abs_dw`` M1, ...),
        timings and ``curves`` (one point per evaluation).
    """
    overrides = list(overrides)
    if data_dir:
        overrides.append(("data.dir", str(data_dir)))
    cfg = resolve(model, overrides, gate)
    out = Path(out) if out is not None else None
    if out is not None:
        check_output_directory(out)
    if dataset is None:
        ds = load_dataset(cfg)
    else:
        ds = data_mod.validate(dataset, n_pixels=cfg.spec.n_in, n_classes=cfg.spec.n_out)
        ds = ds.subset(cfg.data.n_train, cfg.data.n_test, cfg.data.n_validation)
    samples = _checked_samples(samples, len(ds.x_train))
    start = _checkpoint(init_from, initial_weights, cfg, len(samples))
    with simulation(cfg):
        result = _train(cfg, ds, samples, initial_weights, progress, start)
    if start is not None:
        result.metrics.update(init_from=str(init_from), epochs_before=start.epochs)
    if out is not None:
        result.run_dir = write_run(out, cfg.to_toml(), result.metrics, result.ledger, result.initial_weights,
                                   result.final_weights, result.checkpoint)
    return result


def _checkpoint(init_from, initial_weights, cfg, n_train: int) -> TrainingCheckpoint | None:
    if init_from is None:
        return None
    if initial_weights is not None:
        raise ConfigError("init_from and initial_weights: give one (a checkpoint brings its weights)")
    return read_training(init_from, cfg, n_train)


def check_bounds(cfg: RunConfig, n_presentations: int) -> None:
    """Refuse a run beyond ``train.max_presentations``, ``train.max_memory_gb`` or the backend's own
    bounds (spiking: ``train.max_steps``), before anything is built; the message gives the
    estimate and the override."""
    tc, layers = cfg.training, cfg.spec.layers
    n_synapses = sum(a * b for a, b in zip(layers[:-1], layers[1:]))
    gb = 100 * (n_synapses + sum(layers)) / 1e9
    if gb > tc.max_memory_gb:
        raise ConfigError(f"network.layers = {list(layers)}: {n_synapses:,} synapses, an estimated {gb:,.1f} GB, "
                          f"more than train.max_memory_gb = {tc.max_memory_gb:g}; raise it with "
                          f"--set train.max_memory_gb={max(1, int(gb) + 1)}")
    days = n_presentations / cfg.backend.presentations_per_second / 86400
    if n_presentations > tc.max_presentations:
        raise ConfigError(f"train.epochs = {tc.epochs}: {n_presentations:,} presentations (~{days:,.3g} days), more "
                          f"than train.max_presentations = {tc.max_presentations:,}; raise it with "
                          f"--set train.max_presentations={n_presentations}")
    cfg.backend.check_bounds(cfg, n_presentations)


def check_output_directory(out: Path) -> None:
    """Before any training: ``out`` must not exist, and its parent must be (made) a writable directory."""
    if out.exists() or out.is_symlink():
        raise ConfigError(f"--out {out}: already exists; choose a new run directory")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=parent, prefix=".spikegate-write-test-")
        probe.close()
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write in {parent} ({exc.strerror or exc})") from None


def _checked_samples(samples, n_train: int) -> np.ndarray:
    if samples is None:
        return np.arange(n_train)
    samples = np.asarray(samples)
    if samples.ndim != 1 or len(samples) == 0 or not np.issubdtype(samples.dtype, np.integer):
        raise DataError(f"samples: expected a non-empty list of training-sample indices, got shape {samples.shape} "
                        f"of {samples.dtype}")
    if samples.min() < 0 or samples.max() >= n_train:
        raise DataError(f"samples: indices must be in [0, {n_train - 1}]")
    if len(np.unique(samples)) != len(samples):
        raise DataError("samples: an index repeats; give each training sample at most once")
    return samples.astype(np.int64)


def _train(cfg: RunConfig, ds: data_mod.Dataset, samples: np.ndarray, initial_weights, progress,
           start: TrainingCheckpoint | None = None) -> TrainResult:
    tc = cfg.training
    n_train, n_test = len(samples), len(ds.x_test)
    t_begin = time.perf_counter()
    segment = tc.eval_every or n_train
    evaluate_each = tc.eval_every > 0 or tc.eval_every_epoch
    n_evals = tc.epochs * -(-n_train // segment) if tc.eval_every else (tc.epochs if evaluate_each else 1)
    n_val = len(ds.x_val)
    if tc.stop != "none" and not n_val:
        raise ConfigError(f"train.stop = {tc.stop!r}: stopping is decided on validation accuracy; set "
                          "data.n_validation (held-out training images)")
    if n_val:
        check_technology(tc.technology)      # before anything is built
    n_validations = tc.epochs * (-(-n_train // tc.validate_every) if tc.validate_every else 1) if n_val else 0
    total = tc.epochs * n_train + n_evals * n_test + n_validations * n_val
    check_bounds(cfg, total)
    bar = _Progress(total, progress)
    try:
        clf, tester, compile_seconds = _build_classifiers(cfg, ds, bar)
        # Brian2 collects garbage at every run(); after a compilation millions of objects are alive,
        # and each collection walked them all (~0.2-1.6 s per chunk): they are set aside while training
        gc.collect()
        gc.freeze()
        if initial_weights is not None:
            if len(initial_weights) != cfg.spec.n_projections:
                raise DataError(f"initial_weights: {len(initial_weights)} arrays for {cfg.spec.n_projections} "
                                "projections")
            for k, w in enumerate(initial_weights):
                clf.set_weights(k, w)
        continued = _continue(clf, tester, start) if start is not None else None
        initial = [clf.weights(k) for k in range(cfg.spec.n_projections)]
        loop = _EpochLoop(cfg, ds, samples, clf, tester, EnergyLedger(projection_names(cfg.spec.layers),
                                                                      cfg.spec.alpha, initial), bar, start)
        loop.run(segment, evaluate_each)
    finally:
        gc.unfreeze()
        bar.close()
    final = [clf.weights(k) for k in range(cfg.spec.n_projections)]
    metrics = _metrics(cfg, ds, loop.ledger, final, n_train, loop.curves, loop.test_log, loop.reached,
                       time.perf_counter() - t_begin, loop.train_seconds, compile_seconds)
    metrics.update(loop.validation.summary())
    if continued:
        metrics["init_from_state"] = continued
    return TrainResult(cfg, metrics, loop.ledger, clf, None, initial, final, loop.checkpoint)


def _continue(clf, tester, start: TrainingCheckpoint) -> str:
    """Put a checkpoint into freshly built classifiers: the whole state where it comes from the same
    engine (``"whole state"``), else the weights (``"weights"``)."""
    where = start.where
    for k, w in enumerate(start.weights):
        if w.shape != clf.weights(k).shape:
            raise DataError(f"{where}: weights w{k} of shape {w.shape}; this model's projection {k} is "
                            f"{clf.weights(k).shape}: continue with the same network")
    if start.network and hasattr(clf, "set_state_arrays") and _engine(start.network) == _engine(clf.state_arrays()):
        clf.set_state_arrays(start.network, where)
        if tester is not clf and start.tester and hasattr(tester, "set_state_arrays"):
            tester.set_state_arrays(start.tester, where)
        return "whole state"
    for k, w in enumerate(start.weights):      # another engine or backend: its weights go on
        clf.set_weights(k, w)
    return "weights"


def _engine(arrays: dict) -> str:
    """Which engine's state a checkpoint holds (the compiled engine's arrays are ``compiled.*``)."""
    return "compiled" if arrays and all(k.startswith("compiled.") for k in arrays) else "runtime"


def _build_classifiers(cfg: RunConfig, ds, bar) -> tuple:
    """The classifier and its tester, code generated and compiled; and the seconds that took."""
    bar.describe(cfg.backend.preparing)
    t0 = time.perf_counter()
    clf = cfg.backend.build(cfg, ds)
    tester = cfg.backend.build_tester(cfg, ds, clf)
    for c in {id(clf): clf, id(tester): tester}.values():
        if hasattr(c, "prepare"):
            c.prepare()
    return clf, tester, time.perf_counter() - t0


def _segment_ends(test_every: int, validate_every: int, n: int) -> list[int]:
    """Where an epoch's segments end: every multiple of the test and validation intervals, and ``n``."""
    ends = {n}
    for every in (test_every, validate_every):
        if every > 0:
            ends.update(range(every, n, every))
    return sorted(ends)


class _EpochLoop:
    """The one epoch loop: each epoch presents the samples in a fresh random order, segment by
    segment, drives the mistake memory between segments (exact: each sample once per epoch),
    records every presentation and tests after the segments that ask for it."""

    def __init__(self, cfg: RunConfig, ds, samples, clf, tester, ledger: EnergyLedger, bar,
                 start: TrainingCheckpoint | None = None):
        self.cfg, self.ds, self.samples, self.clf, self.tester, self.ledger, self.bar = \
            cfg, ds, samples, clf, tester, ledger, bar
        # a mistake memory, a coin, or None; a checkpoint's where training goes on
        self.memory = start.memory if start is not None else cfg.gate.presentation_gates(len(samples), cfg.seed)
        self.order = np.random.default_rng(cfg.seed + 1)     # each epoch's permutation
        if start is not None:
            self.order.bit_generator.state = start.order_state
        self.epochs_before = start.epochs if start is not None else 0
        self.presentations_before = start.presentations if start is not None else 0
        self.checkpoint: TrainingCheckpoint | None = None
        self.validation = ValidationMonitor(cfg, ds, clf, tester, bar)
        self.test_idx = np.arange(len(ds.x_train), len(ds.x_train) + len(ds.x_test))
        self.curves, self.test_log, self.reached, self.train_seconds = [], None, None, 0.0

    def run(self, segment: int, evaluate_each: bool) -> None:
        """Every epoch, segment by segment; tests after the segments that ask for it (``segment``
        presentations each, or each epoch's end), validates where :attr:`validation` is due and stops
        where it says so."""
        tc, n = self.cfg.training, len(self.samples)
        ends = _segment_ends(segment, tc.validate_every if self.validation.enabled else 0, n)
        last_epoch = self.epochs_before + tc.epochs
        for epoch in range(self.epochs_before + 1, last_epoch + 1):
            order = self.order.permutation(n)   # positions in `samples`: the memory's index
            self.clf.set_learning_scale(tc.learning_scale(epoch))
            memgate = self.memory.gate(order) if self.memory is not None else None
            for start, stop in zip([0] + ends[:-1], ends):
                point = self._train_segment(epoch, order[start:stop],
                                            None if memgate is None else memgate[start:stop])
                boundary_test = evaluate_each and (stop % segment == 0 or stop == n)
                if stop == n and epoch == last_epoch and not boundary_test:
                    self.checkpoint = self._snapshot(epoch)   # before the test that only ends the run
                if (stop == n and epoch == last_epoch) or boundary_test:
                    self._test(point, epoch)
                self.curves.append(point)
                if self.validation.due(stop, stop == n):
                    point["validation_accuracy"] = self.validation.validate(epoch, self.ledger)["validation_accuracy"]
                    if self.validation.should_stop():
                        self.validation.stop()
                        self.checkpoint = self.checkpoint or self._snapshot(epoch)
                        self._test(point, epoch)
                        return
                if tc.target_accuracy and point.get("test_accuracy", 0.0) >= tc.target_accuracy:
                    self.reached = point
                    self.checkpoint = self.checkpoint or self._snapshot(epoch)
                    return
        self.checkpoint = self.checkpoint or self._snapshot(last_epoch)
        if self.test_log is None or "test_accuracy" not in self.curves[-1]:
            self._test(self.curves[-1], last_epoch)

    def _snapshot(self, epoch: int) -> TrainingCheckpoint:
        """Where training stands after ``epoch``: what ``--init-from`` goes on from."""
        import copy

        clf, tester = self.clf, self.tester
        return TrainingCheckpoint(
            epoch, self.presentations_before + self.ledger.n_presentations,
            [clf.weights(k) for k in range(self.cfg.spec.n_projections)], self.order.bit_generator.state,
            copy.deepcopy(self.memory), clf.state_arrays() if hasattr(clf, "state_arrays") else {},
            tester.state_arrays() if tester is not clf and hasattr(tester, "state_arrays") else {})

    def _train_segment(self, epoch: int, pos, memgate) -> dict:
        idx = self.samples[pos]
        self.bar.describe(f"epoch {epoch}/{self.cfg.training.epochs} train")
        log = self.clf.present(idx, self.ds.y_train[idx], memgate, learn=True, progress=self.bar.advance)
        if self.memory is not None:
            self.memory.update(pos, log.mistake)
        ledger = self.ledger
        ledger.record(log)
        self.train_seconds += log.wall_seconds
        return {"epoch": epoch, "samples_seen": ledger.n_presentations, "learning_scale": self.clf.learning_scale,
                "train_accuracy": log.accuracy,
                "gated_presentations": int(log.gate_open.sum()), "n_writes": int(log.writes.sum()),
                "sum_abs_dw": float(log.sum_abs_dw.sum()), "bits_flipped": int(log.bits_flipped.sum()),
                "cumulative_n_writes": ledger.m0, "cumulative_bits_flipped": ledger.bits,
                "cumulative_sum_abs_dw": ledger.m1, "train_seconds": log.wall_seconds,
                "cumulative_train_seconds": self.train_seconds, **_gate_agreement(self.cfg, log)}

    def _test(self, point: dict, epoch: int) -> None:
        self.bar.describe(f"epoch {epoch}/{self.cfg.training.epochs} test")
        self.test_log = present_test_set(self.clf, self.tester, self.test_idx, self.ds.y_test, self.bar.advance)
        point.update(test_accuracy=self.test_log.accuracy, test_accuracy_random_ties=self.test_log.accuracy_random_ties,
                     test_seconds=self.test_log.wall_seconds)


def _gate_agreement(cfg, log) -> dict:
    """With the spiking ERN: how many decisions the ideal gate opened, and the fraction on which both agree."""
    ern = getattr(cfg.spec, "ern", None)
    if ern is None or not ern.spiking or not len(log.gate_open):
        return {}
    return {"reference_gated_presentations": int(log.reference_gate.sum()),
            "gate_agreement": float(np.mean(log.gate_open == log.reference_gate))}


def _metrics(cfg, ds, ledger, final, n_train, curves, test_log, reached, wall, train_seconds,
             compile_seconds) -> dict:
    n_test = len(ds.x_test)
    n_tested = n_test * sum("test_accuracy" in c for c in curves)    # test presentations (each curve point tested)
    last_epoch = ledger.mistake[-min(n_train, ledger.n_presentations):]
    metrics = {
        "model": cfg.name,
        "backend": cfg.backend.name,
        "gate": cfg.gate.name,
        "data": ds.name,
        "n_train": n_train,
        "n_test": n_test,
        "epochs": cfg.training.epochs,
        "test_accuracy": test_log.accuracy,
        "test_ties": int(test_log.ties.sum()),
        "test_tie_fraction": float(test_log.ties.mean()),
        "test_accuracy_random_ties": test_log.accuracy_random_ties,
        "train_accuracy": float(1.0 - last_epoch.mean()),
        **ledger.summary(final),
        "synapse_bits": cfg.spec.synapse.bits,
        "diverged": not all(np.isfinite(w).all() for w in final),
        "wall_seconds": wall,
        "train_seconds": train_seconds,
        "compile_seconds": compile_seconds,
        # the rate of training and testing: building and compiling the network is not part of it
        "presentations_per_second": (ledger.n_presentations + n_tested) / max(wall - compile_seconds, 1e-9),
        **cfg.backend.run_metrics(cfg, ledger.n_presentations, n_tested),
        "operations": cfg.backend.operation_counts(ledger),
        "neurobench": cfg.backend.neurobench(cfg.spec, ledger, final),
        "curves": curves,
    }
    agreeing = [c for c in curves if "gate_agreement" in c]
    if agreeing:    # the spiking ERN: its gate beside the ideal gate over the last training segment
        metrics.update(gate_agreement=agreeing[-1]["gate_agreement"],
                       gate_agreement_presentations=agreeing[-1]["samples_seen"] - (
                           agreeing[-2]["samples_seen"] if len(agreeing) > 1 else 0))
    target = cfg.training.target_accuracy
    if target:
        metrics.update({
            "target_accuracy": target, "reached_target": reached is not None,
            "samples_to_target": reached["samples_seen"] if reached else None,
            "n_writes_to_target": reached["cumulative_n_writes"] if reached else None,
            "bits_flipped_to_target": reached["cumulative_bits_flipped"] if reached else None,
            "sum_abs_dw_to_target": reached["cumulative_sum_abs_dw"] if reached else None,
            "train_seconds_to_target": reached["cumulative_train_seconds"] if reached else None,
        })
    return metrics


def load_run(run_dir, data_dir=None, seed_offset: int = 7, overrides=()):
    """Rebuild a trained classifier from its run directory.

    Returns ``(config, data set, classifier with the trained weights, tester, record)``;
    ``overrides`` change the resolved config (e.g. ``("network.t_stim", "800 ms")`` to read
    the weights out over a longer window). Spike trains are drawn with the run's seed plus
    ``seed_offset``, so they differ from those of training.
    """
    rec = read_run(run_dir)
    overrides = list(overrides) + ([("data.dir", str(data_dir))] if data_dir else [])
    cfg = resolve(rec.config, overrides, unread_gate_keys="drop")
    ds = load_dataset(cfg)
    clf = cfg.backend.build(cfg, ds, seed_offset=seed_offset)
    for k in range(cfg.spec.n_projections):
        if f"w{k}" not in rec.weights:
            raise DataError(f"run directory {run_dir}: weights.npz lacks w{k} (the model has "
                            f"{cfg.spec.n_projections} projections); not a complete spikegate run")
        try:
            clf.set_weights(k, rec.weights[f"w{k}"])
        except (ValueError, ParameterError) as exc:
            raise DataError(f"run directory {run_dir}: weights.npz w{k}: {exc}") from None
    return cfg, ds, clf, cfg.backend.build_tester(cfg, ds, clf, seed_offset=seed_offset), rec


def evaluate(run_dir, data_dir=None, progress: bool = True) -> dict:
    """Rebuild a trained network from its run directory and measure its test accuracy again."""
    cfg, ds, clf, tester, rec = load_run(run_dir, data_dir)
    n_train = len(ds.x_train)
    bar = _Progress(len(ds.x_test), progress)
    try:
        with simulation(cfg):
            log = present_test_set(clf, tester, np.arange(n_train, n_train + len(ds.x_test)), ds.y_test,
                                   bar.advance)
    finally:
        bar.close()
    return {"test_accuracy": log.accuracy, "recorded_test_accuracy": rec.metrics.get("test_accuracy"),
            "n_test": len(ds.x_test), "wall_seconds": log.wall_seconds, "model": cfg.name, "gate": cfg.gate.name,
            "backend": cfg.backend.name}
