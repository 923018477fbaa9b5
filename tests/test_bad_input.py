"""Every bad input the robustness review found: exit code 2, one line naming the problem
(after the scan's own header line), no traceback, and nothing written where it was refused."""
import numpy as np
import pytest

from spikegate.cli import main

from conftest import MNIST_DIR, ROOT, tiny_dataset
from test_energy import WRITES, make_run

DIGITS = str(ROOT / "models" / "digits.toml")


def npz(path, **arrays):
    ds = tiny_dataset(n_pixels=64, n_classes=10, n_train=20, n_test=10)
    a = dict(x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test, y_test=ds.y_test)
    a.update(arrays)
    np.savez(path, **a)
    return f"data.path={path}"


def scan_file(tmp, extra="", top=False):
    """A small digits scan; ``extra`` goes to the end ([set] entries or new tables), or with ``top``
    before [set] (top-level keys such as max_points, then tables of their own)."""
    path = tmp / "scan.toml"
    head, tail = (extra, "") if top else ("", extra)
    if top:
        tables = head.index("[")
        head, tail = head[:tables], head[tables:]
    path.write_text(f'model = "{DIGITS}"\nseeds = [1]\n{head}[set]\n"data.n_train" = 20\n"data.n_test" = 10\n'
                    f'"train.target" = "numpy"\n' + tail)
    return str(path)


def rand(spec):
    return '[random]\n"rule.tau_e" = {low = 50, high = 100, n = 2, unit = "ms", ' + spec + "}\n"


def corrupt_mnist(tmp):
    folder = tmp / "mnist"
    folder.mkdir()
    for f in MNIST_DIR.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    raw = (folder / "train-images-idx3-ubyte.gz").read_bytes()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(raw[:20] + bytes(200) + raw[220:])  # a broken deflate stream
    return str(folder)


def gzip_bomb(tmp):
    import gzip

    folder = tmp / "bomb"
    folder.mkdir()
    for f in MNIST_DIR.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(300 * 2 ** 20), 9))
    return str(folder)


def train_args(tmp, *sets, model=DIGITS):
    return ["train", model, *[a for s in sets for a in ("--set", s)], "--out", str(tmp / "run"), "--no-progress"]


RATE = str(ROOT / "models" / "digits-rate.toml")

