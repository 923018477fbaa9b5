"""The whole energy bill: learning beside computing, recomputed by hand from the ledger,
the counts and the catalogue; spike and synaptic-event counts against Brian2's SpikeMonitors;
NeuroBench-style metrics against hand counts."""
import csv
import json

import brian2 as b2
import numpy as np
import pytest

from spikegate import GatedClassifier, Lazy, NetworkSpec, PoissonInput, ThreeFactorRule, train
from spikegate.cli import main
from spikegate.backends import get_backend
from spikegate.energy import (bill, bill_curves, energy_to_target, footprint, operation_counts, run_labels, summary,
                              totals)
from spikegate.ledger import EnergyLedger

from conftest import TINY_MODEL, tiny_dataset
from test_energy import WRITES, make_run

ATP = 1e-19
#: spikes per layer (input, hidden, output) of the three presentations of WRITES
ACTIVITY = [[10, 2, 1], [0, 0, 0], [7, 3, 2]]
SPIKES = 25
EVENTS = (10 * 3 + 2 * 2) + (7 * 3 + 3 * 2)   # presynaptic spikes x fan-out (4-3-2 network)


def rows_of(records):
    return {(r["technology"], r["basis"]): r for r in records}


def test_spiking_bill_by_hand(tmp_path):
    run = make_run(tmp_path / "run", WRITES, activity=ACTIVITY)
    rows = rows_of(bill(run, bits=32, abs_dw_per_write=2.0))
    m0, m1 = 1000, 0.01 * 1000
    hand = {
        ("Loihi", "write"): m0 * 120e-12,
        ("Loihi", "abs_dw"): m1 * 120e-12 / 2,
        ("Loihi", "spike"): SPIKES * 1.7e-12,
        ("Loihi", "synaptic_event"): EVENTS * 23.6e-12,
        ("SRAM-32KB", "write"): m0 * 32 * 2 * 20e-12 / 64,
        ("SRAM-32KB", "synaptic_event"): EVENTS * 0.9e-12,
        ("SRAM-32KB", "memory_access"): EVENTS * 32 * 20e-12 / 64,
        ("TrueNorth", "synaptic_event"): EVENTS * 26e-12,
        ("long-term-memory", "write"): m0 * 10e-3,
        ("long-term-memory", "spike"): SPIKES * 3.84e8 * ATP,
        ("long-term-memory", "synaptic_event"): EVENTS * 1.64e5 * ATP,
        ("DRAM", "memory_access"): EVENTS * 640e-12,
        ("SRAM-32KB", "bit_flip"): 3 * m0 * 20e-12 / 64,        # the per-bit write figure
        ("long-term-memory", "bit_flip"): 3 * m0 * 10e-3,       # the seed paper's figure is per bit
    }
    for key, joules in hand.items():
        assert rows[key]["joules"] == pytest.approx(joules, rel=1e-12), key
    assert rows[("Loihi", "spike")]["count"] == SPIKES and rows[("Loihi", "synaptic_event")]["count"] == EVENTS
    assert ("Loihi", "memory_access") not in rows and ("SRAM-32KB", "mac") not in rows   # no MACs in a spiking run
    assert ("STT-MRAM", "spike") not in rows and ("STT-MRAM", "write") in rows
    assert ("Loihi", "bit_flip") not in rows              # a per-update figure: priced per write only
    assert not rows[("SRAM-32KB", "bit_flip")]["in_total"] and rows[("SRAM-32KB", "bit_flip")]["count"] == 3 * m0
    assert not rows[("Loihi", "abs_dw")]["in_total"] and "|dw| = 2 costs one write" in rows[("Loihi", "abs_dw")]["assumption"]
    t = {x["technology"]: x for x in totals(list(rows.values()))}
    assert t["Loihi"]["learning_j"] == pytest.approx(m0 * 120e-12)
    assert t["Loihi"]["computing_j"] == pytest.approx(SPIKES * 1.7e-12 + EVENTS * 23.6e-12)
    assert t["Loihi"]["learning_over_computing"] == pytest.approx(m0 * 120e-12 / (SPIKES * 1.7e-12 + EVENTS * 23.6e-12))
    assert t["STT-MRAM"]["computing_j"] is None and t["STT-MRAM"]["learning_over_computing"] is None


