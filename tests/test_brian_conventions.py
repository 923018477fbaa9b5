"""Brian2's conventions on the runtime classifier: a container, seeds, the clock, input counts,
devices, quiet objects; and checkpoints that go on exactly where a run stopped (issue 23)."""
import gc
import logging

import brian2 as b2
import numpy as np
import pytest

from spikegate.backends.spiking import GatedClassifier
from spikegate.cli import main
from spikegate.config import resolve
from spikegate.errors import DataError, ParameterError
from spikegate.model import MistakeMemory
from spikegate.training import load_dataset, train

from conftest import ROOT

DIGITS = str(ROOT / "models" / "digits.toml")
SMALL = ["data.n_train=60", "data.n_test=30"]


@pytest.fixture(scope="module")
def digits():
    cfg = resolve(DIGITS, SMALL)
    return cfg, load_dataset(cfg)


class BrianWarnings(logging.Handler):
    """Collects Brian2's warnings (they go through logging, not Python's warnings)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def __enter__(self):
        logging.getLogger("brian2").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("brian2").removeHandler(self)


def test_the_classifier_is_a_container_and_monitors_see_every_input_spike(digits):
    cfg, ds = digits
    clf = GatedClassifier(cfg.spec, cfg.gate, ds.x_train, seed=3, name="sg")
    counts = b2.StateMonitor(clf.input, "k", record=True, clock=clf.clock, name="user_counts")
    # the user's own synapses on the classifier's clock: no dt-mismatch warning
    relay = b2.Synapses(clf.input, clf.output, on_pre="", clock=clf.clock, name="user_relay")
    relay.connect(j="i % 10")
    with BrianWarnings() as seen:
        net = b2.Network(clf, counts, relay)
        log = clf.run(net, np.arange(12), ds.y_train[:12])
    assert not [m for m in seen.messages if "dt" in m], seen.messages
    assert len(net.objects) == len(clf.objects) + 2
    # Poisson counts per step: the monitor of k sees exactly what the ledger counts as input spikes
    assert int(counts.k.sum()) == int(log.activity[:, 0].sum()) > 0


def test_an_explicit_seed_is_its_own_stream_and_no_seed_follows_brian2_seed(digits):
    cfg, ds = digits
    a = GatedClassifier(cfg.spec, cfg.gate, ds.x_train, seed=1, name="sg")
    b = GatedClassifier(cfg.spec, cfg.gate, ds.x_train, seed=1, name="sg2")
    # interleaved: each draws from its own stream
    logs_a = [a.present(np.arange(k, k + 5), ds.y_train[k:k + 5]) for k in (0, 5)]
    logs_b = [b.present(np.arange(k, k + 5), ds.y_train[k:k + 5]) for k in (0, 5)]
    np.testing.assert_array_equal(a.weights(0), b.weights(0))
    assert [int(x.writes.sum()) for x in logs_a] == [int(x.writes.sum()) for x in logs_b]
    del a, b
    gc.collect()
    runs = []
    for s in (42, 42, 7):
        b2.seed(s)
        c = GatedClassifier(cfg.spec, cfg.gate, ds.x_train, name="sg")
        runs.append((c.seed, c.weights(0), c.present(np.arange(5), ds.y_train[:5]).outputs))
        del c
        gc.collect()
    assert runs[0][0] == runs[1][0] != runs[2][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][2], runs[1][2])
    assert not np.array_equal(runs[0][1], runs[2][1])


def test_closed_form_ern_attribute_names_the_simulated_ern(digits):
    cfg, ds = digits
    clf = GatedClassifier(cfg.spec, cfg.gate, ds.x_train, seed=1, name="sg")
    for attribute in ("ern", "ern_group"):
        with pytest.raises(AttributeError, match='closed form .*ERNSignal\\(integration="simulated"\\).*'
                                                 "--set ern.integration=simulated"):
            getattr(clf, attribute)


def test_unrun_classifiers_die_quietly_and_user_objects_still_warn(digits):
    cfg, ds = digits
    with BrianWarnings() as seen:
        clf = GatedClassifier(cfg.spec, cfg.gate, ds.x_train, seed=1, name="sg")
        own = b2.NeuronGroup(1, "v : 1", name="users_unrun_group")
        del clf, own
        gc.collect()
    unused = [m for m in seen.messages if "never included in a network" in m]
    assert len(unused) == 1 and "users_unrun_group" in unused[0], unused


def test_a_standalone_device_gets_one_line_naming_the_compiled_engine(digits):
    from brian2.devices.device import reset_device

    cfg, ds = digits
    b2.set_device("cpp_standalone", build_on_run=False)
    try:
        with pytest.raises(ParameterError, match='runtime device .*train.device = "cpp_standalone"') as info:
            GatedClassifier(cfg.spec, cfg.gate, ds.x_train, seed=1, name="sg")
    finally:
        reset_device()
        b2.set_device("runtime")
    assert "\n" not in str(info.value)


def test_save_and_load_go_on_bit_for_bit(digits, tmp_path):
    cfg, ds = digits
    memory = MistakeMemory(30, 5.0, 0.5)
    clf = GatedClassifier(cfg.spec, cfg.gate, ds.x_train, seed=4, name="sg")
    net = clf.network
    clf.run(net, np.arange(15), ds.y_train[:15], memory=memory)
    clf.save(tmp_path / "clf.npz", memory=memory)
    on = clf.run(net, np.arange(15, 30), ds.y_train[15:30], memory=memory)
    w_on = clf.weights(0)
    del clf, net
    gc.collect()
    loaded = GatedClassifier.load(tmp_path / "clf.npz", ds.x_train)
    assert loaded.spec == cfg.spec and loaded.gate == cfg.gate and loaded.seed == 4
    np.testing.assert_array_equal(loaded.memory.mu[:15] > 0, memory.mu[:15] > 0)
    again = loaded.run(loaded.network, np.arange(15, 30), ds.y_train[15:30], memory=loaded.memory)
    np.testing.assert_array_equal(again.outputs, on.outputs)
    np.testing.assert_array_equal(again.writes, on.writes)
    np.testing.assert_array_equal(loaded.weights(0), w_on)
    np.testing.assert_array_equal(loaded.memory.mu, memory.mu)
    with pytest.raises(DataError, match="not a spikegate checkpoint"):
        (tmp_path / "junk.npz").write_bytes(b"junk")
        GatedClassifier.load(tmp_path / "junk.npz", ds.x_train)


def test_two_epochs_then_one_equal_three_bit_for_bit_through_the_cli(tmp_path, capsys):
    """Gate ``ern`` (mistake memory), runtime engine: the Python API in one go, the CLI in two."""
    sets = ["data.n_train=120", "data.n_test=40"]
    whole = train(DIGITS, gate="ern", overrides=sets + ["train.epochs=3"], progress=False)
    args = ["train", DIGITS, "--gate", "ern", "--no-progress", *[a for s in sets for a in ("--set", s)]]
    assert main(args + ["--set", "train.epochs=2", "--out", str(tmp_path / "two")]) == 0
    assert main(args + ["--set", "train.epochs=1", "--out", str(tmp_path / "more"),
                        "--init-from", str(tmp_path / "two")]) == 0
    capsys.readouterr()
    with np.load(tmp_path / "more" / "weights.npz") as f:
        np.testing.assert_array_equal(f["w0"], whole.final_weights[0])
    import json

    more = json.loads((tmp_path / "more" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert more["test_accuracy"] == whole.metrics["test_accuracy"]
    assert two["n_writes"] + more["n_writes"] == whole.metrics["n_writes"]
    assert more["epochs_before"] == 2 and [c["epoch"] for c in more["curves"]] == [3]
    # the rate excludes building and compiling the network
    assert more["presentations_per_second"] == pytest.approx(
        (120 + 40) / (more["wall_seconds"] - more["compile_seconds"]))


def test_store_and_restore_replay_the_spike_trains_with_the_classifiers_stream(digits):
    cfg, ds = digits
    clf = GatedClassifier(cfg.spec, cfg.gate, ds.x_train, seed=6, name="sg")
    net = b2.Network(clf)
    net.store("before")
    stream = clf.random.state
    first = clf.run(net, np.arange(10), ds.y_train[:10])
    net.restore("before")
    again = clf.run(net, np.arange(10), ds.y_train[:10])
    assert not np.array_equal(first.outputs, again.outputs)    # Brian2 rewinds the objects, not the stream
    net.restore("before")
    clf.random.state = stream
    replay = clf.run(net, np.arange(10), ds.y_train[:10])
    np.testing.assert_array_equal(first.outputs, replay.outputs)
    np.testing.assert_array_equal(first.writes, replay.writes)


@pytest.mark.parametrize("model, sets, state", [
    (DIGITS, ["train.device=cpp_standalone"], "whole state"),      # the binary's state: weights and its run count
    (str(ROOT / "models" / "digits-rate.toml"), [], "weights"),    # deterministic: the weights are its state
], ids=["compiled engine", "rate backend"])
def test_two_epochs_then_one_equal_three_on_the_other_engines(model, sets, state, tmp_path):
    sets = sets + ["data.n_train=100", "data.n_test=40"]
    whole = train(model, overrides=sets + ["train.epochs=3"], progress=False)
    train(model, overrides=sets + ["train.epochs=2"], progress=False, out=tmp_path / "two")
    more = train(model, overrides=sets + ["train.epochs=1"], progress=False, init_from=tmp_path / "two")
    for k, w in enumerate(whole.final_weights):
        np.testing.assert_array_equal(more.final_weights[k], w)
    assert more.test_accuracy == whole.test_accuracy
    assert more.metrics["init_from_state"] == state


def _saved(tmp_path, digits, change):
    """A classifier file whose JSON record ``change`` alters; the path."""
    import json

    cfg, ds = digits
    path = tmp_path / "saved.npz"
    GatedClassifier(cfg.spec, cfg.gate, ds.x_train, seed=2, name="sg").save(path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    change(meta, arrays)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    return path


def _hostile_neuron(meta, arrays):
    meta["declarations"]["parts"]["neuron"] = ["NeuronEquations", {
        "equations": "dv/dt = (__import__('os').system('touch /tmp/owned') - v) / tau_m : volt", "threshold": "v > 1*mV",
        "reset": "v = 0*mV", "parameters": {"tau_m": "10 ms"}, "initial": {"v": "0 mV"}}]


LOAD_CASES = {
    "a training checkpoint": (lambda m, a: m.update(kind="training"), "expected kind 'classifier'"),
    "a type outside the whitelist": (lambda m, a: m["declarations"]["parts"].update(neuron=["os.system", {}]),
                                     "part 'neuron' is a 'os.system'; allowed: LIF, NeuronEquations"),
    "an unknown gate": (lambda m, a: m["declarations"].update(gate=["exec", {}]), "gate 'exec'; allowed:"),
    "a field of the wrong unit": (lambda m, a: m["declarations"]["parts"]["neuron"][1].update(tau_m="5 mV"),
                                  "the saved declarations do not rebuild"),
    "code in a neuron's equations": (_hostile_neuron, "the saved declarations do not rebuild"),
    "a text learning scale": (lambda m, a: m.update(learning_scale="1"), "learning_scale = '1': expected a number"),
    "a state array missing": (lambda m, a: a.pop("random.rand_buffer"), "array random.rand_buffer missing"),
    "a weight matrix of another shape": (lambda m, a: a.update({"net.w0.w": np.zeros(3)}),
                                         "state array 'net.w0.w' has shape (3,) of float64, this network (640,)"),
    "a negative clock": (lambda m, a: a.update({"clock.clock": np.array(-5)}),
                         "state array 'clock.clock' = -5: a time step count must be >= 0"),
    "a random position beyond the buffer": (lambda m, a: a.update({"random.rand_index": np.array(10 ** 6)}),
                                            "array random.rand_index: 1000000 outside [0, 19999]"),
}


@pytest.mark.parametrize("case", list(LOAD_CASES))
def test_a_bad_classifier_file_is_one_line(case, digits, tmp_path):
    import os

    change, message = LOAD_CASES[case]
    path = _saved(tmp_path, digits, change)
    with pytest.raises(DataError, match=None) as info:
        GatedClassifier.load(path, digits[1].x_train)
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)
    assert not os.path.exists("/tmp/owned")
