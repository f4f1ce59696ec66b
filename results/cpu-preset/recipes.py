"""Table 2 of the cpu study with a second mask recipe: which one does validation recommend, and does it beat VP?

The study's Table 2 runs AdaViPro with the paper's recipe (`mask_recipe='paper'`: Gumbel-Softmax, the policy conv's
plain sum, SGD with the prompt). Issue 14 asks for one recommended recipe, chosen on validation accuracy, run over
the same Table 2 (5 seeds, both regimes) beside the paper's. The candidate is `noise_free` (`config.MASK_RECIPES`:
no Gumbel noise, regions starting 95 % on, the generator's own AdamW at 0.01, a target rate of 0.75), the only
recipe whose mask has learned *where* in this project (82 % oracle agreement on placement:<CIFAR-10>,
results/placement/README.md). It was chosen in probes on other data (placement, the calibrated adaptation budget
of results/adaptation/), so this table is data it was not tuned on.

    python results/cpu-preset/recipes.py [--dry-run]  # AdaViPro noise_free's 50 Table 2 runs into outputs/cpu-recipes/table2
    python results/cpu-preset/recipes.py --collect     # recipes.md and recipes.csv here

The runs are the library's own: `plan_experiment("table2", "cpu", {"mask_recipe": "noise_free"})`, AdaViPro only
(a mask parameter does not reach VP, so its runs are the study's). `--collect` pairs them by seed with the study's VP
and paper-recipe runs (outputs/cpu-study/table2, restored from records/ by `records.py restore`). The recipe is
chosen on the mean validation accuracy over every Table 2 cell; test accuracy is only reported.
"""
import sys
from pathlib import Path

import pandas as pd

from adavipro.results import average_difference, collect_runs, mean_interval, newest_runs, paired_difference, seed_differences
from adavipro.sweeps import plan_experiment, run_configs, scale_size

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STUDY = ROOT / "outputs" / "cpu-study" / "table2"
OUT = ROOT / "outputs" / "cpu-recipes" / "table2"
RECIPE = "noise_free"
PAPER_P = {scale_size(p, 64): p for p in (5, 30, 60, 90, 112)}   # Table 2's prompt widths at 64 px -> the paper's at 224 px
REGIMES = {"digits": "reprogramming (digits, first-C)", "cifar10+frequency": "adaptation (CIFAR-10, frequency)"}


def plan() -> dict[str, dict]:
    "AdaViPro with RECIPE over Table 2's grid (both regimes, 5 sizes, seeds 0-4): the library's plan."
    return {n: p for n, p in plan_experiment("table2", "cpu", dict(mask_recipe=RECIPE)).items() if p["method"] == "adavipro"}


def runs() -> pd.DataFrame:
    "The study's VP and paper-recipe runs and RECIPE's, one row per run, with `arm` (vp, paper, RECIPE) and `regime`."
    df = pd.concat([newest_runs(collect_runs(STUDY)), newest_runs(collect_runs(OUT))], ignore_index=True)
    df = df[df.method.isin(["vp", "adavipro"])].copy()
    df["arm"] = [("vp" if m == "vp" else r) for m, r in zip(df.method, df.mask_recipe)]
    df["regime"] = [("cifar10+frequency" if lm == "frequency" else "digits") for lm in df.label_mapping]
    return df


