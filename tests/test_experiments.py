"""The experiments' --quick variants: each runs, writes its summary and figure, and its numbers add up."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT


def run_quick(name, tmp_path, *extra):
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / f"{name}.py"), "--quick", "--results",
                           str(tmp_path), *extra], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = tmp_path / f"{name}-quick"
    assert (folder / "figure.png").stat().st_size > 1000 and (folder / "figure.svg").exists()
    assert "claim (" in proc.stdout and "measured:" in proc.stdout
    return json.loads((folder / "summary.json").read_text())


def test_updates_to_95_matches_the_independent_implementation(tmp_path):
    s = run_quick("updates_to_95", tmp_path)
    ref, rows = s["reference"], {r["N"]: r for r in s["rows"]}
    ours = rows[ref["N"]]
    assert ours["reached"] and ref["samples_to_target"]
    # same network, same counting: the writes per presented sample agree exactly
    assert ours["M0"] / ours["samples_to_target"] == pytest.approx(ref["n_writes"] / ref["samples_to_target"],
                                                                    rel=0.02)
    # one sample changes every synapse with a non-zero input: (64 + 1) * N + (N + 1) * 10 at most
    for n, r in rows.items():
        assert r["M0"] <= r["samples_to_target"] * ((64 + 1) * n + (n + 1) * 10)
        assert r["M_min"] < r["M1"]


def test_lazy_vs_backprop_reports_its_speedup_consistently(tmp_path):
    s = run_quick("lazy_vs_backprop", tmp_path)
    always, lazy, memorized = s["rows"][:3]
    assert always["gated_presentations"] == always["samples_to_target"]
    assert lazy["gated_presentations"] < lazy["samples_to_target"] and lazy["M0"] < always["M0"]
    assert lazy["speedup_vs_always"] == pytest.approx(always["train_seconds_to_target"]
                                                      / lazy["train_seconds_to_target"])
    # whether lazy is faster in wall-clock seconds is a measurement on a quiet machine (README), not a test:
    # on a shared CI runner one slow second flips it


def test_mistake_gating_savings_rate_and_spiking(tmp_path):
    s = run_quick("mistake_gating_savings", tmp_path, "--seeds", "1")
    backends = {r["backend"] for r in s["rows"]}
    assert backends == {"rate", "spiking"} and len(s["rows"]) == 4 + 5   # rate: 4 gates, spiking: 5 gates x 1 seed
    for r in s["rows"]:
        if r["gate"] == "always":
            assert r["writes_saved_percent"] == 0
        elif r["writes_saved_percent"] is not None:
            assert 0 < r["writes_saved_percent"] < 100
    for g in s["gates"]:   # the mean over the seeds that reached the target
        saved = [r["writes_saved_percent"] for r in s["rows"] if (r["backend"], r["gate"]) == (g["backend"], g["gate"])
                 and r["writes_saved_percent"] is not None]
        assert g["seeds_reached"] == len(saved) and g["writes_saved_percent"] == pytest.approx(sum(saved) / len(saved))


def test_competitive_restrictions_write_exactly_their_share(tmp_path):
    s = run_quick("competitive", tmp_path, "--hidden", "30")
    rows = {r["restriction"]: r for r in s["rows"]}
    # gate always: every presentation writes exactly round(0.1 n) synapses per projection
    per_sample = round(0.1 * (64 + 1) * 30) + round(0.1 * (30 + 1) * 10)
    top = rows["top10%-layer"]
    presented = top["samples_to_target"] or s["max_epochs"] * s["n_train"]
    assert top["M0"] == presented * per_sample
    assert rows["none"]["energy_saving_percent"] == 0


def test_incremental_tasks_and_gates(tmp_path):
    s = run_quick("incremental", tmp_path)
    assert [(r["task"], r["gate"]) for r in s["rows"]][:3] == [("new classes", g) for g in
                                                               ("always", "lazy", "memorized")]
    for r in s["rows"]:
        assert r["gated"] <= r["presentations"]
        assert (r["writes_saved_percent"] == 0) == (r["gate"] == "always")
        assert 0 <= r["old_accuracy"] <= 1 and r["new_accuracy"] <= 1
    new_samples = [r for r in s["rows"] if r["task"] == "new samples"]
    assert all(r["new_accuracy"] == 0 for r in new_samples)  # no test image of 5-9 is ever learned there


def test_replay_buffer_stores_only_gated_samples(tmp_path):
    s = run_quick("replay_buffer", tmp_path)
    rows = {r["gate"]: r for r in s["rows"]}
    assert rows["always"]["buffer_size"] == s["stream_length"]
    assert rows["lazy"]["buffer_size"] < s["stream_length"]
    assert rows["random buffer (control)"]["buffer_size"] == rows["lazy"]["buffer_size"]
    assert rows["memorized"]["buffer_size"] == rows["lazy"]["buffer_size"]  # one online pass: no memory yet


def test_gate_comparison_protocol_runs_every_gate_and_the_controls_then_the_frontier(tmp_path):
    """Every gate at its best learning rate (chosen on validation), random at ern's opening rate,
    always stopped on validation, and the frontier's verdict at an accuracy every seed reaches."""
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "gate_comparison.py"),
                           str(ROOT / "models" / "digits.toml"), "--quick", "--seeds", "1", "2", "--eta-scale", "1",
                           "--n-validation", "60", "--validate-every", "100",
                           "--results", str(tmp_path), "--workers", "2"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = tmp_path / "gate_comparison" / "digits-quick"
    s = json.loads((folder / "summary.json").read_text())
    rows = {r["line"]: r for r in s["rows"]}
    assert list(rows) == ["always", "lazy", "memorized", "ern", "random", "always, stopped"]
    assert all(r["seeds"] == 2 for r in rows.values())
    assert s["random_p"] == pytest.approx(rows["ern"]["gated_fraction"], abs=1e-4)
    # one epoch: no sample comes back, so the mistake memory never opens and memorized is lazy
    assert rows["lazy"]["gated_fraction"] == rows["memorized"]["gated_fraction"] < 1 == rows["always"]["gated_fraction"]
    v = s["verdict"]
    assert v["lines"]["always"]["ratio_to_always"] == 1.0 and set(v["lines"]) == {"always", "lazy", "memorized", "ern",
                                                                                "random"}
    assert "ern_beats_random" in v and s["cost"] == "bits_flipped"     # digits.toml: 8-bit synapses
    assert (folder / "figure.png").stat().st_size > 1000 and (folder / "frontier.csv").exists()
    assert "claim (Pache & van Rossum 2026)" in proc.stdout and "verdict at" in proc.stdout
    energy = s["energy_to_target"]           # each gate's energy to the verdict's accuracy, on 3 technologies
    assert set(energy) == {"always", "lazy", "memorized", "ern", "random"}
    assert all(set(e) == {"SRAM-32KB", "Loihi", "long-term-memory"} for e in energy.values())
    sram = energy["always"]["SRAM-32KB"]
    assert sram["seeds"] == 2 and 0 < sram["learning_j"] < sram["total_j"] and "energy to first reach" in proc.stdout


