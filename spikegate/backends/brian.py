"""Brian2 settings shared by everything that builds or runs Brian2 objects."""
from __future__ import annotations

import contextlib

from ..errors import ParameterError


def quiet_brian() -> None:
    """Brian2 as a library: no log files, warnings only, Ctrl+C interrupts at once.

    Brian2 installs a SIGINT handler when imported, so call this (it imports Brian2) in a
    process's main thread.
    """
    import logging
    import os

    from brian2 import BrianLogger, prefs

    prefs.logging.file_log = False
    prefs.logging.save_script = False
    prefs.core.stop_on_keyboard_interrupt = False  # Ctrl+C interrupts at once: no half-finished run
    prefs.logging.delete_log_on_exit = True
    BrianLogger.log_level_warn()
    # Brian2 opened its debug log and copied the script at import, before these preferences:
    # close and remove them, so that a full disk or a refused command leaves nothing behind
    handler = BrianLogger.file_handler
    if handler is not None:
        logging.getLogger("brian2").removeHandler(handler)
        handler.close()
        BrianLogger.file_handler = None
    for attr in ("tmp_log", "tmp_script"):
        path = getattr(BrianLogger, attr, None)
        for p in ((path, f"{path}.1") if attr == "tmp_log" and path else (path,)):
            if p:
                with contextlib.suppress(OSError):
                    os.remove(p)
        setattr(BrianLogger, attr, None)


@contextlib.contextmanager
def codegen_target(target: str):
    """Select Brian2's code-generation target (``"cython"``, ``"numpy"``) for a block, then restore it."""
    from brian2 import prefs

    old = prefs.codegen.target
    prefs.codegen.target = target
    try:
        yield
    finally:
        prefs.codegen.target = old


#: Neuron models Brian2 has checked in this process (their declaration keys).
_CHECKED: set = set()


def check_neuron_model(neuron) -> None:
    """Let Brian2 itself check a :class:`~spikegate.model.NeuronEquations` model: units, names,
    the integration method, threshold and reset, on a one-neuron group of the numpy target.

    Once per distinct model and process; skipped under a standalone device, where the group
    would join the compiled project. Raises :class:`~spikegate.errors.ParameterError` with
    Brian2's message on one line.
    """
    import brian2 as b2
    from brian2.devices.device import RuntimeDevice, get_device

    key = neuron._key()
    if key in _CHECKED or not isinstance(get_device(), RuntimeDevice):
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
    _CHECKED.add(key)
