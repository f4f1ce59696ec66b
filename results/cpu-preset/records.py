"""The study's run records, committed, so that `adavipro-sweep all` can resume the study on another machine.

The study takes longer than one working session (results/cpu-preset/README.md), and a run folder lives under
outputs/, which is never committed. A sweep skips every run whose folder holds a `metrics.json` written with the same
parameters, so these small files are all a later session needs to go on where the last one stopped:

    python results/cpu-preset/records.py save OUT      # OUT's records -> results/cpu-preset/records/
    python results/cpu-preset/records.py restore OUT   # records -> OUT, then: adavipro-sweep all --preset cpu --out OUT

Saved per run folder OUT/<experiment>/<run>/: config.json, metrics.json, history.csv, reused_from.txt (a sweep's
copy of a run another experiment finished), and for Fig 4's runs, in whichever experiment folder they trained (Table 2's),
the checkpoint best.pt (the figure draws the learned mask; a resumed sweep copies them into fig4/). Not saved: last.pt, the executed notebook and its log (outputs/, as for any run). Saved per
experiment: sweeps.csv, every run any sweep call listed in OUT/<experiment>/sweep*.csv, once, from the call that ran
it (its wall seconds: a resumed call lists the runs an earlier call finished as skipped, without them); `restore`
puts it back as sweep-records.csv, beside which a resumed sweep writes its own sweep.csv. `mtimes.csv` keeps each file's modification time:
the report's newest-run rule reads it, and git does not keep it. `restore` never replaces a file that exists in OUT.
"""
import argparse, csv, os, shutil, sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
RECORDS = HERE / "records"
RUN_FILES = ("config.json", "metrics.json", "history.csv", "reused_from.txt")


def checkpoint_runs() -> set[str]:
    "The runs whose best.pt the report reads: Fig 4's (it draws their learned masks), wherever a sweep trained them."
    from adavipro.study import plan_experiment
    return set(plan_experiment("fig4", "cpu"))


def _run_files(out: Path):
    "(source, path relative to OUT) of every file a record keeps, finished runs only."
    keep = checkpoint_runs()
    for metrics in sorted(out.glob("*/*/metrics.json")):
        run = metrics.parent
        names = RUN_FILES + (("best.pt",) if run.name in keep else ())
        for n in names:
            if (run / n).is_file(): yield run / n, (run / n).relative_to(out)


def merge_sweeps(files) -> pd.DataFrame:
    """The rows of several sweep*.csv, one per run: the call that ran it (done, reused, failed) before one that skipped
    it, and of two such rows the one that notes its machine's speed (`machine_s`)."""
    df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    if "machine_s" not in df: df["machine_s"] = float("nan")
    order = df.status.map({"done": 0, "reused": 1, "failed": 2}).fillna(3) * 2 + df.machine_s.isna()
    return df.assign(_o=order).sort_values("_o", kind="stable").drop_duplicates("run").drop(columns="_o").sort_index()


def _save_sweeps(out: Path) -> int:
    n = 0
    for exp in sorted({f.parent for f in out.glob("*/sweep*.csv")}):
        dst = RECORDS / exp.name / "sweeps.csv"
        df = merge_sweeps(sorted(exp.glob("sweep*.csv")) + ([dst] if dst.is_file() else []))
        tmp = dst.with_name(".sweeps.csv.tmp")
        dst.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(tmp, index=False)
        if dst.is_file() and dst.read_bytes() == tmp.read_bytes(): tmp.unlink(); continue
        os.replace(tmp, dst); n += 1
    return n


def _copy(src: Path, dst: Path):
    "Copy with the modification time, through a temporary sibling, so that `dst` is never half-written."
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def save(out: Path) -> int:
    if not out.is_dir(): sys.exit(f"{out} is not a folder: pass the --out of the study's sweep (e.g. outputs/cpu-study)")
    mtimes = _read_mtimes()
    n = 0
    for src, rel in _run_files(out):
        dst = RECORDS / rel
        if not dst.is_file() or dst.read_bytes() != src.read_bytes(): _copy(src, dst); n += 1
        mtimes[rel.as_posix()] = f"{src.stat().st_mtime:.6f}"
    tmp = RECORDS / ".mtimes.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh); w.writerow(["path", "mtime"]); w.writerows(sorted(mtimes.items()))
    os.replace(tmp, RECORDS / "mtimes.csv")
    n += _save_sweeps(out)
    runs = len({p.parent for p in RECORDS.glob("*/*/metrics.json")})
    print(f"{n} files saved; {runs} finished runs in {RECORDS}")
    return n


def _read_mtimes() -> dict:
    f = RECORDS / "mtimes.csv"
    if not f.is_file(): return {}
    with open(f, newline="") as fh: return {r["path"]: r["mtime"] for r in csv.DictReader(fh)}


def restore(out: Path) -> int:
    if not RECORDS.is_dir(): sys.exit(f"no records in {RECORDS}: nothing to restore")
    mtimes, n = _read_mtimes(), 0
    for src in sorted(p for p in RECORDS.rglob("*") if p.is_file() and p.parent != RECORDS):
        rel = src.relative_to(RECORDS)
        dst = out / (rel.with_name("sweep-records.csv") if rel.name == "sweeps.csv" else rel)
        if dst.exists(): continue
        _copy(src, dst)
        if (t := mtimes.get(rel.as_posix())) is not None: os.utime(dst, (float(t), float(t)))
        n += 1
    print(f"{n} files restored into {out}; run `adavipro-sweep all --preset cpu --jobs 2 --out {out}` to go on")
    return n


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=["save", "restore"])
    ap.add_argument("out", type=Path, help="the study's --out folder, e.g. outputs/cpu-study")
    a = ap.parse_args()
    save(a.out) if a.action == "save" else restore(a.out)
