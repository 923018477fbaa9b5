"""Declarations: frozen, validated, hashable descriptions of a model (no simulator objects).

The backends (:mod:`spikegate.backends`) build simulator objects from them.
"""
from .declaration import Declaration, declaration, default
from .gates import (GATE_NAMES, ERNGate, GATES, Always, Decision, Gate, Lazy, Margin, Memorized, Random, Trace, gate_decision,
                    make_gate, margin_threshold, margins)
from .memory import MistakeMemory, memory_decay, memory_gate, memory_update
from .neuron import LIF, NEURON_MODELS, NeuronEquations, PoissonInput
from .plasticity import ERNSignal, ThreeFactorRule
from .error_monitor import ErrorMonitor
from .reserve import MetabolicReserve, reserve_step
from .synapse import SynapseFormat
from .specs import DataSpec, NetworkSpec, RateSpec, Restriction, SynapticCaching, TrainingSpec

__all__ = [
    "Declaration", "declaration", "default",
    "Gate", "Always", "Lazy", "Memorized", "Trace", "Margin", "ERNGate", "Random", "GATES", "GATE_NAMES", "make_gate", "Decision",
    "gate_decision", "margin_threshold", "margins",
    "MistakeMemory", "memory_decay", "memory_gate", "memory_update",
    "MetabolicReserve", "reserve_step", "LIF", "NeuronEquations", "NEURON_MODELS", "PoissonInput", "ThreeFactorRule", "ERNSignal", "ErrorMonitor",
    "SynapseFormat", "NetworkSpec", "RateSpec", "Restriction", "SynapticCaching", "DataSpec", "TrainingSpec",
]


def __getattr__(name):
    if name == "ERN":
        from . import gates

        return gates.ERN     # renamed ERNGate (a deprecation warning)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
