"""Does a slow mask generator keep AdaViPro level with VP? The calibrated adaptation regime at the study's budget.

`calibrated_table2.py` found that the epoch in which the mask starts learning costs 12.5 ± 5.2 validation points
against VP from the same template: the mask's gradient walks regions off although the prompt there helps. The
prediction it left: with a mask learning rate small enough, the mask stays on and AdaViPro becomes VP (no gain, no
loss). This runs that test at the cpu preset's adaptation budget (`sweeps.ADAPTATION_BUDGET`: CIFAR-10, frequency
mapping, calibrated head, 64 px, 250 training images per class, 3 epochs, the prompt trained by Adam at 0.1), at the
two largest prompts of Table 2 (p = 26 and 32 at 64 px: the paper's 90 and 112), seeds 0-4, through the library's
`table2` plan:

- VP;
- AdaViPro, `noise_free` without its target rate (the mask starts 95 % on and nothing asks it to switch off) with
  the mask generator's AdamW at `lr_mask` 0.01 (the recipe's), 0.003 and 0.001 (ten times slower).

    python results/adaptation/mask_lr.py            # runs into outputs/adaptation/mask_lr (resumes; --dry-run lists)
    python results/adaptation/mask_lr.py --lr 0.003 # one rate's runs only
                                                    # (this session ran them in lrm0.01/ and lrm0.001/ subfolders,
                                                    # before run names showed lr_mask; --collect reads both)
    python results/adaptation/mask_lr.py --collect  # mask_lr.md and mask_lr.csv here
"""
import sys
from pathlib import Path

import pandas as pd

from adavipro.results import collect_runs, mean_interval, newest_runs, paired_difference, summarise
from adavipro.sweeps import plan_experiment, run_configs

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "outputs" / "adaptation" / "mask_lr"
HERE = Path(__file__).resolve().parent
SIZES, SEEDS, MASK_LRS = (26, 32), [0, 1, 2, 3, 4], (0.01, 0.003, 0.001)
RECIPE = dict(mask_recipe="noise_free", target_rate=None, target_weight=0.0)


def plan(lr_mask:float) -> dict[str, dict]:
    "AdaViPro at `lr_mask` (and VP, with the first) at SIZES over SEEDS: the library's table2 runs, the largest prompt first."
    p = plan_experiment("table2", "cpu", dict(RECIPE, datasets=["cifar10+frequency"], seeds=SEEDS, lr_mask=lr_mask))
    runs = {n: q for n, q in p.items() if q["prompt_size"] in SIZES
            and (q["method"] == "adavipro" or (lr_mask == MASK_LRS[0] and q["method"] == "vp"))}
    return dict(sorted(runs.items(), key=lambda kv: (-kv[1]["prompt_size"], kv[1]["seed"], kv[1]["method"] != "vp")))


def collect():
    df = newest_runs(collect_runs(OUT))
    df = df.assign(arm=[("vp" if m == "vp" else f"adavipro, lr_mask {float(lr):g}") for m, lr in zip(df.method, df.lr_mask)])
    acc = summarise(df, ["prompt_size", "arm"], method_col="arm")
    rows, lines = [], []
    for (p, arm), g in df.groupby(["prompt_size", "arm"]):
        a = acc[(acc.prompt_size == p) & (acc.arm == arm)].iloc[0]
        row = dict(prompt_size=int(p), arm=arm, n=int(a.n), test_acc=a["mean"], lo=a.lo, hi=a.hi,
                   unprompted=g.unprompted_test_acc.iloc[0])
        if arm != "vp":
            pair = df[(df.prompt_size == p) & df.arm.isin(["vp", arm])].assign(method=lambda d: d.arm.where(d.arm == "vp", "adavipro"))
            d = paired_difference(pair, ["prompt_size"]).iloc[0]
            on = g["test_eval_on_rate"].dropna()
            row.update(diff=d["mean"], diff_lo=d.lo, diff_hi=d.hi, diff_n=int(d.n), verdict=d.verdict,
                       on_rate_min=on.min(), on_rate_max=on.max(), spread_max=g["test_eval_spread"].max())
        rows.append(row)
    t = pd.DataFrame(rows)
    t.to_csv(HERE / "mask_lr.csv", index=False)
    f = lambda x: f"{x * 100:.1f}"
    lines = [f"Unprompted (calibrated head; deterministic): {f(t.unprompted.iloc[0])} % on the 2,000 test images. "
             "Mean ± 95 % interval over seeds; differences paired by seed.", "",
             "| p (at 64 px) | arm | test acc. (%) | n | − VP, paired (points) | mask on-rate (test) | spread, max |",
             "|---|---|---|---|---|---|---|"]
    for r in t.itertuples():
        iv = f"{f(r.test_acc)} ± {f(r.hi - r.test_acc)}" if r.n > 1 else f(r.test_acc)
        d = "" if r.arm == "vp" else f"{r.diff * 100:+.1f} ± {f(r.diff_hi - r.diff)}: {r.verdict}"
        on = "" if r.arm == "vp" else f"{r.on_rate_min * 100:.0f}–{r.on_rate_max * 100:.0f} % | {r.spread_max * 100:.0f} %"
        lines.append(f"| {r.prompt_size} | {r.arm} | {iv} | {r.n} | {d} | {on or ' | '} |")
    (HERE / "mask_lr.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    if "--collect" in sys.argv: collect(); raise SystemExit
    rates = [float(sys.argv[sys.argv.index("--lr") + 1])] if "--lr" in sys.argv else MASK_LRS
    for lr in rates:
        df = run_configs(plan(lr), OUT, jobs=2, dry_run="--dry-run" in sys.argv, progress=False)
        print(df[["run", "status", "test_acc", "time_s", "error"]].to_string(), flush=True)
