"""The compiled engine's cache: one project directory per network structure, shared by processes.

* The project of a structure lives in ``$SPIKEGATE_CACHE/standalone/<key>`` (default
  ``~/.cache/spikegate/standalone``; :func:`cache_root`). Several processes share it: each
  writes its results and run arguments into folders of its own (:func:`process_folder`),
  builds under an exclusive lock and runs under a shared one (:func:`project_lock`), so no
  binary is rebuilt while another process runs it. A process removes its folders at exit,
  and a build removes those of this host's processes that no longer run.
* After a successful build the project records a SHA-256 of its binary, objects and sources,
  and the run layout (:data:`MANIFEST`). A later process that finds every binary and object
  matching the record runs the binary without generating any code (:func:`verified_layout`);
  one that does not removes what does not match (corrupted, truncated, replaced, or left by
  a build that died) and builds again (:func:`remove_unrecorded`, :func:`make`). A failed
  build leaves nothing that is vouched for; an unusable cache is refused in one line naming
  it and ``SPIKEGATE_CACHE`` (:func:`check_cache_directory`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
from pathlib import Path

from ...errors import EngineError
from ...files import write_json


def cache_root() -> Path:
    base = os.environ.get("SPIKEGATE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "spikegate")
    return Path(base) / "standalone"


@contextlib.contextmanager
def project_lock(directory: Path, exclusive: bool):
    """A lock on the project shared by processes: exclusive to build, shared to run the binary.

    ``flock`` where the system has it (the kernel releases it if the holder dies); elsewhere
    an exclusive lock for both, which only serialises the runs.
    """
    path = Path(directory) / ".project.lock"
    try:
        import fcntl
    except ImportError:  # not POSIX
        from brian2.utils.filelock import FileLock

        with FileLock(str(path)):
            yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process
        return True
    return True


def process_folder(kind: str, pid: int | None = None) -> str:
    """``run-args-<host>-<pid>`` or ``results-<host>-<pid>``: one per process that runs the binary
    (the host too: a cache in a home directory may be shared by the nodes of a cluster)."""
    host = "".join(c if c.isalnum() else "_" for c in socket.gethostname()) or "host"
    return f"{kind}-{host}-{os.getpid() if pid is None else pid}"


def remove_process_folders(directory: Path, only_dead: bool = False, pid: int | None = None) -> None:
    """Remove the run-argument and results folders (:func:`process_folder`) of one process of
    this host (``pid``), or of every process of this host that no longer runs (``only_dead``):
    they would otherwise pile up, one pair per process that ever ran the binary."""
    import shutil

    for kind in ("run-args", "results"):
        stem = process_folder(kind, 0)[:-1]
        for folder in Path(directory).glob(f"{stem}*"):
            number = folder.name[len(stem):]
            if not number.isdigit() or not folder.is_dir():
                continue
            if (pid is not None and int(number) == pid) or (only_dead and not _alive(int(number))):
                shutil.rmtree(folder, ignore_errors=True)


SOURCES = ("*.cpp", "*.h", "code_objects/*.cpp", "code_objects/*.h", "brianlib/*", "makefile", "win_makefile")


def source_stamps(directory: Path) -> dict:
    """Content hash and modification time of every generated source file of a project."""
    stamps = {}
    for pattern in SOURCES:
        for path in Path(directory).glob(pattern):
            if path.is_file():
                stamps[path] = (hashlib.sha256(path.read_bytes()).digest(), path.stat().st_mtime_ns)
    return stamps


def restore_unchanged_stamps(directory: Path, before: dict) -> None:
    """Brian2 rewrites every source file at each build (``main.cpp`` included): give the ones
    whose content did not change their old modification time, so ``make`` rebuilds nothing."""
    for path, (digest, mtime) in before.items():
        try:
            if hashlib.sha256(path.read_bytes()).digest() == digest:
                os.utime(path, ns=(mtime, mtime))
        except OSError:
            pass


#: The build record of a project: checksums of the binary, its objects and its sources, written
#: after a successful build. An artifact that does not match it (corrupted, replaced, or left
#: by a build that died) is removed and built again.
MANIFEST = "spikegate-build.json"
ARTIFACTS = ("main", "make.deps", "*.o", "code_objects/*.o", "brianlib/*.o")


def digest_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(directory: Path, patterns) -> list[Path]:
    return sorted(p for pattern in patterns for p in Path(directory).glob(pattern) if p.is_file())


def read_manifest(directory: Path) -> dict:
    """The build record: ``files`` (relative path -> SHA-256) and ``layout`` (what a process
    needs to run the binary); empty if missing or unreadable."""
    try:
        data = json.loads((Path(directory) / MANIFEST).read_text())
        files = data["files"]
        if isinstance(files, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()) \
                and isinstance(data.get("layout"), dict):
            return data
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        pass
    return {}


def recorded_files(directory: Path) -> dict:
    return read_manifest(directory).get("files", {})


def verified_layout(directory: Path) -> dict | None:
    """The layout of a project whose binary and objects all match their record (None otherwise):
    a cache hit, run without building anything."""
    manifest = read_manifest(directory)
    files = manifest.get("files", {})
    if "main" not in files:
        return None
    for rel, digest in files.items():
        path = Path(directory) / rel
        if any(path.match(p) for p in ARTIFACTS) and (not path.is_file() or digest_of(path) != digest):
            return None
    return manifest["layout"]


def remove_unrecorded(directory: Path) -> list[str]:
    """Remove every binary and object file whose checksum is not the recorded one (all of them
    when there is no record), so that ``make`` builds them again; return their names."""
    recorded = recorded_files(directory)
    removed = []
    for path in _files(directory, ARTIFACTS):
        rel = str(path.relative_to(directory))
        if recorded.get(rel) != digest_of(path):
            path.unlink(missing_ok=True)
            removed.append(rel)
    return removed


#: One line per build of a project (process, host, time): what a test counts, and a user's audit trail.
BUILD_LOG = "builds.jsonl"


def write_manifest(directory: Path, layout: dict) -> None:
    """Record the checksums of the binary, its objects and sources, and the run layout; log the build."""
    import time

    files = {str(p.relative_to(directory)): digest_of(p) for p in _files(directory, ARTIFACTS + SOURCES)}
    write_json(Path(directory) / MANIFEST, {"files": files, "layout": layout}, error=EngineError)
    with open(Path(directory) / BUILD_LOG, "a") as log:
        log.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}) + "\n")


def builds(directory: Path) -> int:
    """How many builds :data:`BUILD_LOG` records."""
    try:
        return len((Path(directory) / BUILD_LOG).read_text().splitlines())
    except OSError:
        return 0


_DISK_FULL = ("No space left", "File too large", "Disk quota exceeded")


def make(directory: Path) -> None:
    """Compile the project with ``make``, output captured; after a failure, once more from clean
    (a corrupted object or dependency file is then rebuilt). A second failure leaves no
    half-built binary and raises :class:`EngineError` with make's last error line."""
    import subprocess

    from brian2 import prefs

    command = [prefs.devices.cpp_standalone.make_cmd_unix, *prefs.devices.cpp_standalone.extra_make_args_unix]
    for attempt in (1, 2):
        try:
            proc = subprocess.run(command, cwd=directory, capture_output=True, text=True, errors="replace")
        except OSError as exc:
            raise EngineError(f"compiled engine: cannot run {command[0]!r} in {directory} ({exc.strerror or exc})") \
                from None
        if proc.returncode == 0:
            return
        for path in _files(directory, ARTIFACTS):
            path.unlink(missing_ok=True)
        if any(full in proc.stderr for full in _DISK_FULL):
            break       # a full disk is not mended by building again
    errors = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
    first = [ln for ln in errors if any(f in ln for f in _DISK_FULL)] or [ln for ln in errors if "error:" in ln]
    reason = (first or errors or [f"make exited with {proc.returncode}"])[-1][:300]
    raise EngineError(f"compiled engine: the build in {directory} failed ({reason}); free space or set "
                      f"SPIKEGATE_CACHE to another directory")


def check_cache_directory(directory: Path) -> Path:
    """Create ``directory`` if needed and check that this process can write there; an unusable
    cache is refused in one line that names it and the variable that moves it."""
    import tempfile

    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".spikegate-write-test-"):
            pass
    except OSError as exc:
        raise EngineError(f"compiled-engine cache {directory}: not usable ({exc.strerror or exc}); set "
                          "SPIKEGATE_CACHE to a writable directory") from None
    return directory


