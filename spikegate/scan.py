"""Parameter scans: many trainings of one model, resumable, in local processes or on Dask.

A scan file (TOML) names a model specification, fixed overrides, the swept axes and the
seeds::

    model = "../models/digits.toml"     # relative to the scan file (else to the working dir)
    name = "digits-gates"               # optional; default: the scan file's stem
    seeds = [1, 2, 3, 4]                # sets the top-level ``seed`` key; crossed with all axes
    random_seed = 0                     # optional: seeds the [random] axes (default 0)

    [set]                               # fixed overrides (dotted config keys)
    "data.n_train" = 300
    "train.epochs" = 1

    [grid]                              # one axis per key, all axes crossed
    "gate.name" = ["always", "lazy", "trace"]
    "rule.eta" = ["0.25 Hz", "0.5 Hz"]

    [random]                            # one axis of n sampled values per key (reproducible)
    "gate.tau_mem" = {low = 1, high = 50, n = 4, log = true}
    "rule.tau_e" = {low = 50, high = 200, n = 3, unit = "ms"}   # values "73.2 ms", ...

    [zip]                               # lists of equal length, stepped together: one axis
    "rule.eta" = ["0.25 Hz", "0.5 Hz"]
    "rule.eta_hidden" = ["0.1 Hz", "0.2 Hz"]
    # (several zipped groups: [[zip]] tables)

Every point (one combination of axis values and one seed) is resolved with
:func:`spikegate.config.resolve` before anything runs, so an unknown key, an empty axis or a
bad value stops the scan at once (``spikegate: error: ...``, exit code 2). A point is
identified by the SHA-256 of its resolved config TOML (first 16 hex digits) and trains into
``STORE/points/<hash>`` -- a normal run directory, written atomically by
:func:`spikegate.training.train`.

Store layout::

    STORE/scan.json                 manifest: swept keys and every point's values (merged
                                    over all scans run into this store; written atomically)
    STORE/points/<hash>/            complete run directory (config.toml, metrics.json, ...)
    STORE/points/<hash>.error.json  the last failure of that point (type, message, traceback)
    STORE/points/<hash>.lock        exists while a worker holds the point

Resume and safety: a rerun skips points whose run directory is complete and retries failed
ones. A worker holds an exclusive ``fcntl.flock`` on ``points/<hash>.lock`` for the whole
training; the kernel releases it when the process dies (even on SIGKILL), so no PID files go
stale. Two scans on one store never run a point twice at once: a point locked elsewhere is
put back and, after all other points, waited for (then skipped if it finished there, or run
if its holder died). Stale ``.<hash>.partial-*`` temporaries of killed runs are removed
under the lock. A SIGKILLed scan therefore loses only the points in flight (local workers
exit when their parent dies). A failing point writes ``<hash>.error.json``; the scan goes on
and reports the failures at the end (exit code 1).

Execution:

* default: ``--workers N`` local worker processes (spawn; one per core by default). Each
  imports Brian2 in its main thread (Brian2 installs a SIGINT handler, which Python only
  allows there) and trains many points; compiled Cython code is reused from
  ``~/.cython/brian_extensions`` (set ``CYTHON_CACHE_DIR`` to move it), since the Brian2
  objects have stable names, so only a worker's first point of a new shape pays for
  compilation.
* ``--dask-local N``: a ``distributed.LocalCluster(n_workers=N, processes=True,
  threads_per_worker=1)``; ``--scheduler ADDRESS``: an existing Dask scheduler. Dask runs
  tasks in worker threads, where importing Brian2 fails ("signal only works in main
  thread"), so the scan registers a worker plugin (:class:`BrianWorkerPlugin`) whose
  ``setup`` imports and configures Brian2 in each worker's main (event-loop) thread; the
  tasks then train in the single worker thread. Use one thread per worker. The store must be
  on a file system that all workers share and that supports ``flock`` (local disks, NFSv4,
  Lustre/GPFS with flock enabled).

On a SLURM cluster, with dask-jobqueue::

    from dask_jobqueue import SLURMCluster
    from distributed import Client
    from spikegate.scan import load_scan, run_scan

    cluster = SLURMCluster(cores=1, processes=1, memory="4GB", walltime="02:00:00",
                           job_extra_directives=["--cpus-per-task=1"])
    cluster.scale(jobs=32)
    run_scan(load_scan("experiments/scan_digits_gates.toml"), "/shared/scans/gates",
             client=Client(cluster))

or start the scheduler and ``dask worker ADDRESS --nthreads 1`` jobs yourself and run
``spikegate scan SCAN.toml --store /shared/DIR --scheduler ADDRESS``. Killed or preempted
jobs are resumed by rerunning the same command.

Results: :func:`collect` gives one row per finished point (swept keys, ``seed`` and every
scalar metric); :func:`plot_axis` draws mean +/- s.e.m. over seeds against one axis with one
line per gate, :func:`plot_heatmap` a mean over two axes (``spikegate collect``).
"""
from __future__ import annotations

