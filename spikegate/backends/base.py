"""What every backend provides: the :class:`Backend` object and the :class:`Classifier` protocol.

A backend is one object (:func:`spikegate.backends.get_backend`) that holds everything the rest
of spikegate would otherwise branch on: the model-file sections and keys it reads, how it
turns them into declarations and validates them, how it builds and runs classifiers, how long
its presentations take in simulated time, and what its forward pass counts for the energy
bill. Outside :mod:`spikegate.backends` no code asks which backend it has; adding a third
backend means writing one such object.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Protocol

import numpy as np

from ..ledger import EnergyLedger, PresentationLog


class Classifier(Protocol):
    """What training needs of a backend's classifier."""

    spec: object
    gate: object

    def present(self, samples, labels, memgate=None, learn: bool = True, progress=None) -> PresentationLog:
        """Present image rows ``samples`` in order (learning where the gate opens)."""

    def weights(self, k: int) -> np.ndarray:
        """A copy of the weights of projection ``k``."""

    def set_weights(self, k: int, w) -> None:
        """Replace the weights of projection ``k``."""

    def set_learning_scale(self, scale: float) -> None:
        """Multiply every learning rate by ``scale`` from now on (a schedule's factor; 1: the spec's)."""


#: ``declare(cls, section_values, origin, **parts)``: builds a declaration, restating its
#: errors in terms of the model file's keys (see :func:`spikegate.config.resolve`).
Declare = Callable[..., object]


class Backend:
    """A backend's description of itself (subclasses fill in every attribute and method)."""

    #: the name of ``backend = "..."`` in a model file
    name: str = ""
    #: model-file sections this backend reads besides ``data``, ``gate``, ``reserve`` and ``train``
    sections: tuple = ()
    #: rough presentations per second on one core (time estimates in bound messages)
    presentations_per_second: float = 1.0
    #: what the progress bar says while the first classifier is built
    preparing: str = "building"
    #: renamed keys of its sections: ``{section: {old: new}}`` (read with a deprecation line)
    renamed: dict = {}

    def __repr__(self) -> str:
        return f"<{self.name} backend>"

    # ------------------------------------------------------------------ configuration
    def network_keys(self) -> tuple:
        """The keys of ``[network]`` it reads."""
        raise NotImplementedError

    def section_keys(self, section: str) -> tuple:
        """The keys it reads in one of its :attr:`sections` (renamed old keys included)."""
        raise NotImplementedError

    def declare(self, sections: dict, declare: Declare) -> dict:
        """Declarations from the model file's sections: ``{"spec": ..., ...}`` (the extra entries
        become fields of :class:`~spikegate.config.RunConfig`)."""
        raise NotImplementedError

    def to_sections(self, parts: dict) -> dict:
        """The resolved values of its sections (every default written out) from its declarations."""
        raise NotImplementedError

    def validate(self, cfg: "RunConfig") -> None:
        """Checks of a resolved configuration as a whole (raise ConfigError)."""

    # ------------------------------------------------------------------ running
    def simulation(self, cfg: "RunConfig"):
        """The context its classifiers run in."""
        return contextlib.nullcontext()

    def build(self, cfg: "RunConfig", ds: "Dataset", seed_offset: int = 0) -> Classifier:
        """The classifier of a resolved config; its image bank is the training rows, then the test rows."""
        raise NotImplementedError

    def build_tester(self, cfg: "RunConfig", ds: "Dataset", clf: Classifier, seed_offset: int = 0) -> Classifier:
        """The classifier of test presentations (``clf`` itself unless the backend tests differently)."""
        return clf

    def check_bounds(self, cfg: "RunConfig", n_presentations: int) -> None:
        """Bounds of its own, checked before anything is built (raise ConfigError)."""

    def run_metrics(self, cfg: "RunConfig", n_train: int, n_test: int) -> dict:
        """Metrics of a training that depend on the backend (engine, simulated time)."""
        return {}

    # ------------------------------------------------------------------ the energy bill
    def layer_shapes(self, ledger: EnergyLedger) -> list[tuple[int, int]]:
        """``(n_pre, n_post)`` of each projection, from the ledger's initial weights."""
        raise NotImplementedError

    def operation_counts(self, ledger: EnergyLedger) -> dict:
        """Totals over the ledger's presentations: ``spikes``, ``spikes_per_layer``,
        ``synaptic_events``, ``dense_macs``, ``effective_macs``, ``weight_reads``."""
        raise NotImplementedError

    def neurobench(self, spec, ledger: EnergyLedger, final_weights) -> dict:
        """NeuroBench-style metrics of the training presentations of a network ``spec`` (:func:`neurobench_record`)."""
        raise NotImplementedError


def neurobench_record(ledger: EnergyLedger, final_weights, *, acs: float, macs: float, dense: float,
                      activation_sparsity, state: int, definitions: dict) -> dict:
    """The NeuroBench-style record (Yik et al., Nat. Commun. 2025): ``synaptic_operations``
    (``Effective_ACs``, ``Effective_MACs``, ``Dense``: mean per presentation),
    ``activation_sparsity``, ``connection_sparsity`` (fraction of zero weights) and
    ``footprint`` (bytes of weights and ``state`` values, as stored; ``weights`` and
    ``state_values`` count them, so ``spikegate energy`` restates it at the bill's bits)."""
    n = max(ledger.n_presentations, 1)
    weights = [np.asarray(w) for w in final_weights]
    n_weights = sum(w.size for w in weights)
    itemsize = weights[0].itemsize if weights else 8
    return {
        "synaptic_operations": {"Effective_ACs": acs / n, "Effective_MACs": macs / n, "Dense": float(dense)},
        "activation_sparsity": activation_sparsity,
        "connection_sparsity": float(sum(int((w == 0).sum()) for w in weights) / n_weights) if n_weights else 0.0,
        "footprint": int(sum(w.nbytes for w in weights) + state * itemsize),
        "weights": int(n_weights), "state_values": int(state),   # the footprint at any width (spikegate energy)
        "definitions": {"per": "training presentation (mean over the ledger's rows)", **definitions,
                        "footprint": f"weights ({itemsize} bytes each) + state variables ({state} values)"},
    }
