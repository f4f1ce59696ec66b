"""Execute the library's notebooks and save them with their outputs, so that every example shows what it returns.

    python tools/run_notebooks.py                      # every nbs/NN_*.ipynb (the ones that export the package)
    python tools/run_notebooks.py nbs/02a_heads.ipynb  # some
    OMP_NUM_THREADS=2 python tools/run_notebooks.py --experiments   # nbs/train.ipynb and nbs/report.ipynb (~15 min on 2 cores)
    python tools/run_notebooks.py --experiments nbs/report.ipynb    # one of them

The notebooks run as `nbdev_test` runs them (execnb's `CaptureShell`, each in a process of its own, working directory
nbs/, the cells flagged with settings.ini's `tst_flags` (`#| slow`) or `#| eval: false` skipped, and those that call
`nbdev_export(`), then the executed notebook replaces
the file, through a temporary file and a rename, only if every cell ran: a notebook with a failing cell is left as it
was, and the script exits 1 naming it. Run it after changing a notebook, beside `nbdev_export`; `nbdev_test` does not
need the outputs.

nbs/train.ipynb and nbs/report.ipynb are experiment notebooks that papermill runs (README): `--experiments` saves
into them the outputs of a documented run, so that a reader sees one without running it, while each stays the
papermill input the README and the tests use. Both run through papermill in a fresh temporary working directory
whose data/ is the repository's (nothing under the repository's outputs/ is read, resumed or replaced):
- train.ipynb: the README's main job with its default parameters (`papermill nbs/train.ipynb outputs/train.ipynb`:
  AdaViPro on digits, EfficientNet-Lite0 with its ImageNet weights), trained from scratch by the code as it is;
- report.ipynb: the cpu study's committed records restored (`results/cpu-preset/records.py restore
  outputs/cpu-study`) and the report run over them (`-p experiment_dir outputs/cpu-study`, so that its outputs name
  that folder); its tables are compared with the committed results/cpu-preset/*.md, and any that differ are named.
Only the outputs and execution counts of the executed cells are copied into the committed notebook's cells (matched by
cell id and source): its sources, the parameters cell included, and its metadata stay as they were; papermill's
injected-parameters cell and its run metadata are not kept. Each notebook is replaced atomically, and only if every
cell ran.
"""
import argparse, configparser, filecmp, os, subprocess, sys, tempfile, time
from pathlib import Path

from execnb.nbio import nb2str, read_nb
from execnb.shell import CaptureShell

ROOT = Path(__file__).resolve().parents[1]


def skip_flags() -> set[str]:
    "The flags nbdev_test skips (settings.ini `tst_flags`)."
    ini = configparser.ConfigParser(); ini.read(ROOT / "settings.ini")
    return set(ini["DEFAULT"].get("tst_flags", "").split())


def skipped(cell, flags:set[str]) -> bool:
    "True for a cell nbdev_test does not run: markdown, `#| eval: false`, or a directive in `flags`."
    if cell.cell_type != "code" or "nbdev_export(" in cell.source: return True
    directives = {l[3:].strip().split(":")[0].split()[0]: l for l in cell.source.splitlines() if l.startswith("#| ") and l[3:].strip()}
    if "eval" in directives and directives["eval"].split(":", 1)[1].strip().lower() == "false": return True
    return bool(flags & directives.keys())


def save(nb, path:Path):
    "Write notebook `nb` (execnb's or its JSON as a dict) to `path` through a temporary file and a rename."
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(nb2str(nb), encoding="utf-8")
    os.replace(tmp, path)


def run(path:Path, flags:set[str]) -> bool:
    "Execute `path` and save it with outputs (atomically); False, and the file untouched, if a cell fails."
    nb, shell, t0 = read_nb(path), CaptureShell(path), time.time()
    cwd = os.getcwd()
    try:
        os.chdir(path.parent)
        shell.run_all(nb, exc_stop=True, preproc=lambda c: skipped(c, flags))
    except Exception:
        sys.stderr.write(shell.prettytb(fname=path) + "\n")
        print(f"{path}: FAILED, left as it was", flush=True)
        return False
    finally: os.chdir(cwd)
    save(nb, path)
    print(f"{path}: {time.time() - t0:.0f} s", flush=True)
    return True


