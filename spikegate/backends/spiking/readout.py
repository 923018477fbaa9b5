"""The read-out: from the control group's records (one row per tick) to a :class:`PresentationLog`.

The control monitor records, at every tick, the loaded row (``valid``, ``post``, ``write_now``,
``sample``, ``label``), the decision (``mistake``, ``gate``, ``drive``, ``margin``) and the ledger sums of
the tick just ended; the count monitor the output spike counts. A presentation's decision is
read at its stimulus tick, its writes at the tick that ends its post-decision interval (its
write tick). The records are plain arrays, so the runtime engine (Brian2's monitors) and the compiled
engine (the binary's result files) share this decoding.
"""
from __future__ import annotations

import numpy as np

from ...errors import ParameterError
from ...ledger import PresentationLog
from ...model import NetworkSpec


def write_ticks(write_now: np.ndarray, valid: np.ndarray, decision_ticks: np.ndarray) -> np.ndarray:
    """The tick of each decision's write: every decision writes once (a closed gate writes
    nothing), in the order of the decisions, so the k-th write tick of the records is the k-th
    decision's (on the stream a write may come after later decisions, when the ERN window
    outlasts the interval)."""
    decision_ticks = np.asarray(decision_ticks)
    if not len(decision_ticks):
        return decision_ticks.copy()
    rank = int(np.searchsorted(np.flatnonzero(np.asarray(valid) > 0.5), decision_ticks[0]))
    writes = np.flatnonzero(np.asarray(write_now) > 0.5)[rank:rank + len(decision_ticks)]
    if len(writes) != len(decision_ticks):
        raise ParameterError(f"recorded {len(writes)} writes for {len(decision_ticks)} decisions: the run ended "
                             "before the last write (a schedule shorter than its ERN windows)")
    return writes


def decode(spec: NetworkSpec, records: dict, counts: np.ndarray, start: int, n: int, wall: float,
           last: bool = False) -> PresentationLog:
    """The log of ``n`` presentations recorded from tick ``start`` on (or the last ``n``).

    Parameters
    ----------
    records : dict of str to array
        Per tick, the control monitor's variables (``valid``, ``post``, ``write_now``, ``sample``, ``label``,
        ``mistake``, ``gate``, ``drive``, ``writes_k``, ``bits_k``, ``abs_k``, ``alpha_k``, ``spikes_k``; with the
        spiking ERN ``reference_gate``, and the gate and drive are read at the write tick).
    counts : array, shape (ticks, n_out)
        The output spike counts recorded at each tick.
    """
    valid = np.asarray(records["valid"])[start:] > 0.5
    idx = np.flatnonzero(valid) + start
    if last:
        idx = idx[len(idx) - n:] if n else idx[:0]
    if len(idx) != n:
        raise ParameterError(f"recorded {len(idx)} decisions, asked for {n} presentations")
    widx = write_ticks(records["write_now"], records["valid"], idx)
    P = spec.n_projections

    def column(name, rows):
        return np.asarray(records[name])[rows]

    writes = np.stack([column(f"writes_{k}", widx) for k in range(P)], axis=1)
    spikes = np.stack([column(f"spikes_{k}", idx) for k in range(P)], axis=1)
    outputs = np.asarray(counts)[idx, :].astype(np.int64)
    # the spiking ERN's gate and drive are known at the write; the ideal gate, its reference, at the decision
    at_gate = widx if spec.ern.spiking else idx
    return PresentationLog(
        samples=column("sample", idx).astype(np.int64),
        labels=column("label", idx).astype(np.int64),
        outputs=outputs,
        activity=np.concatenate([np.rint(spikes).astype(np.int64), outputs.sum(axis=1, keepdims=True)], axis=1),
        mistake=column("mistake", idx) > 0.5,
        gate_open=column("gate", at_gate) > 0.5,
        writes=np.rint(writes).astype(np.int64),
        bits_flipped=np.rint(np.stack([column(f"bits_{k}", widx) for k in range(P)], axis=1)).astype(np.int64),
        sum_abs_dw=np.stack([column(f"abs_{k}", widx) for k in range(P)], axis=1),
        sum_abs_dw_alpha=np.stack([column(f"alpha_{k}", widx) for k in range(P)], axis=1),
        trace_updates=trace_updates(spec, spikes, outputs),
        wall_seconds=wall,
        drive=column("drive", at_gate),
        reference_gate=column("reference_gate", idx) > 0.5 if spec.ern.spiking else None,
    )


def trace_updates(spec: NetworkSpec, spikes: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Per presentation and projection, the eligibility updates: each presynaptic spike updates
    the trace of each of its synapses; with the pre-post tag each postsynaptic spike also
    updates the tag of each synapse onto it."""
    out = spikes * np.array(spec.layers[1:], dtype=float)
    if spec.rule.pre_post:
        post = np.concatenate([spikes[:, 1:], outputs.sum(axis=1, keepdims=True)], axis=1)
        out = out + post * np.array(spec.layers[:-1], dtype=float)
    return np.rint(out).astype(np.int64)