import csv
import fcntl
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import tomllib
import traceback
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, DataError, SpikegateError

SCAN_KEYS = ("model", "name", "seeds", "random_seed", "set", "grid", "random", "zip")
RANDOM_KEYS = ("low", "high", "n", "log", "unit", "integer", "digits")
HASH_CHARS = 16
RUN_FILES = ("config.toml", "metrics.json", "weights.npz", "ledger.npz")  # as spikegate.training


# --------------------------------------------------------------------------- scan files


@dataclass(frozen=True)
class Point:
    """One training of a scan: its swept values (with ``seed``) and its resolved config."""

    hash: str
    params: dict
    config_toml: str

    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.params.items()) or "(defaults)"


@dataclass
class Scan:
    """A parsed, fully validated scan file."""

    name: str
    model: str
    fixed: dict
    keys: list
    points: list
    source: str = ""
    duplicates: int = 0


def _flatten(table: dict, stop=lambda v: False, prefix: str = "") -> dict:
    out = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and not stop(v):
            out.update(_flatten(v, stop, key + "."))
        else:
            out[key] = v
    return out


def _check_config_key(key: str, where: str) -> None:
    from .config import _set_dotted

    try:
        _set_dotted({}, key, None)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _axis_list(values, where: str) -> list:
    if not isinstance(values, list):
        raise ConfigError(f"{where} = {values!r}: expected a list of values")
    if not values:
        raise ConfigError(f"{where}: empty axis; give at least one value")
    seen = []
    for v in values:
        if v in seen:
            raise ConfigError(f"{where}: value {v!r} listed twice")
        seen.append(v)
    return values


def _round_sig(x: float, digits: int) -> float:
    return float(f"{x:.{digits}g}")


def _random_axis(key: str, spec, seed: int, where: str) -> list:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} = {spec!r}: expected a table {{low = ..., high = ..., n = ...}}")
    unknown = [k for k in spec if k not in RANDOM_KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(RANDOM_KEYS)}")
    for k in ("low", "high", "n"):
        if k not in spec:
            raise ConfigError(f"{where}: missing {k!r}; e.g. {{low = 1, high = 10, n = 5, log = true}}")
    low, high, n = spec["low"], spec["high"], spec["n"]
    for k, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"{where}.{k} = {v!r}: expected a finite number")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"{where}.n = {n!r}: must be an integer >= 1" if n != 0 else
                          f"{where}: empty axis (n = 0); give n >= 1")
    if not low < high:
        raise ConfigError(f"{where}: low = {low!r} must be < high = {high!r}")
    log = spec.get("log", False)
    if log and low <= 0:
        raise ConfigError(f"{where}: log = true needs low > 0 (got {low!r})")
    import numpy as np

    rng = np.random.default_rng([int(seed), zlib.crc32(key.encode())])
    u = np.sort(rng.uniform(0.0, 1.0, n))
    xs = np.exp(np.log(low) + u * (np.log(high) - np.log(low))) if log else low + u * (high - low)
    if spec.get("integer", False):
        vals = [int(round(x)) for x in xs]
    else:
        vals = [_round_sig(float(x), int(spec.get("digits", 4))) for x in xs]
    unit = spec.get("unit")
    if unit is not None and not isinstance(unit, str):
        raise ConfigError(f"{where}.unit = {unit!r}: expected a string such as 'ms'")
    out = []
    for v in vals:
        v = f"{v:g} {unit}" if unit else v
        if v not in out:
            out.append(v)
    return out


def _find_model(model, base: Path | None) -> str:
    if not isinstance(model, str) or not model:
        raise ConfigError(f"model = {model!r}: expected the path of a model file, e.g. \"models/digits.toml\"")
    p = Path(model).expanduser()
    if p.is_absolute():
        candidates = [p]
    else:
        candidates = ([base / p] if base is not None else []) + [Path.cwd() / p]
    for c in candidates:
        if c.is_file():
            return str(c.resolve())
    raise ConfigError(f"model = {model!r}: not found (looked in {', '.join(str(c.parent) for c in candidates)})")


def config_hash(config_toml: str) -> str:
    """The point identifier: SHA-256 of the resolved config TOML (first 16 hex digits)."""
    return hashlib.sha256(config_toml.encode()).hexdigest()[:HASH_CHARS]


