"""The edges of a process: arguments that are not text in the locale, an output pipe closed
by its reader, and a start with SIGINT ignored. Each ends cleanly (one line, no traceback),
Brian2's start-up included."""
import os
import signal
import subprocess
import sys
import time


from conftest import tiny_model_file
from test_energy import WRITES, make_run

CLI = [sys.executable, "-m", "spikegate.cli"]


def test_an_argument_that_is_not_text_in_the_locale_is_one_line(tmp_path):
    env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": str(tmp_path)}
    proc = subprocess.run([*CLI, "train", os.fsencode(str(tmp_path)) + b"/\xff.toml"], capture_output=True,
                          env=env, timeout=300)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 2, err[-2000:]
    assert err.count("\n") == 1 and "is not valid utf-8 text in this locale" in err and "\\xff.toml" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []      # and Brian2's start-up left nothing


def test_a_closed_output_pipe_is_one_line(tmp_path):
    run = make_run(tmp_path / "run", WRITES)
    proc = subprocess.Popen([*CLI, "energy", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()           # the reader is gone before the first line is printed
    _, err = proc.communicate(timeout=300)
    err = err.decode(errors="replace")
    assert proc.returncode == 141, err[-2000:]
    assert err.strip().splitlines() == ["spikegate: output closed (broken pipe); stopped"], err[-2000:]


def test_a_start_with_sigint_ignored_keeps_it_ignored(tmp_path):
    """``nohup`` and background jobs of scripts start with SIGINT ignored. Brian2's import would
    install a handler that calls the ignored one (a TypeError on Ctrl+C); spikegate keeps it ignored."""
    tiny_model_file(tmp_path, epochs=6)
    out = tmp_path / "run"
    proc = subprocess.Popen([*CLI, "train", str(tmp_path / "model.toml"), "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    seen, deadline = "", time.time() + 600
    while "epoch 2/" not in seen and time.time() < deadline and proc.poll() is None:
        seen += os.read(proc.stderr.fileno(), 4096).decode(errors="replace")
    assert "epoch 2/" in seen, seen[-2000:]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, (seen + err)[-2000:]
    assert "Traceback" not in seen + err and (out / "metrics.json").is_file()
