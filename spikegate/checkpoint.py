"""Checkpoints: a classifier, its mistake memory and the training loop's place, in one ``.npz`` file.

Two kinds share the format (named arrays and a JSON ``meta`` string; no pickle, so a file from
elsewhere is data):

* **classifier** (:meth:`GatedClassifier.save <spikegate.backends.spiking.GatedClassifier.save>`,
  written and read by :mod:`spikegate.backends.spiking.state`): the declarations (their fields
  as JSON), every state array and optionally a :class:`~spikegate.model.MistakeMemory`;
* **training** (``checkpoint.npz`` in every run directory, read by ``train(init_from=...)`` and
  ``spikegate train --init-from RUN_DIR``): the weights, the memory or the random gate's coin,
  the epoch order's generator, the epochs done, and the engine's state (runtime: the
  classifier's whole state; compiled: its weights and run count). It is taken where the epoch
  loop ends its last epoch (before a test made only because the run ends), so training 2 epochs
  and continuing for 1 presents what 3 epochs in one run present, bit for bit.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError
from .files import atomic_path

CHECKPOINT = "checkpoint.npz"
FORMAT = 1


# ------------------------------------------------------------------ the file
def write_arrays(path, arrays: dict, meta: dict) -> Path:
    """``arrays`` and ``meta`` (JSON) into ``path``, atomically (nothing half-written)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, meta=np.array(json.dumps({"format": FORMAT, **meta})), **arrays)
    return path


def read_arrays(path, kind: str) -> tuple[dict, dict]:
    """The arrays and meta of a checkpoint of ``kind``; one-line ``DataError`` for anything else."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise DataError(f"{path}: no such checkpoint file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a spikegate checkpoint ({exc or type(exc).__name__})") from None
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except (KeyError, ValueError):
        raise DataError(f"{path}: not a spikegate checkpoint (no readable meta record)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("kind") != kind:
        got = meta.get("kind") if isinstance(meta, dict) else None
        raise DataError(f"{path}: a checkpoint of kind {got!r} format {meta.get('format') if isinstance(meta, dict) else None!r}; "
                        f"expected kind {kind!r} format {FORMAT}")
    return arrays, meta


def memory_arrays(memory) -> dict:
    """A mistake memory's traces as the array ``memory.mu`` (none without a memory)."""
    return {} if memory is None else {"memory.mu": np.asarray(memory.mu, dtype=float)}


def memory_from(arrays, where: str, tau_mem: float, theta_mem: float, n: int | None = None):
    """The :class:`~spikegate.model.MistakeMemory` of ``memory.mu`` (None without one), checked."""
    from .model import MistakeMemory

    if "memory.mu" not in arrays:
        return None
    mu = np.asarray(arrays["memory.mu"])
    if mu.ndim != 1 or mu.dtype.kind != "f" or not np.all((mu >= 0) & (mu <= 1)):
        raise DataError(f"{where}: memory.mu must be a vector of traces in [0, 1]")
    if n is not None and len(mu) != n:
        raise DataError(f"{where}: the mistake memory covers {len(mu)} training samples, this run trains on {n}; "
                        "continue with the same data.n_train (and samples)")
    memory = MistakeMemory(len(mu), tau_mem, theta_mem)
    memory.mu = mu.astype(float)
    return memory


# ------------------------------------------------------------------ a training
@dataclass
class TrainingCheckpoint:
    """Where a training stopped (see the module docstring)."""

    epochs: int
    presentations: int
    weights: list
    order_state: dict
    memory: object = None          # MistakeMemory, CoinFlips or None
    network: dict = field(default_factory=dict)   # the runtime classifier's state arrays
    tester: dict = field(default_factory=dict)    # a separate tester's (network.t_test)
    where: str = "--init-from"                     # how errors name it

    def to_arrays(self) -> tuple[dict, dict]:
        arrays = {f"weights.w{k}": np.asarray(w) for k, w in enumerate(self.weights)}
        arrays.update({f"network.{k}": v for k, v in self.network.items()})
        arrays.update({f"tester.{k}": v for k, v in self.tester.items()})
        meta = {"kind": "training", "epochs": self.epochs, "presentations": self.presentations,
                "order_state": self.order_state}
        if hasattr(self.memory, "mu"):
            arrays.update(memory_arrays(self.memory))
        elif hasattr(self.memory, "rng"):
            meta["coin_state"] = self.memory.rng.bit_generator.state
        return arrays, meta


def write_training(path, checkpoint: TrainingCheckpoint) -> Path:
    arrays, meta = checkpoint.to_arrays()
    return write_arrays(path, arrays, meta)


def read_training(run_dir, cfg, n_train: int) -> TrainingCheckpoint:
    """The checkpoint of ``run_dir`` for continuing with ``cfg`` on ``n_train`` samples: shapes, memory and
    the epoch budget checked, each failure one line."""
    run_dir = Path(run_dir)
    where = f"--init-from {run_dir}"
    if not run_dir.is_dir():
        raise DataError(f"{where}: not a directory; give a run directory written by spikegate train")
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise DataError(f"{where}: no {CHECKPOINT} (runs written before checkpoints, or not a spikegate run); "
                        "continue from its weights with train(initial_weights=...)")
    arrays, meta = read_arrays(path, "training")
    weights = []
    for k in range(cfg.spec.n_projections):   # shapes are the classifier's to check (check_weights)
        w = arrays.get(f"weights.w{k}")
        if w is None or w.ndim != 2 or w.dtype.kind != "f" or not np.all(np.isfinite(w)):
            raise DataError(f"{where}: weights w{k} {'missing' if w is None else f'of shape {w.shape} of {w.dtype}'}"
                            f"; expected finite numbers, one matrix per projection of this model")
        weights.append(w)
    epochs = meta.get("epochs")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise DataError(f"{where}: checkpoint records epochs = {epochs!r}; expected a positive integer")
    gate = cfg.gate
    memory = gate.presentation_gates(n_train, cfg.seed)
    if hasattr(memory, "mu"):
        loaded = memory_from(arrays, where, memory.tau_mem, memory.theta_mem, n_train)
        if loaded is None:
            raise DataError(f"{where}: the run had no mistake memory; gate {gate.name!r} needs one (continue with "
                            "the run's gate)")
        memory = loaded
    elif hasattr(memory, "rng"):
        try:
            memory.rng.bit_generator.state = meta["coin_state"]
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{where}: the run had no random gate; continue with the run's gate") from None
    order = np.random.default_rng(cfg.seed + 1)
    try:
        order.bit_generator.state = meta["order_state"]
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{where}: the epoch order's generator state is missing or malformed") from None
    network = {k[len("network."):]: v for k, v in arrays.items() if k.startswith("network.")}
    tester = {k[len("tester."):]: v for k, v in arrays.items() if k.startswith("tester.")}
    return TrainingCheckpoint(epochs, int(meta.get("presentations", 0)), weights, meta["order_state"], memory,
                              network, tester, where=f"{where}/{CHECKPOINT}")
