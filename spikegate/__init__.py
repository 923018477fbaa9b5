"""spikegate: error-gated three-factor plasticity in Brian2, with every synaptic write counted.

Declarations (frozen, validated, hashable): :class:`LIF`, :class:`PoissonInput`,
:class:`ThreeFactorRule`, :class:`ERNSignal`, :class:`NetworkSpec`, and the gates
:class:`Always`, :class:`Lazy`, :class:`Memorized`, :class:`Trace`, :class:`Margin`.
Builders and state: :class:`GatedClassifier` (Brian2 objects), :class:`MistakeMemory`,
:class:`EnergyLedger`. Rate backend (:mod:`spikegate.rate`): :class:`RateSpec`,
:class:`Restriction`, :class:`SynapticCaching`, :class:`RateClassifier`. Entry points: :func:`train`, :func:`evaluate`. Energy in joules
(:mod:`spikegate.energy`): :func:`load_catalogue`, :func:`energy_report`, :func:`energy_compare`.
"""
from .errors import SpikegateError, ParameterError, ConfigError, DataError
from .gates import Gate, Always, Lazy, Memorized, Trace, Margin, make_gate
from .memory import MistakeMemory, memory_decay, memory_gate, memory_update
from .ern import ERNSignal, integrate_ern_update
from .network import LIF, PoissonInput, ThreeFactorRule, NetworkSpec, GatedClassifier, PresentationLog
from .ledger import EnergyLedger
from .rate import RateSpec, Restriction, SynapticCaching, RateClassifier
from .energy import (EnergyError, Technology, LongTermMemory, ATPCost, Landauer, MetabolicModel,
                     load_catalogue, report as energy_report, compare as energy_compare)
from .training import train, evaluate, TrainResult
from .config import resolve

__version__ = "0.1.0"

__all__ = [
    "SpikegateError", "ParameterError", "ConfigError", "DataError",
    "Gate", "Always", "Lazy", "Memorized", "Trace", "Margin", "make_gate",
    "MistakeMemory", "memory_decay", "memory_gate", "memory_update",
    "ERNSignal", "integrate_ern_update",
    "LIF", "PoissonInput", "ThreeFactorRule", "NetworkSpec", "GatedClassifier", "PresentationLog",
    "EnergyLedger", "RateSpec", "Restriction", "SynapticCaching", "RateClassifier", "EnergyError", "Technology", "LongTermMemory", "ATPCost", "Landauer", "MetabolicModel",
    "load_catalogue", "energy_report", "energy_compare", "train", "evaluate", "TrainResult", "resolve",
]
