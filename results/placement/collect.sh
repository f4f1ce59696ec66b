#!/usr/bin/env bash
# Rebuild one folder of placement tables from a sweep's runs (results/placement/README.md):
#   bash results/placement/collect.sh OUT FOLDER
# OUT: the sweep's output root (holding stabilisers/ and placement/), e.g. outputs/adapt; FOLDER: where the tables go,
# e.g. results/placement/adaptation. The report (nbs/report.ipynb) writes them; this copies them.
#   adaptation:     bash results/placement/collect.sh outputs/adapt results/placement/adaptation
#   reprogramming:  bash results/placement/collect.sh outputs/digits40 results/placement/reprogramming
set -euo pipefail
out=${1:?usage: collect.sh OUT FOLDER}; here=${2:?usage: collect.sh OUT FOLDER}
cd "$(dirname "$0")/../.."
papermill nbs/report.ipynb "$out/report.ipynb" -p experiment_dir "$out" -p fig4_images 0 --log-level WARNING
cp "$out/report/stabilisers.md" "$here/table.md"
cp "$out/report/stabilisers_vs_vp.md" "$here/vs_vp.md"
cp "$out/report/stabilisers_on_rate.png" "$here/on_rate.png"
cp "$out/report/runs.csv" "$here/runs.csv"
