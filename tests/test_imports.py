"""The package's architecture: the modules of adavipro/ import each other without a cycle, the registries hold every
method at their first look-up, `import adavipro` loads no heavy module, and a missing extra is one line naming it."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert "study" in graph["sweeps"] and "sweeps" not in graph["study"]   # the study's definition, apart from what runs it
    assert "cost" in graph["sweeps"] and not {"sweeps", "cost"} & graph["study"] and "sweeps" not in graph["cost"]
    assert "sweeps" not in graph["results"] | graph["api"]


def test_the_study_loads_without_the_sweep_machinery():
    "Planning a run (the study, as nbs/train.ipynb and the report read it) imports no executor, lock or CLI."
    code = "import sys, adavipro.study, adavipro.cost, adavipro.results; print('adavipro.sweeps' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]


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


HEAVY = ("torch", "torchvision", "timm", "open_clip", "pandas", "sklearn", "scipy", "matplotlib", "papermill")


def run_py(code:str, *args) -> str:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True).stdout.strip()


def test_importing_the_package_is_cheap():
    "`import adavipro` defers every module (PEP 562): none of the heavy libraries is loaded until a name is used."
    code = f"import sys, adavipro; print([m for m in {HEAVY!r} if m in sys.modules])"
    assert run_py(code) == "[]"
    code = "import sys, adavipro; adavipro.TrainConfig; print(sorted(m for m in ('open_clip', 'pandas', 'papermill') if m in sys.modules))"
    assert "papermill" not in run_py(code)


def test_public_names_resolve_and_are_listed():
    for name in adavipro.__all__: assert getattr(adavipro, name) is not None, name
    assert {"prompt", "PromptedModel", "fit", "TrainConfig", "AdaViProPrompter", "create_backbone", "list_methods",
            "list_prompters", "list_backbones", "list_datasets", "list_experiments"} <= set(adavipro.__all__)
    assert adavipro.fit is adavipro.training.fit and "prompt" in dir(adavipro)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"): adavipro.nope


def test_package_docstring_gives_the_tour():
    doc = adavipro.__doc__
    assert "adavipro.prompt(" in doc and "param_groups" in doc and "on_epoch_end" in doc and "--help" in doc


@pytest.mark.parametrize("module, extra, call", [
    ("open_clip", "clip", "from adavipro.backbones import create_backbone; create_backbone('clip:ViT-B-32:random')"),
    ("pandas", "study", "from adavipro.results import collect_runs; collect_runs('.')"),
    ("papermill", "study", "from adavipro.sweeps import main; sys.exit(main(['table2', '-p', 'datasets', 'digits', '--out', sys.argv[1]]))"),
])
def test_a_missing_extra_is_one_line_naming_it(module, extra, call, tmp_path):
    "Without the extra's module (blocked in sys.modules) the library imports, and using it names the pip extra."
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from adavipro.core import ConfigError\n"
            f"try:\n    {call}\nexcept ConfigError as e: print(e)")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    assert out.endswith(f"{module} is not installed: pip install 'adavipro[{extra}]'") and "\n" not in out, out


def test_core_works_without_the_study_extra(tmp_path):
    "A run's history is written without pandas (the [study] extra)."
    code = ("import sys; sys.modules['pandas'] = None\n"
            "from pathlib import Path; from adavipro.runs import write_history\n"
            "write_history(Path(sys.argv[1]), [dict(epoch=1, loss=0.5), dict(epoch=2, loss=0.25, val_acc=0.75)])\n"
            "print(open(Path(sys.argv[1]) / 'history.csv').read())")
    assert run_py(code, str(tmp_path)) == "epoch,loss,val_acc\n1,0.5,\n2,0.25,0.75"