def load_scan(source, base_dir=None, check_data: bool = True) -> Scan:
    """Parse and validate a scan file (path) or the same content as a dict.

    Every point is resolved (unknown keys, bad values and empty axes raise
    :class:`ConfigError` naming the scan file and the point); with ``check_data`` each data
    set is loaded once to check ``data.n_train``/``n_test`` and the input size.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        where = f"scan file {path}"
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read ({exc.strerror or exc})") from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}: invalid TOML ({exc})") from None
        base = path.resolve().parent if base_dir is None else Path(base_dir)
        default_name = path.stem
    else:
        raw, where = dict(source), "scan"
        base = Path(base_dir) if base_dir is not None else None
        default_name = "scan"
    try:
        return _parse(raw, base, default_name, check_data, str(source) if isinstance(source, (str, Path)) else "")
    except SpikegateError as exc:
        raise type(exc)(f"{where}: {exc}") from None


def _parse(raw: dict, base, default_name, check_data, source) -> Scan:
    from .config import resolve

    unknown = [k for k in raw if k not in SCAN_KEYS]
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}; allowed: {', '.join(SCAN_KEYS)}")
    if "model" not in raw:
        raise ConfigError("model: required, e.g. model = \"../models/digits.toml\"")
    model = _find_model(raw["model"], base)
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"name = {name!r}: expected a non-empty string")
    random_seed = raw.get("random_seed", 0)
    if isinstance(random_seed, bool) or not isinstance(random_seed, int) or random_seed < 0:
        raise ConfigError(f"random_seed = {random_seed!r}: expected an integer >= 0")
    for sect in ("set", "grid", "random"):
        if sect in raw and not isinstance(raw[sect], dict):
            raise ConfigError(f"{sect} = {raw[sect]!r}: expected a table [{sect}]")
    fixed = _flatten(raw.get("set", {}))
    for k in fixed:
        _check_config_key(k, f"[set] {k}")

    axes = []  # (keys, list of value tuples)
    for k, vals in _flatten(raw.get("grid", {})).items():
        _check_config_key(k, f"[grid] {k}")
        axes.append(((k,), [(v,) for v in _axis_list(vals, f"[grid] {k}")]))
    is_spec = lambda v: any(x in v for x in ("low", "high", "n"))  # noqa: E731
    for k, spec in _flatten(raw.get("random", {}), stop=is_spec).items():
        _check_config_key(k, f"[random] {k}")
        axes.append(((k,), [(v,) for v in _random_axis(k, spec, random_seed, f"[random] {k}")]))
    zips = raw.get("zip", [])
    zips = [zips] if isinstance(zips, dict) else zips
    if not isinstance(zips, list) or not all(isinstance(z, dict) for z in zips):
        raise ConfigError("zip: expected a table [zip] or tables [[zip]] of equal-length lists")
    for g, group in enumerate(zips):
        flat = _flatten(group)
        if not flat:
            raise ConfigError("[zip]: empty group; give at least one key = [values]")
        lists = {}
        for k, vals in flat.items():
            _check_config_key(k, f"[zip] {k}")
            if not isinstance(vals, list):
                raise ConfigError(f"[zip] {k} = {vals!r}: expected a list of values")
            if not vals:
                raise ConfigError(f"[zip] {k}: empty axis; give at least one value")
            lists[k] = vals
        lengths = {len(v) for v in lists.values()}
        if len(lengths) > 1:
            raise ConfigError(f"[zip]: lists of different lengths ({', '.join(f'{k}: {len(v)}' for k, v in lists.items())})")
        rows = list(zip(*lists.values()))
        if len(set(map(repr, rows))) != len(rows):
            raise ConfigError(f"[zip] {', '.join(lists)}: a combination is listed twice")
        axes.append((tuple(lists), rows))

    seeds = raw.get("seeds")
    if seeds is not None:
        seeds = _axis_list(seeds, "seeds")
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                raise ConfigError(f"seeds: {s!r} is not an integer >= 0")
    keys = [k for ks, _ in axes for k in ks]
    if seeds is not None:
        keys.append("seed")
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ConfigError(f"{dup[0]!r} is swept twice; give each key in one axis only")
    both = [k for k in keys if k in fixed]
    if both:
        raise ConfigError(f"{both[0]!r} is both fixed ([set]) and swept; remove one")

    points, seen, duplicates = [], set(), 0
    seed_axis = [(s,) for s in seeds] if seeds is not None else [()]
    for seed_vals in seed_axis:  # seeds outermost: the first seed covers the whole grid first
        for combo in itertools.product(*(rows for _, rows in axes)):
            params = {}
            for (ks, _), row in zip(axes, combo):
                params.update(zip(ks, row))
            if seed_vals:
                params["seed"] = seed_vals[0]
            try:
                cfg = resolve(model, list(fixed.items()) + list(params.items()))
            except SpikegateError as exc:
                label = ", ".join(f"{k}={v!r}" for k, v in params.items())
                raise ConfigError(f"point {{{label}}}: {exc}") from None
            text = cfg.to_toml()
            h = config_hash(text)
            if h in seen:
                duplicates += 1
                continue
            seen.add(h)
            points.append((Point(h, params, text), cfg))
    if check_data:
        _check_data(points)
    return Scan(name=name, model=model, fixed=fixed, keys=keys, points=[p for p, _ in points],
                source=source, duplicates=duplicates)


def _check_data(points) -> None:
    """Load each data set once; check sizes and input width of every point before running."""
    from . import data as data_mod

    loaded, validated = {}, {}
    for point, cfg in points:
        d = cfg.section("data")
        src = (d["source"], d["dir"] or None, d["path"] or None, cfg.spec.n_out)
        try:
            if src not in loaded:
                loaded[src] = data_mod.load(src[0], data_dir=src[1], path=src[2], n_classes=src[3])
            vkey = src + (cfg.spec.n_in,)
            if vkey not in validated:
                validated[vkey] = data_mod.validate(loaded[src], n_pixels=cfg.spec.n_in, n_classes=cfg.spec.n_out)
            validated[vkey].subset(d["n_train"], d["n_test"])
        except SpikegateError as exc:
            raise DataError(f"point {{{', '.join(f'{k}={v!r}' for k, v in point.params.items())}}}: {exc}") from None


# --------------------------------------------------------------------------- the store


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
        d = self.run_dir(h)
        return d.is_dir() and all((d / f).is_file() for f in RUN_FILES)

    def partials(self, h=None) -> list:
        pattern = f".{h}.partial-*" if h else ".*.partial-*"
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
            h = p.name[1:].split(".partial-")[0]
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
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return {"version": 1, "keys": [], "scans": {}, "points": []}
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.manifest_path}: unreadable ({exc})") from None

    def errors(self) -> dict:
        out = {}
        for p in sorted(self.points.glob("*.error.json")) if self.points.is_dir() else []:
            h = p.name[: -len(".error.json")]
            if self.is_done(h):
                continue
            try:
                out[h] = json.loads(p.read_text())
            except (OSError, ValueError):
                out[h] = {"message": "unreadable error record"}
        return out

    def record(self, scan: Scan) -> None:
        """Merge the scan's points and keys into ``scan.json`` (atomically, under a store lock)."""
        self.points.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".scan.json.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
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
            _atomic_write(self.manifest_path, json.dumps(m, indent=1, default=str) + "\n")
        finally:
            os.close(fd)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class PointLock:
    """An exclusive ``flock`` on a lock file, released by the kernel if the holder dies."""

    def __init__(self, path):
        self.path = Path(path)
        self.fd = None

    def acquire(self, blocking: bool = False) -> bool:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
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


