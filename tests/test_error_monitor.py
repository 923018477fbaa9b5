"""The spiking ERN (``ern.source = "spiking"``): an error-monitoring population makes the ERN.

A network whose first output answers every image is shown the label 0 (a confident correct
answer) and the label 1 (a mistake). The monitor must stay silent on the first and fire on
the second, at its release (the declared delay and a step after the decision), and the ERN
must be its spikes filtered by the kernel.
"""

import numpy as np
import pytest
from brian2 import Hz, mV, ms, second

from spikegate import (ERNSignal, ErrorMonitor, GatedClassifier, MistakeMemory, NetworkSpec, ParameterError,
                       PoissonInput, ThreeFactorRule, make_gate)
from spikegate.config import resolve
from spikegate.errors import ConfigError
from conftest import ROOT, tiny_dataset

T_STIM = 30 * ms
PER_CLASS = 4


def _spec(delay=30 * ms, window=120 * ms, sigma=0 * mV, mode="reset", isi=0 * ms, eta=2 / second):
    rule = ThreeFactorRule(eta=eta, tau_e=20 * ms, nu_target=200 * Hz, w_max=8.0)
    return NetworkSpec(layers=(16, 3), dt=1 * ms, t_stim=T_STIM, w_scale=3 * mV, rule=rule,
                       input=PoissonInput(400 * Hz), stimulus_mode=mode, isi=isi,
                       ern=ERNSignal(latency=10 * ms, tau=20 * ms, rise=0 * ms, window=window, integration="simulated",
                                     source="spiking"),
                       error_monitor=ErrorMonitor(neurons_per_class=PER_CLASS, delay=delay, sigma=sigma))


def _run(spec, labels, name, memory=None):
    """Output 0 answers every image (strong weights), outputs 1 and 2 stay silent."""
    import brian2 as b2

    ds = tiny_dataset(n_train=len(labels))
    b2.prefs.codegen.target = "numpy"
    clf = GatedClassifier(spec, make_gate("ern"), ds.x_train, seed=2, chunk=8, name=name)
    W = np.full((16, 3), -2.0)
    W[:, 0] = 6.0
    clf.set_weights(0, W)
    circuit = clf.error_monitor
    monitors = [b2.SpikeMonitor(circuit.group, name=f"{name}_monitor_spikes"),
                b2.SpikeMonitor(clf.output, name=f"{name}_output_spikes"),
                b2.SpikeMonitor(circuit.label_source, name=f"{name}_label_spikes"),
                b2.StateMonitor(clf.ern_group, ["ern", "Ed"], record=0, when="end", name=f"{name}_ern_trace")]
    net = b2.Network(clf.objects, *monitors)
    log = clf.run(net, np.arange(len(labels)), np.asarray(labels), memory=memory)
    return clf, log, monitors


