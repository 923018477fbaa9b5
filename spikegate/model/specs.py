r"""Network and run specifications: what the backends build and how training runs.

:class:`NetworkSpec` (spiking) and :class:`RateSpec` (rate) describe a classifier;
:class:`Restriction` and :class:`SynapticCaching` the energy-saving variants of rate
learning; :class:`DataSpec` and :class:`TrainingSpec` the ``[data]`` and ``[train]``
sections of a model file.
"""
from __future__ import annotations

import math
import numpy as np
from brian2 import Quantity, mV, ms

from ..errors import ParameterError
from ..units import check_number, check_quantity
from .declaration import Declaration, declaration, param, part
from .error_monitor import ErrorMonitor
from .neuron import LIF, NeuronEquations, PoissonInput
from .plasticity import ERNSignal, ThreeFactorRule
from .synapse import SynapseFormat

HIDDEN_UNITS = ("leaky_relu", "sigmoid")
OUTPUTS = ("linear_mse", "softmax_ce")
INITS = ("gaussian", "scaled")
DTYPES = ("float64", "float32")
TOP_PER = ("layer", "neuron")
DATA_SOURCES = ("digits", "mnist", "npz")
CODEGEN_TARGETS = ("cython", "numpy")
DEVICES = ("runtime", "cpp_standalone")
STOPS = ("none", "target", "patience")
STIMULUS_MODES = ("reset", "stream")
#: Decisions whose ERN windows may overlap on the stream (each holds per-neuron state until its write).
MAX_ERN_SLOTS = 16


