r"""Gates: which presentations may change synapses, and how strongly (the ERN drive).

A gate is decided once per presentation, at the decision time :math:`t_d`, from

* the *margin* :math:`m = y_\mathrm{label} - \max_{j \ne \mathrm{label}} y_j` of the
  outputs (spike counts in the spiking backend, unit outputs in the rate backend) and its
  noise :math:`\sigma` (spiking: :math:`\sqrt{n_\mathrm{label} + n_\mathrm{rival} + 1}`, the
  standard deviation of a difference of two Poisson counts; rate: 1);
* the mistake-memory gate :math:`M \in \{0, 1\}` of the presented sample
  (:mod:`spikegate.model.memory`).

Every gate is one parametrisation of the same decision (:func:`gate_decision`):

.. math::

    \mathrm{mistake} &= \lnot (m > 0) \quad \text{(wrong argmax, tie, silence, NaN)}, \\
    A &= \begin{cases} 1 & \text{mistake} \\
        \dfrac{1}{b}\,\dfrac{1}{1 + e^{(z - \kappa)/s}}, \; z = \dfrac{m}{\sigma u} & \text{correct, graded (the CRN)} \\
        [\,m \le \theta_m u\,] & \text{correct, binary} \end{cases} \\
    D &= 1 - (1 - A)(1 - M) \quad \text{(the memory adds to the drive, saturating at 1)}, \\
    \mathrm{open} &= \mathrm{always} \lor (D \ge \theta_w), \qquad
    \text{drive} = 1 \text{ if always else } D,

where :math:`u` is the margin unit (one spike; ``rate.margin_scale``). The write of an
open presentation is scaled by its drive, the ERN amplitude (:mod:`spikegate.model.plasticity`):

* ``always``: every presentation, drive 1 (conventional learning);
* ``lazy``: binary, :math:`\theta_m = 0`, no memory: exactly the mistakes;
* ``memorized`` / ``trace``: ``lazy`` plus the memory (:math:`\tau_\mathrm{mem} = \infty` or finite);
* ``margin(kappa)``: binary, :math:`\theta_m = \kappa - 1`: correct trials with a margin below
  :math:`\kappa` too;
* ``ern``: graded: an error raises the full ERN (:math:`A = 1`), an uncertain correct trial
  a correct-response negativity (CRN) that falls off with the margin measured in units of
  its noise (the signal-to-noise ratio :math:`z`; half the largest CRN at :math:`z = \kappa`),
  a confident one about nothing; the negativity bias :math:`b \ge 1` makes errors
  weigh :math:`b` times the largest CRN; the memory adds to the drive; a presentation writes
  only when the drive reaches :math:`\theta_w`. With ``graded = false`` it is exactly
  ``lazy`` (``tau_mem = 0``), ``trace`` or ``memorized`` (``tau_mem = inf``).

The spiking backend compiles :data:`RIVAL_CODE` and :data:`DECISION_CODE`, the same
decision in Brian2 code (a test checks that both agree on random counts).

The gates' fields are the keys of the model file's ``[gate]`` section; a gate reads
only its own fields (:meth:`Gate.reads`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ..units import check_bool, check_number
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

    #: fields shown in :attr:`name`
    label_fields: tuple = ()

    @property
    def name(self) -> str:
        """The gate's label in reports, with its parameters (``trace(tau_mem=5, theta_mem=0.5)``)."""
        base = GATE_NAME[type(self)]
        if not self.label_fields:
            return base
        return f"{base}({', '.join(f'{k}={getattr(self, k):g}' for k in self.label_fields)})"

    def decision_constants(self, unit: float = 1.0) -> "DecisionConstants":
        """The constants of :func:`gate_decision` for margins measured in ``unit``."""
        return DecisionConstants(always=self.always, graded=False, threshold=(self.kappa - 1) * unit,
                                 kappa=0.0, noise=1.0, bias=1.0, theta_write=1.0)

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
    label_fields = ("tau_mem", "theta_mem")

    def __post_init__(self):
        self._set("tau_mem", float(check_number("Trace.tau_mem", self.tau_mem, minimum=0, allow_inf=True)))
        self._set("theta_mem", check_number("Trace.theta_mem", self.theta_mem, minimum=0, maximum=1,
                                            strict_min=True))


@declaration
class Margin(Gate):
    """Learn while the margin of the label is below ``kappa`` (>= 1) units."""

    kappa: int = 2
    label_fields = ("kappa",)

    def __post_init__(self):
        self._set("kappa", check_number("Margin.kappa", self.kappa, minimum=1, integer=True))


