import math

import numpy as np
import pytest
from brian2 import ms, second, Hz

from spikegate import ERNSignal, ParameterError, integrate_ern_update


@pytest.mark.parametrize("tau_e", [30 * ms, 100 * ms, math.inf * second])
@pytest.mark.parametrize("rise", [0 * ms, 4 * ms])
def test_closed_form_equals_explicit_integration(tau_e, rise):
    ern = ERNSignal(latency=10 * ms, tau=20 * ms, rise=rise, amplitude=1.5, window=250 * ms)
    eta = 2.0 / second
    e_td = np.array([0.0, 1.0, 2.5, 7.0])
    L = np.array([1.0, -0.3, 0.8, -1.0])
    explicit = integrate_ern_update(ern, eta, tau_e, e_td, L, window=250 * ms, dt=0.005 * ms)
    closed = ern.effective_learning_rate(eta, tau_e) * L * e_td
    # forward-Euler accumulation: error O(dt / tau) ~ 2.5e-4
    np.testing.assert_allclose(explicit, closed, rtol=1e-3, atol=1e-12)
    assert abs(closed[3]) > 0.01  # the comparison is not trivially about zeros


def test_closed_form_values():
    ern = ERNSignal(latency=0 * ms, tau=100 * ms, amplitude=1.0, window=math.inf * second)
    # infinite trace and window: integral of e^{-t/tau} = tau
    assert float(ern.integral_weight(math.inf * second) / ms) == pytest.approx(100.0)
    # tau_e = tau_ERN = 100 ms: tau_c = 50 ms
    assert float(ern.integral_weight(100 * ms) / ms) == pytest.approx(50.0)
    late = ERNSignal(latency=50 * ms, tau=100 * ms, window=math.inf * second)
    assert float(late.integral_weight(100 * ms) / ms) == pytest.approx(50.0 * math.exp(-0.5))
    # a finite post-decision interval cuts the integral: 50 ms (1 - e^{-(400 - 50)/50})
    assert float(ERNSignal(latency=50 * ms, tau=100 * ms, window=400 * ms).integral_weight(100 * ms) / ms) == \
        pytest.approx(50.0 * math.exp(-0.5) * (1 - math.exp(-7)))
    # a rise: the kernel's peak is normalised to the amplitude
    rising = ERNSignal(latency=0 * ms, tau=100 * ms, rise=10 * ms, amplitude=2.0)
    s = np.linspace(0, 0.3, 30001)
    assert rising.kernel(s).max() == pytest.approx(2.0, rel=1e-6)
    peak_time = 0.1 * 0.01 / 0.09 * math.log(10)
    assert s[np.argmax(rising.kernel(s))] == pytest.approx(peak_time, abs=1e-5)
    assert rising.kernel(-0.001) == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"tau": -5 * ms}, "ERNSignal.tau = -5. * msecond: must be > 0. * second"),
    ({"latency": 5 * Hz}, "ERNSignal.latency = 5. * hertz: wrong unit, expected units of ms (e.g. 1*ms)"),
    ({"amplitude": 0}, "ERNSignal.amplitude = 0: must be > 0"),
    ({"rise": 100 * ms}, "ERNSignal.rise = 100. * msecond: must be < tau = 100. * msecond"),
    ({"integration": "fast"}, "ERNSignal.integration = 'fast': unknown; allowed: closed_form, simulated"),
    ({"integration": "simulated", "window": math.inf * second},
     "ERNSignal.window = inf: a simulated post-decision interval must be finite"),
])
def test_ern_errors(kwargs, message):
    with pytest.raises(ParameterError) as err:
        ERNSignal(**kwargs)
    assert str(err.value) == message