CASES = {
    # the stream's overlapping ERN windows, pre-post eligibility, time constants per layer (issue 22)
    "eligibility unknown": (lambda t: train_args(t, "rule.eligibility=stdp"),
                            "rule.eligibility = 'stdp': unknown; allowed: presynaptic, pre_post"),
    "eligibility a number": (lambda t: train_args(t, "rule.eligibility=3"), "rule.eligibility = 3: unknown; allowed"),
    "tau_e_hidden negative": (lambda t: train_args(t, "rule.tau_e_hidden=-5ms"),
                              "rule.tau_e_hidden = -5. * msecond: must be > 0. * second"),
    "tau_e_hidden volts": (lambda t: train_args(t, "rule.tau_e_hidden='5 mV'"),
                           "rule.tau_e_hidden = 5. * mvolt: wrong unit, expected units of ms"),
    "tau_pre zero": (lambda t: train_args(t, "rule.tau_pre=0ms"), "rule.tau_pre = 0. * second: must be > 0. * second"),
    "eligibility on rate": (lambda t: train_args(t, "rule.eligibility=pre_post", model=RATE),
                            "rule.eligibility: not used by backend 'rate' (only by 'spiking'); remove it"),
    "too many overlapping erns": (lambda t: train_args(t, "ern.integration=simulated", "network.stimulus_mode=stream",
                                                       "network.isi=0ms", "ern.window='900 ms'"),
                                  "overlaps 19 decisions at once, at most 16"),
    # finite-precision synapses, the random gate, validation and stopping, the frontier (issue 20)
    "synapse one bit": (lambda t: train_args(t, "synapse.bits=1"), "synapse.bits = 1: a code needs at least 2 bits"),
    "synapse too many bits": (lambda t: train_args(t, "synapse.bits=64"), "synapse.bits = 64: must be >= 0 and <= 24"),
    "synapse rounding": (lambda t: train_args(t, "synapse.rounding=up"), "synapse.rounding = 'up': unknown; allowed: nearest, stochastic"),
    "synapse range negative": (lambda t: train_args(t, "synapse.w_max=-1"), "synapse.w_max = -1"),
    "rate synapse without range": (lambda t: train_args(t, "synapse.bits=6", model=RATE),
                                   "synapse.w_max = None: required with bits > 0 on the rate backend"),
    "rate caching with codes": (lambda t: train_args(t, "synapse.bits=6", "synapse.w_max=1", "caching.enabled=true",
                                                     model=RATE), "caching.enabled = true: synaptic caching keeps float"),
    "random gate p above 1": (lambda t: train_args(t, "gate.name=random", "gate.p=1.5"), "gate.p = 1.5: must be >= 0 and <= 1"),
    "random gate p on ern": (lambda t: train_args(t, "gate.p=0.5"), "gate.p = 0.5: not read by gate 'ern'"),
    "validation split too big": (lambda t: train_args(t, "data.n_validation=5000"),
                                 "data.n_validation = 5000: must be in [1, 1437]"),
    "validation split negative": (lambda t: train_args(t, "data.n_validation=-3"), "data.n_validation = -3: must be >= 0"),
    "stop without validation": (lambda t: train_args(t, "train.stop=patience"),
                                "train.stop = 'patience': stopping is decided on validation accuracy"),
    "stop unknown": (lambda t: train_args(t, "train.stop=sometimes"), "train.stop = 'sometimes': unknown; allowed: none, target, patience"),
    "stop target without accuracy": (lambda t: train_args(t, "train.stop=target"), "train.stop_accuracy = 0: stop = 'target' needs"),
    "curve technology unknown": (lambda t: train_args(t, "data.n_validation=100", "train.technology=abacus"),
                                 "train.technology = 'abacus': not in the energy catalogue"),
    "frontier of no store": (lambda t: ["frontier", str(t / "nothing")], "not a scan store"),
    "frontier bootstrap": (lambda t: ["frontier", str(t), "--bootstrap", "5"], "--bootstrap 5: must be >= 100 resamples"),
    "frontier cost": (lambda t: ["frontier", str(t), "--cost", "joy"], "--cost 'joy': unknown; allowed: auto, presentations"),
    "frontier target": (lambda t: ["frontier", str(t), "--targets", "1.5"], "--targets '1.5': expected accuracies in (0, 1]"),
    # configuration values and bounds
    "seed beyond 32 bits": (lambda t: train_args(t, "seed=4294967296"), "seed = 4294967296: must be >= 0 and <= 4294967295"),
    "layers beyond memory": (lambda t: train_args(t, "network.layers=[64,100000000,10]"),
                             "7,400,000,000 synapses, an estimated 750.0 GB, more than train.max_memory_gb = 16; "
                             "raise it with --set train.max_memory_gb=751"),
    "layers as floats": (lambda t: train_args(t, "network.layers=[64,1e8,10]"), "expected a list of integers"),
    "epochs beyond bound": (lambda t: train_args(t, "train.epochs=1000000000"),
                            "more than train.max_presentations = 100,000,000; raise it with --set train.max_presentations="),
    "t_stim beyond bound": (lambda t: train_args(t, "network.t_stim=1e9 s"),
                            "time steps, more than train.max_steps = 10,000,000,000; raise it with --set train.max_steps="),
    "chunk beyond bound": (lambda t: train_args(t, "train.chunk=1e15"), "GatedClassifier.chunk = 1000000000000000: must be >= 1 and <= 1000"),
    "max_memory_gb zero": (lambda t: train_args(t, "train.max_memory_gb=0"), "max_memory_gb = 0: must be > 0"),
    "max_steps on rate": (lambda t: train_args(t, "train.max_steps=5", model=str(ROOT / "models" / "digits-rate.toml")),
                          "train.max_steps: not used by backend 'rate'"),
    # data
    "corrupt deflate stream": (lambda t: train_args(t, "data.dir=" + corrupt_mnist(t), model=str(ROOT / "models" / "mnist-1layer.toml")),
                               "train-images-idx3-ubyte.gz: cannot read (Error -3 while decompressing data"),
    "gzip bomb": (lambda t: train_args(t, "data.dir=" + gzip_bomb(t), model=str(ROOT / "models" / "mnist-1layer.toml")),
                  "train-images-idx3-ubyte.gz: cannot read (decompresses to more than 256 MiB)"),
    "0-byte npz": (lambda t: (t / "e.npz").write_bytes(b"") or train_args(t, "data.source=npz", f"data.path={t / 'e.npz'}"),
                   "e.npz: cannot read as .npz (No data left in file)"),
    "empty x_train": (lambda t: train_args(t, "data.source=npz", npz(t / "d.npz", x_train=np.zeros((0, 64)), y_train=np.zeros(0, int))),
                      "d x_train: shape (0, 64): no images"),
    "empty test set": (lambda t: train_args(t, "data.source=npz", npz(t / "d.npz", x_test=np.zeros((0, 64)), y_test=np.zeros(0, int))),
                       "d x_test: shape (0, 64): no images"),
    "string pixels": (lambda t: train_args(t, "data.source=npz", npz(t / "d.npz", x_train=np.full((20, 64), "a"))),
                      "d x_train: values of type <U1; allowed: real numbers"),
    "string labels": (lambda t: train_args(t, "data.source=npz", npz(t / "d.npz", y_train=np.array(["a"] * 20))),
                      "d y_train: values of type <U1; allowed: real numbers"),
    "complex pixels": (lambda t: train_args(t, "data.source=npz", npz(t / "d.npz", x_train=np.zeros((20, 64)) + 0.1j)),
                       "d x_train: values of type complex128; allowed: real numbers"),
    "boolean labels": (lambda t: train_args(t, "data.source=npz", npz(t / "d.npz", y_train=np.ones(20, bool))),
                       "d y_train: values of type bool; allowed: real numbers"),
    # output paths
    "--out under a file": (lambda t: (t / "f").write_text("x") and ["train", DIGITS, "--out", str(t / "f" / "run"), "--no-progress"],
                           "cannot write in"),
    # scans
    "random digits not a number": (lambda t: ["scan", scan_file(t, rand('digits = "abc"')), "--store", str(t / "s")],
                                   "rule.tau_e.digits = 'abc': must be an integer in [1, 17]"),
    "random digits negative": (lambda t: ["scan", scan_file(t, rand("digits = -1")), "--store", str(t / "s")],
                               "rule.tau_e.digits = -1: must be an integer in [1, 17]"),
    "random log not a boolean": (lambda t: ["scan", scan_file(t, rand('log = "no"')), "--store", str(t / "s")],
                                 "rule.tau_e.log = 'no': expected true or false"),
    "too many points": (lambda t: ["scan", scan_file(t, '[grid]\n"rule.tau_e" = [' + ", ".join(f'"{i} ms"' for i in range(1, 120))
                                                    + ']\n"rule.eta" = [' + ", ".join(f'"{i} Hz"' for i in range(1, 120)) + "]\n"),
                                   "--store", str(t / "s")],
                        "14,161 points: more than max_points = 10,000"),
    "max_points not a number": (lambda t: ["scan", _max_points_file(t), "--store", str(t / "s")],
                                "max_points = 'many': expected an integer >= 1"),
    "store under a file": (lambda t: (t / "f").write_text("x") and ["scan", scan_file(t), "--store", str(t / "f" / "store")],
                           "cannot create"),
    "scan.json holding a list": (lambda t: _store(t, "[]") and ["scan", scan_file(t), "--store", str(t / "st")],
                                 "scan.json: not a spikegate scan manifest"),
    "scan.json points not objects": (lambda t: _store(t, '{"points": [1]}') and ["scan", scan_file(t), "--store", str(t / "st")],
                                     "scan.json: not a spikegate scan manifest"),
    "collect of a bad scan.json": (lambda t: _store(t, "[]") and ["collect", str(t / "st")], "scan.json: not a spikegate scan manifest"),
    "scheduler not an address": (lambda t: ["scan", scan_file(t), "--store", str(t / "s"), "--scheduler", "not an address"],
                                 "--scheduler not an address: cannot connect"),
    "max attempts zero": (lambda t: ["scan", scan_file(t), "--store", str(t / "s"), "--max-attempts", "0"],
                          "--max-attempts 0: must be >= 1"),
    "collect -o a directory": (lambda t: ["collect", _finished_store(t), "-o", str(t / "st")],
                               "cannot write"),
    "collect --plot of a text column": (lambda t: ["collect", _finished_store(t), "-o", str(t / "r.csv"),
                                                   "--plot", "test_accuracy", "gate"],
                                        "column 'gate' holds values that are not numbers ('lazy')"),
    "collect --heatmap of a text column": (lambda t: ["collect", _finished_store(t), "-o", str(t / "r.csv"),
                                                      "--heatmap", "test_accuracy", "test_accuracy", "gate"],
                                           "column 'gate' holds values that are not numbers ('lazy')"),
    # run directories
    "weights.npz without w0": (lambda t: ["evaluate", _run_without_w0(t), "--no-progress"],
                               "weights.npz lacks w0 (the model has 1 projections)"),
    # energy
    "bits denormal": (lambda t: ["energy", _run(t), "--bits", "1e-320"], "--bits = 1e-320: must be >= 0.001 and <= 1024"),
    "bits huge": (lambda t: ["energy", _run(t), "--bits", "1e300"], "--bits = 1e+300: must be >= 0.001 and <= 1024"),
    "catalogue figure huge": (lambda t: ["energy", _run(t), "--catalogue", _catalogue(t, "1e308")],
                              "Technology.value = 1e+308 pJ: must be <= 1. * Mjoule per unit"),
    "catalogue bits huge": (lambda t: ["energy", _run(t), "--catalogue", _catalogue(t, "1", bits="1e300")],
                            "Technology.bits = 1e+300: must be > 0 and <= 1000000000000.0"),
    "energy of a folder that is no run": (lambda t: ["energy", str(t)], "missing metrics.json, ledger.npz"),
    "evaluate of a missing run": (lambda t: ["evaluate", str(t / "nope"), "--no-progress"], "nope: does not exist"),
    # model files and overrides
    "model file missing": (lambda t: train_args(t, model=str(t / "none.toml")), "none.toml: cannot read (No such file"),
    "model file not TOML": (lambda t: (t / "bad.toml").write_text('name = "x"\n[data\n') and
                            train_args(t, model=str(t / "bad.toml")), "bad.toml: invalid TOML"),
    "unknown section": (lambda t: train_args(t, "foo.bar=1"), "unknown config section [foo]"),
    "unknown key": (lambda t: train_args(t, "network.foo=1"), "unknown config key 'network.foo'"),
    "override without =": (lambda t: train_args(t, "network"), "--set 'network': expected dotted.key=value"),
    "unknown backend": (lambda t: train_args(t, "backend=foo"), "backend = 'foo': unknown; allowed: spiking, rate"),
    "unknown data source": (lambda t: train_args(t, "data.source=foo"), "data.source = 'foo': unknown"),
    "more samples than the data set": (lambda t: train_args(t, "data.n_train=100000"),
                                       "data.n_train = 100000: must be in [1, 1438]"),
    "MNIST folder missing": (lambda t: train_args(t, f"data.dir={t / 'nodir'}", model=str(ROOT / "models" / "mnist-1layer.toml")),
                             "nodir does not exist"),
    "negative dt": (lambda t: train_args(t, "network.dt=-1 ms"), "network.dt = -1. * msecond: must be > 0"),
    "dt in volts": (lambda t: train_args(t, "network.dt=5 mV"), "network.dt = 5. * mvolt: wrong unit"),
    "t_stim off the dt grid": (lambda t: train_args(t, "network.t_stim=50.3 ms"), "must be a multiple (>= 2) of dt"),
    "one layer": (lambda t: train_args(t, "network.layers=[64]"), "need at least inputs and outputs"),
    "one output class": (lambda t: train_args(t, "network.layers=[64,1]"), "need at least 2 output classes"),
    "unknown gate": (lambda t: [*train_args(t), "--gate", "foo"], "gate.name = 'foo': unknown"),
    "gate key not read": (lambda t: [*train_args(t, "gate.half_snr=3"), "--gate", "lazy"], "not read by gate 'lazy'"),
    "negative eta": (lambda t: train_args(t, "rule.eta=-1 Hz"), "rule.eta = -1. * hertz: must be > 0"),
    "NaN time constant": (lambda t: train_args(t, "rule.tau_e=nan ms"), "rule.tau_e = 'nan ms': expected"),
    "zero input rate": (lambda t: train_args(t, "input.nu_max=0 Hz"), "input.nu_max = 0. * hertz: must be > 0"),
    "zero epochs": (lambda t: train_args(t, "train.epochs=0"), "train.epochs = 0: must be >= 1"),
    # neuron models (any Brian2 equations)
    "unknown neuron model": (lambda t: train_args(t, "neuron.model=Izh"), "neuron.model = 'Izh': unknown"),
    "equations key on LIF": (lambda t: train_args(t, 'neuron.equations="dv/dt = I/(5*ms) : volt"'),
                             "neuron.equations: not read by neuron model 'LIF'"),
    "equations unparsable": (lambda t: train_args(t, *_neuron('dv/dt = : volt')), "neuron.equations: 'dv/dt = : volt': empty expression"),
    "equations without I": (lambda t: train_args(t, *_neuron('dv/dt = -v/tau : volt')), "must use the synaptic input I"),
    "equations without v": (lambda t: train_args(t, *_neuron('du/dt = (I-u)/tau : volt', initial="u")),
                            "must define the membrane potential v"),
    "equations define x": (lambda t: train_args(t, *_neuron('dv/dt = (I-v)/tau : volt\\ndx/dt = -x/tau : 1')),
                           "neuron.equations: defines x, spikegate's own"),
    "threshold unknown name": (lambda t: train_args(t, *_neuron('dv/dt = (I-v)/tau : volt'), 'neuron.threshold="v > vt"'),
                               "neuron.threshold = 'v > vt': unknown name(s) vt"),
    "initial without v": (lambda t: train_args(t, *_neuron('dv/dt = (I-v)/tau : volt'), "neuron.initial={}"),
                          "neuron.initial: must give v"),
    "parameter named w": (lambda t: train_args(t, *_neuron('dv/dt = (I-v)/tau : volt'),
                                               'neuron.parameters={tau="5 ms", w=1}'),
                          "neuron.parameters.w: the name is spikegate's own"),
    "parameter with an unknown unit": (lambda t: train_args(t, *_neuron('dv/dt = (I-v)/tau : volt'),
                                                            'neuron.parameters={tau="5 parsec"}'),
                                       "neuron.parameters.tau = '5 parsec': unknown unit 'parsec'"),
    # code from a model file is data (spikegate.model.code): each refused before Brian2 sees it
    "reset with a carriage return": (lambda t: train_args(t, *_code(reset="v = 0*mV # c\r__import__('os')")),
                                     r"neuron.reset: character '\r' (U+000D) not allowed in code"),
    "reset with a tab": (lambda t: train_args(t, *_code(reset="v =\t0*mV")), r"character '\t' (U+0009)"),
    "reset with a NUL": (lambda t: train_args(t, *_code(reset="v = 0*mV\x00")), r"character '\x00' (U+0000)"),
    "reset with a form feed": (lambda t: train_args(t, *_code(reset="v = 0*mV\x0cv = 1*mV")), r"character '\x0c'"),
    "reset with a full-width letter": (lambda t: train_args(t, *_code(reset="v = ｖ")), "character 'ｖ' (U+FF56)"),
    "reset calling __import__": (lambda t: train_args(t, *_code(reset="v = __import__('os')")),
                                 "call of '__import__' not allowed"),
    "reset reading an attribute": (lambda t: train_args(t, *_code(reset="v = v.real")), "Attribute syntax not allowed"),
    "reset with a string": (lambda t: train_args(t, *_code(reset="v = 'x'")), "constant 'x' not allowed"),
    "reset assigning spikegate's w": (lambda t: train_args(t, *_code(reset="w = 0")), "assigns 'w', not a variable"),
    "reset that is no statement": (lambda t: train_args(t, *_code(reset="import os")), "is not a statement"),
    "threshold with a lambda": (lambda t: train_args(t, *_code(threshold="(lambda: v)() > 0*mV")), "not allowed"),
    "threshold with a subscript": (lambda t: train_args(t, *_code(threshold="v[0] > 0*mV")),
                                   "Subscript syntax not allowed"),
    "threshold with two comparisons": (lambda t: train_args(t, *_code(threshold="0*mV < v < 1*mV")),
                                       "one comparison at a time"),
    "threshold with a keyword argument": (lambda t: train_args(t, *_code(threshold="clip(v, a_min=0*mV) > 0*mV")),
                                          "call of 'clip' not allowed"),
    "threshold with a tower of powers": (lambda t: train_args(t, *_code(threshold="v > 9**9**9*mV")),
                                         "exponent 3.8742e+08 too large"),
    "threshold with a 400-digit number": (lambda t: train_args(t, *_code(threshold="v > " + "9" * 400 + "*mV")),
                                          "a constant is out of range"),
    "threshold nested 100 deep": (lambda t: train_args(t, *_code(threshold="abs(" * 100 + "v" + ")" * 100 + " > 0*mV")),
                                  "nested more than 64 levels deep"),
    "unit string with a tower of powers": (lambda t: train_args(t, *_code(equations="dv/dt = (I-v)/tau : volt*1**9**9**9")),
                                           "unit 'volt*1**9**9**9' not allowed"),
    "unit that is no base unit": (lambda t: train_args(t, *_code(equations="dv/dt = (I-v)/tau : mV")),
                                  "unit 'mV' is not a base unit"),
    "equations with an unknown flag": (lambda t: train_args(t, *_code(equations="dv/dt = (I-v)/tau : volt (evil)")),
                                       "unknown flag 'evil'"),
    "equations with two colons": (lambda t: train_args(t, *_code(equations="dv/dt = (I-v)/tau : volt : volt")),
                                  "one ':' before the unit"),
    "equations calling open": (lambda t: train_args(t, *_code(equations="dv/dt = (I-v)/tau + 0*open(v) : volt")),
                               "call of 'open' not allowed"),
    "equations of 30,000 characters": (lambda t: train_args(t, *_code(equations="dv/dt = (I-v)/tau : volt" + " " * 30000)),
                                       "30,024 characters; at most 20,000"),
    "parameter name with a newline": (lambda t: train_args(t, model=_neuron_model(t, parameters={"tau\n": "5 ms"})),
                                      r"neuron.parameters: name 'tau\n' is not an identifier"),
    "parameter name not ASCII": (lambda t: train_args(t, model=_neuron_model(t, parameters={"τ": "5 ms"})),
                                 "name 'τ' is not an identifier"),
    "initial name with a newline": (lambda t: train_args(t, model=_neuron_model(t, initial={"v\n": "0 mV"})),
                                    r"neuron.initial: name 'v\n' is not an identifier"),
    "parameter override not ASCII": (lambda t: train_args(t, *_code(), "neuron.parameters.τ=1"),
                                     "config key 'neuron.parameters.τ'"),
    "method with code": (lambda t: train_args(t, *_code(method="euler; import os")), "neuron.method = 'euler; import os': unknown"),
    "model file over 256 KiB": (lambda t: (t / "big.toml").write_text("# x\n" * 70000) and
                                train_args(t, model=str(t / "big.toml")), "larger than 256 KiB"),
    # scan sizes, checked before anything is expanded
    "random axis of a million": (lambda t: ["scan", scan_file(t, '[random]\n"rule.tau_e" = {low = 50, high = 100, n = 1000000, unit = "ms"}\n'), "--store", str(t / "s")],
                                 "[random] rule.tau_e: 1,000,000 values, more than max_points = 10,000"),
    "grid axis beyond max_points": (lambda t: ["scan", scan_file(t, 'max_points = 5\n[grid]\n"rule.eta" = ["1 Hz", "2 Hz", "3 Hz", "4 Hz", "5 Hz", "6 Hz"]\n', top=True), "--store", str(t / "s")],
                                    "[grid] rule.eta: 6 values, more than max_points = 5"),
    "zip list beyond max_points": (lambda t: ["scan", scan_file(t, 'max_points = 2\n[zip]\n"rule.eta" = ["1 Hz", "2 Hz", "3 Hz"]\n"rule.tau_e" = ["1 ms", "2 ms", "3 ms"]\n', top=True), "--store", str(t / "s")],
                                   "[zip] rule.eta: 3 values, more than max_points = 2"),
    "seeds beyond max_points": (lambda t: ["scan", _seeds_file(t), "--store", str(t / "s")], "seeds: 4 values, more than max_points = 3"),
    "scan file over 256 KiB": (lambda t: ["scan", scan_file(t, "# x\n" * 70000), "--store", str(t / "s")], "larger than 256 KiB"),
    "scan [set] with a hostile reset": (lambda t: ["scan", scan_file(t, _toml_entries(_code_table(reset="v = 0 # \r__import__('os')"))),
                                         "--store", str(t / "s")], r"neuron.reset: character '\r'"),
    # damaged run directories: checked field by field before anything is written
    "ledger with NaN sums": (lambda t: ["energy", _damaged(t, ledger={"sum_abs_dw": np.full((3, 2), np.nan)})],
                             "field 'sum_abs_dw': contains NaN or infinity"),
    "ledger with misshaped writes": (lambda t: ["energy", _damaged(t, ledger={"writes": np.zeros((3, 5), np.int64)})],
                                     "field 'writes': shape (3, 5), expected (3, 2)"),
    "ledger with a negative count": (lambda t: ["energy", _damaged(t, ledger={"writes": np.array([[-5, 0], [0, 0], [0, 0]])},
                                                                   metrics={"n_writes": -5})],
                                     "n_writes = -5: expected an integer >= 0"),
    "ledger with a negative count only": (lambda t: ["energy", _damaged(t, ledger={"trace_updates": -np.ones((3, 2), np.int64)})],
                                          "field 'trace_updates': negative value"),
    "ledger with float writes": (lambda t: ["energy", _damaged(t, ledger={"writes": np.full((3, 2), 0.5)})],
                                 "field 'writes': values of type float64; expected integers"),
    "ledger without gate_open": (lambda t: ["energy", _damaged(t, ledger={"gate_open": None})], "field 'gate_open' missing"),
    "ledger with text alpha": (lambda t: ["energy", _damaged(t, ledger={"alpha": np.array("x")})], "field 'alpha': expected one number"),
    "metrics with a text accuracy": (lambda t: ["energy", _damaged(t, metrics={"test_accuracy": "high"})],
                                     "test_accuracy = 'high': expected a fraction in [0, 1]"),
    "metrics with NaN": (lambda t: ["energy", _damaged(t, raw_metrics='{"test_accuracy": NaN}')], "NaN is not a number JSON allows"),
    "metrics with 1e400": (lambda t: ["energy", _damaged(t, raw_metrics='{"n_writes": 1e400}')], "n_writes = inf: expected an integer"),
    "metrics nested 100,000 deep": (lambda t: ["energy", _damaged(t, raw_metrics='{"x": ' + "[" * 100000 + "]" * 100000 + "}")],
                                    "unreadable (nested too deeply)"),
    "metrics nested 20 deep": (lambda t: ["energy", _damaged(t, raw_metrics='{"x": ' + "[" * 20 + "]" * 20 + "}")],
                               "nested more than 16 levels deep"),
    "metrics a list": (lambda t: ["energy", _damaged(t, raw_metrics="[]")], "unreadable (not a JSON object)"),
    "metrics curves not a list": (lambda t: ["energy", _damaged(t, metrics={"curves": "x"})], "curves = 'x': expected a list"),
    "metrics curve beyond the ledger": (lambda t: ["energy", _damaged(t, metrics={"curves": [{"samples_seen": 99, "test_accuracy": 0.5}]})],
                                        "counts more presentations than the 3 of ledger.npz"),
    "metrics with an unknown backend": (lambda t: ["energy", _damaged(t, metrics={"backend": "quantum"})],
                                        "backend = 'quantum': expected 'spiking' or 'rate'"),
    "metrics with a broken neurobench": (lambda t: ["energy", _damaged(t, metrics={"neurobench": {"synaptic_operations": {"Dense": "x"}}})],
                                         "neurobench.synaptic_operations: Effective_ACs missing"),
    "compare with one damaged run": (lambda t: ["energy", "--compare", _run(t), _damaged(t, metrics={"gate": 5}), "--out", str(t / "cmp")],
                                     "gate = 5: expected a string"),
    "energy --full with --compare": (lambda t: ["energy", "--compare", _run(t), "--full", "--out", str(t / "cmp")],
                                     "--full: only with one RUN_DIR; --compare prints all of its tables already"),
    "energy of a run with 5000-bit synapses": (lambda t: ["energy", _damaged(t, metrics={"synapse_bits": 5000})],
                                               "metrics.json synapse_bits = 5000: must be <= 1024 to price a write; give --bits"),
    "compare of runs with 5000-bit synapses": (lambda t: ["energy", "--compare", _damaged(t, metrics={"synapse_bits": 5000}),
                                                          "--out", str(t / "cmp")], "synapse_bits = 5000: must be <= 1024"),
    "energy of a run whose seed is text": (lambda t: ["energy", _energy_run_config(t, 'seed = "x"\n')],
                                           "config.toml: seed = 'x': expected an integer >= 0"),
    "energy of a run with a negative seed": (lambda t: ["energy", _energy_run_config(t, "seed = -1\n")],
                                             "config.toml: seed = -1: expected an integer >= 0"),
    "compare of a run whose config is no TOML": (lambda t: ["energy", "--compare", _run(t), _energy_run_config(t, "seed = [\n"),
                                                            "--out", str(t / "cmp")], "config.toml: invalid TOML"),
    # checkpoints: spikegate train --init-from RUN_DIR (issue 23)
    "init-from a missing directory": (lambda t: _init_from(t, str(t / "nowhere")), "nowhere: not a directory"),
    "init-from a run without a checkpoint": (lambda t: _init_from(t, _run(t)), "no checkpoint.npz"),
    "init-from a checkpoint that is no npz": (lambda t: _init_from(t, _checkpoint(t, raw=b"PK\x03\x04 broken")),
                                              "not a spikegate checkpoint"),
    "init-from a checkpoint with a pickle": (lambda t: _init_from(t, _checkpoint(t, pickled=True)),
                                             "not a spikegate checkpoint"),
    "init-from a classifier's checkpoint": (lambda t: _init_from(t, _checkpoint(t, meta={"kind": "classifier"})),
                                            "a checkpoint of kind 'classifier' format 1; expected kind 'training'"),
    "init-from a checkpoint of format 99": (lambda t: _init_from(t, _checkpoint(t, meta={"format": 99})),
                                            "expected kind 'training' format 1"),
    "init-from weights of another network": (lambda t: _init_from(t, _checkpoint(t, w0=np.zeros((10, 10)))),
                                             "weights w0 of shape (10, 10); this model's projection 0 is (64, 10)"),
    "init-from a checkpoint without weights": (lambda t: _init_from(t, _checkpoint(t, w0=None)), "weights w0 missing"),
    "init-from text weights": (lambda t: _init_from(t, _checkpoint(t, w0=np.full((64, 10), "x"))),
                               "weights w0 of shape (64, 10) of <U1; expected finite numbers"),
    "init-from NaN weights": (lambda t: _init_from(t, _checkpoint(t, w0=np.full((64, 10), np.nan))),
                              "weights w0 of shape (64, 10) of float64; expected finite numbers"),
    "init-from a spiking run into the rate backend": (lambda t: _init_from(t, _checkpoint(t), model=RATE),
                                                       "weights w1 missing; expected finite numbers, one matrix per "
                                                       "projection of this model"),
    "init-from a memory of another size": (lambda t: _init_from(t, _checkpoint(t, mu=np.zeros(5))),
                                           "covers 5 training samples, this run trains on 20"),
    "init-from a memory out of range": (lambda t: _init_from(t, _checkpoint(t, mu=np.full(20, 2.0))),
                                        "memory.mu must be a vector of traces in [0, 1]"),
    "init-from a memory for a memoryless run": (lambda t: _init_from(t, _checkpoint(t, mu=None)),
                                                "the run had no mistake memory"),
    "init-from zero epochs": (lambda t: _init_from(t, _checkpoint(t, meta={"epochs": 0})),
                              "checkpoint records epochs = 0; expected a positive integer"),
    "init-from text epochs": (lambda t: _init_from(t, _checkpoint(t, meta={"epochs": "2"})),
                              "checkpoint records epochs = '2'"),
    "init-from a broken epoch order": (lambda t: _init_from(t, _checkpoint(t, meta={"order_state": {"x": 1}})),
                                       "the epoch order's generator state is missing or malformed"),
    "init-from network state of another structure": (lambda t: _init_from(t, _checkpoint(t, network=_other_network())),
                                                     "checkpoint.npz: no state array 'clock.clock' (73 missing): saved "
                                                     "from a network of another structure"),
    "init-from a network state without its random stream": (
        lambda t: _init_from(t, _checkpoint(t, network={"net.other.v": np.zeros(3)})),
        "checkpoint.npz: array random.numpy_keys missing"),
    "init-from a random gate's run without its coin": (lambda t: _init_from(t, _checkpoint(t), "--gate", "random"),
                                                       "the run had no random gate"),
    "an npz path for the digits": (lambda t: train_args(t, npz(t / "p.npz")),
                                   "read only with source = 'npz' (source is 'digits'); set data.source"),
    "initial weights as a config key": (lambda t: train_args(t, "train.initial_weights=run"),
                                        "unknown config key 'train.initial_weights': a run is continued with "
                                        "spikegate train MODEL --init-from RUN_DIR"),
    "resume as a config key": (lambda t: train_args(t, "resume=true"), "unknown config key 'resume': a run is continued"),
    # labels are integers: a float label is refused, not truncated (issue 23)
    "float labels": (lambda t: train_args(t, "data.source=npz", npz(t / "f.npz", y_train=np.linspace(0, 9, 20))), "float labels (float64; e.g. 0.47"),
    "whole float labels": (lambda t: train_args(t, "data.source=npz", npz(t / "w.npz", y_train=np.arange(20) % 10 * 1.0)),
                           "float labels (float64; class labels are integers in [0, 9]); convert whole numbers"),
}


