"""A model file is data: no model file, override or scan can run code or hang the program.

The hostile statements below each try to create a marker file. Without spikegate's
whitelist (spikegate.model.code) the first one does, inside Brian2's generated code
(``test_the_carriage_return_attack_is_real``); through spikegate every one is refused in
one line, before anything is built, on every engine.
"""
import time

import pytest
from spikegate.cli import main
from spikegate.config import resolve
from spikegate.errors import SpikegateError

from conftest import ROOT
from test_bad_input import _code, _code_table, _neuron_model, _toml_entries

DIGITS = ROOT / "models" / "digits.toml"
ENGINES = {"numpy": ["train.target=numpy"], "cython": ["train.target=cython"],
           "compiled": ["train.device=cpp_standalone"]}


def payloads(marker):
    """(key, value) pairs, each of which would create ``marker`` if it reached Brian2 unchecked."""
    touch = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    return {
        "reset, carriage return after a comment": ("reset", f"v = 0*mV # reset\r{touch}"),
        "reset, call": ("reset", f"v = 0*mV + 0*{touch}"),
        "reset, full-width letters": ("reset", f"v = 0*mV + 0*__ｉmport__('pathlib').Path({str(marker)!r}).touch()"),
        "threshold, call": ("threshold", f"v > 10*mV and {touch}"),
        "equations, carriage return": ("equations", f"dv/dt = (I - v)/tau : volt # x\r{touch}"),
        "equations, unit string": ("equations", "dv/dt = (I - v)/tau : volt*(__import__('os').system('true') or 1)"),
    }


def _model_file(tmp, key, value):
    return _neuron_model(tmp, **{key: value})


def _scan_file(tmp, key, value, engine):
    path = tmp / "hostile-scan.toml"
    sets = {"data.n_train": 20, "data.n_test": 10, **dict(s.split("=") for s in ENGINES[engine]),
            **_code_table(**{key: value})}
    path.write_text(f'model = "{DIGITS}"\nseeds = [1]\n[set]\n' + _toml_entries(sets))
    return str(path)


def _args(route, tmp, key, value, engine):
    out = ["--out", str(tmp / "run"), "--no-progress"]
    sets = [a for s in ENGINES[engine] for a in ("--set", s)]
    if route == "model file":
        return ["train", _model_file(tmp, key, value), *sets, *out]
    if route == "--set":
        return ["train", str(DIGITS), *sets, *[a for s in _code(**{key: value}) for a in ("--set", s)], *out]
    return ["scan", _scan_file(tmp, key, value, engine), "--store", str(tmp / "store")]


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("route", ["model file", "--set", "scan"])
def test_hostile_code_is_refused_in_one_line_on_every_engine(engine, route, tmp_path, capsys):
    marker = tmp_path / "MARKER"
    for name, (key, value) in payloads(marker).items():
        code = main(_args(route, tmp_path, key, value, engine))
        err = [ln for ln in capsys.readouterr().err.strip().splitlines() if not ln.startswith("scan ")]
        assert code == 2, (name, err)
        assert len(err) == 1 and err[0].startswith("spikegate: error: ") and f"neuron.{key}" in err[0], (name, err)
        assert not marker.exists(), name
        assert not (tmp_path / "run").exists() and not (tmp_path / "store").exists(), name


def test_the_carriage_return_attack_is_real(tmp_path):
    """The threat is not hypothetical: Brian2 itself, given the first payload, runs it."""
    import brian2 as b2

    marker = tmp_path / "MARKER"
    _, reset = payloads(marker)["reset, carriage return after a comment"]
    group = b2.NeuronGroup(1, "dv/dt = -v/(10*ms) : volt", threshold="v > 1*volt", reset=reset, namespace={},
                           name="hostile_reset_group")
    group.v = 2 * b2.volt
    b2.Network(group).run(0.2 * b2.ms, namespace={})
    assert marker.exists()


HANGS = {
    "constant power in the threshold": ("threshold", "v > 9**9**9*mV"),
    "nested power": ("threshold", "v > (2**60)**60**60*mV"),
    "power of a name with a huge constant exponent": ("threshold", "v**(10**10) > 0*mV**(10**10)"),
    "integer literal of 400 digits": ("threshold", "v > " + "9" * 400 + "*mV"),
    "unit string power": ("equations", "dv/dt = (I - v)/tau : volt*1**9**9**9"),
    "unit string with a huge exponent": ("equations", "dv/dt = (I - v)/tau : volt**999999999"),
    "constant power in the equations": ("equations", "dv/dt = (I - v)/tau * 7**7**7 : volt"),
    "deep nesting": ("threshold", "abs(" * 150 + "v" + ")" * 150 + " > 0*mV"),
    "long chain": ("equations", "dv/dt = (I - v" + " + v" * 3000 + ")/tau : volt"),
    "reset power": ("reset", "v = 2**2**2**2**2*mV"),
}


@pytest.mark.parametrize("case", list(HANGS))
def test_hostile_units_and_constants_are_refused_within_one_second(case):
    key, value = HANGS[case]
    overrides = ["train.target=numpy", *_code(**{key: value})]
    t0 = time.perf_counter()
    with pytest.raises(SpikegateError) as info:
        resolve(str(DIGITS), overrides)
    assert time.perf_counter() - t0 < 1.0
    assert str(info.value).startswith(f"neuron.{key}") and "\n" not in str(info.value)


def test_comments_are_stripped_and_never_reach_brian2():
    cfg = resolve(str(DIGITS), ["train.target=numpy", *_code(reset="v = 0*mV  # to rest",
                                                             equations="dv/dt = (I - v)/tau : volt  # LIF")])
    assert cfg.spec.neuron.reset == "v = 0*mV" and cfg.spec.neuron.equations == "dv/dt = (I - v)/tau : volt"


@pytest.mark.parametrize("scan", [
    '[grid]\n"rule.eta" = [{a}]\n"rule.tau_e" = [{b}]\n"network.w_scale" = [{c}]\n',
    '[random]\n"rule.tau_e" = {{low = 1, high = 100, n = 1000000, unit = "ms"}}\n',
    '[grid]\n"seed" = [{zeros}]\n',
    'seeds = [{zeros}]\n',
])
def test_a_scan_of_a_million_points_is_refused_within_one_second(scan, tmp_path):
    from spikegate.scan import load_scan

    text = scan.format(a=", ".join(f'"{i} Hz"' for i in range(1, 101)), b=", ".join(f'"{i} ms"' for i in range(1, 101)),
                       c=", ".join(f'"{i} mV"' for i in range(1, 101)), zeros=", ".join(["0"] * 10 ** 6))
    path = tmp_path / "big.toml"
    path.write_text(f'model = "{DIGITS}"\n' + text if text.startswith("seeds") else f'model = "{DIGITS}"\n' + text)
    t0 = time.perf_counter()
    with pytest.raises(SpikegateError, match="max_points|larger than"):
        load_scan(path)
    assert time.perf_counter() - t0 < 1.0
