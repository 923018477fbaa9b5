r"""What a run computed, counted from its ledger: spikes, synaptic events, MACs, weight reads.

Pure functions of the ledger's per-presentation ``activity`` (one column per layer) and
the layer sizes (from the ledger's initial weights):

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

:func:`neurobench_metrics` reports them under NeuroBench's names (Yik et al., *The
neurobench framework for benchmarking neuromorphic computing algorithms and systems*,
Nat. Commun. 2025): ``synaptic_operations`` (``Effective_ACs``, ``Effective_MACs``,
``Dense``, per presentation), ``activation_sparsity``, ``connection_sparsity`` and
``footprint`` (bytes).
"""
from __future__ import annotations

import numpy as np

from ..ledger import EnergyLedger

#: Backends whose ledgers this module reads.
BACKENDS = ("spiking", "rate")


def layer_shapes(backend: str, ledger: EnergyLedger) -> list[tuple[int, int]]:
    """``(n_pre, n_post)`` of each projection (rate weights are stored ``(n_post, n_pre + bias)``)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    shapes = [tuple(int(n) for n in np.shape(w)) for w in ledger.initial_weights]
    return [(a, b) if backend == "spiking" else (b, a) for a, b in shapes]


def operation_counts(backend: str, ledger: EnergyLedger) -> dict:
    """Totals over the ledger's presentations (integers).

    ``spikes`` (all layers, input included), ``synaptic_events`` (spiking), ``dense_macs``
    and ``effective_macs`` (rate), ``weight_reads`` (one per synaptic event or MAC), and
    ``spikes_per_layer``.
    """
    shapes = layer_shapes(backend, ledger)
    act = np.asarray(ledger.activity, dtype=np.int64)
    fan_out = np.array([post for _, post in shapes], dtype=np.int64)
    n = ledger.n_presentations
    if backend == "spiking":
        events = int((act[:, :-1] * fan_out).sum())
        return {"spikes": int(act.sum()), "spikes_per_layer": [int(x) for x in act.sum(axis=0)],
                "synaptic_events": events, "dense_macs": 0, "effective_macs": 0, "weight_reads": events}
    dense = n * sum(pre * post for pre, post in shapes)
    effective = int((act[:, :-1] * fan_out).sum())
    return {"spikes": 0, "spikes_per_layer": [0] * act.shape[1], "synaptic_events": 0, "dense_macs": int(dense),
            "effective_macs": effective, "weight_reads": int(dense)}


def cumulative_operations(backend: str, ledger: EnergyLedger, presentations: int) -> dict:
    """:func:`operation_counts` of the first ``presentations`` rows of the ledger."""
    head = EnergyLedger(ledger.projections, ledger.alpha, ledger.initial_weights)
    for name in ("gate_open", "writes", "activity"):
        setattr(head, name, getattr(ledger, name)[:presentations])
    return operation_counts(backend, head)


def neurobench_metrics(backend: str, ledger: EnergyLedger, final_weights, *, steps_per_presentation: int = 1,
                       state_per_neuron: int = 1, state_per_input: int = 0) -> dict:
    r"""NeuroBench-style metrics of the training presentations.

    Parameters
    ----------
    backend : {"spiking", "rate"}
    ledger : EnergyLedger
    final_weights : list of arrays
        The trained weights (connection sparsity, footprint).
    steps_per_presentation : int
        Time steps of a presentation (spiking: ``t_stim / dt``): ``Dense`` counts every
        synapse at every step, and ``activation_sparsity`` every neuron at every step.
    state_per_neuron, state_per_input : int
        State variables of a hidden or output neuron (LIF: ``v``, ``I``, ``x``) and of an
        input (its trace ``x``), for the footprint.

    Returns
    -------
    dict
        ``synaptic_operations`` (``Effective_ACs``, ``Effective_MACs``, ``Dense``: mean per
        presentation), ``activation_sparsity`` (spiking: :math:`1 - \text{spikes} /
        (\text{neurons} \times \text{steps})` over hidden and output neurons; rate: None,
        activations are not recorded), ``connection_sparsity`` (fraction of zero weights),
        ``footprint`` (bytes of weights and state, as stored) and the definitions used.
    """
    shapes = layer_shapes(backend, ledger)
    ops = operation_counts(backend, ledger)
    n = max(ledger.n_presentations, 1)
    synapses = sum(pre * post for pre, post in shapes)
    weights = [np.asarray(w) for w in final_weights]
    n_weights = sum(w.size for w in weights)
    neurons = sum(post for _, post in shapes)
    n_in = shapes[0][0]
    itemsize = weights[0].itemsize if weights else 8
    if backend == "spiking":
        dense = synapses * steps_per_presentation
        act = np.asarray(ledger.activity)[:, 1:]
        sparsity = 1.0 - float(act.sum()) / (n * neurons * steps_per_presentation) if ledger.n_presentations else None
        state = neurons * state_per_neuron + n_in * state_per_input
        acs, macs = ops["synaptic_events"] / n, 0.0
    else:
        dense, sparsity = synapses, None
        state = neurons + n_in
        acs, macs = 0.0, ops["effective_macs"] / n
    return {
        "synaptic_operations": {"Effective_ACs": acs, "Effective_MACs": macs, "Dense": float(dense)},
        "activation_sparsity": sparsity,
        "connection_sparsity": float(sum(int((w == 0).sum()) for w in weights) / n_weights) if n_weights else 0.0,
        "footprint": int(sum(w.nbytes for w in weights) + state * itemsize),
        "definitions": {
            "per": "training presentation (mean over the ledger's rows)",
            "Effective_ACs": "presynaptic spikes x fan-out (spiking)",
            "Effective_MACs": "non-zero first-layer inputs x fan-out, later layers dense (rate)",
            "Dense": "every synapse at every time step" if backend == "spiking" else "every weight once",
            "activation_sparsity": "1 - spikes / (hidden and output neurons x time steps)" if backend == "spiking"
            else "not recorded by the rate backend",
            "footprint": f"weights ({itemsize} bytes each) + state variables ({state} values)",
        },
    }


def format_neurobench(metrics: dict) -> str:
    """One line: synaptic operations, activation and connection sparsity, footprint."""
    ops = metrics["synaptic_operations"]
    act = metrics.get("activation_sparsity")
    return (f"Effective_ACs {ops['Effective_ACs']:.4g}, Effective_MACs {ops['Effective_MACs']:.4g}, "
            f"Dense {ops['Dense']:.4g}; activation_sparsity {'-' if act is None else f'{act:.4f}'}, "
            f"connection_sparsity {metrics['connection_sparsity']:.4f}, footprint {metrics['footprint']:,} bytes")
