"""The compiled engine (cpp_standalone): builds once, runs chunks with run arguments, writes what its ledger says."""
import json

import numpy as np
import pytest

from spikegate import Always, train
from spikegate.config import resolve

from conftest import ROOT, tiny_dataset

#: A tiny spiking model on digits' 64 inputs: a 64-10 network, a few presentations per run.
MODEL = str(ROOT / "models" / "digits.toml")
#: finite-precision synapses (6 bits, stochastic rounding): the engine's write rounds onto codes
TINY = ["data.n_train=24", "data.n_test=12", "train.epochs=2", "train.chunk=8", "train.device=cpp_standalone",
        "synapse.bits=6", "synapse.rounding=stochastic"]


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """One StandaloneClassifier of the digits network (64-10), compiled once for the module into a
    cache of its own (``SPIKEGATE_CACHE``, for the module), where every training of TINY finds it."""
    import os

    from spikegate.backends.spiking import StandaloneClassifier

    import subprocess
    import sys

    old = os.environ.get("SPIKEGATE_CACHE")
    os.environ["SPIKEGATE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    cfg = resolve(MODEL, TINY)
    ds = tiny_dataset(n_train=24, n_pixels=64, n_classes=10)
    # built by a process of its own: in this one, other tests' Brian2 objects would give the
    # generated code objects other names than a fresh process gives them
    subprocess.run([sys.executable, "-m", "spikegate.cli", "train", MODEL, *[a for o in TINY for a in ("--set", o)],
                    "--set", "train.epochs=1", "--out", str(tmp_path_factory.mktemp("first") / "run"), "--no-progress"],
                   check=True, capture_output=True, timeout=600)
    try:
        yield StandaloneClassifier(cfg.spec, Always(), ds.x_train, seed=3, chunk=8), ds
    finally:
        os.environ.pop("SPIKEGATE_CACHE") if old is None else os.environ.__setitem__("SPIKEGATE_CACHE", old)


def test_writes_equal_an_independent_weight_diff(standalone):
    """One presentation per run: the ledger's writes and bits flipped are the changed codes of the
    weights it returns (and their Hamming distances), sum |dw| the change of the stored weights."""
    from spikegate.model.synapse import bit_flips, codes_of

    clf, ds = standalone
    fmt, w_max = clf.spec.synapse, clf.spec.rule.w_max
    checked = 0
    for s in range(6):
        before = clf.weights(0)
        log = clf.present([s], ds.y_train[s:s + 1])
        after = clf.weights(0)
        old, new = codes_of(before, fmt.bits, w_max), codes_of(after, fmt.bits, w_max)
        np.testing.assert_array_equal((new - 2 ** (fmt.bits - 1)) * (w_max / 2 ** (fmt.bits - 1)), after)  # on the grid
        assert log.writes[0, 0] == np.count_nonzero(new != old)
        assert log.bits_flipped[0, 0] == bit_flips(old, new).sum()
        assert log.sum_abs_dw[0, 0] == pytest.approx(np.abs(after - before).sum(), rel=1e-9)
        checked += log.writes[0, 0]
    assert checked > 50 and clf.runs >= 6


def test_float_writes_on_the_compiled_engine_are_changed_doubles(tmp_path, monkeypatch):
    """Float synapses on the compiled engine: a write is a weight whose double changed. Compiled with
    Brian2's -ffast-math, the learning signal of a label neuron exactly at its target came out
    about -5.6e-17 and its writes, changing nothing, were counted (202 of 5,014 here)."""
    from spikegate.backends.spiking import StandaloneClassifier
    from spikegate.data import load_digits

    monkeypatch.setenv("SPIKEGATE_CACHE", str(tmp_path / "cache"))
    ds = load_digits()
    clf = StandaloneClassifier(resolve(MODEL, ["synapse.bits=0"]).spec, Always(), ds.x_train, seed=1, chunk=8)
    clf.present(np.arange(1400), ds.y_train[:1400])
    logged = changed = 0
    for s in range(60):
        before = clf.weights(0)
        logged += int(clf.present([s], ds.y_train[s:s + 1]).writes.sum())
        changed += int(np.count_nonzero(clf.weights(0) != before))
    assert logged == changed and changed > 300


def test_weights_go_in_and_testing_writes_nothing(standalone):
    clf, ds = standalone
    W = np.full((64, 10), 0.5)
    clf.set_weights(0, W)
    log = clf.present(np.arange(12), ds.y_train[:12], learn=False)
    np.testing.assert_array_equal(clf.weights(0), W)
    assert log.writes.sum() == 0 and not log.gate_open.any() and log.trace_updates.sum() > 0
    assert log.outputs.shape == (12, 10) and log.outputs.sum() > 0     # uniform weights drive every output
    with pytest.raises(Exception, match=r"weights of projection 0: shape \(3, 3\), expected \(64, 10\)"):
        clf.set_weights(0, np.zeros((3, 3)))


def test_a_training_is_reproducible_and_the_second_compiles_nothing(standalone, tmp_path):
    runs = [train(MODEL, gate="lazy", overrides=TINY, out=tmp_path / f"run{k}", progress=False) for k in range(2)]
    a, b = (json.loads((r.run_dir / "metrics.json").read_text()) for r in runs)
    for key in ("test_accuracy", "n_writes", "sum_abs_dw", "n_gated_presentations", "train_accuracy", "m_min"):
        assert a[key] == b[key], key
    assert a["device"] == "cpp_standalone" and a["n_writes"] > 0
    # both found the module's build: verified by its checksums, no code generated, nothing compiled
    assert a["compile_seconds"] < 1 and b["compile_seconds"] < 1
    assert a["train_seconds"] < a["wall_seconds"] and b["train_seconds"] < b["wall_seconds"]
    np.testing.assert_array_equal(runs[0].final_weights[0], runs[1].final_weights[0])


def test_a_learning_scale_is_a_run_argument_that_halves_the_rule(standalone):
    """The compiled engine's learning scale 1/2 learns what the rule at half its learning rate
    learns, bit for bit, from the same binary (no rebuild)."""
    from spikegate.backends.spiking import StandaloneClassifier
    from spikegate.units import format_quantity

    clf, ds = standalone
    rule = clf.spec.rule
    half = resolve(MODEL, TINY + [f"rule.eta={format_quantity(rule.eta / 2)}"]).spec
    scaled = StandaloneClassifier(clf.spec, Always(), ds.x_train, seed=7, chunk=8)
    halved = StandaloneClassifier(half, Always(), ds.x_train, seed=7, chunk=8)
    scaled.set_learning_scale(0.5)
    logs = [c.present(np.arange(16), ds.y_train[:16]) for c in (scaled, halved)]
    np.testing.assert_array_equal(logs[0].writes, logs[1].writes)
    np.testing.assert_array_equal(scaled.weights(0), halved.weights(0))
    assert logs[0].writes.sum() > 20 and scaled.directory == halved.directory


def test_the_engine_refuses_a_test_window(standalone):
    from spikegate.errors import ConfigError, ParameterError

    with pytest.raises((ConfigError, ParameterError), match="network.t_test: the compiled engine tests with the training"):
        train(MODEL, overrides=TINY + ["network.t_test='100 ms'"], progress=False)


@pytest.mark.parametrize("runner", [{"workers": 2}, {"dask_local": 1}])
def test_scan_workers_share_the_binary_and_learn_what_one_process_learns(standalone, tmp_path, runner):
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


def test_training_leaves_brian2_as_it_found_it(standalone, monkeypatch):
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

    from spikegate.backends.spiking.cache import process_folder, remove_process_folders

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


# --------------------------------------------------------------------------- the cache heals
def _cache_with_project(standalone, tmp_path):
    """A cache (for ``SPIKEGATE_CACHE``) holding a copy of the module's compiled project where a
    new process of ``spikegate train MODEL TINY`` looks for it."""
    import shutil

    from spikegate.backends.spiking.standalone import structure_key

    clf, _ = standalone
    cache = tmp_path / "cache"
    project = cache / "standalone" / structure_key(resolve(MODEL, TINY).spec, 8, "sg")
    shutil.copytree(clf.directory, project, ignore=shutil.ignore_patterns("results*", "run-args*", ".project.lock"))
    return cache, project


def _cli_train(cache, out, limit_file_size=None):
    """``spikegate train`` of the tiny model in a new process using ``cache``."""
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "spikegate.cli", "train", MODEL, *[a for o in TINY for a in ("--set", o)],
                           "--out", str(out), "--no-progress"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "SPIKEGATE_CACHE": str(cache)}, preexec_fn=limit_file_size)


