"""Parameter scans: validation before running, resume, SIGKILL, failures, two scans on one store, Dask."""
import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from spikegate.cli import main
from spikegate.scan import PointLock, Store, aggregate, collect, load_scan, mean_sem, plot_axis, plot_heatmap, read_csv

from conftest import ROOT, TINY_MODEL, tiny_dataset

HUGE_CHUNK = 10 ** 15  # a valid config, but the classifier refuses it when it is built: the point fails at run time


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("scan_tiny")
    ds = tiny_dataset()
    np.savez(d / "tiny.npz", x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test, y_test=ds.y_test)
    model = dict(TINY_MODEL, data={"source": "npz", "path": str(d / "tiny.npz")},
                 train=dict(TINY_MODEL["train"], epochs=1))
    (d / "tiny.toml").write_text(tomli_w.dumps(model))
    return d


FAIL_SCAN = {"model": "tiny.toml", "seeds": [1, 2],
             "zip": {"gate.name": ["always", "lazy", "trace"], "train.chunk": [50, 50, HUGE_CHUNK]}}


@pytest.fixture(scope="module")
def fail_store(tiny, tmp_path_factory):
    """The 6-point scan above (2 of its points fail), run once with one local worker."""
    scan = write_scan(tiny / "fail.toml", FAIL_SCAN)
    store = tmp_path_factory.mktemp("fail") / "store"
    args = ["scan", str(scan), "--store", str(store), "--workers", "1", "--no-progress"]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return store, args, code, out.getvalue(), err.getvalue()


def write_scan(path, content):
    path.write_text(tomli_w.dumps(content))
    return path


def run_cli(args, capsys):
    code = main(args)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def finished(store):
    return sorted(p.name for p in (Path(store) / "points").iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / "metrics.json").exists())


def test_points_resolved_hashed_and_stable(tiny):
    content = {"model": "tiny.toml", "seeds": [1, 2],
               "set": {"train": {"chunk": 40}},
               "grid": {"gate.name": ["always", "lazy", "trace"]},
               "random": {"gate": {"tau_mem": {"low": 1, "high": 100, "n": 3, "log": True}},
                          "rule.tau_e": {"low": 50, "high": 150, "n": 2, "unit": "ms"}},
               "zip": [{"rule.eta": ["1 Hz", "2 Hz"], "rule.eta_hidden": ["0.5 Hz", "1 Hz"]}]}
    scan = load_scan(write_scan(tiny / "s.toml", content))
    # gate.tau_mem applies to the trace gate only: always and lazy points are trained once per
    # combination of the other axes, not once per tau_mem value (issue 10)
    assert len(scan.points) == 2 * (1 + 1 + 3) * 2 * 2 == 40 and scan.duplicates == 72 - 40
    assert scan.keys == ["gate.name", "gate.tau_mem", "rule.tau_e", "rule.eta", "rule.eta_hidden", "seed"]
    hashes = [p.hash for p in scan.points]
    assert len(set(hashes)) == 40
    for p in scan.points:
        assert p.hash == hashlib.sha256(p.config_toml.encode()).hexdigest()[:16]
        assert ("gate.tau_mem" in p.params) == (p.params["gate.name"] == "trace")
        assert ("tau_mem" in p.config_toml) == (p.params["gate.name"] == "trace")
    # seeds are the outermost axis; zipped keys step together
    assert [p.params["seed"] for p in scan.points[:20]] == [1] * 20
    assert {(p.params["rule.eta"], p.params["rule.eta_hidden"]) for p in scan.points} == {("1 Hz", "0.5 Hz"),
                                                                                        ("2 Hz", "1 Hz")}
    taus = sorted({p.params["gate.tau_mem"] for p in scan.points if "gate.tau_mem" in p.params})
    assert len(taus) == 3 and 1 <= taus[0] < taus[-1] <= 100
    tau_e = sorted({p.params["rule.tau_e"] for p in scan.points})
    assert len(tau_e) == 2 and all(t.endswith(" ms") and 50 <= float(t.split()[0]) <= 150 for t in tau_e)
    assert all('chunk = 40' in p.config_toml for p in scan.points)
    # same file, same points: a rerun finds its own run directories
    again = load_scan(tiny / "s.toml")
    assert [p.hash for p in again.points] == hashes and [p.params for p in again.points] == [p.params for p in
                                                                                             scan.points]


