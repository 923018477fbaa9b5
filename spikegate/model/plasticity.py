r"""The three-factor plasticity rule and its third factor, the error-related negativity (ERN).

:class:`ThreeFactorRule` holds the learning rates, the eligibility trace and the target
rate of the delta rule; :class:`ERNSignal` the time course of the global error signal.

**The ERN.** Each decision at time :math:`t_d` raises a global signal with the drive
:math:`D \in [0, 1]` the gate computed (:func:`spikegate.model.gates.gate_decision`:
about 1 on a mistake, a smaller correct-response negativity on uncertain correct
trials, about 0 on confident ones; raised further by the sample's mistake memory):

.. math::

    \varepsilon(t) = D\, A\, k(t - t_d - \Delta), \qquad
    k(s) = \frac{e^{-s/\tau_d} - e^{-s/\tau_r}}{k_\mathrm{peak}}\;\Theta(s),

with latency :math:`\Delta`, rise :math:`\tau_r` (0: an instantaneous rise, :math:`k(s) =
e^{-s/\tau_d}`), decay :math:`\tau_d` and peak :math:`A` (:math:`k_\mathrm{peak}` normalises
the kernel's maximum to 1).

**The update.** After the decision the stimulus is switched off and every neuron is reset
to rest, so the network is silent during the *post-decision interval* of length
:math:`T_\mathrm{post}` (``window``): no spikes, and the presynaptic eligibility decays
freely, :math:`e_{ij}(t) = e_{ij}(t_d)\, e^{-(t - t_d)/\tau_e}`. The change accumulated
while the ERN is on is written once, at :math:`t_d + T_\mathrm{post}`:

.. math::

    \Delta w_{ij} = \eta\, L_j \int_{t_d}^{t_d + T_\mathrm{post}} e_{ij}(t)\, \varepsilon(t)\, dt
                  = \eta\, D\, W\, L_j\, e_{ij}(t_d),

.. math::

    W = \frac{A\, e^{-\Delta/\tau_e}}{k_\mathrm{peak}}
        \Bigl[\tau_{cd}\bigl(1 - e^{-(T_\mathrm{post} - \Delta)/\tau_{cd}}\bigr)
            - \tau_{cr}\bigl(1 - e^{-(T_\mathrm{post} - \Delta)/\tau_{cr}}\bigr)\Bigr], \qquad
    \tau_{cx} = \frac{\tau_e \tau_x}{\tau_e + \tau_x},

(:math:`\tau_e = \infty`: a non-decaying eligibility, :math:`\tau_{cx} = \tau_x`). Two
integrations of the same interval:

* ``integration = "closed_form"`` (the fast default): the silent interval is not simulated;
  :math:`W` is applied at the decision. The interval still counts in the simulated-time
  budget: a presentation lasts :math:`T_\mathrm{stim} + T_\mathrm{post}`.
* ``integration = "simulated"``: the interval is simulated in Brian2 (input off, traces
  decaying, :math:`\varepsilon(t)` a state of its own group, the integral accumulated per
  presynaptic neuron by exact integration), so the ERN and the eligibility can be recorded
  with monitors. The tests check that both give the same writes and weights to 1e-6.
  :func:`spikegate.backends.spiking.integrate_ern_update` integrates the product explicitly too.

**On the continuous stream** (``network.stimulus_mode = "stream"``) nothing is silenced: the
simulated integral :math:`\int e_{ij}(t)\,\varepsilon(t)\,dt` runs over whatever eligibility is
present, and when the window outlasts the inter-stimulus interval it covers the next stimuli
too (each pending decision keeps its own ERN and integral until its write,
:attr:`spikegate.model.NetworkSpec.ern_slots`). There the ERN's time course matters, not only
its integral :math:`W`: the closed form is exact only while the eligibility merely decays.

**The eligibility** (``eligibility``): the presynaptic trace :math:`e_{ij} = x_i`, or a tag per
synapse that pairs both sides, :math:`de_{ij}/dt = -e_{ij}/\tau_e + x_i(t)\sum_f\delta(t - t^f_j)`
(``"pre_post"``), with :math:`\tau_e` per projection (``tau_e_hidden`` into hidden layers).
"""
from __future__ import annotations

