"""The one training loop: subsets of samples, starting weights, and the atomic files it writes."""
import os

import numpy as np
import pytest

from spikegate import train
from spikegate.errors import DataError, ParameterError
from spikegate.files import atomic_path, write_text

from conftest import tiny_dataset

RATE_MODEL = {"name": "tiny-rate", "seed": 2, "backend": "rate", "data": {"source": "npz"},
              "network": {"layers": [16, 12, 3]}, "rate": {"eta": 0.05, "sigma": 0.2, "dtype": "float64"},
              "gate": {"name": "memorized"}, "train": {"epochs": 3}}


@pytest.fixture(scope="module")
def ds():
    return tiny_dataset(n_train=60, n_test=20)


def test_all_samples_given_explicitly_is_the_default_loop(ds):
    a = train(RATE_MODEL, dataset=ds, progress=False)
    b = train(RATE_MODEL, dataset=ds, progress=False, samples=np.arange(60))
    for name in ("samples", "gate_open", "writes", "sum_abs_dw"):
        np.testing.assert_array_equal(getattr(a.ledger, name), getattr(b.ledger, name))
    for wa, wb in zip(a.final_weights, b.final_weights):
        np.testing.assert_array_equal(wa, wb)
    assert a.ledger.n_gated > 0


def test_a_subset_is_presented_once_per_epoch_with_its_own_memory(ds):
    subset = np.arange(0, 60, 3)
    res = train(RATE_MODEL, dataset=ds, progress=False, samples=subset)
    assert res.ledger.n_presentations == 3 * len(subset) and res.metrics["n_train"] == len(subset)
    for epoch in range(3):
        shown = res.ledger.samples[epoch * 20:(epoch + 1) * 20]
        assert sorted(shown) == list(subset)
    # memorized: a sample that was a mistake in an earlier epoch opens the gate in every later one
    first = dict(zip(res.ledger.samples[:20], res.ledger.mistake[:20]))
    later = res.ledger.samples[20:][res.ledger.gate_open[20:]]
    assert {s for s, m in first.items() if m} <= set(later.tolist())


def test_training_continues_from_given_weights(ds):
    subset = np.arange(30)
    first = train(RATE_MODEL, dataset=ds, progress=False, samples=subset, overrides=["train.epochs=1"])
    second = train(RATE_MODEL, dataset=ds, progress=False, samples=subset, overrides=["train.epochs=1"],
                   initial_weights=first.final_weights)
    for w0, w1 in zip(second.initial_weights, first.final_weights):
        np.testing.assert_array_equal(w0, w1)
    # the ledger's minimum cost is measured from the given start, not from the random one
    expected = sum(np.abs(a - b).sum() for a, b in zip(second.final_weights, first.final_weights))
    assert second.metrics["m_min"] == pytest.approx(expected, rel=1e-12)
    assert second.ledger.n_gated < first.ledger.n_gated   # it knows the samples already


@pytest.mark.parametrize("kwargs, error, message", [
    ({"samples": [1, 2, 2]}, DataError, "samples: an index repeats"),
    ({"samples": [0, 60]}, DataError, r"samples: indices must be in \[0, 59\]"),
    ({"samples": []}, DataError, "samples: expected a non-empty list"),
    ({"initial_weights": [np.zeros((12, 17))]}, DataError, "initial_weights: 1 arrays for 2 projections"),
    ({"initial_weights": [np.zeros((12, 16)), np.zeros((3, 13))]}, ParameterError,
     r"weights of projection 0: shape \(12, 16\), expected \(12, 17\)"),
])
def test_bad_samples_and_weights(ds, kwargs, error, message):
    with pytest.raises(error, match=message):
        train(RATE_MODEL, dataset=ds, progress=False, **kwargs)


def test_atomic_path_leaves_nothing_on_failure_and_replaces_files_whole(tmp_path):
    target = tmp_path / "out" / "result.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert not target.exists() and os.listdir(tmp_path / "out") == []
    write_text(target, "first")
    write_text(target, "second")
    assert target.read_text() == "second" and os.listdir(tmp_path / "out") == ["result.txt"]
    run = tmp_path / "run"
    with atomic_path(run, directory=True) as tmp:
        (tmp / "a.txt").write_text("a")
        assert not run.exists()
    assert (run / "a.txt").read_text() == "a"
    with pytest.raises(DataError, match="cannot write"):
        with atomic_path(run, directory=True) as tmp:  # a directory is never replaced
            (tmp / "b.txt").write_text("b")
    assert sorted(os.listdir(tmp_path)) == ["out", "run"] and os.listdir(run) == ["a.txt"]
