"""A reference for the ERN's weighting: the product of eligibility and ERN integrated explicitly.

The spiking network integrates the post-decision interval in closed form or exactly per step
(:mod:`~spikegate.backends.spiking.builder`); this integrates the same product with the forward
Euler rule as differential equations of a Brian2 group, so tests can hold both against it.
"""
from __future__ import annotations

import math

import brian2 as b2
import numpy as np
from brian2 import ms, second

from ...model import ERNSignal
from ..brian import codegen_target


def integrate_ern_update(ern: ERNSignal, eta, tau_e, eligibility_at_decision, learning_signal,
                         window, dt=0.01 * ms, target="numpy", drive: float = 1.0):
    r"""Explicitly integrate :math:`\eta L \int e(t)\varepsilon(t)dt` with Brian2 (a reference).

    One synapse per entry of ``eligibility_at_decision``; the decision is at ``t = 0``.
    The eligibility and the ERN's two exponentials are integrated as differential
    equations with exact (exponential) updates, the accumulated product with the forward
    Euler rule (error of order :math:`dt/\tau`).

    Returns
    -------
    numpy.ndarray
        The accumulated weight changes after ``window``.
    """
    e0 = np.asarray(eligibility_at_decision, dtype=float)
    L = np.broadcast_to(np.asarray(learning_signal, dtype=float), e0.shape)
    tau_e_val = tau_e if not math.isinf(float(tau_e / second)) else 1e30 * second
    rise = ern.rise if ern.rise > 0 * ms else ern.tau
    ns = {"tau_e": tau_e_val, "tau_d": ern.tau, "tau_r": rise, "scale": drive * ern.amplitude / ern.peak(),
          "lat": ern.latency, "eta": eta, "has_rise": float(ern.rise > 0 * ms)}
    group = b2.NeuronGroup(len(e0), """
        delig/dt = -elig/tau_e : 1
        dEd/dt = -Ed/tau_d : 1
        dEr/dt = -Er/tau_r : 1
        dacc/dt = eta * L * elig * scale * (Ed - has_rise * Er) : 1
        L : 1
        raised : boolean
        """, method="euler", namespace=ns, dt=dt, name="spikegate_ern_reference")
    group.run_regularly("on = t >= lat and not raised\n"
                        "Ed = int(on) + int(not on) * Ed\n"
                        "Er = int(on) + int(not on) * Er\n"
                        "raised = raised or t >= lat", dt=dt, when="start", name="spikegate_ern_reference_rise")
    group.elig = e0
    group.L = L
    net = b2.Network(group)
    with codegen_target(target):
        net.run(window)
    return np.array(group.acc[:])
