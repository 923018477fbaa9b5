"""Parameter scans: many trainings of one model, resumable, in local processes or on Dask.

The package has four rooms: :mod:`~spikegate.scan.spec` (scan files and points),
:mod:`~spikegate.scan.store` (the store and its locks), :mod:`~spikegate.scan.runners`
(workers, local and Dask) and :mod:`~spikegate.scan.results` (collect, aggregate, plot).

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
bad value stops the scan at once (``spikegate: error: ...``, exit code 2). A gate parameter
(``gate.tau_mem``, ``gate.theta_mem``, ``gate.min_margin``) applies to the points whose gate reads
it and is dropped from the others, so crossing ``gate.name`` with a gate parameter trains
each distinct configuration once; a gate parameter that no gate of the scan reads is an
error. A point is identified by the SHA-256 of its resolved config TOML (first 16 hex
digits) and trains into ``STORE/points/<hash>`` -- a normal run directory, written
atomically by :func:`spikegate.training.train`.

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
from .results import aggregate, as_number, collect, mean_sem, plot_axis, plot_heatmap, read_csv
from .runners import BrianWorkerPlugin, ScanReport, default_workers, run_point, run_scan
from .spec import Point, Scan, config_hash, load_scan
from .store import PointLock, Store

__all__ = ["Point", "Scan", "config_hash", "load_scan", "Store", "PointLock", "run_point", "run_scan", "ScanReport",
           "default_workers", "BrianWorkerPlugin", "collect", "read_csv", "aggregate", "as_number", "mean_sem",
           "plot_axis", "plot_heatmap"]
