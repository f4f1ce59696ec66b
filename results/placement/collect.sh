#!/usr/bin/env bash
# Rebuild one folder of placement tables (results/placement/README.md gives each folder's command):
#   bash results/placement/collect.sh OUT FOLDER
# OUT: the sweep's output root (holding placement/), e.g. outputs/adapt; FOLDER: where the tables go, e.g.
# results/placement/adaptation. The report (nbs/report.ipynb, section "Mask stabilisers") writes them; this copies them.
# OUT may instead be a runs.csv (e.g. FOLDER/runs.csv, committed): the report remakes the tables from its rows, without
# training or run folders; the on-rate figure and runs.csv, which need the run folders, are left as they are.
set -euo pipefail
out=${1:?usage: collect.sh OUT FOLDER}; here=${2:?usage: collect.sh OUT FOLDER}
cd "$(dirname "$0")/../.."
mkdir -p "$here"
from_csv=0
if [ -f "$out" ]; then   # a runs.csv: the report reads it from a scratch folder of its own
    csv=$out; out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
    cp "$csv" "$out/runs.csv"; from_csv=1
fi
papermill nbs/report.ipynb "$out/report.ipynb" -p experiment_dir "$out" -p fig4_images 0 --log-level WARNING
cp "$out/report/stabilisers.md" "$here/table.md"
cp "$out/report/stabilisers_vs_vp.md" "$here/vs_vp.md"
if [ "$from_csv" = 0 ]; then
    cp "$out/report/stabilisers_on_rate.png" "$here/on_rate.png"
    cp "$out/report/runs.csv" "$here/runs.csv"
fi
for f in cells paired; do   # the tidy statistics, where the report wrote them
    if [ -f "$out/report/stabilisers_$f.csv" ]; then cp "$out/report/stabilisers_$f.csv" "$here/$f.csv"; fi
done
