"""Eligibility that depends on both sides (``rule.eligibility = "pre_post"``) and time constants per layer.

The pre-post tag of synapse i -> j decays with its projection's ``tau_e`` and is raised by the
presynaptic trace x_i (time constant ``tau_pre``) at each spike of j. The tests hold the
recorded tag against that law step by step, and the write against it: a synapse onto a silent
neuron has no eligibility and is not changed.
"""

import numpy as np
import pytest
from brian2 import Hz, mV, ms, second

from spikegate import (Always, ERNSignal, GatedClassifier, NetworkSpec, ParameterError, PoissonInput,
                       ThreeFactorRule)
from spikegate.config import resolve
from conftest import ROOT, tiny_dataset

T_STIM = 30 * ms


def _spec(mode="reset", integration="closed_form", eligibility="pre_post", tau_e_hidden=40 * ms, isi=0 * ms):
    rule = ThreeFactorRule(eta=2 / second, eta_hidden=1 / second, tau_e=20 * ms, tau_e_hidden=tau_e_hidden,
                           tau_pre=10 * ms, nu_target=200 * Hz, w_max=20.0, eligibility=eligibility)
    return NetworkSpec(layers=(16, 6, 3), dt=1 * ms, t_stim=T_STIM, w_scale=3 * mV, rule=rule, init_gain=(40.0, 30.0),
                       input=PoissonInput(400 * Hz), stimulus_mode=mode, isi=isi,
                       ern=ERNSignal(latency=10 * ms, tau=20 * ms, rise=0 * ms, window=60 * ms,
                                     integration=integration))


def _classifier(spec, n=16, seed=3, name="sgelig"):
    import brian2 as b2

    ds = tiny_dataset(n_train=n)
    b2.prefs.codegen.target = "numpy"
    b2.seed(seed)
    return GatedClassifier(spec, Always(), ds.x_train, seed=seed, chunk=n, name=name), ds


def _train(spec, n=16, seed=3):
    clf, ds = _classifier(spec, n, seed)
    w0 = [clf.weights(k).copy() for k in range(spec.n_projections)]
    log = clf.present(np.arange(n), ds.y_train[:n])
    return w0, [clf.weights(k) for k in range(spec.n_projections)], log


@pytest.mark.parametrize("eligibility", ["pre_post", "presynaptic"])
def test_on_the_reset_schedule_the_simulated_ern_equals_its_closed_form(eligibility):
    """The post-decision rows are silent: every eligibility (trace or tag, each projection with its
    own time constant) only decays, so the simulated integral is the closed form W e(t_d)."""
    _, w_closed, log_closed = _train(_spec(integration="closed_form", eligibility=eligibility))
    _, w_sim, log_sim = _train(_spec(integration="simulated", eligibility=eligibility))
    assert log_closed.writes[:, 1].sum() > 0 and log_closed.writes[:, 0].sum() > 0
    for a, b in zip(w_closed, w_sim):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-9)


def test_a_synapse_onto_a_silent_neuron_has_no_eligibility_and_keeps_its_weight():
    """Presentation by presentation, closed form: the write changes output column j only if
    neuron j spiked; the presynaptic rule credits a silent output too (the label's signal)."""
    for eligibility in ("pre_post", "presynaptic"):
        clf, ds = _classifier(_spec(eligibility=eligibility), n=8, name=f"sgsilent_{eligibility}")
        mixed = 0
        for p in range(8):
            w = clf.weights(1).copy()
            log = clf.present([p], ds.y_train[p:p + 1])
            dw, spiked = clf.weights(1) - w, log.outputs[0] > 0
            if spiked.all() or not spiked.any():
                continue
            mixed += 1
            if eligibility == "pre_post":
                assert np.all(dw[:, ~spiked] == 0) and np.abs(dw[:, spiked]).max() > 0
            elif ds.y_train[p] in np.flatnonzero(~spiked):
                assert np.abs(dw[:, ds.y_train[p]]).max() > 0
        assert mixed >= 2


def test_the_tag_follows_its_law_step_by_step_on_the_stream():
    """Recorded at the end of every step on the stream (nothing restarts): for synapse i -> j,
    tag[k] = tag[k-1] exp(-dt/tau) + s_j[k] x_i[k-1] exp(-dt/tau_pre), with tau the projection's
    (tau_e_hidden into the hidden layer, tau_e into the output); x_i decays with tau_pre."""
    import brian2 as b2

    spec = _spec(mode="stream")
    clf, ds = _classifier(spec, n=4, name="sgtag")
    end = dict(when="end", clock=clf.net.clock)
    mons = [b2.StateMonitor(clf.net.synapses[k], "tag", record=True, name=f"sgtag_mon_tag{k}", **end) for k in range(2)]
    xs = [b2.StateMonitor(g, "x", record=True, name=f"sgtag_mon_x{k}", **end)
          for k, g in enumerate(clf.net.presynaptic)]
    spikes = [b2.SpikeMonitor(g, name=f"sgtag_mon_spikes{k}") for k, g in enumerate(clf.net.layers)]
    log = clf.run(b2.Network(clf.objects, *mons, *xs, *spikes), np.arange(4), ds.y_train[:4])
    # the ledger counts a tag update per synapse at each postsynaptic spike, beside the traces'
    a, n = log.activity, spec.layers
    assert np.array_equal(log.trace_updates, np.stack([a[:, k] * n[k + 1] + a[:, k + 1] * n[k] for k in range(2)], 1))
    assert np.array_equal(a[:, 1], [len(spikes[0].t[(spikes[0].t >= p * T_STIM) & (spikes[0].t < (p + 1) * T_STIM)])
                                    for p in range(4)])
    dt = float(spec.dt / second)
    for k, tau in enumerate(spec.rule.eligibility_time_constants(2)):
        tag = np.asarray(mons[k].tag)                       # (synapses, steps), synapses i-major
        x = np.asarray(xs[k].x)
        n_pre, n_post = spec.layers[k], spec.layers[k + 1]
        steps = tag.shape[1]
        fired = np.zeros((n_post, steps), bool)
        idx = np.rint(np.asarray(spikes[k].t / spec.dt)).astype(int)
        fired[np.asarray(spikes[k].i), idx] = True
        decay, decay_pre = np.exp(-dt / float(tau / second)), np.exp(-dt / float(spec.rule.tau_pre / second))
        expected = (tag[:, :-1] * decay).reshape(n_pre, n_post, -1) \
            + fired[None, :, 1:] * (x[:, None, :-1] * decay_pre)
        np.testing.assert_allclose(tag[:, 1:].reshape(n_pre, n_post, -1), expected, rtol=1e-9, atol=1e-12)
        assert fired.sum() > 5 and tag.max() > 0.5