def test_rate_bill_counts_macs_not_spikes(tmp_path):
    run = make_run(tmp_path / "rate", WRITES, activity=[[4, 3, 2], [2, 3, 2], [0, 3, 2]], backend="rate")
    rows = rows_of(bill(run, bits=8))
    dense = 3 * (4 * 3 + 3 * 2)                  # three presentations x every weight
    assert rows[("SRAM-32KB", "mac")]["count"] == dense
    assert rows[("SRAM-32KB", "mac")]["joules"] == pytest.approx(dense * 4.6e-12)
    assert rows[("SRAM-32KB", "memory_access")]["joules"] == pytest.approx(dense * 8 * 20e-12 / 64)
    assert not any(b in ("spike", "synaptic_event") for _, b in rows)
    ops = operation_counts("rate", EnergyLedger.load(run / "ledger.npz"))
    # rate weights are stored (n_post, n_pre): the fake (4, 3) and (3, 2) arrays are 3->4 and 2->3
    assert ops["effective_macs"] == (4 + 2 + 0) * 4 + (3 + 3 + 3) * 3


def test_energy_csv_rows_per_technology_and_basis(tmp_path, capsys):
    run = make_run(tmp_path / "run", WRITES, activity=ACTIVITY)
    assert main(["energy", str(run), "--technology", "Loihi", "SRAM-32KB", "--abs-dw-per-write", "0.5", "--full"]) == 0
    out = capsys.readouterr().out
    assert "the whole bill: learning beside computing" in out and "learning/computing" in out
    with open(run / "energy.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["technology"], r["basis"]) for r in rows] == [
        ("Loihi", "write"), ("Loihi", "abs_dw"), ("Loihi", "synaptic_event"), ("Loihi", "spike"),
        ("SRAM-32KB", "write"), ("SRAM-32KB", "bit_flip"), ("SRAM-32KB", "abs_dw"), ("SRAM-32KB", "synaptic_event"),
        ("SRAM-32KB", "memory_access")]
    for r in rows:
        assert float(r["joules"]) == pytest.approx(float(r["count"]) * float(r["j_per_unit"]))
        assert r["boundary"] and r["source"]
    assert float(rows[1]["j_per_unit"]) == pytest.approx(120e-12 / 0.5)
    assert (run / "energy.png").read_bytes()[:4] == b"\x89PNG" and (run / "energy_writes.csv").exists()
    assert main(["energy", str(run), "--basis", "write", "spike", "--force"]) == 0
    with open(run / "energy.csv") as f:
        assert {r["basis"] for r in csv.DictReader(f)} == {"write", "spike"}


