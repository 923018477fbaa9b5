"""Neuron and input declarations of the spiking model."""
from __future__ import annotations

import math

import numpy as np
from brian2 import Hz, Quantity, get_dimensions, mV, ms, volt
from brian2.units.fundamentalunits import get_unit

from ..errors import ParameterError
from ..units import check_quantity, check_text, format_quantity, parse_quantity, quantity_key
from .code import (IDENTIFIER, check_characters, check_expression, check_identifier, check_statements, parse_equations,
                   strip_comments)
from .declaration import Declaration, declaration, default


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
            raise ParameterError(f"LIF.v_threshold = {self.v_threshold!r}: must be above v_reset = {self.v_reset!r}",
                                 "LIF.v_threshold")


@declaration
class PoissonInput(Declaration):
    r"""Rate coding: pixel :math:`x_i \in [0, 1]` fires as a Poisson process of rate :math:`x_i \nu_\mathrm{max}`."""

    nu_max: Quantity = default(100 * Hz)

    def __post_init__(self):
        self._set("nu_max", check_quantity("PoissonInput.nu_max", self.nu_max, Hz, minimum=0 * Hz, strict=True))


#: Names the spiking backend gives its own neuron variables (and Brian2's built-ins): the
#: equations, parameters and initial values of a :class:`NeuronEquations` must not use them.
RESERVED_NAMES = frozenset("""
    I tau_syn x n L gate drive valid write_now post write_factor acc_writes acc_abs acc_alpha tau_e t_ref
    lab n_target above is_label fb acc Ed Er ern_amp keep
    w eta_w w_max alpha w_scale B k rate nu_max t_start w_new dw_abs
    ern_latency ern_scale tau_ern_d tau_ern_r ern_cd ern_cr schedule pixels
    i j t dt N t_in_timesteps lastspike not_refractory xi
""".split())



def _named_quantities(where: str, values) -> tuple:
    """``{name: "-65 mV"}`` (or pairs) as sorted ``(name, quantity)`` pairs; names checked."""
    items = values.items() if isinstance(values, dict) else values
    try:
        pairs = [(k, v) for k, v in items]
    except (TypeError, ValueError):
        raise ParameterError(f"{where} = {values!r}: expected a table of name = value, e.g. "
                             "{ tau_w = '100 ms' }", where) from None
    out = []
    for name, value in pairs:
        check_identifier(where, name)
        if name in RESERVED_NAMES:
            raise ParameterError(f"{where}.{name}: the name is spikegate's own; reserved: "
                                 f"{', '.join(sorted(RESERVED_NAMES))}", where)
        value = parse_quantity(value, f"{where}.{name}")
        if isinstance(value, bool) or not isinstance(value, (int, float, Quantity)):
            raise ParameterError(f"{where}.{name} = {value!r}: expected a number or a quantity", where)
        number = float(np.asarray(value))
        if not math.isfinite(number):
            raise ParameterError(f"{where}.{name} = {value!r}: must be finite", where)
        try:  # the value is written back to run directories: it must read back
            parse_quantity(format_quantity(value), where)
        except ParameterError:
            raise ParameterError(f"{where}.{name} = {value!r}: give it as a number and one Brian2 unit name, "
                                 "e.g. '50 Hz' rather than '0.05/ms'", where) from None
        out.append((name, Quantity(value) if isinstance(value, Quantity) else float(value)))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ParameterError(f"{where}: a name is given twice", where)
    return tuple(sorted(out))


