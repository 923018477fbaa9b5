r"""The spiking classifier on Brian2's runtime: error-gated three-factor plasticity in a feed-forward network.

:class:`GatedClassifier` ties the parts of the spiking backend together: the builder
(:mod:`~spikegate.backends.spiking.builder`) makes the Brian2 objects, the schedule
(:mod:`~spikegate.backends.spiking.schedule`) the tables of each chunk, the read-out
(:mod:`~spikegate.backends.spiking.readout`) the log of what happened. The objects can run on
their own (:meth:`GatedClassifier.present`) or inside a user's ``brian2.Network``
(:meth:`GatedClassifier.run`). The compiled engine
(:mod:`~spikegate.backends.spiking.standalone`) uses the same parts.
"""
from __future__ import annotations

import gc
import time

import brian2 as b2
import numpy as np
from brian2 import Quantity, joule, second

from ...errors import ParameterError
from ...ledger import PresentationLog
from ...model import Gate, MetabolicReserve, MistakeMemory, NetworkSpec
from ...model.code import IDENTIFIER
from ...units import check_number
from ..brian import quiet_when_unused
from ..inputs import (check_images, check_labels, check_learning_scale, check_memgate, check_projection, check_samples,
                      check_seed, check_weights)
from . import schedule
from .builder import build_network, initialize, learning_rate_constants, stored_weights
from .equations import gate_constants
from .random_state import RandomStream
from .readout import decode
from .validation import check_neuron_model


def _names_in_use() -> set:
    from brian2.core.names import Nameable

    return {obj.name for obj in (ref() for ref in Nameable.__instances__()) if obj is not None}


def free_prefix(base: str) -> str:
    """``base``, or ``base2``, ``base3``, ...: the first prefix no living classifier uses."""
    used = _names_in_use()
    if f"{base}_clock" in used:
        gc.collect()   # a dropped classifier's objects live until the collector frees their cycles
        used = _names_in_use()
    k, name = 1, base
    while f"{name}_clock" in used:
        k += 1
        name = f"{base}{k}"
    return name


def check_runtime_device() -> None:
    """The runtime engine builds objects for Brian2's runtime device; a standalone device gets one line."""
    from brian2.devices.device import RuntimeDevice

    device = b2.get_device()
    if not isinstance(device, RuntimeDevice):
        raise ParameterError(f"GatedClassifier: Brian2's device is {type(device).__name__} (set_device); the "
                             "classifier and your monitors run on the runtime device (brian2.set_device(\"runtime\")), "
                             "the compiled engine through spikegate: train.device = \"cpp_standalone\" "
                             "(--set train.device=cpp_standalone)", "brian2.set_device")


def check_prefix(name) -> str:
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name) or len(name) > 64:
        raise ParameterError(f"GatedClassifier.name = {name!r}: expected an ASCII identifier of at most 64 "
                             f"characters (a prefix of Brian2 object names), e.g. 'sg'", "GatedClassifier.name")
    return name


def _closed_form_ern(attribute: str) -> str:
    return (f"GatedClassifier.{attribute}: this classifier's ERN is in closed form (ern.integration = \"closed_form\", "
            "the default: one number per decision, no group to record); to record the ERN build with "
            "ERNSignal(integration=\"simulated\") (model file: --set ern.integration=simulated) and read "
            "clf.ern_group.ern")