def test_gate_parameters_apply_where_read_and_each_point_trains_once(tiny, tmp_path, capsys):
    scan = write_scan(tiny / "cross.toml", {"model": "tiny.toml", "seeds": [1],
                                            "grid": {"gate.name": ["lazy", "trace"], "gate.tau_mem": [2, 5]}})
    points = load_scan(scan).points
    assert sorted(p.label() for p in points) == ["gate.name=lazy seed=1", "gate.name=trace gate.tau_mem=2 seed=1",
                                                 "gate.name=trace gate.tau_mem=5 seed=1"]
    store = tmp_path / "store"
    code, out, err = run_cli(["scan", str(scan), "--store", str(store), "--workers", "1", "--no-progress"], capsys)
    assert code == 0, err
    assert "3 points: 0 already finished, 3 trained, 0 failed" in out
    code, out, err = run_cli(["collect", str(store), "-o", str(tmp_path / "rows.csv")], capsys)
    assert code == 0 and "3 finished points" in out
    rows = read_csv(tmp_path / "rows.csv")
    assert sorted((r["gate.name"], r["gate.tau_mem"]) for r in rows) == [("lazy", None), ("trace", 2), ("trace", 5)]


def test_a_gate_parameter_no_gate_reads_is_an_error(tiny, tmp_path, capsys):
    scan = write_scan(tmp_path / "unread.toml", {"model": str(tiny / "tiny.toml"),
                                                 "grid": {"gate.name": ["lazy", "trace"], "gate.min_margin": [2, 3]}})
    code, out, err = run_cli(["scan", str(scan), "--store", str(tmp_path / "s"), "--no-progress"], capsys)
    assert code == 2 and "gate.min_margin: not read by any gate of the scan (lazy, trace)" in err, err
    assert not (tmp_path / "s").exists()


BAD = [
    ({"grid": {"network.colour": ["red"]}}, "[grid] network.colour: unknown config key 'network.colour'"),
    ({"grid": {"gate.name": []}}, "[grid] gate.name: empty axis"),
    ({"seeds": []}, "seeds: empty axis"),
    ({"random": {"rule.eta": {"low": 1, "high": 2, "n": 0, "unit": "Hz"}}}, "empty axis (n = 0)"),
    ({"set": {"data.n_train": -5}}, "data.n_train = -5: must be >= 1"),
    ({"grid": {"gate.name": ["lazy", "sometimes"]}},
     "point {gate.name='sometimes'}: gate.name = 'sometimes': unknown; allowed: always, lazy"),
    ({"set": {"data.n_train": 41}}, "data.n_train = 41: must be in [1, 40]"),
    ({"grid": {"rule.eta": ["1 Hz", "2 parsecs"]}}, "rule.eta = '2 parsecs': unknown unit 'parsecs'"),
    ({"zip": {"rule.eta": ["1 Hz", "2 Hz"], "gate.name": ["lazy"]}}, "[zip]: lists of different lengths"),
    ({"grids": {"gate.name": ["lazy"]}}, "unknown key 'grids'; allowed: model, name, seeds"),
    ({"set": {"seed": 2}, "seeds": [1]}, "'seed' is both fixed ([set]) and swept"),
    ({"model": "nowhere.toml"}, "model = 'nowhere.toml': not found"),
]


@pytest.mark.parametrize("extra, message", BAD)
def test_bad_scan_file_exit_2_before_running(extra, message, tiny, tmp_path, capsys):
    scan = write_scan(tmp_path / "bad.toml", {"model": str(tiny / "tiny.toml"), **extra})
    store = tmp_path / "store"
    code, out, err = run_cli(["scan", str(scan), "--store", str(store), "--no-progress"], capsys)
    assert code == 2
    err = err.strip()
    assert err.startswith(f"spikegate: error: scan file {scan}: ") and message in err, err
    assert "\n" not in err and "Traceback" not in err
    assert not store.exists()


