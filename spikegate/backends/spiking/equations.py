r"""The spiking network in Brian2's language: equations, and the code of each operation.

Every piece of Brian2 text spikegate writes lives here, so the names it gives its variables
are in one place: :func:`reserved_names` derives from these strings the names a user's
neuron model (:class:`~spikegate.model.NeuronEquations`) must not use. Where Brian2 allows,
a variable has the name of the declaration field it holds (``tau_m``, ``v_threshold``,
``tau_e``, the ERN group's ``latency``, ``tau`` and ``rise``); ``refractory`` is Brian2's own
keyword, so the refractory period is ``t_ref``.

**A tick.** At each tick :math:`t_d` (a clock of period :math:`T_\mathrm{stim}`) a chain of
code-generated operations, all in the ``start`` slot of one time step, does (orders in
parentheses):

1. **decide** (0-4): the largest rival count :math:`n_r` by two reductions over the output
   neurons (:data:`RIVAL_CODE`), then the margin, the mistake, the ERN drive :math:`D` and
   the gate (:data:`DECISION_CODE`, the decision of :func:`spikegate.model.gate_decision`);
2. **learning signals** (5-7): output :math:`L_j = y_j - n_j / (\nu_\mathrm{target} T_\mathrm{stim})`;
   hidden :math:`L_k = f'_k \sum_j B_{kj} L_j` (fixed random feedback :math:`B`; :math:`f'_k = [n_k > 0]`,
   or the boxcar surrogate :data:`BOXCAR_STEP`);
3. **write** (7-10) at the end of the post-decision interval (the same tick with the closed form):
   :math:`w_{ij} \leftarrow \mathrm{clip}(w_{ij} + G\,\eta\,L_j\,a_i, \pm w_\mathrm{max})`,
   counting writes (:math:`\Delta w \ne 0`), :math:`\sum|\Delta w|`, :math:`\sum|\Delta w|^\alpha`
   (11), recorded by monitors (12). The write is event-driven: an open gate marks the
   presynaptic neurons with a non-zero eligibility (7, :func:`mark_eligible`), and their
   ``eligible`` event (8) runs stochastic rounding's draw (9) and the write (10) on their
   synapses only (and clears the mark): a synapse of a silent neuron has :math:`\Delta w = 0`
   and is skipped;
4. **load and reset** (13-14): the next row's stimulus, label and memory gate are read;
   counts are reset; membranes and currents are reset, traces kept into a post-decision row
   and reset before the next stimulus; on the continuous stream (``stimulus_mode = "stream"``)
   membranes, currents, traces and refractoriness are never reset.

On the stream an ERN window can outlast the interval: then each pending decision has a slot
(:func:`slot_control_variables`) that holds its gate, ERN, learning signals and integral from
its decision (which starts them) to its write (which reads them), while later decisions use
other slots.
"""
from __future__ import annotations

from brian2.utils.stringtools import get_identifiers

from ...model import LIF, Gate, NeuronEquations
from ...model.specs import MAX_ERN_SLOTS as MAX_SLOTS

#: Leaky integrate-and-fire, in the names of :class:`~spikegate.model.LIF`'s fields.
LIF_EQUATIONS = """
dv/dt = (v_rest - v + I) / tau_m : volt (unless refractory)
dI/dt = -I / tau_syn : volt
tau_m : second (shared, constant)
tau_syn : second (shared, constant)
v_rest : volt (shared, constant)
v_reset : volt (shared, constant)
v_threshold : volt (shared, constant)
t_ref : second (shared, constant)
"""

#: spikegate's own variables of every neuron of a layer (LIF or a user's equations).
NEURON_VARIABLES = """
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
acc_bits : 1
acc_abs : 1
acc_alpha : 1
tau_e : second (shared, constant)
"""
OUTPUT_VARIABLES = "lab : integer (linked)\nn_target : 1 (shared)\nabove : 1\nis_label : 1\n"
HIDDEN_VARIABLES = "fb : 1\nwrite_pending : 1\n"

#: The simulated ERN's integral, per presynaptic neuron (see :func:`ern_integral_code`).
ERN_INTEGRAL_VARIABLES = """
acc : second
Ed : 1 (linked)
Er : 1 (linked)
ern_amp : 1 (linked)
ern_scale : 1 (shared, constant)
ern_cd : second (shared, constant)
ern_cr : second (shared, constant)
"""

