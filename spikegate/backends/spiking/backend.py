"""The spiking backend as one object: its model-file sections, its checks, its engines and its counts."""
from __future__ import annotations

import numpy as np
from brian2 import ms, second

from ...errors import ConfigError, ParameterError
from ...ledger import EnergyLedger
from ...model import (LIF, NEURON_MODELS, ERNSignal, ErrorMonitor, NetworkSpec, NeuronEquations, PoissonInput,
                      SynapseFormat,
                      ThreeFactorRule)
from ..base import Backend, neurobench_record
from ..brian import codegen_target

#: Sections of a spiking model file that are parts of its NetworkSpec.
PARTS = {"neuron": LIF, "input": PoissonInput, "rule": ThreeFactorRule, "ern": ERNSignal, "synapse": SynapseFormat,
         "error_monitor": ErrorMonitor}


class SpikingBackend(Backend):
    """Brian2 spiking networks (:class:`~spikegate.backends.spiking.GatedClassifier`), on the runtime
    engine or the compiled one (``train.device = "cpp_standalone"``)."""

    name = "spiking"
    sections = ("network", *PARTS)
    presentations_per_second = 250.0
    preparing = "compiling Brian2 code (first run only)"

    def network_keys(self) -> tuple:
        return tuple(k for k in NetworkSpec.field_names() if k not in PARTS)

    def section_keys(self, section: str) -> tuple:
        """Keys of ``section``; ``[neuron]`` takes ``model`` and every neuron model's fields."""
        if section == "network":
            return self.network_keys()
        if section == "neuron":
            return ("model",) + tuple(dict.fromkeys(k for cls in NEURON_MODELS.values() for k in cls.field_names()))
        return PARTS[section].field_names()

    def declare(self, sections: dict, declare) -> dict:
        parts = {"neuron": self._neuron(dict(sections["neuron"]), declare)}
        parts.update({s: declare(PARTS[s], sections[s], {k: f"{s}.{k}" for k in PARTS[s].field_names()})
                      for s in ("input", "rule", "ern", "synapse", "error_monitor")})
        network = dict(sections["network"])
        spec = declare(NetworkSpec, network, {k: f"network.{k}" for k in self.network_keys()}, **parts)
        return {"spec": spec}

    @staticmethod
    def _neuron(given: dict, declare):
        """``model = "LIF"`` (default) or ``"equations"`` (any Brian2 equations)."""
        model = given.pop("model", "LIF")
        names = {k.lower(): k for k in NEURON_MODELS}
        if not isinstance(model, str) or model.strip().lower() not in names:
            raise ConfigError(f"neuron.model = {model!r}: unknown; allowed: {', '.join(NEURON_MODELS)}")
        model = names[model.strip().lower()]
        cls = NEURON_MODELS[model]
        for key in given:
            if key not in cls.field_names():
                raise ConfigError(f"neuron.{key}: not read by neuron model {model!r}; its keys: "
                                  f"{', '.join(cls.field_names())}")
        return declare(cls, given, {k: f"neuron.{k}" for k in cls.field_names()})

    def to_sections(self, parts: dict) -> dict:
        spec = parts["spec"]
        neuron = spec.neuron.to_dict()
        # LIF, the default, is written without `model`: resolved configs (and scan hashes) stay as they were
        network = spec.to_dict(self.network_keys())
        if not spec.stream and spec.isi == 0 * ms:
            # the reset schedule without an interval, the default, is written without the stream's keys:
            # resolved configs (and scan hashes) stay as they were before the stream
            del network["stimulus_mode"], network["isi"]
        rule = spec.rule.to_dict()
        if not spec.rule.pre_post:
            # the presynaptic eligibility, the default, is written without the pre-post keys (hashes as they were)
            del rule["eligibility"], rule["tau_pre"]
        ern = spec.ern.to_dict()
        out = {"network": network,
               "neuron": neuron if isinstance(spec.neuron, LIF) else {"model": "equations", **neuron},
               "input": spec.input.to_dict(), "rule": rule, "ern": ern, "synapse": spec.synapse.to_dict()}
        if spec.ern.spiking or spec.error_monitor != ErrorMonitor():
            out["error_monitor"] = spec.error_monitor.to_dict()
        else:
            del ern["source"]   # the ideal ERN, the default, is written without the monitor (hashes as they were)
        return out

    def validate(self, cfg) -> None:
        from .validation import check_neuron_model

        try:
            check_neuron_model(cfg.spec.neuron)
        except ParameterError as exc:
            key = (exc.where or "NeuronEquations.equations").split(".", 1)[1].split(".")[0]
            raise ConfigError(exc.restated(f"neuron.{key}")) from None
        if not cfg.reserve.unlimited and cfg.training.device == "cpp_standalone":
            raise ConfigError("reserve: a limited reserve needs train.device = \"runtime\" (the compiled engine does "
                              "not carry the reserve from one chunk to the next)")

    # ------------------------------------------------------------------ running
    def simulation(self, cfg):
        return codegen_target(cfg.training.target)

    def build(self, cfg, ds, seed_offset: int = 0):
        """``seed_offset`` shifts the seed of the spike trains (Brian2's random numbers) only."""
        images = np.vstack([ds.x_train, ds.x_test, ds.x_val])
        if cfg.training.device == "cpp_standalone":
            from .standalone import StandaloneClassifier

            return StandaloneClassifier(cfg.spec, cfg.gate, images, seed=cfg.seed + seed_offset,
                                        chunk=cfg.training.chunk)
        from .classifier import GatedClassifier

        # one name for every training: each has a Network of its own, and the Cython cache hits
        clf = GatedClassifier(cfg.spec, cfg.gate, images, seed=cfg.seed, chunk=cfg.training.chunk, name="sg",
                              reserve=cfg.reserve)
        clf.seed_spikes(cfg.seed + seed_offset)   # the spike trains' stream (the weights keep cfg.seed)
        return clf

    def build_tester(self, cfg, ds, clf, seed_offset: int = 0):
        """With ``network.t_test``: a second network whose window is ``t_test`` (the weights are copied
        in before each test), with a random stream of its own (seed + 2**20 + ``seed_offset``)."""
        if cfg.spec.t_test is None:
            return clf
        from .classifier import GatedClassifier

        tester = GatedClassifier(cfg.spec.test_network(), cfg.gate, np.vstack([ds.x_train, ds.x_test, ds.x_val]), seed=cfg.seed,
                                 chunk=cfg.training.chunk, name="sgtest")
        tester.seed_spikes((cfg.seed + 2**20 + seed_offset) % 2**32)
        return tester

    def check_bounds(self, cfg, n_presentations: int) -> None:
        steps_each = int(np.ceil(float(cfg.spec.presentation_time / cfg.spec.dt)))
        steps = n_presentations * steps_each
        if steps > cfg.training.max_steps:
            raise ConfigError(f"network.t_stim = {cfg.spec.t_stim!r}: {n_presentations:,} presentations of "
                              f"{steps_each:,} steps each = {steps:,} time steps, more than train.max_steps = "
                              f"{cfg.training.max_steps:,}; raise it with --set train.max_steps={steps}")

    def run_metrics(self, cfg, n_train: int, n_test: int) -> dict:
        """The engine, and the biological time the presentations stand for: a training presentation
        is its stimulus window plus the ERN's post-decision interval (simulated or in closed form) or
        the inter-stimulus interval (:attr:`NetworkSpec.presentation_time`), a test presentation its
        window plus the inter-stimulus interval."""
        spec = cfg.spec
        per_train = float(spec.presentation_time / second)
        per_test = float((spec.test_network().t_stim + spec.isi) / second)
        return {"target": cfg.training.target, "device": cfg.training.device, "ern_integration": spec.ern.integration,
                "presentation_seconds": per_train, "simulated_seconds": n_train * per_train + n_test * per_test}

    # ------------------------------------------------------------------ the energy bill
    def layer_shapes(self, ledger: EnergyLedger) -> list:
        return [tuple(int(n) for n in np.shape(w)) for w in ledger.initial_weights]

    def operation_counts(self, ledger: EnergyLedger) -> dict:
        """A presynaptic spike reaches every synapse of its neuron: projection *k* has
        :math:`\\sum_t a_{t,k} n_{k+1}` synaptic events (NeuroBench's effective ACs), each reading a weight."""
        act = np.asarray(ledger.activity, dtype=np.int64)
        fan_out = np.array([post for _, post in self.layer_shapes(ledger)], dtype=np.int64)
        events = int((act[:, :-1] * fan_out).sum())
        return {"spikes": int(act.sum()), "spikes_per_layer": [int(x) for x in act.sum(axis=0)],
                "synaptic_events": events, "dense_macs": 0, "effective_macs": 0, "weight_reads": events}

    def neurobench(self, spec, ledger: EnergyLedger, final_weights) -> dict:
        steps = int(round(float(spec.t_stim / spec.dt)))
        shapes = self.layer_shapes(ledger)
        neurons = sum(post for _, post in shapes)
        per_neuron = len(spec.neuron.initial) + 2 if isinstance(spec.neuron, NeuronEquations) else 3   # (v, ...), I, x
        act = np.asarray(ledger.activity)[:, 1:]
        sparsity = 1.0 - float(act.sum()) / (ledger.n_presentations * neurons * steps) if ledger.n_presentations else None
        return neurobench_record(ledger, final_weights, acs=self.operation_counts(ledger)["synaptic_events"], macs=0.0,
                                 dense=sum(a * b for a, b in shapes) * steps, activation_sparsity=sparsity,
                                 state=neurons * per_neuron + shapes[0][0],
                                 definitions={"Effective_ACs": "presynaptic spikes x fan-out",
                                              "Effective_MACs": "none (spikes are accumulates)",
                                              "Dense": "every synapse at every time step",
                                              "activation_sparsity": "1 - spikes / (hidden and output neurons x "
                                                                     "time steps)"})
