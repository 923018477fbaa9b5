"""experiments/ern_timing.py --quick: the latency x interval protocol runs through scans and its numbers add up."""
import json
import math
import subprocess
import sys

from conftest import ROOT


def test_ern_timing_quick_compensates_the_integral_and_marks_the_overlaps(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "ern_timing.py"), str(ROOT / "models" / "digits.toml"),
                           "--quick", "--seeds", "1", "--results", str(tmp_path), "--set", "train.target=numpy"],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = tmp_path / "ern_timing" / "digits-quick"
    s = json.loads((folder / "summary.json").read_text())
    assert (folder / "figure.png").stat().st_size > 1000
    assert "claim (Izhikevich 2007)" in proc.stdout and "verdict: n/a" in proc.stdout
    courses = {c["latency_ms"]: c for c in s["time_courses"]}
    # the model's latency keeps its rate; 150 ms: the window ends 350 ms after the onset, the rate
    # grows by the eligibility's decay over the extra 100 ms (tau_e = 100 ms, the kernel unchanged)
    assert courses[50]["eta_scale"] == 1 and courses[150]["window_ms"] == 500
    assert math.isclose(courses[150]["eta_scale"], math.e, rel_tol=1e-6)
    rows = {(r["latency_ms"], r["isi_ms"]): r for r in s["rows"]}
    assert sorted(rows) == [(50, 100), (150, 100)]
    assert all(r["ern_overlaps_next_stimulus"] for r in rows.values())      # 400-500 ms windows, 150 ms apart
    for r in rows.values():
        assert 0 <= r["test_accuracy_percent"] <= 100 and r["n_writes"] > 0 and r["seeds"] == 1
        assert math.isclose(r["points_vs_reset"], r["test_accuracy_percent"]
                            - s["reset_reference"]["test_accuracy_percent"], abs_tol=1e-9)
    assert (folder / "store").is_dir() and (folder / "reset" / "store").is_dir()