# --------------------------------------------------------------------------- one point


def _error_record(h, params, exc_type, message, tb="") -> dict:
    return {"hash": h, "params": params, "type": exc_type, "message": message, "traceback": tb,
            "host": socket.gethostname(), "pid": os.getpid(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}


def run_point(store_root, h: str, config_toml: str, params: dict, blocking: bool = False) -> dict:
    """Train one point into ``STORE/points/<h>`` unless it is finished or held elsewhere.

    Returns ``{"hash", "status": done|skipped|busy|failed, ...}``; a failure is also written
    to ``points/<h>.error.json``. Must run in a process where Brian2 has been imported in
    the main thread (local workers and the Dask plugin see to that).
    """
    store = Store(store_root)
    base = {"hash": h, "host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
    if store.is_done(h):
        return {**base, "status": "skipped", "seconds": 0.0}
    store.points.mkdir(parents=True, exist_ok=True)
    lock = PointLock(store.lock_path(h))
    if not lock.acquire(blocking):
        return {**base, "status": "busy", "seconds": 0.0}
    t0 = time.perf_counter()
    try:
        if store.is_done(h):
            return {**base, "status": "skipped", "seconds": 0.0}
        store.clean_partials(h)
        if store.run_dir(h).exists():  # not complete and not ours to guess about
            raise DataError(f"{store.run_dir(h)}: exists but is not a complete run directory; delete it to rerun")
        from .training import train

        res = train(tomllib.loads(config_toml), out=store.run_dir(h), progress=False)
        store.error_path(h).unlink(missing_ok=True)
        m = res.metrics
        return {**base, "status": "done", "seconds": time.perf_counter() - t0,
                "test_accuracy": m["test_accuracy"], "wall_seconds": m["wall_seconds"]}
    except Exception as exc:  # recorded; the scan goes on
        msg = f"{type(exc).__name__}: {exc}" if not isinstance(exc, SpikegateError) else str(exc)
        rec = _error_record(h, params, type(exc).__name__, msg, traceback.format_exc())
        try:
            _atomic_write(store.error_path(h), json.dumps(rec, indent=1, default=str) + "\n")
        except OSError:
            pass
        return {**base, "status": "failed", "error": msg, "seconds": time.perf_counter() - t0}
    finally:
        lock.release()


def _one_compute_thread() -> None:
    """Workers share the cores: a multi-threaded BLAS in each would oversubscribe them."""
    from threadpoolctl import threadpool_limits

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    threadpool_limits(1)


def _init_worker(parent_pid: int) -> None:
    """Local worker: Brian2 in the main thread; exit when the scan process is gone."""
    from .cli import _quiet_brian

    _one_compute_thread()
    _quiet_brian()

    def watch():
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="spikegate-parent-watch").start()


try:
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:  # dask is optional at import time
    _WorkerPlugin = object


class BrianWorkerPlugin(_WorkerPlugin):
    """Dask worker plugin: import and configure Brian2 in the worker's main thread."""

    name = "spikegate-brian2"

    def setup(self, worker=None):
        from .cli import _quiet_brian

        _one_compute_thread()
        _quiet_brian()


# --------------------------------------------------------------------------- running a scan


@dataclass
class ScanReport:
    n_points: int
    n_already: int = 0
    results: list = field(default_factory=list)   # one dict per point that was submitted
    failures: list = field(default_factory=list)  # (Point, message)
    seconds: float = 0.0

    def count(self, status) -> int:
        return sum(r["status"] == status for r in self.results)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def run_scan(scan: Scan, store, workers: int | None = None, scheduler: str | None = None,
             dask_local: int | None = None, client=None, progress: bool = True, log=None) -> ScanReport:
    """Run every unfinished point of ``scan`` into ``store``; see the module docstring."""
    store = Store(store)
    store.record(scan)
    store.clean_stale()
    t0 = time.perf_counter()
    todo = [p for p in scan.points if not store.is_done(p.hash)]
    report = ScanReport(len(scan.points), n_already=len(scan.points) - len(todo))
    log = log if log is not None else (lambda s: print(s, file=sys.stderr, flush=True))
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(scan.points), initial=report.n_already, unit="point", dynamic_ncols=True,
                   desc=scan.name)
    by_hash = {p.hash: p for p in scan.points}
    n_finished = [report.n_already]

    def on_result(point, r):
        if r["status"] == "busy":
            return
        report.results.append(r)
        n_finished[0] += 1
        if r["status"] == "failed":
            report.failures.append((point, r["error"]))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(failed=len(report.failures), refresh=False)
            if r["status"] == "failed":
                bar.write(f"failed: {point.hash} {point.label()}: {r['error']}")
        else:
            extra = (f": test accuracy {r['test_accuracy']:.4f} ({r['seconds']:.1f} s)" if r["status"] == "done"
                     else f": {r.get('error', 'finished elsewhere')}")
            log(f"[{n_finished[0]}/{len(scan.points)}] {r['status']} {point.hash} {point.label()}{extra}")

    try:
        if scheduler or dask_local or client is not None:
            runner = _DaskRunner(scheduler, dask_local, client)
        else:
            runner = _LocalRunner(workers or default_workers())
        with runner:
            busy = runner.run(store, todo, False, on_result)
            if busy:  # held by another scan: wait for each, then skip it or run it
                if bar is None:
                    log(f"{len(busy)} point(s) are running in another scan; waiting for them")
                wait = []
                for h in busy:
                    if store.is_done(h):  # finished there meanwhile
                        on_result(by_hash[h], {"hash": h, "status": "skipped", "seconds": 0.0})
                    else:
                        wait.append(by_hash[h])
                left = runner.run(store, wait, True, on_result) if wait else []
                assert not left
    finally:
        if bar is not None:
            bar.close()
    report.seconds = time.perf_counter() - t0
    return report


