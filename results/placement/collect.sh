#!/usr/bin/env bash
# Rebuild one folder of placement tables from a sweep's runs (results/placement/README.md gives each folder's sweep):
#   bash results/placement/collect.sh OUT FOLDER
# OUT: the sweep's output root (holding placement/), e.g. outputs/adapt; FOLDER: where the tables go, e.g.
# results/placement/adaptation. The report (nbs/report.ipynb, section "Mask stabilisers") writes them; this copies them.
set -euo pipefail
out=${1:?usage: collect.sh OUT FOLDER}; here=${2:?usage: collect.sh OUT FOLDER}
cd "$(dirname "$0")/../.."
mkdir -p "$here"
papermill nbs/report.ipynb "$out/report.ipynb" -p experiment_dir "$out" -p fig4_images 0 --log-level WARNING
cp "$out/report/stabilisers.md" "$here/table.md"
cp "$out/report/stabilisers_vs_vp.md" "$here/vs_vp.md"
cp "$out/report/stabilisers_on_rate.png" "$here/on_rate.png"
cp "$out/report/runs.csv" "$here/runs.csv"
for f in cells paired; do   # the tidy statistics, where the report wrote them
    if [ -f "$out/report/stabilisers_$f.csv" ]; then cp "$out/report/stabilisers_$f.csv" "$here/$f.csv"; fi
done