INPUT_VARIABLES = """
rate : Hz
dx/dt = -x / tau_e : 1
n : 1
k : 1
nu_max : Hz (shared, constant)
tau_e : second (shared, constant)
t_start : second (shared)
post : 1 (linked)
gate : 1 (linked)
write_now : 1 (linked)
write_pending : 1
"""

#: Gate constants held by the control group (see :meth:`spikegate.model.Gate.decision_constants`).
GATE_CONSTANTS = ("gate_always", "graded", "margin_threshold", "half_snr", "snr_width", "bias", "theta_write",
                  "error_driven")


def control_variables(n_projections: int) -> str:
    """The control group: the loaded row, the decision, the reserve, the gate constants and the
    per-tick ledger sums of each projection."""
    return ("""
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
""" + "".join(f"{c} : 1\n" for c in GATE_CONSTANTS)
        + "".join(f"writes_{k} : 1\nbits_{k} : 1\nabs_{k} : 1\nalpha_{k} : 1\nspikes_{k} : 1\n"
                  for k in range(n_projections)))


def ern_variables(rise: bool) -> str:
    r"""The ERN group: :math:`\varepsilon = D\,A\,k(t - t_d - \Delta)` as the state pair
    :math:`E_d, E_r`, set at the onset by a spike of the group itself."""
    kernel = "dEr/dt = -Er / rise : 1\nern = ern_amp * scale * (Ed - Er) : 1" if rise \
        else "Er : 1\nern = ern_amp * scale * Ed : 1"
    return f"""
dEd/dt = -Ed / tau : 1
{kernel}
ern_amp : 1
drive : 1 (linked)
valid : 1 (linked)
learning : 1 (linked)
post : 1 (linked)
t_on : second
latency : second (shared, constant)
tau : second (shared, constant)
rise : second (shared, constant)
scale : 1 (shared, constant)
"""


ERN_THRESHOLD = "t >= t_on - 1.5 * dt"


def ern_reset(rise: bool) -> str:
    return "Ed = 1\n" + ("Er = 1\n" if rise else "") + "t_on = 1e9 * second"


def ern_step(suffix: str = "") -> str:
    """The ERN's exact integral over one step against an eligibility of unit start value, per slot
    ``suffix`` (``ern_cd``, ``ern_cr``: the step integrals of the eligibility's decay times each exponential)."""
    return f"ern_amp{suffix} * ern_scale * (Ed{suffix} * ern_cd - Er{suffix} * ern_cr)"


#: The pre-post eligibility (``rule.eligibility = "pre_post"``): a tag per synapse, decaying with the
#: projection's ``tau_e`` (``tau_tag`` here: an unsuffixed ``tau_e`` in synaptic code would be the
#: target's), raised by the presynaptic trace at each postsynaptic spike. Synaptic code cannot
#: read linked variables of its groups, so each presynaptic group copies what the synapses need
#: (:func:`tag_group_variables`): whether the row is a post-decision row, the ERN's step factor,
#: and with slots the deciding and the writing slot.
def tag_variables(simulated: bool, slots: int = 1) -> str:
    text = "dtag/dt = -tag / tau_tag : 1 (clock-driven)\ntau_tag : second (shared, constant)\n"
    if simulated:
        text += "acc_tag : second\n" if slots == 1 else "acc_tag_w : second\n" + "".join(
            f"acc_tag_{s} : second\n" for s in range(slots))
    return text


def tag_group_variables(simulated: bool, slots: int = 1) -> str:
    text = "post_row : 1\n"
    if simulated:
        text += "ern_now : second\n" if slots == 1 else "deciding : 1\nwriting : 1\n" + "".join(
            f"ern_now_{s} : second\n" for s in range(slots))
    return text


TAG_ON_POST = "tag += x_pre"
TAG_ROW = "post_row = int(post > 0.5)"
#: On the reset schedule the tag restarts with the traces (kept into a post-decision row).
TAG_RESET = "tag = tag * post_row_pre"
TAG_INTEGRAL_RESET = "acc_tag = acc_tag * post_row_pre"
#: Per step, in the presynaptic group (the tag's step integrals ``ern_cd``, ``ern_cr``) and the synapses.
TAG_ERN_STEP = f"ern_now = {ern_step()}"
TAG_INTEGRAL = "acc_tag += tag * ern_now_pre"


def tag_slot_ern_step(slots: int) -> str:
    return "\n".join(f"ern_now_{s} = {ern_step(f'_{s}')}" for s in range(slots))


def tag_slot_integral_step(slots: int) -> str:
    return "\n".join(f"acc_tag_{s} += tag * ern_now_{s}_pre" for s in range(slots))


