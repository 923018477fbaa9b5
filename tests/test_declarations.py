"""Parameters declared once: validation, the documentation's tables, the compiled engine's
structure key and renamed keys all come from the declarations' fields."""
import warnings

import pytest
from brian2 import Hz, ms

from spikegate.config import SpikegateDeprecationWarning, parameters_markdown, resolve
from spikegate.model import LIF, NetworkSpec, NeuronEquations, RateSpec, ThreeFactorRule, TrainingSpec
from spikegate.model.plasticity import ERNSignal

from conftest import ROOT

DIGITS = str(ROOT / "models" / "digits.toml")
RATE = str(ROOT / "models" / "digits-rate.toml")


def test_the_parameter_tables_in_docs_are_generated_from_the_declarations():
    """``python -c "from spikegate.config import parameters_markdown as p; print(p())" > docs/parameters.md``"""
    assert (ROOT / "docs" / "parameters.md").read_text() == parameters_markdown() + "\n"


def test_every_field_of_a_declaration_is_a_declared_parameter():
    for cls in (LIF, NeuronEquations, ThreeFactorRule, ERNSignal, NetworkSpec, RateSpec, TrainingSpec):
        assert set(cls.params()) == set(cls.field_names()), cls
        assert all(p.doc for p in cls.params().values()), cls


def test_only_compiled_fields_enter_the_structure():
    """Learning rates, time constants, thresholds, weight scales and the ERN's timing are run-time
    values; layers, dt, the window, alpha, the neuron's code and the ERN's integration are structure."""
    base = resolve(DIGITS).spec
    same = {"rule.eta": "0.9 Hz", "rule.tau_e": "50 ms", "neuron.v_threshold": "-52 mV", "network.w_scale": "5 mV",
            "ern.latency": "20 ms", "ern.tau": "60 ms", "input.nu_max": "300 Hz", "network.init_gain": 2.0}
    for key, value in same.items():
        assert resolve(DIGITS, [f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}"]).spec.structure() \
            == base.structure(), key
    other = {"network.layers": "[64, 20, 10]", "network.dt": "'0.25 ms'", "network.t_stim": "'40 ms'",
             "network.alpha": "1.0", "ern.integration": "'simulated'"}
    for key, value in other.items():
        assert resolve(DIGITS, [f"{key}={value}"]).spec.structure() != base.structure(), key


def test_a_neuron_model_is_structure_in_its_code_not_its_values():
    eqs = dict(equations="dv/dt = (E - v + I) / tau : volt", threshold="v > -50*mV", reset="v = E",
               parameters={"E": "-65 mV", "tau": "20 ms"}, initial={"v": "-65 mV"})
    a, b = NeuronEquations(**eqs), NeuronEquations(**{**eqs, "parameters": {"E": "-60 mV", "tau": "10 ms"}})
    assert a.structure() == b.structure() and a != b
    assert NeuronEquations(**{**eqs, "reset": "v = E + 1*mV"}).structure() != a.structure()


RENAMED = {
    "gate.kappa on margin": (["gate.name='margin'", "gate.kappa=3"], lambda c: c.gate.min_margin == 3,
                             "gate.kappa is renamed gate.min_margin"),
    "gate.kappa on ern": (["gate.kappa=1.5"], lambda c: c.gate.half_snr == 1.5, "gate.kappa is renamed gate.half_snr"),
    "gate.noise on ern": (["gate.noise=0.25"], lambda c: c.gate.snr_width == 0.25,
                          "gate.noise is renamed gate.snr_width"),
}
RATE_RENAMED = {
    "rate.lr": (["rate.lr=0.02"], lambda c: c.spec.eta == 0.02, "rate.lr is renamed rate.eta"),
    "rate.lr_hidden": (["rate.lr_hidden=0.03"], lambda c: c.spec.eta_hidden == 0.03,
                       "rate.lr_hidden is renamed rate.eta_hidden"),
}


@pytest.mark.parametrize("case", list(RENAMED) + list(RATE_RENAMED))
def test_a_renamed_key_is_read_under_its_new_name_with_one_deprecation_line(case):
    model = RATE if case in RATE_RENAMED else DIGITS
    overrides, check, message = {**RENAMED, **RATE_RENAMED}[case]
    if case in RATE_RENAMED:   # the new name is in the model file: an old file has only the old one
        import tomllib

        raw = tomllib.loads(open(model).read())
        raw["rate"].pop("eta")
        model = raw
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = resolve(model, overrides)
    assert check(cfg)
    lines = [str(w.message) for w in caught if issubclass(w.category, SpikegateDeprecationWarning)]
    assert len(lines) == 1 and lines[0].startswith(message) and "\n" not in lines[0], lines


def test_an_old_model_file_with_renamed_keys_trains_through_the_cli_with_one_line_each(tmp_path, capsys):
    from spikegate.cli import main

    (tmp_path / "old.toml").write_text('name = "old"\nbackend = "rate"\n[data]\nsource = "digits"\nn_train = 100\n'
                                       'n_test = 50\n[network]\nlayers = [64, 20, 10]\n[rate]\nlr = 0.05\n'
                                       '[gate]\nname = "margin"\nkappa = 2\n')
    code = main(["train", str(tmp_path / "old.toml"), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 0, err
    assert [ln for ln in err if ln.startswith("spikegate: deprecated: ")] == [
        "spikegate: deprecated: gate.kappa is renamed gate.min_margin; read as gate.min_margin",
        "spikegate: deprecated: rate.lr is renamed rate.eta; read as rate.eta"], err
    written = (tmp_path / "run" / "config.toml").read_text()
    assert "min_margin = 2" in written and "eta = 0.05" in written and "kappa" not in written


def test_old_python_names_still_work_with_a_deprecation_warning():
    import numpy as np

    import spikegate
    from spikegate.ledger import PresentationLog

    with pytest.warns(DeprecationWarning, match="ERNGate"):
        assert spikegate.ERN is spikegate.ERNGate
    log = PresentationLog.empty(3, 1)
    with pytest.warns(DeprecationWarning, match="renamed outputs"):
        assert log.counts is log.outputs
    with pytest.warns(DeprecationWarning, match="min_margin"):
        assert spikegate.make_gate("margin", kappa=4).min_margin == 4
    assert np.isfinite(ThreeFactorRule(eta=1 * Hz, tau_e=10 * ms).tau_e / ms)


def test_the_ern_group_has_one_name_and_a_closed_form_says_there_is_none():
    import numpy as np
    from brian2 import prefs

    from spikegate import ERNGate, GatedClassifier

    prefs.codegen.target = "numpy"
    spec = resolve(DIGITS, ["ern.integration='simulated'", "ern.window='100 ms'"]).spec
    clf = GatedClassifier(spec, ERNGate(), np.zeros((2, 64)), chunk=2, name="ern_names")
    with pytest.warns(DeprecationWarning, match="renamed ern_group"):
        assert clf.ern is clf.ern_group and "ern" in clf.ern_group.variables
    closed = GatedClassifier(resolve(DIGITS).spec, ERNGate(), np.zeros((2, 64)), chunk=2, name="ern_closed")
    with pytest.raises(AttributeError, match='integration="simulated"'):
        closed.ern_group
    for c in (clf, closed):
        c.network     # in a network: no "never included" warnings when deleted