@declaration
class NetworkSpec(Declaration):
    r"""A feed-forward classifier: ``layers = (n_in, *hidden, n_out)`` with all-to-all projections.

    Initial weights of projection *k* are Gaussian with standard deviation
    ``init_gain[k] / sqrt(n_pre)`` (one gain, or one per projection): hidden layers need a
    gain large enough that a random projection of the input drives some units above
    threshold, since silent units have no eligibility and no learning signal.
    A weight :math:`w` (dimensionless) adds :math:`w \cdot w_\mathrm{scale}` to :math:`I`.
    """

    layers: tuple = param((64, 10), kind="any", compiled=True, doc="units per layer, inputs first: [n_in, hidden..., n_out]")
    dt: Quantity = param(0.1 * ms, unit=ms, minimum=0 * ms, strict_min=True, compiled=True, doc="time step")
    t_stim: Quantity = param(100 * ms, kind="any", compiled=True, doc="presentation window (a multiple >= 2 of dt)")
    t_test: Quantity | None = param(None, kind="any", doc="window of test presentations (runtime engine only)")
    neuron: LIF | NeuronEquations = part(LIF, "the [neuron] section")
    input: PoissonInput = part(PoissonInput, "the [input] section")
    rule: ThreeFactorRule = part(ThreeFactorRule, "the [rule] section")
    ern: ERNSignal = part(ERNSignal, "the [ern] section")
    synapse: SynapseFormat = part(SynapseFormat, "the [synapse] section")
    error_monitor: ErrorMonitor = part(ErrorMonitor, "the [error_monitor] section (ern.source = \"spiking\")")
    w_scale: Quantity = param(1 * mV, unit=mV, minimum=0 * mV, strict_min=True,
                              doc="a weight w adds w * w_scale to the synaptic input I")
    init_gain: tuple = param((1.0,), kind="any", doc="initial weights: N(0, (gain / sqrt(n_pre))^2), one gain or one per projection")
    alpha: float = param(0.5, minimum=0, strict_min=True, compiled=True, doc="exponent of M_alpha = sum |dw|^alpha")
    stimulus_mode: str = param("reset", kind="choice", choices=STIMULUS_MODES, compiled=True,
                               doc="reset: membranes, currents and traces start from rest at each stimulus; "
                                   "stream: they carry over from the previous one")
    isi: Quantity = param(0 * ms, unit=ms, minimum=0 * ms, compiled=True,
                          doc="inter-stimulus interval: silence after each stimulus (a multiple of t_stim, 0 allowed)")

    def validate(self):
        layers = tuple(self.layers)
        if len(layers) < 2:
            raise ParameterError(f"NetworkSpec.layers = {list(layers)}: need at least inputs and outputs",
                                 "NetworkSpec.layers")
        self._set("layers", tuple(check_number(f"NetworkSpec.layers[{k}]", n, minimum=1, integer=True)
                                  for k, n in enumerate(layers)))
        if self.layers[-1] < 2:
            raise ParameterError(f"NetworkSpec.layers[-1] = {self.layers[-1]}: need at least 2 output classes",
                                 "NetworkSpec.layers[-1]")
        self._set("t_stim", self._check_window("t_stim", self.t_stim))
        if self.t_test is not None:
            self._set("t_test", self._check_window("t_test", self.t_test))
        gains = self.init_gain if isinstance(self.init_gain, (tuple, list)) else (self.init_gain,)
        gains = tuple(check_number(f"NetworkSpec.init_gain[{k}]", g, minimum=0) for k, g in enumerate(gains))
        if len(gains) == 1:
            gains = gains * self.n_projections
        if len(gains) != self.n_projections:
            raise ParameterError(f"NetworkSpec.init_gain = {list(gains)}: give one gain or one per projection "
                                 f"({self.n_projections})", "NetworkSpec.init_gain")
        self._set("init_gain", gains)
        for name, cls in (("neuron", (LIF, NeuronEquations)), ("input", PoissonInput), ("rule", ThreeFactorRule),
                          ("ern", ERNSignal), ("synapse", SynapseFormat), ("error_monitor", ErrorMonitor)):
            if not isinstance(getattr(self, name), cls):
                expected = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
                raise ParameterError(f"NetworkSpec.{name}: expected a {expected}, got {getattr(self, name)!r}",
                                     f"NetworkSpec.{name}")
        rows = float(self.isi / self.t_stim)
        if abs(rows - round(rows)) > 1e-6:
            raise ParameterError(f"NetworkSpec.isi = {self.isi!r}: the interval is silent rows of the stimulus window; "
                                 f"must be a multiple of t_stim = {self.t_stim!r} (0 allowed)", "NetworkSpec.isi")
        if self.ern.simulated:
            self._check_simulated_ern()
            if self.ern_slots > MAX_ERN_SLOTS:
                raise ParameterError(f"NetworkSpec.isi = {self.isi!r}: on the stream the ERN window "
                                     f"{self.ern.window!r} overlaps {self.ern_slots} decisions at once, at most "
                                     f"{MAX_ERN_SLOTS}; lengthen the interval or t_stim, or shorten ern.window",
                                     "NetworkSpec.isi")
        if self.ern.spiking:
            self._check_error_monitor()
        if self.rule.hidden_derivative == "boxcar" and not isinstance(self.neuron, LIF):
            raise ParameterError("ThreeFactorRule.hidden_derivative = 'boxcar': the boxcar reads a LIF neuron's v and "
                                 "v_threshold; use 'active' with a neuron model of your own",
                                 "ThreeFactorRule.hidden_derivative")

    def _check_simulated_ern(self):
        """A simulated post-decision interval is whole ticks long, and the ERN's onset a step after the decision."""
        ern = self.ern
        rows = float(ern.window / self.t_stim)
        if abs(rows - round(rows)) > 1e-6:
            raise ParameterError(f"ERNSignal.window = {ern.window!r}: a simulated post-decision interval must be a "
                                 f"multiple of t_stim = {self.t_stim!r}", "ERNSignal.window")
        steps = float(ern.latency / self.dt)
        if abs(steps - round(steps)) > 1e-6 or round(steps) < 1:
            raise ParameterError(f"ERNSignal.latency = {ern.latency!r}: a simulated ERN needs a latency that is a "
                                 f"multiple (>= 1) of dt = {self.dt!r}", "ERNSignal.latency")

    def _check_error_monitor(self):
        """The monitor's spikes must reach it inside the window; one pending decision at a time."""
        delay = self.error_monitor.delay
        steps = float(delay / self.dt)
        if abs(steps - round(steps)) > 1e-6:
            raise ParameterError(f"ErrorMonitor.delay = {delay!r}: must be a multiple of dt = {self.dt!r}",
                                 "ErrorMonitor.delay")
        if not delay < self.ern.window:
            raise ParameterError(f"ErrorMonitor.delay = {delay!r}: must be < ern.window = {self.ern.window!r} (the "
                                 "monitor's spikes would come after the write)", "ErrorMonitor.delay")
        if self.ern_slots > 1:
            raise ParameterError(f"ERNSignal.source = 'spiking': on the stream the window {self.ern.window!r} "
                                 f"outlasts the interval {self.isi!r}, and the monitor population serves one pending "
                                 "decision at a time; use an interval >= ern.window, or the ideal ERN",
                                 "ERNSignal.source")

    def structure(self) -> dict:
        out = super().structure()
        if not self.ern.spiking:
            del out["error_monitor"]    # no monitor is built: the ideal ERN's structure (and caches) as before
        return out

    @property
    def post_rows(self) -> int:
        """Ticks (of ``t_stim``) in the simulated post-decision interval."""
        return int(round(float(self.ern.window / self.t_stim))) if self.ern.simulated else 0

    @property
    def isi_rows(self) -> int:
        """Ticks (of ``t_stim``) in the inter-stimulus interval."""
        return int(round(float(self.isi / self.t_stim)))

    @property
    def ern_slots(self) -> int:
        r"""Decisions whose simulated post-decision windows are open at once: 1, or on the stream with an
        interval shorter than the window, :math:`\lfloor W / (T_\mathrm{stim} + \mathrm{ISI}) \rfloor + 1` (in
        ticks), so that a decision's ERN overlaps the next stimuli and each pending decision keeps its
        own ERN, learning signals and eligibility integral (a slot) until its write."""
        if not (self.stream and self.ern.simulated):
            return 1
        return self.post_rows // (1 + self.isi_rows) + 1

    @property
    def stream(self) -> bool:
        """Whether state carries over from one stimulus to the next."""
        return self.stimulus_mode == "stream"

    @property
    def presentation_time(self) -> Quantity:
        """Time budget of a training presentation: the stimulus window and the post-decision interval
        (or the inter-stimulus interval if longer); on the stream the next stimulus comes after the
        inter-stimulus interval, whatever the ERN's window."""
        return self.t_stim + (self.isi if self.stream else max(self.ern.window, self.isi))

    def _check_window(self, name, value):
        where = f"NetworkSpec.{name}"
        value = check_quantity(where, value, ms, minimum=0 * ms, strict=True)
        steps = float(value / self.dt)
        if abs(steps - round(steps)) > 1e-6 or round(steps) < 2:
            raise ParameterError(f"{where} = {value!r}: must be a multiple (>= 2) of dt = {self.dt!r}", where)
        return value

    @property
    def n_in(self):
        return self.layers[0]

    @property
    def n_out(self):
        return self.layers[-1]

    @property
    def n_projections(self):
        return len(self.layers) - 1

    def test_network(self) -> "NetworkSpec":
        """The network of test presentations: this one, or with the window ``t_test`` if set."""
        return self if self.t_test is None else self.replace(t_stim=self.t_test, t_test=None)

    def learning_rates(self) -> list:
        r""":math:`\eta` of each projection (``eta_hidden`` into hidden layers, ``eta`` into the output)."""
        return [self.rule.eta_hidden] * (self.n_projections - 1) + [self.rule.eta]

    def effective_learning_rates(self) -> list[float]:
        """:math:`\\eta_\\mathrm{eff}` of each projection (closed-form ERN integral)."""
        taus = self.rule.eligibility_time_constants(self.n_projections)
        return [self.ern.effective_learning_rate(eta, tau) for eta, tau in zip(self.learning_rates(), taus)]


