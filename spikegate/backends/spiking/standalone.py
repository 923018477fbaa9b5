r"""The compiled engine: the spiking network compiled once with Brian2's ``cpp_standalone`` device.

A project holds the network of one *structure* (:func:`structure_key`: what the generated
code depends on, :meth:`spikegate.model.NetworkSpec.structure`, with the chunk and the object
names). :func:`build_project` builds the Brian2 objects of
:mod:`~spikegate.backends.spiking.builder` under the device, records one run of a chunk (its
presentations and the closing idle row), compiles the C++ project and writes its *layout*:
the command-line name and type of every run argument, and the result file of every value read
back. Every chunk is then one execution of the binary:

* **run arguments** in: the weights and feedback weights, the schedule and the chunk's pixel
  table (:mod:`~spikegate.backends.spiking.schedule`), the gate's constants, the neuron, rule
  and ERN constants (:func:`~spikegate.backends.spiking.builder.constants`), whether it learns,
  and a random seed. Learning rates, gate parameters, time constants, thresholds and weight
  scales are therefore no part of the structure: a scan over them builds once;
* **results** out: the weights, and the control group's records, decoded by the read-out
  (:mod:`~spikegate.backends.spiking.readout`) as on the runtime engine.

A process that finds the project built and intact (:func:`~spikegate.backends.spiking.cache.verified_layout`)
starts the binary from the layout alone: no Brian2 object is created and no code generated.
Brian2's random seed is compiled in, so the seed is a state variable of the control group
and code inserted into ``main`` reseeds the generators from it at the start of every run;
each chunk gets its own seed, drawn from the classifier's seed and the chunk's number, so
reruns are identical. A run always simulates a whole chunk; a shorter last chunk is padded
with idle rows.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import math
import os
import subprocess
import time
from pathlib import Path

import numpy as np

from ...errors import DataError, EngineError, ParameterError
from ...ledger import PresentationLog, concatenate_logs
from ...model import Always, Gate, NetworkSpec
from ..inputs import (check_images, check_labels, check_learning_scale, check_memgate, check_projection, check_samples,
                      check_seed, check_weights)
from . import cache, schedule
from .builder import build_network, constants, initial_weights, initialize, learning_rate_constants, stored_weights
from .equations import GATE_CONSTANTS, gate_constants, recorded
from .readout import decode
from .validation import check_neuron_model

#: Bump when what the engine compiles changes meaning: older projects are then not reused.
ENGINE_VERSION = 11


def structure_key(spec: NetworkSpec, chunk: int, name: str) -> str:
    """What the compiled code depends on (the network's structure, the chunk, the object names);
    values that are run arguments (rates, constants, gate, seed, weights, data) do not enter."""
    text = json.dumps({"structure": spec.structure(), "chunk": chunk, "name": name, "engine": ENGINE_VERSION},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _variable_layout(obj, var: str) -> dict:
    v = obj.variables[var]
    return {"arg": f"{obj.name}.{var}", "dtype": np.dtype(v.dtype).str}


def _layout(spec: NetworkSpec, net, device, namespace: dict) -> dict:
    """Run arguments and result files of a built network (keys as in :meth:`SpikingNetwork.by_key`)."""
    from brian2 import prefs

    objects = net.by_key()
    inputs = {f"{key}.{var}": _variable_layout(objects[key], var) for key, var in constants(spec)}
    inputs.update({f"w{k}.w": _variable_layout(s, "w") for k, s in enumerate(net.synapses)})
    inputs.update({f"feedback{k}.B": _variable_layout(s, "B") for k, s in enumerate(net.feedback)})
    inputs.update({f"control.{v}": _variable_layout(net.control, v) for v in GATE_CONSTANTS + ("learning", "rng_seed")})
    for table in ("schedule", "pixels"):
        inputs[table] = {"arg": f"{namespace[table].name}.values", "dtype": "<f8"}
    mon = net.control_monitor
    results = {f"w{k}": {"file": device.get_array_filename(s.variables["w"]), "dtype": np.dtype(s.variables["w"].dtype).str}
               for k, s in enumerate(net.synapses)}
    results.update({f"record.{v}": {"file": device.get_array_filename(mon.variables[v]),
                                    "dtype": np.dtype(mon.variables[v].dtype).str}
                    for v in recorded(len(net.synapses), spec.ern.spiking)})
    n = net.count_monitor.variables["n"]
    results["counts"] = {"file": device.get_array_filename(n), "dtype": np.dtype(n.dtype).str,
                         "columns": len(net.output)}
    env = dict(prefs["devices.cpp_standalone.run_environment_variables"])
    return {"args": inputs, "results": results, "environment": env, "version": ENGINE_VERSION}


def exact_write_flags(flags) -> list:
    """Brian2's compiler flags without its ``-ffast-math``, and without fused multiply-adds.

    With them the compiler evaluated the output's learning signal :math:`y_j - n_j/n_\\mathrm{target}`
    as a fused :math:`1 - n_j \\cdot (1/n_\\mathrm{target})`: about -5.6e-17 instead of 0 for a label
    neuron exactly at its target, a change far below a float weight's last bit, counted as a
    write (digits, float synapses, ``always``: 5,014 writes logged against 4,812 changed weights
    in 60 presentations; 5.6 % more writes than the runtime engine in epoch 2). Arithmetic as
    written makes the engines' ledgers agree with their weights."""
    return [f for f in flags if f not in ("-ffast-math", "-ffp-contract=off")] + ["-ffp-contract=off"]


def build_project(spec: NetworkSpec, chunk: int, name: str, directory: Path) -> dict:
    """Build and compile the project of ``spec``'s structure in ``directory``; return its layout.

    Called under the project's exclusive lock. Brian2's device is reset afterwards and the
    objects dropped, so a later build in this process generates the same code again.
    """
    import gc

    import brian2 as b2
    from brian2.devices.device import all_devices, reset_device

    standalone = all_devices["cpp_standalone"]
    if standalone.has_been_run or standalone.code_objects:
        standalone.reinit()      # one standalone project at a time in a process
    b2.set_device("cpp_standalone", build_on_run=False, directory=str(directory))
    device = b2.get_device()
    flags = b2.prefs.codegen.cpp.extra_compile_args_gcc
    b2.prefs.codegen.cpp.extra_compile_args_gcc = exact_write_flags(flags)
    try:
        namespace = {"schedule": b2.TimedArray(schedule.schedule_tables(spec, np.zeros((1, spec.n_in)), [], [])[0],
                                               dt=spec.t_stim, name=f"{name}_schedule"),
                     "pixels": b2.TimedArray(np.zeros((schedule.MAX_CHUNK + 1, spec.n_in)), dt=1 * b2.second,
                                             name=f"{name}_pixels")}
        net = build_network(spec, name, namespace)
        initialize(net, spec, 0)      # compiled-in starting values (run arguments override them)
        for var, value in gate_constants(Always()).items():
            setattr(net.control, var, value)
        net.control.capacity = net.control.reserve = math.inf      # no budget: the engine refuses one
        network = b2.Network(net.objects, name=f"{name}_network")
        device.apply_run_args()   # after every initial value: run arguments override them
        seed = device.get_array_name(net.control.variables["rng_seed"])
        device.insert_code("main", "for (int _i = 0; _i < (int)brian::_random_generators.size(); _i++)\n"
                                   f"    brian::_random_generators[_i].seed((unsigned long)brian::{seed}[0] + _i);")
        network.run(schedule.duration(spec, chunk), namespace={})
        try:
            before = cache.source_stamps(directory)
            cache.remove_unrecorded(directory)
            (directory / cache.MANIFEST).unlink(missing_ok=True)   # nothing is vouched for until the build is done
            device.build(directory=str(directory), compile=False, run=False, with_output=False)
            cache.restore_unchanged_stamps(directory, before)
            cache.make(directory)
            layout = _layout(spec, net, device, namespace)
            cache.write_manifest(directory, layout)
        except OSError as exc:   # a full or read-only disk while writing the sources
            raise EngineError(f"compiled-engine cache {directory}: cannot write ({exc.strerror or exc}); free "
                              "space or set SPIKEGATE_CACHE to another directory") from None
        cache.remove_process_folders(directory, only_dead=True)
    finally:
        b2.prefs.codegen.cpp.extra_compile_args_gcc = flags
        reset_device()
        standalone.reinit()
        gc.collect()   # the objects' names are free again for the next build
    return layout


def open_project(spec: NetworkSpec, chunk: int, name: str, directory: Path) -> tuple[dict, float]:
    """The layout of the project in ``directory``, built first unless a verified build is there;
    and the seconds spent building (0 on a cache hit)."""
    cache.check_cache_directory(directory)
    layout = cache.verified_layout(directory)
    if layout is not None and layout.get("version") == ENGINE_VERSION:
        return layout, 0.0
    t0 = time.perf_counter()
    with cache.project_lock(directory, exclusive=True):
        layout = cache.verified_layout(directory)      # another process may have built it meanwhile
        if layout is None or layout.get("version") != ENGINE_VERSION:
            layout = build_project(spec, chunk, name, directory)
    return layout, time.perf_counter() - t0


class StandaloneClassifier:
    """A spiking classifier whose chunks run as one compiled binary (see the module docstring).

    Parameters are those of :class:`~spikegate.backends.spiking.GatedClassifier` (no reserve:
    the binary does not carry it from one chunk to the next), plus ``directory`` (the project;
    default ``cache_root() / structure_key(...)``). ``compile_seconds`` is the time spent
    building (0 when a verified build was found).
    """

    def __init__(self, spec: NetworkSpec, gate: Gate, images, seed: int = 0, chunk: int = 1000, name: str = "sg",
                 directory=None):
        if spec.t_test is not None:
            raise ParameterError("network.t_test: the compiled engine tests with the training window; remove it "
                                 "or use train.device = \"runtime\"", "network.t_test")
        self.spec, self.chunk, self.name = spec, int(chunk), name
        self.seed = check_seed(seed, "StandaloneClassifier.seed")
        self.images = check_images(images, spec.n_in)
        self.set_gate(gate)
        check_neuron_model(spec.neuron)
        self.key = structure_key(spec, self.chunk, name)
        self.directory = Path(directory) if directory is not None else cache.cache_root() / self.key
        self.layout, self.compile_seconds = open_project(spec, self.chunk, name, self.directory)
        self.binary = self._signature()
        self.W, self.B = initial_weights(spec, self.seed)   # the runtime classifier's draws from the same seed
        self.constants = constants(spec)
        self.learning_scale = 1.0
        self.runs = 0
        #: ``time.perf_counter()`` when the binary first started (None before): start-up benchmarks
        self.first_run_started = None

    @property
    def n_images(self) -> int:
        return len(self.images)

    def weights(self, k: int) -> np.ndarray:
        return self.W[check_projection(k, self.spec.n_projections)].copy()

    def set_weights(self, k: int, W) -> None:
        k = check_projection(k, self.spec.n_projections)
        self.W[k] = stored_weights(self.spec, check_weights(k, W, self.W[k].shape))   # finite precision: nearest codes

    def set_learning_scale(self, scale: float) -> None:
        """Multiply every learning rate by ``scale`` (>= 0) from the next run on (a run argument)."""
        self.learning_scale = check_learning_scale(scale, "StandaloneClassifier.learning_scale")
        self.constants = {**constants(self.spec), **learning_rate_constants(self.spec, self.learning_scale)}

    def set_gate(self, gate: Gate) -> None:
        if not isinstance(gate, Gate):
            raise ParameterError(f"StandaloneClassifier.gate: expected a Gate, got {type(gate).__name__}")
        self.gate = gate

    def present(self, samples, labels, memgate=None, learn: bool = True, progress=None) -> PresentationLog:
        """Present ``samples`` in order, one run of the binary per chunk."""
        samples = check_samples(samples, self.n_images)
        labels = check_labels(labels, len(samples), self.spec.n_out)
        memgate = check_memgate(memgate, len(samples))
        logs, t0 = [], time.perf_counter()
        for a, b in schedule.chunks(len(samples), self.chunk):
            table, pixels = schedule.schedule_tables(self.spec, self.images, samples[a:b], labels[a:b], memgate[a:b],
                                                     learn, self.chunk)
            values = {**{f"{key}.{var}": value for (key, var), value in self.constants.items()},
                      **{f"control.{k}": v for k, v in gate_constants(self.gate).items()},
                      "control.learning": float(learn), "control.rng_seed": self._run_seed(),
                      "schedule": table, "pixels": pixels,
                      **{f"w{k}.w": W.ravel() for k, W in enumerate(self.W)},
                      **{f"feedback{k}.B": B.ravel() for k, B in enumerate(self.B)}}
            tc = time.perf_counter()
            results = self._run(values)
            self.W = [results[f"w{k}"].reshape(W.shape) for k, W in enumerate(self.W)]
            records = {v: results[f"record.{v}"] for v in recorded(self.spec.n_projections, self.spec.ern.spiking)}
            logs.append(decode(self.spec, records, results["counts"], 0, b - a, time.perf_counter() - tc))
            if progress is not None:
                progress(b - a)
        if not logs:
            return PresentationLog.empty(self.spec.n_out, self.spec.n_projections)
        return concatenate_logs(logs, time.perf_counter() - t0)

    # ------------------------------------------------------------------ checkpoints
    def state_arrays(self) -> dict:
        """The whole state between runs: every run starts the network afresh from its weights, and its
        spike trains from a seed drawn from the classifier's seed and the number of runs so far."""
        return {"compiled.runs": np.array(self.runs, dtype=np.int64),
                **{f"compiled.w{k}": W.copy() for k, W in enumerate(self.W)}}

    def set_state_arrays(self, arrays, where: str = "state") -> None:
        """Restore :meth:`state_arrays`: the next runs are those the saved classifier would have made."""
        runs = np.asarray(arrays.get("compiled.runs", -1))
        if runs.shape != () or runs.dtype.kind not in "iu" or runs < 0:
            raise DataError(f"{where}: compiled.runs must be a count >= 0")
        for k, W in enumerate(self.W):
            saved = arrays.get(f"compiled.w{k}")
            if saved is None or saved.shape != W.shape or saved.dtype.kind != "f" or not np.all(np.isfinite(saved)):
                raise DataError(f"{where}: compiled.w{k} missing or not a finite {W.shape} matrix")
        self.W = [np.array(arrays[f"compiled.w{k}"], dtype=float) for k in range(len(self.W))]
        self.runs = int(runs)

    # ------------------------------------------------------------------ the binary
    def _signature(self) -> tuple | None:
        try:
            st = (self.directory / "main").stat()
        except OSError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    def _check_binary(self) -> None:
        """The binary must be the one the build recorded: checked by its checksum whenever its
        file changed since this process last looked (another process may have rebuilt it)."""
        signature = self._signature()
        if signature is not None and signature == self.binary:
            return
        recorded_main = cache.recorded_files(self.directory).get("main")
        if signature is None or recorded_main is None or recorded_main != cache.digest_of(self.directory / "main"):
            raise EngineError(f"compiled engine: the binary in {self.directory} is missing or not the one that was "
                              "built (changed or replaced by another program); run again to rebuild it")
        self.binary = signature

    def _run(self, values: dict) -> dict:
        """One execution of the binary with ``values`` as run arguments; the results it wrote."""
        results = self.directory / cache.process_folder("results")
        folder = self.directory / cache.process_folder("run-args")
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            results.mkdir(parents=True, exist_ok=True)
            atexit.register(cache.remove_process_folders, self.directory, pid=os.getpid())
        assignments = []
        for key, value in values.items():
            spec = self.layout["args"][key]
            array = np.asarray(value, dtype=np.dtype(spec["dtype"]))
            if array.size == 1 and np.isfinite(array).all():   # the binary reads a number with atof: no inf
                assignments.append(f"{spec['arg']}={array.item()!r}")
            else:
                path = folder / f"{spec['arg']}.dat"
                array.tofile(path)
                assignments.append(f"{spec['arg']}={path}")
        with cache.project_lock(self.directory, exclusive=False):
            self._check_binary()
            if self.first_run_started is None:
                self.first_run_started = time.perf_counter()
            proc = subprocess.run(["./main", "--results_dir", f"{results}/", *assignments], cwd=self.directory,
                                  env={**os.environ, **self.layout["environment"]}, capture_output=True)
            if proc.returncode != 0:
                (self.directory / cache.MANIFEST).unlink(missing_ok=True)   # the next build starts from clean
                raise EngineError(f"compiled engine: the binary in {self.directory} failed (exit code "
                                  f"{proc.returncode}); run again to rebuild it")
            return {key: self._read(results, spec) for key, spec in self.layout["results"].items()}

    @staticmethod
    def _read(results: Path, spec: dict) -> np.ndarray:
        try:
            data = np.fromfile(results / spec["file"], dtype=np.dtype(spec["dtype"]))
        except OSError as exc:
            raise EngineError(f"compiled engine: no result {spec['file']} in {results} ({exc.strerror or exc}); "
                              "run again to rebuild it") from None
        return data.reshape(-1, spec["columns"]) if "columns" in spec else data

    def _run_seed(self) -> int:
        self.runs += 1
        return int(np.random.SeedSequence([self.seed, self.runs]).generate_state(1)[0] % (2 ** 31))
