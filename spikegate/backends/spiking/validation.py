"""Checks of a neuron model against the spiking backend: spikegate's names, and Brian2's own
verdict on units, the integration method, threshold and reset."""
from __future__ import annotations

from ...errors import ParameterError
from ...model import NeuronEquations
from ..brian import codegen_target
from .equations import reserved_names

#: Neuron models checked in this process (declarations hash by value).
_CHECKED: set = set()


def check_reserved_names(neuron: NeuronEquations) -> None:
    """A user's equations, parameters and initial values must not use spikegate's names."""
    from brian2 import Equations

    reserved = reserved_names()
    where = "NeuronEquations.equations"
    starts = sorted(f"{n}_at_start" for n, _ in neuron.initial)
    taken = sorted(set(starts) & (set(Equations(neuron.equations).names) | {n for n, _ in neuron.parameters}))
    if taken:   # the backend holds each initial value as a constant of that name
        raise ParameterError(f"{where}: {', '.join(taken)} is spikegate's own name (the initial value of "
                             f"{taken[0][:-9]}); rename it", where)
    for table in ("parameters", "initial"):
        for name, _ in getattr(neuron, table):
            if name in reserved:
                key = f"NeuronEquations.{table}"
                raise ParameterError(f"{key}.{name}: the name is spikegate's own; reserved: "
                                     f"{', '.join(sorted(reserved))}", key)
    clash = sorted(set(Equations(neuron.equations).names) & reserved)
    if clash:
        raise ParameterError(f"{where}: defines {', '.join(clash)}, spikegate's own name(s); reserved: "
                             f"{', '.join(sorted(reserved))}", where)


def check_neuron_model(neuron) -> None:
    """Check a :class:`~spikegate.model.NeuronEquations` model for the spiking backend (LIF needs
    nothing): spikegate's reserved names, then Brian2 itself on a one-neuron group of the numpy
    target (units, names, the integration method, threshold and reset). Once per model and
    process; under a standalone device only the names (the group would join the compiled project).
    Raises :class:`~spikegate.errors.ParameterError` with Brian2's message on one line."""
    import brian2 as b2
    from brian2.devices.device import RuntimeDevice, get_device

    if not isinstance(neuron, NeuronEquations) or neuron in _CHECKED:
        return
    check_reserved_names(neuron)
    if not isinstance(get_device(), RuntimeDevice):
        return
    group = None
    try:
        with codegen_target("numpy"):
            group = b2.NeuronGroup(1, neuron.group_equations(), threshold=neuron.threshold, reset=neuron.reset,
                                   refractory="t_ref", method=neuron.method, namespace={},
                                   name="spikegate_neuron_check*")
            b2.Network(group).run(0 * b2.ms, namespace={})
    except Exception as exc:  # Brian2 reports units, names and methods with several exception types
        while exc.__cause__ is not None:   # Brian2 wraps the error in the object that met it
            exc = exc.__cause__
        first = " ".join(str(exc).split())[:240]
        raise ParameterError(f"NeuronEquations.equations: Brian2 rejects the model ({type(exc).__name__}): {first}",
                             "NeuronEquations.equations") from None
    finally:
        if group is not None:
            group._network = -1   # a check, not a forgotten object: no "never included in a network" warning
    _CHECKED.add(neuron)
