"""The in-graph classifier: decisions, gating, write counting, targets and rate expectations."""
import math

import numpy as np
import brian2 as b2
import pytest
from brian2 import ms, mV, Hz, second, prefs

from spikegate import (Always, GatedClassifier, Lazy, Margin, NetworkSpec, ParameterError, PoissonInput,
                       ThreeFactorRule, DataError)
from spikegate.training import train
from conftest import TINY_MODEL, tiny_dataset


def small_spec(**kw):
    rule = ThreeFactorRule(eta=2 / second, eta_hidden=1 / second, tau_e=100 * ms, nu_target=200 * Hz, w_max=6.0)
    base = dict(layers=(16, 6, 3), dt=0.5 * ms, t_stim=30 * ms, w_scale=3 * mV, rule=rule, init_gain=(24.0, 4.0),
                input=PoissonInput(400 * Hz))
    base.update(kw)
    if len(base["layers"]) == 2 and "init_gain" not in kw:
        base["init_gain"] = (1.0,)
    return NetworkSpec(**base)


def decide(clf, counts, label, kappa=1, always=False):
    """Run one slot boundary with hand-set output counts and return (mistake, gate)."""
    clf.set_gate(Always() if always else (Margin(kappa) if kappa > 1 else Lazy()))
    net = clf.network
    clf.load_schedule([], [])
    clf.align(net)
    clf.control.valid = 1
    clf.control.learning = 1
    clf.control.memgate = 0
    clf.control.label = label
    clf.output.n = counts
    net.run(clf.duration(0))
    mon = clf.control_monitor
    return bool(mon.mistake[0, -1] > 0.5), bool(mon.gate[0, -1] > 0.5)


@pytest.fixture(scope="module")
def blank_classifier():
    prefs.codegen.target = "numpy"
    spec = small_spec(layers=(16, 3))
    return GatedClassifier(spec, Lazy(), np.zeros((2, 16)), seed=0, chunk=4)


@pytest.mark.parametrize("counts, label, kappa, mistake, gate", [
    ([5, 2, 1], 0, 1, False, False),     # correct, clear winner
    ([5, 2, 1], 1, 1, True, True),       # wrong argmax
    ([5, 5, 1], 0, 1, True, True),       # tie at the maximum
    ([0, 0, 0], 2, 1, True, True),       # silence
    ([5, 4, 1], 0, 2, False, True),      # correct, margin 1 < kappa 2
    ([5, 3, 1], 0, 2, False, False),     # margin 2 == kappa: closed
])
def test_in_graph_decision_and_gate(blank_classifier, counts, label, kappa, mistake, gate):
    assert decide(blank_classifier, counts, label, kappa) == (mistake, gate)


def test_always_gate_opens_on_correct(blank_classifier):
    assert decide(blank_classifier, [5, 2, 1], 0, always=True) == (False, True)


def test_in_graph_decision_is_the_shared_gate_decision(blank_classifier):
    """The generated code decides exactly as spikegate.model.gate_decision (which the rate backend calls):
    mistakes, gates and ERN drives, for every kind of gate, with and without the memory."""
    from spikegate.model import ERNGate, Memorized, Random, gate_decision, margins

    clf = blank_classifier
    rng = np.random.default_rng(3)
    gates = [Lazy(), Margin(2), Margin(3), Always(), Memorized(), ERNGate(), ERNGate(half_snr=1.5, snr_width=0.3, bias=1.0),
             ERNGate(graded=False), Random(p=0.5)]
    seen = set()
    for trial in range(48):
        counts, label = rng.integers(0, 12, size=3), int(rng.integers(0, 3))
        memgate = bool(rng.random() < 0.25)
        gate = gates[trial % len(gates)]
        clf.set_gate(gate)
        net = clf.network
        clf.load_schedule([], [])
        clf.align(net)
        clf.control.valid, clf.control.learning, clf.control.memgate, clf.control.label = 1, 1, float(memgate), label
        clf.output.n = counts
        net.run(clf.duration(0))
        mon = clf.control_monitor
        got = (bool(mon.mistake[0, -1] > 0.5), bool(mon.gate[0, -1] > 0.5), float(mon.drive[0, -1]))
        m = margins(counts[None, :].astype(float), np.array([label]))
        rival = counts[label] - m[0]
        d = gate_decision(m, [memgate], gate, noise=np.sqrt(counts[label] + rival + 1))
        assert got[:2] == (bool(d.mistake[0]), bool(d.open[0])), (gate, counts, label, memgate)
        assert got[2] == pytest.approx(float(d.drive[0]), rel=1e-12, abs=1e-15), (gate, counts, label, memgate)
        seen.add(got[:2])
    # every outcome was compared; only the random gate shuts on a mistake
    assert seen == {(True, True), (False, True), (False, False), (True, False)}


