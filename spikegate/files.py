"""Files: reading TOML with one-line errors, and the one atomic writer every output goes through.

:func:`atomic_path` writes a file *or a directory* under a temporary name in the target's
directory, flushes it to disk (``fsync``), renames it into place and syncs the directory:
after a crash or a kill, a path either holds the complete new content or nothing new. Files
and directories get the permissions the user's umask gives (not the private ones of a
temporary file), so a store shared by a group stays readable. An
interrupted write leaves no temporary behind (or, after SIGKILL, only a hidden
``.NAME.partial-*`` one that can never be mistaken for a result).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import tomllib
from pathlib import Path

from .errors import ConfigError, DataError

PARTIAL = ".partial-"


#: Largest TOML file read: model, scan and run files are kilobytes (an axis of 10,000 values is
#: ~120 kB), and parsing is the one step before any bound can be checked (~3 s per MiB).
MAX_TOML_BYTES = 256 * 2 ** 10


def read_toml(path, what: str, error=ConfigError) -> dict:
    """The TOML document at ``path``; a missing, oversized or invalid file raises ``error`` naming ``what``."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_TOML_BYTES + 1)
        if len(raw) > MAX_TOML_BYTES:
            raise error(f"{what} {path}: larger than {MAX_TOML_BYTES // 2 ** 10} KiB, the most spikegate reads "
                        f"(a scan's axes: use [random] or several [grid] axes)")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{what} {path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise error(f"{what} {path}: invalid TOML ({type(exc).__name__ if isinstance(exc, RecursionError) else exc})") from None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path, directory: bool = False, error=DataError):
    """Yield a temporary path beside ``path``; on success it is synced and renamed to ``path``.

    With ``directory=True`` the temporary path is a new directory, and ``path`` must not
    exist yet (a directory is never replaced); a file replaces an older one. OS errors
    become ``error`` ("cannot write PATH: reason"); on any exception the temporary is removed.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}{PARTIAL}", dir=path.parent))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}{PARTIAL}", suffix=path.suffix, dir=path.parent)
            os.close(fd)
            tmp = Path(name)
        os.chmod(tmp, (0o777 if directory else 0o666) & ~_umask())  # mkstemp/mkdtemp are private
    except OSError as exc:
        raise error(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        yield tmp
        for f in (sorted(p for p in tmp.rglob("*") if p.is_file()) if directory else [tmp]):
            _fsync(f)
        if directory:
            _fsync(tmp)
            os.rename(tmp, path)  # fails if path exists: a directory is never replaced
        else:
            os.replace(tmp, path)
        _fsync(path.parent)
    except OSError as exc:
        _remove(tmp)
        raise error(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _remove(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_text(path, text: str, error=DataError) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path, error=error) as tmp:
        tmp.write_text(text)
    return Path(path)


def jsonable(obj):
    """``obj`` with numpy scalars as Python numbers and non-finite floats as ``None`` (JSON has no NaN)."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path, obj, error=DataError) -> Path:
    """Write ``obj`` as indented JSON (see :func:`jsonable`) to ``path`` atomically."""
    import json

    return write_text(path, json.dumps(jsonable(obj), indent=2) + "\n", error=error)


def csv_text(rows, columns) -> str:
    """Rows (dicts) as CSV text with the given columns; ``None`` is an empty cell."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r[k]) for k in columns})
    return buf.getvalue()


def write_csv(path, rows, columns, error=DataError) -> Path:
    """Write rows (dicts) as a CSV file atomically (see :func:`csv_text`)."""
    return write_text(path, csv_text(rows, columns), error=error)
