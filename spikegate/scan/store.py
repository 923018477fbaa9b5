"""The scan store: a directory of run directories named by their config hash, and its locks.

See :mod:`spikegate.scan` for the layout. :class:`Store` knows the paths, which points are
finished, the manifest ``scan.json`` and the error records; :class:`PointLock` is the
per-point ``flock`` that keeps two scans from training one point twice.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, DataError
from ..files import PARTIAL, write_text
from ..rundir import CONFIG, METRICS, missing_files, read_metrics

if TYPE_CHECKING:
    from .spec import Scan

#: Lock files are never opened through a symbolic link (a planted link would have its target truncated);
#: their mode is left to the user's umask, so a group can share a store.
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _flock(fd: int, blocking: bool = True) -> None:
    """``fcntl.flock`` (POSIX): imported here, so that reading a store (``collect``) works anywhere."""
    try:
        import fcntl
    except ImportError:
        raise ConfigError("scan stores are locked with POSIX flock (fcntl), which this platform lacks; "
                          "run scans on Linux or macOS (on Windows: WSL)") from None
    fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))


class Store:
    """A scan store directory (see the module docstring)."""

    def __init__(self, root):
        self.root = root.root if isinstance(root, Store) else Path(root)
        self.points = self.root / "points"

    def run_dir(self, h) -> Path:
        return self.points / h

    def error_path(self, h) -> Path:
        return self.points / f"{h}.error.json"

    def lock_path(self, h) -> Path:
        return self.points / f"{h}.lock"

    def is_done(self, h) -> bool:
        return self.problem(h) is None

    def problem(self, h) -> str | None:
        """Why ``points/<h>`` is not a finished point (``None`` if it is): a missing file, an
        unreadable ``metrics.json``, or a ``config.toml`` that does not hash to ``h``."""
        from ..config import config_hash

        run_dir = self.run_dir(h)
        missing = missing_files(run_dir)
        if missing:
            return f"missing {', '.join(missing)}"
        try:
            metrics = read_metrics(run_dir / METRICS, METRICS)
        except DataError as exc:
            return str(exc)
        if "test_accuracy" not in metrics:
            return f"{METRICS} is not a complete metrics record"
        try:
            if config_hash((run_dir / CONFIG).read_text()) != h:
                return f"{CONFIG} does not hash to {h}"
        except (OSError, UnicodeDecodeError) as exc:
            return f"{CONFIG} unreadable ({exc})"
        return None

    def set_aside(self, h) -> Path:
        """Rename a corrupt ``points/<h>`` (call while holding its lock) so the point can be
        retrained; the old directory is kept, as ``points/<h>.corrupt-<time>``, for inspection."""
        target = self.points / f"{h}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        os.rename(self.run_dir(h), target)
        return target

    def partials(self, h=None) -> list:
        pattern = f".{h}{PARTIAL}*" if h else f".*{PARTIAL}*"
        return sorted(self.points.glob(pattern)) if self.points.is_dir() else []

    def clean_partials(self, h) -> int:
        """Remove stale temporaries of point ``h`` (call while holding its lock)."""
        n = 0
        for p in self.partials(h):
            shutil.rmtree(p, ignore_errors=True)
            n += 1
        return n

    def clean_stale(self) -> int:
        """Remove the temporaries of all points that nobody holds now."""
        n = 0
        for p in self.partials():
            h = p.name[1:].split(PARTIAL)[0]
            lock = PointLock(self.lock_path(h))
            if lock.acquire(blocking=False):
                try:
                    n += self.clean_partials(h)
                finally:
                    lock.release()
        return n

    @property
    def manifest_path(self) -> Path:
        return self.root / "scan.json"

    def manifest(self) -> dict:
        try:
            m = json.loads(self.manifest_path.read_text())
        except (FileNotFoundError, NotADirectoryError):   # a new store (record() says if it cannot be made)
            return {"version": 1, "keys": [], "scans": {}, "points": []}
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.manifest_path}: unreadable ({exc})") from None
        except RecursionError:
            raise DataError(f"{self.manifest_path}: unreadable (nested too deeply)") from None
        shape = (isinstance(m, dict) and isinstance(m.get("keys", []), list) and isinstance(m.get("scans", {}), dict)
                 and isinstance(m.get("points", []), list)
                 and all(isinstance(p, dict) and isinstance(p.get("hash"), str) and isinstance(p.get("params", {}), dict)
                         and isinstance(p.get("scans", []), list) for p in m.get("points", [])))
        if not shape:
            raise DataError(f"{self.manifest_path}: not a spikegate scan manifest (expected an object with "
                            f"'keys', 'scans' and 'points', each point an object with 'hash' and 'params')")
        return m

    def errors(self) -> dict:
        out = {}
        for p in sorted(self.points.glob("*.error.json")) if self.points.is_dir() else []:
            h = p.name[: -len(".error.json")]
            if self.is_done(h):
                continue
            try:
                out[h] = json.loads(p.read_text())
            except (OSError, ValueError, RecursionError):
                out[h] = {"message": "unreadable error record"}
        return out

    def record(self, scan: Scan) -> None:
        """Merge the scan's points and keys into ``scan.json`` (atomically, under a store lock)."""
        try:
            self.points.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"store {self.root}: cannot create {self.points} ({exc.strerror or exc})") from None
        try:
            fd = os.open(self.root / ".scan.json.lock", os.O_RDWR | os.O_CREAT | NOFOLLOW, 0o666)
        except OSError as exc:
            raise DataError(f"{self.root / '.scan.json.lock'}: cannot open the lock file ({exc.strerror or exc}; "
                            f"a symbolic link is never followed)") from None
        try:
            _flock(fd)
            m = self.manifest()
            keys = list(m.get("keys", []))
            keys += [k for k in scan.keys if k not in keys]
            m["keys"] = keys
            m.setdefault("scans", {})[scan.name] = {
                "source": scan.source, "model": scan.model, "fixed": scan.fixed, "keys": scan.keys,
                "n_points": len(scan.points), "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
            index = {p["hash"]: p for p in m.get("points", [])}
            for pt in scan.points:
                if pt.hash in index:
                    index[pt.hash]["params"].update(pt.params)
                    if scan.name not in index[pt.hash]["scans"]:
                        index[pt.hash]["scans"].append(scan.name)
                else:
                    index[pt.hash] = {"hash": pt.hash, "params": dict(pt.params), "scans": [scan.name]}
            m["points"] = list(index.values())
            m["version"] = 1
            write_text(self.manifest_path, json.dumps(m, indent=1, default=str) + "\n")
        finally:
            os.close(fd)


class PointLock:
    """An exclusive ``flock`` on a lock file, released by the kernel if the holder dies."""

    def __init__(self, path):
        self.path = Path(path)
        self.fd = None

    def acquire(self, blocking: bool = False) -> bool:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | NOFOLLOW, 0o666)
            except OSError as exc:
                raise DataError(f"{self.path}: cannot open the lock file ({exc.strerror or exc}; "
                                f"a symbolic link is never followed)") from None
            try:
                _flock(fd, blocking)
            except BlockingIOError:
                os.close(fd)
                return False
            # The previous holder may have unlinked the file between our open and flock:
            # then we locked an orphan inode; start again on the current file.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
            self.fd = fd
            return True

    def release(self) -> None:
        if self.fd is not None:
            try:
                self.path.unlink(missing_ok=True)  # while still held: see acquire()
            finally:
                os.close(self.fd)
                self.fd = None


def error_record(h, params, exc_type, message, tb="") -> dict:
    return {"hash": h, "params": params, "type": exc_type, "message": message, "traceback": tb,
            "host": socket.gethostname(), "pid": os.getpid(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