@pytest.mark.parametrize("alpha", [0.5, 0.3, 1.0])   # sqrt, the general power, the identity
def test_ledger_equals_independent_weight_diff_per_presentation(alpha):
    """Per presentation and projection: writes == count(W_after != W_before), sums == sum |diff|."""
    prefs.codegen.target = "numpy"
    b2.seed(5)
    ds = tiny_dataset(n_train=30)
    spec = small_spec(alpha=alpha)
    clf = GatedClassifier(spec, Always(), ds.x_train, seed=5, chunk=4)
    n_checked_writes = n_clipped = 0
    for s in range(30):
        before = [clf.weights(k) for k in range(spec.n_projections)]
        log = clf.present([s], [ds.y_train[s]])
        after = [clf.weights(k) for k in range(spec.n_projections)]
        for k in range(spec.n_projections):
            diff = np.abs(after[k] - before[k])
            assert log.writes[0, k] == np.count_nonzero(diff)
            assert log.sum_abs_dw[0, k] == pytest.approx(diff.sum(), rel=1e-12, abs=1e-15)
            assert log.sum_abs_dw_alpha[0, k] == pytest.approx((diff ** spec.alpha).sum(), rel=1e-12, abs=1e-15)
            n_checked_writes += log.writes[0, k]
            n_clipped += np.count_nonzero(np.abs(after[k]) == spec.rule.w_max)
    assert n_checked_writes > 100      # the comparison covered many writes...
    assert n_clipped > 0               # ...including clipped weights, where a gated update writes nothing


def test_closed_gate_writes_nothing():
    prefs.codegen.target = "numpy"
    b2.seed(5)
    ds = tiny_dataset(n_train=20)
    clf = GatedClassifier(small_spec(), Always(), ds.x_train, seed=5, chunk=4)
    w_before = [clf.weights(k) for k in range(2)]
    log = clf.present(np.arange(8), ds.y_train[:8], learn=False)
    assert not log.gate_open.any() and log.writes.sum() == 0 and log.sum_abs_dw.sum() == 0
    for k in range(2):
        np.testing.assert_array_equal(clf.weights(k), w_before[k])
    assert log.trace_updates.sum() > 0  # traces still ran


def expected_trace(rate, dt, t_stim, tau_e):
    """E[x(t_d)] of a Bernoulli(rate*dt)-per-step spike train with an exact exponential trace."""
    steps = int(round(float(t_stim / dt)))
    decay = math.exp(-float(dt / tau_e))
    p = float(rate * dt)
    # a spike in step s is followed by (steps - 1 - s) decays
    return p * sum(decay ** (steps - 1 - s) for s in range(steps))


def test_expected_spiking_update_matches_rate_delta_rule():
    """Mean dw_ij over presentations of one image = eta_eff * (y_j - E[n_j]/n_target) * E[x_i].

    E[x_i] is the closed-form expectation of the Poisson trace; E[n_j] the measured mean count.
    Tolerance: 4 standard errors estimated from 10 blocks, plus 4 % for the neglected
    covariance of n_j and x_i (measured up to ~2 % with 16 inputs: a high input count
    raises n_j and so lowers L_j). Seeded, so the result does not depend on test order.
    """
    prefs.codegen.target = "numpy"
    b2.seed(11)
    spec = small_spec(layers=(16, 3), rule=ThreeFactorRule(eta=1e-4 / second, tau_e=100 * ms, nu_target=200 * Hz,
                                                          w_max=10.0))
    image = np.linspace(0.2, 1.0, 16)[None, :]
    clf = GatedClassifier(spec, Always(), image, seed=2, chunk=100)
    W = np.zeros((16, 3))
    W[:, 0] = 0.8    # label neuron driven below its target
    W[:, 1] = 1.0    # a rival that fires more
    clf.set_weights(0, W)
    blocks, counts = [], []
    for b in range(10):
        w0 = clf.weights(0)
        log = clf.present(np.zeros(100, dtype=int), np.zeros(100, dtype=int))
        blocks.append((clf.weights(0) - w0) / 100)
        counts.append(log.outputs.mean(axis=0))
    blocks = np.array(blocks)
    mean_dw = blocks.mean(axis=0)
    sem = blocks.std(axis=0, ddof=1) / math.sqrt(len(blocks))
    n_mean = np.mean(counts, axis=0)
    n_target = float(spec.rule.nu_target * spec.t_stim)
    x_mean = np.array([expected_trace(p * spec.input.nu_max, spec.dt, spec.t_stim, spec.rule.tau_e) for p in image[0]])
    L = np.array([1.0, 0.0, 0.0]) - n_mean / n_target
    eta_eff = spec.effective_learning_rates()[0]
    predicted = eta_eff * np.outer(x_mean, L)
    assert n_mean[0] > 1 and n_mean[1] > n_mean[0] and n_mean[2] == 0   # the regime is the intended one
    assert np.all(np.abs(mean_dw - predicted) <= 4 * sem + 0.04 * np.abs(predicted) + 1e-15)
    assert np.all(predicted[:, 0] > 0) and np.all(predicted[:, 1] < 0)


