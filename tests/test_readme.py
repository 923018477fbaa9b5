"""The README's promises: the building-block example runs and its Quickstart commands are as documented."""
import re

import numpy as np
from brian2 import ms

from conftest import ROOT


def readme():
    return (ROOT / "README.md").read_text()


def test_quickstart_has_exactly_the_two_commands():
    block = re.search(r"## Quickstart\s+```bash\n(.*?)```", readme(), re.S).group(1).strip().splitlines()
    assert block == ['pip install -e ".[test]" && spikegate train models/digits.toml',
                     'python -m pytest -m "not slow"']
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'python -m pytest -m "not slow"' in ci


def test_building_block_example_runs(capsys, tmp_path, monkeypatch):
    section = re.search(r"## Building blocks(.*?)\n## ", readme(), re.S).group(1)
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)      # the ERN figure is written to the working directory
    namespace = {}
    exec(compile(blocks[0], "README example", "exec"), namespace)
    out = capsys.readouterr().out
    m = re.search(r"accuracy ([0-9.]+), gated (\d+), writes (\d+), mean output rate ([0-9.]+) Hz", out)
    assert m, out
    accuracy, gated, writes = float(m.group(1)), int(m.group(2)), int(m.group(3))
    # lazy learning from scratch: mostly mistakes early on, every gated presentation writes
    assert 0 < accuracy < 1 and gated > 50 and writes > gated

    # the second block records the simulated ERN beside the gate and draws the README figure
    exec(compile(blocks[1], "README ERN example", "exec"), namespace)
    out = capsys.readouterr().out
    m = re.search(r"mistakes (\d+), gated (\d+), drives \[(.*?)\]", out, re.S)
    assert m, out
    drives = [float(v) for v in m.group(3).split()]
    assert len(drives) == 12 and all(0 <= d <= 1 for d in drives)
    assert re.search(r"slots 5\b", out), out
    mon = namespace["ern_mon"]
    t_ms = np.asarray(mon.t / ms)
    in_stimulus = (t_ms > 100) & (t_ms % 100 < 50)            # stimulus windows after the first decision
    # the ERN of earlier decisions runs while later stimuli arrive (if any decision had a drive)
    if max(drives[:-1]) > 0:
        assert np.asarray(mon.ern).sum(axis=0)[in_stimulus].max() > 0
    assert (tmp_path / "ern.png").stat().st_size > 10000

    # the third saves a checkpoint, loads it into a new classifier and goes on bit for bit
    exec(compile(blocks[2], "README checkpoint example", "exec"), namespace)
    out = capsys.readouterr().out
    m = re.search(r"same writes after loading: (\w+), same weights: (\w+), input spikes (\d+) = ledger (\d+)", out)
    assert m and m.group(1) == m.group(2) == "True" and m.group(3) == m.group(4) != "0", out


def test_readme_lists_every_bound_with_its_default():
    """Each size bound (a field ``max_*`` of TrainingSpec, the scan's ``max_points``, the
    fixed limits) is named in the README's Bounds paragraph with its default."""
    from spikegate.backends.spiking import MAX_CHUNK
    from spikegate.data import MAX_IDX_BYTES
    from spikegate.model import TrainingSpec
    from spikegate.scan.spec import MAX_POINTS

    text = " ".join(re.search(r"\*\*Bounds\*\*(.*?)\n\* ", readme(), re.S).group(1).split())
    spec = TrainingSpec()
    shown = {"max_presentations": "10^8", "max_steps": "10^10", "max_memory_gb": "default 16"}
    for name in TrainingSpec.field_names():
        if name.startswith("max_"):
            assert f"train.{name}" in text and shown[name] in text, name
    assert spec.max_presentations == 10 ** 8 and spec.max_steps == 10 ** 10 and spec.max_memory_gb == 16
    assert f"`train.chunk` <= {MAX_CHUNK:,}" in text
    assert f"`max_points` (default {MAX_POINTS:,}" in text
    assert f"{MAX_IDX_BYTES // 2 ** 20} MiB" in text
    assert "`seed` < 2^32" in text and "`--bits` in [0.001, 1024]" in text
    from spikegate.files import MAX_TOML_BYTES
    from spikegate.model.code import MAX_CODE_CHARS, MAX_DEPTH, MAX_EXPONENT
    from spikegate.rundir import MAX_METRICS_BYTES, MAX_METRICS_DEPTH

    assert f"TOML files (model, scan, catalogue) of more than {MAX_TOML_BYTES // 2 ** 10} KiB" in text
    assert f"more than {MAX_CODE_CHARS:,} characters per field, {MAX_DEPTH} nested operations or a " \
           f"constant exponent above {MAX_EXPONENT}" in text
    assert f"more than {MAX_METRICS_BYTES // 2 ** 20} MiB or {MAX_METRICS_DEPTH} levels of nesting" in text
