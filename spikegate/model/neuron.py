"""Neuron and input declarations of the spiking model."""
from __future__ import annotations

import math

import numpy as np
from brian2 import Hz, Quantity, get_dimensions, mV, ms, volt
from brian2.units.fundamentalunits import get_unit

from ..errors import ParameterError
from ..units import check_text, format_quantity, parse_quantity, quantity_key
from .code import (IDENTIFIER, check_characters, check_expression, check_identifier, check_statements, parse_equations,
                   strip_comments)
from .declaration import Declaration, declaration, param


@declaration
class LIF(Declaration):
    r"""Leaky integrate-and-fire neurons with exponential current-based synapses.

    .. math::

        \tau_m \frac{dv}{dt} = v_\mathrm{rest} - v + I, \qquad
        \tau_\mathrm{syn} \frac{dI}{dt} = -I,

    spike when :math:`v > v_\mathrm{threshold}`, then :math:`v \leftarrow v_\mathrm{reset}` and
    no integration for the refractory period.
    """

    tau_m: Quantity = param(20 * ms, unit=ms, minimum=0 * ms, strict_min=True, doc="membrane time constant")
    tau_syn: Quantity = param(5 * ms, unit=ms, minimum=0 * ms, strict_min=True,
                              doc="time constant of the exponential synaptic current")
    v_rest: Quantity = param(-65 * mV, unit=mV, example="-65 mV", doc="resting potential, and v at each start")
    v_reset: Quantity = param(-65 * mV, unit=mV, example="-65 mV", doc="potential after a spike")
    v_threshold: Quantity = param(-50 * mV, unit=mV, example="-50 mV", doc="spike threshold (above v_reset)")
    refractory: Quantity = param(2 * ms, unit=ms, minimum=0 * ms, doc="refractory period")

    def validate(self):
        if not self.v_threshold > self.v_reset:
            raise ParameterError(f"LIF.v_threshold = {self.v_threshold!r}: must be above v_reset = {self.v_reset!r}",
                                 "LIF.v_threshold")


@declaration
class PoissonInput(Declaration):
    r"""Rate coding: pixel :math:`x_i \in [0, 1]` fires as a Poisson process of rate :math:`x_i \nu_\mathrm{max}`."""

    nu_max: Quantity = param(100 * Hz, unit=Hz, minimum=0 * Hz, strict_min=True, doc="rate of a pixel of value 1")


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
    * not define the spiking backend's own names
      (:func:`spikegate.backends.spiking.equations.reserved_names`, checked when it is built).

    ``parameters`` become shared constants of the neuron group (one table,
    ``{a = "2 mV"}``); every state variable of ``initial`` (``v`` at least) is set to its
    value at each presentation's start, as LIF resets ``v`` to ``v_rest``. ``method`` is the
    Brian2 integration method of all equations (spikegate's traces included, so ``"euler"``
    integrates their exponential decays to first order in ``dt``).

    Written with LIF's equations and ``method="exact"`` it gives :class:`LIF`'s results bit
    for bit (a test). Names and identifiers are checked here; units and the integration
    method by Brian2 itself when the spiking backend builds it
    (:func:`spikegate.backends.spiking.validation.check_neuron_model`).
    """

    equations: str = param("", kind="any", compiled=True, doc="Brian2 equations defining v (volt) and using I")
    threshold: str = param("v > v_th", kind="any", compiled=True, doc="spike condition")
    reset: str = param("v = v_reset", kind="any", compiled=True, doc="statements after a spike")
    refractory: Quantity = param(0 * ms, unit=ms, minimum=0 * ms, doc="refractory period")
    method: str = param("euler", kind="any", compiled=True, doc="Brian2's integration method(s)")
    parameters: tuple = param((), kind="any", doc="shared constants {name = value}")
    initial: tuple = param((), kind="any", doc="state at each presentation's start {name = value}; v at least")
    tau_syn: Quantity = param(5 * ms, unit=ms, minimum=0 * ms, strict_min=True,
                              doc="time constant of the synaptic input I")

    def structure(self) -> dict:
        """The code, and the names and dimensions (not the values) of parameters and initial values."""
        table = lambda pairs: [(n, str(get_dimensions(v))) for n, v in pairs]  # noqa: E731
        return {**super().structure(), "parameters": table(self.parameters), "initial": table(self.initial)}

    def validate(self):
        for name in ("equations", "threshold", "reset", "method"):
            check_text(f"NeuronEquations.{name}", getattr(self, name), required=name != "reset")
        self._set("parameters", _named_quantities("NeuronEquations.parameters", self.parameters))
        self._set("initial", _named_quantities("NeuronEquations.initial", self.initial))
        methods = _brian_methods()
        if any(m.strip() not in methods for m in self.method.split(",")):
            raise ParameterError(f"NeuronEquations.method = {self.method!r}: unknown; allowed: Brian2's methods "
                                 f"({', '.join(methods)}), or several separated by commas", "NeuronEquations.method")
        self._set("method", ", ".join(m.strip() for m in self.method.split(",")))
        self._check_code()
        self._check_with_brian()
        # units and the integration method are checked by Brian2 itself when the model is built
        # (spikegate.backends.spiking.validation, called by the backend's validation and the classifier)

    def _check_code(self) -> None:
        """The text is data: checked as a whitelist (spikegate.model.code) before Brian2 parses any of it."""
        where = "NeuronEquations.equations"
        code, equations = parse_equations(where, self.equations)
        self._set("equations", code)
        defined = [name for _, name, _, _, _ in equations]
        if len(set(defined)) != len(defined):
            raise ParameterError(f"{where}: a variable is defined twice", where)
        if "v" not in defined:
            raise ParameterError(f"{where}: must define the membrane potential v in volt, e.g. "
                                 "'dv/dt = (v_rest - v + I) / tau_m : volt'", where)
        if not any("I" in IDENTIFIER.findall(expr) for _, _, expr, _, _ in equations if expr is not None):
            raise ParameterError(f"{where}: must use the synaptic input I (volt), or synapses have no effect", where)
        known = set(defined) | set(dict(self.parameters)) | {"I", "t", "dt", "i", "lastspike", "not_refractory"}
        for kind, name, expr, _, _ in equations:
            if expr is not None:
                check_expression(where, expr, known | {"xi"}, shown=self.equations.strip())
        self._set("threshold", strip_comments(check_characters("NeuronEquations.threshold", self.threshold)))
        check_expression("NeuronEquations.threshold", self.threshold, known)
        states = {name for kind, name, _, _, flags in equations if kind == "diff" or
                  (kind == "param" and "constant" not in flags and "shared" not in flags)}
        self._set("reset", check_statements("NeuronEquations.reset", self.reset, states | {"I"}, known))

    def _check_with_brian(self) -> None:
        """Brian2's parse of the checked text: v in volt, parameters and initial values against it."""
        from brian2 import Equations

        where = "NeuronEquations.equations"
        try:
            eqs = Equations(self.equations)
        except Exception as exc:  # Brian2's parser: EquationError, SyntaxError, KeyError (units)...
            first = " ".join(str(exc).split())[:200]
            raise ParameterError(f"{where}: Brian2 cannot parse them: {first}", where) from None
        if get_dimensions(eqs["v"].dim) is not get_dimensions(volt):
            raise ParameterError(f"{where}: must define the membrane potential v in volt, e.g. "
                                 "'dv/dt = (v_rest - v + I) / tau_m : volt'", where)
        both = sorted(set(eqs.names) & set(dict(self.parameters)))
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