def test_cython_and_numpy_targets_agree():
    ds = tiny_dataset()
    results = {}
    for target in ("cython", "numpy"):
        model = dict(TINY_MODEL, train=dict(TINY_MODEL["train"], target=target, epochs=1))
        res = train(model, dataset=ds, progress=False)
        results[target] = res
    a, b = results["cython"], results["numpy"]
    np.testing.assert_array_equal(a.ledger.writes, b.ledger.writes)
    np.testing.assert_array_equal(a.ledger.gate_open, b.ledger.gate_open)
    for k in range(a.config.spec.n_projections):
        np.testing.assert_allclose(a.classifier.weights(k), b.classifier.weights(k), rtol=1e-12, atol=1e-14)
    assert a.ledger.m0 > 0


def test_trace_limits_equal_lazy_and_memorized_in_training():
    ds = tiny_dataset()
    runs = {}
    for gate, extra in (("lazy", {}), ("trace0", {"name": "trace", "tau_mem": 0.0}),
                        ("memorized", {"name": "memorized"}), ("traceinf", {"name": "trace", "tau_mem": "inf"})):
        g = extra or {"name": gate}
        model = dict(TINY_MODEL, gate=g, train=dict(TINY_MODEL["train"], epochs=3))
        runs[gate] = train(model, dataset=ds, progress=False)
    for x, y in (("lazy", "trace0"), ("memorized", "traceinf")):
        np.testing.assert_array_equal(runs[x].ledger.gate_open, runs[y].ledger.gate_open)
        np.testing.assert_array_equal(runs[x].ledger.writes, runs[y].ledger.writes)
        for k in range(runs[x].config.spec.n_projections):
            np.testing.assert_array_equal(runs[x].classifier.weights(k), runs[y].classifier.weights(k))
    # memorized opens at least as often as lazy, and strictly more once mistakes are remembered
    assert runs["memorized"].ledger.n_gated > runs["lazy"].ledger.n_gated


def test_classifier_rejects_bad_images_and_labels():
    prefs.codegen.target = "numpy"
    spec = small_spec()
    with pytest.raises(DataError, match=r"images: shape \(3, 15\), expected \(n_images, 16\)"):
        GatedClassifier(spec, Lazy(), np.zeros((3, 15)))
    bad = np.zeros((3, 16))
    bad[1, 2] = np.nan
    with pytest.raises(DataError, match="NaN or infinite"):
        GatedClassifier(spec, Lazy(), bad)
    clf = GatedClassifier(spec, Lazy(), np.zeros((3, 16)), chunk=4)
    clf.network  # in a network: no "unused object" warning when it is deleted
    with pytest.raises(DataError, match=r"labels: value 3 outside \[0, 2\]"):
        clf.load_schedule([0, 1], [0, 3])


@pytest.mark.parametrize("kwargs, message", [
    ({"t_stim": 10.25 * ms}, "NetworkSpec.t_stim = 10.25 * msecond: must be a multiple (>= 2) of dt = "),
    ({"dt": -1 * ms}, "NetworkSpec.dt = -1. * msecond: must be > 0. * second"),
    ({"layers": (16,)}, "NetworkSpec.layers = [16]: need at least inputs and outputs"),
    ({"w_scale": 3 * ms}, "NetworkSpec.w_scale = 3. * msecond: wrong unit, expected units of mV (e.g. 1*mV)"),
])
def test_spec_errors(kwargs, message):
    with pytest.raises(ParameterError) as err:
        small_spec(**kwargs)
    assert str(err.value).startswith(message)