def collect():
    df = runs()
    pc = lambda x: f"{x * 100:.1f}"
    pm = lambda m, lo, hi: f"{m * 100:+.1f} ± {(hi - m) * 100:.1f}"
    # the choice: mean validation accuracy over every Table 2 cell, per recipe (never test)
    val = {arm: mean_interval(g.groupby(["regime", "prompt_size"]).val_acc.mean()) for arm, g in df[df.arm != "vp"].groupby("arm")}
    chosen = max(val, key=lambda a: val[a]["mean"])
    ada = df[df.arm != "vp"]   # the two recipes' validation accuracy paired by seed, averaged over the cells
    vd = average_difference(seed_differences(ada, ["regime", "prompt_size"], method_col="arm", a=RECIPE, b="paper",
                                             value="val_acc"), ["regime", "prompt_size"], a=RECIPE, b="paper")
    rows = []
    for arm in ("paper", RECIPE):
        sub = df[df.arm.isin(["vp", arm])].assign(method=lambda d: d.arm.where(d.arm == "vp", "adavipro"))
        d = paired_difference(sub, ["regime", "prompt_size"])
        for r in d.itertuples():
            g = sub[(sub.regime == r.regime) & (sub.prompt_size == r.prompt_size)]
            rates = g[g.method == "adavipro"].test_eval_on_rate.dropna()
            rows.append(dict(regime=r.regime, prompt_size=int(r.prompt_size), recipe=arm, n=r.n, vp=r.b_mean, adavipro=r.a_mean,
                             adavipro_val=g[g.method == "adavipro"].val_acc.mean(), vp_val=g[g.method == "vp"].val_acc.mean(),
                             diff=r.mean, lo=r.lo, hi=r.hi, verdict=r.verdict,
                             all_on=int((rates >= 1).sum()), all_off=int((rates <= 0).sum()),
                             on_rate_median=rates.median()))
        for reg in REGIMES:
            a = average_difference(seed_differences(sub[sub.regime == reg], ["prompt_size"]), ["prompt_size"])
            rows.append(dict(regime=reg, prompt_size="average", recipe=arm, n=a["n"], diff=a["mean"], lo=a["lo"], hi=a["hi"],
                             verdict=a["verdict"]))
    t = pd.DataFrame(rows)
    t.to_csv(HERE / "recipes.csv", index=False)
    lines = ["Table 2 of the cpu study (test accuracy, %, mean over 5 seeds) with the paper's mask recipe and with "
             f"`{RECIPE}`; AdaViPro − VP paired by seed, mean ± 95 % interval (points). All-on / all-off: runs whose "
             "argmax mask on the test images is on in every region / in none.", "",
             "**The choice, on validation** (mean validation accuracy of AdaViPro over the 10 cells, ± 95 % interval over cells): "
             + "; ".join(f"`{a}` {pc(v['mean'])} ± {pc(v['hi'] - v['mean'])} %" for a, v in val.items())
             + f" → **`{chosen}`**. Paired by seed, `{RECIPE}` − `paper`: {pm(vd['mean'], vd['lo'], vd['hi'])} points "
             f"(n = {vd['n']}; {vd['verdict']}).", ""]
    for reg, label in REGIMES.items():
        lines += [f"**{label}**", "", "| p at 224 (px at 64) | VP | AdaViPro `paper` | − VP | all-on / off | "
                  f"AdaViPro `{RECIPE}` | − VP | all-on / off | on-rate (median) |", "|---|---|---|---|---|---|---|---|---|"]
        part = t[t.regime == reg]
        for p in [x for x in part.prompt_size.unique() if x != "average"]:
            a = part[(part.prompt_size == p) & (part.recipe == "paper")].iloc[0]
            b = part[(part.prompt_size == p) & (part.recipe == RECIPE)]
            b = b.iloc[0] if len(b) else None
            cell = lambda r: (f"{pc(r.adavipro)} | {pm(r['diff'], r.lo, r.hi)} ({r.verdict}) | {r.all_on:.0f} / {r.all_off:.0f}"
                              if r is not None else "– | – | –")
            lines.append(f"| {PAPER_P[int(p)]} ({p}) | {pc(a.vp)} | {cell(a)} | {cell(b)} | "
                         f"{'' if b is None else f'{b.on_rate_median * 100:.0f} %'} |")
        av = {r.recipe: r for r in part[part.prompt_size == "average"].itertuples()}
        lines += [f"| average | | | {pm(av['paper'].diff, av['paper'].lo, av['paper'].hi)} (n = {av['paper'].n}) | | | "
                  + (f"{pm(av[RECIPE].diff, av[RECIPE].lo, av[RECIPE].hi)} (n = {av[RECIPE].n}) | | |" if RECIPE in av else "– | | |"), ""]
    (HERE / "recipes.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    if "--collect" in sys.argv: collect(); raise SystemExit
    df = run_configs(plan(), OUT, jobs=2, dry_run="--dry-run" in sys.argv, progress=False)
    print(df[["run", "status", "test_acc", "time_s", "error"]].to_string(), flush=True)
