"""experiments/spiking_ern.py --quick: the ideal and the spiking ERN through scans, their agreement reported."""
from conftest import run_protocol_quick


def test_spiking_ern_quick_reports_each_source_at_its_best_rate_and_the_agreement(tmp_path):
    proc, folder, s = run_protocol_quick("spiking_ern", tmp_path, "--eta-scale", "1", "--set", "ern.window=150 ms")
    assert "claim (Yeung et al. 2004)" in proc.stdout and "verdict: n/a" in proc.stdout
    ideal, spiking = s["lines"]
    assert (ideal["source"], spiking["source"]) == ("ideal", "spiking")
    assert s["overrides"]["ern.integration"] == "simulated" and s["overrides"]["gate.name"] == "ern"
    for line in (ideal, spiking):
        assert line["eta"] == "0.5 Hz" and line["seeds"] == 1 and line["n_writes"] > 0
        assert 0 <= line["test_accuracy_percent"] <= 100 and 0 < line["gated_fraction"] <= 1
    assert 0 <= spiking["gate_agreement_percent"] <= 100 and "gate_agreement_percent" not in ideal
    assert abs(s["accuracy_gap_points"] - (spiking["test_accuracy_percent"] - ideal["test_accuracy_percent"])) < 1e-9
    assert (folder / "store").is_dir()
