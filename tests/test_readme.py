"""The README's promises: the building-block example runs and its Quickstart commands are as documented."""
import re


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
    assert len(blocks) == 2
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
    ern = namespace["ern_mon"].ern[0]
    assert ern.max() > 0 and (tmp_path / "ern.png").stat().st_size > 10000
