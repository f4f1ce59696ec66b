"""Execute the library's notebooks and save them with their outputs, so that every example shows what it returns.

    python tools/run_notebooks.py                      # every nbs/NN_*.ipynb (the ones that export the package)
    python tools/run_notebooks.py nbs/02a_heads.ipynb  # some

The notebooks run as `nbdev_test` runs them (execnb's `CaptureShell`, each in a process of its own, working directory
nbs/, the cells flagged with settings.ini's `tst_flags` (`#| slow`) or `#| eval: false` skipped, and those that call
`nbdev_export(`), then the executed notebook replaces
the file, through a temporary file and a rename, only if every cell ran: a notebook with a failing cell is left as it
was, and the script exits 1 naming it. nbs/train.ipynb and nbs/report.ipynb are experiment notebooks: papermill runs
them into outputs/, and their committed copies stay without outputs. Run it after changing a notebook, beside
`nbdev_export`; `nbdev_test` does not need the outputs.
"""
import configparser, os, subprocess, sys, time
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
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(nb2str(nb), encoding="utf-8")
    os.replace(tmp, path)
    print(f"{path}: {time.time() - t0:.0f} s", flush=True)
    return True


if __name__ == "__main__":
    paths = [Path(p).resolve() for p in sys.argv[1:]] or sorted((ROOT / "nbs").glob("[0-9][0-9]*.ipynb"))
    if len(paths) == 1: sys.exit(0 if run(paths[0], skip_flags()) else 1)
    # several: each in a fresh interpreter, so that no notebook sees what another left (imports, switches, RNGs)
    failed = [p for p in paths if subprocess.run([sys.executable, __file__, str(p)]).returncode != 0]
    if failed: sys.exit(f"failed: {', '.join(p.name for p in failed)}")