def _other_network():
    """State arrays of a network that is not digits' (with a valid random stream)."""
    from spikegate.backends.spiking.random_state import seeded, to_arrays

    return {"net.other.v": np.zeros(3), **to_arrays(seeded(1), prefix="random.")}


def _init_from(t, run_dir, *extra, model=DIGITS):
    sets = ("data.n_train=20", "data.n_test=10") + (("train.target=numpy",) if model == DIGITS else ())
    return train_args(t, *sets, model=model) + ["--init-from", run_dir, *extra]


def _checkpoint(t, raw=None, pickled=False, meta=None, w0=np.zeros((64, 10)), mu=np.zeros(20), network=None):
    """A run directory whose checkpoint.npz is a valid digits checkpoint (20 samples), changed as asked."""
    import json

    run = t / "ckpt-run"
    run.mkdir()
    path = run / "checkpoint.npz"
    if raw is not None:
        path.write_bytes(raw)
        return str(run)
    record = {"format": 1, "kind": "training", "epochs": 2, "presentations": 40,
              "order_state": np.random.default_rng(2).bit_generator.state, **(meta or {})}
    arrays = {"meta": np.array(json.dumps(record))}
    if w0 is not None:
        arrays["weights.w0"] = w0
    if mu is not None:
        arrays["memory.mu"] = mu
    arrays.update({f"network.{k}": v for k, v in (network or {}).items()})
    if pickled:
        arrays["evil"] = np.array([{"x": 1}], dtype=object)
    np.savez(path, **arrays)
    return str(run)


