"""How well the dry run's estimate (`adavipro.cost.estimate_seconds`) predicts a study's measured wall times, and the
cost coefficients that fit them.

    python bench/estimate.py                                   # results/cpu-preset/timings.csv (collect.sh writes it)
    python bench/estimate.py --timings path/to/timings.csv --preset cpu

Reads the study's runs that trained here (status `done`, wall seconds from the sweep with `--jobs 2`), recomputes each
run's estimate from its parameters (`plan_experiment`), and prints measured against estimated seconds per experiment
and per method. Then it fits the estimate's coefficients by non-negative least squares on the relative error:
seconds = fixed + train · unit · f_method · n_train · epochs + eval · unit · (n_val · (epochs + 1) + 2 · n_test)
+ eval · unit · n_train (the frequency mapping / temperature fit's pass over the training split), with
unit = backbone cost · (image_size / 112)², the linear probe's features of every split and its fit at `probe` per
image, and f_method the
training cost of AdaViPro and full fine-tuning relative to VP. Runs measured on machines of different speed (the
column machine_s: the sweep's `machine_seconds()`, a reference step) are scaled to the median of their speeds first,
which becomes `REFERENCE_MACHINE_S`. Copy the printed values into `nbs/11b_cost.ipynb` (`_COST`, `_METHOD_COST`,
`REFERENCE_MACHINE_S`) by hand: the estimate is a plain formula a reader can check."""
import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from adavipro.study import plan_experiment
from adavipro.cost import REFERENCE_MACHINE_S, cost_terms, estimate_seconds

ROOT = Path(__file__).resolve().parents[1]
TRAINED = ("vp", "adavipro", "full_finetune")   # their own training coefficient each


def features(p:dict) -> dict:
    "The columns of the fit for run parameters `p`: the library's `cost_terms`, training split per method."
    c, m = cost_terms(p), p["method"]
    f = {"fixed": 1.0, **{f"train_{k}": 0.0 for k in TRAINED}, "eval": c["eval"], "probe": c["probe"]}
    f[f"train_{m if m in TRAINED else 'vp'}"] = c["train"]
    return f


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timings", default=str(ROOT / "results" / "cpu-preset" / "timings.csv"))
    ap.add_argument("--preset", default="cpu")
    a = ap.parse_args()
    t = pd.read_csv(a.timings)
    t = t[(t.status == "done") & t.time_s.notna()].copy()
    plans = {e: plan_experiment(e, a.preset) for e in t.experiment.unique()}
    params = [plans[e][r] for e, r in zip(t.experiment, t.run)]
    t["method"] = [p["method"] for p in params]
    ms = t.machine_s if "machine_s" in t else pd.Series(np.nan, index=t.index)
    if ms.isna().any() and ms.notna().any():
        raise SystemExit(f"{ms.isna().sum()} of {len(t)} runs have no machine_s: fill it where known, or fit the others apart")
    t["estimate_s"] = [estimate_seconds(p, 1, None if pd.isna(m) else m) for p, m in zip(params, ms)]
    print(f"{len(t)} runs measured: {t.time_s.sum() / 3600:.2f} h of run time, estimate {t.estimate_s.sum() / 3600:.2f} h "
          f"(estimate / measured = {t.estimate_s.sum() / t.time_s.sum():.2f})\n")
    for by in ("experiment", "method"):
        g = t.groupby(by).agg(runs=("run", "size"), measured_s=("time_s", "sum"), estimate_s=("estimate_s", "sum"))
        print(g.assign(ratio=g.estimate_s / g.measured_s).round(2).to_string(), "\n")
    X = pd.DataFrame([features(p) for p in params])
    X = X.loc[:, (X != 0).any()]
    ref = float(ms.median()) if ms.notna().any() else REFERENCE_MACHINE_S
    y = (t.time_s * (ref / ms) if ms.notna().any() else t.time_s).to_numpy()   # every run at the reference speed
    w = 1 / y   # relative error: a short run counts as much as a long one
    coef, _ = nnls(X.to_numpy() * w[:, None], y * w)
    fit = dict(zip(X.columns, coef))
    pred = X.to_numpy() @ coef
    print(f"fitted coefficients (seconds at REFERENCE_MACHINE_S = {ref:.4f}, the median machine_s; train and eval per image "
          "at 112 px on EfficientNet-Lite0):")
    for k, v in fit.items(): print(f"  {k:22s} {v:.5f}")
    if fit.get("train_vp"):
        print("  training cost vs VP:  " + ", ".join(f"{k[6:]} {v / fit['train_vp']:.2f}" for k, v in fit.items()
                                                     if k.startswith("train_") and k != "train_vp"))
    print(f"\nwith them: predicted / measured = {pred.sum() / y.sum():.3f} in total; per run, median |error| "
          f"{np.median(np.abs(pred / y - 1)):.1%}, largest {np.max(np.abs(pred / y - 1)):.1%}")


if __name__ == "__main__":
    main()
