"""The rate backend as one object: its model-file sections, its checks and its counts."""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ...ledger import EnergyLedger
from ...model import RateSpec, Restriction, SynapseFormat, SynapticCaching
from ..base import Backend, neurobench_record

#: Keys of [network] in a rate model file; the rest of RateSpec is [rate].
NETWORK_KEYS = ("layers", "alpha")
RATE_KEYS = tuple(k for k in RateSpec.field_names() if k not in NETWORK_KEYS + ("synapse",))


class RateBackend(Backend):
    """Rate networks trained one sample at a time (:class:`~spikegate.backends.rate.RateClassifier`)."""

    name = "rate"
    sections = ("network", "rate", "synapse", "restrict", "caching")
    presentations_per_second = 10_000.0
    preparing = "building"
    renamed = {"rate": RateSpec.renamed}

    def network_keys(self) -> tuple:
        return NETWORK_KEYS

    def section_keys(self, section: str) -> tuple:
        return {"network": NETWORK_KEYS, "rate": RATE_KEYS + tuple(RateSpec.renamed),
                "synapse": SynapseFormat.field_names(), "restrict": Restriction.field_names(),
                "caching": SynapticCaching.field_names()}[section]

    def declare(self, sections: dict, declare) -> dict:
        origin = {**{k: f"rate.{k}" for k in RATE_KEYS}, **{k: f"network.{k}" for k in NETWORK_KEYS}}
        synapse = declare(SynapseFormat, sections["synapse"], {k: f"synapse.{k}" for k in SynapseFormat.field_names()})
        spec = declare(RateSpec, {**sections["rate"], **sections["network"]}, origin, synapse=synapse)
        return {"spec": spec,
                "restriction": declare(Restriction, sections["restrict"], {k: f"restrict.{k}" for k in
                                                                           Restriction.field_names()}),
                "caching": declare(SynapticCaching, sections["caching"], {k: f"caching.{k}" for k in
                                                                          SynapticCaching.field_names()})}

    def to_sections(self, parts: dict) -> dict:
        spec = parts["spec"]
        return {"network": spec.to_dict(NETWORK_KEYS), "rate": spec.to_dict(RATE_KEYS), "synapse": spec.synapse.to_dict(),
                "restrict": parts["restriction"].to_dict(), "caching": parts["caching"].to_dict()}

    def validate(self, cfg) -> None:
        if cfg.caching.enabled and cfg.spec.synapse.quantized:
            raise ConfigError(f"caching.enabled = true: synaptic caching keeps float transient weights; use it with "
                              f"synapse.bits = 0 (got {cfg.spec.synapse.bits})")
        if not cfg.reserve.unlimited and cfg.spec.batch_size > 1:
            raise ConfigError(f"reserve: a limited metabolic reserve needs rate.batch_size = 1, got "
                              f"{cfg.spec.batch_size} (each write draws on it before the next decision)")

    def build(self, cfg, ds, seed_offset: int = 0):
        from .classifier import RateClassifier

        mean = ds.x_train.mean(axis=0) if cfg.spec.mean_subtract else None
        return RateClassifier(cfg.spec, cfg.gate, np.vstack([ds.x_train, ds.x_test, ds.x_val]), seed=cfg.seed,
                              restriction=cfg.restriction, caching=cfg.caching, mean=mean, reserve=cfg.reserve)

    def run_metrics(self, cfg, n_train: int, n_test: int) -> dict:
        return {"target": "numpy", "device": "numpy"}

    # ------------------------------------------------------------------ the energy bill
    def layer_shapes(self, ledger: EnergyLedger) -> list:
        """Weights are stored ``(n_post, n_pre + bias)``."""
        return [(int(b), int(a)) for a, b in (np.shape(w) for w in ledger.initial_weights)]

    def operation_counts(self, ledger: EnergyLedger) -> dict:
        """A presentation's forward pass costs :math:`\\sum_k n^\\mathrm{in}_k n_{k+1}` dense MACs (bias
        inputs included), each reading a weight; effective MACs skip the zero inputs of the first
        layer (hidden activations are not recorded: counted dense)."""
        shapes = self.layer_shapes(ledger)
        act = np.asarray(ledger.activity, dtype=np.int64)
        fan_out = np.array([post for _, post in shapes], dtype=np.int64)
        dense = ledger.n_presentations * sum(pre * post for pre, post in shapes)
        return {"spikes": 0, "spikes_per_layer": [0] * act.shape[1], "synaptic_events": 0, "dense_macs": int(dense),
                "effective_macs": int((act[:, :-1] * fan_out).sum()), "weight_reads": int(dense)}

    def neurobench(self, spec, ledger: EnergyLedger, final_weights) -> dict:
        shapes = self.layer_shapes(ledger)
        return neurobench_record(ledger, final_weights, acs=0.0, macs=self.operation_counts(ledger)["effective_macs"],
                                 dense=sum(a * b for a, b in shapes), activation_sparsity=None,
                                 state=sum(post for _, post in shapes) + shapes[0][0],
                                 definitions={"Effective_ACs": "none (no spikes)",
                                              "Effective_MACs": "non-zero first-layer inputs x fan-out, later "
                                                                "layers dense",
                                              "Dense": "every weight once",
                                              "activation_sparsity": "not recorded by the rate backend"})
