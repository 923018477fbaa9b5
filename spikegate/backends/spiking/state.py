r"""A runtime classifier's whole state as named arrays: what a checkpoint keeps, and puts back.

:func:`network_state` reads every state variable of the classifier's groups and synapses
(weights, stored codes, traces, the reserve, the control group's registers; not the monitors'
records), the time steps of its clocks, and its random stream
(:mod:`~spikegate.backends.spiking.random_state`). :func:`restore_network_state` writes them
into a classifier of the same structure, checking every name and shape first: after it, the
next presentations are those the saved classifier would have made, bit for bit.

Arrays are named ``net.<object>.<variable>`` (the object's name without the classifier's
prefix, so a checkpoint loads under another prefix), ``clock.<clock>`` and ``random.*``: an
``.npz`` file holds them without pickle. :func:`save_classifier` and :func:`load_classifier`
add the declarations (JSON of their fields, rebuilt through the declarations' own validation:
the file is data) and a mistake memory (:mod:`spikegate.checkpoint`).
"""
from __future__ import annotations

import numpy as np

from ...checkpoint import memory_arrays, memory_from, read_arrays, write_arrays
from ...errors import ConfigError, DataError, ParameterError
from ...model import (GATES, LIF, Declaration, ERNSignal, ErrorMonitor, MetabolicReserve, MistakeMemory,
                      NetworkSpec, NeuronEquations, PoissonInput, SynapseFormat, ThreeFactorRule)
from ...model.gates import GATE_NAME
from . import random_state

#: The declarations a classifier file may name (a whitelist: the file is data).
PART_TYPES = {cls.__name__: cls for cls in (LIF, NeuronEquations, PoissonInput, ThreeFactorRule, ERNSignal,
                                            SynapseFormat, ErrorMonitor)}


def _stateful(clf) -> dict:
    """The classifier's groups and synapses by name without its prefix (monitors' records excluded:
    they are the log of the past, not the state)."""
    import brian2 as b2

    prefix = f"{clf.name}_"
    return {obj.name[len(prefix):] if obj.name.startswith(prefix) else obj.name: obj for obj in clf.objects
            if isinstance(obj, b2.Group) and not isinstance(obj, (b2.StateMonitor, b2.SpikeMonitor))}


def _clocks(clf) -> dict:
    return {"clock": clf.clock, "tick_clock": clf.tick_clock}


def _own_variables(obj) -> list:
    """The writable arrays an object owns (not its neighbours' seen through ``_pre``/``_post``)."""
    from brian2.core.variables import ArrayVariable

    return [name for name, var in obj.variables.items()
            if not name.startswith("_") and isinstance(var, ArrayVariable) and not var.read_only
            and getattr(var.owner, "name", None) == obj.name]   # owner is a weak proxy: compare names


def network_state(clf) -> dict:
    """Every state array of ``clf`` (see the module docstring)."""
    out = {}
    for key, obj in _stateful(clf).items():
        for var, values in obj.get_states(_own_variables(obj), units=False).items():
            out[f"net.{key}.{var}"] = np.array(values)
    for key, clock in _clocks(clf).items():
        out[f"clock.{key}"] = np.array(int(clock.variables["timestep"].get_value().item()), dtype=np.int64)
    out.update(random_state.to_arrays(clf.random.state, prefix="random."))
    return out


