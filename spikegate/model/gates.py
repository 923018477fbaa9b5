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
        \dfrac{1}{b}\,\dfrac{1}{1 + e^{(z - z_{1/2})/s}}, \; z = \dfrac{m}{\sigma u} & \text{correct, graded (the CRN)} \\
        [\,m \le \theta_m u\,] & \text{correct, binary} \end{cases} \\
    D &= 1 - (1 - A)(1 - M) \quad \text{(the memory adds to the drive, saturating at 1)}, \\
    \mathrm{open} &= \mathrm{always} \lor (D \ge \theta_w), \qquad
    \text{drive} = 1 \text{ if always else } D,

where :math:`u` is the margin unit (one spike; ``rate.margin_scale``). The write of an
open presentation is scaled by its drive, the ERN amplitude (:mod:`spikegate.model.plasticity`):

* ``always``: every presentation, drive 1 (conventional learning);
* ``lazy``: binary, :math:`\theta_m = 0`, no memory: exactly the mistakes;
* ``memorized`` / ``trace``: ``lazy`` plus the memory (:math:`\tau_\mathrm{mem} = \infty` or finite);
* ``margin(min_margin)``: binary, :math:`\theta_m = m_\mathrm{min} - 1`: correct trials with a
  margin below ``min_margin`` (an integer number of margin units) too;
* ``random(p)``: a control: opens with probability :math:`p` whatever the outputs, from
  its own seeded stream (:class:`CoinFlips`); its coin takes the memory gate's place
  (:math:`A = 0`, :math:`D = M`), drive 1 when open;
* ``ern``: graded: an error raises the full ERN (:math:`A = 1`), an uncertain correct trial
  a correct-response negativity (CRN) that falls off with the margin measured in units of
  its noise (the signal-to-noise ratio :math:`z`; half the largest CRN at :math:`z = z_{1/2}`,
  ``half_snr``, falling off over ``snr_width``),
  a confident one about nothing; the negativity bias :math:`b \ge 1` makes errors
  weigh :math:`b` times the largest CRN; the memory adds to the drive; a presentation writes
  only when the drive reaches :math:`\theta_w`. With ``graded = false`` it is exactly
  ``lazy`` (``tau_mem = 0``), ``trace`` or ``memorized`` (``tau_mem = inf``).

The spiking backend compiles the same decision in Brian2 code
(:mod:`spikegate.backends.spiking.equations`; a test checks that both agree on random counts).

