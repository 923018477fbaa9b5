"""Brian2 settings shared by everything that builds or runs Brian2 objects."""
from __future__ import annotations

import contextlib


def quiet_brian() -> None:
    """Brian2 as a library: no log files, warnings only, Ctrl+C interrupts at once.

    Brian2 installs a SIGINT handler when imported, so call this (it imports Brian2) in a
    process's main thread.
    """
    from brian2 import BrianLogger, prefs

    prefs.logging.file_log = False
    prefs.core.stop_on_keyboard_interrupt = False  # Ctrl+C interrupts at once: no half-finished run
    prefs.logging.delete_log_on_exit = True
    BrianLogger.log_level_warn()


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
