"""Slow reproductions of the README's MNIST results (run with ``pytest -m slow``).

Each trains on the first 10,000 MNIST training images for 2 epochs and tests on all
10,000 test images, as in the README's results table.
"""
import pytest

from spikegate.training import train

from conftest import ROOT

OVERRIDES = ["data.n_train=10000", "train.epochs=2"]


def run(model, gate, mnist_dir):
    return train(str(ROOT / "models" / f"{model}.toml"), gate=gate, overrides=OVERRIDES, data_dir=mnist_dir,
                 progress=False).metrics


@pytest.mark.slow
@pytest.mark.parametrize("model, floor", [("mnist-1layer", 0.85), ("mnist-2layer", 0.90)])
def test_mnist_accuracy_and_gate_savings(model, floor, mnist_dir):
    always = run(model, "always", mnist_dir)
    assert always["test_accuracy"] >= floor
    for gate in ("lazy", "memorized"):
        m = run(model, gate, mnist_dir)
        assert m["test_accuracy"] >= always["test_accuracy"] - 0.015
        assert m["n_writes"] <= 0.5 * always["n_writes"]