@pytest.mark.parametrize("args, message", [
    (["--abs-dw-per-write", "-1"], "--abs-dw-per-write = '-1': must be a finite number > 0"),
    (["--abs-dw-per-write", "nan"], "--abs-dw-per-write = 'nan': must be a finite number > 0"),
    (["--abs-dw-per-write", "inf"], "--abs-dw-per-write = 'inf': must be a finite number > 0"),
    (["--abs-dw-per-write", "x"], "--abs-dw-per-write = 'x': expected a number > 0"),
    (["--basis", "heat"], "unknown basis 'heat'; allowed: write, bit_flip, abs_dw"),
    (["--target-accuracy", "2"], "--target-accuracy = 2.0: must be >= 0 and <= 1"),
])
def test_bad_bill_options_one_line_exit_2(tmp_path, capsys, args, message):
    run = make_run(tmp_path / "run", WRITES, activity=ACTIVITY)
    assert main(["energy", str(run), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("spikegate: error: ") and message in err and "\n" not in err, err
    assert not (run / "energy.csv").exists()


def test_bad_event_entry_one_line(tmp_path, capsys):
    run = make_run(tmp_path / "run", WRITES, activity=ACTIVITY)
    cat = tmp_path / "cat.toml"
    cat.write_text('[event.x]\nfigure = "1 pJ"\nbasis = "spike"\ntechnologies = ["Flux"]\nvalue = 1\nunit = "pJ"\n'
                   'boundary = "chip"\nsource = "me"\n')
    assert main(["energy", str(run), "--catalogue", str(cat)]) == 2
    assert "event 'x' names technology 'Flux', which is not in the catalogue" in capsys.readouterr().err
    cat.write_text('[event.x]\nfigure = "1 pJ"\nbasis = "heat"\ntechnologies = ["Loihi"]\nvalue = 1\nunit = "pJ"\n'
                   'boundary = "chip"\nsource = "me"\n')
    assert main(["energy", str(run), "--catalogue", str(cat)]) == 2
    assert "EventCost.basis = 'heat': unknown; allowed: spike, synaptic_event, mac" in capsys.readouterr().err


def probe():
    """A 8-5-3 network whose three layers all spike, with independent SpikeMonitors."""
    spec = NetworkSpec(layers=(8, 5, 3), dt=0.5 * b2.ms, t_stim=20 * b2.ms, w_scale=15 * b2.mV,
                       input=PoissonInput(nu_max=400 * b2.Hz), init_gain=(4.0, 8.0),
                       rule=ThreeFactorRule(eta=0.5 / b2.second, nu_target=200 * b2.Hz))
    images = np.random.default_rng(0).uniform(0, 1, (6, 8))
    clf = GatedClassifier(spec, Lazy(), images, seed=2, chunk=6, name="probe")
    mons = [b2.SpikeMonitor(clf.input, variables="k", name="probe_in"), b2.SpikeMonitor(clf.layers[0], name="probe_hid"),
            b2.SpikeMonitor(clf.output, name="probe_out")]
    net = b2.Network(clf.objects, *mons)
    net.run(2 * spec.t_stim, namespace={})
    t0 = float(net.t / b2.second)
    log = clf.run(net, np.arange(6), np.array([0, 1, 2, 0, 1, 2]))
    T = float(spec.t_stim / b2.second)
    counts = np.zeros((6, 3), dtype=int)
    for layer, m in enumerate(mons):
        t = np.asarray(m.t / b2.second)
        weight = np.asarray(m.k) if layer == 0 else np.ones(len(t))    # a Poisson input may fire k > 1 per step
        for p in range(6):
            counts[p, layer] = int(weight[(t >= t0 + p * T - 1e-9) & (t < t0 + (p + 1) * T - 1e-9)].sum())
    return spec, clf, log, counts


def test_spike_and_synaptic_event_counts_equal_spike_monitors():
    spec, clf, log, counts = probe()
    assert (counts > 0).all(axis=0).any() and counts[:, 1:].sum() > 0 and counts[:, 2].sum() > 0
    np.testing.assert_array_equal(log.activity, counts)
    ledger = EnergyLedger(["in->hid", "hid->out"], 0.5, [clf.weights(0), clf.weights(1)])
    ledger.record(log)
    ops = operation_counts("spiking", ledger)
    assert ops["spikes"] == counts.sum()
    assert ops["synaptic_events"] == counts[:, 0].sum() * 5 + counts[:, 1].sum() * 3
    nb = get_backend("spiking").neurobench(spec, ledger, [clf.weights(0), clf.weights(1)])   # 40 steps of LIF
    assert nb["synaptic_operations"]["Effective_ACs"] == pytest.approx(ops["synaptic_events"] / 6)
    assert nb["synaptic_operations"]["Dense"] == (8 * 5 + 5 * 3) * 40
    assert nb["synaptic_operations"]["Effective_MACs"] == 0
    assert nb["activation_sparsity"] == pytest.approx(1 - counts[:, 1:].sum() / (6 * 8 * 40))
    assert nb["footprint"] == (8 * 5 + 5 * 3) * 8 + (8 * 3 + 8 * 1) * 8
    w = [clf.weights(0), clf.weights(1)]
    w[0][:2] = 0.0
    assert get_backend("spiking").neurobench(spec, ledger, w)["connection_sparsity"] == pytest.approx(10 / 55)


def test_metrics_json_holds_neurobench_metrics_of_the_ledger(tmp_path):
    res = train(TINY_MODEL, dataset=tiny_dataset(), out=tmp_path / "run", progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    ledger = EnergyLedger.load(tmp_path / "run" / "ledger.npz")
    assert metrics["operations"] == json.loads(json.dumps(operation_counts("spiking", ledger)))
    nb = metrics["neurobench"]
    assert nb["synaptic_operations"]["Effective_ACs"] == pytest.approx(
        ledger.trace_updates.sum() / ledger.n_presentations)   # a synaptic event updates one trace
    assert nb["synaptic_operations"]["Dense"] == 16 * 3 * 60      # 30 ms / 0.5 ms steps
    assert nb["footprint"] == 16 * 3 * 8 + (3 * 3 + 16) * 8
    assert 0 < nb["activation_sparsity"] < 1 and nb["connection_sparsity"] == 0.0
    assert res.metrics["neurobench"]["footprint"] == nb["footprint"]
    assert (nb["weights"], nb["state_values"]) == (16 * 3, 3 * 3 + 16)    # the counts behind the bytes
    text = summary(tmp_path / "run", bill(tmp_path / "run"))               # float synapses: priced as float32
    assert text.startswith("tiny | gate lazy | seed 3 | spiking | test accuracy ")
    assert f"footprint {(48 + 25) * 32 // 8:,} bytes = (48 weights + 25 state values) x 32 bits / 8" in text


def test_energy_to_target_along_the_learning_curves(tmp_path):
    a = make_run(tmp_path / "a", [[800, 200], [600, 400]], gate="always", test_accuracy=0.8, activity=[[5, 1, 1]] * 2)
    b = make_run(tmp_path / "b", WRITES, gate="lazy", test_accuracy=0.85, activity=ACTIVITY)
    curves = bill_curves([a, b], technology="Loihi")
    assert [(c["gate"], c["presentations"]) for c in curves] == [("always", 1), ("always", 2), ("lazy", 1),
                                                                ("lazy", 3)]
    assert curves[0]["learning_j"] == pytest.approx(1000 * 120e-12)
    assert curves[0]["computing_j"] == pytest.approx(7 * 1.7e-12 + (5 * 3 + 1 * 2) * 23.6e-12)
    target, hits = energy_to_target(curves, 0.78)
    assert target == 0.78 and [h["presentations"] for h in hits] == [2, 3]
    assert hits[0]["total_j"] == pytest.approx(curves[1]["total_j"])
    assert energy_to_target(curves, 0.9)[1][0]["reached"] is False


# ------------------------------------------------------------------ the short summary, one width, labels
#: a NeuroBench record of the 4-3-2 network of make_run: 18 weights, 5 state values, stored as float64
NEUROBENCH = {"synaptic_operations": {"Effective_ACs": 20.3, "Effective_MACs": 0.0, "Dense": 1080.0},
              "activation_sparsity": 0.9, "connection_sparsity": 0.0, "footprint": (18 + 5) * 8,
              "weights": 18, "state_values": 5,
              "definitions": {"footprint": "weights (8 bytes each) + state variables (5 values)"}}


def summary_run(path, seed=4, synapse_bits=None, neurobench=NEUROBENCH, **kw):
    """make_run with a config.toml (its seed), a NeuroBench record and, optionally, synapse codes."""
    run = make_run(path, WRITES, activity=ACTIVITY, **kw)
    m = json.loads((run / "metrics.json").read_text())
    m["neurobench"] = neurobench
    if synapse_bits is not None:
        m["synapse_bits"] = synapse_bits
    (run / "metrics.json").write_text(json.dumps(m))
    if seed is not None:
        (run / "config.toml").write_text(f'name = "fake"\nseed = {seed}\n')
    return run


def test_default_output_is_a_short_summary_and_full_prints_the_tables(tmp_path, capsys):
    run = summary_run(tmp_path / "run")
    assert main(["energy", str(run)]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert len(lines) <= 20, out
    assert lines[0] == "fake | gate lazy | seed 4 | spiking | test accuracy 0.9000 | 3 training presentations"
    assert "learning: 1,000 synaptic writes (M0), bits flipped not measured (float synapses)" in out
    assert "computing (forward pass): 25 spikes, 61 synaptic events, 61 weight reads" in out
    assert "bits per weight: 32 (float32 for the run's float synapses, synapse.bits = 0)" in out
    table = {ln.split()[0]: ln.split()[1:] for ln in lines if ln.split() and ln.split()[0] in
             ("SRAM-32KB", "DRAM", "Loihi", "long-term-memory", "NAND-SLC", "Landauer")}
    assert list(table) == ["SRAM-32KB", "DRAM", "Loihi", "long-term-memory"]      # a few, in this order
    brain_computing = SPIKES * 3.84e8 * ATP + EVENTS * 1.64e5 * ATP
    assert table["long-term-memory"][1:4] == [f"{10.0:.3g}", f"{brain_computing:.3g}", f"{10 / brain_computing:.3g}"]
    assert table["Loihi"][0:2] == [f"{1000 * 120e-12:.3g}", f"{SPIKES * 1.7e-12 + EVENTS * 23.6e-12:.3g}"]
    # what the brain row sets side by side, at the command line
    assert (f"brain row (long-term-memory): learning is organism-level, computing cell-level, so learning/computing "
            f"{10 / brain_computing:.3g} is not like for like:") in out
    assert "  learning  = 1,000 writes x 0.01 J (~10 mJ per bit, whole animal" in out
    assert "1 synapse changed per stored bit)" in out
    assert f"  computing = {SPIKES} spikes x 3.84e-11 J + {EVENTS} synaptic events x 1.64e-14 J (cell-level" in out
    assert "footprint 92 bytes = (18 weights + 5 state values) x 32 bits / 8" in out     # 23 x 32 / 8
    assert f"wrote energy.csv, energy.png, energy.svg, energy_writes.csv in {run}; --full prints" in out
    assert "per basis:" not in out and "the whole bill" not in out and "x Landauer" not in out
    written = {n: (run / n).read_text() for n in ("energy.csv", "energy_writes.csv")}

    assert main(["energy", str(run), "--full", "--force"]) == 0
    full = capsys.readouterr().out
    assert len(full.splitlines()) > 100
    assert "the whole bill: learning beside computing" in full and "per basis:" in full and "x Landauer" in full
    assert full.index("per basis:") < full.index("brain row (long-term-memory)")      # the summary comes last
    assert "NAND-SLC" in full and "footprint 92 bytes" in full and "--full prints" not in full
    assert {n: (run / n).read_text() for n in written} == written                    # the same files either way


def test_a_selection_and_a_run_without_brain_row_or_config(tmp_path, capsys):
    run = summary_run(tmp_path / "run", seed=None, neurobench=None)
    assert main(["energy", str(run), "--technology", "PCM", "TrueNorth"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fake | gate lazy | spiking |")                             # no config.toml: no seed
    assert "brain row" not in out and "NeuroBench" not in out
    assert [ln.split()[0] for ln in out.splitlines() if ln.split() and ln.split()[0] in ("PCM", "TrueNorth",
                                                                                       "SRAM-32KB")] == ["PCM", "TrueNorth"]


@pytest.mark.parametrize("synapse_bits, args, bits, source", [
    (None, [], 32, "float32 for the run's float synapses, synapse.bits = 0"),
    (8, [], 8, "the run's synapse format, synapse.bits = 8"),
    (8, ["--bits", "16"], 16, "from --bits"),
    (None, ["--bits", "4.7"], 4.7, "from --bits"),
])
def test_one_bits_per_weight_for_the_bill_and_the_footprint(tmp_path, capsys, synapse_bits, args, bits, source):
    run = summary_run(tmp_path / "run", synapse_bits=synapse_bits)
    assert main(["energy", str(run), *args]) == 0
    out = capsys.readouterr().out
    assert f"bits per weight: {bits:g} ({source}) in every write, weight read and the footprint below" in out
    size = (18 + 5) * bits / 8
    shown = f"{int(size):,}" if size == int(size) else f"{size:,.1f}"
    assert f"footprint {shown} bytes = (18 weights + 5 state values) x {bits:g} bits / 8" in out
    with open(run / "energy.csv") as f:
        rows = rows_of(csv.DictReader(f))
    assert {float(r["bits"]) for r in rows.values()} == {bits}
    assert float(rows[("SRAM-32KB", "write")]["j_per_unit"]) == pytest.approx(bits * 2 * 20e-12 / 64)
    assert float(rows[("SRAM-32KB", "memory_access")]["j_per_unit"]) == pytest.approx(bits * 20e-12 / 64)
    with open(run / "energy_writes.csv") as f:
        assert {float(r["bits"]) for r in csv.DictReader(f)} == {bits}
    ledger = EnergyLedger.load(run / "ledger.npz")
    assert footprint(NEUROBENCH, ledger, bits)["bytes"] == pytest.approx(size)


def test_footprint_of_records_written_before_the_counts():
    """Runs recorded before ``weights`` and ``state_values``: the state from the definition, else the bytes."""
    ledger = EnergyLedger(["a", "b"], 1.0, [np.zeros((4, 3)), np.zeros((3, 2))])
    old = {k: v for k, v in NEUROBENCH.items() if k not in ("weights", "state_values")}
    assert footprint(old, ledger, 8) == {"bytes": 23, "weights": 18, "state_values": 5, "bits": 8.0}
    bare = {k: v for k, v in old.items() if k != "definitions"}
    assert footprint(bare, ledger, 12)["bytes"] == (18 + 5) * 12 / 8 == 34.5
    float32 = dict(bare, footprint=(18 + 7) * 4, definitions={"footprint": "weights (4 bytes each)"})
    assert footprint(float32, ledger, 2)["state_values"] == 7


def test_compare_labels_runs_by_gate_and_seed(tmp_path, capsys):
    store = tmp_path / "store" / "points"
    a = summary_run(store / "0a1b2c3d4e5f6a7b", seed=1, gate="always", test_accuracy=0.8, synapse_bits=8)
    b = summary_run(store / "1b2c3d4e5f6a7b8c", seed=1, gate="lazy", test_accuracy=0.85)
    c = summary_run(store / "2c3d4e5f6a7b8c9d", seed=2, gate="lazy", test_accuracy=0.85)
    assert main(["energy", "--compare", str(a), str(b), str(c), "--technology", "DRAM", "--out",
                 str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "0a1b2c3d" not in out and "1b2c3d4e" not in out                       # no point hashes
    runs, to_target = out.split("energy to reach")
    lines = {ln.split("  ")[0]: ln.split() for ln in runs.splitlines() if ln.startswith(("always", "lazy"))}
    assert [ln.split("  ")[0] for ln in to_target.splitlines() if ln.startswith(("always", "lazy"))] == list(lines)
    assert list(lines)[:3] == ["always seed 1", "lazy seed 1", "lazy seed 2"]
    # each run priced at its own width: 'always' stores 8-bit codes, 'lazy' float (32 bits)
    assert lines["always seed 1"][3:7] == ["0.8000", "1,000", "8", f"{1000 * 8 * 2 * 640e-12 / 32:.3g}"]
    assert lines["lazy seed 1"][3:7] == ["0.8500", "1,000", "32", f"{1000 * 32 * 2 * 640e-12 / 32:.3g}"]
    with open(tmp_path / "cmp" / "energy_compare.csv") as f:
        assert [(r["label"], r["bits"]) for r in csv.DictReader(f)] == [("always seed 1", "8.0"),
                                                                       ("lazy seed 1", "32.0"), ("lazy seed 2", "32.0")]
    with open(tmp_path / "cmp" / "energy_to_target.csv") as f:
        assert [r["label"] for r in csv.DictReader(f)] == ["always seed 1", "lazy seed 1", "lazy seed 2"]


def test_runs_sharing_gate_and_seed_get_a_suffix(tmp_path):
    def run(name, seed=1, eta="2 Hz", model="fake", config=True):
        r = make_run(tmp_path / name, WRITES)
        m = json.loads((r / "metrics.json").read_text())
        (r / "metrics.json").write_text(json.dumps(dict(m, model=model)))
        if config:
            (r / "config.toml").write_text(f'name = "{model}"\nseed = {seed}\n\n[rule]\neta = "{eta}"\n')
        return r

    slow, fast = run("p1", eta="1 Hz"), run("p2", eta="4 Hz")
    other = run("p3", model="digits")
    assert list(run_labels([slow, fast, other, slow]).values()) == [
        "lazy seed 1 (fake, rule.eta=1 Hz)", "lazy seed 1 (fake, rule.eta=4 Hz)", "lazy seed 1 (digits)"]
    same = run("q1"), run("q2")
    assert list(run_labels(same).values()) == ["lazy seed 1 (q1)", "lazy seed 1 (q2)"]
    twins = run("x/r", config=False), run("y/r", config=False)
    assert list(run_labels(twins).values()) == ["lazy #1", "lazy #2"]
