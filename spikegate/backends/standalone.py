r"""The compiled engine: the spiking network built once with Brian2's ``cpp_standalone`` device.

:class:`StandaloneClassifier` builds the same Brian2 objects as
:class:`~spikegate.backends.spiking.GatedClassifier` under the ``cpp_standalone`` device,
records one run of a chunk (``chunk`` presentations and the closing idle row), and compiles
the C++ project once. Every chunk is then one execution of the binary with *run arguments*
(``device.run(run_args=...)``): the weights, the schedule and the chunk's pixel table, the
gate's constants, whether it learns, and a random seed go in; the weights, the decisions
and the ledger come back from the result files. Nothing is recompiled between chunks,
trainings, seeds, gates or data sets.

* The project lives in ``$SPIKEGATE_CACHE/standalone/<key>`` (default
  ``~/.cache/spikegate/standalone``), the key a hash of everything that is compiled in: the
  network declaration, the chunk and the object names. A second process with the same key
  finds the binary up to date (``make`` recompiles nothing); several processes share it and
  write their results into a directory of their own (``results-<host>-<pid>``); a process builds under
  an exclusive lock and runs under a shared one (:func:`project_lock`), so no binary is
  rebuilt while another process runs it.
* Run arguments that are arrays go to files of the process (``run-args-<host>-<pid>/``),
  overwritten by the next run: no file is shared between processes. A process removes its
  run-argument and results folders at exit, and a build removes those of this host's
  processes that no longer run (killed ones), so they do not pile up.
* Brian2's random seed is compiled in; the seed is therefore a state variable of the
  control group (a run argument) and code inserted into ``main`` reseeds the generators
  from it at the start of every run. Each chunk gets its own seed, drawn from the
  classifier's seed and the chunk's number: reruns are identical.
* A run always simulates a whole chunk; a shorter last chunk is padded with idle rows.
* One standalone project is active per process (Brian2's device is a singleton): building
  another network structure re-initialises the device, and earlier classifiers of another
  structure can no longer run (they raise an error saying so).
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import json
import os
import socket
import time
from pathlib import Path

import numpy as np

from ..errors import EngineError, ParameterError
from ..ledger import PresentationLog
from ..model import Gate, NetworkSpec
from .inputs import check_labels, check_memgate, check_projection, check_samples, check_seed, check_weights
from .spiking import GatedClassifier, gate_constants

#: The project that is built in this process: its identity (key, directory), objects and device.
_ACTIVE: dict = {}


def cache_root() -> Path:
    base = os.environ.get("SPIKEGATE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "spikegate")
    return Path(base) / "standalone"


def structure_key(spec: NetworkSpec, chunk: int, name: str) -> str:
    """What the compiled code depends on (the gate, the seed, weights and data do not)."""
    text = json.dumps({"spec": spec.to_dict(), "chunk": chunk, "name": name}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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


_SOURCES = ("*.cpp", "*.h", "code_objects/*.cpp", "code_objects/*.h", "brianlib/*", "makefile", "win_makefile")


def _source_stamps(directory: Path) -> dict:
    """Content hash and modification time of every generated source file of a project."""
    stamps = {}
    for pattern in _SOURCES:
        for path in Path(directory).glob(pattern):
            if path.is_file():
                stamps[path] = (hashlib.sha256(path.read_bytes()).digest(), path.stat().st_mtime_ns)
    return stamps


def _restore_unchanged_stamps(directory: Path, before: dict) -> None:
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
_ARTIFACTS = ("main", "make.deps", "*.o", "code_objects/*.o", "brianlib/*.o")


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(directory: Path, patterns) -> list[Path]:
    return sorted(p for pattern in patterns for p in Path(directory).glob(pattern) if p.is_file())


def _read_manifest(directory: Path) -> dict:
    """The recorded checksums (relative path -> SHA-256), empty if missing or unreadable."""
    try:
        data = json.loads((Path(directory) / MANIFEST).read_text())
        files = data["files"]
        if isinstance(files, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            return files
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return {}


def _remove_unrecorded(directory: Path) -> list[str]:
    """Remove every binary and object file whose checksum is not the recorded one (all of them
    when there is no record), so that ``make`` builds them again; return their names."""
    recorded = _read_manifest(directory)
    removed = []
    for path in _files(directory, _ARTIFACTS):
        rel = str(path.relative_to(directory))
        if recorded.get(rel) != _digest(path):
            path.unlink(missing_ok=True)
            removed.append(rel)
    return removed


def _write_manifest(directory: Path) -> None:
    from ..files import write_json

    files = {str(p.relative_to(directory)): _digest(p) for p in _files(directory, _ARTIFACTS + _SOURCES)}
    write_json(Path(directory) / MANIFEST, {"files": files}, error=EngineError)


_DISK_FULL = ("No space left", "File too large", "Disk quota exceeded")


def _make(directory: Path) -> None:
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
        for path in _files(directory, _ARTIFACTS):
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


def _build(spec: NetworkSpec, gate: Gate, n_images_placeholder: int, chunk: int, name: str, directory: Path):
    """Build and compile the project; returns (classifier objects, device, seconds)."""
    import brian2 as b2
    from brian2.devices.device import all_devices, reset_device

    t0 = time.perf_counter()
    check_cache_directory(directory)
    standalone = all_devices["cpp_standalone"]
    if _ACTIVE or standalone.has_been_run or standalone.code_objects:
        standalone.reinit()  # one standalone project per process: forget the previous one
        _ACTIVE.clear()
    b2.set_device("cpp_standalone", build_on_run=False, directory=str(directory))
    device = b2.get_device()
    try:
        clf = GatedClassifier(spec, gate, np.zeros((max(1, n_images_placeholder), spec.n_in)), chunk=chunk, name=name)
        net = b2.Network(clf.objects, name=f"{name}_network")
        device.apply_run_args()  # after every initial value: run arguments override them
        seed = device.get_array_name(clf.control.variables["rng_seed"])
        device.insert_code("main", "for (int _i = 0; _i < (int)brian::_random_generators.size(); _i++)\n"
                                   f"    brian::_random_generators[_i].seed((unsigned long)brian::{seed}[0] + _i);")
        net.run(clf.duration(chunk), namespace={})
        with project_lock(directory, exclusive=True):  # no process runs the binary while it is rebuilt
            try:
                before = _source_stamps(directory)
                _remove_unrecorded(directory)
                (directory / MANIFEST).unlink(missing_ok=True)   # nothing is vouched for until the build is done
                device.build(directory=str(directory), compile=False, run=False, with_output=False)
                _restore_unchanged_stamps(directory, before)
                _make(directory)
                _write_manifest(directory)
            except OSError as exc:   # a full or read-only disk while writing the sources
                raise EngineError(f"compiled-engine cache {directory}: cannot write ({exc.strerror or exc}); free "
                                  "space or set SPIKEGATE_CACHE to another directory") from None
            remove_process_folders(directory, only_dead=True)
    finally:
        reset_device()
    return clf, device, time.perf_counter() - t0


def _binary_signature(directory: Path) -> tuple:
    st = (Path(directory) / "main").stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


class StandaloneClassifier:
    """A spiking classifier whose chunks run as one compiled binary (see the module docstring).

    Parameters are those of :class:`~spikegate.backends.spiking.GatedClassifier`, plus
    ``directory`` (the project; default under :func:`cache_root`).
    """

    def __init__(self, spec: NetworkSpec, gate: Gate, images, seed: int = 0, chunk: int = 1000, name: str = "sg",
                 directory=None):
        if not isinstance(gate, Gate):
            raise ParameterError(f"StandaloneClassifier.gate: expected a Gate, got {type(gate).__name__}")
        if spec.t_test is not None:
            raise ParameterError("network.t_test: the compiled engine tests with the training window; remove it "
                                 "or use train.device = \"runtime\"", "network.t_test")
        self.spec, self.gate, self.chunk, self.name = spec, gate, int(chunk), name
        self.seed = check_seed(seed, "StandaloneClassifier.seed")
        self.key = structure_key(spec, self.chunk, name)
        self.directory = Path(directory) if directory is not None else cache_root() / self.key
        self.results = process_folder("results")
        self.compile_seconds = 0.0
        self.ident = (self.key, str(self.directory.resolve()))
        if _ACTIVE.get("ident") != self.ident:
            clf, device, seconds = _build(spec, gate, 1, self.chunk, name, self.directory)
            _ACTIVE.update(ident=self.ident, classifier=clf, device=device, binary=_binary_signature(self.directory))
            self.compile_seconds = seconds
        self._clf = _ACTIVE["classifier"]
        self._device = _ACTIVE["device"]
        self.images = self._clf._checked_images(images)
        # the initial weights are the runtime classifier's: the same draws from the same seed
        rng = np.random.default_rng(seed)
        self.W = []
        for k in range(spec.n_projections):
            n_pre, n_post = spec.layers[k], spec.layers[k + 1]
            w0 = rng.normal(0.0, spec.init_gain[k] / np.sqrt(n_pre), size=(n_pre, n_post))
            self.W.append(np.clip(w0, -spec.rule.w_max, spec.rule.w_max))
        self.B = [rng.normal(0.0, spec.rule.feedback_scale / np.sqrt(spec.n_out), size=(spec.n_out, n_post))
                  for n_post in spec.layers[1:-1]]
        self.runs = 0

    @property
    def n_images(self) -> int:
        return len(self.images)

    def _check_active(self):
        if _ACTIVE.get("ident") != self.ident:
            raise ParameterError("StandaloneClassifier: another network structure was built in this process since; "
                                 "build this classifier again")

    def weights(self, k: int) -> np.ndarray:
        return self.W[check_projection(k, self.spec.n_projections)].copy()

    def set_weights(self, k: int, W) -> None:
        k = check_projection(k, self.spec.n_projections)
        self.W[k] = check_weights(k, W, self.W[k].shape)

    def present(self, samples, labels, memgate=None, learn: bool = True, progress=None) -> PresentationLog:
        """Present ``samples`` in order, one run of the binary per chunk (see the module docstring)."""
        self._check_active()
        clf, device = self._clf, self._device
        clf._install_images(self.images)   # the shared objects serve every classifier of this structure
        samples = check_samples(samples, self.n_images)
        labels = check_labels(labels, len(samples), self.spec.n_out)
        memgate = check_memgate(memgate, len(samples))
        gate_values = gate_constants(self.gate)
        logs, t0 = [], time.perf_counter()
        for a in range(0, len(samples), self.chunk):
            b = min(a + self.chunk, len(samples))
            schedule, pixels = clf.schedule_tables(samples[a:b], labels[a:b], memgate[a:b], learn)
            run_args = {clf.namespace["schedule"]: schedule, clf.namespace["pixels"]: pixels,
                        clf.control.learning: float(learn), clf.control.rng_seed: self._run_seed(),
                        **{getattr(clf.control, name): value for name, value in gate_values.items()},
                        **{s.w: W.ravel() for s, W in zip(clf.synapses, self.W)},
                        **{fb.B: B.ravel() for fb, B in zip(clf.feedback, self.B)}}
            tc = time.perf_counter()
            with project_lock(self.directory, exclusive=False):
                self._check_binary()
                try:
                    with contextlib.redirect_stdout(io.StringIO()):   # Brian2 prints the binary's output on failure
                        device.run(directory=str(self.directory), results_directory=self.results,
                                   with_output=False, run_args=self._run_args(run_args))
                except RuntimeError:
                    (self.directory / MANIFEST).unlink(missing_ok=True)   # the next build starts from clean
                    raise EngineError(f"compiled engine: the binary in {self.directory} failed; run again to "
                                      "rebuild it") from None
            for k, s in enumerate(clf.synapses):
                self.W[k] = np.array(s.w[:], dtype=float).reshape(self.W[k].shape)
            clf._scheduled, clf._rows = b - a, clf.rows_per_presentation(learn)
            logs.append(clf._collect(0, b - a, time.perf_counter() - tc))
            if progress is not None:
                progress(b - a)
        return _concatenate(logs, time.perf_counter() - t0)

    def _check_binary(self) -> None:
        """The binary must be the one the build recorded: checked by its checksum whenever its
        file changed since this process last looked (another process may have rebuilt it)."""
        try:
            signature = _binary_signature(self.directory)
        except OSError:
            signature = None
        if signature is not None and signature == _ACTIVE.get("binary"):
            return
        recorded = _read_manifest(self.directory).get("main")
        if signature is None or recorded is None or recorded != _digest(self.directory / "main"):
            raise EngineError(f"compiled engine: the binary in {self.directory} is missing or not the one that was "
                              "built (changed or replaced by another program); run again to rebuild it")
        _ACTIVE["binary"] = signature

    def _run_args(self, values: dict) -> list[str]:
        """Run arguments as ``name=value`` (scalars) or ``name=/path`` (arrays), the arrays written to
        files of this process that the next run overwrites: processes sharing the binary never
        share or delete each other's files, and nothing piles up in ``static_arrays``."""
        from brian2 import TimedArray

        folder = self.directory / process_folder("run-args")
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            atexit.register(remove_process_folders, self.directory, pid=os.getpid())
        assignments = []
        for key, value in values.items():
            if isinstance(key, TimedArray):
                name, dtype = f"{key.name}.values", key.values.dtype
            else:
                name, dtype = f"{key.group_name}.{key.name}", key.dtype
            array = np.asarray(value, dtype=dtype)
            if array.size == 1:
                assignments.append(f"{name}={array.item()!r}")
            else:
                path = folder / f"{name}.dat"
                array.tofile(path)
                assignments.append(f"{name}={path}")
        return assignments

    def _run_seed(self) -> int:
        self.runs += 1
        return int(np.random.SeedSequence([self.seed, self.runs]).generate_state(1)[0] % (2 ** 31))


def _concatenate(logs: list, wall: float) -> PresentationLog:
    if not logs:
        return PresentationLog(samples=np.zeros(0, np.int64), labels=np.zeros(0, np.int64), counts=np.zeros((0, 0)),
                               mistake=np.zeros(0, bool), gate_open=np.zeros(0, bool),
                               writes=np.zeros((0, 0), np.int64), sum_abs_dw=np.zeros((0, 0)),
                               sum_abs_dw_alpha=np.zeros((0, 0)), trace_updates=np.zeros((0, 0), np.int64))
    if len(logs) == 1:
        logs[0].wall_seconds = wall
        return logs[0]
    fields = ("samples", "labels", "counts", "mistake", "gate_open", "writes", "sum_abs_dw", "sum_abs_dw_alpha",
              "trace_updates", "transient_writes", "maintenance", "drive")
    return PresentationLog(**{f: np.concatenate([getattr(log, f) for log in logs]) for f in fields},
                           wall_seconds=wall)