def test_failures_recorded_resume_skips_and_collect(fail_store, tmp_path, capsys):
    store, args, code, out, err = fail_store
    assert code == 1, err
    assert "6 points: 0 already finished, 4 trained, 2 failed" in out
    assert err.count("\nfailed: ") == 2 and "GatedClassifier.chunk = 1000000000000000: must be >= 1 and <= 1000" in err
    done = finished(store)
    assert len(done) == 4
    for h in done:  # the run directory is named after its own config
        text = (store / "points" / h / "config.toml").read_text()
        assert hashlib.sha256(text.encode()).hexdigest()[:16] == h
    errors = sorted((store / "points").glob("*.error.json"))
    assert len(errors) == 2
    records = [json.loads(e.read_text()) for e in errors]
    assert {r["params"]["gate.name"] for r in records} == {"trace"}
    assert {r["params"]["seed"] for r in records} == {1, 2}
    assert all(r["type"] == "ParameterError" and "ParameterError" in r["traceback"] for r in records)
    assert not list((store / "points").glob("*.lock")) and not list((store / "points").glob(".*partial*"))
    manifest = json.loads((store / "scan.json").read_text())
    assert manifest["keys"] == ["gate.name", "train.chunk", "seed"] and len(manifest["points"]) == 6

    # rerun: finished points are not touched, failed ones are retried (and fail again)
    mtimes = {h: (store / "points" / h / "metrics.json").stat().st_mtime_ns for h in done}
    code, out, err = run_cli(args, capsys)
    assert code == 1 and "6 points: 4 already finished, 0 trained, 2 failed" in out, out + err
    assert {h: (store / "points" / h / "metrics.json").stat().st_mtime_ns for h in done} == mtimes

    # collect: one row per finished point with the swept keys and the scalar metrics
    rows, columns = collect(store)
    assert len(rows) == 4 and len({r["point"] for r in rows}) == 4
    assert {(r["gate.name"], r["seed"]) for r in rows} == {(g, s) for g in ("always", "lazy") for s in (1, 2)}
    for col in ("gate.name", "train.chunk", "seed", "test_accuracy", "n_writes", "sum_abs_dw",
                "n_gated_presentations", "wall_seconds"):
        assert col in columns
    for r in rows:
        m = json.loads((store / "points" / r["point"] / "metrics.json").read_text())
        assert r["n_writes"] == m["n_writes"] > 0 and r["test_accuracy"] == m["test_accuracy"]
        assert r["n_gated_presentations"] == (40 if r["gate.name"] == "always" else m["n_gated_presentations"])
    lazy = [r for r in rows if r["gate.name"] == "lazy"]
    always = [r for r in rows if r["gate.name"] == "always"]
    assert all(r["n_gated_presentations"] < 40 for r in lazy)

    code, out, err = run_cli(["collect", str(store), "-o", str(tmp_path / "res.csv"), "--plot", "seed",
                              "test_accuracy", "--heatmap", "gate.name", "seed", "n_writes"], capsys)
    assert code == 0 and "4 finished points (6 listed in scan.json, 2 failed)" in out, out + err
    back = read_csv(tmp_path / "res.csv")
    assert [r["point"] for r in back] == [r["point"] for r in rows]
    assert [r["n_writes"] for r in back] == [r["n_writes"] for r in rows]
    assert (tmp_path / "res_test-accuracy_vs_seed.png").stat().st_size > 1000
    assert (tmp_path / "res_n-writes_gate-name_seed.png").stat().st_size > 1000

    # mean +/- s.e.m. over seeds, one line per gate
    agg = aggregate(rows, x="train.chunk", y="n_writes", hue="gate.name")
    assert set(agg) == {"always", "lazy"}
    (x, mu, sem, n), = agg["lazy"]
    w = np.array([r["n_writes"] for r in lazy], float)
    assert x == 50 and n == 2 and mu == pytest.approx(w.mean()) and sem == pytest.approx(w.std(ddof=1) / np.sqrt(2))
    fig = plot_axis(rows, x="train.chunk", y="n_writes", hue="gate.name")
    assert len(fig.axes[0].get_legend().get_texts()) == 2
    assert agg["always"][0][1] == pytest.approx(np.mean([r["n_writes"] for r in always]))
    fig = plot_heatmap(rows, x="gate.name", y="seed", z="test_accuracy")
    assert fig.axes[0].images[0].get_array().shape == (2, 2)


def test_mean_sem():
    assert mean_sem([1.0, 2.0, 3.0, 6.0]) == pytest.approx((3.0, np.std([1, 2, 3, 6], ddof=1) / 2, 4))
    assert mean_sem([5]) == (5.0, 0.0, 1)
    assert mean_sem([None, 2, 4])[:2] == pytest.approx((3.0, 1.0))


