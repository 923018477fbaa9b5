"""spikegate: error-gated three-factor plasticity in Brian2, with every synaptic write counted.

The package, one room per concept:

* :mod:`spikegate.model`: declarations (frozen, validated, hashable): :class:`LIF`,
  :class:`PoissonInput`, :class:`ThreeFactorRule`, :class:`ERNSignal`, :class:`ErrorMonitor`, :class:`NetworkSpec`,
  :class:`RateSpec`, :class:`Restriction`, :class:`SynapticCaching`, the gates
  :class:`Always`, :class:`Lazy`, :class:`Memorized`, :class:`Trace`, :class:`Margin`,
  :class:`ERNGate` (the graded error-related negativity), and
  the mistake memory :class:`MistakeMemory`;
* :mod:`spikegate.backends`: what builds and runs them: :class:`GatedClassifier` (Brian2)
  and :class:`RateClassifier` (numpy);
* :mod:`spikegate.ledger`: :class:`EnergyLedger`, every synaptic write counted;
* :mod:`spikegate.config`, :mod:`spikegate.training`, :mod:`spikegate.rundir`: model files,
  :func:`train` and :func:`evaluate`, run directories;
* :mod:`spikegate.energy`: writes to joules (:func:`energy_report`, :func:`energy_compare`) and the
  whole bill, learning beside computing (:func:`spikegate.energy.bill`);
* :mod:`spikegate.scan`: resumable parameter scans; :mod:`spikegate.cli`: the command line.
"""
from .startup import import_brian

import_brian()   # before anything else imports Brian2 (see spikegate.startup)

from .errors import ConfigError, DataError, EnergyError, ParameterError, SpikegateError  # noqa: E402
from .model import (LIF, Always, ERNGate, ERNSignal, ErrorMonitor, Gate, Lazy, Margin, Memorized, MetabolicReserve,
                    MistakeMemory,
                    NetworkSpec, NeuronEquations, PoissonInput, Random, RateSpec, Restriction, SynapseFormat,
                    SynapticCaching, ThreeFactorRule, Trace, gate_decision,
                    make_gate, memory_decay, memory_gate, memory_update)
from .ledger import EnergyLedger, PresentationLog
from .backends.spiking import GatedClassifier, StandaloneClassifier, integrate_ern_update
from .backends.rate import RateClassifier
from .energy import (ATPCost, Landauer, LongTermMemory, MetabolicModel, Technology, load_catalogue,
                     report as energy_report, compare as energy_compare)
from .training import TrainResult, evaluate, train
from .config import resolve

__version__ = "0.1.0"

__all__ = [
    "SpikegateError", "ParameterError", "ConfigError", "DataError", "EnergyError",
    "Gate", "Always", "Lazy", "Memorized", "Trace", "Margin", "ERNGate", "Random", "make_gate", "gate_decision",
    "MistakeMemory", "MetabolicReserve", "memory_decay", "memory_gate", "memory_update",
    "ERNSignal", "ErrorMonitor", "integrate_ern_update",
    "LIF", "NeuronEquations", "PoissonInput", "ThreeFactorRule", "SynapseFormat", "NetworkSpec", "GatedClassifier", "StandaloneClassifier", "PresentationLog",
    "EnergyLedger", "RateSpec", "Restriction", "SynapticCaching", "RateClassifier",
    "Technology", "LongTermMemory", "ATPCost", "Landauer", "MetabolicModel",
    "load_catalogue", "energy_report", "energy_compare", "train", "evaluate", "TrainResult", "resolve",
]


def __getattr__(name):
    if name == "ERN":
        from .model import gates

        return gates.ERN     # renamed ERNGate (a deprecation warning)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
