"""Table 2 in the adaptation regime at every prompt size: VP against AdaViPro (`noise_free` mask recipe).

The runs come from the library's own sweep; the cpu preset records the adaptation budget for the family
`cifar10+frequency` (`PRESETS["cpu"]["family"]`: 64 px, 1,000 training, 100 validation and 200 test images per
class, 3 epochs of batch 64, the prompt trained by Adam at 0.003), so no budget parameter is passed:

    adavipro-sweep table2 --preset cpu --out outputs/adaptation -p datasets cifar10 -p label_mapping frequency \
        -p mask_recipe noise_free -p seeds 0,1,2 --jobs 2
    python results/adaptation/table2_sizes.py     # writes table2_sizes.md and table2_sizes.csv here

`--lr 0.01` tabulates the runs of `table2_hurt.py` instead (the prompt trained by Adam at 0.01, where the full-image
prompt hurts VP) into table2_sizes_lr0.01.md/.csv; `--calibrated` those with a temperature-scaled head
(`calibrate_head=True`) into *_cal.md/.csv; `--no-target` and `--warmup 1` select AdaViPro runs of `noise_free` without
its target rate and with a mask warm-up (`calibrated_table2.py`).

The p = 32 runs of seeds 0–4 are `table2_slice.py`'s (the same runs: the sweep skips them). Differences are paired
by seed; the unprompted model is one run (deterministic), `outputs/adaptation/b64n1000/none-s0`.
"""
import argparse
import json
from pathlib import Path

import pandas as pd

from adavipro.results import average_difference, collect_runs, mean_interval, newest_runs, paired_difference, seed_differences, summarise

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "outputs" / "adaptation" / "table2"
UNPROMPTED = ROOT / "outputs" / "adaptation" / "b64n1000" / "none-s0" / "metrics.json"
HERE = Path(__file__).resolve().parent


def pm(r, scale=100) -> str:
    "mean ± half-width of the 95 % t-interval, with n."
    if r["n"] < 2: return f"{r['mean'] * scale:.1f} (n={r['n']})"
    return f"{r['mean'] * scale:.1f} ± {(r['hi'] - r['mean']) * scale:.1f} (n={r['n']})"


def main(lr:float=0.003, calibrated:bool=False, no_target:bool=False, warmup:int=0):
    df = newest_runs(collect_runs(RUNS))
    cal = df["calibrate_head"].fillna(False).astype(bool) if "calibrate_head" in df else pd.Series(False, index=df.index)
    df = df[(df.dataset_name == "cifar10+frequency") & df.method.isin(["vp", "adavipro"]) & df.lr_prompt.eq(lr)
            & cal.eq(calibrated)]
    # AdaViPro's `noise_free` recipe with its target rate (λ = 2) or without it (λ = 0), with `warmup` epochs of mask warm-up
    df = df[(df.method != "adavipro") | (df.target_weight.astype(float).eq(0.0 if no_target else 2.0)
                                         & df.mask_warmup_epochs.astype(float).eq(warmup))]
    stem = ("table2_sizes" if lr == 0.003 else f"table2_sizes_lr{lr:g}") + ("_cal" if calibrated else "") \
        + ("_notarget" if no_target else "") + (f"_warm{warmup}" if warmup else "")
    unprompted = json.loads(UNPROMPTED.read_text())["test_acc"]
    acc = summarise(df, ["prompt_size", "method"]).set_index(["prompt_size", "method"])
    diff = paired_difference(df, ["prompt_size"]).set_index("prompt_size")
    rows, lines = [], []
    for p in sorted(df.prompt_size.unique()):
        vp = df[(df.prompt_size == p) & (df.method == "vp")]
        ada = df[(df.prompt_size == p) & (df.method == "adavipro")]
        gain = mean_interval(vp.test_acc - unprompted)
        d = diff.loc[p]
        on = ada["test_eval_on_rate"].dropna()
        spread = ada["test_eval_spread"].dropna()
        rows.append(dict(prompt_size=int(p), vp_mean=acc.loc[(p, "vp"), "mean"], vp_n=int(acc.loc[(p, "vp"), "n"]),
                         adavipro_mean=acc.loc[(p, "adavipro"), "mean"] if (p, "adavipro") in acc.index else None,
                         diff_mean=d["mean"], diff_lo=d["lo"], diff_hi=d["hi"], diff_n=int(d["n"]), verdict=d["verdict"],
                         vp_minus_unprompted=gain["mean"], vp_minus_unprompted_lo=gain["lo"],
                         vp_minus_unprompted_hi=gain["hi"], on_rate_min=on.min() if len(on) else None,
                         on_rate_max=on.max() if len(on) else None, spread_max=spread.max() if len(spread) else None))
        ada_cell = pm(acc.loc[(p, "adavipro")]) if (p, "adavipro") in acc.index else "–"
        dd = "–" if d["n"] < 2 else f"{d['mean'] * 100:+.1f} ± {(d['hi'] - d['mean']) * 100:.1f}: {d['verdict']}"
        lines.append(f"| {int(p)} | {pm(acc.loc[(p, 'vp')])} | {pm(gain)} | {ada_cell} | {dd} | "
                     + (f"{on.min() * 100:.0f}–{on.max() * 100:.0f} % | {spread.max() * 100:.0f} %" if len(on) else "– | –") + " |")
    a = average_difference(seed_differences(df, ["prompt_size"]), ["prompt_size"])   # over the seeds every size has
    head = [f"Prompt trained by Adam at {lr:g}" + (", head calibrated (`calibrate_head`)" if calibrated else "") + f". Unprompted (frequency mapping, deterministic): {unprompted * 100:.2f} % "
            "on the 2,000 test images.", "",
            f"| p (at 64 px) | VP test acc. (%) | VP − unprompted (points) | AdaViPro `noise_free`{', no target rate' if no_target else ''}{f', mask warm-up {warmup}' if warmup else ''} (%) | AdaViPro − VP, paired (points) | mask on-rate (test) | spread, max |",
            "|---|---|---|---|---|---|---|"]
    tail = ["", f"Average of AdaViPro − VP over the sizes both methods ran, per seed that has them all: {pm(a)} points."]
    (HERE / f"{stem}.md").write_text("\n".join(head + lines + tail) + "\n")
    pd.DataFrame(rows).to_csv(HERE / f"{stem}.csv", index=False)
    print("\n".join(head + lines + tail))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lr", type=float, default=0.003, help="the prompt's Adam learning rate (default 0.003)")
    ap.add_argument("--calibrated", action="store_true", help="the runs with calibrate_head=True (written to *_cal.md/.csv)")
    ap.add_argument("--no-target", action="store_true", help="AdaViPro without noise_free's target rate (λ = 0; *_notarget.md/.csv)")
    ap.add_argument("--warmup", type=int, default=0, help="AdaViPro with this many epochs of mask warm-up (*_warmN.md/.csv)")
    a = ap.parse_args()
    main(a.lr, a.calibrated, a.no_target, a.warmup)
