"""Neuron models beyond LIF: any Brian2 equations (``[neuron] model = "equations"``)."""
import tomllib

import brian2 as b2
import numpy as np
import pytest

from spikegate import LIF, GatedClassifier, Lazy, NetworkSpec, NeuronEquations, train
from spikegate.config import resolve
from spikegate.errors import ConfigError, ParameterError
from spikegate.backends.spiking.equations import reserved_names

from conftest import ROOT, TINY_MODEL, tiny_dataset

#: LIF, written as equations: the same model, so the same numbers.
LIF_AS_EQUATIONS = {
    "model": "equations",
    "equations": "dv/dt = (v_rest - v + I) / tau_m : volt (unless refractory)",
    "threshold": "v > v_th",
    "reset": "v = v_reset",
    "refractory": "2 ms",
    "method": "exact",
    "parameters": {"tau_m": "20 ms", "v_rest": "-65 mV", "v_reset": "-65 mV", "v_th": "-50 mV"},
    "initial": {"v": "-65 mV"},
    "tau_syn": "5 ms",
}


def test_lif_written_as_equations_gives_lif_bit_for_bit():
    ds = tiny_dataset()
    runs = {}
    for label, neuron in (("LIF", {}), ("equations", LIF_AS_EQUATIONS)):
        model = dict(TINY_MODEL, neuron=neuron, train=dict(TINY_MODEL["train"], epochs=2))
        runs[label] = train(model, dataset=ds, progress=False)
    a, b = runs["LIF"], runs["equations"]
    assert isinstance(b.config.spec.neuron, NeuronEquations) and isinstance(a.config.spec.neuron, LIF)
    np.testing.assert_array_equal(a.ledger.writes, b.ledger.writes)
    np.testing.assert_array_equal(a.ledger.gate_open, b.ledger.gate_open)
    np.testing.assert_array_equal(a.classifier.weights(0), b.classifier.weights(0))
    assert a.ledger.m0 > 0


def test_adex_model_file_learns_and_adapts():
    """The AdEx model file: above chance on digits after 300 presentations; and its
    adaptation is simulated: the same weights fire less than without adaptation."""
    cfg = resolve(ROOT / "models" / "digits-adex.toml")
    assert cfg.spec.neuron.state_variables == ("u", "v")
    res = train(ROOT / "models" / "digits-adex.toml", overrides=["data.n_train=300", "data.n_test=200",
                                                                 "train.epochs=1", "train.target=numpy"],
                progress=False)
    assert res.metrics["test_accuracy"] > 0.5          # chance is 0.1
    images = res.classifier.images[:30]
    labels = np.zeros(30, dtype=int)
    counts = {}
    for label, change in (("adapting", {}), ("no adaptation", {"a": 0.0, "b": "0 mV"})):
        neuron = cfg.spec.neuron.replace(parameters={**dict(cfg.spec.neuron.parameters), **change})
        clf = GatedClassifier(cfg.spec.replace(neuron=neuron), Lazy(), images, seed=1, chunk=30)
        clf.set_weights(0, res.classifier.weights(0))
        counts[label] = clf.present(np.arange(30), labels, learn=False).outputs.sum()
    assert 0 < counts["adapting"] < counts["no adaptation"], counts    # same input spikes (seed), less firing


def test_every_spikegate_variable_is_reserved():
    """A user's equations cannot clash with a name the backend gives its neurons or synapses."""
    spec = NetworkSpec(layers=(4, 3, 2), dt=0.5 * b2.ms, t_stim=10 * b2.ms)
    clf = GatedClassifier(spec, Lazy(), np.zeros((2, 4)), chunk=2, name="reserved_check")
    groups = clf.layers + [clf.input] + clf.synapses + clf.feedback
    internal = {"lastspike", "not_refractory", "i", "j", "t", "dt", "N", "t_in_timesteps", "N_incoming",
                "N_outgoing", "delay", "_spikespace", "lastupdate", "v", "tau_m", "v_rest", "v_reset", "v_threshold",
                "_synaptic_pre", "_synaptic_post", "_presynaptic_idx", "_postsynaptic_idx",
                "_source_offset", "_target_offset", "N_pre", "N_post", "_n_sources", "_n_targets"}
    names = {n.removesuffix("_pre").removesuffix("_post") for g in groups for n in g.variables}
    names = {n for n in names if not n.startswith("_") and n not in internal}
    assert names <= reserved_names(), sorted(names - reserved_names())


