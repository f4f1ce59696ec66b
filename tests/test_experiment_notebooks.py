"""The experiment notebooks as documents: nbs/train.ipynb and nbs/report.ipynb are committed with the outputs of a run
(`tools/run_notebooks.py --experiments`) and stay clean papermill inputs. Reads JSON only: no kernel, no training."""
import importlib.util, json
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _nb(name): return json.loads((ROOT / "nbs" / name).read_text(encoding="utf-8"))
def _src(c): return "".join(c["source"])
def _text(c): return "".join("".join(o.get("text", "")) for o in c.get("outputs", []))
def _images(nb): return sum("image/png" in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", []))
def _cell(nb, snippet): return next(c for c in nb["cells"] if snippet in _src(c))


def _runner():
    pytest.importorskip("execnb", reason="execnb (nbdev's) is not installed: pip install -e '.[dev]'")
    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "tools" / "run_notebooks.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", ["train.ipynb", "report.ipynb"])
def test_experiment_notebook_is_a_clean_papermill_input(name):
    "One parameters cell, no injected-parameters cell, no papermill run metadata (notebook or cells), no error output."
    nb = _nb(name)
    tags = [t for c in nb["cells"] for t in c.get("metadata", {}).get("tags", [])]
    assert tags.count("parameters") == 1 and "injected-parameters" not in tags
    assert "papermill" not in nb["metadata"]
    assert not [c.get("id") for c in nb["cells"] if {"papermill", "execution"} & c.get("metadata", {}).keys()]
    assert not [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]


def test_train_notebook_shows_a_run():
    "The metric cells show the run: its epochs, its history table and plots, the accuracies."
    nb = _nb("train.ipynb")
    fit = _cell(nb, "metrics = fit(cfg)")
    assert _text(fit).count("epoch ") >= 1 and len(json.dumps(fit["outputs"]).encode()) <= 8192   # progress: small
    assert any("text/html" in o.get("data", {}) for o in _cell(nb, "history = pd.read_csv").get("outputs", []))
    result = _text(_cell(nb, "print(f\"{method} on {dataset}"))
    assert result.startswith("adavipro on digits with efficientnet_lite0: test accuracy ") and " unprompted " in result
    assert _images(nb) == 3                     # the history, the mask's on-rate, the masks on validation images


def test_report_notebook_shows_the_cpu_study():
    "It ran over the restored cpu study and shows each table the study committed, and its figures."
    nb = _nb("report.ipynb")
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert " under outputs/cpu-study" in _text(_cell(nb, "all_runs = collect_runs(root)"))
    shown = ["".join(o["data"]["text/markdown"]).strip() for c in code for o in c["outputs"] if "text/markdown" in o.get("data", {})]
    here = ROOT / "results" / "cpu-preset"
    committed = {f.name: f.read_text(encoding="utf-8").strip() for f in [*here.glob("table*.md"), *here.glob("recipes.md"),
                                                                      *here.glob("input_dependent*.md")]}
    assert len(committed) >= 7 and sorted(committed.values()) == sorted(shown)   # the study's tables, as committed
    assert _images(nb) >= 2                     # Fig 2 and Fig 4


def test_keep_outputs_copies_outputs_only():
    "The executed copy's outputs go into the committed cells; its injected cell and papermill metadata do not."
    keep_outputs = _runner().keep_outputs
    cell = lambda i, src, **kw: dict(cell_type="code", id=i, metadata=kw.pop("metadata", {}), source=src,
                                     outputs=kw.pop("outputs", []), execution_count=kw.pop("n", None))
    committed = dict(metadata={"kernelspec": {}}, cells=[cell("a", "x = 1", metadata={"tags": ["parameters"]}),
                                                          cell("b", "print(x)")])
    out = [{"output_type": "stream", "name": "stdout", "text": ["2\n"]}]
    executed = dict(metadata={"papermill": {}}, cells=[
        cell("a", "x = 1", metadata={"tags": ["parameters"], "papermill": {}}, n=1),
        cell("i", "x = 2", metadata={"tags": ["injected-parameters"]}, n=2),
        cell("b", "print(x)", metadata={"papermill": {}, "execution": {}}, outputs=out, n=3)])
    nb = keep_outputs(committed, executed)
    assert nb["metadata"] == {"kernelspec": {}} and [c["id"] for c in nb["cells"]] == ["a", "b"]
    assert [c["metadata"] for c in nb["cells"]] == [{"tags": ["parameters"]}, {}]
    assert nb["cells"][1]["outputs"] == out and nb["cells"][1]["execution_count"] == 3
    assert committed["cells"][1]["outputs"] == []                          # the input is not modified
    executed["cells"][2]["source"] = "print(x + 1)"                        # a source changed under the run
    with pytest.raises(ValueError, match="differs"): keep_outputs(committed, executed)