def test_corrupted_and_foreign_artifacts_are_rebuilt_by_the_next_process(standalone, tmp_path):
    """A corrupted object file, a truncated binary and another program in the binary's place are
    each found by their checksum and built again; each next training learns what an intact one does."""
    from spikegate.backends.spiking.cache import MANIFEST, digest_of

    cache, project = _cache_with_project(standalone, tmp_path)
    proc = _cli_train(cache, tmp_path / "reference")
    assert proc.returncode == 0, proc.stderr[-3000:]
    reference = json.loads((tmp_path / "reference" / "metrics.json").read_text())
    obj = sorted((project / "code_objects").glob("*.o"))[0]
    damages = {"corrupted object file": (obj, lambda: obj.write_bytes(b"\x7fELF" + bytes(64))),
               "truncated binary": (project / "main", lambda: (project / "main").write_bytes(
                   (project / "main").read_bytes()[:4096])),
               "foreign binary": (project / "main", lambda: (project / "main").write_bytes(
                   open("/bin/true", "rb").read()))}
    for k, (name, (target, damage)) in enumerate(damages.items()):
        damage()
        proc = _cli_train(cache, tmp_path / f"run{k}")
        assert proc.returncode == 0, (name, proc.stderr[-3000:])
        metrics = json.loads((tmp_path / f"run{k}" / "metrics.json").read_text())
        for key in ("test_accuracy", "n_writes", "sum_abs_dw", "n_gated_presentations"):
            assert metrics[key] == reference[key], (name, key)
        recorded = json.loads((project / MANIFEST).read_text())["files"]
        assert digest_of(target) == recorded[str(target.relative_to(project))], name


