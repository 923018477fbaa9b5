r"""The builder: Brian2 objects of a spiking classifier from a :class:`~spikegate.model.NetworkSpec`.

:func:`build_network` creates every group, synapse, operation and monitor (their code is in
:mod:`~spikegate.backends.spiking.equations`) and returns them as a :class:`SpikingNetwork`;
:func:`constants` and :func:`initial_weights` give the values the network starts from. Both
engines use them: the runtime engine sets the values on the objects, the compiled engine
passes them as run arguments, so everything but the network's structure can change without
compiling again.

**Input.** Pixel :math:`x_i \in [0, 1]` fires as a Poisson process of rate
:math:`x_i \nu_\mathrm{max}`: every time step draws a Poisson count
:math:`k_i \sim \mathrm{Poisson}(x_i \nu_\mathrm{max}\, dt)`, so window counts are Poisson
whatever ``dt`` is; :math:`k_i` spikes add :math:`k_i w` to the synaptic current and
:math:`k_i` to the trace.

**Eligibility.** The eligibility of synapse :math:`i \to j` is the presynaptic trace
:math:`x_i` (:math:`dx_i/dt = -x_i/\tau_e`, +1 per spike) times the postsynaptic factor in
:math:`L_j`. Every synapse of neuron *i* sees the same spike train, so the trace is stored
once per presynaptic neuron (the ledger still counts the per-synapse trace updates). With
``rule.eligibility = "pre_post"`` each synapse holds a tag ``tag`` (clock-driven decay with its
projection's :math:`\tau_e`, ``tau_tag``; ``on_post``: ``tag += x_pre``, the trace then decaying
with ``tau_pre``), and the write and the ERN integral use the tag. :math:`\tau_e` can differ per
projection (``rule.tau_e_hidden``).

**The simulated ERN.** The ``ern`` group holds :math:`E_d, E_r`; its onset spike sets them,
and every presynaptic group integrates :math:`a_i = \int x_i\,\varepsilon\,dt` exactly over
each step (both factors decay exponentially while the network is silent:
:math:`\int_t^{t+dt} x E_d = x E_d (1 - e^{-\lambda_d dt})/\lambda_d`,
:math:`\lambda_d = 1/\tau_e + 1/\tau_d`), after the tick's write and reset (order 20). On the
stream with windows longer than the interval, one slot per pending decision
(:mod:`~spikegate.backends.spiking.equations`, ``slot_*``): neuron *s* of the ERN group and an
integral per slot, each written at the end of its own window.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import brian2 as b2
import numpy as np
from brian2 import ms, second

from ...model import NetworkSpec
from . import equations as eq
from .schedule import COLUMNS


@dataclass
class SpikingNetwork:
    """The Brian2 objects of one classifier (see :func:`build_network`)."""

    clock: b2.Clock
    tick_clock: b2.Clock
    control: b2.NeuronGroup
    input: b2.NeuronGroup
    layers: list
    synapses: list
    feedback: list
    rivalry: b2.Synapses
    decision: b2.Synapses
    ern_group: b2.NeuronGroup | None = None
    monitor: "ErrorMonitorCircuit | None" = None
    reductions: list = field(default_factory=list)
    operations: list = field(default_factory=list)
    control_monitor: b2.StateMonitor | None = None
    count_monitor: b2.StateMonitor | None = None

    @property
    def output(self) -> b2.NeuronGroup:
        return self.layers[-1]

    @property
    def presynaptic(self) -> list:
        return [self.input] + self.layers[:-1]

    @property
    def objects(self) -> list:
        """Every Brian2 object, for a ``Network``."""
        extra = [self.ern_group] if self.ern_group is not None else []
        extra += self.monitor.objects if self.monitor is not None else []
        return ([self.control, self.input] + self.layers + extra + self.synapses + [self.rivalry, self.decision]
                + self.feedback + self.reductions + self.operations + [self.control_monitor, self.count_monitor])

    def by_key(self) -> dict:
        """Objects by their role (``control``, ``input``, ``hidden0``, ``output``, ``ern``, ``w0``,
        ``feedback0``, ``control_monitor``, ...): the keys of :func:`constants`."""
        out = {"control": self.control, "input": self.input, "control_monitor": self.control_monitor,
               "count_monitor": self.count_monitor}
        out.update({layer_key(k, len(self.layers)): g for k, g in enumerate(self.layers)})
        out.update({f"w{k}": s for k, s in enumerate(self.synapses)})
        out.update({f"feedback{k}": s for k, s in enumerate(self.feedback)})
        if self.ern_group is not None:
            out["ern"] = self.ern_group
        if self.monitor is not None:
            out.update(label_source=self.monitor.label_source, relay=self.monitor.relay, monitor=self.monitor.group)
        return out


@dataclass
class ErrorMonitorCircuit:
    """The spiking ERN's groups (:mod:`spikegate.model.error_monitor`): the label as spikes, the
    relays and the monitor population, with their synapses and operations."""

    label_source: b2.NeuronGroup
    relay: b2.NeuronGroup
    group: b2.NeuronGroup
    synapses: list
    operations: list = field(default_factory=list)

    @property
    def objects(self) -> list:
        return [self.label_source, self.relay, self.group] + self.synapses + self.operations


def layer_key(k: int, n_layers: int) -> str:
    return "output" if k == n_layers - 1 else f"hidden{k}"


class _Builder:
    """Creates the objects of :func:`build_network` in order (names fixed: Brian2's caches hit)."""

    def __init__(self, spec: NetworkSpec, name: str, namespace: dict):
        self.spec, self.name, self.namespace = spec, name, namespace
        self.quantized = spec.synapse.quantized
        if self.quantized:   # the dict itself: the classifier fills in its tables later
            namespace["bit_flips"] = eq.bit_flips_function()
        self.simulated = spec.ern.simulated
        self.boxcar = spec.rule.hidden_derivative == "boxcar"
        self.rise = spec.ern.rise > 0 * ms
        self.slots = spec.ern_slots       # > 1: ERN windows overlap on the stream (equations.slot_*)
        self.overlap = self.slots > 1
        self.pre_post = spec.rule.pre_post   # a tag per synapse (equations.tag_*)
        self.spiking = spec.ern.spiking      # the ERN of an error-monitoring population (equations, the spiking ERN)
        # two clocks only: Brian2's scheduler loops over clocks in Python at every step
        self.clock = b2.Clock(spec.dt, name=f"{name}_clock")
        self.tick_clock = b2.Clock(spec.t_stim, name=f"{name}_tick_clock")

    def group(self, n, model, name, **kw):
        return b2.NeuronGroup(n, model, name=f"{self.name}_{name}", clock=self.clock, namespace=self.namespace, **kw)

    def synapses(self, pre, post, name, model="", **kw):
        s = b2.Synapses(pre, post, model, name=f"{self.name}_{name}", clock=self.clock, namespace=self.namespace, **kw)
        s.connect()
        return s

    def tick(self, obj, code, order, name):
        """``code`` once per tick, in the ``start`` slot at ``order``."""
        return obj.run_regularly(code, clock=self.tick_clock, when="start", order=order, name=name)

    @staticmethod
    def link(group, source, *names):
        for var in names:
            setattr(group, var, b2.linked_var(source, var, index=np.zeros(len(group), dtype=int)))

    def slot_variables(self, presynaptic: bool, postsynaptic: bool) -> str:
        tag = eq.tag_group_variables(self.simulated, self.slots) if self.pre_post and presynaptic else ""
        if not self.overlap:
            return (eq.ERN_INTEGRAL_VARIABLES if self.simulated and presynaptic else "") + tag
        return eq.slot_layer_variables(self.slots, presynaptic, postsynaptic) + tag

    def groups(self):
        spec, neuron = self.spec, eq.neuron_model(self.spec.neuron)
        control = self.group(1, eq.control_variables(spec.n_projections)
                             + (eq.slot_control_variables(self.slots) if self.overlap else "")
                             + (eq.SPIKING_CONTROL_VARIABLES if self.spiking else ""), "control")
        inputs = self.group(spec.n_in, eq.INPUT_VARIABLES + self.slot_variables(True, False), "input",
                            threshold=eq.INPUT_THRESHOLD, reset=eq.INPUT_RESET, method="exact",
                            events={"eligible": eq.ELIGIBLE_EVENT})
        self.link(inputs, control, "post", "gate", "write_now")
        layers = []
        for k, size in enumerate(spec.layers[1:]):
            is_out = k == spec.n_projections - 1
            hidden = eq.HIDDEN_VARIABLES + (eq.BOXCAR_VARIABLES if self.boxcar else "")
            g = self.group(size, neuron["equations"] + (eq.OUTPUT_VARIABLES if is_out else hidden)
                           + self.slot_variables(not is_out, True),
                           "output" if is_out else f"hidden{k}", threshold=neuron["threshold"],
                           reset=neuron["reset"] + "\nn += 1\nx += 1", refractory="t_ref", method=neuron["method"],
                           events=None if is_out else {"eligible": eq.ELIGIBLE_EVENT})
            self.link(g, control, "gate", "drive", "valid", "write_now", "post")
            if is_out:
                g.lab = b2.linked_var(control, "label", index=np.zeros(size, dtype=int))
            layers.append(g)
        ern = None
        if self.simulated:
            ern = self.group(self.slots, eq.ern_variables(self.rise) + ("slot : 1 (linked)\n" if self.overlap else "")
                             + (eq.SPIKING_ERN_VARIABLES if self.spiking else ""), "ern", threshold=eq.ERN_THRESHOLD,
                             reset=eq.SPIKING_ERN_RESET if self.spiking else eq.ern_reset(self.rise), method="exact")
            self.link(ern, control, "drive", "valid", "learning", "post")
            if self.spiking:
                self.link(ern, control, "memgate")
            if not self.overlap:
                for g in [inputs] + layers[:-1]:
                    self.link(g, ern, "Ed", "Er", "ern_amp")
            else:
                self.link(ern, control, "slot")
                self.link(inputs, control, "valid")
                for g in [inputs] + layers:
                    self.link(g, control, "slot", "write_slot", "write_gate")
                for g in [inputs] + layers[:-1]:
                    for s in range(self.slots):
                        for var in ("Ed", "Er", "ern_amp"):
                            setattr(g, f"{var}_{s}", b2.linked_var(ern, var, index=np.full(len(g), s)))
        return control, inputs, layers, ern, neuron

    def network(self) -> SpikingNetwork:
        nm = self.name
        control, inputs, layers, ern, neuron = self.groups()
        pre_groups = [inputs] + layers[:-1]
        synapses = [self.plastic(pre, post, k) for k, (pre, post) in enumerate(zip(pre_groups, layers))]
        output = layers[-1]
        net = SpikingNetwork(self.clock, self.tick_clock, control, inputs, layers, synapses,
                             feedback=[self.synapses(output, hid, f"feedback{k}", eq.FEEDBACK_VARIABLES)
                                       for k, hid in enumerate(layers[:-1])],
                             rivalry=self.synapses(output, output, "rivalry"),
                             decision=self.synapses(output, control, "decision"), ern_group=ern)
        if self.spiking:
            net.monitor = self.error_monitor(net)
        net.operations = [inputs.run_regularly(eq.INPUT_DRAW, when="before_thresholds", name=f"{nm}_input_draw")]
        if self.boxcar:
            net.operations += [g.run_regularly(eq.BOXCAR_STEP, when="after_thresholds", name=f"{g.name}_boxcar")
                               for g in layers[:-1]]
        net.operations += self.decision_chain(net)
        net.operations += self.ledger(net)
        net.operations += self.loader(net, neuron)
        if self.simulated and not self.pre_post:
            step = eq.slot_integral_step(self.slots) if self.overlap else eq.ERN_INTEGRAL
            net.operations += [g.run_regularly(step, when="start", order=20, name=f"{g.name}_op_ern_integral")
                               for g in net.presynaptic]
        if self.simulated and self.pre_post:        # the integral is the synapses' own
            factor = eq.tag_slot_ern_step(self.slots) if self.overlap else eq.TAG_ERN_STEP
            step = eq.tag_slot_integral_step(self.slots) if self.overlap else eq.TAG_INTEGRAL
            net.operations += [g.run_regularly(factor, when="start", order=19, name=f"{g.name}_op_ern_factor")
                               for g in net.presynaptic]
            net.operations += [w.run_regularly(step, when="start", order=21, name=f"{w.name}_op_ern_integral")
                               for w in net.synapses]
        return net

    def error_monitor(self, net: SpikingNetwork) -> ErrorMonitorCircuit:
        """The spiking ERN's circuit (:mod:`spikegate.model.error_monitor`): the label source fires for
        the label class during the stimulus; relay ``c`` passes output ``c``'s spikes while label ``c``
        fires; monitor neurons of class ``c`` integrate output ``c``'s spikes minus the relays' (and label
        ``c``'s spikes: an omission) after the delay; their spikes raise the ERN and count towards the gate."""
        spec, nm, output = self.spec, self.name, net.output
        n_out, per_class = spec.n_out, spec.error_monitor.neurons_per_class
        source = self.group(n_out, eq.LABEL_SOURCE_VARIABLES, "label_source", threshold=eq.LABEL_SOURCE_THRESHOLD)
        self.link(source, net.control, "valid")
        source.label = b2.linked_var(net.control, "label", index=np.zeros(n_out, dtype=int))
        relay = self.group(n_out, eq.RELAY_VARIABLES, "relay", threshold=eq.RELAY_THRESHOLD, reset=eq.RELAY_RESET,
                           method="exact")
        monitor = self.group(n_out * per_class, eq.MONITOR_VARIABLES, "monitor", threshold=eq.MONITOR_THRESHOLD,
                             reset=eq.MONITOR_RESET, method="euler")
        self.link(monitor, net.control, "post", "valid")
        self.link(relay, net.control, "post")
        monitor.monitored = np.repeat(np.arange(n_out), per_class)
        one_to_one = dict(i=np.arange(n_out), j=np.arange(n_out))
        delay = spec.error_monitor.delay
        by_class = dict(i=np.repeat(np.arange(n_out), per_class), j=np.arange(n_out * per_class))
        wiring = [  # (pre, post, name, on_pre, connection, delay)
            (source, relay, "label_relay", eq.LABEL_TO_RELAY, one_to_one, 0 * ms),
            (output, relay, "output_relay", eq.OUTPUT_TO_RELAY, one_to_one, 0 * ms),
            # one step more: a relay spikes the step after the output spike it passes
            (output, monitor, "output_monitor", eq.OUTPUT_TO_MONITOR, by_class, delay + spec.dt),
            (source, monitor, "label_monitor", eq.LABEL_TO_MONITOR, by_class, delay + spec.dt),
            (relay, monitor, "relay_monitor", eq.RELAY_TO_MONITOR, None, delay),
            (monitor, net.ern_group, "monitor_ern", eq.monitor_to_ern(self.rise), None, 0 * ms),
            (monitor, net.control, "monitor_count", eq.MONITOR_TO_CONTROL, None, 0 * ms)]
        synapses = []
        for pre, post, name, code, connection, lag in wiring:
            syn = b2.Synapses(pre, post, on_pre=code, delay=lag, name=f"{nm}_{name}", clock=self.clock,
                              namespace=self.namespace)
            syn.connect(**(connection or {}))
            synapses.append(syn)
        release = self.tick(monitor, eq.MONITOR_RELEASE, 5, f"{nm}_monitor_op_release")
        return ErrorMonitorCircuit(source, relay, monitor, synapses, [release])

    def plastic(self, pre, post, k: int) -> b2.Synapses:
        """Projection ``k``: spikes through the ``pre`` pathway; stochastic rounding's draw and the
        gated write through the ``round_draw`` and ``update`` pathways, run by the presynaptic
        ``eligible`` event in the tick's ``start`` slot (orders 9 and 10, after its detection at 8)."""
        on_pre = {"pre": eq.on_pre(k == 0)}
        if self.quantized and self.spec.synapse.rounding == "stochastic":
            on_pre["round_draw"] = eq.DRAW_ROUNDING
        on_pre["update"] = eq.write_code(self.simulated, self.spec.alpha, self.quantized, self.spec.synapse.rounding,
                                         self.overlap, self.pre_post)
        model = eq.synapse_variables(self.simulated, self.quantized)
        extra = {}
        if self.pre_post:
            model += eq.tag_variables(self.simulated, self.slots)
            extra = {"on_post": eq.TAG_ON_POST, "method": "exact"}
        s = self.synapses(pre, post, f"w{k}", model, on_pre=on_pre,
                          on_event={p: "spike" if p == "pre" else "eligible" for p in on_pre},
                          delay={p: 0 * ms for p in on_pre}, **extra)
        for order, pathway in enumerate(("round_draw", "update"), start=9):
            if pathway in on_pre:
                getattr(s, pathway).when, getattr(s, pathway).order = "start", order
        return s

    def eligible_events(self, net: SpikingNetwork) -> list:
        """Mark the eligible presynaptic neurons at a write tick (order 7); detect their event at 8
        and clear the mark at 10 (the detection runs on the simulation clock: a mark left set
        would fire at every step)."""
        ops = []
        for g in net.presynaptic:
            if self.pre_post:
                mark = eq.TAG_SLOT_MARK if self.overlap else eq.TAG_MARK
            else:
                mark = eq.SLOT_MARK if self.overlap else eq.mark_eligible(self.simulated)
            ops.append(self.tick(g, mark, 7, f"{g.name}_op_mark"))
            g.set_event_schedule("eligible", when="start", order=8)
            g.run_on_event("eligible", eq.CLEAR_ELIGIBLE, when="start", order=10)
        return ops

    def decision_chain(self, net: SpikingNetwork) -> list:
        """Decide, learning signals and the gated write, at each tick (orders 0-10)."""
        nm = self.name
        ops = [self.tick(net.control, eq.ZERO_CONTROL, 0, f"{nm}_op_zero")]
        ops += [self.tick(g, eq.zero_layer(g is net.output), 0, f"{g.name}_op_zero") for g in net.layers]
        ops.append(self.tick(net.decision, eq.LABEL_COUNT, 1, f"{nm}_op_label_count"))
        ops.append(self.tick(net.rivalry, eq.RIVAL_CODE[0], 2, f"{nm}_op_rivalry"))
        ops.append(self.tick(net.decision, eq.RIVAL_CODE[1], 3, f"{nm}_op_rivals"))
        slots = eq.slot_gates(self.slots) if self.overlap else eq.SPIKING_GATE if self.spiking else ""
        ops.append(self.tick(net.control, eq.DECISION_CODE + ("\n" + slots if slots else ""), 4, f"{nm}_op_gate"))
        if self.simulated:
            onset = eq.SLOT_ERN_ONSET if self.overlap else eq.SPIKING_ERN_ONSET if self.spiking else eq.ERN_ONSET
            ops.append(self.tick(net.ern_group, onset, 5, f"{nm}_op_ern_onset"))
        factor = eq.SLOT_WRITE_FACTOR if self.overlap else eq.write_factor(self.simulated)
        ops += [self.tick(g, factor, 5, f"{g.name}_op_gate") for g in net.layers]
        ops.append(self.tick(net.output, eq.OUTPUT_ERROR, 5, f"{nm}_op_error"))
        if self.overlap:
            ops.append(self.tick(net.output, eq.slot_signals(self.slots), 6, f"{nm}_op_slot_signals"))
            if not self.pre_post:           # with tags the integrals are the synapses'
                ops += [self.tick(g, eq.slot_integrals(self.slots), 6, f"{g.name}_op_slot_integrals")
                        for g in net.presynaptic]
            elif self.simulated:
                ops += [self.tick(g, eq.TAG_SLOT_ROW, 5, f"{g.name}_op_tag_slots") for g in net.presynaptic]
                ops += [self.tick(w, eq.tag_slot_integrals(self.slots), 6, f"{w.name}_op_slot_integrals")
                        for w in net.synapses]
        for fb, hid in zip(net.feedback, net.layers[:-1]):
            ops.append(self.tick(fb, eq.FEEDBACK, 6, f"{fb.name}_op"))
            error = eq.hidden_error(self.spec.rule.hidden_derivative)
            ops.append(self.tick(hid, error + ("\n" + eq.slot_signals(self.slots) if self.overlap else ""), 7,
                                 f"{hid.name}_op_error"))
        return ops + self.eligible_events(net)

    def ledger(self, net: SpikingNetwork) -> list:
        """Per-tick write counts, sums and spikes reduced into the control group (order 11),
        recorded by monitors at order 12."""
        nm, P = self.name, self.spec.n_projections
        ops = [self.tick(net.control, eq.zero_ledger(P), 0, f"{nm}_op_zero_ledger")]
        for k, (pre, post) in enumerate(zip(net.presynaptic, net.layers)):
            red_post = self.synapses(post, net.control, f"ledger{k}")
            red_pre = self.synapses(pre, net.control, f"spikes{k}")
            net.reductions += [red_post, red_pre]
            writes, spikes = eq.ledger_sums(k)
            ops.append(self.tick(red_post, writes, 11, f"{red_post.name}_op"))
            ops.append(self.tick(red_pre, spikes, 11, f"{red_pre.name}_op"))
        net.control_monitor = b2.StateMonitor(net.control, eq.recorded(P, self.spiking), record=0, when="start",
                                              order=12, clock=self.tick_clock, name=f"{nm}_control_monitor")
        net.count_monitor = b2.StateMonitor(net.output, "n", record=True, when="start", order=12,
                                            clock=self.tick_clock, name=f"{nm}_count_monitor")
        return ops

    def loader(self, net: SpikingNetwork, neuron: dict) -> list:
        """Load the next row into the control group (order 13), then reset membranes and counts
        (order 14); traces (and the ERN integrals) are kept into a post-decision row, and on the
        stream everything but the counts and the ERN integrals is kept."""
        nm = self.name
        ops = [self.tick(net.control, eq.load_row(COLUMNS, self.spec.n_projections, self.overlap), 13,
                         f"{nm}_op_load"),
               self.tick(net.input, eq.load_input(COLUMNS["image"], self.simulated, self.spec.stream, self.overlap),
                         14, f"{nm}_input_op_load")]
        keep_integral = self.simulated and not self.overlap
        ops += [self.tick(g, eq.reset_layer(neuron["restart"], keep_integral and g is not net.output,
                                            self.boxcar and g is not net.output, self.spec.stream), 14,
                          f"{g.name}_op_reset")
                for g in net.layers]
        if keep_integral:
            ops.append(self.tick(net.ern_group, eq.ERN_RESET_ROW, 14, f"{nm}_ern_op_reset"))
        if self.spiking:
            circuit = net.monitor
            ops.append(self.tick(circuit.label_source, eq.LABEL_SOURCE_LOAD, 14, f"{nm}_label_source_op_load"))
            if not self.spec.stream:
                ops += [self.tick(circuit.group, eq.MONITOR_RESET_ROW, 14, f"{nm}_monitor_op_reset"),
                        self.tick(circuit.relay, eq.RELAY_RESET_ROW, 14, f"{nm}_relay_op_reset")]
        if self.pre_post:
            reset = ([] if self.spec.stream else [eq.TAG_RESET]) + ([eq.TAG_INTEGRAL_RESET] if keep_integral else [])
            if reset:
                ops += [self.tick(g, eq.TAG_ROW, 15, f"{g.name}_op_tag_row") for g in net.presynaptic]
                ops += [self.tick(w, "\n".join(reset), 16, f"{w.name}_op_reset") for w in net.synapses]
        return ops


def build_network(spec: NetworkSpec, name: str, namespace: dict) -> SpikingNetwork:
    """Every Brian2 object of a classifier named ``name`` (object names ``{name}_...``); the
    objects resolve external names (the schedule's ``TimedArray`` s) in ``namespace``."""
    return _Builder(spec, name, namespace).network()


def initialize(net: SpikingNetwork, spec: NetworkSpec, seed: int) -> None:
    """Set the network's starting values: :func:`constants`, and the weights of :func:`initial_weights`."""
    objects = net.by_key()
    for (key, var), value in constants(spec).items():
        setattr(objects[key], var, value)
    W, B = initial_weights(spec, seed)
    for s, w in zip(net.synapses, W):
        s.w = w.ravel()         # all-to-all synapses are i-major
    for fb, b in zip(net.feedback, B):
        fb.B = b.ravel()


def initial_weights(spec: NetworkSpec, seed: int) -> tuple[list, list]:
    """Initial weights ``W[k]`` (shape ``(n_pre, n_post)``, Gaussian with standard deviation
    ``init_gain[k] / sqrt(n_pre)``, clipped to ``w_max``, stored: rounded to the nearest code of
    finite-precision synapses) and fixed feedback weights ``B[k]`` (shape ``(n_out, n_hidden_k)``),
    drawn in this order from ``seed``."""
    rng = np.random.default_rng(seed)
    W = []
    for k in range(spec.n_projections):
        n_pre, n_post = spec.layers[k], spec.layers[k + 1]
        w0 = rng.normal(0.0, spec.init_gain[k] / math.sqrt(n_pre), size=(n_pre, n_post))
        W.append(stored_weights(spec, np.clip(w0, -spec.rule.w_max, spec.rule.w_max)))
    B = [rng.normal(0.0, spec.rule.feedback_scale / math.sqrt(spec.n_out), size=(spec.n_out, n_post))
         for n_post in spec.layers[1:-1]]
    return W, B


def stored_weights(spec: NetworkSpec, W) -> np.ndarray:
    """What synapses store for weights ``W``: the weights themselves (float), or the nearest code's
    weights (finite precision, :func:`spikegate.model.synapse.stored`)."""
    from ...model.synapse import stored

    return stored(np.asarray(W, dtype=float), spec.synapse, spec.synapse.range_for(spec.rule.w_max))


def learning_rate_constants(spec: NetworkSpec, scale: float = 1.0) -> dict:
    """Each projection's learning rate times ``scale`` (a schedule's factor), by ``(object key,
    variable)``: :math:`\\eta` with a simulated ERN, :math:`\\eta_\\mathrm{eff} = \\eta W` in closed form."""
    simulated = spec.ern.simulated
    rates = spec.learning_rates() if simulated else spec.effective_learning_rates()
    return {(f"w{k}", "eta" if simulated else "eta_eff"): rate * scale for k, rate in enumerate(rates)}


def constants(spec: NetworkSpec) -> dict:
    """Every value the network's code reads but does not change, by ``(object key, variable)``
    (:meth:`SpikingNetwork.by_key`): neuron constants, traces, rates, learning rates, the ERN.
    None of them is compiled in: the compiled engine passes them as run arguments."""
    neuron = eq.neuron_model(spec.neuron)
    layers = [layer_key(k, spec.n_projections) for k in range(spec.n_projections)]
    taus = spec.rule.eligibility_time_constants(spec.n_projections)
    # the groups' trace x: the eligibility of the projections it feeds, or the pre-post rule's tau_pre
    traces = [spec.rule.tau_pre] * (spec.n_projections + 1) if spec.rule.pre_post else taus + [spec.rule.tau_e]
    out = {("input", "nu_max"): spec.input.nu_max, ("input", "tau_e"): traces[0],
           ("output", "n_target"): float(spec.rule.nu_target * spec.t_stim), ("control", "learning"): 1.0}
    for k, key in enumerate(layers):
        out[(key, "tau_e")] = traces[k + 1]
        out.update({(key, name): value for name, value in {**neuron["constants"], **neuron["initial"]}.items()})
    if spec.rule.pre_post:
        out.update({(f"w{k}", "tau_tag"): tau for k, tau in enumerate(taus)})
    ern = spec.ern
    fmt = spec.synapse
    out.update(learning_rate_constants(spec))
    if spec.rule.hidden_derivative == "boxcar":
        for key in layers[:-1]:
            out.update({(key, "boxcar_width"): spec.rule.boxcar_width, (key, "boxcar_norm"): float(spec.dt / spec.t_stim)})
    for k in range(spec.n_projections):
        out.update({(f"w{k}", "w_max"): spec.rule.w_max, (f"w{k}", "alpha"): spec.alpha,
                    (f"w{k}", "w_scale"): spec.w_scale})
        if fmt.quantized:
            out.update({(f"w{k}", "w_step"): fmt.step(fmt.range_for(spec.rule.w_max)),
                        (f"w{k}", "code_half"): fmt.half()})
    if ern.spiking:
        out.update(_monitor_constants(spec))
    if ern.simulated:
        rise = ern.rise if ern.rise > 0 * ms else ern.tau
        out.update({("ern", "latency"): ern.latency, ("ern", "tau"): ern.tau, ("ern", "rise"): rise,
                    ("ern", "scale"): ern.amplitude / ern.peak(), ("ern", "t_on"): 1e9 * second})
        for k, key in enumerate(["input"] + layers[:-1]):
            # the eligibility the ERN multiplies: the group's trace, or its synapses' tags
            cd, cr = _step_integrals(spec, taus[k])
            out.update({(key, "ern_scale"): ern.amplitude / ern.peak(), (key, "ern_cd"): cd, (key, "ern_cr"): cr})
    return out


#: The relays' membrane: a pass-through that holds one output spike for the threshold of the next step.
RELAY_TAU = 2 * ms


def _monitor_constants(spec: NetworkSpec) -> dict:
    """The error-monitoring population's constants (:class:`~spikegate.model.ErrorMonitor`)."""
    mon = spec.error_monitor
    per_spike = 1.0 / mon.neurons_per_class
    out = {("label_source", "nu_label"): mon.nu_label, ("relay", "tau_label"): mon.tau_label,
           ("relay", "tau_relay"): RELAY_TAU, ("control", "gate_spikes"): float(mon.gate_spikes),
           ("control", "per_spike"): per_spike, ("ern", "per_spike"): per_spike}
    out.update({("monitor", name): getattr(mon, name) for name in
                ("tau_m", "v_rest", "v_reset", "v_threshold", "sigma", "w_rival", "w_label", "w_veto", "w_omission")})
    out[("monitor", "v")] = mon.v_rest
    out[("monitor", "release")] = mon.delay + spec.dt      # the window's last spikes have arrived
    out[("monitor", "t_release")] = 1e9 * second            # no release before the first decision
    return out


def _step_integrals(spec: NetworkSpec, tau_e) -> tuple:
    """The exact integral over one step of an eligibility (time constant ``tau_e``) times each of the
    ERN's exponentials, per unit start value."""
    ern = spec.ern
    lam_d = 1 / tau_e + 1 / ern.tau
    lam_r = 1 / tau_e + 1 / ern.rise if ern.rise > 0 * ms else None
    cd = -np.expm1(-float(lam_d * spec.dt)) / lam_d
    cr = -np.expm1(-float(lam_r * spec.dt)) / lam_r if lam_r is not None else 0 * second
    return cd, cr
