r"""The three-factor plasticity rule and its third factor, the error-related negativity (ERN).

:class:`ThreeFactorRule` holds the learning rates, the eligibility trace and the target
rate of the delta rule; :class:`ERNSignal` the kernel of the global error signal.

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
meaning a non-decaying eligibility (a spike count). :func:`spikegate.backends.spiking.integrate_ern_update`
integrates the same product explicitly in Brian2; the two agree (see the tests).
"""
from __future__ import annotations

import math

from brian2 import Hz, Quantity, ms, second

from ..units import check_number, check_quantity
from .declaration import Declaration, declaration, default


@declaration
class ThreeFactorRule(Declaration):
    r"""Delta rule at the output, feedback alignment in hidden layers, gated by the ERN.

    Parameters
    ----------
    eta : Quantity (1/time, > 0)
        Learning rate :math:`\eta` of the output projection.
    eta_hidden : Quantity (1/time, > 0)
        Learning rate of projections into hidden layers.
    tau_e : Quantity (time, > 0, may be inf)
        Time constant of the presynaptic eligibility trace.
    nu_target : Quantity (rate, > 0)
        Target rate of the label neuron; :math:`L_j = y_j - n_j/(\nu_\mathrm{target} T_\mathrm{stim})`.
    w_max : float (> 0)
        Weights are clipped to :math:`[-w_\mathrm{max}, w_\mathrm{max}]`.
    feedback_scale : float (> 0)
        Standard deviation of the fixed random feedback weights :math:`B`.
    """

    eta: Quantity = default(2.0 / second)
    eta_hidden: Quantity = default(1.0 / second)
    tau_e: Quantity = default(100 * ms)
    nu_target: Quantity = default(200 * Hz)
    w_max: float = 4.0
    feedback_scale: float = 1.0

    def __post_init__(self):
        for name in ("eta", "eta_hidden"):
            self._set(name, check_quantity(f"ThreeFactorRule.{name}", getattr(self, name), 1 / second,
                                           minimum=0 / second, strict=True, example="2 Hz"))
        self._set("tau_e", check_quantity("ThreeFactorRule.tau_e", self.tau_e, ms, minimum=0 * ms, strict=True,
                                          allow_inf=True))
        self._set("nu_target", check_quantity("ThreeFactorRule.nu_target", self.nu_target, Hz,
                                              minimum=0 * Hz, strict=True))
        self._set("w_max", check_number("ThreeFactorRule.w_max", self.w_max, minimum=0, strict_min=True))
        self._set("feedback_scale", check_number("ThreeFactorRule.feedback_scale", self.feedback_scale,
                                                 minimum=0, strict_min=True))


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
