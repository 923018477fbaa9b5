"""The rate backend: per-sample SGD rate networks with the spiking core's gates, memory and ledger.

* :mod:`~spikegate.backends.rate.classifier`: the pure numpy maths and :class:`RateClassifier`;
* :mod:`~spikegate.backends.rate.schedule`: the order of forward passes and writes;
* :mod:`~spikegate.backends.rate.backend`: :class:`RateBackend`, the backend object.
"""
from .backend import RateBackend
from .classifier import RateClassifier

__all__ = ["RateBackend", "RateClassifier"]
