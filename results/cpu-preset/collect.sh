#!/usr/bin/env bash
# Rebuild results/cpu-preset/ from the study's runs (results/cpu-preset/README.md):
#   adavipro-sweep all --preset cpu --jobs 2 --out OUT     # the study; a second call resumes it
#   bash results/cpu-preset/collect.sh OUT                 # OUT defaults to outputs
# The report (nbs/report.ipynb) writes every table, figure and the tidy statistics into OUT/report/; this copies
# them here, saves the runs' records (records.py save: what a later session restores to resume the study), and
# writes timings.csv: every run of every experiment with its status and wall seconds (from the records' sweeps.csv),
# with the speed of the machine that ran it (machine_s, adavipro.cost.machine_seconds) and the dry run's estimate
# for it on that machine (estimate_seconds), so the study's duration is measured.
# A resumed sweep rewrites OUT/<experiment>/sweep.csv, listing the runs an earlier call finished as skipped: run
# this (or records.py save OUT) before resuming, to keep their wall times.
set -euo pipefail
out=${1:-outputs}
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
papermill nbs/report.ipynb "$out/report.ipynb" -p experiment_dir "$out" --log-level WARNING
cp "$out"/report/*.md "$out"/report/*.csv "$out"/report/*.png "$here/"
python "$here/records.py" save "$out"
python - "$here/records" "$here/timings.csv" <<'EOF'
import sys
from pathlib import Path
import pandas as pd
from adavipro.study import list_experiments, plan_experiment
from adavipro.cost import estimate_seconds
records, dest = Path(sys.argv[1]), sys.argv[2]
rows = []
for e in list_experiments():   # every experiment with records: the study's tables and the others run here
    f = records / e / "sweeps.csv"   # every run any sweep call listed, once, from the call that ran it (records.py)
    if not f.is_file(): continue
    plan = plan_experiment(e, "cpu")
    df = pd.read_csv(f)
    df = df[df.run.isin(plan)]   # the study's runs (a sweep.csv may list runs of other overrides)
    if "machine_s" not in df: df["machine_s"] = float("nan")   # sweeps before machine_seconds existed
    # the estimate for the machine each run ran on (machine_s: its reference step, noted by the sweep)
    est = [estimate_seconds(plan[r], 1, None if pd.isna(ms) else ms) for r, ms in zip(df.run, df.machine_s)]
    rows.append(df.assign(experiment=e, estimate_s=est)[["experiment", "run", "status", "time_s", "machine_s", "estimate_s"]])
t = pd.concat(rows, ignore_index=True)
t.to_csv(dest, index=False)
ran = t[t.status == "done"]
print(f"{len(ran)} runs trained, {ran.time_s.sum() / 3600:.2f} h of run time (/ 2 jobs: {ran.time_s.sum() / 7200:.2f} h); "
      f"estimate for them {ran.estimate_s.sum() / 3600:.2f} h; {(t.status == 'reused').sum()} reused")
EOF