class GatedClassifier:
    """Brian2 objects of a spiking classifier with error-gated three-factor plasticity.

    Parameters
    ----------
    spec : NetworkSpec
    gate : Gate
    images : array, shape (n_images, n_in), values in [0, 1]
        The image bank; presentations refer to rows of it.
    seed : int, optional
        Seeds the initial and feedback weights (numpy) and the classifier's own stream of
        Brian2 random numbers (the input spike trains, :attr:`random`): the classifier's runs
        draw from it, whatever else runs in the process. Default: a seed drawn from numpy's
        global generator, which ``brian2.seed()`` seeds (:attr:`seed` tells which).
    chunk : int
        Presentations per ``run()`` call, at most :data:`~spikegate.backends.spiking.schedule.MAX_CHUNK`.
    name : str, optional
        Prefix of all Brian2 object names (stable names let Brian2 reuse compiled code).
        Default: ``"sg"``, or ``"sg2"``, ... while classifiers with the earlier prefixes exist.
    reserve : MetabolicReserve, optional

    Notes
    -----
    The classifier is a container of Brian2 objects: ``b2.Network(clf, my_monitor)`` holds
    them all (:attr:`objects`); :meth:`run` presents samples in such a network. Every group
    runs on :attr:`clock` (``dt = spec.dt``, not ``defaultclock.dt``): give objects of your own
    that touch them ``clock=clf.clock``. Input spikes are Poisson *counts* per step (``k``);
    a ``SpikeMonitor(clf.input)`` sees at most one per step, ``StateMonitor(clf.input, "k",
    record=True, clock=clf.clock)`` every one the ledger counts. Brian2's ``net.store()`` /
    ``net.restore()`` rewinds the objects but not the classifier's random stream: keep
    ``s = clf.random.state`` beside the store and set ``clf.random.state = s`` after the restore
    to replay the same spike trains; :meth:`save` and :meth:`load` keep weights, mistake memory
    and random state in a file. The runtime device only:
    under ``brian2.set_device("cpp_standalone")`` use spikegate's compiled engine
    (``train.device = "cpp_standalone"``). With ``spec.ern.integration =
    "simulated"``, :attr:`ern_group` holds the ERN (``ern``, a recordable subexpression) and the
    presynaptic groups the accumulated integral ``acc``; the eligibility trace is ``x``.
    """

    def __init__(self, spec: NetworkSpec, gate: Gate, images, seed: int | None = None, chunk: int = 1000,
                 name: str | None = None, reserve: MetabolicReserve | None = None):
        if not isinstance(spec, NetworkSpec):
            raise ParameterError(f"GatedClassifier.spec: expected a NetworkSpec, got {type(spec).__name__}")
        check_runtime_device()
        self.spec = spec
        self.chunk = check_number("GatedClassifier.chunk", chunk, minimum=1, maximum=schedule.MAX_CHUNK, integer=True)
        self.name = free_prefix("sg") if name is None else check_prefix(name)
        # no seed: one from numpy's global generator, so that brian2.seed() decides it
        self.seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else check_seed(seed, "GatedClassifier.seed")
        self.images = check_images(images, spec.n_in)   # before building: no half-built objects on bad input
        check_neuron_model(spec.neuron)
        self.namespace = {}
        self.net = build_network(spec, self.name, self.namespace)
        initialize(self.net, spec, self.seed)
        self.set_gate(gate)
        self.learning_scale = 1.0
        self.set_reserve(MetabolicReserve() if reserve is None else reserve)
        self.load_schedule(np.zeros(0, dtype=int), np.zeros(0, dtype=int))
        self.random = RandomStream.from_seed(self.seed)
        self.memory = None    # the mistake memory a checkpoint brought (load)
        quiet_when_unused(self.objects)

    def __iter__(self):
        """The Brian2 objects: ``b2.Network(clf, ...)`` adds them all."""
        return iter(self.objects)

    def seed_spikes(self, seed: int) -> None:
        """Restart the classifier's random stream (the spike trains) from ``seed``; weights stay."""
        self.random = RandomStream.from_seed(check_seed(seed, "GatedClassifier.seed_spikes"))

    # ----------------------------------------------------------------- the objects
    # the Brian2 objects by their role (see SpikingNetwork), for monitors and synapses of your own
    input = property(lambda self: self.net.input, doc="The Poisson input group (``k``: spikes per step, ``x``: trace).")
    output = property(lambda self: self.net.output, doc="The output layer (``n``: spike count of the window).")
    layers = property(lambda self: self.net.layers, doc="The hidden layers and the output layer.")
    control = property(lambda self: self.net.control, doc="The control group: the loaded row and the decision.")
    synapses = property(lambda self: self.net.synapses, doc="The plastic projections (``w``).")
    feedback = property(lambda self: self.net.feedback, doc="The fixed random feedback pathways (``B``).")
    clock = property(lambda self: self.net.clock, doc="The clock of every group (``dt``).")
    tick_clock = property(lambda self: self.net.tick_clock, doc="The clock of decisions (period ``t_stim``).")
    control_monitor = property(lambda self: self.net.control_monitor, doc="The control group's records per tick.")

    @property
    def ern_group(self):
        """The group holding the simulated ERN (``ern``; ``Ed``, ``Er``); only with a simulated ERN."""
        if self.net.ern_group is None:
            raise AttributeError(_closed_form_ern("ern_group"))
        return self.net.ern_group

    @property
    def error_monitor(self):
        """The spiking ERN's circuit (``ern.source = "spiking"``): ``label_source`` (the label as spikes),
        ``relay`` and ``group`` (the monitor population, ``v``), for monitors of your own."""
        if self.net.monitor is None:
            raise AttributeError("GatedClassifier.error_monitor: only with the spiking ERN; build with "
                                 "ERNSignal(integration=\"simulated\", source=\"spiking\")")
        return self.net.monitor

    @property
    def ern(self):
        """Deprecated name of :attr:`ern_group`."""
        import warnings

        if self.net.ern_group is None:
            raise AttributeError(_closed_form_ern("ern"))
        warnings.warn("GatedClassifier.ern is renamed ern_group (the group that holds the ERN)", DeprecationWarning,
                      stacklevel=2)
        return self.ern_group

    @property
    def objects(self) -> list:
        """All Brian2 objects (groups, synapses, operations, monitors)."""
        return self.net.objects

    @property
    def network(self) -> b2.Network:
        """A ``brian2.Network`` holding :attr:`objects` (created once)."""
        if "_network" not in self.__dict__:
            self._network = b2.Network(self.objects, name=f"{self.name}_network")
        return self._network

    def prepare(self) -> float:
        """Generate and compile the code of every object now (the first ``run`` would); seconds taken."""
        t0 = time.perf_counter()
        if not self.__dict__.get("_prepared"):
            self.network.run(0 * second, namespace={})  # code generation and compilation, no time step
            self._prepared = True
        return time.perf_counter() - t0

    # ----------------------------------------------------------------- state
    def weights(self, k: int) -> np.ndarray:
        """Weight matrix of projection ``k``, shape ``(n_pre, n_post)`` (a copy; ``connect()`` creates
        all-to-all synapses in i-major order, so ``w`` is the matrix row by row)."""
        k = check_projection(k, self.spec.n_projections)
        return np.array(self.net.synapses[k].w[:], dtype=float).reshape(self.spec.layers[k], self.spec.layers[k + 1])

    def set_weights(self, k: int, W) -> None:
        k = check_projection(k, self.spec.n_projections)
        W = check_weights(k, W, (self.spec.layers[k], self.spec.layers[k + 1]))
        self.net.synapses[k].w = stored_weights(self.spec, W).ravel()   # finite precision: the nearest codes

    def set_learning_scale(self, scale: float) -> None:
        """Multiply every projection's learning rate by ``scale`` (>= 0) from now on, relative to the
        spec's rates (a schedule, :meth:`spikegate.model.TrainingSpec.learning_scale`); 1 restores them."""
        scale = check_learning_scale(scale, "GatedClassifier.learning_scale")
        objects = self.net.by_key()
        for (key, var), value in learning_rate_constants(self.spec, scale).items():
            setattr(objects[key], var, value)
        self.learning_scale = scale

    def set_gate(self, gate: Gate) -> None:
        """Change the gate without rebuilding (its constants are state variables)."""
        if not isinstance(gate, Gate):
            raise ParameterError(f"GatedClassifier.gate: expected a Gate, got {type(gate).__name__}")
        self.gate = gate
        for name, value in gate_constants(gate).items():
            setattr(self.net.control, name, value)

    def set_reserve(self, reserve: MetabolicReserve) -> None:
        """Set the metabolic reserve (full, or at its ``initial`` value) and its constants."""
        if not isinstance(reserve, MetabolicReserve):
            raise ParameterError(f"reserve: expected a MetabolicReserve, got {type(reserve).__name__}")
        self.reserve = reserve
        c = self.net.control
        # in joules, as numbers (Brian2's code has no unit names in this namespace)
        c.reserve, c.capacity, c.refill, c.j_per_write = (float(q / joule) for q in (
            reserve.start, reserve.capacity, reserve.refill, reserve.j_per_write))

    @property
    def reserve_left(self) -> Quantity:
        """The reserve now (joules)."""
        return float(self.net.control.reserve[0]) * joule

    def set_images(self, images) -> None:
        """Replace the image bank (any number of images: the network only sees a chunk's)."""
        self.images = check_images(images, self.spec.n_in)

    @property
    def n_images(self) -> int:
        return len(self.images)

    # ----------------------------------------------------------------- checkpoints
    def state_arrays(self) -> dict:
        """The whole state (weights, every state variable, clocks, random stream) as named arrays
        (:mod:`~spikegate.backends.spiking.state`)."""
        from .state import network_state

        return network_state(self)

    def set_state_arrays(self, arrays, where: str = "state") -> None:
        """Restore :meth:`state_arrays` (of a classifier of the same structure), bit for bit."""
        from .state import restore_network_state

        restore_network_state(self, arrays, where)

    def save(self, path, memory: MistakeMemory | None = None) -> None:
        """Write the classifier's declarations and state, and ``memory``, to ``path`` (``.npz``, no pickle)."""
        from .state import save_classifier

        save_classifier(self, path, memory)

    @classmethod
    def load(cls, path, images, name: str | None = None, chunk: int = 1000) -> "GatedClassifier":
        """A classifier from :meth:`save`'s file, over ``images`` (the image bank is data, not state);
        it goes on exactly where the saved one stopped. The saved mistake memory is :attr:`memory`."""
        from .state import load_classifier

        return load_classifier(cls, path, images, name, chunk)

    # ----------------------------------------------------------------- running
    def load_schedule(self, samples, labels, memgate=None, learn: bool = True) -> None:
        """Schedule ``len(samples) <= chunk`` presentations from the next tick on."""
        table, pixels = schedule.schedule_tables(self.spec, self.images, samples, labels, memgate, learn, self.chunk)
        self._scheduled, self._learn = len(np.atleast_1d(samples)), learn
        self._loaded_at = self._clock_time()
        self.namespace["schedule"] = b2.TimedArray(table, dt=self.spec.t_stim, name=f"{self.name}_schedule")
        self.namespace["pixels"] = b2.TimedArray(pixels, dt=1 * second, name=f"{self.name}_pixels")

    def duration(self, n: int | None = None) -> Quantity:
        """Simulated time for ``n`` (default: the loaded) presentations plus the closing idle row."""
        return schedule.duration(self.spec, self._scheduled if n is None else n, self._learn)

    def align(self, net: b2.Network) -> None:
        """Start the loaded schedule at ``net``'s current time (a tick: a multiple of ``t_stim``)."""
        t = net.t
        slots = float(t / self.spec.t_stim)
        if abs(slots - round(slots)) > 1e-6:
            raise ParameterError(f"align: network time {t} is not a multiple of t_stim = {self.spec.t_stim}")
        self.net.control.t_start = t
        self.net.input.t_start = t

    def present(self, samples, labels, memgate=None, learn: bool = True, progress=None) -> PresentationLog:
        """Present ``samples`` (rows of the image bank) in order, one ``run()`` of the classifier's own
        network per chunk; ``memgate``: the memory gate of each presentation (0/1; default 0);
        ``progress`` is called with the number of presentations finished after each chunk."""
        return self._present_in(self.network, samples, labels, memgate, learn, progress)

    def run(self, net: b2.Network, samples, labels, memory: MistakeMemory | None = None, learn: bool = True,
            progress=None) -> PresentationLog:
        """Present ``samples`` in your own ``net`` (which holds :attr:`objects` and, say, your monitors).

        Chunk by chunk: loads the schedule, aligns it to ``net.t`` and calls ``net.run`` with
        an explicit empty run namespace, so variables of your script neither shadow nor warn.
        ``memory`` (a :class:`MistakeMemory` indexed by image-bank row) drives the memory gates
        and is updated with the presentations' mistakes; each sample at most once per call.
        """
        samples = check_samples(samples, self.n_images)
        if memory is not None and not isinstance(memory, MistakeMemory):
            raise ParameterError(f"GatedClassifier.run: memory must be a MistakeMemory, got {type(memory).__name__}")
        missing = [obj.name for obj in self.objects if obj not in net.objects]
        if missing:
            raise ParameterError(f"GatedClassifier.run: the network lacks {len(missing)} of the classifier's "
                                 f"objects (e.g. {missing[0]!r}); build it with b2.Network(clf.objects, ...)")
        log = self._present_in(net, samples, labels, memory.gate(samples) if memory is not None else None, learn,
                               progress)
        if memory is not None and learn:
            memory.update(samples, log.mistake)
        return log

    def _present_in(self, net, samples, labels, memgate, learn, progress) -> PresentationLog:
        samples = check_samples(samples, self.n_images)
        labels = check_labels(labels, len(samples), self.spec.n_out)
        memgate = check_memgate(memgate, len(samples))
        self.net.control.learning = 1 if learn else 0
        start = len(self.net.control_monitor.t)
        t0 = time.perf_counter()
        for a, b in schedule.chunks(len(samples), self.chunk):
            self.load_schedule(samples[a:b], labels[a:b], memgate[a:b], learn=learn)
            self.align(net)
            t_end = net.t + self.duration()
            with self.random.active():
                net.run(self.duration(), namespace={})
            if net.t < t_end - 0.5 * self.spec.dt:
                # Brian2 turns a first Ctrl+C into a quiet early stop: do not go on with half a chunk
                raise KeyboardInterrupt("simulation stopped before the end of the chunk")
            if progress is not None:
                progress(b - a)
        return self._decode(start, len(samples), time.perf_counter() - t0)

    def _clock_time(self) -> float | None:
        """The classifier clock's time in seconds (None where the device cannot read it)."""
        try:
            return float(self.net.clock.variables["t"].get_value().item())
        except NotImplementedError:
            return None

    def last_presentations(self, n: int) -> PresentationLog:
        """Decisions and ledger entries of the last ``n`` presentations (e.g. after your own ``run``)."""
        if n and self._clock_time() is not None and self._clock_time() == getattr(self, "_loaded_at", None):
            raise ParameterError("last_presentations: the classifier's objects were not simulated since "
                                 "load_schedule; Brian2's magic run() does not see objects held by a "
                                 "GatedClassifier: use net = b2.Network(clf.objects, ...) and net.run(), "
                                 "or clf.run(net, samples, labels)")
        return self._decode(0, n, float("nan"), last=True)

    def _decode(self, start: int, n: int, wall: float, last: bool = False) -> PresentationLog:
        mon = self.net.control_monitor
        records = {v: mon.variables[v].get_value()[:, 0] for v in mon.record_variables}
        counts = self.net.count_monitor.variables["n"].get_value()
        return decode(self.spec, records, counts, start, n, wall, last)
