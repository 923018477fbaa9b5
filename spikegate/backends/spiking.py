r"""The spiking backend: error-gated three-factor plasticity in a feed-forward Brian2 network.

The declarations of :mod:`spikegate.model` (:class:`~spikegate.model.NetworkSpec`,
:class:`~spikegate.model.LIF`, :class:`~spikegate.model.ThreeFactorRule`,
:class:`~spikegate.model.ERNSignal`, the gates) describe the model; :class:`GatedClassifier`
builds it as Brian2 objects that can run on their own or inside a user's ``brian2.Network``.

**Input.** Pixel :math:`x_i \in [0, 1]` fires as a Poisson process of rate
:math:`x_i \nu_\mathrm{max}`: every time step draws a Poisson count
:math:`k_i \sim \mathrm{Poisson}(x_i \nu_\mathrm{max}\, dt)`, so the spike counts of a window
are Poisson whatever ``dt`` is; :math:`k_i` spikes add :math:`k_i w` to the synaptic
current and :math:`k_i` to the trace.

**Time.** A presentation is a stimulus window :math:`T_\mathrm{stim}` followed by the silent
post-decision interval :math:`T_\mathrm{post}` (``ern.window``) over which the ERN is
integrated (:mod:`spikegate.model.plasticity`). The schedule is a ``TimedArray`` with one
row per tick of a clock of period :math:`T_\mathrm{stim}`: one stimulus row per presentation
and, when the interval is simulated, :math:`T_\mathrm{post}/T_\mathrm{stim}` silent rows after
it (with the closed form the interval is integrated analytically and not simulated).

At each tick :math:`t_d` a chain of code-generated ``run_regularly`` operations, all in
the ``start`` slot of one time step, does (orders in parentheses):

1. **decide** (0-4): the largest rival count :math:`n_r` by two reductions over the output
   neurons (:data:`spikegate.model.gates.RIVAL_CODE`), then the margin, the mistake, the
   ERN drive :math:`D` and the gate (:data:`spikegate.model.gates.DECISION_CODE`, the
   decision of :func:`spikegate.model.gates.gate_decision`);
2. **learning signals** (5-7): output :math:`L_j = y_j - n_j / (\nu_\mathrm{target} T_\mathrm{stim})`;
   hidden :math:`L_k = [n_k > 0] \sum_j B_{kj} L_j` (fixed random feedback :math:`B`);
   held until the write;
3. **write** (8) at the end of the post-decision interval (the same tick with the closed form):
   :math:`w_{ij} \leftarrow \mathrm{clip}(w_{ij} + G\,\eta\,L_j\,a_i, \pm w_\mathrm{max})` with
   :math:`a_i = D\,W\,x_i(t_d)` (closed form) or the simulated :math:`a_i = \int x_i\,\varepsilon\,dt`,
   counting writes (:math:`\Delta w \ne 0`), :math:`\sum|\Delta w|`, :math:`\sum|\Delta w|^\alpha`
   (9), recorded by monitors (10);
4. **reset and load** (11): membranes, currents and counts are reset, the next row's
   stimulus, label and memory gate are read; traces are kept into a post-decision row and
   reset before the next stimulus.

The eligibility :math:`e_{ij}(t)` of synapse :math:`i \to j` is the presynaptic trace
:math:`x_i(t)` (:math:`dx_i/dt = -x_i/\tau_e`, +1 per spike) times the postsynaptic factor
in :math:`L_j`. Every synapse of neuron *i* sees the same spike train, so the trace is
stored once per presynaptic neuron: exact, and one update per spike instead of one per
synapse (the ledger still counts the per-synapse trace updates this stands for).

**The simulated ERN.** An ``ern`` group holds :math:`\varepsilon(t) = D A k(t - t_d - \Delta)`
as the state pair :math:`E_d, E_r` (:math:`k \propto E_d - E_r`), set at the onset by a spike
of the group itself; the onset spike also sets, in every presynaptic group, the products
:math:`p_d = x E_d` and :math:`p_r = x E_r`, which decay at :math:`1/\tau_e + 1/\tau_{d,r}`
while the network is silent, and :math:`da_i/dt = D A (p_d - p_r)/k_\mathrm{peak}`. All of it
is linear with constant coefficients and integrated exactly, so the simulated and the
closed-form updates agree to rounding.
"""
from __future__ import annotations

import gc
import math
import time

import numpy as np
import brian2 as b2
from brian2 import joule, ms, second, Quantity

from ..errors import DataError, ParameterError
from ..ledger import PresentationLog
from ..model import LIF, ERNSignal, Gate, MetabolicReserve, MistakeMemory, NetworkSpec, NeuronEquations
from ..model.code import IDENTIFIER
from .inputs import (check_images, check_labels, check_memgate, check_projection, check_samples, check_seed,
                     check_weights)
from ..model.gates import DECISION_CODE, RIVAL_CODE
from ..units import check_number
from .brian import check_neuron_model, codegen_target

# Columns of the schedule TimedArray: the row's image (in the chunk's pixel table), label and
# memory gate; whether the row is a presentation's stimulus (decided at its end), a silent
# post-decision row, and whether the write happens at its end; the sample (row of the image bank).
_IMAGE, _LABEL, _MEMGATE, _VALID, _POST, _WRITE, _SAMPLE = range(7)
_COLUMNS = 7