TAG_SLOT_ROW = "deciding = valid * (slot + 1) - 1\nwriting = write_slot"


def tag_slot_integrals(slots: int) -> str:
    """The writing slot's per-synapse integral; the deciding slot's starts again."""
    select = " + ".join(f"acc_tag_{s} * int(writing_pre == {s})" for s in range(slots))
    return f"acc_tag_w = {select}\n" + "\n".join(
        f"acc_tag_{s} = acc_tag_{s} * int(deciding_pre != {s})" for s in range(slots))


def synapse_variables(simulated: bool, quantized: bool = False) -> str:
    """A plastic projection: the weight and the constants of its write. ``eta`` (1/s) multiplies
    the simulated integral; ``eta_eff`` (dimensionless, :math:`\\eta W`) the eligibility at the
    decision (closed form). Finite-precision synapses add the code grid: the step
    :math:`\\delta` and the code of weight zero, :math:`2^{b-1}` (run-time values)."""
    rate = "eta : hertz (shared)" if simulated else "eta_eff : 1 (shared)"
    # u_round: the uniform draw of stochastic rounding (DRAW_ROUNDING)
    grid = "w_step : 1 (shared)\ncode_half : 1 (shared)\nu_round : 1\n" if quantized else ""
    return f"""
w : 1
{rate}
w_max : 1 (shared)
alpha : 1 (shared)
w_scale : volt (shared, constant)
{grid}"""


def on_pre(from_input: bool) -> str:
    """A presynaptic spike (k spikes of a Poisson input in one step) adds ``w * w_scale`` each."""
    return "I_post += w * w_scale" + (" * k_pre" if from_input else "")


FEEDBACK_VARIABLES = "B : 1"
INPUT_THRESHOLD, INPUT_RESET = "k > 0", "x += k\nn += k"
INPUT_DRAW = "k = poisson(rate * dt)"

#: :func:`spikegate.model.gate_decision` for integer spike counts, part 1: the largest count
#: among the rivals of the label, by two reductions: an all-to-all pathway among the output
#: neurons counts, for each neuron, the rivals strictly above it (``above``), and a pathway
#: from the outputs into the control group sums the counts of the rivals with none above
#: them (all equal) and their number.
RIVAL_CODE = ("above_post += int(i != j and is_label_pre == 0 and n_pre > n_post)",
              "n_top_sum_post += n_pre * int(i != label_post and above_pre == 0)\n"
              "n_top_post += int(i != label_post and above_pre == 0)")
#: Part 2, in the control group: the decision of a scheduled presentation (``valid``) while
#: learning (``learning``); the gate and the drive are held between decisions, so that a
#: write at the end of a simulated post-decision interval reads the decision before it. An
#: empty metabolic reserve keeps the gate of a scheduled presentation shut.
DECISION_CODE = """
n_rival = n_top_sum / n_top
margin = n_label - n_rival
sigma = sqrt(n_label + n_rival + 1)
mistake = valid * int(not (margin > 0))
crn = graded / (bias * (1 + exp((margin / sigma - half_snr) / snr_width)))
amplitude = error_driven * (int(not (margin > 0)) + int(margin > 0) * (crn + (1 - graded) * int(not (margin > margin_threshold))))
drive_new = 1 - (1 - amplitude) * (1 - memgate)
gate = valid * learning * int(gate_always > 0 or drive_new >= theta_write) + (1 - valid) * gate
drive = valid * (gate_always + (1 - gate_always) * drive_new) + (1 - valid) * drive
gate = gate * (1 - valid * int(not (reserve > 0)))"""

LABEL_COUNT = "n_label_post += n_pre * int(i == label_post)"
ZERO_CONTROL = "n_label = 0\nn_top_sum = 0\nn_top = 0"
ERN_ONSET = ("on = valid * learning\nt_on = on * (t + latency) + (1 - on) * t_on\n"
             "ern_amp = on * drive + (1 - on) * ern_amp")
OUTPUT_ERROR = "L = valid * (int(i == lab) - n / n_target) + (1 - valid) * L"
FEEDBACK = "fb_post += B * L_pre"
HIDDEN_ERROR = "L = valid * fb * int(n > 0) + (1 - valid) * L"
#: The boxcar surrogate (``rule.hidden_derivative = "boxcar"``): ``near`` counts the window's steps
#: with the membrane within ``boxcar_width`` of threshold or above it; ``boxcar_norm`` is dt / t_stim.
BOXCAR_VARIABLES = "near : 1\nboxcar_width : volt (shared, constant)\nboxcar_norm : 1 (shared, constant)\n"
BOXCAR_STEP = "near += int(v > v_threshold - boxcar_width)"
BOXCAR_ERROR = "L = valid * fb * near * boxcar_norm + (1 - valid) * L"


