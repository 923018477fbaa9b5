"""Brian2 settings shared by everything that builds or runs Brian2 objects."""
from __future__ import annotations

import contextlib



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


#: Names of Brian2 objects that spikegate built: Brian2 need not warn when they die unrun.
_OWN_OBJECTS: set = set()


class _UnusedOwnObjects:
    """A logging filter: drop Brian2's "never included in a network" warning for spikegate's objects
    (a classifier built and dropped in a notebook is no mistake); a user's objects still warn."""

    def filter(self, record) -> bool:
        message = record.getMessage()
        name = message.split("'", 2)[1] if message.count("'") >= 2 else None
        return name not in _OWN_OBJECTS


def quiet_when_unused(objects) -> None:
    """No "never included in a network" warning when these objects are deleted without a run."""
    import logging

    logger = logging.getLogger("brian2.core.base.unused_brian_object")
    if not any(isinstance(f, _UnusedOwnObjects) for f in logger.filters):
        logger.addFilter(_UnusedOwnObjects())
    _OWN_OBJECTS.update(obj.name for obj in objects)
