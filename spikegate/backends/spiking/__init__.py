"""The spiking backend: error-gated three-factor plasticity in Brian2, one module per job.

* :mod:`~spikegate.backends.spiking.equations`: every piece of Brian2 text (equations and the
  code of each operation); the names a user's neuron model must not use derive from it;
* :mod:`~spikegate.backends.spiking.builder`: the Brian2 objects, and the values they start from;
* :mod:`~spikegate.backends.spiking.schedule`: the tables of a chunk of presentations;
* :mod:`~spikegate.backends.spiking.readout`: from the control group's records to a log;
* :mod:`~spikegate.backends.spiking.classifier`: :class:`GatedClassifier` (Brian2's runtime);
* :mod:`~spikegate.backends.spiking.standalone` and :mod:`~spikegate.backends.spiking.cache`:
  the compiled engine (:class:`StandaloneClassifier`) and its project cache;
* :mod:`~spikegate.backends.spiking.validation`: a user's neuron model checked for this backend;
* :mod:`~spikegate.backends.spiking.ern_reference`: the ERN's weighting integrated explicitly;
* :mod:`~spikegate.backends.spiking.backend`: :class:`SpikingBackend`, the backend object.
"""
from .backend import SpikingBackend
from .classifier import GatedClassifier
from .ern_reference import integrate_ern_update
from .schedule import MAX_CHUNK
from .standalone import StandaloneClassifier

__all__ = ["SpikingBackend", "GatedClassifier", "StandaloneClassifier", "integrate_ern_update", "MAX_CHUNK"]
