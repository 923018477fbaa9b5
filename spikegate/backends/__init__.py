"""Backends: what builds and runs a classifier from its declarations.

Each backend is one :class:`~spikegate.backends.base.Backend` object (:func:`get_backend`)
holding everything the rest of spikegate would otherwise branch on, and its classifiers
implement the :class:`~spikegate.backends.base.Classifier` protocol, so training, evaluation,
the ledger, the energy bill and scans do not depend on which one runs:

* :mod:`spikegate.backends.spiking`: Brian2 networks, on Brian2's runtime
  (:class:`~spikegate.backends.spiking.GatedClassifier`) or compiled once
  (:class:`~spikegate.backends.spiking.StandaloneClassifier`);
* :mod:`spikegate.backends.rate`: per-sample SGD in numpy with the same gates and ledger.
"""
from __future__ import annotations

from ..errors import ConfigError
from ..ledger import PresentationLog
from .base import Backend, Classifier

#: Backend names, in the order error messages list them.
BACKENDS = ("spiking", "rate")
_INSTANCES: dict = {}


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (``backend = "..."`` in a model file)."""
    if name not in BACKENDS:
        raise ConfigError(f"backend = {name!r}: unknown; allowed: {', '.join(BACKENDS)}")
    if name not in _INSTANCES:
        if name == "spiking":
            from .spiking.backend import SpikingBackend as cls
        else:
            from .rate.backend import RateBackend as cls
        _INSTANCES[name] = cls()
    return _INSTANCES[name]


def present_test_set(clf: Classifier, tester: Classifier, samples, labels, progress=None) -> PresentationLog:
    """Present test samples without learning, on ``tester`` with ``clf``'s current weights."""
    if tester is not clf:
        for k in range(clf.spec.n_projections):
            tester.set_weights(k, clf.weights(k))
    return tester.present(samples, labels, learn=False, progress=progress)


__all__ = ["Backend", "Classifier", "BACKENDS", "get_backend", "present_test_set"]