import math

import numpy as np
from brian2 import Hz, Quantity, ms, mV, second

from ..errors import ParameterError
from ..units import check_quantity, quantity_key
from .declaration import Declaration, declaration, param


ERN_INTEGRATIONS = ("closed_form", "simulated")
HIDDEN_DERIVATIVES = ("active", "boxcar")
ELIGIBILITIES = ("presynaptic", "pre_post")
#: Where the ERN comes from: computed from the counts (ideal) or made by a monitor population (spiking).
ERN_SOURCES = ("ideal", "spiking")


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
        Time constant of the eligibility (of the output projection, and of every projection
        unless ``tau_e_hidden`` is set).
    tau_e_hidden : Quantity (time, > 0, may be inf) or None
        Time constant of the eligibility of projections into hidden layers (default: ``tau_e``).
    eligibility : {"presynaptic", "pre_post"}
        ``"presynaptic"``: the eligibility of synapse :math:`i \to j` is the presynaptic trace
        :math:`x_i` (:math:`dx_i/dt = -x_i/\tau_e`, +1 per spike), stored once per presynaptic
        neuron. ``"pre_post"``: a tag per synapse that pairs both sides,
        :math:`de_{ij}/dt = -e_{ij}/\tau_e + x_i(t) \sum_f \delta(t - t_j^f)`: each postsynaptic
        spike adds the presynaptic trace :math:`x_i` (time constant ``tau_pre``), so a synapse
        whose target stayed silent has no eligibility. Costs a state per synapse, updated every
        step (and, with a simulated ERN, an integral per synapse and pending decision).
    tau_pre : Quantity (time, > 0)
        ``pre_post``: time constant of the presynaptic trace a postsynaptic spike samples.
    nu_target : Quantity (rate, > 0)
        Target rate of the label neuron; :math:`L_j = y_j - n_j/(\nu_\mathrm{target} T_\mathrm{stim})`.
    w_max : float (> 0)
        Weights are clipped to :math:`[-w_\mathrm{max}, w_\mathrm{max}]`.
    feedback_scale : float (> 0)
        Standard deviation of the fixed random feedback weights :math:`B`.
    hidden_derivative : {"active", "boxcar"}
        The postsynaptic factor :math:`f'_k` of a hidden neuron's learning signal
        :math:`L_k = f'_k \sum_j B_{kj} L_j`: ``"active"``, :math:`[n_k > 0]` (it spiked in the
        window); ``"boxcar"``, the fraction of the window's time steps in which its membrane was
        within ``boxcar_width`` of threshold or above it, a surrogate derivative from the membrane
        potential (the boxcar of event-driven random backpropagation, Neftci et al. 2017, averaged
        over the window): silent neurons close to threshold learn too, saturated ones less.
        LIF neurons only.
    boxcar_width : Quantity (voltage, > 0)
        Width of the boxcar below threshold.
    """

    eta: Quantity = param(2.0 / second, unit=1 / second, minimum=0 / second, strict_min=True, example="2 Hz",
                          doc="learning rate of the output projection")
    eta_hidden: Quantity = param(1.0 / second, unit=1 / second, minimum=0 / second, strict_min=True, example="1 Hz",
                                 doc="learning rate of projections into hidden layers")
    tau_e: Quantity = param(100 * ms, unit=ms, minimum=0 * ms, strict_min=True, allow_inf=True,
                            doc="time constant of the eligibility (every projection unless tau_e_hidden is set)")
    tau_e_hidden: Quantity | None = param(None, kind="any", example="50 ms",
                                          doc="time constant of the eligibility of projections into hidden layers "
                                              "(default: tau_e)")
    eligibility: str = param("presynaptic", choices=ELIGIBILITIES, compiled=True,
                             doc="presynaptic: the trace x_i; pre_post: a tag per synapse raised by x_i at each "
                                 "postsynaptic spike, decaying with tau_e")
    tau_pre: Quantity = param(20 * ms, unit=ms, minimum=0 * ms, strict_min=True,
                              doc="pre_post: time constant of the presynaptic trace x_i a postsynaptic spike samples")
    nu_target: Quantity = param(200 * Hz, unit=Hz, minimum=0 * Hz, strict_min=True,
                                doc="target rate of the label neuron")
    w_max: float = param(4.0, minimum=0, strict_min=True, cast=float, doc="weights are clipped to [-w_max, w_max]")
    feedback_scale: float = param(1.0, minimum=0, strict_min=True, cast=float,
                                  doc="standard deviation of the fixed random feedback weights B")
    hidden_derivative: str = param("active", choices=HIDDEN_DERIVATIVES, compiled=True,
                                   doc="hidden neurons' factor: active ([n > 0]) or boxcar (membrane near threshold)")
    boxcar_width: Quantity = param(5 * mV, unit=mV, minimum=0 * mV, strict_min=True,
                                   doc="boxcar: the band below threshold that counts")

    def validate(self):
        if self.tau_e_hidden is not None:
            self._set("tau_e_hidden", check_quantity("ThreeFactorRule.tau_e_hidden", self.tau_e_hidden, ms,
                                                     minimum=0 * ms, strict=True, allow_inf=True, example="50*ms"))

    def eligibility_time_constants(self, n_projections: int) -> list:
        """The eligibility's time constant of each projection (into hidden layers, then the output)."""
        hidden = self.tau_e if self.tau_e_hidden is None else self.tau_e_hidden
        return [hidden] * (n_projections - 1) + [self.tau_e]

    @property
    def pre_post(self) -> bool:
        return self.eligibility == "pre_post"