@pytest.mark.parametrize("change, message", [
    ({"equations": "dv/dt = -v / tau : volt"}, "must use the synaptic input I"),
    ({"equations": "du/dt = (I - u) / tau_m : volt"}, "must define the membrane potential v in volt"),
    ({"equations": "dv/dt = (I - v) / tau_m : amp"}, "Brian2 cannot parse them|must define the membrane"),
    ({"equations": "dv/dt = (I - v) / tau_m : volt\ndx/dt = -x / tau_m : 1"}, "defines x, spikegate's own"),
    ({"equations": "dv/dt = (I - v) / tau_m : vlt"}, "unit 'vlt' is not a base unit"),
    ({"threshold": "v > v_thr"}, "unknown name.*v_thr"),
    ({"reset": "v = v_reset\nq += 1"}, "assigns 'q', not a variable of the equations"),
    ({"initial": {}}, "must give v"),
    ({"initial": {"v": "-65 mV", "z": "1 mV"}}, "initial.z: not a state variable"),
    ({"initial": {"v": "-65 ms"}}, "initial.v = .*wrong unit"),
    ({"parameters": {"tau_m": "20 ms", "v_rest": "-65 mV", "v_reset": "-65 mV", "v_th": "-50 mV", "w": 1.0}},
     "parameters.w: the name is spikegate's own"),
    ({"parameters": {"tau_m": "abc"}}, "tau_m = 'abc'"),
    ({"parameters": {"tau_m": "inf ms"}}, "must be finite"),
    ({"parameters": {"1x": 3}}, "not an identifier"),
    ({"tau_syn": "0 ms"}, "tau_syn = .*must be >"),
    ({"method": ""}, "method = '': must not be empty"),
    ({"method": "rk9"}, "method = 'rk9': unknown; allowed: Brian2's methods"),
    ({"equations": "dv/dt = (v_rest - v + I) / tau_q : volt"}, "unknown name.*tau_q"),
    ({"parameters": {"tau_m": 20.0, "v_rest": "-65 mV", "v_reset": "-65 mV", "v_th": "-50 mV"}},
     "Brian2 rejects the model"),                                                   # tau_m without a unit
    ({"parameters": {"tau_m": "20 ms", "v_rest": "-65 mV", "v_reset": "-65 mV", "v_th": "-50 mV", "w_new": 1}},
     "parameters.w_new: the name is spikegate's own"),
    ({"equations": "dv/dt = (v_rest - v + I) / tau_m : volt\nu : volt (constant)", "initial": {"v": "-65 mV", "u": "0 mV"}},
     "u is constant; give it as a parameter"),
    ({"equations": "dv/dt = (v_rest - v + I) / tau_m : volt\nv_at_start : volt"}, "v_at_start is spikegate's own"),
])
def test_bad_neuron_equations_are_one_line_naming_the_key(change, message):
    model = dict(TINY_MODEL, neuron={**LIF_AS_EQUATIONS, **change})
    with pytest.raises(ConfigError, match=message) as info:
        resolve(model)
    assert "\n" not in str(info.value) and str(info.value).startswith("neuron.")


def test_brian2_unit_names_and_conductance_models_are_accepted():
    """Short unit names in code (mV, nS, pF) and conductance-based parameters: Brian2's own vocabulary."""
    cfg = resolve(dict(TINY_MODEL, neuron={
        "model": "Equations", "equations": "dv/dt = (g_L * (E_L - v) + g_L * I) / C : volt (unless refractory)",
        "threshold": "v > -50*mV", "reset": "v = -65*mV", "refractory": "2 ms",
        "parameters": {"C": "200 pF", "g_L": "10 nS", "E_L": "-65 mV"}, "initial": {"v": "-65 mV"}}))
    neuron = cfg.spec.neuron
    assert dict(neuron.parameters)["C"] == 200 * b2.pF and dict(neuron.parameters)["g_L"] == 10 * b2.nS
    assert cfg.values["neuron"]["model"] == "equations"
    assert resolve(tomllib.loads(cfg.to_toml())).spec.neuron == neuron        # the run directory's config reads back
    assert "model" not in resolve(TINY_MODEL).values["neuron"]     # LIF configs (and scan hashes) unchanged