def _toml_value(v) -> str:
    """A string (JSON escapes are TOML's) or an inline table, as TOML text."""
    import json

    return "{" + ", ".join(f"{a} = {json.dumps(b)}" for a, b in v.items()) + "}" if isinstance(v, dict) \
        else json.dumps(v, ensure_ascii=False)


def _toml_entries(table):
    return "".join(f'"{k}" = {_toml_value(v)}\n' for k, v in table.items())


def _code_table(**changes):
    return {f"neuron.{k}": v for k, v in {"model": "equations", "equations": "dv/dt = (I-v)/tau : volt",
                                          "threshold": "v > 10*mV", "reset": "v = 0*mV", "method": "euler",
                                          "parameters": {"tau": "5 ms"}, "initial": {"v": "0 mV"}, **changes}.items()}


def _code(**changes):
    """``--set`` overrides of a ``model = "equations"`` neuron, with some fields changed."""
    return [f"{k}={_toml_value(v)}" for k, v in _code_table(**changes).items()]


def _neuron_model(t, **changes):
    """A model file whose [neuron] section has some fields changed (keys TOML cannot take on --set)."""
    import tomllib

    import tomli_w

    model = tomllib.loads(open(DIGITS).read())
    model["neuron"] = {k.split(".", 1)[1]: v for k, v in _code_table(**changes).items()}
    path = t / "neuron.toml"
    path.write_text(tomli_w.dumps(model))
    return str(path)