def restore_network_state(clf, arrays, where: str) -> None:
    """Put :func:`network_state`'s arrays back into ``clf``; ``DataError`` names the first that does not fit
    (checked before anything is written)."""
    objects, plan = _stateful(clf), []
    try:
        stream = random_state.from_arrays(arrays, prefix="random.")
    except ValueError as exc:
        raise DataError(f"{where}: {exc}") from None
    expected = {k: v for k, v in network_state(clf).items() if k.startswith(("net.", "clock."))}
    missing = sorted(set(expected) - set(arrays))
    if missing:
        raise DataError(f"{where}: no state array {missing[0]!r} ({len(missing)} missing): saved from a network of "
                        "another structure")
    extra = sorted(k for k in arrays if k.startswith(("net.", "clock.")) and k not in expected)
    if extra:
        raise DataError(f"{where}: state array {extra[0]!r} has no place in this network: saved from a network of "
                        "another structure")
    for key, now in expected.items():
        saved = np.asarray(arrays[key])
        if saved.shape != now.shape or saved.dtype.kind != now.dtype.kind:
            raise DataError(f"{where}: state array {key!r} has shape {saved.shape} of {saved.dtype}, this network "
                            f"{now.shape} of {now.dtype}")
        if key.startswith("clock.") and saved < 0:
            raise DataError(f"{where}: state array {key!r} = {int(saved)}: a time step count must be >= 0")
        plan.append((key, saved))
    for key, saved in plan:
        kind, name, *var = key.split(".", 2)
        if kind == "net":
            objects[name].set_states({var[0]: saved}, units=False)
        elif kind == "clock":
            _clocks(clf)[name].variables["timestep"].set_value(int(saved))
    # the classifier's own network goes on at the saved time (a network of yours starts at its own)
    clf.network.t_ = float(int(arrays["clock.clock"]) * clf.clock.dt_)
    clf.random.state = stream


# ------------------------------------------------------------------ a classifier's file
def declarations(clf) -> dict:
    """The classifier's spec, gate and reserve as JSON-able fields (units as text)."""
    spec = clf.spec
    parts = {k: getattr(spec, k) for k in NetworkSpec.field_names() if isinstance(getattr(spec, k), Declaration)}
    return {"network": spec.to_dict([k for k in NetworkSpec.field_names() if k not in parts]),
            "parts": {k: [type(v).__name__, v.to_dict()] for k, v in parts.items()},
            "gate": [GATE_NAME[type(clf.gate)], clf.gate.to_dict()], "reserve": clf.reserve.to_dict()}


def declared(record: dict, where: str) -> tuple:
    """``(spec, gate, reserve)`` from :func:`declarations`' fields, through each declaration's checks."""
    try:
        parts = {}
        for key, (type_name, fields) in record["parts"].items():
            if type_name not in PART_TYPES:
                raise DataError(f"{where}: part {key!r} is a {type_name!r}; allowed: {', '.join(PART_TYPES)}")
            parts[key] = PART_TYPES[type_name](**fields)
        gate_name, gate_fields = record["gate"]
        if gate_name not in GATES:
            raise DataError(f"{where}: gate {gate_name!r}; allowed: {', '.join(GATES)}")
        return (NetworkSpec(**record["network"], **parts), GATES[gate_name](**gate_fields),
                MetabolicReserve(**record["reserve"]))
    except (KeyError, TypeError, ValueError, ParameterError, ConfigError) as exc:
        raise DataError(f"{where}: the saved declarations do not rebuild ({exc})") from None


def save_classifier(clf, path, memory=None):
    """Write ``clf``'s declarations, state and ``memory`` to ``path`` (see the module docstring)."""
    if memory is not None and not isinstance(memory, MistakeMemory):
        raise ParameterError(f"GatedClassifier.save: memory must be a MistakeMemory, got {type(memory).__name__}")
    meta = {"kind": "classifier", "declarations": declarations(clf), "seed": clf.seed,
            "learning_scale": clf.learning_scale}
    return write_arrays(path, {**network_state(clf), **memory_arrays(memory)}, meta)


def load_classifier(cls, path, images, name, chunk):
    """A ``cls`` (GatedClassifier) from :func:`save_classifier`'s file, in the state it was saved."""
    arrays, meta = read_arrays(path, "classifier")
    spec, gate, reserve = declared(meta.get("declarations") or {}, str(path))
    seed, scale = meta.get("seed"), meta.get("learning_scale", 1.0)
    if not isinstance(scale, (int, float)) or isinstance(scale, bool):
        raise DataError(f"{path}: learning_scale = {scale!r}: expected a number >= 0")
    clf = cls(spec, gate, images, seed=seed, chunk=chunk, name=name, reserve=reserve)
    clf.set_learning_scale(float(scale))
    restore_network_state(clf, arrays, str(path))
    clf.memory = memory_from(arrays, str(path), getattr(gate, "tau_mem", 0.0), getattr(gate, "theta_mem", 1.0))
    return clf
