"""The package's layout: no import cycles (imports inside functions included), no argparse in the library."""
import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "spikegate"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> spikegate modules it imports anywhere in its body (functions included)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")
                if node.level:
                    base = base[:len(base) - node.level + 1]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module
                # "from . import x" imports the submodule x when there is one
                targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph):
    state, stack = {}, []

    def visit(v):
        state[v] = "open"
        stack.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == "open":
                return stack[stack.index(w):] + [w]
            if w not in state:
                found = visit(w)
                if found:
                    return found
        stack.pop()
        state[v] = "done"
        return None

    for v in sorted(graph):
        if v not in state:
            found = visit(v)
            if found:
                return found
    return None


def test_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 20 and "spikegate.backends.rate.schedule" in graph["spikegate.backends.rate.classifier"]
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_checker_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_library_functions_take_no_argparse_namespace():
    for path in PACKAGE.rglob("*.py"):
        if path.name == "cli.py":
            continue
        text = path.read_text()
        assert "argparse" not in text and "args." not in text, path


def test_declarations_do_not_build_simulator_objects():
    for path in (PACKAGE / "model").glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not names & {"NeuronGroup", "Synapses", "Network", "run_regularly"}, path


#: Floors of the house, lowest first: a module may import its own floor and those below.
FLOORS = [
    ("spikegate.errors", "spikegate.units", "spikegate.files", "spikegate.tables", "spikegate.startup"),
    ("spikegate.model",),
    ("spikegate.ledger", "spikegate.data", "spikegate.rundir", "spikegate.checkpoint"),
    ("spikegate.backends",),
    ("spikegate.config",),
    ("spikegate.training", "spikegate.stopping", "spikegate.energy"),
    ("spikegate.scan",),
    ("spikegate.cli", "spikegate"),
]


def floor_of(module: str) -> int:
    best = None
    for level, prefixes in enumerate(FLOORS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[1]):
                best = (level, len(p))
    assert best is not None, module
    return best[0]


def test_no_import_runs_up_a_floor():
    graph = import_graph()
    upward = [f"{m} -> {t}" for m, targets in graph.items() for t in targets if floor_of(t) > floor_of(m)]
    assert upward == [], upward


def _private_definitions(tree) -> set:
    """Names starting with one underscore that a module defines: functions, classes, attributes
    assigned on self/cls or at class level, module globals."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


#: Private names of other libraries that are their documented way: ``os._exit`` in a forked child.
ALLOWED_PRIVATE = {"_exit"}


def test_no_module_reaches_into_another_modules_private_members():
    """``obj._name`` only for names the module itself defines (its own objects' privates), and no
    ``from x import _name``: a split that needs private access is not a seam."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        own = _private_definitions(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                    and node.attr not in own | ALLOWED_PRIVATE and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.ImportFrom):
                found += [f"{path.relative_to(ROOT)}:{node.lineno} import {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert found == [], found


def test_no_code_outside_the_backends_asks_which_backend_it_has():
    found = [f"{p.relative_to(ROOT)}:{k + 1}" for p in PACKAGE.rglob("*.py") if "backends" not in p.parts
             for k, line in enumerate(p.read_text().splitlines()) if "backend ==" in line or "backend !=" in line]
    assert found == [], found


def test_no_class_over_300_lines_and_no_function_over_60():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                limit = 300 if isinstance(node, ast.ClassDef) else 60
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == [], long