The gates' fields are the keys of the model file's ``[gate]`` section; a gate reads
only its own fields (:meth:`Gate.reads`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from .declaration import Declaration, declaration, param
from .memory import MistakeMemory


class Gate(Declaration):
    """Base class of gates: the constants of :func:`gate_decision` (overridden by subclasses)."""

    #: open on every presentation
    always = False
    #: binary gates: margins at most this many margin units open the gate (0: the mistakes)
    margin_threshold = 0
    #: mistake-memory time constant in presentations of a sample (0: no memory)
    tau_mem = 0.0
    #: memory threshold: a remembered mistake opens the gate while mu >= theta_mem
    theta_mem = 0.5
    #: old ``[gate]`` keys of this gate and their new names (read with a deprecation line)
    renamed: dict = {}

    @property
    def uses_memory(self) -> bool:
        return self.tau_mem > 0 and not self.always

    def presentation_gates(self, n_samples: int, seed: int):
        """What decides the memory gate :math:`M` of each presentation of ``n_samples`` training
        samples: a :class:`~spikegate.model.MistakeMemory`, or None (no memory)."""
        if not self.uses_memory:
            return None
        return MistakeMemory(n_samples, self.tau_mem, self.theta_mem)

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
        return DecisionConstants(always=self.always, graded=False, threshold=self.margin_threshold * unit,
                                 half_snr=0.0, snr_width=1.0, bias=1.0, theta_write=1.0)

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


_THETA_MEM = dict(minimum=0, maximum=1, strict_min=True, doc="a remembered mistake opens the gate while mu >= theta_mem")


@declaration
class Memorized(Gate):
    """Memorized mistake gating: once a sample was a mistake, always learn on it (tau_mem = inf)."""

    theta_mem: float = param(0.5, **_THETA_MEM)
    tau_mem = math.inf


@declaration
class Trace(Gate):
    r"""Mistake gating with a decaying memory :math:`\mu_s` (time constant in presentations)."""

    tau_mem: float = param(5.0, minimum=0, allow_inf=True, cast=float,
                           doc="memory time constant, in presentations of the sample")
    theta_mem: float = param(0.5, **_THETA_MEM)
    label_fields = ("tau_mem", "theta_mem")


@declaration
class Margin(Gate):
    """Learn while the margin of the label is below ``min_margin`` (>= 1) margin units."""

    min_margin: int = param(2, minimum=1, integer=True,
                            doc="learn while the label's margin is below this many spikes (margin units)")
    label_fields = ("min_margin",)
    renamed = {"kappa": "min_margin"}

    @property
    def margin_threshold(self) -> int:
        return self.min_margin - 1


@declaration
class Random(Gate):
    """A control gate: each presentation opens with probability ``p``, whatever the outputs.

    Its coin flips come from a stream of their own (:class:`CoinFlips`, seeded by the run's
    seed), so the network's spikes and initial weights are those of the other gates.
    """

    p: float = param(0.5, minimum=0, maximum=1, cast=float, doc="probability that a presentation opens the gate")
    label_fields = ("p",)

    def decision_constants(self, unit: float = 1.0) -> "DecisionConstants":
        return DecisionConstants(always=False, graded=False, threshold=0.0, half_snr=0.0, snr_width=1.0, bias=1.0,
                                 theta_write=0.5, unit=unit, error_driven=False)

    def presentation_gates(self, n_samples: int, seed: int) -> "CoinFlips":
        return CoinFlips(self.p, seed)


class CoinFlips:
    """The coin of :class:`Random`: ``gate(samples)`` flips one coin per presentation (open with
    probability ``p``) from a stream seeded by ``seed`` alone; same interface as
    :class:`~spikegate.model.MistakeMemory`."""

    #: mixed into the seed: the coins' stream is none of the run's other streams
    STREAM = 0x5EC0

    def __init__(self, p: float, seed: int):
        self.p = float(p)
        self.rng = np.random.default_rng([int(seed), self.STREAM])

    def gate(self, samples) -> np.ndarray:
        return self.rng.random(len(samples)) < self.p

    def update(self, samples, mistakes) -> None:
        """Nothing to remember: the coin does not look at outcomes."""


@declaration
class ERNGate(Gate):
    r"""The graded ERN gate: errors, and correct trials in proportion to their uncertainty.

    Parameters
    ----------
    half_snr : float
        Signal-to-noise ratio :math:`z = m / \sigma` of the margin at which the
        correct-response negativity is half its maximum.
    snr_width : float (> 0)
        Width :math:`s` of the CRN's fall-off in :math:`z`.
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

    half_snr: float = param(1.0, cast=float, doc="margin/noise at which the CRN is half its maximum")
    snr_width: float = param(0.5, minimum=0, strict_min=True, cast=float, doc="width of the CRN's fall-off in margin/noise")
    bias: float = param(1.0, minimum=1, cast=float, doc="negativity bias: an error's ERN over the largest CRN")
    theta_write: float = param(0.5, minimum=0, maximum=1, strict_min=True, cast=float,
                               doc="a presentation writes when its drive reaches this")
    graded: bool = param(True, doc="false: binary amplitudes (lazy, trace, memorized)")
    tau_mem: float = param(math.inf, minimum=0, allow_inf=True, cast=float,
                           doc="memory time constant, in presentations of the sample")
    theta_mem: float = param(0.5, **_THETA_MEM)
    renamed = {"kappa": "half_snr", "noise": "snr_width"}

    def decision_constants(self, unit: float = 1.0) -> "DecisionConstants":
        return DecisionConstants(always=False, graded=self.graded, threshold=0.0, half_snr=self.half_snr,
                                 snr_width=self.snr_width, bias=self.bias, theta_write=self.theta_write, unit=unit)


def __getattr__(name):
    if name == "ERN":   # the gate class's old name: ERN is the signal, ERNGate the gate
        import warnings

        warnings.warn("spikegate.ERN is renamed ERNGate (the gate); ERNSignal is the signal", DeprecationWarning,
                      stacklevel=2)
        return ERNGate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


GATES = {"always": Always, "lazy": Lazy, "memorized": Memorized, "trace": Trace, "margin": Margin, "ern": ERNGate,
         "random": Random}
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
    given = {}
    for k, v in params.items():
        if v is not None and k in cls.renamed:
            import warnings

            warnings.warn(f"gate.{k} is renamed gate.{cls.renamed[k]} for gate {key!r}", DeprecationWarning,
                          stacklevel=2)
            k = cls.renamed[k]
        if v is not None:
            given[k] = v
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
    half_snr: float       # graded: the CRN's half-maximum signal-to-noise ratio z = m / (sigma u)
    snr_width: float      # graded: s, the width in z
    bias: float           # graded: b
    theta_write: float    # open while D >= theta_write
    unit: float = 1.0     # the margin unit u
    error_driven: bool = True   # False (random): the outputs raise no amplitude, A = 0


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
            correct = 1.0 / (c.bias * (1.0 + np.exp((z - c.half_snr) / c.snr_width)))
    else:
        correct = (~(m > c.threshold)).astype(float)
    amplitude = np.where(mistake, 1.0, correct) if c.error_driven else np.zeros(m.shape)
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
        edges.add(c.unit * (c.half_snr + c.snr_width * math.log(1 / (c.bias * c.theta_write) - 1)))
    elif not c.graded:
        edges.add(c.threshold)
    return edges


def margin_threshold(gate: Gate, unit: float = 1.0) -> float:
    """Margins at most this open a binary gate: ``margin_threshold`` units (``lazy``: 0)."""
    return gate.decision_constants(unit).threshold