def hidden_error(derivative: str) -> str:
    """A hidden layer's learning signal :math:`L_k = f'_k \\sum_j B_{kj} L_j` with the rule's factor."""
    return BOXCAR_ERROR if derivative == "boxcar" else HIDDEN_ERROR
ERN_INTEGRAL = f"acc += x * {ern_step()}"


def zero_layer(is_output: bool) -> str:
    return "acc_writes = 0\nacc_bits = 0\nacc_abs = 0\nacc_alpha = 0" + ("\nabove = 0\nis_label = int(i == lab)" if is_output
                                                           else "\nfb = 0")


def write_factor(simulated: bool) -> str:
    """Synapses cannot read linked variables of their target: the factor of the write is copied."""
    return "write_factor = write_now * gate" + ("" if simulated else " * drive")


def power_code(name: str, alpha: float) -> str:
    """Brian2 code for ``name ** alpha``: ``sqrt`` and the identity for the common exponents.

    The write loop runs over every synapse once per presentation, and a general ``pow`` there
    cost 72 % of it (mnist-2layer, compiled engine: 0.51 s against 0.14 s with ``sqrt`` per 1,000
    presentations, ``benchmarks/throughput.py``'s network). ``alpha`` is part of the network's
    structure, so a compiled network is rebuilt when it changes.
    """
    if alpha == 1:
        return name
    if alpha == 0.5:
        return f"sqrt({name})"
    return f"{name} ** alpha"


def write_code(simulated: bool, alpha: float, quantized: bool = False, rounding: str = "nearest",
               slots: bool = False, pre_post: bool = False) -> str:
    """The gated write of a projection and its ledger sums, in one pass over the synapses.

    Float synapses: a write is :math:`\\Delta w \\ne 0`. Finite-precision synapses
    (:mod:`spikegate.model.synapse`): the proposed change is rounded onto the code grid in code
    units (a change of exactly 0 keeps the code whatever the rounding), a write is a change of
    code, and :func:`bit_flips` counts the bits it flips. With ``slots`` the write reads the
    writing slot's signal and integral (:func:`slot_signals`, :func:`slot_integrals`)."""
    eligibility, rate = ("acc_pre", "eta") if simulated else ("x_pre", "eta_eff")
    signal = "L_post"
    if slots:
        eligibility, signal = "acc_w_pre", "L_w_post"
    if pre_post:        # the synapse's own tag, or its integral with the ERN
        eligibility = ("acc_tag_w" if slots else "acc_tag") if simulated else "tag"
    dw = f"write_factor_post * {rate} * {signal} * {eligibility}"
    if not quantized:
        head = (f"w_new = clip(w + {dw}, -w_max, w_max)\n"
                "dw_abs = abs(w_new - w)\n"
                "acc_writes_post += int(dw_abs > 0)\n")
    else:
        offset = "u_round" if rounding == "stochastic" else "0.5"
        head = ("code_old = floor(w / w_step + code_half + 0.5)\n"
                f"code_new = clip(floor(code_old + ({dw}) / w_step + {offset}), 0, 2 * code_half - 1)\n"
                "w_new = (code_new - code_half) * w_step\n"
                "dw_abs = abs(w_new - w)\n"
                "acc_writes_post += int(code_new != code_old)\n"
                "acc_bits_post += bit_flips(code_old, code_new)\n")
    return head + ("acc_abs_post += dw_abs\n"
                   f"acc_alpha_post += {power_code('dw_abs', alpha)}\n"
                   "w = w_new")


_BIT_FLIPS_CPP = """
static inline double bit_flips(double a, double b)
{
    return (double)__builtin_popcountll(((unsigned long long)(long long)a) ^ ((unsigned long long)(long long)b));
}
"""
_BIT_FLIPS_CYTHON = """
cdef double bit_flips(double a, double b):
    cdef unsigned long long x = (<unsigned long long>(<long long>a)) ^ (<unsigned long long>(<long long>b))
    cdef int count = 0
    while x:
        x &= x - 1
        count += 1
    return count
"""


