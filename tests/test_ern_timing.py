"""experiments/ern_timing.py --quick: the latency x interval protocol runs through scans and its numbers add up."""
import math

from conftest import run_protocol_quick


def test_ern_timing_quick_compensates_the_integral_and_marks_the_overlaps(tmp_path):
    proc, folder, s = run_protocol_quick("ern_timing", tmp_path)
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
