r"""The error-related negativity (ERN): the global third factor of the plasticity rule.

At the decision time :math:`t_d` of a gated presentation, a global signal

.. math::

    \varepsilon(t) = A\, e^{-(t - t_d - \Delta)/\tau_\mathrm{ERN}}\;\Theta(t - t_d - \Delta)

rises after the latency :math:`\Delta` and decays with :math:`\tau_\mathrm{ERN}`.
The weight change is accumulated while :math:`\varepsilon` is on and written once:

.. math::

    \Delta w_{ij} = \eta\, L_j \int_{t_d}^{t_d + T_\mathrm{acc}} e_{ij}(t)\, \varepsilon(t)\, dt .

After :math:`t_d` the stimulus is over, so the eligibility decays freely,
:math:`e_{ij}(t) = e_{ij}(t_d)\, e^{-(t - t_d)/\tau_e}`, and the integral has the closed form

.. math::

    \Delta w_{ij} = \eta_\mathrm{eff}\, L_j\, e_{ij}(t_d), \qquad
    \eta_\mathrm{eff} = \eta\, A\, e^{-\Delta/\tau_e}\,
    \tau_c \left(1 - e^{-(T_\mathrm{acc} - \Delta)/\tau_c}\right), \qquad
    \tau_c = \frac{\tau_e \tau_\mathrm{ERN}}{\tau_e + \tau_\mathrm{ERN}},

with :math:`T_\mathrm{acc} = \infty` by default (the whole ERN), :math:`\tau_e = \infty`
meaning a non-decaying eligibility (a spike count). :func:`integrate_ern_update`
integrates the same product explicitly in Brian2; the two agree (see the tests).
"""
from __future__ import annotations

import math

from brian2 import ms, second, Quantity

from .declaration import Declaration, declaration, default
from .quantities import check_quantity, check_number


@declaration
class ERNSignal(Declaration):
    """Parameters of the ERN kernel.

    Parameters
    ----------
    latency : Quantity (time, >= 0)
        Delay :math:`\\Delta` between the decision and the rise of the ERN.
    tau : Quantity (time, > 0)
        Decay time constant :math:`\\tau_\\mathrm{ERN}`.
    amplitude : float (> 0)
        Peak value :math:`A` (dimensionless).
    window : Quantity (time, > latency, may be inf)
        Accumulation window :math:`T_\\mathrm{acc}` after the decision.
    """

    latency: Quantity = default(50 * ms)
    tau: Quantity = default(100 * ms)
    amplitude: float = 1.0
    window: Quantity = default(math.inf * second)

    def __post_init__(self):
        self._set("latency", check_quantity("ERNSignal.latency", self.latency, ms, minimum=0 * ms))
        self._set("tau", check_quantity("ERNSignal.tau", self.tau, ms, minimum=0 * ms, strict=True))
        self._set("amplitude", check_number("ERNSignal.amplitude", self.amplitude, minimum=0, strict_min=True))
        self._set("window", check_quantity("ERNSignal.window", self.window, ms, minimum=self.latency,
                                           strict=True, allow_inf=True))

    def effective_learning_rate(self, eta, tau_e) -> float:
        """:math:`\\eta_\\mathrm{eff}` (dimensionless) for a rule with rate ``eta`` (1/s) and trace ``tau_e``."""
        return float(eta * self.integral_weight(tau_e))

    def integral_weight(self, tau_e) -> Quantity:
        r"""Closed form of :math:`\int e(t)\,\varepsilon(t)\,dt / e(t_d)` (a time)."""
        tau_e_s = float(tau_e / second)
        tau_ern = float(self.tau / second)
        lat = float(self.latency / second)
        span = float(self.window / second) - lat
        if math.isinf(tau_e_s):
            tau_c = tau_ern
            at_rise = 1.0
        else:
            tau_c = tau_e_s * tau_ern / (tau_e_s + tau_ern)
            at_rise = math.exp(-lat / tau_e_s)
        tail = 1.0 if math.isinf(span) else -math.expm1(-span / tau_c)
        return self.amplitude * at_rise * tau_c * tail * second


def integrate_ern_update(ern: ERNSignal, eta, tau_e, eligibility_at_decision, learning_signal,
                         window, dt=0.01 * ms, target="numpy"):
    r"""Explicitly integrate :math:`\eta L \int e(t)\varepsilon(t)dt` with Brian2 (reference).

    One synapse per entry of ``eligibility_at_decision``; the decision is at ``t = 0``.
    Both the eligibility and the ERN are integrated as differential equations with
    exact (exponential) updates, and the accumulated product with the forward Euler rule.

    Returns
    -------
    numpy.ndarray
        The accumulated weight changes after ``window``.
    """
    import numpy as np
    import brian2 as b2

    e0 = np.asarray(eligibility_at_decision, dtype=float)
    L = np.broadcast_to(np.asarray(learning_signal, dtype=float), e0.shape)
    tau_e_val = tau_e if not math.isinf(float(tau_e / second)) else 1e30 * second
    ns = {"tau_e": tau_e_val, "tau_ern": ern.tau, "ern_amp": ern.amplitude, "lat": ern.latency, "eta": eta}
    group = b2.NeuronGroup(len(e0), """
        delig/dt = -elig/tau_e : 1
        deps/dt = -eps/tau_ern : 1
        dacc/dt = eta * L * elig * eps : 1
        L : 1
        raised : boolean
        """, method="euler", namespace=ns, dt=dt, name="spikegate_ern_reference")
    group.run_regularly("eps = int(t >= lat and not raised) * ern_amp + int(raised) * eps\n"
                        "raised = raised or t >= lat", dt=dt, when="start", name="spikegate_ern_reference_rise")
    group.elig = e0
    group.L = L
    net = b2.Network(group)
    with _target(target):
        net.run(window)
    return np.array(group.acc[:])


class _target:
    """Temporarily select a Brian2 code-generation target."""

    def __init__(self, target):
        self.target = target

    def __enter__(self):
        from brian2 import prefs
        self.old = prefs.codegen.target
        prefs.codegen.target = self.target

    def __exit__(self, *exc):
        from brian2 import prefs
        prefs.codegen.target = self.old