def _seeds_file(t):
    path = t / "seeds.toml"
    path.write_text(f'model = "{DIGITS}"\nmax_points = 3\nseeds = [1, 2, 3, 4]\n')
    return str(path)


def _damaged(t, ledger=None, metrics=None, raw_metrics=None):
    """A run directory with one field of the ledger or the metrics damaged."""
    import json

    run = make_run(t / f"damaged{len(list(t.glob('damaged*')))}", WRITES)
    if ledger:
        with np.load(run / "ledger.npz") as f:
            arrays = {k: f[k] for k in f.files}
        for k, v in ledger.items():
            if v is None:
                arrays.pop(k)
            else:
                arrays[k] = v
        np.savez(run / "ledger.npz", **arrays)
    if metrics:
        m = json.loads((run / "metrics.json").read_text())
        m.update(metrics)
        (run / "metrics.json").write_text(json.dumps(m))
    if raw_metrics is not None:
        (run / "metrics.json").write_text(raw_metrics)
    return str(run)


def _neuron(equations, initial="v"):
    """Overrides for a ``model = "equations"`` neuron with one parameter ``tau``."""
    return ["neuron.model=equations", f'neuron.equations="{equations}"', 'neuron.threshold="v > 10*mV"',
            'neuron.reset="v = 0*mV"', 'neuron.parameters={tau="5 ms"}', f'neuron.initial={{{initial}="0 mV"}}']


