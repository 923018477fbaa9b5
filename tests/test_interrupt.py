"""Ctrl+C during training: exit code 130, a one-line message, and no run directory."""
import os
import signal
import subprocess
import sys
import time


from conftest import tiny_model_file


def test_sigint_leaves_no_run_directory(tmp_path):
    tiny_model_file(tmp_path, epochs=400)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "spikegate.cli", "train", str(tmp_path / "model.toml"),
                             "--out", str(out)], stderr=subprocess.PIPE, text=True, bufsize=1)
    seen = ""
    deadline = time.time() + 600
    while "epoch 3/" not in seen and time.time() < deadline and proc.poll() is None:
        seen += os.read(proc.stderr.fileno(), 4096).decode(errors="replace")
    assert "epoch 3/" in seen, seen[-2000:]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "spikegate: interrupted; no run directory was written" in err
    assert "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".run*"))