def keep_outputs(committed:dict, executed:dict) -> dict:
    """`committed` (a notebook's JSON) with the outputs and execution counts of `executed`, its papermill run: cells
    matched by id, papermill's injected-parameters cell left out, sources and metadata kept as they are in `committed`.
    Raises ValueError if a cell's source differs between the two or a code cell did not run."""
    ran = {c.get("id"): c for c in executed["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])}
    cells = []
    for c in committed["cells"]:
        c = dict(c)
        if c["cell_type"] == "code":
            e = ran.get(c.get("id"))
            if e is None or "".join(e["source"]) != "".join(c["source"]):
                raise ValueError(f"cell {c.get('id')} differs between the notebook and its executed copy")
            if e.get("execution_count") is None: raise ValueError(f"cell {c.get('id')} did not run")
            c["outputs"], c["execution_count"] = e["outputs"], e["execution_count"]
        cells.append(c)
    return dict(committed, cells=cells)


def run_experiment(name:str, work:Path, parameters:dict|None=None) -> Path:
    "papermill `nbs/<name>` with working directory `work`; the executed copy, `work/<name>`."
    import papermill as pm
    out = work / name
    t0 = time.time()
    pm.execute_notebook(str(ROOT / "nbs" / name), str(out), parameters=parameters or {}, cwd=str(work),
                        progress_bar=False, log_output=False)
    print(f"nbs/{name}: ran in {time.time() - t0:.0f} s", flush=True)
    return out


def differing_tables(report_dir:Path, committed_dir:Path) -> list[str]:
    "The names of the tables (*.md) the report wrote into `report_dir` that differ from, or are missing in, `committed_dir`."
    return sorted(f.name for f in report_dir.glob("*.md")
                  if not ((committed_dir / f.name).is_file() and filecmp.cmp(f, committed_dir / f.name, shallow=False)))


EXPERIMENTS = ("train.ipynb", "report.ipynb")


def experiments(names=EXPERIMENTS) -> bool:
    "Refresh nbs/train.ipynb and/or nbs/report.ipynb (module docstring); False if one failed (it is left as it was)."
    import json
    study = "outputs/cpu-study"
    ok = True
    for name in names:
        with tempfile.TemporaryDirectory(prefix="adavipro-nb-") as tmp:
            work, params = Path(tmp), {}
            (work / "data").symlink_to(ROOT / "data", target_is_directory=True)   # the runs' dataset paths, as in the repo
            try:
                if name == "report.ipynb":
                    from adavipro.sweeps import ensure_cifar10_folder
                    ensure_cifar10_folder()   # Fig 4 draws CIFAR-10 images (data/cifar10-jpeg, from the shared tarball)
                    subprocess.run([sys.executable, str(ROOT / "results" / "cpu-preset" / "records.py"), "restore",
                                    str(work / study)], check=True, stdout=subprocess.DEVNULL)
                    params = {"experiment_dir": study}
                executed = json.loads(run_experiment(name, work, params).read_text(encoding="utf-8"))
                path = ROOT / "nbs" / name
                save(keep_outputs(json.loads(path.read_text(encoding="utf-8")), executed), path)
            except Exception as e:
                print(f"nbs/{name}: FAILED, left as it was: {type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}",
                      flush=True)
                ok = False; continue
            print(f"nbs/{name}: saved with outputs", flush=True)
            if name == "report.ipynb":
                diff = differing_tables(work / study / "report", ROOT / "results" / "cpu-preset")
                n = len(list((work / study / "report").glob("*.md")))
                print(f"the report's {n} tables equal results/cpu-preset/'s" if not diff else
                      f"report tables that differ from results/cpu-preset/: {', '.join(diff)}", flush=True)
    return ok


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="*", help="nbs/NN_*.ipynb to run (default: all of them)")
    ap.add_argument("--experiments", action="store_true",
                    help="refresh the experiment notebooks nbs/train.ipynb and nbs/report.ipynb (or those given) instead")
    a = ap.parse_args()
    if a.experiments:
        names = [Path(p).name for p in a.notebooks] or list(EXPERIMENTS)
        if bad := [n for n in names if n not in EXPERIMENTS]:
            ap.error(f"--experiments refreshes {' and '.join(EXPERIMENTS)}, not {', '.join(bad)}")
        sys.exit(0 if experiments(names) else 1)
    paths = [Path(p).resolve() for p in a.notebooks] or sorted((ROOT / "nbs").glob("[0-9][0-9]*.ipynb"))
    if len(paths) == 1: sys.exit(0 if run(paths[0], skip_flags()) else 1)
    # several: each in a fresh interpreter, so that no notebook sees what another left (imports, switches, RNGs)
    failed = [p for p in paths if subprocess.run([sys.executable, __file__, str(p)]).returncode != 0]
    if failed: sys.exit(f"failed: {', '.join(p.name for p in failed)}")