def test_test_window_network_reads_the_trained_weights_over_t_test():
    from spikegate.config import resolve
    from spikegate.backends import present_test_set

    ds = tiny_dataset()
    cfg = resolve(TINY_MODEL, ["network.t_test='90 ms'"])
    assert cfg.test_spec.t_stim == 90 * ms and cfg.spec.t_stim == 30 * ms
    clf = cfg.backend.build(cfg, ds)
    tester = cfg.backend.build_tester(cfg, ds, clf)
    assert tester is not clf and cfg.backend.build_tester(resolve(TINY_MODEL), ds, clf) is clf
    clf.present(np.arange(40), ds.y_train, learn=True)
    idx = np.arange(40, 60)
    short = clf.present(idx, ds.y_test, learn=False)
    long = present_test_set(clf, tester, idx, ds.y_test)
    for k in range(cfg.spec.n_projections):
        np.testing.assert_array_equal(tester.weights(k), clf.weights(k))
    # after an onset delay t0 (membranes charging from rest) outputs fire at a steady rate, so
    # counts scale as (T - t0): ratio = (90 - t0) / (30 - t0), with t0 a few ms (tau_m = 20 ms)
    ratio = long.outputs.sum() / short.outputs.sum()
    onset_ms = (90 - 30 * ratio) / (1 - ratio)
    assert 1 < onset_ms < 15, (ratio, onset_ms)
    assert not long.gate_open.any() and long.writes.sum() == 0


def test_bad_test_window_is_one_config_error():
    from spikegate.config import resolve
    from spikegate.errors import ConfigError

    with pytest.raises(ConfigError, match=r"network.t_test = .*multiple \(>= 2\) of dt"):
        resolve(TINY_MODEL, ["network.t_test='0.7 ms'"])


def test_two_classifiers_share_one_network_with_their_own_monitors():
    """Default names are unique per living classifier ("sg", "sg2"); a name must be an identifier."""
    ds = tiny_dataset(n_train=12)
    spec = small_spec()
    a = GatedClassifier(spec, Lazy(), ds.x_train, seed=1, chunk=6)
    b = GatedClassifier(spec, Always(), ds.x_train, seed=2, chunk=6)
    assert a.name != b.name and {a.name, b.name} <= {"sg", *(f"sg{k}" for k in range(2, 50))}
    rate_a = b2.PopulationRateMonitor(a.output, name="mine_a")
    rate_b = b2.PopulationRateMonitor(b.output, name="mine_b")
    net = b2.Network(a.objects, b.objects, rate_a, rate_b)
    for clf in (a, b):
        clf.load_schedule(np.arange(6), ds.y_train[:6])
        clf.align(net)
    net.run(a.duration())
    assert a.last_presentations(6).gate_open.sum() <= 6 and b.last_presentations(6).gate_open.all()
    assert len(rate_a.rate) == len(rate_b.rate) > 0
    with pytest.raises(ParameterError, match=r"GatedClassifier.name = '../x': expected an ASCII identifier"):
        GatedClassifier(spec, Lazy(), ds.x_train, name="../x")


def test_run_in_your_own_network_drives_the_memory_and_ignores_your_variables(caplog):
    """``clf.run(net, samples, labels, memory)``: the user's names (n, w, x) do not warn, the memory
    gates of the second pass are the mistakes of the first, and the result equals present()."""
    import logging

    from spikegate import Memorized, MistakeMemory

    ds = tiny_dataset(n_train=10)
    n, w, x = 5, 3, 1   # noqa: F841 - names of the classifier's own variables, in the caller's namespace
    spec = small_spec()
    clf = GatedClassifier(spec, Memorized(), ds.x_train, seed=4, chunk=4, name="own")
    spikes = b2.SpikeMonitor(clf.input, name="own_spikes")
    net = b2.Network(clf.objects, spikes)
    memory = MistakeMemory(10, float("inf"), 0.5)
    with caplog.at_level(logging.WARNING, logger="brian2"):
        first = clf.run(net, np.arange(10), ds.y_train[:10], memory=memory)
        second = clf.run(net, np.arange(10), ds.y_train[:10], memory=memory)
    assert not [r for r in caplog.records if "run namespace" in r.getMessage()]
    np.testing.assert_array_equal(memory.gate(np.arange(10)) > 0, first.mistake | second.mistake)
    # memorized: open on a mistake now or remembered from the first pass
    np.testing.assert_array_equal(second.gate_open, second.mistake | first.mistake)
    assert spikes.num_spikes > 0 and len(first.mistake) == len(second.mistake) == 10
    other = b2.Network(b2.SpikeMonitor(clf.input, name="own_other_spikes"))
    with pytest.raises(ParameterError, match="the network lacks .* of the classifier's objects"):
        clf.run(other, np.arange(2), ds.y_train[:2])
