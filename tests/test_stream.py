"""The continuous stream (``network.stimulus_mode = "stream"``) and the inter-stimulus interval.

On the stream membranes, currents, traces and refractoriness carry over from one stimulus to
the next; the reset schedule restarts them before each stimulus. With a long interval the two
must agree (the stream's limit); with none they must not.
"""

import numpy as np
import pytest
from brian2 import Hz, mV, ms, second

from spikegate import (Always, ERNSignal, GatedClassifier, NetworkSpec, ParameterError, PoissonInput, SynapseFormat,
                       ThreeFactorRule)
from spikegate.config import resolve
from conftest import ROOT, tiny_dataset

T_STIM = 30 * ms


def _spec(mode, isi, integration="closed_form", window=60 * ms, synapse=SynapseFormat()):
    rule = ThreeFactorRule(eta=2 / second, eta_hidden=1 / second, tau_e=20 * ms, nu_target=200 * Hz, w_max=6.0)
    return NetworkSpec(layers=(16, 6, 3), dt=1 * ms, t_stim=T_STIM, w_scale=3 * mV, rule=rule, init_gain=(24.0, 4.0),
                       input=PoissonInput(400 * Hz), stimulus_mode=mode, isi=isi, synapse=synapse,
                       ern=ERNSignal(latency=10 * ms, tau=20 * ms, rise=0 * ms, window=window,
                                     integration=integration))


def _train(spec, n=16, seed=3, name="sgstream"):
    import brian2 as b2

    ds = tiny_dataset(n_train=n)
    b2.prefs.codegen.target = "numpy"
    b2.seed(seed)
    clf = GatedClassifier(spec, Always(), ds.x_train, seed=seed, chunk=16, name=name)
    log = clf.present(np.arange(n), ds.y_train)
    return [clf.weights(k) for k in range(spec.n_projections)], log


def test_a_long_interval_on_the_stream_equals_the_reset_schedule():
    """600 ms of silence is 30 membrane and trace time constants: what carries over is below 1e-9,
    so the weights agree to 1e-6 and every spike count is the same."""
    w_reset, log_reset = _train(_spec("reset", 600 * ms))
    w_stream, log_stream = _train(_spec("stream", 600 * ms))
    for a, b in zip(w_reset, w_stream):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6 * np.abs(a).max())
    assert np.array_equal(log_reset.outputs, log_stream.outputs) and log_reset.writes.sum() > 0
    # a float synapse counts any change: the carried eligibility (~1e-13) changes a few more doubles
    assert np.all(log_stream.writes >= log_reset.writes)


def test_on_the_stream_a_simulated_ern_credits_spikes_after_the_stimulus():
    """The reset schedule also restarts the membranes at the decision; the stream does not, so a
    hidden neuron charged at the stimulus's end can fire early in the silence, inside the ERN's
    window, and the hidden-to-output write credits it. The input is silent there in both."""
    w_reset, log_reset = _train(_spec("reset", 600 * ms, "simulated"))
    w_stream, log_stream = _train(_spec("stream", 600 * ms, "simulated"))
    np.testing.assert_allclose(w_stream[0], w_reset[0], rtol=1e-6, atol=1e-6 * np.abs(w_reset[0]).max())
    assert np.array_equal(log_reset.activity, log_stream.activity)      # the same stimulus-window spikes
    assert np.abs(w_stream[1] - w_reset[1]).max() > 1e-3
    assert log_stream.sum_abs_dw[:, 1].sum() > log_reset.sum_abs_dw[:, 1].sum()


def test_a_long_interval_writes_the_same_codes_on_finite_precision_synapses():
    """With 8-bit synapses and nearest rounding a change far below a code step writes nothing:
    the stream's limit is the reset schedule's ledger, write for write."""
    synapse = SynapseFormat(bits=8, rounding="nearest")
    w_reset, log_reset = _train(_spec("reset", 600 * ms, synapse=synapse))
    w_stream, log_stream = _train(_spec("stream", 600 * ms, synapse=synapse))
    for a, b in zip(w_reset, w_stream):
        assert np.array_equal(a, b)
    assert np.array_equal(log_reset.writes, log_stream.writes) and log_reset.writes.sum() > 0
    assert np.array_equal(log_reset.bits_flipped, log_stream.bits_flipped)


def test_without_an_interval_the_stream_learns_something_else():
    """The previous stimulus's eligibility is still there at the next decision: other weights."""
    w_reset, _ = _train(_spec("reset", 0 * ms))
    w_stream, _ = _train(_spec("stream", 0 * ms))
    assert max(np.abs(a - b).max() for a, b in zip(w_reset, w_stream)) > 1e-3


