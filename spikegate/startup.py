"""Brian2's start-up under spikegate's control.

Importing Brian2 has two side effects that break a program before it can say anything:

* it writes the command line (``sys.argv``) into a temporary copy of the script, encoded
  strictly as UTF-8, so an argument that is not valid text in the locale (a file name with
  undecodable bytes) raises ``UnicodeEncodeError`` inside the import;
* it replaces the SIGINT handler with its own, which calls the previous one: a process
  started with SIGINT ignored (``nohup``, a background job of a script) then crashes with a
  ``TypeError`` on Ctrl+C instead of ignoring it.

:func:`import_brian` imports Brian2 with the arguments shown escaped and keeps an ignored
SIGINT ignored. ``spikegate/__init__.py`` calls it before anything else imports Brian2.
"""
from __future__ import annotations

import signal
import sys
import threading


def printable_argument(arg: str) -> str:
    """``arg`` with bytes that are not valid in the locale (surrogate escapes) as ``\\xNN``."""
    return arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def import_brian() -> None:
    """Import Brian2 (once): arguments escaped for its script copy, an ignored SIGINT kept ignored."""
    if "brian2" in sys.modules:
        return
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main_thread else None
    argv = getattr(sys, "argv", None)
    if argv is not None:
        sys.argv = [printable_argument(a) if isinstance(a, str) else a for a in argv]
    try:
        import brian2  # noqa: F401
    finally:
        if argv is not None:
            sys.argv = argv
        if main_thread and previous is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
