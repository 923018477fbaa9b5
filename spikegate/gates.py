r"""Gates: which presentations may change synapses.

A gate is evaluated once per presentation at the decision time :math:`t_d`, in
Brian2-generated code, from three in-graph quantities:

* the *margin* :math:`m = n_\mathrm{label} - \max_{j \ne \mathrm{label}} n_j` of the
  output spike counts (computed as a count of rivals, see :mod:`spikegate.network`);
* a *mistake*: wrong argmax, tie at the maximum, or silence, i.e. :math:`m < 1`;
* the mistake-memory gate of the presented sample (:mod:`spikegate.memory`).

The gate opens when ``always`` or :math:`m < \kappa` or the memory gate is open. With
integer spike counts, :math:`\kappa = 1` is exactly "a mistake".
"""
from __future__ import annotations

import math

from .declaration import Declaration, declaration
from .errors import ParameterError
from .quantities import check_number


class Gate(Declaration):
    """Base class of gates. Subclasses define the four in-graph parameters below."""

    #: open on every presentation
    always: bool = False

    @property
    def kappa(self) -> int:
        """Margin threshold: open while margin < kappa (1 = on mistakes)."""
        return 1

    @property
    def tau_mem(self) -> float:
        """Mistake-memory time constant in presentations (0 = no memory)."""
        return 0.0

    @property
    def theta_mem(self) -> float:
        return 0.5

    @property
    def uses_memory(self) -> bool:
        return self.tau_mem > 0 and not self.always

    @property
    def name(self) -> str:
        return type(self).__name__.lower()


@declaration
class Always(Gate):
    """Conventional learning: every presentation updates synapses."""

    always = True


@declaration
class Lazy(Gate):
    """Lazy learning (Pache & van Rossum 2023): learn only on current mistakes."""


@declaration
class Memorized(Gate):
    """Memorized mistake gating: once a sample was a mistake, always learn on it (tau_mem = inf)."""

    theta: float = 0.5

    def __post_init__(self):
        self._set("theta", check_number("Memorized.theta", self.theta, minimum=0, maximum=1, strict_min=True))

    @property
    def tau_mem(self):
        return math.inf

    @property
    def theta_mem(self):
        return self.theta


@declaration
class Trace(Gate):
    r"""Mistake gating with a decaying memory :math:`\mu_s` (time constant in presentations)."""

    tau: float = 5.0
    theta: float = 0.5

    def __post_init__(self):
        self._set("tau", check_number("Trace.tau_mem", self.tau, minimum=0, allow_inf=True))
        self._set("theta", check_number("Trace.theta_mem", self.theta, minimum=0, maximum=1, strict_min=True))

    @property
    def tau_mem(self):
        return float(self.tau)

    @property
    def theta_mem(self):
        return self.theta

    @property
    def name(self):
        return f"trace(tau_mem={self.tau:g}, theta_mem={self.theta:g})"


@declaration
class Margin(Gate):
    """Learn while the spike-count margin of the label is below ``kappa`` (>= 1)."""

    k: int = 2

    def __post_init__(self):
        self._set("k", check_number("Margin.kappa", self.k, minimum=1, integer=True))

    @property
    def kappa(self):
        return self.k

    @property
    def name(self):
        return f"margin(kappa={self.k})"


GATE_NAMES = ("always", "lazy", "memorized", "trace", "margin")


def make_gate(name: str, tau_mem=None, theta_mem=None, kappa=None) -> Gate:
    """Build a gate from its name and optional parameters (as in configs and the CLI)."""
    name = str(name).strip().lower()
    if name == "always":
        return Always()
    if name == "lazy":
        return Lazy()
    if name == "memorized":
        return Memorized(theta=0.5 if theta_mem is None else theta_mem)
    if name == "trace":
        return Trace(tau=5.0 if tau_mem is None else tau_mem, theta=0.5 if theta_mem is None else theta_mem)
    if name == "margin":
        return Margin(k=2 if kappa is None else kappa)
    raise ParameterError(f"gate = {name!r}: unknown gate; allowed: {', '.join(GATE_NAMES)}")
