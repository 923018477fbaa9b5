r"""Error-gated three-factor plasticity in a feed-forward spiking network (Brian2).

Declarations (:class:`LIF`, :class:`PoissonInput`, :class:`ThreeFactorRule`,
:class:`NetworkSpec`) describe the model; :class:`GatedClassifier` builds it as Brian2
objects that can run on their own or inside a user's ``brian2.Network``.

Time is divided into presentation slots of length :math:`T_\mathrm{stim}`. At each slot
boundary :math:`t_d` (the decision time of the slot that ends) a chain of code-generated
``run_regularly`` operations, all in the ``start`` slot of one time step, does:

1. **decide** — the output counts :math:`n_j` are reduced into the control group: the
   number of rivals :math:`j \ne \ell` with :math:`n_j \ge n_\ell` (a mistake iff > 0:
   wrong argmax, tie or silence) and with :math:`n_j > n_\ell - \kappa` (margin below
   :math:`\kappa`);
2. **gate** — :math:`G = \mathrm{always} \lor (\text{margin} < \kappa) \lor \mathrm{memory}`;
3. **learning signals** — output :math:`L_j = y_j - n_j / (\nu_\mathrm{target} T_\mathrm{stim})`;
   hidden :math:`L_k = [h_k > 0] \sum_j B_{kj} L_j` (fixed random feedback :math:`B`);
4. **write** — :math:`w_{ij} \leftarrow \mathrm{clip}(w_{ij} + G\,\eta_\mathrm{eff}\,L_j\,x_i(t_d),
   \pm w_\mathrm{max})` with the closed-form ERN weighting of :mod:`spikegate.ern`,
   counting writes (:math:`\Delta w \ne 0`), :math:`\sum|\Delta w|`, :math:`\sum|\Delta w|^\alpha`;
5. **reset and load** — all state is reset and the next stimulus, label and memory gate
   are read from a schedule (a ``TimedArray``).

The eligibility :math:`e_{ij}(t)` of synapse :math:`i \to j` is the presynaptic trace
:math:`x_i(t)` (:math:`dx_i/dt = -x_i/\tau_e`, +1 per spike) times the postsynaptic factor
in :math:`L_j`. Every synapse of neuron *i* sees the same spike train, so the trace is
stored once per presynaptic neuron: exact, and one update per spike instead of one per
synapse (the ledger still counts the per-synapse trace updates this stands for).
"""
from __future__ import annotations

import math
import time
from dataclasses import field

import numpy as np
import brian2 as b2
from brian2 import ms, mV, Hz, second, Quantity

from .declaration import Declaration, declaration, default
from .errors import ParameterError, DataError
from .ern import ERNSignal
from .gates import Gate
from .ledger import PresentationLog
from .quantities import check_quantity, check_number


@declaration
class LIF(Declaration):
    r"""Leaky integrate-and-fire neurons with exponential current-based synapses.

    .. math::

        \tau_m \frac{dv}{dt} = v_\mathrm{rest} - v + I, \qquad
        \tau_\mathrm{syn} \frac{dI}{dt} = -I,

    spike when :math:`v > v_\mathrm{th}`, then :math:`v \leftarrow v_\mathrm{reset}` and
    no integration for the refractory period.
    """

    tau_m: Quantity = default(20 * ms)
    tau_syn: Quantity = default(5 * ms)
    v_rest: Quantity = default(-65 * mV)
    v_reset: Quantity = default(-65 * mV)
    v_threshold: Quantity = default(-50 * mV)
    refractory: Quantity = default(2 * ms)

    def __post_init__(self):
        for name in ("tau_m", "tau_syn"):
            self._set(name, check_quantity(f"LIF.{name}", getattr(self, name), ms, minimum=0 * ms, strict=True))
        self._set("refractory", check_quantity("LIF.refractory", self.refractory, ms, minimum=0 * ms))
        for name in ("v_rest", "v_reset", "v_threshold"):
            self._set(name, check_quantity(f"LIF.{name}", getattr(self, name), mV, example="-65 mV"))
        if not self.v_threshold > self.v_reset:
            raise ParameterError(f"LIF.v_threshold = {self.v_threshold!r}: must be above v_reset = {self.v_reset!r}")


