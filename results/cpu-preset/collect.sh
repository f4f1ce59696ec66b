#!/usr/bin/env bash
# Rebuild results/cpu-preset/ from the study's runs (results/cpu-preset/README.md):
#   adavipro-sweep all --preset cpu --jobs 2 --out OUT     # the study; a second call resumes it
#   bash results/cpu-preset/collect.sh OUT                 # OUT defaults to outputs
# The report (nbs/report.ipynb) writes every table, figure and the tidy statistics into OUT/report/; this copies
# them here, and writes timings.csv: every run of every experiment with its status and wall seconds (sweep.csv),
# beside the dry run's estimate for it (adavipro.sweeps.estimate_seconds), so the study's duration is measured.
# A resumed sweep rewrites OUT/<experiment>/sweep.csv, listing the runs an earlier call finished as skipped: copy
# it first (cp OUT/table4/sweep.csv OUT/table4/sweep-1.csv) to keep their wall times.
set -euo pipefail
out=${1:-outputs}
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
papermill nbs/report.ipynb "$out/report.ipynb" -p experiment_dir "$out" --log-level WARNING
cp "$out"/report/*.md "$out"/report/*.csv "$out"/report/*.png "$here/"
python - "$out" "$here/timings.csv" <<'EOF'
import sys
from pathlib import Path
import pandas as pd
from adavipro.sweeps import STUDY, estimate_seconds, plan_experiment
out, dest = Path(sys.argv[1]), sys.argv[2]
rows = []
for e in STUDY:
    files = sorted((out / e).glob("sweep*.csv"))   # sweep.csv, and copies of it kept before a resumed call
    if not files: continue
    plan = plan_experiment(e, "cpu")
    df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    df = df[df.run.isin(plan)]   # the study's runs (a sweep.csv may list runs of other overrides)
    # a run once, with the wall time of the call that ran it: a resumed call lists it as skipped, without one
    df = df.assign(o=df.status.map({"done": 0, "reused": 1, "failed": 2}).fillna(3)).sort_values("o").drop_duplicates("run")
    rows.append(df.assign(experiment=e, estimate_s=[estimate_seconds(plan[r], 1) for r in df.run])
                [["experiment", "run", "status", "time_s", "estimate_s"]])
t = pd.concat(rows, ignore_index=True)
t.to_csv(dest, index=False)
ran = t[t.status == "done"]
print(f"{len(ran)} runs trained, {ran.time_s.sum() / 3600:.2f} h of run time (/ 2 jobs: {ran.time_s.sum() / 7200:.2f} h); "
      f"estimate for them {ran.estimate_s.sum() / 3600:.2f} h; {(t.status == 'reused').sum()} reused")
EOF
