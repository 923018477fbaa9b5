r"""The spiking backend: error-gated three-factor plasticity in a feed-forward Brian2 network.

The declarations of :mod:`spikegate.model` (:class:`~spikegate.model.NetworkSpec`,
:class:`~spikegate.model.LIF`, :class:`~spikegate.model.ThreeFactorRule`, the gates)
describe the model; :class:`GatedClassifier` builds it as Brian2 objects that can run on
their own or inside a user's ``brian2.Network``.

Time is divided into presentation slots of length :math:`T_\mathrm{stim}`. At each slot
boundary :math:`t_d` (the decision time of the slot that ends) a chain of code-generated
``run_regularly`` operations, all in the ``start`` slot of one time step, does:

1. **decide** — the output counts :math:`n_j` are reduced into the control group: the
   number of rivals :math:`j \ne \ell` with :math:`n_j \ge n_\ell` (a mistake iff > 0:
   wrong argmax, tie or silence) and with :math:`n_j \ge n_\ell - (\kappa - 1)` (margin
   below :math:`\kappa`), :data:`spikegate.model.gates.RIVAL_COUNT_CODE`;
2. **gate** — :math:`G = \mathrm{always} \lor (\text{margin} < \kappa) \lor \mathrm{memory}`,
   :data:`spikegate.model.gates.DECISION_CODE` (the decision of
   :func:`spikegate.model.gates.gate_decision` for integer counts);
3. **learning signals** — output :math:`L_j = y_j - n_j / (\nu_\mathrm{target} T_\mathrm{stim})`;
   hidden :math:`L_k = [h_k > 0] \sum_j B_{kj} L_j` (fixed random feedback :math:`B`);
4. **write** — :math:`w_{ij} \leftarrow \mathrm{clip}(w_{ij} + G\,\eta_\mathrm{eff}\,L_j\,x_i(t_d),
   \pm w_\mathrm{max})` with the closed-form ERN weighting of :class:`~spikegate.model.ERNSignal`,
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

import numpy as np
import brian2 as b2
from brian2 import ms, second, Quantity

from ..errors import DataError, ParameterError
from ..ledger import PresentationLog
from ..model import ERNSignal, Gate, NetworkSpec, margin_threshold
from ..model.gates import DECISION_CODE, RIVAL_COUNT_CODE
from ..units import check_number
from .brian import codegen_target


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
        self._build_groups()
        self._build_synapses()
        self.operations = self._build_decision_chain() + self._build_ledger() + self._build_loader()
        self._init_state()

    def _group(self, n, model, name, **kw):
        return b2.NeuronGroup(n, model, name=f"{self.name}_{name}", clock=self.clock, namespace=self.namespace, **kw)

    def _synapses(self, pre, post, name, model="", **kw):
        s = b2.Synapses(pre, post, model, name=f"{self.name}_{name}", clock=self.clock, namespace=self.namespace, **kw)
        s.connect()
        return s

    def _tick(self, obj, code, order, name):
        """``code`` once per slot boundary, in the ``start`` slot at ``order``."""
        return obj.run_regularly(code, clock=self.tick_clock, when="start", order=order, name=name)

    def _build_groups(self):
        """The control group (decision and ledger sums), the Poisson input and the LIF layers."""
        spec = self.spec
        self.control = self._group(1, """
            label : integer
            sample : integer
            valid : 1
            memgate : 1
            learning : 1
            gate_always : 1
            margin_threshold : 1
            n_label : 1
            rivals_tied : 1
            rivals_near : 1
            mistake : 1
            gate : 1
            t_start : second
            """ + "".join(f"writes_{k} : 1\nabs_{k} : 1\nalpha_{k} : 1\nspikes_{k} : 1\n"
                          for k in range(spec.n_projections)), "control")
        self.input = self._group(spec.n_in, """
            rate : Hz
            dx/dt = -x / tau_e : 1
            n : 1
            nu_max : Hz (shared, constant)
            tau_e : second (shared, constant)
            t_start : second (shared)
            """, "input", threshold="rand() < rate * dt", reset="x += 1\nn += 1", method="exact")
        self.layers = []
        for k, size in enumerate(spec.layers[1:]):
            is_out = k == spec.n_projections - 1
            eqs = _LIF_EQS + ("lab : integer (linked)\nn_target : 1 (shared)\n" if is_out else "fb : 1\n")
            g = self._group(size, eqs, "output" if is_out else f"hidden{k}", threshold="v > v_th",
                            reset="v = v_reset\nn += 1\nx += 1", refractory="t_ref", method="exact")
            g.gate = b2.linked_var(self.control, "gate", index=np.zeros(size, dtype=int))
            if is_out:
                g.lab = b2.linked_var(self.control, "label", index=np.zeros(size, dtype=int))
            self.layers.append(g)
        self.output = self.layers[-1]

    def _build_synapses(self):
        """Plastic projections, the decision reduction and the fixed feedback pathway."""
        pres = [self.input] + self.layers[:-1]
        self.synapses = [self._synapses(pre, post, f"w{k}", """
                w : 1
                eta_eff : 1 (shared)
                w_max : 1 (shared)
                alpha : 1 (shared)
                w_scale : volt (shared, constant)
                """, on_pre="I_post += w * w_scale") for k, (pre, post) in enumerate(zip(pres, self.layers))]
        self.decision = self._synapses(self.output, self.control, "decision")
        # Feedback alignment: fixed random B from the output error to every hidden layer.
        self.feedback = [self._synapses(self.output, hid, f"feedback{k}", "B : 1")
                         for k, hid in enumerate(self.layers[:-1])]

    def _build_decision_chain(self) -> list:
        """Decide, gate, learning signals and the gated write, at each slot boundary (orders 0-7)."""
        nm = self.name
        ops = [self._tick(self.control, "n_label = 0\nrivals_tied = 0\nrivals_near = 0", 0, f"{nm}_op_zero")]
        for g in self.layers:
            ops.append(self._tick(g, "acc_writes = 0\nacc_abs = 0\nacc_alpha = 0" + ("" if g is self.output else "\nfb = 0"),
                                  0, f"{g.name}_op_zero"))
        ops.append(self._tick(self.decision, "n_label_post += n_pre * int(i == label_post)", 1, f"{nm}_op_label_count"))
        ops.append(self._tick(self.decision, RIVAL_COUNT_CODE, 2, f"{nm}_op_rivals"))
        ops.append(self._tick(self.control, DECISION_CODE, 3, f"{nm}_op_gate"))
        for g in self.layers:
            # synapses cannot read linked variables of their target: copy the gate
            ops.append(self._tick(g, "gate_open = gate", 4, f"{g.name}_op_gate"))
        ops.append(self._tick(self.output, "L = int(i == lab) - n / n_target", 4, f"{nm}_op_error"))
        for fb, hid in zip(self.feedback, self.layers[:-1]):
            ops.append(self._tick(fb, "fb_post += B * L_pre", 5, f"{fb.name}_op"))
            ops.append(self._tick(hid, "L = fb * int(n > 0)", 6, f"{hid.name}_op_error"))
        for s in self.synapses:
            ops.append(self._tick(s, "w_new = clip(w + gate_open_post * eta_eff * L_post * x_pre, -w_max, w_max)\n"
                                     "dw_abs = abs(w_new - w)\n"
                                     "acc_writes_post += int(dw_abs > 0)\n"
                                     "acc_abs_post += dw_abs\n"
                                     "acc_alpha_post += dw_abs ** alpha\n"
                                     "w = w_new", 7, f"{s.name}_op_write"))
        return ops

    def _build_ledger(self) -> list:
        """Per-presentation write counts, sums and spikes reduced into the control group (order 8),
        recorded by monitors at order 9."""
        spec, nm = self.spec, self.name
        P = spec.n_projections
        ops = [self._tick(self.control, "".join(f"writes_{k} = 0\nabs_{k} = 0\nalpha_{k} = 0\nspikes_{k} = 0\n"
                                                for k in range(P)), 0, f"{nm}_op_zero_ledger")]
        self.ledger_sums = []
        for k, (pre, post) in enumerate(zip([self.input] + self.layers[:-1], self.layers)):
            red_post = self._synapses(post, self.control, f"ledger{k}")
            red_pre = self._synapses(pre, self.control, f"spikes{k}")
            self.ledger_sums.append((red_post, red_pre))
            ops.append(self._tick(red_post, f"writes_{k}_post += acc_writes_pre\nabs_{k}_post += acc_abs_pre\n"
                                            f"alpha_{k}_post += acc_alpha_pre", 8, f"{red_post.name}_op"))
            ops.append(self._tick(red_pre, f"spikes_{k}_post += n_pre", 8, f"{red_pre.name}_op"))
        rec = ["valid", "sample", "label", "mistake", "gate"] + [
            f"{v}_{k}" for k in range(P) for v in ("writes", "abs", "alpha", "spikes")]
        self.control_monitor = b2.StateMonitor(self.control, rec, record=0, when="start", order=9,
                                               clock=self.tick_clock, name=f"{nm}_control_monitor")
        self.count_monitor = b2.StateMonitor(self.output, "n", record=True, when="start", order=9,
                                             clock=self.tick_clock, name=f"{nm}_count_monitor")
        return ops

    def _build_loader(self) -> list:
        """Reset all state and load the next stimulus, label and memory gate (order 10)."""
        nm = self.name
        ops = [self._tick(self.control, f"label = int(schedule(t - t_start, {_LABEL}) + 0.5)\n"
                                        f"sample = int(schedule(t - t_start, {_IMAGE}) + 0.5)\n"
                                        f"memgate = schedule(t - t_start, {_MEMGATE})\n"
                                        f"valid = schedule(t - t_start, {_VALID})", 10, f"{nm}_op_load"),
               self._tick(self.input, f"rate = nu_max * pixels(int(schedule(t - t_start, {_IMAGE}) + 0.5) * second, i)"
                                      "\nx = 0\nn = 0", 10, f"{nm}_input_op_load")]
        for g in self.layers:
            ops.append(self._tick(g, "v = v_rest\nI = 0*volt\nx = 0\nn = 0\nlastspike = -1e4*second", 10,
                                  f"{g.name}_op_reset"))
        return ops

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
        self.control.margin_threshold = margin_threshold(gate)

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


def integrate_ern_update(ern: ERNSignal, eta, tau_e, eligibility_at_decision, learning_signal,
                         window, dt=0.01 * ms, target="numpy"):
    r"""Explicitly integrate :math:`\eta L \int e(t)\varepsilon(t)dt` with Brian2 (reference).

    One synapse per entry of ``eligibility_at_decision``; the decision is at ``t = 0``.
    Both the eligibility and the ERN are integrated as differential equations with
    exact (exponential) updates, and the accumulated product with the forward Euler rule.

    Returns
    -------
    numpy.ndarray
        The accumulated weight changes after ``window``.
    """
    e0 = np.asarray(eligibility_at_decision, dtype=float)
    L = np.broadcast_to(np.asarray(learning_signal, dtype=float), e0.shape)
    tau_e_val = tau_e if not math.isinf(float(tau_e / second)) else 1e30 * second
    ns = {"tau_e": tau_e_val, "tau_ern": ern.tau, "ern_amp": ern.amplitude, "lat": ern.latency, "eta": eta}
    group = b2.NeuronGroup(len(e0), """
        delig/dt = -elig/tau_e : 1
        deps/dt = -eps/tau_ern : 1
        dacc/dt = eta * L * elig * eps : 1
        L : 1
        raised : boolean
        """, method="euler", namespace=ns, dt=dt, name="spikegate_ern_reference")
    group.run_regularly("eps = int(t >= lat and not raised) * ern_amp + int(raised) * eps\n"
                        "raised = raised or t >= lat", dt=dt, when="start", name="spikegate_ern_reference_rise")
    group.elig = e0
    group.L = L
    net = b2.Network(group)
    with codegen_target(target):
        net.run(window)
    return np.array(group.acc[:])
