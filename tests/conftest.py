"""Shared fixtures: a small deterministic spiking setup and the shared MNIST folder.

Spiking tests run on Brian2's numpy target: a new network costs no compilation (the Cython
target compiles every code object of a new network, ~2 minutes on an empty cache), and
the small networks here run as fast. ``test_cython_and_numpy_targets_agree`` ties the two
targets together bit for bit.
"""
import gc
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"


@pytest.fixture(autouse=True, scope="session")
def _quiet_brian():
    from brian2 import prefs, BrianLogger

    prefs.logging.file_log = False
    BrianLogger.log_level_warn()
    prefs.codegen.target = "numpy"
    yield


@pytest.fixture(autouse=True)
def _frozen_heap():
    """Move what earlier tests left alive out of the collector's sight.

    ``Network.run`` calls ``gc.collect()``; after Cython has compiled in this process the
    heap holds millions of objects and each run paid ~1 s walking them."""
    gc.freeze()
    yield


@pytest.fixture
def mnist_dir():
    if not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST not found at {MNIST_DIR}")
    return MNIST_DIR


def tiny_dataset(n_train=40, n_test=20, n_pixels=16, n_classes=3, seed=0):
    """Prototype patterns plus noise: learnable, small, deterministic."""
    from spikegate.data import Dataset

    rng = np.random.default_rng(seed)
    protos = rng.uniform(0, 1, size=(n_classes, n_pixels)) ** 2
    def draw(n):
        y = rng.integers(0, n_classes, size=n)
        x = np.clip(protos[y] + rng.normal(0, 0.1, size=(n, n_pixels)), 0, 1)
        return x, y
    xtr, ytr = draw(n_train)
    xte, yte = draw(n_test)
    return Dataset("tiny", xtr, ytr, xte, yte, n_classes)


#: A small model used across tests (same names and shapes, so Brian2 compiles it once).
TINY_MODEL = {
    "name": "tiny",
    "seed": 3,
    "data": {"source": "npz"},
    "network": {"layers": [16, 3], "dt": "0.5 ms", "t_stim": "30 ms", "w_scale": "3 mV"},
    "input": {"nu_max": "400 Hz"},
    "rule": {"eta": "2 Hz", "eta_hidden": "1 Hz", "tau_e": "100 ms", "nu_target": "200 Hz", "w_max": 6.0},
    "gate": {"name": "lazy"},
    "train": {"epochs": 2, "chunk": 50, "eval_every_epoch": False, "target": "numpy"},
}


def tiny_model_file(tmp_path, epochs):
    """``TINY_MODEL`` on a ``tiny_dataset`` saved beside it, as a model file; its path."""
    import tomli_w

    ds = tiny_dataset()
    np.savez(tmp_path / "tiny.npz", x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test, y_test=ds.y_test)
    model = dict(TINY_MODEL, data={"source": "npz", "path": str(tmp_path / "tiny.npz")},
                 train=dict(TINY_MODEL["train"], epochs=epochs))
    (tmp_path / "model.toml").write_text(tomli_w.dumps(model))
    return tmp_path / "model.toml"


def run_protocol_quick(name, tmp_path, *extra):
    """``experiments/<name>.py`` on the digits model with ``--quick``: it must exit 0 and draw its figure;
    the run's output, its folder and its summary."""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / f"{name}.py"), str(ROOT / "models" / "digits.toml"),
                           "--quick", "--seeds", "1", "--results", str(tmp_path), "--set", "train.target=numpy", *extra],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = tmp_path / name / "digits-quick"
    assert (folder / "figure.png").stat().st_size > 1000
    return proc, folder, json.loads((folder / "summary.json").read_text())