def bit_flips_function():
    """``bit_flips(a, b)``: the Hamming distance of two codes held as floats, for every target
    (numpy: :func:`spikegate.model.synapse.bit_flips`; Cython and C++: a popcount)."""
    from brian2 import check_units, implementation

    from ...model.synapse import bit_flips as hamming

    @implementation("cpp", _BIT_FLIPS_CPP)
    @implementation("cython", _BIT_FLIPS_CYTHON)
    @check_units(a=1, b=1, result=1)
    def bit_flips(a, b):
        return hamming(a, b).astype(float)

    return bit_flips


#: Stochastic rounding's uniform draw, one per synapse, before the write (a pathway of its own:
#: Brian2 cannot prove a random draw next to the ledger's reductions order-independent).
DRAW_ROUNDING = "u_round = rand()"

#: The write is event-driven: at a write tick with the gate open, a presynaptic neuron with a
#: non-zero eligibility raises its ``eligible`` event, which runs the draw and the write on its
#: synapses only (the others would get :math:`\Delta w = 0`: on MNIST about 4 in 5 input pixels are
#: blank); the event clears the mark.
ELIGIBLE_EVENT = "write_pending > 0"
CLEAR_ELIGIBLE = "write_pending = 0"


def mark_eligible(simulated: bool) -> str:
    return f"write_pending = write_now * gate * int({'acc != 0*second' if simulated else 'x != 0'})"


def slot_control_variables(slots: int) -> str:
    """The control group's slot state (:attr:`~spikegate.model.NetworkSpec.ern_slots` > 1).

    On the stream an ERN window may outlast the interval: each pending decision holds its gate
    (here), its ERN (neuron ``s`` of the ERN group), its learning signals ``L_s`` (each layer)
    and its eligibility integral ``acc_s`` (each presynaptic group) in slot ``s`` until its
    write, which reads the writing slot's copies ``write_gate``, ``L_w`` and ``acc_w``. A
    deciding slot starts its integral and its ERN from zero.
    """
    return "slot : 1\nwrite_slot : 1\nwrite_gate : 1\n" + "".join(f"gate_{s} : 1\n" for s in range(slots))


def slot_layer_variables(slots: int, presynaptic: bool, postsynaptic: bool) -> str:
    """A layer's slot state: the learning signals of a postsynaptic layer, the ERN integrals of a
    presynaptic one (with the linked ERN of each slot); the input links ``valid`` too."""
    text = "slot : 1 (linked)\nwrite_slot : 1 (linked)\nwrite_gate : 1 (linked)\n"
    if presynaptic and not postsynaptic:
        text += "valid : 1 (linked)\n"
    if postsynaptic:
        text += "L_w : 1\n" + "".join(f"L_{s} : 1\n" for s in range(slots))
    if presynaptic:
        text += ("acc_w : second\nern_scale : 1 (shared, constant)\nern_cd : second (shared, constant)\n"
                 "ern_cr : second (shared, constant)\n"
                 + "".join(f"acc_{s} : second\nEd_{s} : 1 (linked)\nEr_{s} : 1 (linked)\nern_amp_{s} : 1 (linked)\n"
                           for s in range(slots)))
    return text


def _select(name: str, slots: int) -> str:
    return " + ".join(f"{name}_{s} * int(write_slot == {s})" for s in range(slots))


def _keep_and_select(name: str, slots: int, selected: str) -> str:
    """The deciding slot keeps the fresh ``name``; ``selected`` is the writing slot's copy."""
    keep = "".join(f"{name}_{s} = valid * int(slot == {s}) * {name} + (1 - valid * int(slot == {s})) * {name}_{s}\n"
                   for s in range(slots))
    return keep + f"{selected} = {_select(name, slots)}"


def slot_gates(slots: int) -> str:
    """Appended to :data:`DECISION_CODE`: the deciding slot keeps the gate; the writing slot's gate."""
    return _keep_and_select("gate", slots, "write_gate")


def slot_signals(slots: int) -> str:
    """The deciding slot keeps the fresh learning signal ``L``; the writing slot's signal."""
    return _keep_and_select("L", slots, "L_w")


def slot_integrals(slots: int) -> str:
    """The writing slot's integral; the deciding slot's starts again."""
    return f"acc_w = {_select('acc', slots)}\n" + "\n".join(
        f"acc_{s} = acc_{s} * (1 - valid * int(slot == {s}))" for s in range(slots))


def slot_integral_step(slots: int) -> str:
    """:data:`ERN_INTEGRAL` for every slot."""
    return "\n".join(f"acc_{s} += x * {ern_step(f'_{s}')}" for s in range(slots))