@declaration
class PoissonInput(Declaration):
    r"""Rate coding: pixel :math:`x_i \in [0, 1]` fires as a Poisson process of rate :math:`x_i \nu_\mathrm{max}`."""

    nu_max: Quantity = default(100 * Hz)

    def __post_init__(self):
        self._set("nu_max", check_quantity("PoissonInput.nu_max", self.nu_max, Hz, minimum=0 * Hz, strict=True))


@declaration
class ThreeFactorRule(Declaration):
    r"""Delta rule at the output, feedback alignment in hidden layers, gated by the ERN.

    Parameters
    ----------
    eta : Quantity (1/time, > 0)
        Learning rate :math:`\eta` of the output projection.
    eta_hidden : Quantity (1/time, > 0)
        Learning rate of projections into hidden layers.
    tau_e : Quantity (time, > 0, may be inf)
        Time constant of the presynaptic eligibility trace.
    nu_target : Quantity (rate, > 0)
        Target rate of the label neuron; :math:`L_j = y_j - n_j/(\nu_\mathrm{target} T_\mathrm{stim})`.
    w_max : float (> 0)
        Weights are clipped to :math:`[-w_\mathrm{max}, w_\mathrm{max}]`.
    feedback_scale : float (> 0)
        Standard deviation of the fixed random feedback weights :math:`B`.
    """

    eta: Quantity = default(2.0 / second)
    eta_hidden: Quantity = default(1.0 / second)
    tau_e: Quantity = default(100 * ms)
    nu_target: Quantity = default(200 * Hz)
    w_max: float = 4.0
    feedback_scale: float = 1.0

    def __post_init__(self):
        for name in ("eta", "eta_hidden"):
            self._set(name, check_quantity(f"ThreeFactorRule.{name}", getattr(self, name), 1 / second,
                                           minimum=0 / second, strict=True, example="2 Hz"))
        self._set("tau_e", check_quantity("ThreeFactorRule.tau_e", self.tau_e, ms, minimum=0 * ms, strict=True,
                                          allow_inf=True))
        self._set("nu_target", check_quantity("ThreeFactorRule.nu_target", self.nu_target, Hz,
                                              minimum=0 * Hz, strict=True))
        self._set("w_max", check_number("ThreeFactorRule.w_max", self.w_max, minimum=0, strict_min=True))
        self._set("feedback_scale", check_number("ThreeFactorRule.feedback_scale", self.feedback_scale,
                                                 minimum=0, strict_min=True))