@declaration
class RateSpec(Declaration):
    r"""A multilayer perceptron trained one sample at a time (or in mini-batches).

    Parameters
    ----------
    layers : tuple of int
        Units per layer, input first, e.g. ``(784, 1000, 10)``; any number of hidden layers.
    hidden : {"leaky_relu", "sigmoid"}
    slope : float
        Leaky-ReLU slope for :math:`h < 0` (0.1 in van Rossum & Pache 2024).
    output : {"linear_mse", "softmax_ce"}
    eta, eta_hidden : float
        Learning rate of the output projection and of the projections into hidden layers
        (``eta_hidden`` defaults to ``eta``; the spiking rule's ``rule.eta``/``rule.eta_hidden``).
    init : {"gaussian", "scaled"}
        Initial weights :math:`\mathcal N(0, \sigma^2)`, or :math:`\mathcal N(0, \sigma^2/n_\mathrm{in})`
        with :math:`n_\mathrm{in}` the fan-in including the bias.
    sigma : float
    bias : bool
        A bias input (constant 1) into every layer.
    mean_subtract : bool
        Subtract the training-set mean of each pixel.
    batch_size : int
        Samples per weight write; the gate is still decided per sample, and a batch's write is
        the mean of the gated samples' updates (:math:`\sum_{s\,\mathrm{gated}} \Delta W_s / B`).
    dtype : {"float64", "float32"}
    margin_scale : float
        Output units per margin step of the ``margin`` gate (``min_margin``).
    alpha : float
        Exponent of :math:`M_\alpha` in the ledger.
    """

    layers: tuple = param((784, 100, 10), kind="any", doc="units per layer, inputs first")
    hidden: str = param("leaky_relu", choices=HIDDEN_UNITS, doc="hidden units")
    slope: float = param(0.1, minimum=0, maximum=1, doc="leaky-ReLU slope below zero")
    output: str = param("linear_mse", choices=OUTPUTS, doc="output units and loss")
    eta: float = param(0.01, minimum=0, strict_min=True, doc="learning rate of the output projection")
    eta_hidden: float | None = param(None, minimum=0, strict_min=True, optional=True,
                                     doc="learning rate of projections into hidden layers (default: eta)")
    init: str = param("gaussian", choices=INITS, doc="initial weights N(0, sigma^2), or scaled by 1/fan-in")
    sigma: float = param(0.03, minimum=0, strict_min=True, doc="standard deviation of the initial weights")
    bias: bool = param(True, doc="a bias input (constant 1) into every layer")
    mean_subtract: bool = param(True, doc="subtract the training set's mean of each pixel")
    batch_size: int = param(1, minimum=1, integer=True, doc="samples per write (the gate is decided per sample)")
    dtype: str = param("float32", choices=DTYPES, doc="floating-point type of weights and passes")
    margin_scale: float = param(0.1, minimum=0, strict_min=True, doc="output units per margin step of the margin gate")
    alpha: float = param(0.5, minimum=0, strict_min=True, doc="exponent of M_alpha = sum |dw|^alpha")
    synapse: SynapseFormat = part(SynapseFormat, "the [synapse] section")
    #: old keys of the [rate] section and their new names (read with a deprecation line)
    renamed = {"lr": "eta", "lr_hidden": "eta_hidden"}

    def validate(self):
        layers = tuple(self.layers)
        if len(layers) < 2 or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1
                                      for n in layers):
            raise ParameterError(f"RateSpec.layers = {list(layers)!r}: expected >= 2 positive integers, "
                                 "e.g. [784, 100, 10]", "RateSpec.layers")
        if layers[-1] < 2:
            raise ParameterError(f"RateSpec.layers = {list(layers)!r}: need >= 2 output classes", "RateSpec.layers")
        self._set("layers", tuple(int(n) for n in layers))
        if not isinstance(self.synapse, SynapseFormat):
            raise ParameterError(f"RateSpec.synapse: expected a SynapseFormat, got {self.synapse!r}", "RateSpec.synapse")
        if self.synapse.quantized:
            self.synapse.range_for(None)    # rate weights are not clipped: the codes' range must be given

    @property
    def n_in(self) -> int:
        return self.layers[0]

    @property
    def n_out(self) -> int:
        return self.layers[-1]

    @property
    def n_projections(self) -> int:
        return len(self.layers) - 1

    def learning_rate(self, projection: int) -> float:
        """:math:`\\eta_l`: ``eta`` for the output projection, ``eta_hidden`` (or ``eta``) otherwise."""
        if projection == self.n_projections - 1 or self.eta_hidden is None:
            return self.eta
        return self.eta_hidden


