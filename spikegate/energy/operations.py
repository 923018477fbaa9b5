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
``footprint`` (bytes).
"""
from __future__ import annotations

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


def format_neurobench(metrics: dict) -> str:
    """One line: synaptic operations, activation and connection sparsity, footprint."""
    ops = metrics["synaptic_operations"]
    act = metrics.get("activation_sparsity")
    return (f"Effective_ACs {ops['Effective_ACs']:.4g}, Effective_MACs {ops['Effective_MACs']:.4g}, "
            f"Dense {ops['Dense']:.4g}; activation_sparsity {'-' if act is None else f'{act:.4f}'}, "
            f"connection_sparsity {metrics['connection_sparsity']:.4f}, footprint {metrics['footprint']:,} bytes")