def _scan_proc(scan, store, workers=1):
    return subprocess.Popen([sys.executable, "-m", "spikegate.cli", "scan", str(scan), "--store", str(store),
                             "--workers", str(workers), "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def test_sigkill_loses_only_points_in_flight(tiny, tmp_path, capsys):
    scan = write_scan(tiny / "kill.toml", {"model": "tiny.toml", "seeds": [1, 2],
                                           "set": {"train.epochs": 1}, "grid": {"gate.name": ["always", "lazy"]}})
    store = tmp_path / "store"
    proc = _scan_proc(scan, store)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (store / "points").is_dir() and finished(store):
            break
        time.sleep(0.05)
    first = finished(store)
    proc.kill()  # SIGKILL: no cleanup in the scan process
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert 1 <= len(first) < 4, first
    # the worker notices that its parent is gone and exits: nothing more gets written
    time.sleep(1.5)
    after_kill = finished(store)
    time.sleep(1.5)
    assert finished(store) == after_kill and len(after_kill) < 4
    mtime = (store / "points" / first[0] / "metrics.json").stat().st_mtime_ns
    todo = [p.hash for p in load_scan(scan).points if p.hash not in after_kill]
    stale = store / "points" / f".{todo[0]}.partial-killed"
    stale.mkdir()
    (stale / "metrics.json").write_text("{}")

    code, out, err = run_cli(["scan", str(scan), "--store", str(store), "--workers", "1", "--no-progress"], capsys)
    assert code == 0, err
    assert f"4 points: {len(after_kill)} already finished, {4 - len(after_kill)} trained, 0 failed" in out
    rows, _ = collect(store)
    assert len(rows) == 4 and len({r["point"] for r in rows}) == 4
    assert sorted((r["gate.name"], r["seed"]) for r in rows) == sorted((g, s) for g in ("always", "lazy")
                                                                       for s in (1, 2))
    assert (store / "points" / first[0] / "metrics.json").stat().st_mtime_ns == mtime
    assert not stale.exists() and not list((store / "points").glob(".*partial*"))
    assert not list((store / "points").glob("*.lock"))


def test_a_point_that_kills_its_worker_fails_alone(tiny, tmp_path):
    """A CPU limit (SIGXCPU) kills the worker of the one long point: it is retried in a fresh
    worker, then failed; the other points finish."""
    import resource

    scan = write_scan(tiny / "cpu.toml", {"model": "tiny.toml", "seeds": [1],
                                          "zip": {"gate.name": ["always", "lazy", "memorized", "trace"],
                                                  "train.epochs": [20000, 1, 1, 1]}})
    store = tmp_path / "store"

    def cpu_limit():   # inherited by the spawned workers: each may use 20 CPU seconds
        resource.setrlimit(resource.RLIMIT_CPU, (20, 30))

    proc = subprocess.run([sys.executable, "-m", "spikegate.cli", "scan", str(scan), "--store", str(store),
                           "--workers", "2", "--max-attempts", "2", "--no-progress"], capture_output=True,
                          text=True, cwd=ROOT, preexec_fn=cpu_limit, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "4 points: 0 already finished, 3 trained, 1 failed" in proc.stdout
    failed = [line for line in proc.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 1 and "gate.name=always" in failed[0], proc.stderr[-2000:]
    assert "worker process died (killed by SIGXCPU) 2 time(s) while training this point" in failed[0]
    assert len(finished(store)) == 3


def test_a_planted_symlink_lock_is_not_followed(tiny, tmp_path, capsys):
    scan = write_scan(tiny / "link.toml", {"model": "tiny.toml", "seeds": [1]})
    store = tmp_path / "store"
    (store / "points").mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, store / "points" / f"{load_scan(scan).points[0].hash}.lock")
    code, out, err = run_cli(["scan", str(scan), "--store", str(store), "--workers", "1", "--no-progress"], capsys)
    assert code == 1 and "cannot open the lock file" in err and "a symbolic link is never followed" in err, err
    assert victim.read_text() == "precious"


def test_truncated_points_are_reported_by_collect_and_trained_again(tiny, tmp_path, capsys):
    scan = write_scan(tiny / "trunc.toml", {"model": "tiny.toml", "seeds": [1, 2]})
    store = tmp_path / "store"
    args = ["scan", str(scan), "--store", str(store), "--workers", "1", "--no-progress"]
    assert run_cli(args, capsys)[0] == 0
    h1, h2 = (p.hash for p in load_scan(scan).points)
    (store / "points" / h1 / "metrics.json").write_text("")          # a crash before the data reached the disk
    (store / "points" / h2 / "config.toml").write_text("seed = 99\n")  # not the point's configuration
    skipped = []
    rows, _ = collect(store, on_skip=lambda h, reason: skipped.append((h, reason)))
    assert rows == [] and sorted(skipped) == sorted([(h1, "metrics.json unreadable (Expecting value: line 1 column 1 (char 0))"),
                                                     (h2, f"config.toml does not hash to {h2}")])
    code, out, err = run_cli(["collect", str(store)], capsys)
    assert code == 0 and "0 finished points" in out and err.count("spikegate: warning: point ") == 2, err
    code, out, err = run_cli(args, capsys)
    assert code == 0 and "2 points: 0 already finished, 2 trained, 0 failed" in out, out + err
    assert len(collect(store)[0]) == 2 and len(list((store / "points").glob("*.corrupt-*"))) == 2


def test_point_held_by_another_scan_is_not_run_twice(tiny, tmp_path, capsys):
    scan = write_scan(tiny / "held.toml", {"model": "tiny.toml", "seeds": [1, 2],
                                           "grid": {"gate.name": ["always", "lazy"]}})
    points = load_scan(scan).points
    store = Store(tmp_path / "store")
    store.points.mkdir(parents=True)
    h0 = points[0].hash
    other = PointLock(store.lock_path(h0))  # "another scan" is training the first point
    assert other.acquire()
    assert not PointLock(store.lock_path(h0)).acquire()  # a second holder is refused
    result = {}
    scan_thread = threading.Thread(target=lambda: result.update(code=main(
        ["scan", str(scan), "--store", str(store.root), "--workers", "1", "--no-progress"])))
    scan_thread.start()
    deadline = time.time() + 300
    while len(finished(store.root)) < 3 and time.time() < deadline and scan_thread.is_alive():
        time.sleep(0.1)
    time.sleep(1.0)
    assert finished(store.root) == sorted(p.hash for p in points[1:])  # the held point was left alone
    assert scan_thread.is_alive()  # ... and is waited for
    # the other scan finishes its point (atomically, as train() does) and lets go
    tmp = store.points / f".{h0}.partial-other"
    shutil.copytree(store.run_dir(points[1].hash), tmp)
    (tmp / "config.toml").write_text(points[0].config_toml)
    os.rename(tmp, store.run_dir(h0))
    marker = (store.run_dir(h0) / "metrics.json").stat().st_mtime_ns
    other.release()
    scan_thread.join(timeout=120)
    assert result.get("code") == 0, capsys.readouterr().err[-2000:]
    out = capsys.readouterr().out
    assert "4 points: 1 already finished, 3 trained, 0 failed" in out, out
    assert (store.run_dir(h0) / "metrics.json").stat().st_mtime_ns == marker  # not trained a second time
    assert len(collect(store)[0]) == 4


def test_dask_local_cluster(tiny, fail_store, tmp_path, capsys):
    pytest.importorskip("distributed")
    scan = write_scan(tiny / "dask.toml", dict(FAIL_SCAN, seeds=[2]))
    store = tmp_path / "store"
    args = ["scan", str(scan), "--store", str(store), "--dask-local", "1", "--no-progress"]
    code, out, err = run_cli(args, capsys)
    assert code == 1, err[-3000:]
    assert "3 points: 0 already finished, 2 trained, 1 failed" in out
    rows, _ = collect(store)
    assert sorted(r["gate.name"] for r in rows) == ["always", "lazy"]
    assert all(r["n_writes"] > 0 for r in rows)
    rec = json.loads(next((store / "points").glob("*.error.json")).read_text())
    assert rec["params"]["gate.name"] == "trace" and rec["type"] == "ParameterError"
    assert rec["pid"] != os.getpid()  # ran in a Dask worker process
    # same configs as the seed-2 points of the local scan: same directories, same numbers
    local = {r["point"]: r for r in collect(fail_store[0])[0]}
    for r in rows:
        assert (r["n_writes"], r["test_accuracy"], r["sum_abs_dw"]) == \
            (local[r["point"]]["n_writes"], local[r["point"]]["test_accuracy"], local[r["point"]]["sum_abs_dw"])


def test_plot_axes_carry_the_units_of_the_values():
    rows = [{"rule.eta": f"{eta} Hz", "network.t_stim": "50 ms", "seed": s, "gate.name": "lazy",
             "test_accuracy": 0.8 + 0.01 * s, "train_seconds": 2.0 + s}
            for eta in (0.25, 0.5) for s in (1, 2)]
    ax = plot_axis(rows, x="rule.eta", y="train_seconds").axes[0]
    assert ax.get_xlabel() == "rule.eta (Hz)" and ax.get_ylabel() == "train_seconds (s), mean ± s.e.m., n=2"
    fig = plot_heatmap(rows, x="rule.eta", y="network.t_stim", z="test_accuracy")
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("rule.eta (Hz)", "network.t_stim (ms)")
    assert fig.axes[1].get_ylabel() == "test_accuracy, mean"     # the colour bar
