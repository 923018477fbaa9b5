r"""The validation curve and stopping: accuracy on held-out training images beside the costs so far.

At each validation (``train.validate_every`` presentations, or each epoch's end) the
:class:`ValidationMonitor` presents the validation split without learning and records one
point of the run's *validation curve*:

* ``presentations`` so far, ``validation_accuracy`` (ties are errors);
* the cumulative costs of learning: ``writes`` (:math:`M_0`), ``bits_flipped``,
  ``sum_abs_dw`` (:math:`M_1`);
* the energies on ``train.technology`` (:mod:`spikegate.energy.bill`): ``learning_j`` (the
  writes, priced per word) and ``total_j``, learning plus the forward computation of every
  training presentation so far (spikes, synaptic events or MACs, weight reads).

The curve is what :mod:`spikegate.frontier` reads: the cost to *first* reach a validation
accuracy. Stopping (``train.stop``): at the first validation that reaches
``stop_accuracy`` (``"target"``), or after ``patience`` validations without improvement
(``"patience"``); the monitor keeps the weights of the best validation, and the run is
tested with the weights of its stopping point (the best validation so far).
"""
from __future__ import annotations

import numpy as np

from .backends import present_test_set
from .errors import ConfigError
from .ledger import EnergyLedger


def check_technology(name: str) -> dict:
    """The energy catalogue, after checking that ``name`` is one of its technologies."""
    from .energy.catalogue import load_catalogue

    catalogue = load_catalogue()
    if name not in catalogue:
        raise ConfigError(f"train.technology = {name!r}: not in the energy catalogue; allowed: "
                          f"{', '.join(sorted(catalogue))}")
    return catalogue


class CostMeter:
    """The learning and total energy of a ledger so far on one technology (one catalogue lookup)."""

    def __init__(self, technology: str, backend: str, bits: int):
        from .energy.bill import biology_reference
        from .energy.catalogue import load_events
        from .energy.pricing import bits_per_synapse

        self.catalogue = check_technology(technology)
        self.technology, self.backend, self.bits = technology, backend, bits
        self.events = load_events(None, self.catalogue)
        self.biology = biology_reference(self.catalogue, bits_per_synapse(), 1.0)

    def __call__(self, ledger: EnergyLedger, presentations: int | None = None) -> tuple[float, float]:
        """``(learning J, total J)`` of every presentation in ``ledger``, or of its first ``presentations``."""
        from .energy.bill import price, run_counts, totals

        rows = price(run_counts(self.backend, ledger, presentations), self.bits, self.catalogue, self.events,
                     [self.technology], biology=self.biology)
        t = totals(rows)[0]
        return t["learning_j"], t["total_j"]


class ValidationMonitor:
    """Validates, records the curve, decides stopping and keeps the best weights (module docstring)."""

    def __init__(self, cfg, ds, clf, tester, bar):
        self.cfg, self.ds, self.clf, self.tester, self.bar = cfg, ds, clf, tester, bar
        self.idx = len(ds.x_train) + len(ds.x_test) + np.arange(len(ds.x_val))
        # the catalogue is read only by runs that validate
        self.meter = CostMeter(cfg.training.technology, cfg.backend.name, cfg.spec.synapse.bits or 32) \
            if self.enabled else None
        self.curve: list[dict] = []
        self.best: dict | None = None
        self.best_weights = None
        self.since_best = 0
        self.stopped: dict | None = None

    @property
    def enabled(self) -> bool:
        return len(self.idx) > 0

    def due(self, position: int, end_of_epoch: bool) -> bool:
        """Whether a validation follows the presentation at ``position`` of an epoch (1-based)."""
        every = self.cfg.training.validate_every
        return self.enabled and (end_of_epoch or (every > 0 and position % every == 0))

    def validate(self, epoch: int, ledger: EnergyLedger) -> dict:
        """Present the validation split, record a curve point; return it."""
        self.bar.describe(f"epoch {epoch}/{self.cfg.training.epochs} validate")
        log = present_test_set(self.clf, self.tester, self.idx, self.ds.y_val, self.bar.advance)
        learning_j, total_j = self.meter(ledger)
        point = {"epoch": epoch, "presentations": ledger.n_presentations, "validation_accuracy": log.accuracy,
                 "writes": ledger.m0, "bits_flipped": ledger.bits, "sum_abs_dw": ledger.m1,
                 "learning_j": learning_j, "total_j": total_j, "technology": self.meter.technology}
        self.curve.append(point)
        if self.best is None or point["validation_accuracy"] > self.best["validation_accuracy"]:
            self.best, self.since_best = point, 0
            if self.cfg.training.stop != "none":
                self.best_weights = [self.clf.weights(k) for k in range(self.cfg.spec.n_projections)]
        else:
            self.since_best += 1
        return point

    def should_stop(self) -> bool:
        tc = self.cfg.training
        if tc.stop == "target":
            return self.best is not None and self.best["validation_accuracy"] >= tc.stop_accuracy
        if tc.stop == "patience":
            return self.since_best >= tc.patience
        return False

    def stop(self) -> dict:
        """Restore the weights of the stopping point (the best validation); return that point."""
        for k, w in enumerate(self.best_weights):
            self.clf.set_weights(k, w)
        self.stopped = self.best
        return self.best

    def summary(self) -> dict:
        """Metrics of the run: the curve, the best validation and where training stopped."""
        if not self.enabled:
            return {}
        return {"validation": self.curve, "n_validation": int(len(self.idx)),
                "best_validation_accuracy": self.best["validation_accuracy"],
                "best_validation_presentations": self.best["presentations"],
                "stopped": self.stopped is not None,
                "stopped_at_presentations": (self.stopped or {}).get("presentations"),
                "stop": self.cfg.training.stop, "stopping_point": self.stopped}