def test_neuron_model_keys_are_checked():
    with pytest.raises(ConfigError, match="neuron.model = 'Izh': unknown; allowed: LIF, equations"):
        resolve(dict(TINY_MODEL, neuron={"model": "Izh"}))
    with pytest.raises(ConfigError, match="neuron.model = \\['LIF'\\]: unknown"):
        resolve(dict(TINY_MODEL, neuron={"model": ["LIF"]}))
    assert resolve(dict(TINY_MODEL, neuron={"model": "lif"})).spec.neuron == LIF()
    with pytest.raises(ConfigError, match="neuron.equations: not read by neuron model 'LIF'"):
        resolve(dict(TINY_MODEL, neuron={"equations": "dv/dt = I / (5*ms) : volt"}))
    with pytest.raises(ParameterError, match="NetworkSpec.neuron: expected a LIF or NeuronEquations"):
        NetworkSpec(neuron="LIF")


def test_magic_run_is_a_clear_error_not_silence():
    """Brian2's magic run() does not see a classifier's objects: reading the presentations
    after it names the problem and the fix."""
    spec = NetworkSpec(layers=(4, 2), dt=0.5 * b2.ms, t_stim=10 * b2.ms)
    clf = GatedClassifier(spec, Lazy(), np.full((3, 4), 0.5), chunk=3, name="magic_check")
    clf.load_schedule(np.arange(3), np.array([0, 1, 0]))
    b2.run(clf.duration())  # simulates nothing of the classifier
    with pytest.raises(ParameterError, match="magic run\\(\\) does not see objects held by a GatedClassifier"):
        clf.last_presentations(3)
    net = b2.Network(clf.objects)
    clf.align(net)
    net.run(clf.duration(), namespace={})
    assert len(clf.last_presentations(3).samples) == 3


def test_one_parameter_of_a_neuron_table_can_be_overridden_and_scanned():
    model = ROOT / "models" / "digits-adex.toml"
    cfg = resolve(model, overrides=["neuron.parameters.b=2 mV", "neuron.initial.u=1 mV"])
    params = dict(cfg.spec.neuron.parameters)
    assert params["b"] == 2 * b2.mV and params["tau_w"] == 100 * b2.ms          # the others kept
    assert dict(cfg.spec.neuron.initial) == {"u": 1 * b2.mV, "v": -65 * b2.mV}
    from spikegate.scan.spec import load_scan
    scan = load_scan({"model": str(model), "seeds": [1], "grid": {"neuron.parameters.b": ["0 mV", "1 mV"]}},
                     check_data=False)
    assert len(scan.points) == 2 and scan.keys == ["neuron.parameters.b", "seed"]
    assert len({p.hash for p in scan.points}) == 2                                # two configurations
    with pytest.raises(ConfigError, match="neuron.parameters.b = 'x'"):
        resolve(model, overrides=["neuron.parameters.b=x"])
    with pytest.raises(ConfigError, match="config key 'neuron.tau_m.x'"):
        resolve(model, overrides=["neuron.tau_m.x=1"])


def test_a_model_brian2_rejects_is_one_error_when_built_from_python():
    """Declared from Python, the model is checked by Brian2 when the classifier is built."""
    neuron = NeuronEquations(equations="dv/dt = (I - v) / tau : volt", threshold="v > 10*mV", reset="v = 0*mV",
                             parameters={"tau": 5.0}, initial={"v": "0 mV"})        # tau without a unit
    spec = NetworkSpec(layers=(4, 2), dt=0.5 * b2.ms, t_stim=10 * b2.ms, neuron=neuron)
    with pytest.raises(ParameterError, match=r"Brian2 rejects the model \(DimensionMismatchError\)") as info:
        GatedClassifier(spec, Lazy(), np.zeros((2, 4)), chunk=2, name="rejected")
    assert "\n" not in str(info.value)
