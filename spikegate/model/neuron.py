"""Neuron and input declarations of the spiking model."""
from __future__ import annotations

from brian2 import Hz, Quantity, mV, ms

from ..errors import ParameterError
from ..units import check_quantity
from .declaration import Declaration, declaration, default


@declaration
class LIF(Declaration):
    r"""Leaky integrate-and-fire neurons with exponential current-based synapses.

    .. math::

        \tau_m \frac{dv}{dt} = v_\mathrm{rest} - v + I, \qquad
        \tau_\mathrm{syn} \frac{dI}{dt} = -I,

    spike when :math:`v > v_\mathrm{th}`, then :math:`v \leftarrow v_\mathrm{reset}` and
    no integration for the refractory period.
    """

    tau_m: Quantity = default(20 * ms)
    tau_syn: Quantity = default(5 * ms)
    v_rest: Quantity = default(-65 * mV)
    v_reset: Quantity = default(-65 * mV)
    v_threshold: Quantity = default(-50 * mV)
    refractory: Quantity = default(2 * ms)

    def __post_init__(self):
        for name in ("tau_m", "tau_syn"):
            self._set(name, check_quantity(f"LIF.{name}", getattr(self, name), ms, minimum=0 * ms, strict=True))
        self._set("refractory", check_quantity("LIF.refractory", self.refractory, ms, minimum=0 * ms))
        for name in ("v_rest", "v_reset", "v_threshold"):
            self._set(name, check_quantity(f"LIF.{name}", getattr(self, name), mV, example="-65 mV"))
        if not self.v_threshold > self.v_reset:
            raise ParameterError(f"LIF.v_threshold = {self.v_threshold!r}: must be above v_reset = {self.v_reset!r}",
                                 "LIF.v_threshold")


@declaration
class PoissonInput(Declaration):
    r"""Rate coding: pixel :math:`x_i \in [0, 1]` fires as a Poisson process of rate :math:`x_i \nu_\mathrm{max}`."""

    nu_max: Quantity = default(100 * Hz)

    def __post_init__(self):
        self._set("nu_max", check_quantity("PoissonInput.nu_max", self.nu_max, Hz, minimum=0 * Hz, strict=True))
