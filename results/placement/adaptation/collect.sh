#!/usr/bin/env bash
# Rebuild this folder's tables from the runs (results/placement/README.md, "The adaptation regime"):
#   the runs:   see README (adavipro-sweep stabilisers / placement ... --out outputs/adapt)
#   the tables: bash results/placement/adaptation/collect.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
papermill nbs/report.ipynb outputs/adapt/report.ipynb -p experiment_dir outputs/adapt -p fig4_images 0 --log-level WARNING
here=results/placement/adaptation
cp outputs/adapt/report/stabilisers.md "$here/table.md"
cp outputs/adapt/report/stabilisers_vs_vp.md "$here/vs_vp.md"
cp outputs/adapt/report/stabilisers_on_rate.png "$here/on_rate.png"
cp outputs/adapt/report/runs.csv "$here/runs.csv"
