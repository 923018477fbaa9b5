r"""The energy ledger: every synaptic write, per projection and per presentation.

For projection :math:`p` and presentation :math:`k` the ledger holds whether the gate was
open, the number of writes :math:`W_{pk}` (changes of a synapse's stored state: a code
of a finite-precision synapse, :mod:`spikegate.model.synapse`, or a float
:math:`\Delta w_{ij} \ne 0`), the bits they flip :math:`F_{pk}` (Hamming distances of old
and new codes; 0 for float synapses, where they are not measured),
:math:`\sum |\Delta w|` and :math:`\sum |\Delta w|^\alpha`, and the eligibility-trace
updates (a different energy term: a trace update is not a write). Cumulatively

.. math::

    M_0 = \sum_k W_k, \quad M_1 = \sum_k \sum_{ij} |\Delta w_{ij}^{(k)}|, \quad
    M_\alpha = \sum_k \sum_{ij} |\Delta w_{ij}^{(k)}|^\alpha, \quad
    M_\mathrm{min} = \sum_{ij} |w_{ij}^\mathrm{end} - w_{ij}^\mathrm{start}|,

and the inefficiency :math:`M_1 / M_\mathrm{min}` (van Rossum & Pache 2024).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_FIELDS = ("gate_open", "writes", "sum_abs_dw", "sum_abs_dw_alpha", "trace_updates", "mistake", "samples",
           "transient_writes", "maintenance", "drive", "activity", "bits_flipped")
#: Fields that ledgers written by older versions may lack (zeros when loaded).
_LATER_FIELDS = ("transient_writes", "maintenance", "drive", "activity", "bits_flipped")


@dataclass
class PresentationLog:
    r"""What happened in each presentation of one call of ``present`` (spiking or rate backend).

    Arrays have one entry per presentation (per projection: shape ``(n, n_projections)``).
    ``transient_writes`` and ``maintenance`` are the synaptic-caching terms (rate backend;
    zeros otherwise): changes of the cheap transient weight component, and the maintenance
    cost :math:`c \sum |w_\mathrm{transient}|` paid after the presentation. ``drive`` is
    the ERN drive :math:`D` of each presentation (:func:`spikegate.model.gate_decision`:
    the amplitude that scales an open presentation's write). ``activity`` has one column
    per layer (input, hidden..., output): the spikes of each layer in the presentation
    (spiking backend); the rate backend counts the non-zero inputs of the first layer
    (bias included) and every unit of the later layers (their activations are not
    recorded: a dense upper bound).
    """

    samples: np.ndarray
    labels: np.ndarray
    outputs: np.ndarray         # output spike counts (spiking) or unit outputs (rate), (n, n_out)
    mistake: np.ndarray         # bool: wrong argmax, tie or silence
    gate_open: np.ndarray       # bool
    writes: np.ndarray          # int, (n, n_projections)
    sum_abs_dw: np.ndarray      # (n, n_projections)
    sum_abs_dw_alpha: np.ndarray
    trace_updates: np.ndarray   # per-synapse eligibility updates, (n, n_projections)
    wall_seconds: float = 0.0
    transient_writes: np.ndarray | None = None
    maintenance: np.ndarray | None = None
    drive: np.ndarray | None = None
    activity: np.ndarray | None = None    # int, (n, n_projections + 1)
    bits_flipped: np.ndarray | None = None   # int, (n, n_projections): 0 for float synapses
    reference_gate: np.ndarray | None = None  # bool: the ideal ERN's gate beside a spiking ERN's (else gate_open)

    def __post_init__(self):
        if self.transient_writes is None:
            self.transient_writes = np.zeros_like(self.writes)
        if self.maintenance is None:
            self.maintenance = np.zeros(self.writes.shape)
        if self.drive is None:
            self.drive = self.gate_open.astype(float)
        if self.activity is None:
            self.activity = np.zeros((len(self.writes), self.writes.shape[1] + 1), dtype=np.int64)
        if self.bits_flipped is None:
            self.bits_flipped = np.zeros_like(self.writes)
        if self.reference_gate is None:
            self.reference_gate = self.gate_open.copy()

    @classmethod
    def empty(cls, n_out: int, n_projections: int) -> "PresentationLog":
        """A log of no presentations."""
        P = n_projections
        return cls(samples=np.zeros(0, np.int64), labels=np.zeros(0, np.int64), outputs=np.zeros((0, n_out)),
                   mistake=np.zeros(0, bool), gate_open=np.zeros(0, bool), writes=np.zeros((0, P), np.int64),
                   sum_abs_dw=np.zeros((0, P)), sum_abs_dw_alpha=np.zeros((0, P)),
                   trace_updates=np.zeros((0, P), np.int64))

    @property
    def counts(self) -> np.ndarray:
        """Deprecated name of :attr:`outputs` (it holds the rate backend's outputs too)."""
        import warnings

        warnings.warn("PresentationLog.counts is renamed outputs", DeprecationWarning, stacklevel=2)
        return self.outputs

    @property
    def predictions(self) -> np.ndarray:
        """Argmax of the outputs (first index on ties; ties count as mistakes)."""
        return np.argmax(self.outputs, axis=1)

    @property
    def accuracy(self) -> float:
        """Fraction decided correctly; a tie at the maximum (silence included) is a mistake."""
        return float(1.0 - self.mistake.mean()) if len(self.mistake) else float("nan")

    @property
    def ties(self) -> np.ndarray:
        """Whether several outputs share the maximum (all-silent outputs included)."""
        return tie_counts(self.outputs) > 1

    @property
    def accuracy_random_ties(self) -> float:
        """Expected accuracy if a tie were broken at random: a tie of k outputs that includes
        the label counts 1/k (a fair coin instead of a mistake)."""
        if not len(self.mistake):
            return float("nan")
        return float(np.mean(credit_random_ties(self.outputs, self.labels)))


#: Per-presentation fields of a :class:`PresentationLog`, concatenated by :func:`concatenate_logs`.
LOG_FIELDS = ("samples", "labels", "outputs", "mistake", "gate_open", "writes", "sum_abs_dw", "sum_abs_dw_alpha",
              "trace_updates", "transient_writes", "maintenance", "drive", "activity", "bits_flipped",
              "reference_gate")


def concatenate_logs(logs: list, wall: float) -> PresentationLog:
    """One log of the presentations of ``logs`` in order (at least one), with ``wall`` seconds."""
    if len(logs) == 1:
        logs[0].wall_seconds = wall
        return logs[0]
    return PresentationLog(**{f: np.concatenate([getattr(log, f) for log in logs]) for f in LOG_FIELDS},
                           wall_seconds=wall)


def tie_counts(outputs: np.ndarray) -> np.ndarray:
    """Number of outputs at the maximum, per row (NaN rows: every output)."""
    outputs = np.asarray(outputs, dtype=float)
    top = np.nanmax(np.where(np.isnan(outputs), -np.inf, outputs), axis=1, keepdims=True)
    return np.where(np.isnan(outputs).any(axis=1), outputs.shape[1], (outputs == top).sum(axis=1))


def credit_random_ties(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per row: 1 if the label alone has the maximum, 1/k if it shares it with k - 1 others, else 0."""
    outputs = np.asarray(outputs, dtype=float)
    k = tie_counts(outputs)
    rows = np.arange(len(labels))
    top = np.nanmax(np.where(np.isnan(outputs), -np.inf, outputs), axis=1)
    at_top = (outputs[rows, labels] == top) & ~np.isnan(outputs).any(axis=1)
    return np.where(at_top, 1.0 / k, np.where(np.isnan(outputs).any(axis=1), 1.0 / outputs.shape[1], 0.0))


class EnergyLedger:
    """Per-presentation write counts and weight-change sums of each projection.

    Parameters
    ----------
    projections : list of str
        Projection names, e.g. ``["input->hidden0", "hidden0->output"]``.
    alpha : float
        Exponent of :math:`M_\\alpha`.
    initial_weights : list of arrays
        Weights before learning (for :math:`M_\\mathrm{min}`).
    """

    def __init__(self, projections, alpha, initial_weights):
        self.projections = list(projections)
        self.alpha = float(alpha)
        self.initial_weights = [np.array(w, dtype=float) for w in initial_weights]
        P = len(self.projections)
        self.gate_open = np.zeros(0, dtype=bool)
        self.mistake = np.zeros(0, dtype=bool)
        self.samples = np.zeros(0, dtype=np.int64)
        self.writes = np.zeros((0, P), dtype=np.int64)
        self.sum_abs_dw = np.zeros((0, P))
        self.sum_abs_dw_alpha = np.zeros((0, P))
        self.trace_updates = np.zeros((0, P), dtype=np.int64)
        self.transient_writes = np.zeros((0, P), dtype=np.int64)
        self.maintenance = np.zeros((0, P))
        self.drive = np.zeros(0)
        self.activity = np.zeros((0, P + 1), dtype=np.int64)
        self.bits_flipped = np.zeros((0, P), dtype=np.int64)

    def record(self, log) -> None:
        """Append the presentations of a :class:`PresentationLog`."""
        for name in _FIELDS:
            setattr(self, name, np.concatenate([getattr(self, name), getattr(log, name)]))

    # cumulative measures -------------------------------------------------
    @property
    def n_presentations(self) -> int:
        return len(self.gate_open)

    @property
    def n_gated(self) -> int:
        return int(self.gate_open.sum())

    @property
    def m0(self) -> int:
        return int(self.writes.sum())

    @property
    def bits(self) -> int:
        """Bits flipped by all writes (0 for float synapses)."""
        return int(self.bits_flipped.sum())

    @property
    def m1(self) -> float:
        return float(self.sum_abs_dw.sum())

    @property
    def m_alpha(self) -> float:
        return float(self.sum_abs_dw_alpha.sum())

    def m_min(self, final_weights) -> float:
        """:math:`\\sum |w_\\mathrm{end} - w_\\mathrm{start}|` over all projections."""
        return float(sum(np.abs(np.asarray(w) - w0).sum() for w, w0 in zip(final_weights, self.initial_weights)))

    def m0_min(self, final_weights) -> int:
        return int(sum(np.count_nonzero(np.asarray(w) != w0) for w, w0 in zip(final_weights, self.initial_weights)))

    def summary(self, final_weights) -> dict:
        m_min = self.m_min(final_weights)
        m0_min = self.m0_min(final_weights)
        per = {}
        for p, name in enumerate(self.projections):
            w, w0 = np.asarray(final_weights[p]), self.initial_weights[p]
            pm_min = float(np.abs(w - w0).sum())
            per[name] = {
                "n_writes": int(self.writes[:, p].sum()),
                "bits_flipped": int(self.bits_flipped[:, p].sum()),
                "sum_abs_dw": float(self.sum_abs_dw[:, p].sum()),
                "m_alpha": float(self.sum_abs_dw_alpha[:, p].sum()),
                "m_min": pm_min,
                "m0_min": int(np.count_nonzero(w != w0)),
                "trace_updates": int(self.trace_updates[:, p].sum()),
                "transient_writes": int(self.transient_writes[:, p].sum()),
                "maintenance": float(self.maintenance[:, p].sum()),
                "n_synapses": int(w.size),
            }
        return {
            "n_presentations": self.n_presentations,
            "n_gated_presentations": self.n_gated,
            "n_writes": self.m0,
            "bits_flipped": self.bits,
            "sum_abs_dw": self.m1,
            "m_alpha": self.m_alpha,
            "alpha": self.alpha,
            "m_min": m_min,
            "m0_min": m0_min,
            "inefficiency": self.m1 / m_min if m_min > 0 else None,
            "inefficiency_m0": self.m0 / m0_min if m0_min > 0 else None,
            "trace_updates": int(self.trace_updates.sum()),
            "transient_writes": int(self.transient_writes.sum()),
            "maintenance": float(self.maintenance.sum()),
            "projections": per,
        }

    # persistence ----------------------------------------------------------
    def save(self, path: Path) -> None:
        np.savez_compressed(path, projections=np.array(self.projections), alpha=self.alpha,
                            **{f"initial_weights_{p}": w for p, w in enumerate(self.initial_weights)},
                            **{name: getattr(self, name) for name in _FIELDS})

    @classmethod
    def load(cls, path: Path) -> "EnergyLedger":
        """Read a ledger written by :meth:`save` and check every field (:meth:`validate`)."""
        with np.load(path, allow_pickle=False) as f:
            for name in ("projections", "alpha", "writes"):
                if name not in f.files:
                    raise ValueError(f"field {name!r} missing")
            projections = f["projections"]
            if projections.ndim != 1 or projections.dtype.kind not in "US" or not 1 <= len(projections) <= 1000:
                raise ValueError(f"field 'projections': expected 1 to 1000 names, got {projections.dtype} of "
                                 f"shape {projections.shape}")
            projections = [str(p) for p in projections]
            alpha = f["alpha"]
            if alpha.shape != () or alpha.dtype.kind not in "iuf":
                raise ValueError(f"field 'alpha': expected one number, got {alpha.dtype} of shape {alpha.shape}")
            initial = []
            for p in range(len(projections)):
                if f"initial_weights_{p}" not in f.files:
                    raise ValueError(f"field 'initial_weights_{p}' missing")
                initial.append(f[f"initial_weights_{p}"])
            ledger = cls(projections, float(alpha), [_finite_matrix(f"initial_weights_{p}", w)
                                                       for p, w in enumerate(initial)])
            writes = f["writes"]
            if writes.ndim != 2:
                raise ValueError(f"field 'writes': expected (presentations, projections), got shape {writes.shape}")
            n, P = writes.shape
            for name in _FIELDS:
                if name in f.files:
                    setattr(ledger, name, f[name])
                elif name in _LATER_FIELDS:
                    shape = {"drive": (n,), "activity": (n, P + 1)}.get(name, (n, P))
                    setattr(ledger, name, np.zeros(shape, dtype=getattr(ledger, name).dtype))
                else:
                    raise ValueError(f"field {name!r} missing")
        ledger.validate()
        return ledger

    def validate(self) -> None:
        """Check every field: shapes agree, counts are non-negative integers, sums are finite and
        non-negative, flags are booleans. Raises ``ValueError`` naming the field."""
        P = len(self.projections)
        if not math.isfinite(self.alpha) or self.alpha <= 0:
            raise ValueError(f"field 'alpha' = {self.alpha!r}: expected a finite number > 0")
        n = len(self.gate_open)
        shapes = {"gate_open": (n,), "mistake": (n,), "samples": (n,), "drive": (n,), "activity": (n, P + 1),
                  **{name: (n, P) for name in ("writes", "sum_abs_dw", "sum_abs_dw_alpha", "trace_updates",
                                               "transient_writes", "maintenance", "bits_flipped")}}
        for name, shape in shapes.items():
            value = np.asarray(getattr(self, name))
            if value.shape != shape:
                raise ValueError(f"field {name!r}: shape {value.shape}, expected {shape} ({n} presentations, "
                                 f"{P} projections)")
            kind = value.dtype.kind
            if name in ("gate_open", "mistake"):
                if kind != "b":
                    raise ValueError(f"field {name!r}: values of type {value.dtype}; expected booleans")
                continue
            if name in ("writes", "trace_updates", "transient_writes", "activity", "samples", "bits_flipped"):
                if kind not in "iu":
                    raise ValueError(f"field {name!r}: values of type {value.dtype}; expected integers")
            elif kind not in "iuf":
                raise ValueError(f"field {name!r}: values of type {value.dtype}; expected numbers")
            elif not np.all(np.isfinite(value)):
                raise ValueError(f"field {name!r}: contains NaN or infinity")
            if value.size and value.min() < 0:
                raise ValueError(f"field {name!r}: negative value {value.min()!r}; counts and sums are >= 0")
        for p in range(1, P):
            (a, b), (c, d) = self.initial_weights[p - 1].shape, self.initial_weights[p].shape
            if c != b and d not in (a, a + 1):   # spiking (n_pre, n_post); rate (n_post, n_pre [+ bias])
                raise ValueError(f"field 'initial_weights_{p}': shape {self.initial_weights[p].shape} does not "
                                 f"follow {self.initial_weights[p - 1].shape}")


def _finite_matrix(name: str, value) -> np.ndarray:
    value = np.asarray(value)
    if value.ndim != 2 or value.dtype.kind not in "iuf" or not np.all(np.isfinite(value)):
        raise ValueError(f"field {name!r}: expected a finite matrix of numbers, got {value.dtype} of shape "
                         f"{value.shape}")
    return value.astype(float)