def test_a_binary_replaced_under_a_running_process_is_refused_in_one_line(standalone, tmp_path):
    """A process finds another program in its binary's place between two runs (an exit code of 0
    and no results): refused with EngineError, not results read from an earlier run."""
    import subprocess
    import sys

    cache, project = _cache_with_project(standalone, tmp_path)
    script = f"""
import numpy as np, sys
sys.path.insert(0, {str(ROOT / 'tests')!r})
from conftest import tiny_dataset
from spikegate import Always
from spikegate.config import resolve
from spikegate.errors import EngineError
from spikegate.backends.spiking import StandaloneClassifier
ds = tiny_dataset(n_train=24, n_pixels=64, n_classes=10)
clf = StandaloneClassifier(resolve({MODEL!r}, {TINY!r}).spec, Always(), ds.x_train, seed=3, chunk=8,
                           directory={str(project)!r})
clf.present(np.arange(4), ds.y_train[:4])
open({str(project / 'main')!r}, 'wb').write(open('/bin/true', 'rb').read())
try:
    clf.present(np.arange(4), ds.y_train[:4])
except EngineError as exc:
    print('refused:', exc)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    out = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and len(out) == 1, proc.stderr[-3000:]
    assert out[0].startswith("refused: compiled engine: the binary in") and "is missing or not the one that was built" in out[0]


def test_an_unusable_cache_is_one_line_naming_the_variable(tmp_path, monkeypatch, capsys):
    from spikegate.cli import main

    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("SPIKEGATE_CACHE", str(tmp_path / "file" / "cache"))
    code = main(["train", MODEL, *[a for o in TINY for a in ("--set", o)], "--out", str(tmp_path / "run"),
                 "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "compiled-engine cache" in err[0] and "not usable (Not a directory); set SPIKEGATE_CACHE" in err[0]
    assert not (tmp_path / "run").exists()


def test_a_full_cache_is_one_line_and_leaves_no_half_entry(standalone, tmp_path):
    """A cache where no file may grow beyond 200 kB (the pixel table Brian2 writes is larger):
    one line, exit 2, no run directory, and no build record vouching for the half-written entry."""
    import resource
    import signal

    from spikegate.backends.spiking.cache import MANIFEST

    cache, project = _cache_with_project(standalone, tmp_path)
    (project / "main").unlink()          # a build is needed: its code generation writes the tables

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    proc = _cli_train(cache, tmp_path / "run", limit_file_size)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr[-3000:]
    assert f"compiled-engine cache {project}: cannot write" in proc.stderr, proc.stderr
    assert "free space or set SPIKEGATE_CACHE" in proc.stderr
    assert not (tmp_path / "run").exists() and not (project / MANIFEST).exists()


def test_a_failed_compilation_is_one_line_and_leaves_no_half_entry(standalone, tmp_path):
    """The compiler fails writing its output (a full disk, here a stand-in compiler that says so):
    make is not retried, and no binary, object or record is left; one line names the reason."""
    import os

    from spikegate.backends.spiking.cache import MANIFEST

    cache, project = _cache_with_project(standalone, tmp_path)
    (project / "main").unlink()          # the binary must be linked again
    compiler = tmp_path / "full-disk-g++"
    compiler.write_text("#!/bin/sh\necho 'main: fatal error: No space left on device' >&2\nexit 1\n")
    compiler.chmod(0o755)
    os.environ["CXX"], saved = str(compiler), os.environ.get("CXX")
    try:
        proc = _cli_train(cache, tmp_path / "run")
    finally:
        os.environ.pop("CXX") if saved is None else os.environ.__setitem__("CXX", saved)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr[-3000:]
    assert f"compiled engine: the build in {project} failed (main: fatal error: No space left on device)" \
        in proc.stderr, proc.stderr
    assert not (tmp_path / "run").exists()
    assert not (project / "main").exists() and not (project / MANIFEST).exists() and not list(project.rglob("*.o"))


def test_a_scan_over_learning_rates_and_gates_builds_the_engine_once(standalone, tmp_path, monkeypatch):
    """4 learning rates x 2 gates on the compiled engine: learning rates are run arguments, so the
    8 points, in 2 worker processes, all run the one binary (one build recorded) and learn differently."""
    from spikegate.backends.spiking.cache import builds
    from spikegate.scan import collect, load_scan, run_scan

    cache, project = _cache_with_project(standalone, tmp_path)
    monkeypatch.setenv("SPIKEGATE_CACHE", str(cache))
    before = builds(project)
    fixed = dict(o.split("=", 1) for o in TINY)
    scan = load_scan({"model": MODEL, "seeds": [2], "set": fixed,
                      "grid": {"rule.eta": ["0.25 Hz", "0.5 Hz", "1 Hz", "2 Hz"], "gate.name": ["lazy", "always"]}})
    report = run_scan(scan, tmp_path / "store", workers=2, progress=False, log=lambda line: None)
    assert not report.failures and len(report.results) == 8, report.failures
    assert [p.name for p in (cache / "standalone").iterdir()] == [project.name]
    assert before == 1 and builds(project) == 1
    rows = collect(tmp_path / "store")[0]
    assert len({(r["gate.name"], r["n_writes"], r["sum_abs_dw"]) for r in rows}) == 8