# ---------------------------------------------------------------------------- the ERN in the network
def _ern_spec(integration, rise=5 * ms, dt=0.5 * ms, latency=10 * ms, window=150 * ms, layers=(16, 6, 3)):
    from brian2 import mV
    from spikegate import NetworkSpec, PoissonInput, ThreeFactorRule

    rule = ThreeFactorRule(eta=2 / second, eta_hidden=1 / second, tau_e=100 * ms, nu_target=200 * Hz, w_max=6.0)
    return NetworkSpec(layers=layers, dt=dt, t_stim=30 * ms, w_scale=3 * mV, rule=rule,
                       init_gain=(24.0, 4.0)[:len(layers) - 1], input=PoissonInput(400 * Hz),
                       ern=ERNSignal(latency=latency, tau=50 * ms, rise=rise, window=window, integration=integration))


def _run(spec, gate, n=40, seed=5, name="sgern"):
    import brian2 as b2
    from spikegate import GatedClassifier
    from conftest import tiny_dataset

    ds = tiny_dataset(n_train=n)
    b2.prefs.codegen.target = "numpy"
    b2.seed(seed)
    clf = GatedClassifier(spec, gate, ds.x_train, seed=seed, chunk=16, name=name)
    return clf, clf.present(np.arange(n), ds.y_train)


@pytest.mark.parametrize("rise", [0 * ms, 5 * ms])
def test_simulated_and_closed_form_ern_write_the_same(rise):
    """The simulated post-decision interval (ERN and eligibility integrated in Brian2) and the
    closed form give the same writes and the same weights (1e-6 relative) over many presentations."""
    from spikegate import ERNGate

    runs = {mode: _run(_ern_spec(mode, rise=rise), ERNGate(), name=f"sg{mode[:3]}") for mode in ("closed_form", "simulated")}
    (closed, log_c), (sim, log_s) = runs["closed_form"], runs["simulated"]
    np.testing.assert_array_equal(log_s.writes, log_c.writes)
    np.testing.assert_array_equal(log_s.gate_open, log_c.gate_open)
    np.testing.assert_allclose(log_s.drive, log_c.drive, rtol=1e-12)
    assert log_c.writes.sum() > 100 and 0 < log_c.gate_open.sum()
    for k in range(2):
        w_c, w_s = closed.weights(k), sim.weights(k)
        assert np.abs(w_s - w_c).max() <= 1e-6 * np.abs(w_c).max()
        assert not np.array_equal(w_c, closed.weights(k) * 0)  # weights are not trivially zero
    # the simulated interval is simulated: each presentation is a stimulus and 5 silent ticks
    from spikegate.backends.spiking.schedule import rows_per_presentation

    assert rows_per_presentation(sim.spec) == 1 + 5 and rows_per_presentation(closed.spec) == 1


def test_ern_is_recorded_with_a_state_monitor():
    """The simulated ERN is a Brian2 variable: zero until decision + latency, then the declared kernel."""
    import brian2 as b2
    from spikegate import Always

    spec = _ern_spec("simulated", rise=5 * ms, latency=10 * ms)
    from spikegate import GatedClassifier
    from conftest import tiny_dataset

    ds = tiny_dataset(n_train=3)
    b2.seed(1)
    clf = GatedClassifier(spec, Always(), ds.x_train, seed=1, chunk=4, name="sgmon")
    ern_mon = b2.StateMonitor(clf.ern_group, "ern", record=0, name="sgmon_ern_monitor")
    x_mon = b2.StateMonitor(clf.input, "x", record=True, name="sgmon_x_monitor")
    net = b2.Network(clf.objects, ern_mon, x_mon)
    clf.load_schedule([0, 1], ds.y_train[:2])
    clf.align(net)
    net.run(clf.duration(), namespace={})
    t = np.asarray(ern_mon.t / second)
    ern = np.asarray(ern_mon.ern[0])
    t_d = 0.030                                         # the first decision: end of the first stimulus
    after = (t >= t_d) & (t < t_d + 0.150)              # its post-decision interval
    s = t[after] - t_d - 0.010                          # time since the onset
    expected = spec.ern.kernel(s)                       # always: drive 1
    np.testing.assert_allclose(ern[after], expected, rtol=1e-9, atol=1e-12)
    assert np.all(ern[(t >= t_d) & (t < t_d + 0.010 - 1e-9)] == 0) and ern[after].max() == pytest.approx(1.0, rel=1e-3)
    late = after & (t > t_d + 0.080)                    # long after the rise: pure decay with tau
    slope = np.polyfit(t[late], np.log(ern[late]), 1)[0]
    assert slope == pytest.approx(-1 / 0.050, rel=1e-3)
    # the eligibility decays freely in the silent interval: no input, exact exponential with tau_e
    x = np.asarray(x_mon.x)
    i = int(np.argmax(x[:, np.searchsorted(t, t_d)]))
    quiet = after & (t > t_d + 0.001)
    ratio = x[i, quiet][1:] / x[i, quiet][:-1]
    np.testing.assert_allclose(ratio, math.exp(-float(spec.dt / spec.rule.tau_e)), rtol=1e-9)
    assert x[i, np.searchsorted(t, t_d)] > 0