def test_the_traces_of_each_layer_decay_with_their_own_time_constant():
    """Presynaptic eligibility with tau_e_hidden: the input's trace (feeding the hidden layer) decays
    with tau_e_hidden, the hidden layer's (feeding the output) with tau_e, through a silent row."""
    import brian2 as b2

    spec = _spec(eligibility="presynaptic", mode="stream", isi=T_STIM)
    clf, ds = _classifier(spec, n=1, name="sgtau")
    mons = [b2.StateMonitor(g, "x", record=True, name=f"sgtau_mon{k}", when="end", clock=clf.net.clock)
            for k, g in enumerate(clf.net.presynaptic)]
    clf.run(b2.Network(clf.objects, *mons), [0], ds.y_train[:1])
    steps = int(round(float(T_STIM / spec.dt)))
    silent = np.arange(steps, 2 * steps - 1)          # the interval's steps (no input, hidden below threshold)
    for mon, tau in zip(mons, spec.rule.eligibility_time_constants(2)):
        x = np.asarray(mon.x)
        ratio = x[:, silent + 1] / np.where(x[:, silent] > 0, x[:, silent], np.nan)
        mine = ratio[np.isfinite(ratio) & (ratio < 1)]
        np.testing.assert_allclose(mine, np.exp(-float(spec.dt / tau)), rtol=1e-9)
        assert len(mine) > 10


def test_eligibility_keys_errors_and_hashes():
    with pytest.raises(ParameterError) as err:
        ThreeFactorRule(eligibility="stdp")
    assert str(err.value).startswith("ThreeFactorRule.eligibility = 'stdp'")
    assert "presynaptic" in str(err.value) and "pre_post" in str(err.value)
    with pytest.raises(ParameterError) as err:
        ThreeFactorRule(tau_e_hidden="-5 ms")
    assert str(err.value).startswith("ThreeFactorRule.tau_e_hidden = ") and "must be > 0. * second" in str(err.value)
    with pytest.raises(ParameterError) as err:
        ThreeFactorRule(tau_e_hidden="5 mV")
    assert "wrong unit, expected units of" in str(err.value)
    default = resolve(ROOT / "models" / "digits.toml")
    assert "eligibility" not in default.section("rule") and default.hash == "deb1ef9665bc28cb"
    pp = resolve(ROOT / "models" / "digits.toml", [("rule.eligibility", "pre_post"), ("rule.tau_pre", "15 ms")])
    assert pp.section("rule")["eligibility"] == "pre_post" and pp.spec.rule.tau_pre == 15 * ms
    hidden = resolve(ROOT / "models" / "mnist-2layer.toml", [("rule.tau_e_hidden", "50 ms")]).spec
    eff = hidden.effective_learning_rates()
    same = resolve(ROOT / "models" / "mnist-2layer.toml").spec.effective_learning_rates()
    assert eff[1] == same[1] and eff[0] != same[0]
    assert eff[0] == pytest.approx(hidden.ern.effective_learning_rate(hidden.rule.eta_hidden, 50 * ms))


def test_the_compiled_engine_runs_overlapping_erns_with_pre_post_tags(tmp_path, monkeypatch):
    """One structure with every new part: the stream with no interval (9 ERN windows open at
    once), a simulated ERN, a tag per synapse. Its ledger is consistent with its codes: every
    changed code was written at least once, and each write flips at least one bit."""
    from spikegate.backends.spiking import StandaloneClassifier
    from spikegate.data import load_digits

    monkeypatch.setenv("SPIKEGATE_CACHE", str(tmp_path / "cache"))
    ds = load_digits()
    spec = resolve(ROOT / "models" / "digits.toml", [("synapse.rounding", "nearest"), ("network.stimulus_mode", "stream"),
                                                      ("ern.integration", "simulated"), ("rule.eligibility", "pre_post"),
                                                      ("network.init_gain", 8)]).spec
    assert spec.ern_slots == 9
    clf = StandaloneClassifier(spec, Always(), ds.x_train, seed=1, chunk=20)
    w0 = clf.weights(0).copy()
    log = clf.present(np.arange(40), ds.y_train[:40])
    changed = np.count_nonzero(clf.weights(0) != w0)
    assert len(log.outputs) == 40 and log.outputs.sum() > 0
    assert 0 < changed <= log.writes.sum() <= log.bits_flipped.sum()