class _LocalRunner:
    """Spawned worker processes (concurrent.futures), each training many points."""

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def run(self, store, points, blocking, on_result) -> list:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        busy, attempts, pending = [], {}, list(points)
        while pending:
            ex = ProcessPoolExecutor(max_workers=min(self.workers, len(pending)),
                                     mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_init_worker, initargs=(os.getpid(),))
            try:
                futs = {ex.submit(run_point, str(store.root.resolve()), p.hash, p.config_toml, p.params, blocking): p
                        for p in pending}
                pending = []
                for f in as_completed(futs):
                    p = futs[f]
                    try:
                        r = f.result()
                    except BrokenProcessPool:
                        attempts[p.hash] = attempts.get(p.hash, 0) + 1
                        if attempts[p.hash] < 3:
                            pending.append(p)
                            continue
                        r = _failed_outside(store, p, "worker process died (3 times) while this point was queued "
                                                      "or running")
                    except Exception as exc:
                        r = _failed_outside(store, p, f"{type(exc).__name__}: {exc}")
                    if r["status"] == "busy":
                        busy.append(p.hash)
                    on_result(p, r)
            except BaseException:
                for proc in list(getattr(ex, "_processes", {}).values()):
                    proc.terminate()
                ex.shutdown(wait=False, cancel_futures=True)
                raise
            ex.shutdown(wait=True)
        return busy


