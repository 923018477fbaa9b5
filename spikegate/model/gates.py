r"""Gates: which presentations may change synapses.

A gate is decided once per presentation, at the decision time :math:`t_d`, from

* the *margin* :math:`m = y_\mathrm{label} - \max_{j \ne \mathrm{label}} y_j` of the
  outputs (spike counts in the spiking backend, unit outputs in the rate backend);
* the mistake-memory gate :math:`g_\mathrm{mem}` of the presented sample
  (:mod:`spikegate.model.memory`).

.. math::

    \mathrm{mistake} = \lnot (m > 0), \qquad
    \mathrm{open} = \mathrm{always} \lor g_\mathrm{mem} \lor \lnot\bigl(m > (\kappa - 1)\,u\bigr),

where :math:`u` is the backend's margin unit (one spike; ``rate.margin_scale`` output
units). A mistake is a wrong argmax, a tie at the maximum, silence, or a NaN output.
With :math:`\kappa = 1` the gate opens exactly on mistakes; ``margin(kappa)`` keeps
learning on correct presentations whose margin is below :math:`\kappa` units.

:func:`gate_decision` is this decision; the rate backend calls it, and the spiking backend
compiles :data:`RIVAL_COUNT_CODE` and :data:`DECISION_CODE`, the same two conditions
for integer spike counts (a test checks that both agree on random counts).

The gates' fields are the keys of the model file's ``[gate]`` section; a gate reads
only its own fields (:meth:`Gate.reads`).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError
from ..units import check_number
from .declaration import Declaration, declaration


class Gate(Declaration):
    """Base class of gates: the constants of :func:`gate_decision` (overridden by subclasses)."""

    #: open on every presentation
    always = False
    #: margin threshold: open while the margin is below kappa units (1: on mistakes)
    kappa = 1
    #: mistake-memory time constant in presentations of a sample (0: no memory)
    tau_mem = 0.0
    #: memory threshold: a remembered mistake opens the gate while mu >= theta_mem
    theta_mem = 0.5

    @property
    def uses_memory(self) -> bool:
        return self.tau_mem > 0 and not self.always

    @property
    def name(self) -> str:
        """The gate's label in reports, with its parameters (``trace(tau_mem=5, theta_mem=0.5)``)."""
        fields = self.field_names()
        base = GATE_NAME[type(self)]
        if not fields or base == "memorized":
            return base
        return f"{base}({', '.join(f'{k}={getattr(self, k):g}' for k in fields)})"

    @classmethod
    def reads(cls) -> tuple[str, ...]:
        """The ``[gate]`` keys this gate reads (its fields)."""
        return cls.field_names()


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

    theta_mem: float = 0.5
    tau_mem = math.inf

    def __post_init__(self):
        self._set("theta_mem", check_number("Memorized.theta_mem", self.theta_mem, minimum=0, maximum=1,
                                            strict_min=True))


@declaration
class Trace(Gate):
    r"""Mistake gating with a decaying memory :math:`\mu_s` (time constant in presentations)."""

    tau_mem: float = 5.0
    theta_mem: float = 0.5

    def __post_init__(self):
        self._set("tau_mem", float(check_number("Trace.tau_mem", self.tau_mem, minimum=0, allow_inf=True)))
        self._set("theta_mem", check_number("Trace.theta_mem", self.theta_mem, minimum=0, maximum=1,
                                            strict_min=True))


@declaration
class Margin(Gate):
    """Learn while the margin of the label is below ``kappa`` (>= 1) units."""

    kappa: int = 2

    def __post_init__(self):
        self._set("kappa", check_number("Margin.kappa", self.kappa, minimum=1, integer=True))


GATES = {"always": Always, "lazy": Lazy, "memorized": Memorized, "trace": Trace, "margin": Margin}
GATE_NAMES = tuple(GATES)
GATE_NAME = {cls: name for name, cls in GATES.items()}


def make_gate(name: str, **params) -> Gate:
    """A gate from its name and parameters (``None`` values count as not given).

    A parameter that the named gate does not read is an error naming the key and the gate.
    """
    key = str(name).strip().lower()
    if key not in GATES:
        raise ParameterError(f"gate = {name!r}: unknown gate; allowed: {', '.join(GATE_NAMES)}", "gate")
    cls = GATES[key]
    given = {k: v for k, v in params.items() if v is not None}
    for k, v in given.items():
        if k not in cls.reads():
            reads = f"it reads {', '.join(cls.reads())}" if cls.reads() else "it has no parameters"
            raise ParameterError(f"gate.{k} = {v!r}: not read by gate {key!r} ({reads}); remove it", f"gate.{k}")
    return cls(**given)


# --------------------------------------------------------------------------- the decision
def margins(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    r""":math:`y_\mathrm{label} - \max_{j \ne \mathrm{label}} y_j` per row (a mistake unless > 0; NaN, from diverged weights, is one)."""
    rows = np.arange(len(labels))
    own = outputs[rows, labels]
    rivals = outputs.copy()
    rivals[rows, labels] = -np.inf
    return own - rivals.max(axis=1)


def margin_threshold(gate: Gate, unit: float = 1.0) -> float:
    """The gate opens while the margin is at most this: :math:`(\\kappa - 1)\\,u`."""
    return (gate.kappa - 1) * unit


def gate_decision(margin, memory_open, gate: Gate, unit: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``(mistake, open)`` per presentation from margins and memory gates (see the module docstring)."""
    margin = np.asarray(margin)
    mistake = ~(margin > 0)  # NaN outputs (diverged learning) are mistakes
    if gate.always:
        return mistake, np.ones(margin.shape, dtype=bool)
    return mistake, ~(margin > margin_threshold(gate, unit)) | np.asarray(memory_open, dtype=bool)


#: :func:`gate_decision` for integer spike counts in Brian2 code, part 1: a reduction from the
#: output neurons (``_pre``) into a control group (``_post``) counting the rivals of the label
#: with :math:`n_j \ge n_\ell` (margin <= 0) and with :math:`n_j \ge n_\ell - (\kappa - 1)`
#: (margin <= the threshold).
RIVAL_COUNT_CODE = ("rivals_tied_post += int(i != label_post and n_pre >= n_label_post)\n"
                    "rivals_near_post += int(i != label_post and n_pre >= n_label_post - margin_threshold_post)")
#: Part 2, in the control group: the decision (``valid``: a scheduled presentation;
#: ``learning``: training rather than testing).
DECISION_CODE = ("mistake = valid * int(rivals_tied > 0)\n"
                 "gate = learning * valid * int(gate_always > 0 or rivals_near > 0 or memgate > 0)")
