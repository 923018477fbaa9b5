r"""An ERN made by neurons: the error-monitoring population (``ern.source = "spiking"``).

The ideal ERN (:mod:`spikegate.model.plasticity`) is computed from the outputs' spike counts at
the decision. The spiking ERN is what a population of neurons that watches the response makes
of it (conflict monitoring, Yeung, Botvinick & Cohen, Psychol. Rev. 2004): its latency,
amplitude and noise come from its wiring.

**The circuit.** The label arrives as spikes: a *label* group fires as a Poisson process of rate
:math:`\nu_\mathrm{label}` from the neuron of the label class during the stimulus. A *relay*
neuron per class passes its output neuron's spikes only while its label neuron has fired recently
(a label trace set to 1 by each label spike, decaying with :math:`\tau_\mathrm{label}`; an output
spike adds the trace to the relay's membrane, time constant 2 ms, which fires above 1/2 at the next
step: a label spike within about :math:`0.44\,\tau_\mathrm{label}`): the relays' spikes are the label
output's spikes. The *monitor* has ``neurons_per_class`` leaky integrators per class :math:`c`,

.. math::

    \tau_m \frac{dv}{dt} = v_\mathrm{rest} - v + \sigma \sqrt{2 \tau_m}\, \xi(t),

with, after the ``delay``,

* :math:`+w_\mathrm{rival}` for each spike of output neuron :math:`c` (a response for :math:`c`),
* :math:`-w_\mathrm{label}` for each relay spike (the label's response), and
  :math:`-w_\mathrm{veto}` more from the relay of class :math:`c` itself (answering the label is
  no error);
* :math:`+w_\mathrm{omission}` for each label spike into the label class's own neurons: when the
  label's output neuron stays (nearly) silent they fire, an omission error (a network that does not
  answer makes no rival spikes to monitor).

So at its release (below) the subpopulation of a rival class holds about :math:`L\,(w_\mathrm{rival} n_c
- w_\mathrm{label} n_\mathrm{label})`, :math:`L \approx e^{-T_\mathrm{stim}/(2\tau_m)}` the leak over
the replayed window, and fires when that is above :math:`v_\mathrm{threshold}`. The defaults put its
boundary where the ideal ``ern`` gate's is (it opens while the margin is at most its noise,
:math:`n_l - n_c \le \sqrt{n_l + n_c + 1}`, which for counts up to about 30 is close to the line
:math:`n_c - 0.74\, n_l \ge -1.5`): :math:`w_\mathrm{label}/w_\mathrm{rival} = 0.7` and a threshold
of :math:`-1.5 \times 0.78\,w_\mathrm{rival} \approx -1.2` mV, below rest. So a mistake (a rival at or above
the label) fires it, a correct response with a close rival (the co-activation of the winner and
its rivals: the correct-response negativity) fires it too, a clear win holds it down, and a silent
network (no label lead) fires every subpopulation. With the default delay of one stimulus window
the monitor replays the window after the decision.

**The read-out is locked to the response.** The monitor can fire only at its *release*, the step
when the whole window has reached it (``delay`` + dt after the decision): whether it fires depends
on what it integrated over the window, not on a transient in the middle of it (a rival's early
spikes before the label's, a label spike that comes late). Its noise :math:`\sigma` spreads the
subpopulation's thresholds, so near threshold only part of it fires: a graded amplitude. A monitor
neuron resets far below rest, so it fires at most about once per decision.

**The ERN** is the monitor's population activity filtered by the ERN kernel of
:class:`~spikegate.model.ERNSignal` (``tau``, ``rise``, ``amplitude``; its ``latency`` delays only
the mistake memory's part): each monitor spike adds :math:`A\, k(t - t_s) / N_c`, :math:`N_c` =
``neurons_per_class``, and the ERN saturates at :math:`A` (a subpopulation firing in unison is an
ERN of drive 1, the ideal ERN's largest). Its latency is the monitor's: ``delay`` + dt.

**The gate.** A decision writes, at the end of its window, when the monitor fired at least
``gate_spikes`` spikes between the decision and the write, or the mistake memory holds the
sample (:math:`M = 1`); the memory adds the ideal kernel at drive :math:`M` to the ERN. The ideal
gate is still decided at each decision and recorded beside it (``PresentationLog.reference_gate``).
"""
from __future__ import annotations