@declaration
class ERNSignal(Declaration):
    r"""The ERN kernel and the post-decision interval it is integrated over.

    Parameters
    ----------
    latency : Quantity (time, >= 0)
        Delay :math:`\Delta` between the decision and the onset of the ERN.
    tau : Quantity (time, > 0)
        Decay time constant :math:`\tau_d`.
    rise : Quantity (time, >= 0, < tau)
        Rise time constant :math:`\tau_r` (0: instantaneous rise).
    amplitude : float (> 0)
        Peak value :math:`A` of the ERN at drive :math:`D = 1` (dimensionless).
    window : Quantity (time, > latency)
        The post-decision interval :math:`T_\mathrm{post}`, silent, after each decision; the
        change is accumulated over it and written at its end. ``inf`` (the whole ERN) only
        with the closed form.
    integration : {"closed_form", "simulated"}
        How the interval is integrated (see the module docstring).
    source : {"ideal", "spiking"}
        ``"ideal"``: the drive :math:`D` computed from the counts at the decision raises the kernel
        above. ``"spiking"``: an error-monitoring population makes the ERN
        (:mod:`spikegate.model.error_monitor`, the ``[error_monitor]`` section); simulated only.
    """

    latency: Quantity = param(50 * ms, unit=ms, minimum=0 * ms, doc="delay between the decision and the ERN's onset")
    tau: Quantity = param(100 * ms, unit=ms, minimum=0 * ms, strict_min=True, doc="decay time constant of the ERN")
    rise: Quantity = param(0 * ms, unit=ms, minimum=0 * ms, doc="rise time constant (0: instantaneous), < tau")
    amplitude: float = param(1.0, minimum=0, strict_min=True, cast=float, doc="peak of the ERN at drive 1")
    window: Quantity = param(400 * ms, unit=ms, minimum=0 * ms, strict_min=True, allow_inf=True,
                             doc="the post-decision interval, > latency (inf: closed form only)")
    integration: str = param("closed_form", choices=ERN_INTEGRATIONS, compiled=True,
                             doc="closed_form (fast) or simulated (recordable)")
    source: str = param("ideal", choices=ERN_SOURCES, compiled=True,
                        doc="ideal: the drive computed from the counts; spiking: made by the error-monitoring "
                            "population ([error_monitor]; simulated only)")

    def validate(self):
        if not self.rise < self.tau:
            raise ParameterError(f"ERNSignal.rise = {self.rise!r}: must be < tau = {self.tau!r}", "ERNSignal.rise")
        if not self.window > self.latency:
            raise ParameterError(f"ERNSignal.window = {self.window!r}: must be > latency = {self.latency!r}",
                                 "ERNSignal.window")
        if self.simulated and math.isinf(float(self.window / ms)):
            raise ParameterError("ERNSignal.window = inf: a simulated post-decision interval must be finite",
                                 "ERNSignal.window")
        if self.source == "spiking" and not self.simulated:
            raise ParameterError("ERNSignal.source = 'spiking': the monitor population's ERN is simulated; set "
                                 "integration = 'simulated'", "ERNSignal.source")

    def structure(self) -> dict:
        """The integration; simulated, also the interval's length and whether the ERN rises (the
        code's shape). Latency, time constants and amplitude are run-time values."""
        out = {"type": "ERNSignal", "integration": self.integration}
        if self.spiking:
            out["source"] = self.source
        if self.simulated:
            out.update(window=quantity_key(self.window), rise=bool(self.rise > 0 * ms))
        return out

    @property
    def simulated(self) -> bool:
        return self.integration == "simulated"

    @property
    def spiking(self) -> bool:
        """Whether the ERN is made by the error-monitoring population."""
        return self.source == "spiking"

    def peak(self) -> float:
        r""":math:`k_\mathrm{peak} = \max_s (e^{-s/\tau_d} - e^{-s/\tau_r})` (1 without a rise)."""
        return kernel_peak(float(self.tau / second), float(self.rise / second))

    def kernel(self, s) -> "np.ndarray":
        """:math:`A\\,k(s)` at times ``s`` after the onset (a Quantity or seconds); 0 before it."""
        return self.amplitude * ern_kernel(np.asarray(s / second if isinstance(s, Quantity) else s, dtype=float),
                                           float(self.tau / second), float(self.rise / second))

    def effective_learning_rate(self, eta, tau_e) -> float:
        """:math:`\\eta W` (dimensionless) for a rule with rate ``eta`` (1/s) and trace ``tau_e``."""
        return float(eta * self.integral_weight(tau_e))

    def integral_weight(self, tau_e) -> Quantity:
        r"""Closed form :math:`W = \int \varepsilon(t)\, e(t)\, dt / (D\, e(t_d))` over the window (a time)."""
        return self.amplitude * ern_integral(float(tau_e / second), float(self.tau / second),
                                             float(self.rise / second), float(self.latency / second),
                                             float(self.window / second)) * second