@declaration
class NeuronEquations(Declaration):
    r"""Any Brian2 neuron model: equations, threshold and reset, in the units Brian2 checks.

    spikegate adds the synaptic drive :math:`\tau_\mathrm{syn}\, dI/dt = -I` (``I : volt``;
    a presynaptic spike adds :math:`w \cdot w_\mathrm{scale}`) and its own bookkeeping
    (spike count ``n``, eligibility ``x``, learning signal ``L``...); the equations must

    * define the membrane potential ``v`` (volt), which the threshold reads;
    * use ``I`` (the input: without it, synapses have no effect);
    * not define spikegate's names (:data:`RESERVED_NAMES`).

    ``parameters`` become shared constants of the neuron group (one table,
    ``{a = "2 mV"}``); every state variable of ``initial`` (``v`` at least) is set to its
    value at each presentation's start, as LIF resets ``v`` to ``v_rest``. ``method`` is the
    Brian2 integration method of all equations (spikegate's traces included, so ``"euler"``
    integrates their exponential decays to first order in ``dt``).

    Written with LIF's equations and ``method="exact"`` it gives :class:`LIF`'s results bit
    for bit (a test). Names and identifiers are checked here; units and the integration
    method by Brian2 itself (:func:`spikegate.backends.brian.check_neuron_model`).
    """

    equations: str = ""
    threshold: str = "v > v_th"
    reset: str = "v = v_reset"
    refractory: Quantity = default(0 * ms)
    method: str = "euler"
    parameters: tuple = ()
    initial: tuple = ()
    tau_syn: Quantity = default(5 * ms)

    def __post_init__(self):
        from brian2 import Equations

        for name in ("equations", "threshold", "reset", "method"):
            check_text(f"NeuronEquations.{name}", getattr(self, name), required=name != "reset")
        self._set("tau_syn", check_quantity("NeuronEquations.tau_syn", self.tau_syn, ms, minimum=0 * ms,
                                            strict=True))
        self._set("refractory", check_quantity("NeuronEquations.refractory", self.refractory, ms,
                                               minimum=0 * ms))
        self._set("parameters", _named_quantities("NeuronEquations.parameters", self.parameters))
        self._set("initial", _named_quantities("NeuronEquations.initial", self.initial))
        methods = _brian_methods()
        if any(m.strip() not in methods for m in self.method.split(",")):
            raise ParameterError(f"NeuronEquations.method = {self.method!r}: unknown; allowed: Brian2's methods "
                                 f"({', '.join(methods)}), or several separated by commas", "NeuronEquations.method")
        self._set("method", ", ".join(m.strip() for m in self.method.split(",")))
        # the text is data: checked as a whitelist (spikegate.model.code) before Brian2 parses any of it
        where = "NeuronEquations.equations"
        code, equations = parse_equations(where, self.equations)
        self._set("equations", code)
        defined = [name for _, name, _, _, _ in equations]
        parameters = dict(self.parameters)
        clash = sorted((set(defined) | set(parameters)) & RESERVED_NAMES)
        if clash:
            raise ParameterError(f"{where}: defines {', '.join(clash)}, spikegate's own name(s); reserved: "
                                 f"{', '.join(sorted(RESERVED_NAMES))}", where)
        if len(set(defined)) != len(defined):
            raise ParameterError(f"{where}: a variable is defined twice", where)
        if "v" not in defined:
            raise ParameterError(f"{where}: must define the membrane potential v in volt, e.g. "
                                 "'dv/dt = (v_rest - v + I) / tau_m : volt'", where)
        if not any("I" in IDENTIFIER.findall(expr) for _, _, expr, _, _ in equations if expr is not None):
            raise ParameterError(f"{where}: must use the synaptic input I (volt), or synapses have no effect", where)
        known = set(defined) | set(parameters) | {"I", "t", "dt", "i", "lastspike", "not_refractory"}
        for kind, name, expr, _, _ in equations:
            if expr is not None:
                check_expression(where, expr, known | {"xi"}, shown=self.equations.strip())
        self._set("threshold", strip_comments(check_characters("NeuronEquations.threshold", self.threshold)))
        check_expression("NeuronEquations.threshold", self.threshold, known)
        states = {name for kind, name, _, _, flags in equations if kind == "diff" or
                  (kind == "param" and "constant" not in flags and "shared" not in flags)}
        self._set("reset", check_statements("NeuronEquations.reset", self.reset, states | {"I"}, known))
        try:
            eqs = Equations(self.equations)
        except Exception as exc:  # Brian2's parser: EquationError, SyntaxError, KeyError (units)...
            first = " ".join(str(exc).split())[:200]
            raise ParameterError(f"{where}: Brian2 cannot parse them: {first}", where) from None
        if "v" not in eqs.names or get_dimensions(eqs["v"].dim) is not get_dimensions(volt):
            raise ParameterError(f"{where}: must define the membrane potential v in volt, e.g. "
                                 "'dv/dt = (v_rest - v + I) / tau_m : volt'", where)
        both = sorted(set(eqs.names) & set(parameters))
        if both:
            raise ParameterError(f"NeuronEquations.parameters: {', '.join(both)} also defined by the equations",
                                 "NeuronEquations.parameters")
        initial = dict(self.initial)
        if "v" not in initial:
            raise ParameterError("NeuronEquations.initial: must give v, the membrane potential at each "
                                 "presentation's start, e.g. { v = '-65 mV' }", "NeuronEquations.initial")
        states = set(eqs.diff_eq_names) | {n for n in eqs.names if eqs[n].type == "parameter"}
        for name, value in initial.items():
            if name not in states:
                raise ParameterError(f"NeuronEquations.initial.{name}: not a state variable of the equations "
                                     f"({', '.join(sorted(states))})", "NeuronEquations.initial")
            if get_dimensions(value) is not get_dimensions(eqs[name].dim):
                raise ParameterError(f"NeuronEquations.initial.{name} = {value!r}: wrong unit, expected "
                                     f"{eqs[name].dim}", "NeuronEquations.initial")
        constant = sorted(n for n in initial if "constant" in eqs[n].flags)
        if constant:
            raise ParameterError(f"NeuronEquations.initial: {', '.join(constant)} is constant; give it as a "
                                 "parameter instead", "NeuronEquations.initial")
        starts = sorted(f"{n}_at_start" for n in initial if f"{n}_at_start" in known)
        if starts:
            raise ParameterError(f"NeuronEquations.equations: {', '.join(starts)} is spikegate's own name (the initial value of "
                                 f"{starts[0][:-9]}); rename it", "NeuronEquations.equations")
        # units and the integration method are checked by Brian2 itself when the model is built
        # (spikegate.backends.brian.check_neuron_model, called by the config and the classifier)

    def group_equations(self) -> str:
        """The equations of the neuron group without spikegate's bookkeeping: the user's, the
        synaptic input ``I``, and the parameters and initial values as shared constants."""
        def unit(value) -> str:
            return repr(get_unit(get_dimensions(value))) if isinstance(value, Quantity) else "1"

        starts = {f"{n}_at_start": v for n, v in self.initial}
        return (self.equations.rstrip() + "\ndI/dt = -I / tau_syn : volt\ntau_syn : second (shared, constant)\n"
                "t_ref : second (shared, constant)\n"
                + "".join(f"{n} : {unit(v)} (shared, constant)\n" for n, v in {**dict(self.parameters), **starts}.items()))

    def _key(self):
        # the tables hold quantities: their keys, as for every other field
        return tuple(tuple((n, quantity_key(v)) for n, v in k) if isinstance(k, tuple) and k
                     and isinstance(k[0], tuple) else k for k in super()._key())

    @property
    def state_variables(self) -> tuple[str, ...]:
        """The variables set at each presentation's start."""
        return tuple(n for n, _ in self.initial)

    def to_dict(self, fields=None) -> dict:
        out = {}
        for name in fields or self.field_names():
            v = getattr(self, name)
            out[name] = {k: format_quantity(x) for k, x in v} if name in ("parameters", "initial") \
                else format_quantity(v)
        return out


def _brian_methods() -> list[str]:
    from brian2.stateupdaters.base import StateUpdateMethod

    return list(StateUpdateMethod.stateupdaters)


#: The neuron models a ``[neuron]`` section can name (``model = "..."``).
NEURON_MODELS = {"LIF": LIF, "equations": NeuronEquations}
