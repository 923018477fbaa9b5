import math

import numpy as np
import pytest
from brian2 import ms, second, Hz

from spikegate import ERNSignal, ParameterError, integrate_ern_update


@pytest.mark.parametrize("tau_e", [30 * ms, 100 * ms, math.inf * second])
def test_closed_form_equals_explicit_integration(tau_e):
    ern = ERNSignal(latency=10 * ms, tau=20 * ms, amplitude=1.5, window=250 * ms)
    eta = 2.0 / second
    e_td = np.array([0.0, 1.0, 2.5, 7.0])
    L = np.array([1.0, -0.3, 0.8, -1.0])
    explicit = integrate_ern_update(ern, eta, tau_e, e_td, L, window=250 * ms, dt=0.005 * ms)
    closed = ern.effective_learning_rate(eta, tau_e) * L * e_td
    # forward-Euler accumulation: error O(dt / tau) ~ 2.5e-4
    np.testing.assert_allclose(explicit, closed, rtol=1e-3, atol=1e-12)
    assert abs(closed[3]) > 0.01  # the comparison is not trivially about zeros


def test_closed_form_values():
    ern = ERNSignal(latency=0 * ms, tau=100 * ms, amplitude=1.0)
    # infinite trace and window: integral of e^{-t/tau} = tau
    assert float(ern.integral_weight(math.inf * second) / ms) == pytest.approx(100.0)
    # tau_e = tau_ERN = 100 ms: tau_c = 50 ms
    assert float(ern.integral_weight(100 * ms) / ms) == pytest.approx(50.0)
    late = ERNSignal(latency=50 * ms, tau=100 * ms)
    assert float(late.integral_weight(100 * ms) / ms) == pytest.approx(50.0 * math.exp(-0.5))


@pytest.mark.parametrize("kwargs, message", [
    ({"tau": -5 * ms}, "ERNSignal.tau = -5. * msecond: must be > 0. * second"),
    ({"latency": 5 * Hz}, "ERNSignal.latency = 5. * hertz: wrong unit, expected units of ms (e.g. 1*ms)"),
    ({"amplitude": 0}, "ERNSignal.amplitude = 0: must be > 0"),
])
def test_ern_errors(kwargs, message):
    with pytest.raises(ParameterError) as err:
        ERNSignal(**kwargs)
    assert str(err.value) == message