@declaration
class Restriction(Declaration):
    r"""Energy-saving restrictions of plasticity (van Rossum & Pache 2024), after gating.

    Parameters
    ----------
    top_fraction : float in (0, 1]
        Keep only the :math:`k = \mathrm{round}(p\,n)` largest :math:`|\Delta w|` of a write, where
        :math:`n` counts the plastic synapses of the projection (``top_per = "layer"``) or of
        each postsynaptic neuron (``"neuron"``). 1 keeps everything.
    top_per : {"layer", "neuron"}
    subset : int
        If > 0, only a fixed random subset of ``subset`` units per hidden layer is plastic:
        their incoming and outgoing synapses (paths through the network). 0: all units.
    control : bool
        Random-mask controls of the same size: a random :math:`k` entries instead of the
        largest, and a fixed random synapse mask with as many synapses as the path subset.
    """

    top_fraction: float = param(1.0, minimum=0, maximum=1, strict_min=True, doc="keep the largest fraction of |dw|")
    top_per: str = param("layer", choices=TOP_PER, doc="the largest per projection, or per postsynaptic neuron")
    subset: int = param(0, minimum=0, integer=True, doc="plastic units per hidden layer (0: all)")
    control: bool = param(False, doc="random masks of the same sizes instead")

    @property
    def active(self) -> bool:
        return self.top_fraction < 1 or self.subset > 0


