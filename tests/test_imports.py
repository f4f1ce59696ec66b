"""The package's architecture: the modules of adavipro/ import each other without a cycle, and importing the package
alone registers every method."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import adavipro

PKG = Path(adavipro.__file__).parent


def import_graph() -> dict[str, set[str]]:
    "Module → the package modules it imports (`from .x import`, `from . import x`, `import adavipro.x`), __init__ left out."
    mods = {p.stem for p in PKG.glob("*.py") if p.stem not in ("__init__", "_modidx")}
    graph = {}
    for m in mods:
        deps = set()
        for node in ast.walk(ast.parse((PKG / f"{m}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("adavipro."):
                deps.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                deps |= {a.name.split(".")[1] for a in node.names if a.name.startswith("adavipro.")}
        graph[m] = deps & mods
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    "One cycle of `graph` as [a, b, ..., a], or None."
    state, stack = {}, []
    def visit(m):
        state[m] = "open"; stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == "open": return stack[stack.index(d):] + [d]
            if d not in state and (c := visit(d)): return c
        state[m] = "done"; stack.pop()
    for m in sorted(graph):
        if m not in state and (c := visit(m)): return c


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_import_graph_has_no_cycle():
    graph = import_graph()
    assert {"config", "runs", "heads", "training", "baselines"} <= set(graph)
    assert "training" in graph["baselines"] and "baselines" not in graph["training"]
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph))


def test_importing_the_package_registers_every_method():
    code = ("import json, sys, adavipro; from adavipro.model import list_methods, trainers; "
            "print(json.dumps([list_methods(), trainers.names(), 'adavipro.training' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    methods, trainers, imported_training = json.loads(out.strip().splitlines()[-1])
    assert {"vpt_shallow", "vpt_deep", "linear_probe", "zero_shot", "full_finetune", "oracle", "vp", "adavipro",
            "none"} <= set(methods), methods
    assert trainers == ["linear_probe"]
    # `python -m adavipro.training` runs that module as __main__: the package must not have imported it already
    assert not imported_training
