"""Energy: writes to joules, checked by hand from a hand-made ledger and the catalogue."""

import csv
import json
import math

import numpy as np
import pytest
from brian2 import joule, kelvin

from spikegate.cli import main
from spikegate.energy import (ATPCost, EnergyError, Landauer, LongTermMemory, MetabolicModel, Technology,
                              bits_per_synapse, compare, landauer_energy, load_catalogue,
                              metabolic_cost, report)
from spikegate.errors import ParameterError
from spikegate.ledger import EnergyLedger

KT_LN2_310 = 1.380649e-23 * 310 * math.log(2)  # J, CODATA 2018 Boltzmann constant
B_SYN = math.log2(26)


def make_run(path, writes, gate="lazy", test_accuracy=0.9, curves=None, n_writes=None, activity=None,
             backend="spiking"):
    """A run directory with only what energy reads: metrics.json and ledger.npz (a 4-3-2 network)."""
    path.mkdir(parents=True)
    writes = np.asarray(writes, dtype=np.int64)
    ledger = EnergyLedger(["input->hidden0", "hidden0->output"], 1.0, [np.zeros((4, 3)), np.zeros((3, 2))])
    n = len(writes)
    ledger.writes = writes
    ledger.gate_open = writes.sum(axis=1) > 0
    ledger.mistake = ledger.gate_open.copy()
    ledger.samples = np.arange(n)
    ledger.sum_abs_dw = 0.01 * writes
    ledger.sum_abs_dw_alpha = 0.1 * writes
    ledger.trace_updates = 5 * writes
    ledger.transient_writes = np.zeros_like(writes)
    ledger.maintenance = np.zeros(writes.shape)
    ledger.drive = ledger.gate_open.astype(float)
    ledger.bits_flipped = 3 * writes
    if activity is not None:
        ledger.activity = np.asarray(activity, dtype=np.int64)
    else:
        ledger.activity = np.zeros((n, 3), dtype=np.int64)
    ledger.save(path / "ledger.npz")
    m0 = int(writes.sum())
    if curves is None:
        curves = [{"epoch": 1, "cumulative_n_writes": m0 // 2, "test_accuracy": test_accuracy - 0.1,
                   "samples_seen": max(1, n // 2)},
                  {"epoch": 2, "cumulative_n_writes": m0, "test_accuracy": test_accuracy, "samples_seen": n}]
    metrics = {"model": "fake", "backend": backend, "gate": gate, "test_accuracy": test_accuracy, "epochs": len(curves),
               "n_writes": m0 if n_writes is None else n_writes, "curves": curves}
    (path / "metrics.json").write_text(json.dumps(metrics))
    return path


#: 300 + 100 + 450 + 150 = 1000 writes
WRITES = [[300, 100], [0, 0], [450, 150]]


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path / "run", WRITES)


def by_name(records):
    return {r["technology"]: r for r in records}


# ------------------------------------------------------------------ numbers by hand
@pytest.mark.parametrize("bits", [8, 32])
def test_report_numbers_by_hand(run, bits):
    recs = by_name(report(run, bits=bits))
    m0 = 1000
    assert all(r["n_writes"] == m0 for r in recs.values())
    landauer = bits * KT_LN2_310
    bio = 10e-3  # 10 mJ per bit / 1 synapse per bit
    hand = {
        "SRAM-8KB": bits * 2 * 10e-12 / 64,      # b x (read + write), read = write = 10 pJ / 64 bit
        "SRAM-32KB": bits * 2 * 20e-12 / 64,
        "SRAM-1MB": bits * 2 * 100e-12 / 64,
        "DRAM": bits * 2 * 640e-12 / 32,
        "HBM2": bits * 2 * 3.97e-12,
        "PCM": bits * 2 * 18e-12,
        "Loihi": 120e-12,                        # per update, whatever the width
        "TrueNorth": 26e-12,
        "synaptic-transmission": B_SYN * 1e4 * 1e-19,
        "ATP-hydrolysis": 1e-19,
        "long-term-memory": bio,
        "Landauer": bits * 2.9667e-21,
    }
    for name, per_write in hand.items():
        r = recs[name]
        assert r["j_per_write"] == pytest.approx(per_write, rel=1e-12), name
        assert r["total_j"] == pytest.approx(m0 * per_write, rel=1e-12), name
        assert r["ratio_to_biology"] == pytest.approx(per_write / bio, rel=1e-12), name
        assert r["ratio_to_landauer"] == pytest.approx(per_write / landauer, rel=1e-5), name
    assert recs["Landauer"]["ratio_to_landauer"] == pytest.approx(1, rel=1e-4)
    assert recs["long-term-memory"]["ratio_to_biology"] == 1
    # concrete totals, so a wrong formula cannot hide behind the same wrong formula above
    if bits == 32:
        assert recs["SRAM-8KB"]["total_j"] == pytest.approx(1e-8)
        assert recs["DRAM"]["total_j"] == pytest.approx(1.28e-6)
    else:
        assert recs["SRAM-8KB"]["total_j"] == pytest.approx(2.5e-9)
        assert recs["DRAM"]["total_j"] == pytest.approx(3.2e-7)
    assert recs["Loihi"]["total_j"] == pytest.approx(1.2e-7)
    assert recs["long-term-memory"]["total_j"] == pytest.approx(10.0)


def test_biological_assumptions_change_the_reference(run):
    recs = by_name(report(run, bits=32, technologies=["DRAM", "long-term-memory", "synaptic-transmission"],
                          synapses_per_bit=100, bits_per_synapse=3.0))
    assert recs["long-term-memory"]["j_per_write"] == pytest.approx(1e-4)
    assert recs["DRAM"]["ratio_to_biology"] == pytest.approx(1.28e-9 / 1e-4)
    assert recs["synaptic-transmission"]["j_per_write"] == pytest.approx(3.0 * 1e-15)
    assert list(recs) == ["DRAM", "long-term-memory", "synaptic-transmission"]
    with pytest.raises(ParameterError, match=r"synapses_per_bit = 0.1: must be >= 1/bits_per_synapse"):
        report(run, synapses_per_bit=0.1)


def test_catalogue_holds_the_published_figures():
    cat = load_catalogue()
    j = {name: float(t.joule_per_bit / joule) for name, t in cat.items()}
    assert j["SRAM-8KB"] == pytest.approx(1.5625e-13) and j["SRAM-1MB"] == pytest.approx(1.5625e-12)
    assert j["DRAM"] == pytest.approx(2.0e-11)
    assert j["HBM2"] == pytest.approx(3.97e-12)
    assert 4e-10 <= j["NAND-SLC"] <= 9e-10
    assert j["STT-MRAM"] == pytest.approx(1e-13) and j["FeRAM"] == pytest.approx(3e-14)
    assert j["PCM"] == pytest.approx(1.8e-11) and j["ReRAM"] == pytest.approx(1e-12)
    assert 1e-15 <= j["FeFET"] <= 1e-14
    assert j["Loihi"] == pytest.approx(120e-12 / 9) and j["TrueNorth"] == pytest.approx(2.6e-11)
    assert j["synaptic-transmission"] == pytest.approx(1e-15)
    assert j["long-term-memory"] == pytest.approx(1e-2) and j["ATP-hydrolysis"] == pytest.approx(1e-19)
    assert j["Landauer"] == pytest.approx(KT_LN2_310, rel=1e-4)
    assert float(landauer_energy() / joule) == pytest.approx(KT_LN2_310, rel=1e-6)
    boundaries = {t.boundary for t in cat.values()}
    assert boundaries == {"cell", "chip", "system", "organism", "physics"}
    assert all(t.source.strip() and t.figure.strip() for t in cat.values())


# ------------------------------------------------------------------ declarations
def test_declarations_are_validated_and_hashable():
    t = Technology(name="X", figure="1 pJ per bit", value=1, unit="pJ/bit", boundary="cell", source="me")
    assert t == Technology(name="X", figure="1 pJ per bit", value=1.0, unit="pJ/bit", boundary="cell", source="me")
    assert len({t, t.replace(value=1.0), t.replace(value=2.0)}) == 2
    assert float(t.joule_per_write(8) / joule) == pytest.approx(16e-12)
    assert float(t.replace(value=2).joule_per_write(8) / joule) == pytest.approx(32e-12)  # derived, not stale
    asym = t.replace(read_j_per_bit=0.5e-12, write_j_per_bit="3 pJ")
    assert float(asym.joule_per_write(4) / joule) == pytest.approx(4 * 3.5e-12)
    with pytest.raises(ParameterError, match=r"^Technology.value = -2: must be > 0$"):
        t.replace(value=-2)
    with pytest.raises(ParameterError, match=r"^Technology.unit = 'pW': unknown unit; allowed units: J, mJ"):
        t.replace(unit="pW")
    with pytest.raises(ParameterError, match=r"^Technology.boundary = 'galaxy': unknown; allowed: cell, chip"):
        t.replace(boundary="galaxy")
    with pytest.raises(ParameterError, match=r"^Technology.source = '  ': must not be empty$"):
        t.replace(source="  ")
    with pytest.raises(ParameterError, match=r"^bits = 0: must be >= 0.001 and <= 1024$"):
        t.joule_per_write(0)

    ltm = LongTermMemory(synapses_per_bit=1000)
    assert float(ltm.joule_per_write / joule) == pytest.approx(1e-5)
    assert LongTermMemory().bits_per_synapse == pytest.approx(4.7004397) == bits_per_synapse(26)
    assert hash(ltm) == hash(LongTermMemory(synapses_per_bit=1000.0))
    with pytest.raises(ParameterError, match=r"LongTermMemory.synapses_per_bit = 0.2: must be >= "
                                             r"1/bits_per_synapse = 0.2127"):
        LongTermMemory(synapses_per_bit=0.2)
    assert float(LongTermMemory(synapses_per_bit=1 / B_SYN).joule_per_write / joule) == pytest.approx(B_SYN * 1e-2)

    assert float(ATPCost(atp_per_write=5e4).joule_per_write / joule) == pytest.approx(5e-15)
    with pytest.raises(ParameterError, match=r"ATPCost.atp_per_write = 0: must be > 0"):
        ATPCost(atp_per_write=0)

    assert float(Landauer(300 * kelvin).joule_per_write(8) / joule) == pytest.approx(
        8 * 1.380649e-23 * 300 * math.log(2), rel=1e-6)
    with pytest.raises(ParameterError, match=r"Landauer.temperature .*: must be > 0"):
        Landauer(-1 * kelvin)


def test_metabolic_model_from_ledger_and_weights(run):
    ledger = EnergyLedger.load(run / "ledger.npz")
    assert MetabolicModel(0).of(ledger) == 1000
    assert MetabolicModel(1).of(ledger) == pytest.approx(10.0)
    with pytest.raises(ParameterError, match=r"MetabolicModel.alpha = 0.5: this ledger holds M_alpha only"):
        MetabolicModel(0.5).of(ledger)
    dw = np.array([0.0, -0.5, 0.25, 0.0])
    assert metabolic_cost(dw, 0) == 2 and MetabolicModel(2)(dw) == pytest.approx(0.3125)
    with pytest.raises(ParameterError, match=r"MetabolicModel.alpha = -1: must be >= 0"):
        MetabolicModel(-1)


# ------------------------------------------------------------------ files and catalogue override
def test_cli_writes_table_csv_and_figures(run, capsys):
    assert main(["energy", str(run), "--bits", "8", "--technology", "sram-8kb", "DRAM", "--technology",
                 "Loihi", "Landauer", "--full"]) == 0
    out = capsys.readouterr().out
    assert "M0 = 1,000 synaptic writes | 8-bit weights" in out
    assert "x biology = J per write / long-term-memory per write (0.01 J" in out
    writes_table = out.split("the whole bill")[0]
    lines = {ln.split()[0]: ln.split() for ln in writes_table.splitlines() if ln.split()}
    assert lines["DRAM"][1:4] == ["system", "3.2e-10", "3.2e-07"]
    assert lines["SRAM-8KB"][1:4] == ["chip", "2.5e-12", "2.5e-09"]
    assert lines["Loihi"][1:4] == ["chip", "1.2e-10", "1.2e-07"]
    with open(run / "energy_writes.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["technology"] for r in rows] == ["SRAM-8KB", "DRAM", "Loihi", "Landauer"]
    dram = rows[1]
    assert float(dram["total_j"]) == pytest.approx(3.2e-7) and int(dram["n_writes"]) == 1000
    assert float(dram["ratio_to_biology"]) == pytest.approx(3.2e-8)
    assert float(dram["ratio_to_landauer"]) == pytest.approx(3.2e-10 / (8 * KT_LN2_310), rel=1e-5)
    assert dram["boundary"] == "system" and dram["cost"] == "rmw" and "Han" in dram["source"]
    assert (run / "energy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (run / "energy.svg").read_text()
    assert not list(run.glob(".energy*"))  # no temporary files left behind


def test_catalogue_override_by_name(run, tmp_path, capsys):
    mine = tmp_path / "mine.toml"
    mine.write_text("""
[technology.dram]   # replaces DRAM (names compare without case)
figure = "100 pJ per 32-bit access, my board"
value = 100
unit = "pJ"
bits = 32
boundary = "system"
source = "own measurement, 2025"

[technology.MyMem]
figure = "2 fJ/bit"
value = 2
unit = "fJ/bit"
boundary = "cell"
source = "a datasheet"
cost = "rmw"
""")
    cat = load_catalogue(mine)
    assert "DRAM" not in cat and list(cat).index("dram") == list(load_catalogue()).index("DRAM")
    recs = by_name(report(run, bits=32, catalogue=mine))
    assert recs["dram"]["j_per_write"] == pytest.approx(32 * 2 * 100e-12 / 32)
    assert recs["MyMem"]["total_j"] == pytest.approx(1000 * 32 * 2 * 2e-15)
    assert recs["SRAM-8KB"]["j_per_write"] == pytest.approx(1e-11)  # the rest is unchanged
    assert main(["energy", str(run), "--catalogue", str(mine), "--technology", "MyMem", "DRAM",
                 "--out", str(tmp_path / "o"), "--full"]) == 0
    out = capsys.readouterr().out
    rows = {ln.split()[0]: ln.split()[1:4] for ln in out.split("the whole bill")[0].splitlines() if ln.split()}
    assert rows["dram"] == ["system", "2e-10", "2e-07"] and rows["MyMem"] == ["cell", "1.28e-13", "1.28e-10"]
    assert (tmp_path / "o" / "energy.csv").exists() and (tmp_path / "o" / "energy.svg").exists()


def test_compare_runs_side_by_side(tmp_path, capsys):
    a = make_run(tmp_path / "always", [[800, 200], [600, 400]], gate="always", test_accuracy=0.8)
    b = make_run(tmp_path / "lazy", WRITES, gate="lazy", test_accuracy=0.85)
    recs = compare([a, b], bits=32, technologies=["DRAM", "Loihi"])
    tot = {(r["gate"], r["technology"]): r["total_j"] for r in recs}
    assert tot[("always", "DRAM")] == pytest.approx(2000 * 1.28e-9)
    assert tot[("lazy", "Loihi")] == pytest.approx(1000 * 120e-12)
    out_dir = tmp_path / "cmp"
    assert main(["energy", "--compare", str(a), str(b), "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "J long-term-memory" in out and "2,000" in out and "0.8500" in out
    assert "energy to reach test accuracy 0.8000 on SRAM-32KB" in out
    with open(out_dir / "energy_compare.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and {r["gate"] for r in rows} == {"always", "lazy"}
    with open(out_dir / "energy_to_target.csv") as f:
        targets = list(csv.DictReader(f))
    # 'always' reaches 0.80 at its second epoch (all 2 presentations), 'lazy' at its first (0.75 < 0.80: no,
    # its curve is 0.75 then 0.85): the second point, all 3 presentations
    assert [(t["gate"], t["reached"], t["presentations"]) for t in targets] == [("always", "True", "2"),
                                                                             ("lazy", "True", "3")]
    assert (out_dir / "energy_compare.png").stat().st_size > 1000
    assert (out_dir / "energy_compare.svg").exists()


# ------------------------------------------------------------------ errors: one line, exit 2
GOOD_ENTRY = {"figure": '"1 pJ per bit"', "value": "1", "unit": '"pJ/bit"', "boundary": '"cell"',
              "source": '"a paper"'}


def entry(**changes):
    fields = {**GOOD_ENTRY, **changes}
    return "[technology.Bad]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items() if v is not None)


@pytest.mark.parametrize("text, message", [
    (entry(source=None), "entry 'Bad': missing field 'source' (required: figure, value, unit, boundary, source"),
    (entry(source='""'), "entry 'Bad': Technology.source = '': must not be empty"),
    (entry(unit='"pW"'), "entry 'Bad': Technology.unit = 'pW': unknown unit; allowed units: J, mJ"),
    (entry(value="0"), "entry 'Bad': Technology.value = 0: must be > 0"),
    (entry(value="-3.5"), "entry 'Bad': Technology.value = -3.5: must be > 0"),
    (entry(boundary='"planet"'), "entry 'Bad': Technology.boundary = 'planet': unknown; allowed: cell, chip"),
    (entry(colour='"red"'), "entry 'Bad': unknown field 'colour'; allowed: figure, value"),
    ("[technology.Bad\nvalue = 1", "invalid TOML"),
])
def test_bad_catalogue_one_line_exit_2(run, tmp_path, capsys, text, message):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    assert main(["energy", str(run), "--catalogue", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"spikegate: error: catalogue {bad}") and message in err, err
    assert "\n" not in err and "Traceback" not in err
    assert not (run / "energy.csv").exists()
    with pytest.raises(EnergyError, match="entry 'Bad'|invalid TOML"):
        load_catalogue(bad)


@pytest.mark.parametrize("args, message", [
    (["--bits", "0"], "--bits = 0.0: must be >= 0.001 and <= 1024"),
    (["--bits", "-3"], "--bits = -3.0: must be >= 0.001 and <= 1024"),
    (["--bits", "many"], "--bits = 'many': expected '<number> <unit>'"),
    (["--technology", "DRAM", "Flux"], "unknown technology 'Flux'; known: SRAM-8KB, SRAM-32KB"),
    (["--synapses-per-bit", "0.1"], "--synapses-per-bit = 0.1: must be >= 1/bits_per_synapse"),
    (["--catalogue", "/nonexistent/cat.toml"], "catalogue /nonexistent/cat.toml: cannot read"),
])
def test_bad_options_one_line_exit_2(run, capsys, args, message):
    assert main(["energy", str(run)] + args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("spikegate: error: ") and message in err and "\n" not in err, err
    assert not (run / "energy.csv").exists()


@pytest.mark.parametrize("remove, message", [
    ("ledger.npz", "missing ledger.npz; energy needs the run's metrics.json and ledger.npz"),
    ("metrics.json", "missing metrics.json; energy needs"),
])
def test_run_dir_without_ledger_one_line_exit_2(run, capsys, remove, message):
    (run / remove).unlink()
    assert main(["energy", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err
    assert main(["energy", "--compare", str(run)]) == 2
    assert message in capsys.readouterr().err


def test_inconsistent_or_corrupt_run_dir_and_bad_usage(tmp_path, capsys):
    r = make_run(tmp_path / "r", WRITES, n_writes=999)
    assert main(["energy", str(r)]) == 2
    assert "metrics.json n_writes = 999 but ledger.npz holds 1000 writes" in capsys.readouterr().err
    (r / "ledger.npz").write_bytes(b"not a zip")
    assert main(["energy", str(r)]) == 2
    err = capsys.readouterr().err.strip()
    assert "ledger.npz unreadable" in err and "\n" not in err
    assert main(["energy", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["energy"]) == 2
    assert "give a run directory" in capsys.readouterr().err
    assert main(["energy", str(r), "--compare", str(r)]) == 2
    assert "not both" in capsys.readouterr().err


def test_energy_outputs_are_not_replaced_without_force(run, capsys):
    assert main(["energy", str(run)]) == 0
    before = (run / "energy.csv").read_text()
    (run / "energy.csv").write_text(before + "# my notes\n")
    capsys.readouterr()
    assert main(["energy", str(run), "--bits", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"spikegate: error: {run / 'energy.csv'}: exists; pass --force to replace the energy outputs, "
                   f"or --out DIR to write them elsewhere"), err
    assert (run / "energy.csv").read_text() == before + "# my notes\n"
    assert main(["energy", str(run), "--bits", "8", "--force"]) == 0
    assert (run / "energy.csv").read_text() != before