@declaration
class SynapticCaching(Declaration):
    r"""Synaptic caching (Li & van Rossum 2020): transient plus consolidated weights.

    Every update goes into a cheap transient component :math:`w^\mathrm{t}`
    (``transient_writes`` in the ledger); the total weight is :math:`w^\mathrm{c} + w^\mathrm{t}`.
    After each presentation the transient part decays, :math:`w^\mathrm{t} \leftarrow
    w^\mathrm{t} e^{-1/\tau}` (:math:`\tau` in presentations; ``inf``: no decay), synapses with
    :math:`|w^\mathrm{t}| > \theta` are consolidated (:math:`w^\mathrm{c} \mathrel{+}= w^\mathrm{t}`,
    :math:`w^\mathrm{t} = 0`: one ledger *write* of size :math:`|w^\mathrm{t}|`), and the
    maintenance cost :math:`c \sum |w^\mathrm{t}|` is added to the ledger's ``maintenance``.
    Total energy: :math:`M_1 + \sum \mathrm{maintenance}`.
    """

    enabled: bool = param(False, doc="transient plus consolidated weights")
    c: float = param(0.01, minimum=0, doc="maintenance cost per unit |w_transient| per presentation")
    theta: float = param(0.01, minimum=0, doc="consolidate a synapse when |w_transient| > theta")
    tau: float = param(math.inf, minimum=0, strict_min=True, allow_inf=True, doc="transient decay, in presentations")


@declaration
class DataSpec(Declaration):
    """The ``[data]`` section: which data set, how much of it, and where it lives.

    Parameters
    ----------
    source : {"digits", "mnist", "npz"}
    n_train, n_test : int, optional
        Use the first ``n`` samples (all when None).
    n_validation : int, default 0
        Hold out the last ``n_validation`` training images as a validation split: validation
        accuracy (for curves and stopping) is measured on them, never on the test set, and
        training takes its ``n_train`` images from the others.
    dir : str
        MNIST directory ("" for the default search, see :mod:`spikegate.data`).
    path : str
        The ``.npz`` file of ``source = "npz"``.
    """

    source: str = param("digits", choices=DATA_SOURCES, doc="digits (embedded), mnist or npz")
    n_train: int | None = param(None, minimum=1, integer=True, optional=True, doc="the first n training samples")
    n_test: int | None = param(None, minimum=1, integer=True, optional=True, doc="the first n test samples")
    n_validation: int = param(0, minimum=0, integer=True,
                              doc="hold out the last n training images as a validation split (never trained on)")
    dir: str = param("", doc="MNIST directory ('': the default search)")
    path: str = param("", doc="the .npz file of source = npz")

    def validate(self):
        if self.path and self.source != "npz":   # the file would be ignored without a word
            raise ParameterError(f"DataSpec.path = {self.path!r}: read only with source = 'npz' (source is "
                                 f"{self.source!r}); set data.source = \"npz\" too", "DataSpec.path")


