"""Running a scan: one point in a worker, and the local and Dask runners that feed workers.

See :mod:`spikegate.scan` for how workers import Brian2, resume, locking and failures.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import tomllib
import traceback
from dataclasses import dataclass, field

from ..backends.brian import quiet_brian
from ..errors import ConfigError, SpikegateError
from ..files import write_text
from ..training import train
from .spec import Point, Scan
from .store import PointLock, Store, error_record


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
    lock = PointLock(store.lock_path(h))
    try:
        store.points.mkdir(parents=True, exist_ok=True)
        if not lock.acquire(blocking):
            return {**base, "status": "busy", "seconds": 0.0}
    except (OSError, SpikegateError) as exc:
        return {**base, "status": "failed", "error": str(exc), "seconds": 0.0}
    t0 = time.perf_counter()
    try:
        if store.is_done(h):
            return {**base, "status": "skipped", "seconds": 0.0}
        store.clean_partials(h)
        if store.run_dir(h).exists():  # truncated or corrupt: kept aside, the point is trained again
            store.set_aside(h)
        res = train(tomllib.loads(config_toml), out=store.run_dir(h), progress=False)
        store.error_path(h).unlink(missing_ok=True)
        m = res.metrics
        return {**base, "status": "done", "seconds": time.perf_counter() - t0,
                "test_accuracy": m["test_accuracy"], "wall_seconds": m["wall_seconds"]}
    except Exception as exc:  # recorded; the scan goes on
        msg = f"{type(exc).__name__}: {exc}" if not isinstance(exc, SpikegateError) else str(exc)
        rec = error_record(h, params, type(exc).__name__, msg, traceback.format_exc())
        try:
            write_text(store.error_path(h), json.dumps(rec, indent=1, default=str) + "\n")
        except SpikegateError:
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
    _one_compute_thread()
    quiet_brian()

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
        _one_compute_thread()
        quiet_brian()


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


class _ScanProgress:
    """What a scan says about each finished point: a tqdm bar, or one line per point."""

    def __init__(self, scan: Scan, report: ScanReport, progress: bool, log):
        self.scan, self.report, self.progress, self.log = scan, report, progress, log
        self.bar, self.finished = None, 0

    def start(self, n_already: int, n_todo: int) -> None:
        self.report.n_already = self.finished = n_already
        if self.progress and n_todo:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=len(self.scan.points), initial=n_already, unit="point", dynamic_ncols=True,
                            desc=self.scan.name)

    def __call__(self, point, r) -> None:
        if r["status"] == "busy":
            return
        self.report.results.append(r)
        self.finished += 1
        if r["status"] == "failed":
            self.report.failures.append((point, r["error"]))
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(failed=len(self.report.failures), refresh=False)
            if r["status"] == "failed":
                self.bar.write(f"failed: {point.hash} {point.label()}: {r['error']}")
        else:
            extra = (f": test accuracy {r['test_accuracy']:.4f} ({r['seconds']:.1f} s)" if r["status"] == "done"
                     else f": {r.get('error', 'finished elsewhere')}")
            self.log(f"[{self.finished}/{len(self.scan.points)}] {r['status']} {point.hash} {point.label()}{extra}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_scan(scan: Scan, store, workers: int | None = None, scheduler: str | None = None,
             dask_local: int | None = None, client=None, progress: bool = True, log=None,
             max_attempts: int = 3) -> ScanReport:
    """Run every unfinished point of ``scan`` into ``store``; see the module docstring.

    ``max_attempts``: how often a point whose worker process dies under it (local workers)
    is retried in a fresh worker before it is failed.
    """
    if int(max_attempts) < 1:
        raise ConfigError(f"max_attempts = {max_attempts}: must be >= 1")
    store = Store(store)
    store.manifest()   # a foreign or broken scan.json stops the scan before anything is written
    t0 = time.perf_counter()
    report = ScanReport(len(scan.points))
    said = _ScanProgress(scan, report, progress, log if log is not None else
                         (lambda s: print(s, file=sys.stderr, flush=True)))
    try:
        if scheduler or dask_local or client is not None:
            runner = _DaskRunner(scheduler, dask_local, client)
        else:
            runner = _LocalRunner(workers or default_workers(), max_attempts)
        with runner:   # connected (Dask) before the store is created or changed
            store.record(scan)
            store.clean_stale()
            todo = [p for p in scan.points if not store.is_done(p.hash)]
            said.start(len(scan.points) - len(todo), len(todo))
            busy = runner.run(store, todo, False, said)
            if busy:
                _wait_for(busy, {p.hash: p for p in scan.points}, runner, store, said)
    finally:
        said.close()
    report.seconds = time.perf_counter() - t0
    return report


def _wait_for(busy, by_hash, runner, store, said) -> None:
    """Points held by another scan: wait for each, then skip it (finished there) or run it."""
    if said.bar is None:
        said.log(f"{len(busy)} point(s) are running in another scan; waiting for them")
    wait = []
    for h in busy:
        if store.is_done(h):  # finished there meanwhile
            said(by_hash[h], {"hash": h, "status": "skipped", "seconds": 0.0})
        else:
            wait.append(by_hash[h])
    left = runner.run(store, wait, True, said) if wait else []
    assert not left


def _worker_main(conn, parent_pid: int) -> None:
    """A local worker: train the points the scan sends, one at a time, until told to stop."""
    _init_worker(parent_pid)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            result = run_point(*task)
        except BaseException as exc:  # run_point records training errors itself; this is the rest
            result = {"hash": task[1], "status": "failed", "error": f"{type(exc).__name__}: {exc}", "seconds": 0.0}
        conn.send(result)


def _death(exitcode) -> str:
    import signal

    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class _LocalRunner:
    """Spawned worker processes, each training many points, one at a time.

    The scan process knows which point each worker holds, so a point that kills its worker
    (a CPU or memory limit, a segfault) is charged alone: it is retried in a fresh worker up
    to ``max_attempts`` times and then failed, while the other workers go on.
    """

    def __init__(self, workers: int, max_attempts: int = 3):
        self.workers = max(1, int(workers))
        self.max_attempts = max(1, int(max_attempts))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def run(self, store, points, blocking, on_result) -> list:
        """Train ``points`` on the workers; returns the hashes held by another scan."""
        pool = _Pool(self.workers, self.max_attempts, store, points, blocking, on_result)
        try:
            while pool.queue or pool.running:
                pool.dispatch()
                pool.collect()
            pool.stop_idle()
        finally:   # on an error or Ctrl+C too: no worker outlives the scan
            pool.terminate()
        return pool.busy


class _Pool:
    """The state of one :meth:`_LocalRunner.run`: points queued, workers idle and running."""

    def __init__(self, workers, max_attempts, store, points, blocking, on_result):
        import multiprocessing
        from collections import deque

        self.ctx = multiprocessing.get_context("spawn")
        self.workers, self.max_attempts, self.store, self.blocking, self.on_result = \
            workers, max_attempts, store, blocking, on_result
        self.root = str(store.root.resolve())
        self.queue, self.attempts, self.busy = deque(points), {}, []
        self.idle, self.running = [], {}   # running: (process, connection) -> point

    def start(self):
        conn, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(child, os.getpid()), daemon=True,
                                name="spikegate-scan-worker")
        proc.start()
        child.close()
        return proc, conn

    def dispatch(self) -> None:
        """Start workers up to the pool's size and give each idle one a point."""
        while self.queue and len(self.idle) + len(self.running) < self.workers:
            self.idle.append(self.start())
        while self.idle and self.queue:
            w, p = self.idle.pop(), self.queue.popleft()
            try:
                w[1].send((self.root, p.hash, p.config_toml, p.params, self.blocking))
            except OSError:   # an idle worker died (killed from outside): not p's fault
                self.queue.appendleft(p)
                w[0].join(timeout=1)
                continue
            self.running[w] = p

    def collect(self) -> None:
        """Wait for a result or a death; a point whose worker died is retried or failed."""
        from multiprocessing.connection import wait

        wait([c for _, c in self.running] + [proc.sentinel for proc, _ in self.running])
        for w in list(self.running):
            proc, conn = w
            try:
                r = conn.recv() if conn.poll() else None
            except (EOFError, OSError):
                r = None
            if r is None and proc.is_alive():
                continue
            p = self.running.pop(w)
            if r is not None:
                self.idle.append(w)
            else:  # the worker died while training p
                proc.join()
                conn.close()
                self.attempts[p.hash] = self.attempts.get(p.hash, 0) + 1
                if self.attempts[p.hash] < self.max_attempts:
                    self.queue.append(p)   # a fresh worker, after the points not yet tried
                    continue
                r = _failed_outside(self.store, p, f"worker process died ({_death(proc.exitcode)}) "
                                                   f"{self.attempts[p.hash]} time(s) while training this point")
            if r["status"] == "busy":
                self.busy.append(p.hash)
            self.on_result(p, r)

    def stop_idle(self) -> None:
        for proc, conn in self.idle:
            try:
                conn.send(None)
            except OSError:
                pass
        for proc, conn in self.idle:
            proc.join(timeout=10)
            conn.close()

    def terminate(self) -> None:
        for proc, _ in self.idle + list(self.running):
            if proc.is_alive():
                proc.terminate()


def _failed_outside(store: Store, p: Point, message: str) -> dict:
    """A failure seen by the scan process (worker died, task lost): record it like run_point."""
    try:
        write_text(store.error_path(p.hash),
                   json.dumps(error_record(p.hash, p.params, "WorkerError", message), indent=1, default=str) + "\n")
    except SpikegateError:
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
            raise ConfigError("Dask execution needs dask.distributed: pip install 'spikegate[dask]'") from None
        if self.client is None:
            if self.scheduler:
                try:
                    self.client = Client(self.scheduler, timeout="30s")
                except (OSError, ValueError, TypeError) as exc:
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
