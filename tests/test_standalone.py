"""The compiled engine (cpp_standalone): builds once, runs chunks with run arguments, writes what its ledger says."""
import json

import numpy as np
import pytest

from spikegate import Always, train
from spikegate.config import resolve

from conftest import ROOT, tiny_dataset

#: A tiny spiking model on digits' 64 inputs: a 64-10 network, a few presentations per run.
MODEL = str(ROOT / "models" / "digits.toml")
TINY = ["data.n_train=24", "data.n_test=12", "train.epochs=2", "train.chunk=8", "train.device=cpp_standalone"]


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """One StandaloneClassifier of the digits network (64-10), compiled once for the module."""
    from spikegate.backends.standalone import StandaloneClassifier

    cfg = resolve(MODEL, TINY)
    ds = tiny_dataset(n_train=24, n_pixels=64, n_classes=10)
    clf = StandaloneClassifier(cfg.spec, Always(), ds.x_train, seed=3, chunk=8,
                               directory=tmp_path_factory.mktemp("standalone") / "project")
    return clf, ds


def test_writes_equal_an_independent_weight_diff(standalone):
    """One presentation per run: the ledger's writes and sum |dw| are the change of the weights it returns."""
    clf, ds = standalone
    checked = 0
    for s in range(6):
        before = clf.weights(0)
        log = clf.present([s], ds.y_train[s:s + 1])
        diff = np.abs(clf.weights(0) - before)
        assert log.writes[0, 0] == np.count_nonzero(diff)
        assert log.sum_abs_dw[0, 0] == pytest.approx(diff.sum(), rel=1e-9)
        checked += log.writes[0, 0]
    assert checked > 100 and clf.runs >= 6


def test_weights_go_in_and_testing_writes_nothing(standalone):
    clf, ds = standalone
    W = np.full((64, 10), 0.5)
    clf.set_weights(0, W)
    log = clf.present(np.arange(12), ds.y_train[:12], learn=False)
    np.testing.assert_array_equal(clf.weights(0), W)
    assert log.writes.sum() == 0 and not log.gate_open.any() and log.trace_updates.sum() > 0
    assert log.counts.shape == (12, 10) and log.counts.sum() > 0     # uniform weights drive every output
    with pytest.raises(Exception, match=r"weights of projection 0: shape \(3, 3\), expected \(64, 10\)"):
        clf.set_weights(0, np.zeros((3, 3)))


def test_a_training_is_reproducible_and_the_second_compiles_nothing(tmp_path):
    runs = [train(MODEL, gate="lazy", overrides=TINY, out=tmp_path / f"run{k}", progress=False) for k in range(2)]
    a, b = (json.loads((r.run_dir / "metrics.json").read_text()) for r in runs)
    for key in ("test_accuracy", "n_writes", "sum_abs_dw", "n_gated_presentations", "train_accuracy", "m_min"):
        assert a[key] == b[key], key
    assert a["device"] == "cpp_standalone" and a["n_writes"] > 0
    # the second training found the binary built: code generation only, no compiler
    assert b["compile_seconds"] < 0.5 * a["compile_seconds"] or a["compile_seconds"] < 8
    assert a["train_seconds"] < a["wall_seconds"] and b["train_seconds"] < b["wall_seconds"]
    np.testing.assert_array_equal(runs[0].final_weights[0], runs[1].final_weights[0])


def test_the_engine_refuses_a_test_window():
    from spikegate.errors import ConfigError, ParameterError

    with pytest.raises((ConfigError, ParameterError), match="network.t_test: the compiled engine tests with the training"):
        train(MODEL, overrides=TINY + ["network.t_test='100 ms'"], progress=False)


@pytest.mark.parametrize("runner", [{"workers": 2}, {"dask_local": 1}])
def test_scan_workers_share_the_binary_and_learn_what_one_process_learns(tmp_path, runner):
    """Points trained by scan worker processes (local or Dask), each running the one compiled
    binary with its own results directory, equal the same trainings in this process."""
    if "dask_local" in runner:
        pytest.importorskip("distributed")
    from spikegate.scan import collect, load_scan, run_scan

    fixed = dict(o.split("=", 1) for o in TINY)
    scan = load_scan({"model": MODEL, "seeds": [4, 5], "set": fixed, "grid": {"gate.name": ["lazy"]}})
    report = run_scan(scan, tmp_path / "store", progress=False, log=lambda line: None, **runner)
    assert not report.failures, report.failures
    rows = {r["seed"]: r for r in collect(tmp_path / "store")[0]}
    for seed in (4, 5):
        here = train(MODEL, gate="lazy", overrides=TINY + [f"seed={seed}"], out=tmp_path / f"here{seed}",
                     progress=False).metrics
        for key in ("test_accuracy", "n_writes", "sum_abs_dw", "n_gated_presentations"):
            assert rows[seed][key] == here[key], (seed, key)
        assert rows[seed]["device"] == "cpp_standalone"


def test_training_leaves_brian2_as_it_found_it(monkeypatch):
    """Device, code-generation target and every other preference are restored after train()."""
    import brian2 as b2

    monkeypatch.setitem(b2.prefs, "codegen.target", "auto")   # Brian2's default, not the runs' target
    prefs = {k: b2.prefs[k] for k in b2.prefs}
    device = b2.get_device()
    train(MODEL, overrides=TINY, progress=False)
    train(MODEL, overrides=TINY[:-1] + ["train.target=numpy", "train.epochs=1"], progress=False)
    assert b2.get_device() is device
    assert {k: b2.prefs[k] for k in b2.prefs} == prefs


def test_folders_of_dead_processes_are_removed_and_no_others(tmp_path):
    import os
    import subprocess
    import sys

    from spikegate.backends.standalone import process_folder, remove_process_folders

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    names = [process_folder("run-args", int(dead)), process_folder("results", int(dead)),
             process_folder("run-args"), process_folder("results"),         # this process: alive
             f"run-args-otherhost-{dead}", "results", "static_arrays"]      # another host's; Brian2's own
    for n in names:
        (tmp_path / n).mkdir()
    remove_process_folders(tmp_path, only_dead=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])
    remove_process_folders(tmp_path, pid=os.getpid())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[4:])
