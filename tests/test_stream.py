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
        _spec("stream", 0 * ms, "simulated", window=30 * 17 * ms)
    assert str(err.value).startswith("NetworkSpec.isi = 0. * second: on the stream the ERN window 0.51 * second "
                                     "overlaps 18 decisions at once, at most 16")
    assert _spec("stream", 30 * ms, "simulated", window=60 * ms).ern_slots == 2
    assert _spec("stream", 0 * ms, "simulated", window=60 * ms).ern_slots == 3
    assert _spec("stream", 60 * ms, "simulated", window=60 * ms).ern_slots == 1
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


def _timing_spec(mode, isi, latency, tau, window, eta_scale=1.0, layers=(16, 3)):
    """The reviewer's protocol: two ERN time courses, the learning rate compensated for the ratio of
    their closed-form integrals (so that on the reset schedule they write the same weights)."""
    rule = ThreeFactorRule(eta=2 / second * eta_scale, eta_hidden=1 / second * eta_scale, tau_e=20 * ms,
                           nu_target=200 * Hz, w_max=6.0)
    return NetworkSpec(layers=layers, dt=1 * ms, t_stim=T_STIM, w_scale=3 * mV, rule=rule,
                       init_gain=(24.0,) * (len(layers) - 1), input=PoissonInput(400 * Hz), stimulus_mode=mode,
                       isi=isi, ern=ERNSignal(latency=latency, tau=tau, rise=0 * ms, window=window,
                                              integration="simulated"))


def _compensated_pair(mode, isi, layers=(16, 3)):
    early = _timing_spec(mode, isi, 5 * ms, 10 * ms, 60 * ms, layers=layers)
    late = _timing_spec(mode, isi, 40 * ms, 40 * ms, 150 * ms, layers=layers)
    ratio = float(early.ern.integral_weight(early.rule.tau_e) / late.ern.integral_weight(late.rule.tau_e))
    return early, _timing_spec(mode, isi, 40 * ms, 40 * ms, 150 * ms, ratio, layers=layers)


@pytest.mark.parametrize("mode,isi", [("reset", 0 * ms), ("stream", 300 * ms)])
def test_with_a_long_silence_only_the_erns_integral_matters(mode, isi):
    """The reviewer's test where the silence holds every ERN window (the reset schedule, or the
    stream with 300 ms of interval: 15 trace time constants): the eligibility only decays while
    the ERN lasts, so two time courses with the learning rate compensated for their integrals
    write the same weights (to 1e-6)."""
    early, late = _compensated_pair(mode, isi)
    assert early.ern_slots == late.ern_slots == 1
    w_early, log_early = _train(early, name="sgtiming")
    w_late, log_late = _train(late, name="sgtiming")
    assert log_early.writes.sum() > 0
    np.testing.assert_allclose(w_late[0], w_early[0], rtol=1e-6, atol=1e-6 * np.abs(w_early[0]).max())


def test_the_stream_with_a_long_interval_equals_the_reset_schedule_with_a_simulated_ern():
    """One projection (the input is silent after its stimulus in both): the stream's limit."""
    w_reset, log_reset = _train(_compensated_pair("reset", 300 * ms)[1], name="sgtiming")
    w_stream, log_stream = _train(_compensated_pair("stream", 300 * ms)[1], name="sgtiming")
    np.testing.assert_allclose(w_stream[0], w_reset[0], rtol=1e-6, atol=1e-6 * np.abs(w_reset[0]).max())
    assert np.array_equal(log_reset.outputs, log_stream.outputs)


def test_on_a_short_interval_the_erns_time_course_changes_what_is_learned():
    """The reviewer's test on the stream without an interval: the late, slow ERN of a decision
    (onset 40 ms, 150 ms window: 5 stimuli) multiplies the eligibility of the next stimuli, the
    early one (onset 5 ms) mostly its own: with the same compensated integral they write
    different weights and a different sum of |dw|."""
    early, late = _compensated_pair("stream", 0 * ms)
    assert (early.ern_slots, late.ern_slots) == (3, 6)
    w_early, log_early = _train(early, name="sgtiming")
    w_late, log_late = _train(late, name="sgtiming")
    diff = np.abs(w_late[0] - w_early[0]).max()
    assert diff > 0.05 * np.abs(w_early[0]).max()
    # the same input until the first write (tick 3): what differs is what was learned
    assert np.array_equal(log_early.outputs[:3], log_late.outputs[:3])
    assert log_early.sum_abs_dw.sum() != pytest.approx(log_late.sum_abs_dw.sum(), rel=1e-3)