def kernel_peak(tau_d: float, tau_r: float) -> float:
    """Maximum of :math:`e^{-s/\\tau_d} - e^{-s/\\tau_r}` over :math:`s \\ge 0` (1 for :math:`\\tau_r = 0`)."""
    if tau_r == 0:
        return 1.0
    s = tau_d * tau_r / (tau_d - tau_r) * math.log(tau_d / tau_r)
    return math.exp(-s / tau_d) - math.exp(-s / tau_r)


def ern_kernel(s, tau_d: float, tau_r: float):
    """The normalised ERN kernel :math:`k(s)` (peak 1) at times ``s`` (seconds) after its onset."""
    s = np.asarray(s, dtype=float)
    pos = np.maximum(s, 0.0)
    rise = np.exp(-pos / tau_r) if tau_r > 0 else 0.0
    return np.where(s >= 0, (np.exp(-pos / tau_d) - rise) / kernel_peak(tau_d, tau_r), 0.0)


def ern_integral(tau_e: float, tau_d: float, tau_r: float, latency: float, window: float) -> float:
    r""":math:`\int_0^{T} e^{-t/\tau_e}\, k(t - \Delta)\, dt` in seconds (all arguments in seconds).

    The closed form of the module docstring with :math:`A = 1`; ``tau_e = inf`` for a
    non-decaying eligibility and ``window = inf`` for the whole kernel.
    """
    span = window - latency

    def part(tau_x):
        if tau_x == 0:
            return 0.0
        tau_c = tau_x if math.isinf(tau_e) else tau_e * tau_x / (tau_e + tau_x)
        return tau_c * (1.0 if math.isinf(span) else -math.expm1(-span / tau_c))

    at_onset = 1.0 if math.isinf(tau_e) else math.exp(-latency / tau_e)
    return at_onset * (part(tau_d) - part(tau_r)) / kernel_peak(tau_d, tau_r)