@pytest.mark.parametrize("gate, limit", [
    ("lazy", {"name": "ern", "graded": False, "tau_mem": 0.0}),
    ("memorized", {"name": "ern", "graded": False, "tau_mem": "inf"}),
    ("trace", {"name": "ern", "graded": False, "tau_mem": 2.0}),
])
def test_binary_ern_is_lazy_memorized_and_trace_bit_for_bit(gate, limit):
    from spikegate.training import train
    from conftest import TINY_MODEL, tiny_dataset

    ds = tiny_dataset()
    base = dict(TINY_MODEL, train=dict(TINY_MODEL["train"], epochs=3))
    reference = {"name": gate, **({"tau_mem": 2.0} if gate == "trace" else {})}
    a = train(dict(base, gate=reference), dataset=ds, progress=False)
    b = train(dict(base, gate=limit), dataset=ds, progress=False)
    for name in ("gate_open", "mistake", "writes", "sum_abs_dw", "drive"):
        np.testing.assert_array_equal(getattr(a.ledger, name), getattr(b.ledger, name), err_msg=name)
    for wa, wb in zip(a.final_weights, b.final_weights):
        np.testing.assert_array_equal(wa, wb)
    assert 0 < a.ledger.n_gated < a.ledger.n_presentations


@pytest.mark.parametrize("dt", [0.1 * ms, 0.5 * ms])
def test_input_counts_are_poisson_at_any_dt(dt):
    """Input spike counts over a window: mean x nu_max T and Fano factor 1 (a Bernoulli draw per
    step would give 1 - x nu_max dt: 0.8 at 400 Hz and dt 0.5 ms)."""
    import brian2 as b2
    from spikegate import Always, GatedClassifier

    spec = _ern_spec("closed_form", dt=dt, layers=(16, 3))
    image = np.linspace(0.25, 1.0, 16)[None, :]
    b2.seed(7)
    clf = GatedClassifier(spec, Always(), image, seed=1, chunk=400, name="sgpoisson")
    counts = b2.StateMonitor(clf.input, "n", record=True, when="start", order=10, clock=clf.tick_clock,
                             name=f"{clf.name}_counts")
    net = b2.Network(clf.objects, counts)
    clf.control.learning = 0
    clf.load_schedule(np.zeros(400, dtype=int), np.zeros(400, dtype=int), learn=False)
    clf.align(net)
    net.run(clf.duration(), namespace={})
    n = np.asarray(counts.n)[:, 1:401]                  # the counts at the end of each presentation
    mean = image[0] * float(spec.input.nu_max * spec.t_stim)
    sem = np.sqrt(mean / 400)
    assert np.all(np.abs(n.mean(axis=1) - mean) < 4.5 * sem)
    fano = n.var(axis=1, ddof=1).sum() / n.mean(axis=1).sum()   # pooled over the 16 inputs
    assert 0.93 < fano < 1.07, fano
    assert n.max() >= 1 and np.issubdtype(n.dtype, np.floating)