def _failed_outside(store: Store, p: Point, message: str) -> dict:
    """A failure seen by the scan process (worker died, task lost): record it like run_point."""
    try:
        _atomic_write(store.error_path(p.hash),
                      json.dumps(_error_record(p.hash, p.params, "WorkerError", message), indent=1, default=str) + "\n")
    except OSError:
        pass
    return {"hash": p.hash, "status": "failed", "error": message, "seconds": 0.0}


class _DaskRunner:
    """dask.distributed: an existing scheduler, a given Client, or a process LocalCluster."""

    def __init__(self, scheduler=None, n_local=None, client=None):
        self.scheduler, self.n_local, self.client = scheduler, n_local, client
        self._own = []

    def __enter__(self):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("Dask execution needs dask.distributed: pip install 'dask[distributed]'") from None
        if self.client is None:
            if self.scheduler:
                try:
                    self.client = Client(self.scheduler, timeout="30s")
                except OSError as exc:
                    raise ConfigError(f"--scheduler {self.scheduler}: cannot connect ({exc})") from None
            else:
                cluster = LocalCluster(n_workers=int(self.n_local), processes=True, threads_per_worker=1,
                                       dashboard_address=None)
                self.client = Client(cluster)
                self._own = [self.client, cluster]
        self.client.register_plugin(BrianWorkerPlugin())
        return self

    def __exit__(self, *exc):
        for obj in self._own:
            obj.close()
        return False

    def run(self, store, points, blocking, on_result) -> list:
        from distributed import as_completed

        futs = {}
        for p in points:
            f = self.client.submit(run_point, str(store.root.resolve()), p.hash, p.config_toml, p.params, blocking,
                                   pure=False, key=f"spikegate-point-{p.hash}-{os.urandom(4).hex()}")
            futs[f] = p
        busy = []
        try:
            for f in as_completed(list(futs)):
                p = futs[f]
                try:
                    r = f.result()
                except Exception as exc:  # KilledWorker, lost connection, ...
                    r = _failed_outside(store, p, f"{type(exc).__name__}: {exc}")
                if r["status"] == "busy":
                    busy.append(p.hash)
                on_result(p, r)
        except BaseException:
            self.client.cancel(list(futs))
            raise
        return busy


# --------------------------------------------------------------------------- results


def _scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items()
            if v is None or isinstance(v, (int, float, str, bool))}


def _config_value(values: dict, key: str):
    section, _, name = key.rpartition(".")
    return values.get(section, {}).get(name)