@declaration
class ERN(Gate):
    r"""The graded ERN gate: errors, and correct trials in proportion to their uncertainty.

    Parameters
    ----------
    kappa : float
        Margin (in margin units: spikes) at which the correct-response negativity is half
        its maximum.
    noise : float (> 0)
        Width :math:`s` of the CRN's fall-off, in units of the margin's noise :math:`\sigma`.
    bias : float (>= 1)
        Negativity bias :math:`b`: the ERN of an error is :math:`b` times the largest CRN.
    theta_write : float in (0, 1]
        A presentation writes when its drive :math:`D \ge \theta_w`.
    graded : bool
        False: binary amplitudes (1 on mistakes), the limit in which ``ern`` is ``lazy``,
        ``trace`` or ``memorized``.
    tau_mem, theta_mem : float
        The mistake memory (:class:`Trace`); its gate adds to the drive.
    """

    kappa: float = 1.0
    noise: float = 0.5
    bias: float = 1.0
    theta_write: float = 0.5
    graded: bool = True
    tau_mem: float = math.inf
    theta_mem: float = 0.5

    def __post_init__(self):
        self._set("kappa", float(check_number("ERN.kappa", self.kappa)))
        self._set("noise", float(check_number("ERN.noise", self.noise, minimum=0, strict_min=True)))
        self._set("bias", float(check_number("ERN.bias", self.bias, minimum=1)))
        self._set("theta_write", float(check_number("ERN.theta_write", self.theta_write, minimum=0, maximum=1,
                                                    strict_min=True)))
        check_bool("ERN.graded", self.graded)
        self._set("tau_mem", float(check_number("ERN.tau_mem", self.tau_mem, minimum=0, allow_inf=True)))
        self._set("theta_mem", check_number("ERN.theta_mem", self.theta_mem, minimum=0, maximum=1, strict_min=True))

    def decision_constants(self, unit: float = 1.0) -> "DecisionConstants":
        return DecisionConstants(always=False, graded=self.graded, threshold=0.0, kappa=self.kappa,
                                 noise=self.noise, bias=self.bias, theta_write=self.theta_write, unit=unit)


GATES = {"always": Always, "lazy": Lazy, "memorized": Memorized, "trace": Trace, "margin": Margin, "ern": ERN}
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


@dataclass(frozen=True)
class DecisionConstants:
    """The constants of :func:`gate_decision` (margins in their unit, see the module docstring)."""

    always: bool
    graded: bool
    threshold: float      # binary amplitude: 1 while m <= threshold
    kappa: float          # graded: the CRN's half-maximum signal-to-noise ratio z = m / (sigma u)
    noise: float          # graded: s, the width in z
    bias: float           # graded: b
    theta_write: float    # open while D >= theta_write
    unit: float = 1.0     # the margin unit u


@dataclass(frozen=True)
class Decision:
    """The outcome of :func:`gate_decision`, one entry per presentation."""

    mistake: np.ndarray   # bool
    open: np.ndarray      # bool
    drive: np.ndarray     # the ERN drive D scaling the write (1 for always; 0 or 1 for binary gates)

    def __iter__(self):
        return iter((self.mistake, self.open, self.drive))


def gate_decision(margin, memory_open, gate: Gate, unit: float = 1.0, noise=1.0) -> Decision:
    """Mistakes, openings and drives from margins, memory gates and margin noise (module docstring)."""
    c = gate.decision_constants(unit)
    m = np.asarray(margin, dtype=float)
    mistake = ~(m > 0)  # NaN outputs (diverged learning) are mistakes
    if c.graded:
        with np.errstate(over="ignore", invalid="ignore"):
            z = m / (c.unit * np.asarray(noise, dtype=float))
            correct = 1.0 / (c.bias * (1.0 + np.exp((z - c.kappa) / c.noise)))
    else:
        correct = (~(m > c.threshold)).astype(float)
    amplitude = np.where(mistake, 1.0, correct)
    drive = 1.0 - (1.0 - amplitude) * (1.0 - np.asarray(memory_open, dtype=float))
    if c.always:
        return Decision(mistake, np.ones(m.shape, dtype=bool), np.ones(m.shape))
    return Decision(mistake, drive >= c.theta_write, drive)


def decision_boundaries(gate: Gate, unit: float = 1.0) -> set:
    """Margins at which the gate can change its decision for a sample without memory (noise 1).

    Outputs computed in rounded arithmetic are recomputed exactly near these values.
    """
    c = gate.decision_constants(unit)
    edges = {0.0}
    if c.graded and 0 < c.bias * c.theta_write < 1:  # where the CRN crosses theta_write
        edges.add(c.unit * (c.kappa + c.noise * math.log(1 / (c.bias * c.theta_write) - 1)))
    elif not c.graded:
        edges.add(c.threshold)
    return edges


def margin_threshold(gate: Gate, unit: float = 1.0) -> float:
    """Margins at most this open a binary gate: :math:`(\\kappa - 1)\\,u` (``lazy``: 0)."""
    return gate.decision_constants(unit).threshold


#: :func:`gate_decision` for integer spike counts in Brian2 code, part 1: the largest count
#: among the rivals of the label, by two reductions: an all-to-all pathway among the output
#: neurons counts, for each neuron, the rivals strictly above it (``above``), and a pathway
#: from the outputs into the control group sums the counts of the rivals with none above
#: them (all equal) and their number.
RIVAL_CODE = ("above_post += int(i != j and is_label_pre == 0 and n_pre > n_post)",
              "n_top_sum_post += n_pre * int(i != label_post and above_pre == 0)\n"
              "n_top_post += int(i != label_post and above_pre == 0)")
#: Part 2, in the control group: the decision of a scheduled presentation (``valid``) while
#: learning (``learning``); the gate and the drive are held between decisions, so that a
#: write at the end of a simulated post-decision interval reads the decision before it.
DECISION_CODE = """
n_rival = n_top_sum / n_top
margin = n_label - n_rival
sigma = sqrt(n_label + n_rival + 1)
mistake = valid * int(not (margin > 0))
crn = graded / (bias * (1 + exp((margin / sigma - kappa) / noise)))
amplitude = int(not (margin > 0)) + int(margin > 0) * (crn + (1 - graded) * int(not (margin > margin_threshold)))
drive_new = 1 - (1 - amplitude) * (1 - memgate)
gate = valid * learning * int(gate_always > 0 or drive_new >= theta_write) + (1 - valid) * gate
drive = valid * (gate_always + (1 - gate_always) * drive_new) + (1 - valid) * drive
"""

