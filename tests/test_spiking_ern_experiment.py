"""experiments/spiking_ern.py --quick: the ideal and the spiking ERN through scans, their agreement reported."""
import json
import subprocess
import sys

from conftest import ROOT


def test_spiking_ern_quick_reports_each_source_at_its_best_rate_and_the_agreement(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "spiking_ern.py"), str(ROOT / "models" / "digits.toml"),
                           "--quick", "--seeds", "1", "--eta-scale", "1", "--results", str(tmp_path),
                           "--set", "train.target=numpy", "--set", "ern.window=150 ms"],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = tmp_path / "spiking_ern" / "digits-quick"
    s = json.loads((folder / "summary.json").read_text())
    assert (folder / "figure.png").stat().st_size > 1000
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