def test_gate_comparison_refuses_a_longer_test_window(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "gate_comparison.py"),
                           str(ROOT / "models" / "digits.toml"), "--quick", "--set", "network.t_test='100 ms'",
                           "--results", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "network.t_test is set: the protocol tests with the training window" in proc.stderr


def test_gate_comparison_refuses_an_unknown_technology_before_training(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "gate_comparison.py"),
                           str(ROOT / "models" / "digits.toml"), "--quick", "--technologies", "SRAM-32KB", "abacus",
                           "--results", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--technologies abacus: not in the energy catalogue; allowed: ATP-hydrolysis" in proc.stderr
    assert not (tmp_path / "gate_comparison").exists()


def test_energy_budget_quick_spends_at_most_its_budget(tmp_path):
    """30 J at 10 mJ per write: 3,000 writes, plus the one presentation that overdraws (at most 640)."""
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "energy_budget.py"), "--quick", "--seeds", "1",
                           "--workers", "2", "--results", str(tmp_path)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = tmp_path / "energy_budget" / "digits-quick"
    assert (folder / "figure.png").stat().st_size > 1000 and "claim (" in proc.stdout
    s = json.loads((folder / "summary.json").read_text())
    rows = {(r["gate"], r["budget_j"]): r for r in s["rows"]}
    assert s["budgets_j"] == [30.0, None]                      # None: no budget (JSON has no infinity)
    for gate in ("always", "lazy", "memorized", "ern"):
        scarce, free = rows[(gate, 30.0)], rows[(gate, None)]
        assert 3000 <= scarce["n_writes"] <= 3000 + 640, gate
        assert free["n_writes"] > scarce["n_writes"] and free["gated_fraction"] > scarce["gated_fraction"]
    assert rows[("always", None)]["gated_fraction"] == 1.0