def test_overlapping_ern_windows_write_what_an_independent_integral_gives():
    """The slots against a numpy reconstruction from monitors: every decision ``p`` writes
    :math:`\\Delta w_{ij} = \\eta L^{(p)}_j \\sum_k x_i(t_k)\\,\\varepsilon_p(t_k)\\,c` over the steps
    of its own window, where :math:`\\varepsilon_p` is the ERN group's neuron ``p mod S`` and
    :math:`c = (1 - e^{-\\lambda dt})/\\lambda` the exact step integral. 3 ERNs overlap (60 ms of
    window after each decision, no interval), so each window also sees the next stimuli."""
    import brian2 as b2

    spec = _timing_spec("stream", 0 * ms, 5 * ms, 10 * ms, 60 * ms)
    spec = spec.replace(rule=spec.rule.replace(w_max=1e3))                   # no clipping
    ds = tiny_dataset(n_train=8)
    b2.prefs.codegen.target = "numpy"
    b2.seed(5)
    clf = GatedClassifier(spec, Always(), ds.x_train, seed=5, chunk=8, name="sgslots")
    w0 = clf.weights(0).copy()
    step = dict(when="start", order=21, clock=clf.net.clock)
    mx = b2.StateMonitor(clf.input, "x", record=True, name="sgslots_mon_x", **step)
    me = b2.StateMonitor(clf.ern_group, "ern", record=True, name="sgslots_mon_ern", **step)
    log = clf.run(b2.Network(clf.objects, mx, me), np.arange(8), ds.y_train[:8])
    x, e, t = np.asarray(mx.x), np.asarray(me.ern), np.asarray(mx.t / second)
    S, steps_per_row = spec.ern_slots, int(round(float(spec.t_stim / spec.dt)))
    lam = 1 / float(spec.rule.tau_e / second) + 1 / float(spec.ern.tau / second)
    c = -np.expm1(-lam * float(spec.dt / second)) / lam
    L = np.eye(3)[ds.y_train[:8]] - log.outputs / float(spec.rule.nu_target * spec.t_stim)
    expected = np.zeros_like(w0)
    for p in range(8):
        first = (p + 1) * steps_per_row                                    # the decision's step
        window = slice(first, first + spec.post_rows * steps_per_row)      # up to its write
        acc = (x[:, window] * e[p % S, window]).sum(axis=1) * c
        expected += float(spec.rule.eta * second) * np.outer(acc, L[p])
    assert S == 3 and np.isclose(t[steps_per_row], float(spec.t_stim / second))
    np.testing.assert_allclose(clf.weights(0) - w0, expected, rtol=1e-9, atol=1e-12)
    assert np.abs(expected).max() > 1e-2


def test_the_last_presentations_read_their_own_writes_when_windows_overlap():
    """Decisions of an earlier schedule still write after the first of the last ones: the read-out
    pairs writes and decisions by rank from the start of the records, so the last 3 presentations
    read back what the run that made them logged."""
    import brian2 as b2

    spec = _timing_spec("stream", 0 * ms, 5 * ms, 10 * ms, 60 * ms)
    ds = tiny_dataset(n_train=7)
    b2.prefs.codegen.target = "numpy"
    b2.seed(2)
    clf = GatedClassifier(spec, Always(), ds.x_train, seed=2, chunk=8, name="sglast")
    net = b2.Network(clf.objects)
    clf.run(net, np.arange(2), ds.y_train[:2])
    log = clf.run(net, np.arange(7), ds.y_train[:7])
    again = clf.last_presentations(3)
    assert np.array_equal(again.writes, log.writes[4:]) and log.writes[4:].sum() > 0
    assert np.array_equal(again.sum_abs_dw, log.sum_abs_dw[4:]) and np.array_equal(again.samples, [4, 5, 6])
    assert not np.array_equal(log.sum_abs_dw[2:5], log.sum_abs_dw[4:])      # a shifted pairing would differ