@declaration
class TrainingSpec(Declaration):
    r"""The ``[train]`` section: epochs, evaluation and (spiking) simulation settings.

    Parameters
    ----------
    epochs : int (>= 1)
    eta_decay : float (>= 0)
        Learning-rate schedule over epochs: every projection's rate in epoch :math:`e` is
        :math:`\eta / (1 + d\,(e - 1))` (0: constant). A constant rate leaves the final weights
        wherever the last updates threw them (test accuracy moves by 1-2 points from epoch to
        epoch on digits); a decaying one averages them.
    chunk : int (>= 1)
        Spiking: presentations per Brian2 ``run()`` (the network holds at most 1,000).
    eval_every_epoch : bool
        Test after every epoch (else only at the end).
    target : {"cython", "numpy"}
        Spiking, runtime device: Brian2's code-generation target.
    device : {"runtime", "cpp_standalone"}
        Spiking: Brian2's runtime (Python drives every ``run()``) or the compiled engine
        (:mod:`spikegate.backends.spiking.standalone`: compiled once, one binary run per chunk).
    eval_every : int (>= 0)
        Test every ``eval_every`` training samples (0: per epoch).
    target_accuracy : float in [0, 1]
        Stop at the first *test* evaluation that reaches it (0: never); for claims, stop on
        validation accuracy instead (``stop``).
    validate_every : int (>= 0)
        With ``data.n_validation``: measure validation accuracy every ``validate_every``
        presentations (0: at the end of each epoch), recording the cumulative costs at that
        moment (the validation curve, ``validation.csv``).
    stop : {"none", "target", "patience"}
        Stop at the first validation that reaches ``stop_accuracy``, or after ``patience``
        validations without improvement; the weights of the stopping point (the best
        validation) are restored before testing.
    stop_accuracy : float in [0, 1]
    patience : int (>= 1)
    technology : str
        The catalogue technology whose learning and total energies the validation curve records.
    max_presentations : int (>= 1)
        Bound on training plus test presentations, checked before anything is built.
    max_steps : int (>= 1)
        Spiking: bound on simulated time steps (presentations x presentation time / dt).
    max_memory_gb : float (> 0)
        Bound on the estimated memory of the network (~100 bytes per synapse and neuron).
    """

    epochs: int = param(1, minimum=1, integer=True, doc="passes over the training samples")
    eta_decay: float = param(0.0, minimum=0, maximum=1e6, cast=float,
                             doc="learning rates of epoch e: eta / (1 + eta_decay (e - 1)); 0: constant")
    chunk: int = param(1000, minimum=1, integer=True, backend="spiking", doc="presentations per Brian2 run()")
    eval_every_epoch: bool = param(True, doc="test after every epoch (else only at the end)")
    target: str = param("cython", choices=CODEGEN_TARGETS, backend="spiking", doc="Brian2's code-generation target")
    device: str = param("runtime", choices=DEVICES, backend="spiking", doc="Brian2's runtime, or the compiled engine")
    eval_every: int = param(0, minimum=0, integer=True, doc="test every N training samples (0: per epoch)")
    target_accuracy: float = param(0.0, minimum=0, maximum=1, doc="stop at the first test that reaches it (0: never)")
    validate_every: int = param(0, minimum=0, integer=True,
                                doc="validation accuracy every N presentations, with the costs so far (0: per epoch)")
    stop: str = param("none", choices=STOPS, doc="none, target (validation accuracy) or patience (no improvement)")
    stop_accuracy: float = param(0.0, minimum=0, maximum=1, doc="stop = target: the validation accuracy to reach")
    patience: int = param(3, minimum=1, integer=True,
                          doc="stop = patience: validations without improvement before stopping")
    technology: str = param("SRAM-32KB", doc="technology whose energies the validation curve records")

    def learning_scale(self, epoch: int) -> float:
        r"""The factor of every learning rate in ``epoch`` (1-based): :math:`1 / (1 + d\,(e - 1))`."""
        return 1.0 / (1.0 + self.eta_decay * (epoch - 1))

    def validate(self):
        if self.stop == "target" and not self.stop_accuracy > 0:
            raise ParameterError("TrainingSpec.stop_accuracy = 0: stop = 'target' needs a validation accuracy in "
                                 "(0, 1] to reach", "TrainingSpec.stop_accuracy")
    max_presentations: int = param(10 ** 8, minimum=1, integer=True, doc="bound on training plus test presentations")
    max_steps: int = param(10 ** 10, minimum=1, integer=True, backend="spiking", doc="bound on simulated time steps")
    max_memory_gb: float = param(16.0, minimum=0, strict_min=True, cast=float, doc="bound on the network's memory")