@declaration
class NetworkSpec(Declaration):
    r"""A feed-forward classifier: ``layers = (n_in, *hidden, n_out)`` with all-to-all projections.

    Initial weights of projection *k* are Gaussian with standard deviation
    ``init_gain[k] / sqrt(n_pre)`` (one gain, or one per projection): hidden layers need a
    gain large enough that a random projection of the input drives some units above
    threshold, since silent units have no eligibility and no learning signal.
    A weight :math:`w` (dimensionless) adds :math:`w \cdot w_\mathrm{scale}` to :math:`I`.
    """

    layers: tuple = (64, 10)
    dt: Quantity = default(0.1 * ms)
    t_stim: Quantity = default(100 * ms)
    neuron: LIF = field(default_factory=LIF)
    input: PoissonInput = field(default_factory=PoissonInput)
    rule: ThreeFactorRule = field(default_factory=ThreeFactorRule)
    ern: ERNSignal = field(default_factory=ERNSignal)
    w_scale: Quantity = default(1 * mV)
    init_gain: tuple = (1.0,)
    alpha: float = 0.5

    def __post_init__(self):
        layers = tuple(self.layers)
        if len(layers) < 2:
            raise ParameterError(f"NetworkSpec.layers = {list(layers)}: need at least inputs and outputs")
        self._set("layers", tuple(check_number(f"NetworkSpec.layers[{k}]", n, minimum=1, integer=True)
                                  for k, n in enumerate(layers)))
        if self.layers[-1] < 2:
            raise ParameterError(f"NetworkSpec.layers[-1] = {self.layers[-1]}: need at least 2 output classes")
        self._set("dt", check_quantity("NetworkSpec.dt", self.dt, ms, minimum=0 * ms, strict=True))
        self._set("t_stim", check_quantity("NetworkSpec.t_stim", self.t_stim, ms, minimum=0 * ms, strict=True))
        steps = float(self.t_stim / self.dt)
        if abs(steps - round(steps)) > 1e-6 or round(steps) < 2:
            raise ParameterError(f"NetworkSpec.t_stim = {self.t_stim!r}: must be a multiple (>= 2) of dt = {self.dt!r}")
        self._set("w_scale", check_quantity("NetworkSpec.w_scale", self.w_scale, mV, minimum=0 * mV, strict=True))
        gains = self.init_gain if isinstance(self.init_gain, (tuple, list)) else (self.init_gain,)
        gains = tuple(check_number(f"NetworkSpec.init_gain[{k}]", g, minimum=0) for k, g in enumerate(gains))
        if len(gains) == 1:
            gains = gains * self.n_projections
        if len(gains) != self.n_projections:
            raise ParameterError(f"NetworkSpec.init_gain = {list(gains)}: give one gain or one per projection "
                                 f"({self.n_projections})")
        self._set("init_gain", gains)
        self._set("alpha", check_number("NetworkSpec.alpha", self.alpha, minimum=0, strict_min=True))
        for name, cls in (("neuron", LIF), ("input", PoissonInput), ("rule", ThreeFactorRule), ("ern", ERNSignal)):
            if not isinstance(getattr(self, name), cls):
                raise ParameterError(f"NetworkSpec.{name}: expected a {cls.__name__}, got {getattr(self, name)!r}")

    @property
    def n_in(self):
        return self.layers[0]

    @property
    def n_out(self):
        return self.layers[-1]

    @property
    def n_projections(self):
        return len(self.layers) - 1

    def effective_learning_rates(self) -> list[float]:
        """:math:`\\eta_\\mathrm{eff}` of each projection (closed-form ERN integral)."""
        etas = [self.rule.eta_hidden] * (self.n_projections - 1) + [self.rule.eta]
        return [self.ern.effective_learning_rate(eta, self.rule.tau_e) for eta in etas]


# Columns of the schedule TimedArray.
_IMAGE, _LABEL, _MEMGATE, _VALID = range(4)

_LIF_EQS = """
dv/dt = (v_rest - v + I) / tau_m : volt (unless refractory)
dI/dt = -I / tau_syn : volt
dx/dt = -x / tau_e : 1
n : 1
L : 1
gate : 1 (linked)
gate_open : 1
acc_writes : 1
acc_abs : 1
acc_alpha : 1
tau_m : second (shared, constant)
tau_syn : second (shared, constant)
tau_e : second (shared, constant)
v_rest : volt (shared, constant)
v_reset : volt (shared, constant)
v_th : volt (shared, constant)
t_ref : second (shared, constant)
"""


