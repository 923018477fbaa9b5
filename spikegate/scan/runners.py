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
from ..errors import ConfigError, DataError, SpikegateError
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
