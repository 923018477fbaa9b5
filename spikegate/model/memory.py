r"""The per-sample mistake memory :math:`\mu_s` (the "memorized" part of mistake gating).

Each training sample :math:`s` carries a trace :math:`\mu_s \in [0, 1]`. At every
presentation of :math:`s`

.. math::

    \mu_s \leftarrow \mu_s\, e^{-1/\tau_\mathrm{mem}}, \qquad
    \mathrm{open}_s = \mathrm{mistake}_s \lor (\mu_s \ge \theta_\mathrm{mem}), \qquad
    \mu_s \leftarrow 1 \text{ if } \mathrm{mistake}_s,

so :math:`\tau_\mathrm{mem}` counts *presentations of that sample*, not time.
:math:`\tau_\mathrm{mem} = 0` never remembers (lazy learning) and
:math:`\tau_\mathrm{mem} = \infty` never forgets (memorized mistake gating).

The functions are pure (numpy in, numpy out); :class:`MistakeMemory` is the thin
stateful wrapper the training loop uses. The memory part of a gate only depends on
*earlier* presentations of the same sample, so while a run presents each sample at
most once, the memory gate of every presentation can be computed before the run and
handed to the Brian2 network, and the traces updated after it: this is exact.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError


def memory_decay(tau_mem: float) -> float:
    """Factor :math:`e^{-1/\\tau_\\mathrm{mem}}` applied per later presentation (0 for 0, 1 for inf)."""
    if tau_mem == 0:
        return 0.0
    if math.isinf(tau_mem):
        return 1.0
    return math.exp(-1.0 / tau_mem)


def memory_gate(mu: np.ndarray, decay: float, theta_mem: float) -> np.ndarray:
    """Whether the decayed trace alone opens the gate: :math:`\\mu\\, d \\ge \\theta`."""
    return (np.asarray(mu) * decay) >= theta_mem


def memory_update(mu: np.ndarray, mistakes: np.ndarray, decay: float) -> np.ndarray:
    """Traces after one presentation each: decayed, and set to 1 where a mistake was made."""
    return np.where(np.asarray(mistakes, dtype=bool), 1.0, np.asarray(mu) * decay)


class MistakeMemory:
    """Mistake-memory traces of ``n_samples`` training samples.

    Parameters
    ----------
    n_samples : int
    tau_mem : float
        Memory time constant in presentations of a sample (0 to inf).
    theta_mem : float
        Threshold in (0, 1] above which a remembered mistake opens the gate.
    """

    def __init__(self, n_samples: int, tau_mem: float, theta_mem: float):
        if n_samples < 0:
            raise ParameterError(f"MistakeMemory.n_samples = {n_samples!r}: must be >= 0")
        self.tau_mem = tau_mem
        self.theta_mem = theta_mem
        self.decay = memory_decay(tau_mem)
        self.mu = np.zeros(n_samples)

    def gate(self, samples: np.ndarray) -> np.ndarray:
        """Memory gate for presenting ``samples`` (each at most once) next."""
        samples = self._check(samples)
        return memory_gate(self.mu[samples], self.decay, self.theta_mem)

    def update(self, samples: np.ndarray, mistakes: np.ndarray) -> None:
        """Record the outcome of presenting ``samples`` (each at most once)."""
        samples = self._check(samples)
        self.mu[samples] = memory_update(self.mu[samples], mistakes, self.decay)

    def _check(self, samples):
        samples = np.asarray(samples, dtype=np.int64)
        if len(np.unique(samples)) != len(samples):
            raise ParameterError("MistakeMemory: a sample index repeats within one run; "
                                 "present each sample at most once per run")
        return samples
