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


def test_building_block_example_runs(capsys):
    code = re.search(r"## Building blocks.*?```python\n(.*?)```", readme(), re.S).group(1)
    exec(compile(code, "README example", "exec"), {})
    out = capsys.readouterr().out
    m = re.search(r"accuracy ([0-9.]+), gated (\d+), writes (\d+), mean output rate ([0-9.]+) Hz", out)
    assert m, out
    accuracy, gated, writes = float(m.group(1)), int(m.group(2)), int(m.group(3))
    # lazy learning from scratch: mostly mistakes early on, every gated presentation writes
    assert 0 < accuracy < 1 and gated > 50 and writes > gated
