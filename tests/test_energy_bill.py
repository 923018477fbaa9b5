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
from spikegate.energy import bill, bill_curves, energy_to_target, operation_counts, totals
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
    assert main(["energy", str(run), "--technology", "Loihi", "SRAM-32KB", "--abs-dw-per-write", "0.5"]) == 0
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
