"""Slow reproductions of the README's claims (run with ``pytest -m slow``).

They run the gate-comparison protocol (every gate, several seeds, the training window as the
test window) through the library's own scan, on two local workers.
"""
import statistics

import pytest

from spikegate.scan import collect, load_scan, run_scan

from conftest import ROOT


def protocol(model, tmp_path, seeds, grid, overrides=(), mnist_dir=None):
    fixed = dict(overrides)
    if mnist_dir is not None:
        fixed["data.dir"] = str(mnist_dir)
    scan = load_scan({"model": str(ROOT / "models" / f"{model}.toml"), "seeds": list(seeds), "set": fixed,
                      "grid": grid})
    report = run_scan(scan, tmp_path / "store", workers=2, progress=False, log=lambda line: None)
    assert not report.failures, report.failures
    return collect(tmp_path / "store")[0]


def paired(rows, key, gate, base="always"):
    """Per-seed differences (points) and write fractions of ``gate`` against ``base``."""
    by = {(r[key], r["seed"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    diff = [100 * (by[(gate, s)]["test_accuracy"] - by[(base, s)]["test_accuracy"]) for s in seeds]
    frac = [by[(gate, s)]["n_writes"] / by[(base, s)]["n_writes"] for s in seeds]
    return statistics.mean(diff), statistics.mean(frac)


def digits_means(tmp_path, key, values) -> dict:
    """Mean test accuracy of digits (gate ern, seeds 1-3) for each value of ``key``; printed for the README."""
    rows = protocol("digits", tmp_path, [1, 2, 3], {key: list(values)})
    mean = {v: statistics.mean(r["test_accuracy"] for r in rows if r[key] == v) for v in values}
    print(f"\ndigits, gate ern, seeds 1-3, {key}: test accuracy {mean}")
    return mean


# The README's protocol (compiled engine). Where the bar is not met, the test says so: strict
# xfail, so that meeting it later turns the test into a failure that asks to update the README.
MISSED_BAR = pytest.mark.xfail(strict=True, reason="bar not met (README, Results)")


@pytest.mark.slow
@pytest.mark.parametrize("model", [pytest.param("mnist-1layer", marks=MISSED_BAR), "mnist-2layer"])
def test_mnist_protocol_ern_within_one_point_with_half_the_writes(model, mnist_dir, tmp_path):
    rows = protocol(model, tmp_path, [1, 2, 3], {"gate.name": ["always", "ern"]},
                    {"data.n_train": 10000, "train.epochs": 2, "train.device": "cpp_standalone"}.items(), mnist_dir)
    diff, frac = paired(rows, "gate.name", "ern")
    assert diff >= -1.0 and frac <= 0.5, (diff, frac)


@pytest.mark.slow
@MISSED_BAR
def test_digits_ern_within_one_point_with_sixty_percent_of_the_writes(tmp_path):
    rows = protocol("digits", tmp_path, [1, 2, 3, 4, 5], {"gate.name": ["always", "ern"]},
                    {"train.device": "cpp_standalone"}.items())
    diff, frac = paired(rows, "gate.name", "ern")
    assert diff >= -1.0 and frac <= 0.6, (diff, frac)


@pytest.mark.slow
@MISSED_BAR   # seeds 1-3: 2.14 points apart; over seeds 1-8 0.21 +- 2.05 (README, Models): seed noise
def test_accuracy_converges_in_dt(tmp_path):
    """The same model at dt 0.1 ms and 0.5 ms: mean test accuracies (3 seeds) within 2 points."""
    mean = digits_means(tmp_path, "network.dt", ["0.1 ms", "0.5 ms"])
    assert abs(mean["0.1 ms"] - mean["0.5 ms"]) <= 0.02, mean


@pytest.mark.slow
def test_runtime_and_compiled_engines_learn_alike(tmp_path):
    """The compiled engine draws other spike trains but learns the same: digits, 3 seeds, within 1.5 points."""
    mean = digits_means(tmp_path, "train.device", ["runtime", "cpp_standalone"])
    assert abs(mean["runtime"] - mean["cpp_standalone"]) <= 0.015, mean


@pytest.mark.slow
def test_mnist_full_learns_to_94_5_percent_in_one_epoch(mnist_dir, tmp_path):
    """Guards the full-scale result on a subset of its training: the first epoch of mnist-full
    (README, "At full scale": 95.76 % and 95.15 % after epoch 1, 97.28 % after 8), gate always,
    seeds 1-2 on two workers, about 15 minutes."""
    rows = protocol("mnist-full", tmp_path, [1, 2], {"gate.name": ["always"]}, {"train.epochs": 1}.items(), mnist_dir)
    mean = statistics.mean(r["test_accuracy"] for r in rows)
    assert mean >= 0.945, [r["test_accuracy"] for r in rows]