#: The ERN group's onset with slots: neuron ``s`` is slot ``s``; a deciding slot's ERN starts from zero.
SLOT_ERN_ONSET = ("fresh = valid * int(i == slot)\non = fresh * learning\n"
                  "t_on = on * (t + latency) + (1 - on) * t_on\n"
                  "ern_amp = on * drive + (1 - on) * ern_amp\nEd = Ed * (1 - fresh)\nEr = Er * (1 - fresh)")
SLOT_WRITE_FACTOR = "write_factor = write_now * write_gate"
SLOT_MARK = "write_pending = write_now * write_gate * int(acc_w != 0*second)"
#: With a tag per synapse every presynaptic neuron's synapses are visited at a write.
TAG_MARK = "write_pending = write_now * gate"
TAG_SLOT_MARK = "write_pending = write_now * write_gate"


def zero_ledger(n_projections: int) -> str:
    return "".join(f"writes_{k} = 0\nbits_{k} = 0\nabs_{k} = 0\nalpha_{k} = 0\nspikes_{k} = 0\n"
                   for k in range(n_projections))


def ledger_sums(k: int) -> tuple[str, str]:
    """Writes and sums of projection ``k`` (from its postsynaptic layer), and the spikes of its
    presynaptic layer, reduced into the control group."""
    return (f"writes_{k}_post += acc_writes_pre\nbits_{k}_post += acc_bits_pre\nabs_{k}_post += acc_abs_pre\n"
            f"alpha_{k}_post += acc_alpha_pre",
            f"spikes_{k}_post += n_pre")


#: What the control monitor records at every tick (the read-out decodes presentations from it).
def recorded(n_projections: int, spiking_ern: bool = False) -> list[str]:
    return ["valid", "post", "write_now", "sample", "label", "mistake", "gate", "drive", "margin"] + [
        f"{v}_{k}" for k in range(n_projections) for v in ("writes", "bits", "abs", "alpha", "spikes")] + (
        ["reference_gate"] if spiking_ern else [])


def load_row(columns: dict, n_projections: int, slots: bool = False) -> str:
    """Load the next schedule row into the control group; the writes of the tick just ended draw on
    the reserve, and a finished training presentation refills it."""
    row = "schedule(t - t_start, {})"
    writes = " + ".join(f"writes_{k}" for k in range(n_projections))
    slot_rows = (f"\nslot = int({row.format(columns['slot'])} + 0.5)\n"
                 f"write_slot = int({row.format(columns['write_slot'])} + 0.5)") if slots else ""
    return (f"reserve_new = reserve - j_per_write * ({writes}) + refill * write_now * learning\n"
            "reserve = clip(reserve_new, reserve_new, capacity)\n"
            f"label = int({row.format(columns['label'])} + 0.5)\n"
            f"sample = int({row.format(columns['sample'])} + 0.5)\n"
            f"memgate = {row.format(columns['memgate'])}\n"
            f"valid = {row.format(columns['valid'])}\n"
            f"post = {row.format(columns['post'])}\n"
            f"write_now = {row.format(columns['write'])}" + slot_rows)


_KEEP = "keep = int(post > 0.5)\n"


def load_input(image_column: int, simulated: bool, stream: bool = False, slots: bool = False) -> str:
    """The next row's pixels as input rates; traces kept into a post-decision row, else reset
    (on the stream always kept); the ERN's integral kept into a post-decision row, else reset
    (with slots: started again by its slot's next decision, :func:`slot_integrals`)."""
    simulated = simulated and not slots
    keep = _KEEP if simulated or not stream else ""
    return (f"{keep}rate = nu_max * pixels(int(schedule(t - t_start, {image_column}) + 0.5) * second, i)\n"
            + ("" if stream else "x = x * keep\n") + "n = 0" + ("\nacc = acc * keep" if simulated else ""))


def reset_layer(restart: str, keep_integral: bool, boxcar: bool = False, stream: bool = False) -> str:
    """Counts start again at every row; membranes, currents, traces and refractoriness restart
    before a stimulus (kept into a post-decision row), or never on the stream; the ERN's
    integral is kept into a post-decision row only."""
    keep = _KEEP if keep_integral or not stream else ""
    restarts = "" if stream else f"{restart}x = x * keep\n"
    refractory = "" if stream else "\nlastspike = -1e4*second"
    return (f"{keep}{restarts}n = 0{refractory}" + ("\nacc = acc * keep" if keep_integral else "")
            + ("\nnear = 0" if boxcar else ""))