def test_the_monitor_fires_on_a_mistake_and_stays_silent_on_a_confident_answer():
    labels = [0, 1, 1, 0]
    clf, log, (spikes, outputs, _, _) = _run(_spec(), labels, "sgmon")
    mistake = np.array(labels) != 0
    assert np.array_equal(log.mistake, mistake)
    assert np.array_equal(log.gate_open, mistake) and np.array_equal(log.reference_gate, mistake)
    assert np.all(log.writes[mistake].sum(axis=1) > 0) and np.all(log.writes[~mistake] == 0)
    # presentations last a stimulus row and 4 window rows: the monitor fires in the mistakes' windows only
    period = float(5 * T_STIM / second)
    which = (np.asarray(spikes.t / second) // period).astype(int)
    assert set(which) == {1, 2}
    # on a mistake no class is held down by a label lead: the answer (0), the silent label (1) and class 2
    cls = np.asarray(spikes.i) // PER_CLASS
    assert np.array_equal(np.bincount(cls, minlength=3), [2 * PER_CLASS] * 3)
    assert np.all(log.drive[mistake] == 1.0) and np.all(log.drive[~mistake] == 0)


def test_the_monitor_fires_at_its_release_and_makes_the_ern():
    """Latency: the monitor fires only at its release, the declared delay and one step after the
    decision (when the whole window has reached it); a longer delay shifts its spikes and the ERN by
    the difference. The ERN is the kernel of the release's spikes, 1 / N_c each, saturating at 1."""
    labels = [1, 1]
    _, log, (spikes, _, _, trace) = _run(_spec(delay=30 * ms), labels, "sgmonlat30")
    _, log_late, (spikes_late, _, _, trace_late) = _run(_spec(delay=45 * ms), labels, "sgmonlat45")
    period, decision = float(5 * T_STIM / second), float(T_STIM / second)
    for mon, delay in ((spikes, 0.030), (spikes_late, 0.045)):
        t_mon = np.asarray(mon.t / second)
        release = np.array([k * period + decision + delay + 0.001 for k in range(2)])
        assert len(t_mon) == 2 * 3 * PER_CLASS
        assert (np.abs(t_mon[:, None] - release[None, :]) < 1e-9).any(axis=1).all()
    t = np.asarray(trace.t / second)
    expected = np.zeros_like(t)
    for k in range(2):
        t_r = k * period + decision + 0.031
        rows = (t >= t_r - 1e-9) & (t < (k + 1) * period - 1e-9)
        expected[rows] = min(1.0, 3 * PER_CLASS / PER_CLASS) * np.exp(-(t[rows] - t_r) / 0.020)
    np.testing.assert_allclose(trace.Ed[0], expected, rtol=1e-9, atol=1e-12)
    # the late monitor's ERN is the early one's, 15 ms later (until the window's end)
    shift, first = 15, t < period - 0.0155
    np.testing.assert_allclose(trace_late.ern[0][shift:][first[:-shift]], trace.ern[0][:-shift][first[:-shift]],
                               rtol=1e-9, atol=1e-12)
    assert np.array_equal(log.gate_open, log_late.gate_open)
    assert not np.allclose(log.sum_abs_dw[0], log_late.sum_abs_dw[0])     # the ERN's timing changes the write


def test_the_mistake_memory_opens_the_gate_and_adds_to_the_ern():
    """With the monitor silent (correct, confident answers) a remembered mistake still writes:
    the memory's kernel at drive 1 from the ERN's latency on; the ideal gate opens on it too."""
    memory = MistakeMemory(2, float("inf"), 0.5)
    memory.update([0], [True])
    clf, log, (spikes, _, _, trace) = _run(_spec(), [0, 0], "sgmonmem", memory=memory)
    assert len(spikes.t) == 0
    assert list(log.gate_open) == [True, False] and list(log.reference_gate) == [True, False]
    assert log.writes[0].sum() > 0 and log.writes[1].sum() == 0 and list(log.drive) == [1.0, 0.0]
    # recorded at the end of each step: the kernel is 1 at the start of the step t_d + latency
    t = np.asarray(trace.t / second) + 0.001
    onset = float((T_STIM + 10 * ms) / second)
    after = (t >= onset - 1e-9) & (t < float(5 * T_STIM / second) - 1e-9)
    np.testing.assert_allclose(trace.Ed[0][after], np.exp(-(t[after] - onset) / 0.020), rtol=1e-9)
    assert np.all(trace.Ed[0][t < onset - 1e-9] == 0)


def test_spiking_ern_errors():
    with pytest.raises(ParameterError) as err:
        ERNSignal(source="spiking")
    assert str(err.value).startswith("ERNSignal.source = 'spiking': the monitor population's ERN is simulated; set "
                                     "integration = 'simulated'")
    with pytest.raises(ParameterError) as err:
        ERNSignal(source="neural", integration="simulated")
    assert str(err.value) == "ERNSignal.source = 'neural': unknown; allowed: ideal, spiking"
    with pytest.raises(ParameterError) as err:
        _spec(delay=120 * ms)
    assert str(err.value).startswith("ErrorMonitor.delay = 120. * msecond: must be < ern.window = 120. * msecond")
    with pytest.raises(ParameterError) as err:
        _spec(delay=30.5 * ms)
    assert str(err.value).startswith("ErrorMonitor.delay = 30.5 * msecond: must be a multiple of dt")
    with pytest.raises(ParameterError) as err:
        _spec(mode="stream", isi=30 * ms)
    assert "the monitor population serves one pending decision at a time" in str(err.value)
    _spec(mode="stream", isi=120 * ms)          # the window inside the interval: one decision at a time
    with pytest.raises(ParameterError) as err:
        ErrorMonitor(v_reset=-1 * mV)
    assert str(err.value).startswith("ErrorMonitor.v_reset = -1. * mvolt: must be < v_threshold = -1.2 * mvolt")
    with pytest.raises(ParameterError) as err:
        ErrorMonitor(neurons_per_class=0)
    assert str(err.value).startswith("ErrorMonitor.neurons_per_class = 0: must be >= 1")


def test_spiking_ern_in_model_files():
    model = ROOT / "models" / "digits.toml"
    default = resolve(model)
    assert "source" not in default.section("ern") and "error_monitor" not in default.sections()
    cfg = resolve(model, [("ern.integration", "simulated"), ("ern.source", "spiking"),
                          ("error_monitor.w_label", "0.5 mV")])
    assert cfg.spec.ern.spiking and cfg.spec.error_monitor.w_label == 0.5 * mV
    assert cfg.section("error_monitor")["w_label"] == "0.5 mV" and cfg.section("ern")["source"] == "spiking"
    assert cfg.spec.structure() != default.spec.structure()
    with pytest.raises(ConfigError) as err:
        resolve(model, [("ern.source", "spiking")])
    assert "ern.source = 'spiking': the monitor population's ERN is simulated" in str(err.value)
    with pytest.raises(ConfigError) as err:
        resolve(model, [("ern.integration", "simulated"), ("ern.source", "spiking"), ("error_monitor.delay", "-5 ms")])
    assert str(err.value).startswith("error_monitor.delay")
    with pytest.raises(ConfigError) as err:
        resolve(model, [("error_monitor.gain", 2)])
    assert "error_monitor.gain" in str(err.value)


@pytest.mark.parametrize("device", ["runtime", "cpp_standalone"])
def test_both_engines_gate_on_the_monitor(device, tmp_path, monkeypatch):
    """The same circuit on each engine: silent on the confident answers, firing on the mistakes, with
    the ideal gate recorded beside it; a closed gate writes nothing (a learning rate small enough
    that the answers stay those of the initial weights)."""
    from spikegate.backends.spiking import StandaloneClassifier

    monkeypatch.setenv("SPIKEGATE_CACHE", str(tmp_path / "cache"))
    ds = tiny_dataset(n_train=6)
    spec = _spec(eta=0.001 / second)
    cls = StandaloneClassifier if device == "cpp_standalone" else GatedClassifier
    clf = cls(spec, make_gate("ern", tau_mem=0), ds.x_train, seed=4, chunk=8, name=f"sgmondev{device[:3]}")
    W = np.full((16, 3), -2.0)
    W[:, 0] = 6.0
    clf.set_weights(0, W)
    labels = np.array([0, 1, 0, 2, 0, 1])
    log = clf.present(np.arange(6), labels)
    mistake = labels != 0
    assert np.all(log.outputs[:, 0] > 5) and np.all(log.outputs[:, 1:] == 0)
    assert np.array_equal(log.gate_open, mistake) and np.array_equal(log.reference_gate, mistake)
    assert np.all(log.writes[mistake].sum(axis=1) > 0) and np.all(log.writes[~mistake] == 0)