#: Presentations one ``run()`` can hold. The schedule and the pixel table have shapes fixed by
#: it (and the network), so the generated code depends neither on ``chunk`` nor on the image
#: bank: a network structure compiles once.
MAX_CHUNK = 1000

_LIF_EQS = """
dv/dt = (v_rest - v + I) / tau_m : volt (unless refractory)
dI/dt = -I / tau_syn : volt
tau_m : second (shared, constant)
tau_syn : second (shared, constant)
v_rest : volt (shared, constant)
v_reset : volt (shared, constant)
v_th : volt (shared, constant)
t_ref : second (shared, constant)
"""

#: spikegate's own variables of every neuron (LIF or NeuronEquations): see RESERVED_NAMES.
_NEURON_EQS = """
dx/dt = -x / tau_e : 1
n : 1
L : 1
gate : 1 (linked)
drive : 1 (linked)
valid : 1 (linked)
write_now : 1 (linked)
post : 1 (linked)
write_factor : 1
acc_writes : 1
acc_abs : 1
acc_alpha : 1
tau_e : second (shared, constant)
"""


def neuron_model(neuron: LIF | NeuronEquations) -> dict:
    """The NeuronGroup arguments of a neuron declaration, spikegate's variables included.

    Returns ``equations``, ``threshold``, ``reset``, ``method``, ``restart`` (the code that
    sets the state at each presentation's start) and ``constants`` (the shared constants'
    values, set after building).
    """
    if isinstance(neuron, LIF):
        return {"equations": _LIF_EQS + _NEURON_EQS, "threshold": "v > v_th", "reset": "v = v_reset",
                "method": "exact", "restart": "v = v_rest\nI = 0*volt\n",
                "constants": {"tau_m": neuron.tau_m, "tau_syn": neuron.tau_syn, "v_rest": neuron.v_rest,
                              "v_reset": neuron.v_reset, "v_th": neuron.v_threshold, "t_ref": neuron.refractory},
                "initial": {"v": neuron.v_rest}}
    check_neuron_model(neuron)
    initial = dict(neuron.initial)
    starts = {f"{n}_at_start": v for n, v in initial.items()}
    return {"equations": neuron.group_equations() + _NEURON_EQS, "threshold": neuron.threshold,
            "reset": neuron.reset, "method": neuron.method,
            "restart": "".join(f"{n} = {n}_at_start\n" for n in initial) + "I = 0*volt\n",
            "constants": {"tau_syn": neuron.tau_syn, "t_ref": neuron.refractory, **dict(neuron.parameters), **starts},
            "initial": initial}



#: The integral of the simulated post-decision interval, per presynaptic neuron (see _build_ern_integral).
_ERN_ACC_EQS = """
acc : second
Ed : 1 (linked)
Er : 1 (linked)
ern_amp : 1 (linked)
"""


#: Gate constants held by the control group (see spikegate.model.gates.DecisionConstants).
_GATE_CONSTANTS = ("gate_always", "graded", "margin_threshold", "kappa", "noise", "bias", "theta_write")


def gate_constants(gate: Gate) -> dict:
    """The control group's gate constants for ``gate`` (margins in spikes)."""
    c = gate.decision_constants(1.0)
    values = {"gate_always": c.always, "graded": c.graded, "margin_threshold": c.threshold, "kappa": c.kappa,
              "noise": c.noise, "bias": c.bias, "theta_write": c.theta_write}
    assert tuple(values) == _GATE_CONSTANTS
    return {k: float(v) for k, v in values.items()}


def power_code(name: str, alpha: float) -> str:
    """Brian2 code for ``name ** alpha``: ``sqrt`` and the identity for the common exponents.

    The write loop runs over every synapse once per presentation, and a general ``pow`` there
    cost 72 % of it (mnist-2layer, compiled engine: 0.51 s against 0.14 s with ``sqrt`` per 1,000
    presentations, ``benchmarks/throughput.py``'s network). ``alpha`` is part of the network
    declaration, so a compiled network is rebuilt when it changes.
    """
    if alpha == 1:
        return name
    if alpha == 0.5:
        return f"sqrt({name})"
    return f"{name} ** alpha"


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


def check_prefix(name) -> str:
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name) or len(name) > 64:
        raise ParameterError(f"GatedClassifier.name = {name!r}: expected an ASCII identifier of at most 64 "
                             f"characters (a prefix of Brian2 object names), e.g. 'sg'", "GatedClassifier.name")
    return name