from brian2 import Hz, Quantity, mV, ms

from ..errors import ParameterError
from .declaration import Declaration, declaration, param


@declaration
class ErrorMonitor(Declaration):
    r"""The error-monitoring population of a spiking ERN (module docstring; ``[error_monitor]``).

    Parameters
    ----------
    neurons_per_class : int (>= 1)
        Monitor neurons per output class.
    delay : Quantity (time, > 0)
        Delay of the output's and the relays' spikes into the monitor.
    tau_m : Quantity (time, > 0)
        Membrane time constant of the monitor's leaky integrators.
    v_threshold, v_reset, v_rest : Quantity (voltage)
        Threshold, reset and rest of the monitor neurons (``v_reset < v_threshold``, ``v_rest < v_threshold``).
    sigma : Quantity (voltage, >= 0)
        Standard deviation of each monitor neuron's own membrane noise.
    w_rival : Quantity (voltage, > 0)
        Jump of a monitor neuron per spike of its class's output neuron.
    w_label : Quantity (voltage, >= 0)
        Drop of every monitor neuron per spike of the label's output neuron (via the relay).
    w_veto : Quantity (voltage, >= 0)
        Further drop of the label class's own monitor neurons per relay spike.
    w_omission : Quantity (voltage, >= 0)
        Jump of the label class's own monitor neurons per label spike: with the label output silent
        they fire (an omission, the error of a network that does not answer).
    nu_label : Quantity (rate, > 0)
        Rate of the label neuron's spikes during the stimulus.
    tau_label : Quantity (time, > 0)
        Time constant of the relays' label trace.
    gate_spikes : int (>= 1)
        Monitor spikes in a decision's window that open its gate.
    """

    neurons_per_class: int = param(10, minimum=1, maximum=1000, integer=True, compiled=True,
                                   doc="monitor neurons per output class")
    delay: Quantity = param(50 * ms, unit=ms, minimum=0 * ms, strict_min=True, compiled=True,
                            doc="delay of output and relay spikes into the monitor")
    tau_m: Quantity = param(100 * ms, unit=ms, minimum=0 * ms, strict_min=True,
                            doc="membrane time constant of the monitor neurons")
    v_threshold: Quantity = param(-1.2 * mV, unit=mV,
                                  doc="threshold of the monitor neurons at their release (below rest: they fire "
                                      "unless the label's lead holds them down)")
    v_reset: Quantity = param(-10 * mV, unit=mV,
                              doc="reset of the monitor neurons (far below rest: about one spike per neuron and decision)")
    v_rest: Quantity = param(0 * mV, unit=mV, doc="rest of the monitor neurons")
    sigma: Quantity = param(0.25 * mV, unit=mV, minimum=0 * mV, doc="membrane noise of each monitor neuron")
    w_rival: Quantity = param(1 * mV, unit=mV, minimum=0 * mV, strict_min=True,
                              doc="jump per spike of the monitored class's output neuron")
    w_label: Quantity = param(0.7 * mV, unit=mV, minimum=0 * mV,
                              doc="drop of every monitor neuron per spike of the label's output neuron")
    w_veto: Quantity = param(3 * mV, unit=mV, minimum=0 * mV,
                             doc="further drop of the label class's own monitor neurons per label-output spike")
    w_omission: Quantity = param(0.1 * mV, unit=mV, minimum=0 * mV,
                                 doc="jump of the label class's own monitor neurons per label spike (an omission)")
    nu_label: Quantity = param(500 * Hz, unit=Hz, minimum=0 * Hz, strict_min=True,
                               doc="rate of the label neuron's spikes during the stimulus")
    tau_label: Quantity = param(20 * ms, unit=ms, minimum=0 * ms, strict_min=True,
                                doc="time constant of the relays' label trace")
    gate_spikes: int = param(1, minimum=1, integer=True, doc="monitor spikes in a window that open the gate")

    def validate(self):
        for name in ("v_reset",):
            if not getattr(self, name) < self.v_threshold:
                raise ParameterError(f"ErrorMonitor.{name} = {getattr(self, name)!r}: must be < v_threshold = "
                                     f"{self.v_threshold!r}", f"ErrorMonitor.{name}")
