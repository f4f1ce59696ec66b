"""results/ holds outputs and READMEs: every committed table is made by a named experiment of the sweep registry and
the report, and each folder's README gives the command that remakes it. Checked without training: the commands plan
exactly the committed runs, with their parameters, and the report remakes committed tables from restored records."""
import importlib.util, math, re, shlex, shutil, subprocess, sys
from pathlib import Path

import pandas as pd
import pytest

from adavipro.study import plan_experiment
from adavipro.sweeps import _parse_value
from adavipro.training import RUNTIME_FIELDS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def test_results_is_outputs_and_readmes():
    "At most two Python files under results/, and the package imports nothing from there."
    assert len([p for p in RESULTS.rglob("*.py")]) <= 2, sorted(str(p) for p in RESULTS.rglob("*.py"))
    for f in (ROOT / "adavipro").glob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+results\b|sys\.path.*results", f.read_text(), re.M), f.name


def readme_commands(readme:Path) -> dict[str, list[list[str]]]:
    "The README's first bash block: folder (its `# <folder>/:` comment) → the `adavipro-sweep` calls of its command, as argv."
    block = re.search(r"```bash\n(.*?)```", readme.read_text(), re.S).group(1)
    out, folder = {}, None
    for line in block.replace("\\\n", " ").splitlines():
        if m := re.match(r"#\s*([\w-]+)/:", line): folder = m.group(1); continue
        for part in line.split("&&"):
            argv = shlex.split(part)
            if argv and argv[0] == "adavipro-sweep": out.setdefault(folder, []).append(argv[1:])
    return out


def planned(argv:list[str]) -> dict[str, dict]:
    "The runs `adavipro-sweep` plans for `argv`, its -p values parsed as the command line parses them."
    preset = argv[argv.index("--preset") + 1] if "--preset" in argv else "cpu"
    overrides = {argv[i + 1]: _parse_value(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a in ("-p", "--param")}
    return plan_experiment(argv[0], preset, overrides)


def same(a, b) -> bool:
    "A planned value against a runs.csv cell (NaN is None, 40 is 40.0, True is 'True')."
    if a is None or (isinstance(a, float) and math.isnan(a)): return b is None or (isinstance(b, float) and math.isnan(b))
    if isinstance(a, bool) or isinstance(b, bool): return str(a) == str(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)): return math.isclose(a, b)
    return str(a) == str(b)


PLACEMENT = readme_commands(RESULTS / "placement" / "README.md")


def test_placement_readme_has_a_command_per_folder():
    folders = {p.parent.name for p in (RESULTS / "placement").glob("*/runs.csv")}
    assert folders and set(PLACEMENT) == folders


@pytest.mark.parametrize("folder", sorted(PLACEMENT))
def test_placement_command_plans_the_committed_runs(folder):
    "The folder's command plans exactly the runs its runs.csv holds, each with the parameters it ran with."
    runs = {}
    for argv in PLACEMENT[folder]: runs.update(planned(argv))
    committed = pd.read_csv(RESULTS / "placement" / folder / "runs.csv").set_index("run")
    assert sorted(runs) == sorted(committed.index)
    skip = set(RUNTIME_FIELDS) | {"out_dir"}
    for name, params in runs.items():
        row = committed.loc[name]
        differ = {k: (v, row[k]) for k, v in params.items() if k in row.index and k not in skip and not same(v, row[k])}
        assert not differ, (name, differ)


def _report(out:Path):
    pytest.importorskip("papermill", reason="papermill (the [study] extra) is not installed")
    subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "nbs" / "report.ipynb"), str(out / "report.ipynb"),
                    "-p", "experiment_dir", str(out), "-p", "fig4_images", "0", "--log-level", "WARNING"],
                   check=True, cwd=ROOT, capture_output=True, timeout=900)
    return out / "report"


def test_report_remakes_cpu_tables_from_restored_records(tmp_path):
    "Table 1's records restored (as records.py restores them, with their files' times): the report's Table 1 is the committed one."
    spec = importlib.util.spec_from_file_location("records", RESULTS / "cpu-preset" / "records.py")
    records = importlib.util.module_from_spec(spec); spec.loader.exec_module(records)
    shutil.copytree(records.RECORDS / "table1", tmp_path / "table1")
    report = _report(tmp_path)
    assert (report / "table1.md").read_text().strip() == (RESULTS / "cpu-preset" / "table1.md").read_text().strip()


def test_report_remakes_placement_tables_from_runs_csv(tmp_path):
    "A placement folder's committed runs.csv and no run folders: the report's vs_vp.md (Holm-corrected) is the committed one."
    here = RESULTS / "placement" / "reprogramming"
    shutil.copy(here / "runs.csv", tmp_path / "runs.csv")
    report = _report(tmp_path)
    committed = (here / "vs_vp.md").read_text().strip()
    assert "p_Holm=" in committed and "Correction: Holm over" in committed
    assert (report / "stabilisers_vs_vp.md").read_text().strip() == committed
    assert (report / "stabilisers.md").read_text().strip() == (here / "table.md").read_text().strip()
