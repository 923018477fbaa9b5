"""Command line: bad input gives one clear line, exit code 2 and no run directory."""

import numpy as np
import pytest

from spikegate.cli import main
from spikegate.config import resolve
from spikegate.errors import ConfigError

from conftest import ROOT, tiny_dataset

DIGITS = str(ROOT / "models" / "digits.toml")


def write_npz(path, mutate=None):
    ds = tiny_dataset(n_pixels=64, n_classes=10, n_train=20, n_test=10)
    arrays = dict(x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test, y_test=ds.y_test)
    if mutate:
        mutate(arrays)
    np.savez(path, **arrays)
    return path


def run_cli(args, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(args + ["--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip()
    return code, err, out


@pytest.mark.parametrize("extra, message", [
    (["--set", "network.colour=red"], "unknown config key 'network.colour'; allowed keys in [network]: layers, dt"),
    (["--set", "rule.tau_e=5 mV"], "rule.tau_e = 5. * mvolt: wrong unit, expected units of ms (e.g. 1*ms)"),
    (["--set", "neuron.tau_m=-20 ms"], "neuron.tau_m = -20. * msecond: must be > 0. * second"),
    (["--set", "ern.tau=-1 ms"], "ern.tau = -1. * msecond: must be > 0. * second"),
    (["--set", "network.dt=0.5 parsecs"], "network.dt = '0.5 parsecs': unknown unit 'parsecs'; allowed: Brian2's unit names"),
    (["--gate", "sometimes"], "gate.name = 'sometimes': unknown; allowed: always, lazy, memorized, trace, margin"),
    (["--set", "gate.name=trace", "--set", "gate.tau_mem=-2"], "gate.tau_mem = -2: must be >= 0"),
    (["--set", "data.n_train=0"], "data.n_train = 0: must be >= 1"),
    (["--set", "data.n_train=100000"], "data.n_train = 100000: must be in [1, 1438] for data set 'digits'"),
    (["--set", "train.epochs=two"], "train.epochs = 'two': expected '<number> <unit>'"),
    (["--set", "nonsense"], "--set 'nonsense': expected dotted.key=value"),
    (["--set", "ern.integration=simulated", "--set", "ern.window='420 ms'"],
     "ern.window = 0.42 * second: a simulated post-decision interval must be a multiple of t_stim = 50. * msecond"),
    (["--set", "ern.integration=simulated", "--set", "ern.latency='0 ms'"],
     "ern.latency = 0. * second: a simulated ERN needs a latency that is a multiple (>= 1) of dt = 0.5 * msecond"),
    (["--set", "gate.theta_write=0"], "gate.theta_write = 0: must be > 0 and <= 1"),
    (["--set", "gate.bias=0.5"], "gate.bias = 0.5: must be >= 1"),
])
def test_bad_config_one_line_exit_2_no_run_dir(extra, message, tmp_path, capsys):
    code, err, out = run_cli(["train", DIGITS] + extra, tmp_path, capsys)
    assert code == 2
    assert err.startswith("spikegate: error: ") and message in err, err
    assert "\n" not in err and "Traceback" not in err
    assert not out.exists() and not any(tmp_path.glob(".run*"))


@pytest.mark.parametrize("mutate, message", [
    (lambda a: a.__setitem__("y_train", np.where(np.arange(20) == 3, 12, a["y_train"])),
     "y_train: label 12 at index 3 outside the class range [0, 9]"),
    (lambda a: a["x_test"].__setitem__((2, 5), np.nan), "x_test: NaN or infinite pixel values"),
    (lambda a: a.__setitem__("x_train", a["x_train"][:, :60]), "x_train: images of 60 pixels; the model's input layer expects 64"),
    (lambda a: a.pop("y_test"), "missing arrays y_test"),
])
def test_bad_data_one_line_exit_2(mutate, message, tmp_path, capsys):
    path = write_npz(tmp_path / "data.npz", mutate)
    code, err, out = run_cli(["train", DIGITS, "--set", "data.source=npz", "--set", f"data.path={path}"],
                             tmp_path, capsys)
    assert code == 2 and message in err and "\n" not in err, err
    assert not out.exists()


def test_missing_and_corrupt_mnist(tmp_path, capsys):
    model = str(ROOT / "models" / "mnist-1layer.toml")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err, out = run_cli(["train", model, "--data-dir", str(empty)], tmp_path, capsys)
    assert code == 2 and "MNIST file train-images-idx3-ubyte.gz (or train-images-idx3-ubyte) missing in" in err
    (empty / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    code, err, out = run_cli(["train", model, "--data-dir", str(empty)], tmp_path, capsys)
    assert code == 2 and "train-images-idx3-ubyte.gz: " in err and "\n" not in err
    code, err, out = run_cli(["train", model, "--data-dir", str(tmp_path / "nowhere")], tmp_path, capsys)
    assert code == 2 and "does not exist" in err
    assert not out.exists()


def test_missing_model_file_and_bad_toml(tmp_path, capsys):
    code, err, _ = run_cli(["train", str(tmp_path / "nope.toml")], tmp_path, capsys)
    assert code == 2 and "nope.toml: cannot read" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("[network\nlayers = 3")
    code, err, _ = run_cli(["train", str(bad)], tmp_path, capsys)
    assert code == 2 and "invalid TOML" in err


def test_evaluate_rejects_incomplete_run_dir(tmp_path, capsys):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.toml").write_text("")
    assert main(["evaluate", str(tmp_path / "half")]) == 2
    assert "missing metrics.json, weights.npz, ledger.npz; not a complete spikegate run" in capsys.readouterr().err


def test_overrides_are_typed_and_resolved():
    cfg = resolve(DIGITS, ["data.n_train=100", "rule.eta=0.25 Hz", "gate.name=trace", "gate.tau_mem=inf",
                           "seed=7", "network.init_gain=[2.0]"])
    assert cfg.section("data")["n_train"] == 100 and cfg.seed == 7
    assert cfg.spec.rule.eta == resolve(DIGITS).spec.rule.eta / 2
    assert cfg.gate.tau_mem == float("inf")
    # the resolved TOML reads back to the same declarations
    import tomllib
    again = resolve(tomllib.loads(cfg.to_toml()))
    assert again.spec == cfg.spec and again.gate == cfg.gate and hash(again.spec) == hash(cfg.spec)


@pytest.mark.parametrize("args, message", [
    (["--gate", "lazy", "--set", "gate.half_snr=3"], "gate.half_snr = 3: not read by gate 'lazy'"),
    (["--gate", "trace", "--set", "gate.min_margin=3"], "gate.min_margin = 3: not read by gate 'trace' (it reads tau_mem, theta_mem)"),
    (["--gate", "margin", "--set", "gate.tau_mem=3"], "gate.tau_mem = 3: not read by gate 'margin' (it reads min_margin)"),
])
def test_a_gate_key_the_gate_does_not_read_is_one_line_exit_2(args, message, tmp_path, capsys):
    code, err, out = run_cli(["train", DIGITS] + args, tmp_path, capsys)
    assert code == 2 and err.startswith("spikegate: error: ") and message in err and "\n" not in err, err
    assert not out.exists()


def test_gate_keys_of_the_model_file_follow_its_gate(tmp_path):
    import tomllib

    model = tomllib.loads((ROOT / "models" / "digits.toml").read_text())
    model["gate"] = {"name": "trace", "tau_mem": 3}
    assert resolve(model).gate.tau_mem == 3.0                       # read by the file's gate: valid
    assert resolve(model, gate="lazy").section("gate") == {"name": "lazy"}   # another gate: dropped
    assert resolve(model, gate="margin", overrides=["gate.min_margin=4"]).gate.min_margin == 4
    model["gate"] = {"name": "lazy", "tau_mem": 3}
    with pytest.raises(ConfigError, match=r"^gate.tau_mem = 3: not read by gate 'lazy'"):
        resolve(model)                                              # the file contradicts itself
    # equal gates resolve to equal configs, whatever keys they did not read
    assert resolve(model, gate="lazy", overrides=[("gate.tau_mem", 5)], unread_gate_keys="drop").to_toml() == \
        resolve(model | {"gate": {"name": "lazy"}}).to_toml()


def test_default_run_names_are_unique_and_one_path_component():
    from spikegate.cli import default_run_name

    assert len({default_run_name("digits", "lazy") for _ in range(200)}) == 200   # same second, distinct
    for name in ("../../x", "/abs/path", "..", "a/b\\c", ".hidden", ""):
        run = default_run_name(name, "lazy")
        assert "/" not in run and "\\" not in run and not run.startswith(".") and ".." not in run, run


def test_an_unusable_output_path_is_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "f"
    blocker.write_text("a file, not a directory")
    code = main(["train", DIGITS, "--out", str(blocker / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f"spikegate: error: --out {blocker / 'run'}: cannot write in {blocker}"), err
    assert "\n" not in err and blocker.read_text() == "a file, not a directory"


def test_quantities_take_every_brian2_unit_name_and_repr():
    """Units are Brian2's own: names (msecond, hertz, Gsecond) and reprs ("50. * msecond") resolve alike."""
    base = resolve(DIGITS)
    same = resolve(DIGITS, ["network.t_stim=50. * msecond", "network.dt=0.0005 second", "input.nu_max=0.4 kHz",
                            "network.w_scale=0.003 volt"])
    assert same.spec == base.spec and same.to_toml() == base.to_toml()
    assert resolve(DIGITS, ["network.t_stim=5e-11 Gsecond"]).spec.t_stim == base.spec.t_stim