def _max_points_file(t):
    path = t / "mp.toml"
    path.write_text(f'model = "{DIGITS}"\nmax_points = "many"\nseeds = [1]\n')
    return str(path)


def _store(t, manifest):
    (t / "st" / "points").mkdir(parents=True)
    (t / "st" / "scan.json").write_text(manifest)
    return True


def _finished_store(t):
    """A store with one finished point (only what collect reads)."""
    from spikegate.config import config_hash

    if not (t / "st").exists():
        config = "seed = 1\n"
        point = t / "st" / "points" / config_hash(config)
        point.mkdir(parents=True)
        (point / "config.toml").write_text(config)
        (point / "metrics.json").write_text('{"test_accuracy": 0.5, "gate": "lazy"}')
        for f in ("weights.npz", "ledger.npz"):
            (point / f).write_bytes(b"")
    return str(t / "st")


def _run_without_w0(t):
    from spikegate.config import resolve

    run = make_run(t / "run-dir", WRITES)
    (run / "config.toml").write_text(resolve(DIGITS, ["train.target=numpy"]).to_toml())
    np.savez(run / "weights.npz", w1=np.zeros((64, 10)))
    return str(run)


def _run(t):
    return str(make_run(t / "energy-run", WRITES))


def _energy_run_config(t, config):
    """A run directory for energy with a config.toml of the text ``config``."""
    run = make_run(t / "configured-run", WRITES)
    (run / "config.toml").write_text(config)
    return str(run)