ERN_RESET_ROW = f"{_KEEP}Ed = Ed * keep\nEr = Er * keep"


def neuron_model(neuron: LIF | NeuronEquations) -> dict:
    """The NeuronGroup arguments of a neuron declaration, spikegate's variables included.

    Returns ``equations``, ``threshold``, ``reset``, ``method``, ``restart`` (the code that
    sets the state at each presentation's start), ``constants`` (the shared constants' values,
    run-time state) and ``initial``.
    """
    if isinstance(neuron, LIF):
        return {"equations": LIF_EQUATIONS + NEURON_VARIABLES, "threshold": "v > v_threshold",
                "reset": "v = v_reset", "method": "exact", "restart": "v = v_rest\nI = 0*volt\n",
                "constants": {"tau_m": neuron.tau_m, "tau_syn": neuron.tau_syn, "v_rest": neuron.v_rest,
                              "v_reset": neuron.v_reset, "v_threshold": neuron.v_threshold,
                              "t_ref": neuron.refractory},
                "initial": {"v": neuron.v_rest}}
    initial = dict(neuron.initial)
    starts = {f"{n}_at_start": v for n, v in initial.items()}
    return {"equations": neuron.group_equations() + NEURON_VARIABLES, "threshold": neuron.threshold,
            "reset": neuron.reset, "method": neuron.method,
            "restart": "".join(f"{n} = {n}_at_start\n" for n in initial) + "I = 0*volt\n",
            "constants": {"tau_syn": neuron.tau_syn, "t_ref": neuron.refractory, **dict(neuron.parameters), **starts},
            "initial": initial}


def gate_constants(gate: Gate) -> dict:
    """The control group's gate constants for ``gate`` (margins in spikes)."""
    c = gate.decision_constants(1.0)
    values = {"gate_always": c.always, "graded": c.graded, "margin_threshold": c.threshold,
              "half_snr": c.half_snr, "snr_width": c.snr_width, "bias": c.bias, "theta_write": c.theta_write,
              "error_driven": c.error_driven}
    return {k: float(values[k]) for k in GATE_CONSTANTS}


#: Brian2's own names in a group and its code (indices, time, refractoriness).
BRIAN_NAMES = frozenset("i j t dt N t_in_timesteps lastspike not_refractory xi".split())


def reserved_names() -> frozenset:
    """Every name spikegate gives a layer's neurons, its input or its synapses, or uses in code
    run on them, and Brian2's built-ins: a user's neuron model must not define them. Derived
    from this module's text (a test checks it against every variable of built classifiers)."""
    from brian2 import Equations

    from ...model.code import is_brian_name

    equations = [NEURON_VARIABLES, OUTPUT_VARIABLES, HIDDEN_VARIABLES, BOXCAR_VARIABLES, ERN_INTEGRAL_VARIABLES, INPUT_VARIABLES,
                 synapse_variables(True, True), synapse_variables(False), FEEDBACK_VARIABLES,
                 slot_control_variables(MAX_SLOTS), slot_layer_variables(MAX_SLOTS, True, True),
                 slot_layer_variables(MAX_SLOTS, True, False), tag_variables(True), tag_variables(True, MAX_SLOTS),
                 tag_group_variables(True), tag_group_variables(True, MAX_SLOTS),
                 "dI/dt = -I / tau_syn : volt\ntau_syn : second\nt_ref : second"]
    # BOXCAR_STEP reads the LIF's v and v_threshold (the boxcar is LIF-only): a user's model keeps them
    code = [zero_layer(True), zero_layer(False), write_factor(False), OUTPUT_ERROR, HIDDEN_ERROR, BOXCAR_ERROR, FEEDBACK,
            ERN_INTEGRAL, write_code(True, 2.0), write_code(False, 2.0, True, "stochastic"), reset_layer("", True), load_input(0, True),
            on_pre(True), "schedule + pixels", slot_gates(MAX_SLOTS), slot_signals(MAX_SLOTS)]
    names = {n for text in equations for n in Equations(text).names}
    names |= {n for text in code for n in get_identifiers(text) if not is_brian_name(n)}
    return frozenset({n.removesuffix("_pre").removesuffix("_post") for n in names} | BRIAN_NAMES)