class GatedClassifier:
    """Brian2 objects of a spiking classifier with error-gated three-factor plasticity.

    Parameters
    ----------
    spec : NetworkSpec
    gate : Gate
    images : array, shape (n_images, n_in), values in [0, 1]
        The image bank; presentations refer to rows of it.
    seed : int
        Seeds the initial and feedback weights (numpy) and, like ``brian2.seed(seed)`` at the
        end of construction, Brian2's random numbers (the input spike trains); Brian2 has one
        generator per process, so the last seed set before ``run()`` is the one in effect.
    chunk : int
        Presentations per ``run()`` call (fixed so the generated code never changes).
    name : str, optional
        Prefix of all Brian2 object names (stable names let Brian2 reuse compiled code).
        Default: ``"sg"``, or ``"sg2"``, ``"sg3"``, ... while classifiers with the earlier
        prefixes exist, so that several classifiers can share one ``Network``.

    Notes
    -----
    ``objects`` lists every Brian2 object; add them to your own ``Network`` with
    ``net.add(clf.objects)``, call :meth:`load_schedule` and run ``clf.duration(n)``.
    With ``spec.ern.integration = "simulated"``, ``clf.ern`` is the group holding the ERN
    (``ern``, a recordable subexpression) and the presynaptic groups hold the accumulated
    integral ``acc``; the eligibility trace is ``x`` of every presynaptic group.
    """

    def __init__(self, spec: NetworkSpec, gate: Gate, images, seed: int = 0, chunk: int = 1000,
                 name: str | None = None, reserve: MetabolicReserve | None = None):
        if not isinstance(spec, NetworkSpec):
            raise ParameterError(f"GatedClassifier.spec: expected a NetworkSpec, got {type(spec).__name__}")
        if not isinstance(gate, Gate):
            raise ParameterError(f"GatedClassifier.gate: expected a Gate, got {type(gate).__name__}")
        self.spec = spec
        self.gate = gate
        self.chunk = check_number("GatedClassifier.chunk", chunk, minimum=1, maximum=MAX_CHUNK, integer=True)
        self.name = free_prefix("sg") if name is None else check_prefix(name)
        self.seed = check_seed(seed, "GatedClassifier.seed")
        self.simulated = spec.ern.simulated
        #: silent post-decision rows per presentation (simulated interval; 0 with the closed form)
        self.post_rows = spec.post_rows if self.simulated else 0
        self.namespace = {}
        self._rng = np.random.default_rng(seed)
        images = self._checked_images(images)  # before building: no half-built objects on bad input
        self._build()
        self._install_images(images)
        self.set_gate(gate)
        self.set_reserve(MetabolicReserve() if reserve is None else reserve)
        self.load_schedule(np.zeros(0, dtype=int), np.zeros(0, dtype=int))
        b2.seed(self.seed)

    # ------------------------------------------------------------------ build
    def _build(self):
        spec, nm = self.spec, self.name
        # Two clocks only: Brian2's scheduler loops over clocks in Python at every step.
        self.clock = b2.Clock(spec.dt, name=f"{nm}_clock")
        self.tick_clock = b2.Clock(spec.t_stim, name=f"{nm}_tick_clock")
        self._build_groups()
        self._build_synapses()
        self.operations = (self._build_input_draws() + self._build_decision_chain() + self._build_ledger()
                           + self._build_loader() + self._build_ern_integral())
        self._init_state()

    def _group(self, n, model, name, **kw):
        return b2.NeuronGroup(n, model, name=f"{self.name}_{name}", clock=self.clock, namespace=self.namespace, **kw)

    def _synapses(self, pre, post, name, model="", **kw):
        s = b2.Synapses(pre, post, model, name=f"{self.name}_{name}", clock=self.clock, namespace=self.namespace, **kw)
        s.connect()
        return s

    def _tick(self, obj, code, order, name):
        """``code`` once per tick, in the ``start`` slot at ``order``."""
        return obj.run_regularly(code, clock=self.tick_clock, when="start", order=order, name=name)

    def _link(self, group, *names):
        for var in names:
            setattr(group, var, b2.linked_var(self.control, var, index=np.zeros(len(group), dtype=int)))

    def _build_groups(self):
        """The control group (decision and ledger sums), the Poisson input, the LIF layers
        and (simulated ERN) the ERN group."""
        spec = self.spec
        self.neuron = neuron_model(spec.neuron)
        self.rise = spec.ern.rise > 0 * ms
        acc = _ERN_ACC_EQS if self.simulated else ""
        self.control = self._group(1, """
            label : integer
            sample : integer
            valid : 1
            post : 1
            write_now : 1
            memgate : 1
            learning : 1
            rng_seed : integer
            n_label : 1
            n_top_sum : 1
            n_top : 1
            margin : 1
            mistake : 1
            gate : 1
            drive : 1
            t_start : second
            reserve : 1
            capacity : 1
            refill : 1
            j_per_write : 1
            """ + "".join(f"{c} : 1\n" for c in _GATE_CONSTANTS)
            + "".join(f"writes_{k} : 1\nabs_{k} : 1\nalpha_{k} : 1\nspikes_{k} : 1\n"
                      for k in range(spec.n_projections)), "control")
        self.input = self._group(spec.n_in, """
            rate : Hz
            dx/dt = -x / tau_e : 1
            n : 1
            k : 1
            nu_max : Hz (shared, constant)
            tau_e : second (shared, constant)
            t_start : second (shared)
            post : 1 (linked)
            """ + acc, "input", threshold="k > 0", reset="x += k\nn += k", method="exact")
        self._link(self.input, "post")
        self.layers = []
        for k, size in enumerate(spec.layers[1:]):
            is_out = k == spec.n_projections - 1
            eqs = self.neuron["equations"] + ("lab : integer (linked)\nn_target : 1 (shared)\nabove : 1\n"
                                              "is_label : 1\n" if is_out else "fb : 1\n" + acc)
            g = self._group(size, eqs, "output" if is_out else f"hidden{k}", threshold=self.neuron["threshold"],
                            reset=self.neuron["reset"] + "\nn += 1\nx += 1", refractory="t_ref",
                            method=self.neuron["method"])
            self._link(g, "gate", "drive", "valid", "write_now", "post")
            if is_out:
                g.lab = b2.linked_var(self.control, "label", index=np.zeros(size, dtype=int))
            self.layers.append(g)
        self.output = self.layers[-1]
        self.presynaptic = [self.input] + self.layers[:-1]
        if self.simulated:
            kernel = ("dEr/dt = -Er / tau_ern_r : 1\nern = ern_amp * ern_scale * (Ed - Er) : 1" if self.rise
                      else "Er : 1\nern = ern_amp * ern_scale * Ed : 1")
            self.ern = self._group(1, f"""
                dEd/dt = -Ed / tau_ern_d : 1
                {kernel}
                ern_amp : 1
                drive : 1 (linked)
                valid : 1 (linked)
                learning : 1 (linked)
                post : 1 (linked)
                t_on : second
                """, "ern", threshold="t >= t_on - 1.5 * dt",
                reset="Ed = 1\n" + ("Er = 1\n" if self.rise else "") + "t_on = 1e9 * second", method="exact")
            self._link(self.ern, "drive", "valid", "learning", "post")
            for g in self.presynaptic:
                for var in ("Ed", "Er", "ern_amp"):
                    setattr(g, var, b2.linked_var(self.ern, var, index=np.zeros(len(g), dtype=int)))

    def _build_synapses(self):
        """Plastic projections, the decision reductions, the fixed feedback pathway and (simulated
        ERN) the onset pathway into the presynaptic groups."""
        rate_unit = "hertz" if self.simulated else "1"  # eta (1/s) times the integral, or eta W (closed form)
        self.synapses = [self._synapses(pre, post, f"w{k}", f"""
                w : 1
                eta_w : {rate_unit} (shared)
                w_max : 1 (shared)
                alpha : 1 (shared)
                w_scale : volt (shared, constant)
                """, on_pre=f"I_post += w * w_scale{' * k_pre' if pre is self.input else ''}")
            for k, (pre, post) in enumerate(zip(self.presynaptic, self.layers))]
        self.rivalry = self._synapses(self.output, self.output, "rivalry")
        self.decision = self._synapses(self.output, self.control, "decision")
        # Feedback alignment: fixed random B from the output error to every hidden layer.
        self.feedback = [self._synapses(self.output, hid, f"feedback{k}", "B : 1")
                         for k, hid in enumerate(self.layers[:-1])]

    def _build_ern_integral(self) -> list:
        r"""Simulated ERN: every time step adds the exact integral of :math:`x_i(t)\,\varepsilon(t)` over the
        step to :math:`a_i`; both factors decay exponentially while the network is silent, so
        :math:`\int_t^{t+dt} x\,E_d = x E_d (1 - e^{-\lambda_d dt})/\lambda_d` with
        :math:`\lambda_d = 1/\tau_e + 1/\tau_d` (and the same for :math:`E_r`). It runs after the
        tick's write and reset (order 20), so the interval ends exactly at the write."""
        if not self.simulated:
            return []
        return [g.run_regularly("acc += x * ern_amp * ern_scale * (Ed * ern_cd - Er * ern_cr)", when="start",
                                order=20, name=f"{g.name}_op_ern_integral") for g in self.presynaptic]

    def _build_input_draws(self) -> list:
        """A Poisson count per input neuron and time step (before the threshold reads it)."""
        return [self.input.run_regularly("k = poisson(rate * dt)", when="before_thresholds",
                                         name=f"{self.name}_input_draw")]

    def _build_decision_chain(self) -> list:
        """Decide, learning signals and the gated write, at each tick (orders 0-8)."""
        nm = self.name
        ops = [self._tick(self.control, "n_label = 0\nn_top_sum = 0\nn_top = 0", 0, f"{nm}_op_zero")]
        for g in self.layers:
            # synapses cannot read linked variables of their source: the label is copied
            ops.append(self._tick(g, "acc_writes = 0\nacc_abs = 0\nacc_alpha = 0" +
                                  ("\nabove = 0\nis_label = int(i == lab)" if g is self.output else "\nfb = 0"),
                                  0, f"{g.name}_op_zero"))
        ops.append(self._tick(self.decision, "n_label_post += n_pre * int(i == label_post)", 1, f"{nm}_op_label_count"))
        ops.append(self._tick(self.rivalry, RIVAL_CODE[0], 2, f"{nm}_op_rivalry"))
        ops.append(self._tick(self.decision, RIVAL_CODE[1], 3, f"{nm}_op_rivals"))
        # an empty metabolic reserve keeps the gate of a scheduled presentation shut
        ops.append(self._tick(self.control, DECISION_CODE + "gate = gate * (1 - valid * int(not (reserve > 0)))",
                              4, f"{nm}_op_gate"))
        if self.simulated:
            ops.append(self._tick(self.ern, "on = valid * learning\nt_on = on * (t + ern_latency) + (1 - on) * t_on\n"
                                             "ern_amp = on * drive + (1 - on) * ern_amp",
                                  5, f"{nm}_op_ern_onset"))
        # synapses cannot read linked variables of their target: the factor of the write is copied
        factor = "write_now * gate" + ("" if self.simulated else " * drive")
        for g in self.layers:
            ops.append(self._tick(g, f"write_factor = {factor}", 5, f"{g.name}_op_gate"))
        ops.append(self._tick(self.output, "L = valid * (int(i == lab) - n / n_target) + (1 - valid) * L",
                              5, f"{nm}_op_error"))
        for fb, hid in zip(self.feedback, self.layers[:-1]):
            ops.append(self._tick(fb, "fb_post += B * L_pre", 6, f"{fb.name}_op"))
            ops.append(self._tick(hid, "L = valid * fb * int(n > 0) + (1 - valid) * L", 7, f"{hid.name}_op_error"))
        eligibility = "acc_pre" if self.simulated else "x_pre"
        for s in self.synapses:
            ops.append(self._tick(s, f"w_new = clip(w + write_factor_post * eta_w * L_post * {eligibility}, -w_max, w_max)\n"
                                     "dw_abs = abs(w_new - w)\n"
                                     "acc_writes_post += int(dw_abs > 0)\n"
                                     "acc_abs_post += dw_abs\n"
                                     f"acc_alpha_post += {power_code('dw_abs', self.spec.alpha)}\n"
                                     "w = w_new", 8, f"{s.name}_op_write"))
        return ops

    def _build_ledger(self) -> list:
        """Per-tick write counts, sums and spikes reduced into the control group (order 9),
        recorded by monitors at order 10."""
        spec, nm = self.spec, self.name
        P = spec.n_projections
        ops = [self._tick(self.control, "".join(f"writes_{k} = 0\nabs_{k} = 0\nalpha_{k} = 0\nspikes_{k} = 0\n"
                                                for k in range(P)), 0, f"{nm}_op_zero_ledger")]
        self.ledger_sums = []
        for k, (pre, post) in enumerate(zip(self.presynaptic, self.layers)):
            red_post = self._synapses(post, self.control, f"ledger{k}")
            red_pre = self._synapses(pre, self.control, f"spikes{k}")
            self.ledger_sums.append((red_post, red_pre))
            ops.append(self._tick(red_post, f"writes_{k}_post += acc_writes_pre\nabs_{k}_post += acc_abs_pre\n"
                                            f"alpha_{k}_post += acc_alpha_pre", 9, f"{red_post.name}_op"))
            ops.append(self._tick(red_pre, f"spikes_{k}_post += n_pre", 9, f"{red_pre.name}_op"))
        rec = ["valid", "post", "sample", "label", "mistake", "gate", "drive", "margin"] + [
            f"{v}_{k}" for k in range(P) for v in ("writes", "abs", "alpha", "spikes")]
        self.control_monitor = b2.StateMonitor(self.control, rec, record=0, when="start", order=10,
                                               clock=self.tick_clock, name=f"{nm}_control_monitor")
        self.count_monitor = b2.StateMonitor(self.output, "n", record=True, when="start", order=10,
                                             clock=self.tick_clock, name=f"{nm}_count_monitor")
        return ops

    def _build_loader(self) -> list:
        """Load the next row into the control group (order 11), then reset membranes and counts
        (order 12). Traces (and the ERN integrals) are kept into a post-decision row and reset
        before a stimulus."""
        nm = self.name
        row = "schedule(t - t_start, {})"
        writes = " + ".join(f"writes_{k}" for k in range(self.spec.n_projections))
        # the writes of the tick just ended draw on the reserve; a finished training presentation refills it
        reserve = (f"reserve_new = reserve - j_per_write * ({writes}) + refill * write_now * learning\n"
                   "reserve = clip(reserve_new, reserve_new, capacity)\n")
        ops = [self._tick(self.control, reserve + f"label = int({row.format(_LABEL)} + 0.5)\n"
                                        f"sample = int({row.format(_SAMPLE)} + 0.5)\n"
                                        f"memgate = {row.format(_MEMGATE)}\n"
                                        f"valid = {row.format(_VALID)}\n"
                                        f"post = {row.format(_POST)}\n"
                                        f"write_now = {row.format(_WRITE)}", 11, f"{nm}_op_load")]
        keep = "keep = int(post > 0.5)\n"
        ern_reset = "\nacc = acc * keep" if self.simulated else ""
        ops.append(self._tick(self.input, f"{keep}rate = nu_max * pixels(int({row.format(_IMAGE)} + 0.5) * second, i)\n"
                                          f"x = x * keep\nn = 0{ern_reset}", 12, f"{nm}_input_op_load"))
        for g in self.layers:
            reset = ern_reset if g is not self.output else ""
            ops.append(self._tick(g, f"{keep}{self.neuron['restart']}x = x * keep\nn = 0\n"
                                     f"lastspike = -1e4*second{reset}", 12, f"{g.name}_op_reset"))
        if self.simulated:
            ops.append(self._tick(self.ern, f"{keep}Ed = Ed * keep\nEr = Er * keep", 12, f"{nm}_ern_op_reset"))
        return ops

    def _init_state(self):
        spec, rng = self.spec, self._rng
        self.input.nu_max = spec.input.nu_max
        self.input.tau_e = spec.rule.tau_e
        for g in self.layers:
            g.tau_e = spec.rule.tau_e
            for name, value in {**self.neuron["constants"], **self.neuron["initial"]}.items():
                setattr(g, name, value)
        self.output.n_target = float(spec.rule.nu_target * spec.t_stim)
        ern = spec.ern
        # closed form: the integral over the silent interval per unit eligibility (times the drive)
        rates = spec.learning_rates() if self.simulated else spec.effective_learning_rates()
        for k, (s, eta_w) in enumerate(zip(self.synapses, rates)):
            n_pre, n_post = spec.layers[k], spec.layers[k + 1]
            w0 = rng.normal(0.0, spec.init_gain[k] / math.sqrt(n_pre), size=(n_pre, n_post))
            s.w = np.clip(w0, -spec.rule.w_max, spec.rule.w_max).ravel()  # all-to-all synapses are i-major
            s.eta_w = eta_w
            s.w_max = spec.rule.w_max
            s.alpha = spec.alpha
            s.w_scale = spec.w_scale
        for fb in self.feedback:
            n_post = len(fb.target)
            B = rng.normal(0.0, spec.rule.feedback_scale / math.sqrt(spec.n_out), size=(spec.n_out, n_post))
            fb.B = B.ravel()
        self.control.learning = 1
        lam_d = 1 / spec.rule.tau_e + 1 / ern.tau
        lam_r = 1 / spec.rule.tau_e + 1 / ern.rise if ern.rise > 0 * ms else None
        self.namespace.update({
            "ern_latency": ern.latency,
            "ern_scale": ern.amplitude / ern.peak(),
            "tau_ern_d": ern.tau,
            "tau_ern_r": ern.rise if ern.rise > 0 * ms else ern.tau,
            # the exact integral over one step of a product decaying at lambda, per unit start value
            "ern_cd": -np.expm1(-float(lam_d * spec.dt)) / lam_d,
            "ern_cr": -np.expm1(-float(lam_r * spec.dt)) / lam_r if lam_r is not None else 0 * second,
        })
        if self.simulated:
            self.ern.t_on = 1e9 * second

    # ----------------------------------------------------------------- public
    @property
    def objects(self) -> list:
        """All Brian2 objects (groups, synapses, operations, monitors)."""
        extra = [self.ern] if self.simulated else []
        return ([self.control, self.input] + self.layers + extra + self.synapses + [self.rivalry, self.decision]
                + self.feedback + [s for pair in self.ledger_sums for s in pair] + self.operations
                + [self.control_monitor, self.count_monitor])

    def prepare(self) -> float:
        """Generate and compile the code of every object now (the first ``run`` would); seconds taken.

        Compiled code is cached (``~/.cython/brian_extensions``): only the first network of a
        structure compiles, later ones load it.
        """
        t0 = time.perf_counter()
        if not getattr(self, "_prepared", False):
            self.network.run(0 * second, namespace={})  # code generation and compilation, no time step
            self._prepared = True
        return time.perf_counter() - t0

    @property
    def network(self) -> b2.Network:
        """A ``brian2.Network`` holding :attr:`objects` (created once)."""
        if not hasattr(self, "_network"):
            self._network = b2.Network(self.objects, name=f"{self.name}_network")
        return self._network

    def weights(self, k: int) -> np.ndarray:
        """Weight matrix of projection ``k``, shape ``(n_pre, n_post)`` (a copy).

        ``connect()`` creates all-to-all synapses in i-major order, so ``w`` is the matrix
        row by row (a test checks it against the synapse indices)."""
        k = check_projection(k, self.spec.n_projections)
        return np.array(self.synapses[k].w[:], dtype=float).reshape(self.spec.layers[k], self.spec.layers[k + 1])

    def set_weights(self, k: int, W) -> None:
        k = check_projection(k, self.spec.n_projections)
        self.synapses[k].w = self._checked_weights(k, W).ravel()

    def _checked_weights(self, k: int, W) -> np.ndarray:
        k = check_projection(k, self.spec.n_projections)
        return check_weights(k, W, (self.spec.layers[k], self.spec.layers[k + 1]))

    def set_gate(self, gate: Gate) -> None:
        """Change the gate without rebuilding (its constants are state variables)."""
        if not isinstance(gate, Gate):
            raise ParameterError(f"gate: expected a Gate, got {type(gate).__name__}")
        self.gate = gate
        for name, value in gate_constants(gate).items():
            setattr(self.control, name, value)

    def set_reserve(self, reserve: MetabolicReserve) -> None:
        """Set the metabolic reserve (full, or at its ``initial`` value) and its constants."""
        if not isinstance(reserve, MetabolicReserve):
            raise ParameterError(f"reserve: expected a MetabolicReserve, got {type(reserve).__name__}")
        self.reserve = reserve
        c = self.control
        # in joules, as numbers (Brian2's code has no unit names in this namespace)
        c.reserve, c.capacity, c.refill, c.j_per_write = (float(q / joule) for q in (
            reserve.start, reserve.capacity, reserve.refill, reserve.j_per_write))

    @property
    def reserve_left(self) -> Quantity:
        """The reserve now (joules)."""
        return float(self.control.reserve[0]) * joule

    def set_images(self, images) -> None:
        """Replace the image bank (any number of images: the network only sees a chunk's)."""
        self._install_images(self._checked_images(images))

    def _install_images(self, images: np.ndarray) -> None:
        self.images = images
        self.n_images = len(images)

    def _checked_images(self, images) -> np.ndarray:
        return check_images(images, self.spec.n_in)

    def rows_per_presentation(self, learn: bool = True) -> int:
        """Ticks a presentation takes: its stimulus, and the simulated silent interval while learning."""
        return 1 + (self.post_rows if learn else 0)

    def load_schedule(self, samples, labels, memgate=None, learn: bool = True) -> None:
        """Schedule ``len(samples) <= chunk`` presentations from the next tick on.

        After them, one idle row (blank input, no decision) closes the last presentation.
        """
        schedule, pixels = self.schedule_tables(samples, labels, memgate, learn)
        self._loaded_at = self._clock_time()
        self.namespace["schedule"] = b2.TimedArray(schedule, dt=self.spec.t_stim, name=f"{self.name}_schedule")
        self.namespace["pixels"] = b2.TimedArray(pixels, dt=1 * second, name=f"{self.name}_pixels")

    def schedule_tables(self, samples, labels, memgate=None, learn: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The schedule (one row per tick) and the pixel table (one row per presentation, then a
        blank row) of ``samples``; their shapes do not depend on them."""
        samples = check_samples(samples, self.n_images)
        n = len(samples)
        if n > self.chunk:
            raise ParameterError(f"load_schedule: {n} presentations, at most chunk = {self.chunk}")
        labels = check_labels(labels, n, self.spec.n_out)
        memgate = check_memgate(memgate, n)
        r = self.rows_per_presentation(learn)
        table = np.zeros((MAX_CHUNK * self.rows_per_presentation() + 1, _COLUMNS))
        table[:, _IMAGE] = MAX_CHUNK                    # the blank row of the pixel table
        stim = np.arange(n) * r
        table[stim, _IMAGE] = np.arange(n)
        table[stim, _SAMPLE] = samples
        table[stim, _MEMGATE] = memgate
        table[stim, _VALID] = 1
        for p in range(r):
            table[stim + p, _LABEL] = labels
            table[stim + p, _POST] = p > 0
        table[stim + r - 1, _WRITE] = 1
        pixels = np.zeros((MAX_CHUNK + 1, self.spec.n_in))
        pixels[:n] = self.images[samples]
        self._scheduled = n
        self._rows = r
        return table, pixels

    def duration(self, n: int | None = None) -> Quantity:
        """Simulated time for ``n`` scheduled presentations plus the closing idle row."""
        n = self._scheduled if n is None else n
        return (n * self._rows + 1) * self.spec.t_stim

    def present(self, samples, labels, memgate=None, learn: bool = True, progress=None) -> PresentationLog:
        """Present ``samples`` (rows of the image bank) in order, in chunks of ``self.chunk``.

        Each chunk is one ``run()`` of the classifier's own network; decisions, gating and
        writes happen in generated code. ``memgate``: the memory gate of each presentation
        (0/1; default 0). ``progress`` (optional) is called with the number of presentations
        finished after each chunk.
        """
        return self._present_in(self.network, samples, labels, memgate, learn, progress)

    def run(self, net: b2.Network, samples, labels, memory: MistakeMemory | None = None, learn: bool = True,
            progress=None) -> PresentationLog:
        """Present ``samples`` in your own ``net`` (which holds :attr:`objects` and, say, your monitors).

        Chunk by chunk: loads the schedule, aligns it to ``net.t`` and calls ``net.run`` with
        an explicit empty run namespace, so variables of your script (``n``, ``w``, ``x``...)
        neither shadow nor warn. ``memory`` (a :class:`MistakeMemory` indexed by image-bank
        row) drives the memory gates of ``memorized``/``trace`` and is updated with the
        presentations' mistakes; each sample at most once per call.
        """
        samples = check_samples(samples, self.n_images)
        if memory is not None and not isinstance(memory, MistakeMemory):
            raise ParameterError(f"GatedClassifier.run: memory must be a MistakeMemory, got {type(memory).__name__}")
        missing = [obj.name for obj in self.objects if obj not in net.objects]
        if missing:
            raise ParameterError(f"GatedClassifier.run: the network lacks {len(missing)} of the classifier's "
                                 f"objects (e.g. {missing[0]!r}); build it with b2.Network(clf.objects, ...)")
        memgate = memory.gate(samples) if memory is not None else None
        log = self._present_in(net, samples, labels, memgate, learn, progress)
        if memory is not None and learn:
            memory.update(samples, log.mistake)
        return log

    def _present_in(self, net, samples, labels, memgate, learn, progress) -> PresentationLog:
        samples = check_samples(samples, self.n_images)
        labels = check_labels(labels, len(samples), self.spec.n_out)
        memgate = check_memgate(memgate, len(samples))
        self.control.learning = 1 if learn else 0
        start_rec = len(self.control_monitor.t)
        t0 = time.perf_counter()
        for a in range(0, len(samples), self.chunk):
            b = min(a + self.chunk, len(samples))
            self.load_schedule(samples[a:b], labels[a:b], memgate[a:b], learn=learn)
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

        The network time must be a tick (a multiple of ``t_stim``), as it is after runs of
        :meth:`duration`.
        """
        t = net.t
        slots = float(t / self.spec.t_stim)
        if abs(slots - round(slots)) > 1e-6:
            raise ParameterError(f"align: network time {t} is not a multiple of t_stim = {self.spec.t_stim}")
        self.control.t_start = t
        self.input.t_start = t

    def _clock_time(self) -> float | None:
        """The classifier clock's time in seconds (None where the device cannot read it, e.g. standalone)."""
        try:
            return float(self.clock.variables["t"].get_value().item())
        except NotImplementedError:
            return None

    def last_presentations(self, n: int) -> PresentationLog:
        """Decisions and ledger entries of the last ``n`` presentations (e.g. after your own ``run``)."""
        if n and self._clock_time() is not None and self._clock_time() == getattr(self, "_loaded_at", None):
            raise ParameterError("last_presentations: the classifier's objects were not simulated since "
                                 "load_schedule; Brian2's magic run() does not see objects held by a "
                                 "GatedClassifier: use net = b2.Network(clf.objects, ...) and net.run(), "
                                 "or clf.run(net, samples, labels)")
        return self._collect(0, n, float("nan"), last=True)

    def _collect(self, start_rec, n, wall, last=False):
        """The log of ``n`` presentations: decisions from their decision ticks, writes from their write ticks."""
        mon, spec = self.control_monitor, self.spec
        valid = mon.variables["valid"].get_value()[start_rec:, 0] > 0.5
        idx = np.flatnonzero(valid) + start_rec
        if last:
            idx = idx[len(idx) - n:] if n else idx[:0]
        if len(idx) != n:
            raise ParameterError(f"recorded {len(idx)} decisions, asked for {n} presentations")
        post = mon.variables["post"].get_value()[:, 0] > 0.5
        # the write tick of a presentation ends its last silent row (or its stimulus row)
        widx = idx.copy()
        while True:
            more = (widx + 1 < len(post)) & post[np.minimum(widx + 1, len(post) - 1)]
            if not more.any():
                break
            widx = widx + more
        P = spec.n_projections
        get = lambda name, rows: mon.variables[name].get_value()[rows, 0]  # noqa: E731
        writes = np.stack([get(f"writes_{k}", widx) for k in range(P)], axis=1)
        sabs = np.stack([get(f"abs_{k}", widx) for k in range(P)], axis=1)
        salpha = np.stack([get(f"alpha_{k}", widx) for k in range(P)], axis=1)
        spikes = np.stack([get(f"spikes_{k}", idx) for k in range(P)], axis=1)
        fan_out = np.array(spec.layers[1:], dtype=float)
        counts = self.count_monitor.variables["n"].get_value()[idx, :].astype(np.int64)
        return PresentationLog(
            samples=get("sample", idx).astype(np.int64),
            labels=get("label", idx).astype(np.int64),
            counts=counts,
            activity=np.concatenate([np.rint(spikes).astype(np.int64), counts.sum(axis=1, keepdims=True)], axis=1),
            mistake=get("mistake", idx) > 0.5,
            gate_open=get("gate", idx) > 0.5,
            writes=np.rint(writes).astype(np.int64),
            sum_abs_dw=sabs,
            sum_abs_dw_alpha=salpha,
            trace_updates=(spikes * fan_out).astype(np.int64),
            wall_seconds=wall,
            drive=get("drive", idx),
        )


def integrate_ern_update(ern: ERNSignal, eta, tau_e, eligibility_at_decision, learning_signal,
                         window, dt=0.01 * ms, target="numpy", drive: float = 1.0):
    r"""Explicitly integrate :math:`\eta L \int e(t)\varepsilon(t)dt` with Brian2 (a reference).

    One synapse per entry of ``eligibility_at_decision``; the decision is at ``t = 0``.
    The eligibility and the ERN's two exponentials are integrated as differential
    equations with exact (exponential) updates, the accumulated product with the forward
    Euler rule (error of order :math:`dt/\tau`).

    Returns
    -------
    numpy.ndarray
        The accumulated weight changes after ``window``.
    """
    e0 = np.asarray(eligibility_at_decision, dtype=float)
    L = np.broadcast_to(np.asarray(learning_signal, dtype=float), e0.shape)
    tau_e_val = tau_e if not math.isinf(float(tau_e / second)) else 1e30 * second
    rise = ern.rise if ern.rise > 0 * ms else ern.tau
    ns = {"tau_e": tau_e_val, "tau_d": ern.tau, "tau_r": rise, "scale": drive * ern.amplitude / ern.peak(),
          "lat": ern.latency, "eta": eta, "has_rise": float(ern.rise > 0 * ms)}
    group = b2.NeuronGroup(len(e0), """
        delig/dt = -elig/tau_e : 1
        dEd/dt = -Ed/tau_d : 1
        dEr/dt = -Er/tau_r : 1
        dacc/dt = eta * L * elig * scale * (Ed - has_rise * Er) : 1
        L : 1
        raised : boolean
        """, method="euler", namespace=ns, dt=dt, name="spikegate_ern_reference")
    group.run_regularly("on = t >= lat and not raised\n"
                        "Ed = int(on) + int(not on) * Ed\n"
                        "Er = int(on) + int(not on) * Er\n"
                        "raised = raised or t >= lat", dt=dt, when="start", name="spikegate_ern_reference_rise")
    group.elig = e0
    group.L = L
    net = b2.Network(group)
    with codegen_target(target):
        net.run(window)
    return np.array(group.acc[:])
