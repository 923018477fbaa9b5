r"""What a run computed, counted from its ledger: spikes, synaptic events, MACs, weight reads.

Functions of the ledger's per-presentation ``activity`` (one column per layer) and the layer
sizes (from the ledger's initial weights), counted by the backend that wrote the ledger
(:meth:`spikegate.backends.base.Backend.operation_counts`):

* spiking backend: ``activity[:, l]`` are the spikes of layer :math:`l` (input, hidden...,
  output). A presynaptic spike reaches every synapse of its neuron, so projection
  :math:`k` has :math:`S_k = \sum_t a_{t,k}\, n_{k+1}` synaptic events (accumulates,
  NeuroBench's *effective ACs*), each reading one weight;
* rate backend: a presentation's forward pass costs :math:`\sum_k n^\mathrm{in}_k n_{k+1}`
  dense MACs (bias inputs included), each reading one weight; *effective MACs* skip the
  zero inputs of the first layer (hidden activations are not recorded: counted dense).

These are the counts of the *training* presentations (the ledger's rows), not of the
test presentations, and of the forward pass only: the learning signal's own arithmetic
(traces, backward pass) is not counted.

:meth:`spikegate.backends.base.Backend.neurobench` reports them under NeuroBench's names (Yik et al., *The
neurobench framework for benchmarking neuromorphic computing algorithms and systems*,
Nat. Commun. 2025): ``synaptic_operations`` (``Effective_ACs``, ``Effective_MACs``,
``Dense``, per presentation), ``activation_sparsity``, ``connection_sparsity`` and
``footprint`` (bytes). The footprint is recorded as the simulator stored it (float64
weights: 8 bytes each); :func:`footprint` restates it at the bits per weight that price
the bill, so one figure holds throughout ``spikegate energy``.
"""
from __future__ import annotations

import re

import numpy as np

from ..backends import get_backend
from ..ledger import EnergyLedger


def operation_counts(backend: str, ledger: EnergyLedger) -> dict:
    """Totals over the ledger's presentations (integers): ``spikes`` (all layers, input included),
    ``synaptic_events`` (spiking), ``dense_macs`` and ``effective_macs`` (rate), ``weight_reads``
    (one per synaptic event or MAC), ``spikes_per_layer``; counted by the named backend."""
    return get_backend(backend).operation_counts(ledger)


def cumulative_operations(backend: str, ledger: EnergyLedger, presentations: int) -> dict:
    """:func:`operation_counts` of the first ``presentations`` rows of the ledger."""
    head = EnergyLedger(ledger.projections, ledger.alpha, ledger.initial_weights)
    for name in ("gate_open", "writes", "activity"):
        setattr(head, name, getattr(ledger, name)[:presentations])
    return operation_counts(backend, head)


def _state_values(metrics: dict, n_weights: int) -> int:
    """The state values behind a recorded footprint: ``state_values`` where recorded, else read
    from its definition (``... + state variables (N values)``), else what the bytes leave
    beside the weights at the recorded (or float64) width."""
    n = metrics.get("state_values")
    if isinstance(n, int) and not isinstance(n, bool) and n >= 0:
        return n
    definitions = metrics.get("definitions")
    text = definitions.get("footprint") if isinstance(definitions, dict) else None
    text = text if isinstance(text, str) else ""
    found = re.search(r"state variables \((\d+) values\)", text)
    if found:
        return int(found.group(1))
    size = re.search(r"weights \((\d+) bytes each\)", text)
    itemsize = int(size.group(1)) if size and int(size.group(1)) > 0 else 8
    recorded = metrics.get("footprint")
    return max((recorded if isinstance(recorded, int) else 0) // itemsize - n_weights, 0)


def footprint(metrics: dict, ledger: EnergyLedger, bits: float) -> dict:
    r"""NeuroBench's footprint at ``bits`` per stored value.

    Parameters
    ----------
    metrics : dict
        The run's ``neurobench`` record (``metrics.json``).
    ledger : EnergyLedger
        The run's ledger (its initial weights give the number of weights).
    bits : float
        Bits per stored value: the figure that prices the bill's writes and weight reads.

    Returns
    -------
    dict
        ``bytes`` :math:`= (W + S)\,b / 8`, ``weights`` :math:`W`, ``state_values`` :math:`S`
        (neuron state, at the same width) and ``bits`` :math:`b`.
    """
    n_weights = int(sum(np.size(w) for w in ledger.initial_weights))
    state = _state_values(metrics, n_weights)
    total = (n_weights + state) * float(bits) / 8
    return {"bytes": int(total) if total == int(total) else total, "weights": n_weights, "state_values": state,
            "bits": float(bits)}


def format_footprint(fp: dict) -> str:
    """``80,514 bytes = (79,400 weights + 1,114 state values) x 8 bits / 8``."""
    size = f"{fp['bytes']:,}" if isinstance(fp["bytes"], int) else f"{fp['bytes']:,.1f}"
    return (f"{size} bytes = ({fp['weights']:,} weights + {fp['state_values']:,} state values) "
            f"x {fp['bits']:g} bits / 8")


def format_neurobench(metrics: dict, fp: dict | None = None, sep: str = ", ") -> str:
    """One line: synaptic operations, activation and connection sparsity, and the footprint
    (``fp`` from :func:`footprint`; the recorded bytes when None) after ``sep``."""
    ops = metrics["synaptic_operations"]
    act, conn, recorded = (metrics.get(k) for k in ("activation_sparsity", "connection_sparsity", "footprint"))
    size = format_footprint(fp) if fp is not None else "-" if recorded is None else f"{recorded:,} bytes"
    return (f"Effective_ACs {ops['Effective_ACs']:.4g}, Effective_MACs {ops['Effective_MACs']:.4g}, "
            f"Dense {ops['Dense']:.4g}; activation_sparsity {'-' if act is None else f'{act:.4f}'}, "
            f"connection_sparsity {'-' if conn is None else f'{conn:.4f}'}{sep}footprint {size}")