# --------------------------------------------------------------------------- the spiking ERN
#: The error-monitoring population (``ern.source = "spiking"``, :mod:`spikegate.model.error_monitor`):
#: the label as spikes, a relay per class that passes the label output's spikes, and the monitor.
LABEL_SOURCE_VARIABLES = "rate : Hz\nnu_label : Hz (shared, constant)\nlabel : integer (linked)\nvalid : 1 (linked)\n"
LABEL_SOURCE_THRESHOLD = "rand() < rate * dt"
#: The label neuron fires during the stimulus (a decided row) only.
LABEL_SOURCE_LOAD = "rate = nu_label * int(i == label) * valid"
RELAY_VARIABLES = """
dv/dt = -v / tau_relay : 1
dlabel_trace/dt = -label_trace / tau_label : 1
tau_relay : second (shared, constant)
tau_label : second (shared, constant)
post : 1 (linked)
"""
RELAY_THRESHOLD, RELAY_RESET = "v > 0.5", "v = 0"
LABEL_TO_RELAY = "label_trace_post = 1"
OUTPUT_TO_RELAY = "v_post += label_trace_post"
MONITOR_VARIABLES = """
dv/dt = (v_rest - v) / tau_m + sigma * sqrt(2 / tau_m) * xi : volt
monitored : integer (constant)
t_release : second
post : 1 (linked)
valid : 1 (linked)
release : second (shared, constant)
tau_m : second (shared, constant)
v_rest : volt (shared, constant)
v_reset : volt (shared, constant)
v_threshold : volt (shared, constant)
sigma : volt (shared, constant)
w_rival : volt (shared, constant)
w_label : volt (shared, constant)
w_veto : volt (shared, constant)
w_omission : volt (shared, constant)
"""
#: The monitor reads out once per decision, when the whole window has been replayed to it (the
#: response-locked release, ``release`` = delay + dt after the decision): it fires if the integrated
#: conflict and mismatch are above threshold then, not on a transient in the middle of the window.
MONITOR_THRESHOLD, MONITOR_RESET = "v > v_threshold and abs(t - t_release) < 0.5 * dt", "v = v_reset"
MONITOR_RELEASE = "t_release = valid * (t + release) + (1 - valid) * t_release"
OUTPUT_TO_MONITOR = "v_post += w_rival_post"
LABEL_TO_MONITOR = "v_post += w_omission_post"
RELAY_TO_MONITOR = "v_post -= w_label_post + int(i == monitored_post) * w_veto_post"


def monitor_to_ern(rise: bool) -> str:
    """Each monitor spike adds the kernel k(t - t_s) / N_c to the ERN (``Er`` only when the kernel
    rises), which saturates at the amplitude of a full error, as the ideal drive does."""
    return "Ed_post = clip(Ed_post + per_spike_post, 0, 1)" + (
        "\nEr_post = clip(Er_post + per_spike_post, 0, 1)" if rise else "")


MONITOR_TO_CONTROL = "n_err_post += 1"
#: On the reset schedule the monitor and the relays start from rest with each stimulus.
MONITOR_RESET_ROW = f"{_KEEP}v = v_rest + (v - v_rest) * keep"
RELAY_RESET_ROW = f"{_KEEP}v = v * keep\nlabel_trace = label_trace * keep"
SPIKING_CONTROL_VARIABLES = "n_err : 1\nreference_gate : 1\nmemory_hold : 1\ngate_spikes : 1\nper_spike : 1\n"
#: Appended to :data:`DECISION_CODE`: the ideal gate is the reference, recorded at the decision; the
#: gate opens at the write, from the monitor's spikes since the decision or the memory.
SPIKING_GATE = """
reference_gate = valid * gate + (1 - valid) * reference_gate
memory_hold = valid * memgate + (1 - valid) * memory_hold
gate = write_now * learning * int(n_err >= gate_spikes or memory_hold > 0.5) * int(reserve > 0)
drive = write_now * clip(n_err * per_spike + memory_hold, 0, 1) + (1 - write_now) * drive
n_err = n_err * (1 - valid)"""
SPIKING_ERN_VARIABLES = "memgate : 1 (linked)\nmemory : 1\nper_spike : 1 (shared, constant)\n"
#: The mistake memory's part of the ERN: the ideal kernel at drive M, added at its onset.
SPIKING_ERN_ONSET = ("on = valid * learning\nt_on = on * (t + latency) + (1 - on) * t_on\n"
                     "memory = on * memgate + (1 - on) * memory\nern_amp = 1")
SPIKING_ERN_RESET = "Ed = clip(Ed + memory, 0, 1)\nEr = clip(Er + memory, 0, 1)\nt_on = 1e9 * second"