@pytest.mark.parametrize("mode", ["reset", "stream"])
def test_traces_decay_freely_across_the_interval_on_the_stream_and_restart_on_reset(mode):
    """Two silent rows after each stimulus: on the stream each input trace decays as
    x(t) = x(t_0) exp(-(t - t_0) / tau_e) across both row boundaries; on reset it is 0 there."""
    import brian2 as b2

    spec = _spec(mode, 2 * T_STIM)
    ds = tiny_dataset(n_train=2)
    b2.prefs.codegen.target = "numpy"
    clf = GatedClassifier(spec, Always(), ds.x_train, seed=1, chunk=4, name="sgstreammon")
    mon = b2.StateMonitor(clf.input, "x", record=True, when="end", name="sgstreammon_x")
    net = b2.Network(clf.objects, mon)
    clf.load_schedule([0, 1], ds.y_train[:2])
    clf.align(net)
    net.run(clf.duration(), namespace={})
    t, x = np.asarray(mon.t / second), np.asarray(mon.x)
    last = int(np.searchsorted(t, float(T_STIM / second) - 1e-9)) - 1      # the stimulus's last step
    silent = np.arange(last + 1, last + 1 + int(round(float(2 * T_STIM / spec.dt))))
    assert x[:, last].max() > 1                                         # something to carry
    if mode == "stream":
        decay = np.exp(-(silent - last) * float(spec.dt / spec.rule.tau_e))
        np.testing.assert_allclose(x[:, silent], x[:, [last]] * decay, rtol=1e-9, atol=1e-12)
    else:
        assert np.all(x[:, silent] == 0)
    assert clf.duration() == 2 * 3 * T_STIM + T_STIM                    # 2 presentations of 3 rows, 1 idle row


def test_stream_errors():
    with pytest.raises(ParameterError) as err:
        _spec("stream", 45 * ms)
    assert str(err.value).startswith("NetworkSpec.isi = 45. * msecond: the interval is silent rows of the stimulus "
                                     "window; must be a multiple of t_stim = 30. * msecond (0 allowed)")
    with pytest.raises(ParameterError) as err:
        _spec("stream", 30 * ms, "simulated", window=60 * ms)
    assert "a simulated ERN on the stream needs an interval >= ern.window = 60. * msecond" in str(err.value)
    with pytest.raises(ParameterError) as err:
        _spec("flow", 0 * ms)
    assert str(err.value) == "NetworkSpec.stimulus_mode = 'flow': unknown; allowed: reset, stream"
    _spec("reset", 30 * ms, "simulated", window=60 * ms)      # reset: the longer of the two is silent


def test_the_reset_schedule_keeps_its_config_hash():
    """The default (reset, no interval) writes neither key, so existing scan stores still resume."""
    default = resolve(ROOT / "models" / "digits.toml")
    assert "stimulus_mode" not in default.section("network") and "isi" not in default.section("network")
    stream = resolve(ROOT / "models" / "digits.toml", [("network.stimulus_mode", "stream"), ("network.isi", "50 ms")])
    assert stream.section("network")["stimulus_mode"] == "stream" and stream.spec.isi_rows == 1
    assert stream.hash != default.hash


def test_the_compiled_engine_runs_the_stream_and_its_limit(tmp_path, monkeypatch):
    """The compiled engine builds the stream (its own structure) and, with 3 s of silence (30 trace
    time constants), learns what it learns on the reset schedule with the same interval: 8-bit
    synapses, nearest rounding, write for write."""
    from spikegate.backends.spiking import StandaloneClassifier
    from spikegate.data import load_digits

    monkeypatch.setenv("SPIKEGATE_CACHE", str(tmp_path / "cache"))
    ds = load_digits()
    runs = {}
    for mode in ("reset", "stream"):
        spec = resolve(ROOT / "models" / "digits.toml", [("synapse.rounding", "nearest"),
                                                          ("network.stimulus_mode", mode),
                                                          ("network.isi", "3 s")]).spec
        clf = StandaloneClassifier(spec, Always(), ds.x_train, seed=1, chunk=8)
        runs[mode] = (clf.present(np.arange(40), ds.y_train[:40]), clf.weights(0))
    (log_r, w_r), (log_s, w_s) = runs["reset"], runs["stream"]
    assert np.array_equal(w_r, w_s) and np.array_equal(log_r.writes, log_s.writes) and log_r.writes.sum() > 500
    assert np.array_equal(log_r.outputs, log_s.outputs)


def test_the_schedule_puts_the_post_decision_rows_first_then_idle_rows():
    """A 60 ms simulated ERN window (2 rows) inside a 90 ms interval (3 rows): stimulus, 2 post
    rows (the write at the end of the second), 1 idle row; without learning, 3 idle rows."""
    from spikegate.backends.spiking.schedule import COLUMNS, MAX_CHUNK, duration, rows_per_presentation, schedule_tables

    spec = _spec("reset", 90 * ms, "simulated", window=60 * ms)
    images = np.random.default_rng(0).uniform(size=(5, 16))
    table, pixels = schedule_tables(spec, images, [3, 1], [2, 0])
    assert rows_per_presentation(spec) == 4 and rows_per_presentation(spec, learn=False) == 4
    col = {k: table[:9, v].tolist() for k, v in COLUMNS.items()}
    assert col["valid"] == [1, 0, 0, 0, 1, 0, 0, 0, 0]
    assert col["post"] == [0, 1, 1, 0, 0, 1, 1, 0, 0]
    assert col["write"] == [0, 0, 1, 0, 0, 0, 1, 0, 0]
    assert col["image"] == [0, MAX_CHUNK, MAX_CHUNK, MAX_CHUNK, 1, MAX_CHUNK, MAX_CHUNK, MAX_CHUNK, MAX_CHUNK]
    assert col["label"][:4] == [2, 2, 2, 0] and col["sample"][4] == 1
    np.testing.assert_array_equal(pixels[:2], images[[3, 1]])
    test_table, _ = schedule_tables(spec, images, [3, 1], [2, 0], learn=False)
    assert test_table[:8, COLUMNS["post"]].sum() == 0 and test_table[:8, COLUMNS["write"]].tolist() == [1, 0, 0, 0] * 2
    assert duration(spec, 2) == 9 * T_STIM and duration(spec, 2, learn=False) == 9 * T_STIM