def _catalogue(t, value, bits="32"):
    path = t / "cat.toml"
    path.write_text(f'[technology.Huge]\nfigure = "x"\nvalue = {value}\nunit = "pJ"\nbits = {bits}\n'
                    f'boundary = "system"\nsource = "a test"\n')
    return str(path)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(case, tmp_path, capsys):
    if ("mnist" in case or "deflate" in case or "bomb" in case) and not MNIST_DIR.exists():
        pytest.skip("MNIST not available")
    make_args, message = CASES[case]
    args = make_args(tmp_path)
    before = set(p for p in tmp_path.rglob("*"))
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err, err
    lines = [ln for ln in err if not ln.startswith("scan ")]          # the scan's header line comes first
    assert len(lines) == 1 and lines[0].startswith("spikegate: error: ") and message in lines[0], err
    assert not any("Traceback" in ln for ln in err)
    after = set(p for p in tmp_path.rglob("*"))
    assert sorted(map(str, after - before)) == []                     # no run, store, table or temporary


@pytest.mark.parametrize("case", ["chunk beyond bound", "string pixels"])
def test_a_refused_command_leaves_no_brian2_files(case, tmp_path):
    """Brian2 writes a debug log and a copy of the script to the temporary directory; a refused
    command exits cleanly, so Brian2 removes them."""
    import os
    import subprocess
    import sys

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    args = CASES[case][0](tmp_path)
    proc = subprocess.run([sys.executable, "-m", "spikegate.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "TMPDIR": str(scratch)}, timeout=300)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr[-2000:]
    assert sorted(p.name for p in scratch.iterdir()) == []


def test_a_full_disk_is_one_line_and_leaves_no_half_written_run(tmp_path):
    """A full disk, simulated by a file-size limit (writes fail with EFBIG): one line, exit 2,
    no run directory and no Brian2 files in the temporary directory."""
    import os
    import resource
    import signal
    import subprocess
    import sys

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    args = train_args(tmp_path, "data.n_train=50", "data.n_test=20", "train.epochs=1", "train.target=numpy")
    proc = subprocess.run([sys.executable, "-m", "spikegate.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "TMPDIR": str(scratch)}, timeout=300, preexec_fn=limit_file_size)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and "cannot write" in proc.stderr and "File too large" in proc.stderr, \
        proc.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]
    assert sorted(p.name for p in scratch.iterdir()) == []