class GatedClassifier:
    """Brian2 objects of a spiking classifier with error-gated three-factor plasticity.

    Parameters
    ----------
    spec : NetworkSpec
    gate : Gate
    images : array, shape (n_images, n_in), values in [0, 1]
        The image bank; presentations refer to rows of it.
    seed : int
        Seeds the initial and feedback weights (numpy) and Brian2's ``rand()``.
    chunk : int
        Presentations per ``run()`` call (fixed so the generated code never changes).
    name : str
        Prefix of all Brian2 object names (stable names let Brian2 reuse compiled code).

    Notes
    -----
    ``objects`` lists every Brian2 object; add them to your own ``Network`` with
    ``net.add(clf.objects)``, call :meth:`load_schedule` and run ``clf.duration(n)``.
    """

    def __init__(self, spec: NetworkSpec, gate: Gate, images, seed: int = 0, chunk: int = 1000,
                 name: str = "sg"):
        if not isinstance(spec, NetworkSpec):
            raise ParameterError(f"GatedClassifier.spec: expected a NetworkSpec, got {type(spec).__name__}")
        if not isinstance(gate, Gate):
            raise ParameterError(f"GatedClassifier.gate: expected a Gate, got {type(gate).__name__}")
        self.spec = spec
        self.gate = gate
        self.chunk = check_number("GatedClassifier.chunk", chunk, minimum=1, integer=True)
        self.name = name
        self.seed = int(seed)
        self.namespace = {}
        self._rng = np.random.default_rng(seed)
        images = self._checked_images(images)  # before building: no half-built objects on bad input
        self._build()
        self._install_images(images)
        self.set_gate(gate)
        self.load_schedule(np.zeros(0, dtype=int), np.zeros(0, dtype=int))

    # ------------------------------------------------------------------ build
    def _build(self):
        spec, nm = self.spec, self.name
        # Two clocks only: Brian2's scheduler loops over clocks in Python at every step.
        self.clock = b2.Clock(spec.dt, name=f"{nm}_clock")
        self.tick_clock = b2.Clock(spec.t_stim, name=f"{nm}_tick_clock")
        tick = dict(clock=self.tick_clock, when="start")
        clock = self.clock
        self.control = b2.NeuronGroup(1, """
            label : integer
            sample : integer
            valid : 1
            memgate : 1
            learning : 1
            gate_always : 1
            kappa : 1
            n_label : 1
            n_tie : 1
            n_near : 1
            mistake : 1
            gate : 1
            t_start : second
            """ + "".join(f"writes_{k} : 1\nabs_{k} : 1\nalpha_{k} : 1\nspikes_{k} : 1\n"
                          for k in range(spec.n_projections)),
            name=f"{nm}_control", clock=clock, namespace=self.namespace)
        self.input = b2.NeuronGroup(spec.n_in, """
            rate : Hz
            dx/dt = -x / tau_e : 1
            n : 1
            nu_max : Hz (shared, constant)
            tau_e : second (shared, constant)
            t_start : second (shared)
            """, threshold="rand() < rate * dt", reset="x += 1\nn += 1", method="exact",
            name=f"{nm}_input", clock=clock, namespace=self.namespace)
        self.layers = []
        for k, size in enumerate(spec.layers[1:]):
            is_out = k == spec.n_projections - 1
            eqs = _LIF_EQS + ("lab : integer (linked)\nn_target : 1 (shared)\n" if is_out else "fb : 1\n")
            g = b2.NeuronGroup(size, eqs, threshold="v > v_th", reset="v = v_reset\nn += 1\nx += 1",
                               refractory="t_ref", method="exact", name=f"{nm}_{'output' if is_out else f'hidden{k}'}",
                               clock=clock, namespace=self.namespace)
            g.gate = b2.linked_var(self.control, "gate", index=np.zeros(size, dtype=int))
            if is_out:
                g.lab = b2.linked_var(self.control, "label", index=np.zeros(size, dtype=int))
            self.layers.append(g)
        self.output = self.layers[-1]
        pres = [self.input] + self.layers[:-1]

        self.synapses = []
        for k, (pre, post) in enumerate(zip(pres, self.layers)):
            s = b2.Synapses(pre, post, """
                w : 1
                eta_eff : 1 (shared)
                w_max : 1 (shared)
                alpha : 1 (shared)
                w_scale : volt (shared, constant)
                """, on_pre="I_post += w * w_scale", name=f"{nm}_w{k}", clock=clock, namespace=self.namespace)
            s.connect()
            self.synapses.append(s)

        # Reductions into the control group and the feedback pathway.
        self.decision = b2.Synapses(self.output, self.control, name=f"{nm}_decision", clock=clock, namespace=self.namespace)
        self.decision.connect()
        self.feedback = []
        for k, hid in enumerate(self.layers[:-1]):
            # Feedback alignment: fixed random B from the output error to every hidden layer.
            fb = b2.Synapses(self.output, hid, "B : 1", name=f"{nm}_feedback{k}", clock=clock, namespace=self.namespace)
            fb.connect()
            self.feedback.append(fb)
        self.ledger_sums = []
        for k, (pre, post) in enumerate(zip(pres, self.layers)):
            red_post = b2.Synapses(post, self.control, name=f"{nm}_ledger{k}", clock=clock, namespace=self.namespace)
            red_post.connect()
            red_pre = b2.Synapses(pre, self.control, name=f"{nm}_spikes{k}", clock=clock, namespace=self.namespace)
            red_pre.connect()
            self.ledger_sums.append((red_post, red_pre))

        # --- the decision chain at each slot boundary (orders within the 'start' slot)
        ops = []
        zero = "n_label = 0\nn_tie = 0\nn_near = 0\n" + "".join(
            f"writes_{k} = 0\nabs_{k} = 0\nalpha_{k} = 0\nspikes_{k} = 0\n" for k in range(spec.n_projections))
        ops.append(self.control.run_regularly(zero, order=0, name=f"{nm}_op_zero", **tick))
        for g in self.layers:
            ops.append(g.run_regularly("acc_writes = 0\nacc_abs = 0\nacc_alpha = 0" + ("" if g is self.output else "\nfb = 0"),
                                       order=0, name=f"{g.name}_op_zero", **tick))
        ops.append(self.decision.run_regularly("n_label_post += n_pre * int(i == label_post)",
                                               order=1, name=f"{nm}_op_label_count", **tick))
        ops.append(self.decision.run_regularly(
            "n_tie_post += int(i != label_post and n_pre >= n_label_post)\n"
            "n_near_post += int(i != label_post and n_pre > n_label_post - kappa_post)",
            order=2, name=f"{nm}_op_rivals", **tick))
        ops.append(self.control.run_regularly(
            "mistake = valid * int(n_tie > 0)\n"
            "gate = learning * valid * int(gate_always > 0 or n_near > 0 or memgate > 0)",
            order=3, name=f"{nm}_op_gate", **tick))
        for g in self.layers:
            # synapses cannot read linked variables of their target: copy the gate
            ops.append(g.run_regularly("gate_open = gate", order=4, name=f"{g.name}_op_gate", **tick))
        ops.append(self.output.run_regularly("L = int(i == lab) - n / n_target",
                                             order=4, name=f"{nm}_op_error", **tick))
        for k, (fb, hid) in enumerate(zip(self.feedback, self.layers[:-1])):
            ops.append(fb.run_regularly("fb_post += B * L_pre", order=5, name=f"{fb.name}_op", **tick))
            ops.append(hid.run_regularly("L = fb * int(n > 0)", order=6, name=f"{hid.name}_op_error", **tick))
        for s in self.synapses:
            ops.append(s.run_regularly(
                "w_new = clip(w + gate_open_post * eta_eff * L_post * x_pre, -w_max, w_max)\n"
                "dw_abs = abs(w_new - w)\n"
                "acc_writes_post += int(dw_abs > 0)\n"
                "acc_abs_post += dw_abs\n"
                "acc_alpha_post += dw_abs ** alpha\n"
                "w = w_new", order=7, name=f"{s.name}_op_write", **tick))
        for k, (red_post, red_pre) in enumerate(self.ledger_sums):
            ops.append(red_post.run_regularly(
                f"writes_{k}_post += acc_writes_pre\nabs_{k}_post += acc_abs_pre\nalpha_{k}_post += acc_alpha_pre",
                order=8, name=f"{red_post.name}_op", **tick))
            ops.append(red_pre.run_regularly(f"spikes_{k}_post += n_pre", order=8, name=f"{red_pre.name}_op", **tick))
        # order 9: monitors record the finished slot; order 10: reset and load the next one
        ops.append(self.control.run_regularly(
            f"label = int(schedule(t - t_start, {_LABEL}) + 0.5)\n"
            f"sample = int(schedule(t - t_start, {_IMAGE}) + 0.5)\n"
            f"memgate = schedule(t - t_start, {_MEMGATE})\n"
            f"valid = schedule(t - t_start, {_VALID})",
            order=10, name=f"{nm}_op_load", **tick))
        ops.append(self.input.run_regularly(
            f"rate = nu_max * pixels(int(schedule(t - t_start, {_IMAGE}) + 0.5) * second, i)\nx = 0\nn = 0",
            order=10, name=f"{nm}_input_op_load", **tick))
        for g in self.layers:
            ops.append(g.run_regularly("v = v_rest\nI = 0*volt\nx = 0\nn = 0\nlastspike = -1e4*second",
                                       order=10, name=f"{g.name}_op_reset", **tick))
        self.operations = ops

        rec = ["valid", "sample", "label", "mistake", "gate"] + [
            f"{v}_{k}" for k in range(spec.n_projections) for v in ("writes", "abs", "alpha", "spikes")]
        self.control_monitor = b2.StateMonitor(self.control, rec, record=0, when="start", order=9,
                                               clock=self.tick_clock, name=f"{nm}_control_monitor")
        self.count_monitor = b2.StateMonitor(self.output, "n", record=True, when="start", order=9,
                                             clock=self.tick_clock, name=f"{nm}_count_monitor")
        self._init_state()

    def _init_state(self):
        spec, rng = self.spec, self._rng
        nrn = spec.neuron
        self.input.nu_max = spec.input.nu_max
        self.input.tau_e = spec.rule.tau_e
        for g in self.layers:
            g.tau_m, g.tau_syn, g.tau_e = nrn.tau_m, nrn.tau_syn, spec.rule.tau_e
            g.v_rest, g.v_reset, g.v_th, g.t_ref = nrn.v_rest, nrn.v_reset, nrn.v_threshold, nrn.refractory
            g.v = nrn.v_rest
        self.output.n_target = float(spec.rule.nu_target * spec.t_stim)
        for k, (s, eta_eff) in enumerate(zip(self.synapses, spec.effective_learning_rates())):
            n_pre, n_post = spec.layers[k], spec.layers[k + 1]
            w0 = rng.normal(0.0, spec.init_gain[k] / math.sqrt(n_pre), size=(n_pre, n_post))
            s.w = np.clip(w0, -spec.rule.w_max, spec.rule.w_max)[s.i[:], s.j[:]]
            s.eta_eff = eta_eff
            s.w_max = spec.rule.w_max
            s.alpha = spec.alpha
            s.w_scale = spec.w_scale
        for fb in self.feedback:
            n_post = len(fb.target)
            B = rng.normal(0.0, spec.rule.feedback_scale / math.sqrt(spec.n_out), size=(spec.n_out, n_post))
            fb.B = B[fb.i[:], fb.j[:]]
        self.control.learning = 1

    # ----------------------------------------------------------------- public
    @property
    def objects(self) -> list:
        """All Brian2 objects (groups, synapses, operations, monitors)."""
        return ([self.control, self.input] + self.layers + self.synapses + [self.decision] + self.feedback
                + [s for pair in self.ledger_sums for s in pair] + self.operations
                + [self.control_monitor, self.count_monitor])

    @property
    def network(self) -> b2.Network:
        """A ``brian2.Network`` holding :attr:`objects` (created once)."""
        if not hasattr(self, "_network"):
            self._network = b2.Network(self.objects, name=f"{self.name}_network")
        return self._network

    def weights(self, k: int) -> np.ndarray:
        """Weight matrix of projection ``k``, shape ``(n_pre, n_post)`` (a copy)."""
        s = self.synapses[k]
        W = np.zeros((self.spec.layers[k], self.spec.layers[k + 1]))
        W[s.i[:], s.j[:]] = s.w[:]
        return W

    def set_weights(self, k: int, W) -> None:
        s = self.synapses[k]
        W = np.asarray(W, dtype=float)
        expected = (self.spec.layers[k], self.spec.layers[k + 1])
        if W.shape != expected:
            raise ParameterError(f"weights of projection {k}: shape {W.shape}, expected {expected}")
        s.w = W[s.i[:], s.j[:]]

    def set_gate(self, gate: Gate) -> None:
        """Change the gate without rebuilding (its parameters are state variables)."""
        if not isinstance(gate, Gate):
            raise ParameterError(f"gate: expected a Gate, got {type(gate).__name__}")
        self.gate = gate
        self.control.gate_always = 1 if gate.always else 0
        self.control.kappa = gate.kappa

    def set_images(self, images) -> None:
        """Replace the image bank (same shape: no recompilation)."""
        self._install_images(self._checked_images(images))

    def _install_images(self, images: np.ndarray) -> None:
        self.n_images = len(images)
        bank = np.vstack([images, np.zeros((1, self.spec.n_in))])  # last row: blank for idle slots
        self.namespace["pixels"] = b2.TimedArray(bank, dt=1 * second, name=f"{self.name}_pixels")

    def _checked_images(self, images) -> np.ndarray:
        images = np.asarray(images, dtype=float)
        if images.ndim != 2 or images.shape[1] != self.spec.n_in:
            raise DataError(f"images: shape {images.shape}, expected (n_images, {self.spec.n_in})")
        if not np.all(np.isfinite(images)):
            raise DataError("images: contain NaN or infinite pixel values; allowed: finite values in [0, 1]")
        if images.size and (images.min() < 0 or images.max() > 1):
            raise DataError(f"images: pixel values in [{images.min():g}, {images.max():g}]; allowed: [0, 1]")
        return images

    def load_schedule(self, samples, labels, memgate=None) -> None:
        """Schedule ``len(samples) <= chunk`` presentations from the next slot boundary on.

        After them, one idle slot (blank input, no learning) closes the last presentation.
        """
        samples = np.asarray(samples, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.int64)
        n = len(samples)
        if n > self.chunk:
            raise ParameterError(f"load_schedule: {n} presentations, at most chunk = {self.chunk}")
        if len(labels) != n:
            raise DataError(f"labels: {len(labels)} labels for {n} samples")
        if n and (samples.min() < 0 or samples.max() >= self.n_images):
            raise DataError(f"samples: indices must be in [0, {self.n_images - 1}]")
        if n and (labels.min() < 0 or labels.max() >= self.spec.n_out):
            bad = labels[(labels < 0) | (labels >= self.spec.n_out)][0]
            raise DataError(f"labels: value {bad} outside the class range [0, {self.spec.n_out - 1}]")
        memgate = np.zeros(n) if memgate is None else np.asarray(memgate, dtype=float)
        table = np.zeros((self.chunk + 1, 4))
        table[:, _IMAGE] = self.n_images
        table[:n, _IMAGE] = samples
        table[:n, _LABEL] = labels
        table[:n, _MEMGATE] = memgate
        table[:n, _VALID] = 1
        self.namespace["schedule"] = b2.TimedArray(table, dt=self.spec.t_stim, name=f"{self.name}_schedule")
        self._scheduled = n

    def duration(self, n: int | None = None) -> Quantity:
        """Simulated time for ``n`` scheduled presentations plus the closing idle slot."""
        n = self._scheduled if n is None else n
        return (n + 1) * self.spec.t_stim

    def present(self, samples, labels, memgate=None, learn: bool = True, progress=None) -> PresentationLog:
        """Present ``samples`` (rows of the image bank) in order, in chunks of ``self.chunk``.

        Each chunk is one ``run()``; decisions, gating and writes happen in generated code.
        ``progress`` (optional) is called with the number of presentations finished after each chunk.
        """
        samples = np.asarray(samples, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.int64)
        memgate = np.zeros(len(samples)) if memgate is None else np.asarray(memgate, dtype=float)
        net = self.network
        self.control.learning = 1 if learn else 0
        start_rec = len(self.control_monitor.t)
        t0 = time.perf_counter()
        for a in range(0, len(samples), self.chunk):
            b = min(a + self.chunk, len(samples))
            self.load_schedule(samples[a:b], labels[a:b], memgate[a:b])
            self.align(net)
            t_end = net.t + self.duration(b - a)
            net.run(self.duration(b - a), namespace={})
            if net.t < t_end - 0.5 * self.spec.dt:
                # Brian2 turns a first Ctrl+C into a quiet early stop: do not go on with half a chunk
                raise KeyboardInterrupt("simulation stopped before the end of the chunk")
            if progress is not None:
                progress(b - a)
        wall = time.perf_counter() - t0
        return self._collect(start_rec, len(samples), wall)

    def align(self, net: b2.Network) -> None:
        """Start the loaded schedule at ``net``'s current time (call right before ``net.run``).

        The network time must be a slot boundary (a multiple of ``t_stim``), as it is
        after runs of :meth:`duration`.
        """
        t = net.t
        slots = float(t / self.spec.t_stim)
        if abs(slots - round(slots)) > 1e-6:
            raise ParameterError(f"align: network time {t} is not a multiple of t_stim = {self.spec.t_stim}")
        self.control.t_start = t
        self.input.t_start = t

    def last_presentations(self, n: int) -> PresentationLog:
        """Decisions and ledger entries of the last ``n`` presentations (e.g. after your own ``run``)."""
        return self._collect(0, n, float("nan"), last=True)

    def _collect(self, start_rec, n, wall, last=False):
        mon, spec = self.control_monitor, self.spec
        valid = np.asarray(mon.valid[0, start_rec:]) > 0.5
        idx = np.flatnonzero(valid) + start_rec
        if last:
            idx = idx[len(idx) - n:] if n else idx[:0]
        if len(idx) != n:
            raise ParameterError(f"recorded {len(idx)} decisions, asked for {n} presentations")
        P = spec.n_projections
        writes = np.stack([mon.variables[f"writes_{k}"].get_value()[idx, 0] for k in range(P)], axis=1)
        sabs = np.stack([mon.variables[f"abs_{k}"].get_value()[idx, 0] for k in range(P)], axis=1)
        salpha = np.stack([mon.variables[f"alpha_{k}"].get_value()[idx, 0] for k in range(P)], axis=1)
        spikes = np.stack([mon.variables[f"spikes_{k}"].get_value()[idx, 0] for k in range(P)], axis=1)
        fan_out = np.array(spec.layers[1:], dtype=float)
        return PresentationLog(
            samples=mon.variables["sample"].get_value()[idx, 0].astype(np.int64),
            labels=mon.variables["label"].get_value()[idx, 0].astype(np.int64),
            counts=self.count_monitor.variables["n"].get_value()[idx, :].astype(np.int64),
            mistake=mon.variables["mistake"].get_value()[idx, 0] > 0.5,
            gate_open=mon.variables["gate"].get_value()[idx, 0] > 0.5,
            writes=np.rint(writes).astype(np.int64),
            sum_abs_dw=sabs,
            sum_abs_dw_alpha=salpha,
            trace_updates=(spikes * fan_out).astype(np.int64),
            wall_seconds=wall,
        )
