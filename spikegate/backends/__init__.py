"""Backends: what builds and runs a classifier from its declarations.

Both backends implement the :class:`Classifier` protocol, so training, evaluation, the
ledger and scans do not depend on which one runs:

* :mod:`spikegate.backends.spiking`: :class:`~spikegate.backends.spiking.GatedClassifier`,
  Brian2 objects (decisions, gates and writes in generated code), run by Brian2's runtime;
* :mod:`spikegate.backends.standalone`: :class:`~spikegate.backends.standalone.StandaloneClassifier`,
  the same objects compiled once with ``cpp_standalone`` (``train.device``);
* :mod:`spikegate.backends.rate`: :class:`~spikegate.backends.rate.RateClassifier`,
  per-sample SGD in numpy with the same gates and ledger.

:func:`build` makes the classifier a resolved configuration asks for.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..ledger import PresentationLog

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..data import Dataset


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


def build(cfg: "RunConfig", ds: "Dataset", seed_offset: int = 0) -> Classifier:
    """The classifier of a resolved config; its image bank is the training rows, then the test rows.

    ``seed_offset`` shifts the seed of the spike trains (Brian2's ``rand()``) only.
    """
    images = np.vstack([ds.x_train, ds.x_test])
    if cfg.backend == "rate":
        from .rate import RateClassifier

        mean = ds.x_train.mean(axis=0) if cfg.spec.mean_subtract else None
        return RateClassifier(cfg.spec, cfg.gate, images, seed=cfg.seed, restriction=cfg.restriction,
                              caching=cfg.caching, mean=mean, reserve=cfg.reserve)
    if cfg.training.device == "cpp_standalone":
        from .standalone import StandaloneClassifier

        return StandaloneClassifier(cfg.spec, cfg.gate, images, seed=cfg.seed + seed_offset, chunk=cfg.training.chunk)
    import brian2

    from .spiking import GatedClassifier

    # one name for every training: each has a Network of its own, and the Cython cache hits
    clf = GatedClassifier(cfg.spec, cfg.gate, images, seed=cfg.seed, chunk=cfg.training.chunk, name="sg",
                          reserve=cfg.reserve)
    brian2.seed(cfg.seed + seed_offset)   # the spike trains' stream (the weights keep cfg.seed)
    return clf


def build_tester(cfg: "RunConfig", ds: "Dataset", clf: Classifier, seed_offset: int = 0) -> Classifier:
    """The classifier of test presentations: ``clf`` itself, or (spiking, ``network.t_test`` set)
    a second network whose presentation window is ``t_test``; see :func:`present_test_set`.
    ``seed_offset`` as given to :func:`build` (building the tester leaves Brian2's seed as it was)."""
    if cfg.backend == "rate" or cfg.spec.t_test is None:
        return clf
    import brian2

    from .spiking import GatedClassifier

    tester = GatedClassifier(cfg.spec.test_network(), cfg.gate, np.vstack([ds.x_train, ds.x_test]), seed=cfg.seed,
                             chunk=cfg.training.chunk, name="sgtest")
    brian2.seed(cfg.seed + seed_offset)
    return tester


def present_test_set(clf: Classifier, tester: Classifier, samples, labels, progress=None) -> PresentationLog:
    """Present test samples without learning, on ``tester`` with ``clf``'s current weights."""
    if tester is not clf:
        for k in range(clf.spec.n_projections):
            tester.set_weights(k, clf.weights(k))
    return tester.present(samples, labels, learn=False, progress=progress)