def collect(store) -> tuple[list, list]:
    """One row per finished point: ``point``, the swept keys (with ``seed``), scalar metrics.

    Returns ``(rows, columns)``. Points missing from ``scan.json`` (an older store) are
    included with their keys read from their ``config.toml``.
    """
    store = Store(store)
    if not store.points.is_dir():
        raise DataError(f"{store.root}: not a scan store (no points/ directory)")
    m = store.manifest()
    keys = list(m.get("keys", []))
    params = {p["hash"]: p.get("params", {}) for p in m.get("points", [])}
    order = {h: i for i, h in enumerate(params)}
    done = sorted((d.name for d in store.points.iterdir() if not d.name.startswith(".") and d.is_dir()
                   and store.is_done(d.name)), key=lambda h: (order.get(h, len(order)), h))
    rows, metric_cols = [], []
    for h in done:
        d = store.run_dir(h)
        try:
            metrics = json.loads((d / "metrics.json").read_text())
            values = tomllib.loads((d / "config.toml").read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{d}: unreadable ({exc})") from None
        values = {"": {k: v for k, v in values.items() if not isinstance(v, dict)},
                  **{k: v for k, v in values.items() if isinstance(v, dict)}}
        row = {"point": h}
        for k in keys:
            row[k] = params.get(h, {}).get(k, _config_value(values, k))
        sc = _scalars(metrics)
        for k in sc:
            if k not in metric_cols and k not in row:
                metric_cols.append(k)
        row.update({k: v for k, v in sc.items() if k not in row})
        rows.append(row)
    return rows, ["point"] + keys + metric_cols


def write_csv(rows, columns, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    os.replace(tmp, path)
    return path


def read_csv(path) -> list:
    """Rows of a ``collect`` CSV, with numbers converted back."""
    def conv(s):
        if s == "":
            return None
        for t in (int, float):
            try:
                return t(s)
            except ValueError:
                pass
        return {"True": True, "False": False}.get(s, s)

    with open(path, newline="") as f:
        return [{k: conv(v) for k, v in r.items()} for r in csv.DictReader(f)]


_NUM = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf)\b", re.IGNORECASE)


def as_number(v):
    """``0.5`` -> 0.5, ``"0.25 Hz"`` -> 0.25, ``"inf"`` -> inf; None if not a number."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        m = _NUM.match(v)
        if m:
            return float(m.group(1))
    return None


def _filter(rows, where):
    if not where:
        return list(rows)
    return [r for r in rows if all(r.get(k) == v or str(r.get(k)) == str(v) for k, v in where.items())]


def mean_sem(values) -> tuple[float, float, int]:
    """Mean, standard error of the mean (sample s.d. / sqrt(n); 0 for one value) and n."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return float("nan"), float("nan"), 0
    mu = sum(xs) / n
    if n == 1:
        return mu, 0.0, 1
    sd = math.sqrt(sum((x - mu) ** 2 for x in xs) / (n - 1))
    return mu, sd / math.sqrt(n), n


def aggregate(rows, x, y, hue=None, where=None) -> dict:
    """``{hue value: [(x value, mean y, s.e.m., n), ...]}`` sorted by x (numerically if possible)."""
    rows = _filter(rows, where)
    if not rows:
        raise DataError("no rows to aggregate" + (f" with {where}" if where else ""))
    for k in (x, y) + ((hue,) if hue else ()):
        if k not in rows[0]:
            raise DataError(f"column {k!r} not in the results; columns: {', '.join(rows[0])}")
    groups = {}
    for r in rows:
        groups.setdefault(r.get(hue) if hue else None, {}).setdefault(r[x], []).append(r[y])
    numeric = all(as_number(r[x]) is not None for r in rows)
    out = {}
    for g, by_x in groups.items():
        xs = sorted(by_x, key=(lambda v: as_number(v)) if numeric else str)
        out[g] = [(xv, *mean_sem(by_x[xv])) for xv in xs]
    return out


def plot_axis(rows, x, y, hue="gate.name", where=None, ax=None, out=None, logx=None, title=None):
    """Mean +/- s.e.m. over seeds (and any other varying keys) of ``y`` against ``x``, one
    line per value of ``hue`` (None or a missing column: one line). Returns the figure."""
    from matplotlib.figure import Figure

    if hue and rows and hue not in rows[0]:
        hue = None
    agg = aggregate(rows, x, y, hue, where)
    fig = ax.figure if ax is not None else Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = ax if ax is not None else fig.subplots()
    all_x = [xv for series in agg.values() for xv, *_ in series]
    numeric = all(as_number(v) is not None for v in all_x)
    cats = sorted(set(map(str, all_x))) if not numeric else None
    for g, series in sorted(agg.items(), key=lambda kv: str(kv[0])):
        xs = [as_number(v) if numeric else cats.index(str(v)) for v, *_ in series]
        ax.errorbar(xs, [s[1] for s in series], yerr=[s[2] for s in series], marker="o", capsize=3,
                    label=str(g) if hue else None)
    if numeric:
        pos = [as_number(v) for v in all_x]
        if logx is None:
            logx = min(pos) > 0 and max(pos) / min(pos) >= 20
        if logx:
            ax.set_xscale("log")
    else:
        ax.set_xticks(range(len(cats)), cats)
    ns = [s[3] for series in agg.values() for s in series]
    ax.set_xlabel(x)
    ax.set_ylabel(f"{y} (mean ± s.e.m., n={min(ns)}–{max(ns)})" if min(ns) != max(ns)
                  else f"{y} (mean ± s.e.m., n={ns[0]})")
    if hue:
        ax.legend(title=hue, fontsize="small")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    if out is not None:
        fig.savefig(out, dpi=120)
    return fig


def plot_heatmap(rows, x, y, z, where=None, ax=None, out=None, title=None):
    """Mean of ``z`` over seeds (and other varying keys) on the grid of ``x`` by ``y``."""
    import numpy as np
    from matplotlib.figure import Figure

    rows = _filter(rows, where)
    agg = aggregate(rows, x, z, hue=y)
    ys = sorted(agg, key=lambda v: (as_number(v) is None, as_number(v) or 0, str(v)))
    xs = []
    for series in agg.values():
        for xv, *_ in series:
            if xv not in xs:
                xs.append(xv)
    xs.sort(key=lambda v: (as_number(v) is None, as_number(v) or 0, str(v)))
    grid = np.full((len(ys), len(xs)), np.nan)
    for i, yv in enumerate(ys):
        for xv, mu, _, _ in agg[yv]:
            grid[i, xs.index(xv)] = mu
    fig = ax.figure if ax is not None else Figure(figsize=(1.2 * len(xs) + 2.5, 0.6 * len(ys) + 1.8),
                                                  layout="constrained")
    ax = ax if ax is not None else fig.subplots()
    im = ax.imshow(grid, aspect="auto", origin="lower", cmap="viridis")
    ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    ax.set_yticks(range(len(ys)), [str(v) for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    fig.colorbar(im, ax=ax, label=f"{z} (mean)")
    finite = grid[np.isfinite(grid)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(len(ys)):
        for j in range(len(xs)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center", fontsize="small",
                        color="black" if grid[i, j] > mid else "white")
    if title:
        ax.set_title(title)
    if out is not None:
        fig.savefig(out, dpi=120)
    return fig


# --------------------------------------------------------------------------- command line


def main_scan(args) -> int:
    """``spikegate scan``: 0 when every point is finished, 1 when some failed, 130 on Ctrl+C."""
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: must be >= 1")
    if args.dask_local is not None and args.dask_local < 1:
        raise ConfigError(f"--dask-local {args.dask_local}: must be >= 1")
    # data sets may live only on the cluster: check them here unless a remote scheduler runs the points
    scan = load_scan(args.scan_file, check_data=not args.scheduler)
    store = Path(args.store)
    if store.exists() and not store.is_dir():
        raise ConfigError(f"--store {store}: exists and is not a directory")
    print(f"scan {scan.name}: {len(scan.points)} points ({' x '.join(scan.keys) or 'no swept keys'}) "
          f"-> {store}", file=sys.stderr, flush=True)
    try:
        report = run_scan(scan, store, workers=args.workers, scheduler=args.scheduler, dask_local=args.dask_local,
                          progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"spikegate: interrupted; finished points are kept in {store}; rerun to resume", file=sys.stderr)
        return 130
    ran, skipped = report.count("done"), report.count("skipped")
    print(f"scan {scan.name}: {len(scan.points)} points: {report.n_already + skipped} already finished, "
          f"{ran} trained, {len(report.failures)} failed ({report.seconds:.0f} s); store {store}")
    for p, msg in report.failures:
        print(f"failed: {p.hash} {p.label()}: {msg} (see {Store(store).error_path(p.hash)})", file=sys.stderr)
    return 1 if report.failures else 0


def main_collect(args) -> int:
    """``spikegate collect``: write the CSV and the requested plots."""
    store = Store(args.store)
    rows, columns = collect(store)
    out = Path(args.output) if args.output else store.root / "results.csv"
    write_csv(rows, columns, out)
    m = store.manifest()
    errors = store.errors()
    n_listed = len(m.get("points", []))
    print(f"{len(rows)} finished points ({n_listed} listed in scan.json, {len(errors)} failed) -> {out}")
    for x, y in args.plot:
        if not rows:
            raise DataError("no finished points to plot")
        path = out.with_name(f"{out.stem}_{_slug(y)}_vs_{_slug(x)}.png")
        plot_axis(rows, x, y, hue=args.hue, out=path)
        print(f"plot: {path}")
    for x, y, z in args.heatmap:
        if not rows:
            raise DataError("no finished points to plot")
        path = out.with_name(f"{out.stem}_{_slug(z)}_{_slug(x)}_{_slug(y)}.png")
        plot_heatmap(rows, x, y, z, out=path)
        print(f"heatmap: {path}")
    return 0


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-")
