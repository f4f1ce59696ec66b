"""Probes of *why* AdaViPro's mask does not learn where (results/placement/README.md, "Probes").

Each probe is one run of the library's own training loop (`adavipro.training.fit`) from the stabilisers
experiment's placement configuration (112 px, p = 56, R = 16, 8 epochs, batch 64, 130/20/100 images per class),
with the overrides below. Some probes swap AdaViPro's training-time sampler, as they ran (the paper's hard
straight-through Gumbel-Softmax is the library's default; `straight_through` is the library's
`mask_sampler='straight_through'` function, added after these runs with the code they ran; `soft` exists only here):
- `soft`: the Gumbel-Softmax *soft* sample sigmoid((l1 - l0 + g1 - g0)/tau) as the training mask (eq. 7 read as
  the forward mask);
- `straight_through`: no Gumbel noise, the hard decision (l1 > l0) forward and sigmoid((l1 - l0)/tau)'s gradient.

    python results/placement/probe.py                # every probe not yet finished, one after the other
    python results/placement/probe.py vp_lr4 oracle_lr4
    python results/placement/probe.py --collect      # writes results/placement/probe_runs.csv and probe_summary.md

Runs go to outputs/placement-probe/<name>/ (a finished run is skipped)."""
import json, sys
from dataclasses import asdict
from pathlib import Path
import pandas as pd, torch
import adavipro.adaptive as adaptive
from adavipro.mask import straight_through_region_mask
from adavipro.training import TrainConfig, fit

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "outputs" / "placement-probe"
CIFAR = f"placement:imagefolder:{ROOT / 'data' / 'cifar10-jpeg'}"   # adavipro.sweeps.ensure_cifar10_folder unpacks it
BASE = dict(dataset="placement:digits", backbone="efficientnet_lite0", image_size=112, prompt_size=56, region_size=16,
            epochs=8, batch_size=64, train_per_class=130, val_per_class=20, test_per_class=100, init="zeros",
            label_mapping="first", lr_prompt=40.0, mask_recipe="paper")
STABLE = dict(mask_recipe="stable", policy_norm="area", mask_optimizer="adamw", mask_init_on=0.85, lr_mask=0.03, tau_min=1.0)
ADAPT = dict(dataset=CIFAR, label_mapping="frequency", lr_prompt=0.5)

def _probes() -> dict[str, tuple[str, dict]]:
    "name -> (sampler, overrides of BASE)"
    p = {}
    p["softA"] = ("soft", dict(method="adavipro", gamma=0.67))                   # tau 5 -> 0.2 over the 8 epochs
    for s in (0, 1, 2):
        sfx = "" if s == 0 else f"_s{s}"
        p[f"vp_lr4{sfx}"] = ("gumbel", dict(method="vp", lr_prompt=4.0, seed=s))
        p[f"oracle_lr4{sfx}"] = ("gumbel", dict(method="oracle", lr_prompt=4.0, seed=s))
    p["ada_lr4"] = ("gumbel", dict(method="adavipro", lr_prompt=4.0))            # stopped after epoch 5 (all-off)
    p["ada_lr4_stable_rho"] = ("gumbel", dict(method="adavipro", lr_prompt=4.0, **STABLE, target_rate=0.75, target_weight=2.0))
    p["noise08"] = ("gumbel", dict(method="adavipro", lr_prompt=4.0, **{**STABLE, "mask_init_on": 0.8, "lr_mask": 1e-9}))
    p["det_rho"] = ("straight_through", dict(method="adavipro", lr_prompt=4.0,
                                             **{**STABLE, "mask_init_on": 0.95}, target_rate=0.75, target_weight=2.0))
    p["c_ada_paper"] = ("gumbel", dict(method="adavipro", **ADAPT))
    for s in (0, 1, 2):
        sfx = "" if s == 0 else f"_s{s}"
        p[f"cvp_lr05{sfx}"] = ("gumbel", dict(method="vp", **ADAPT, seed=s))
        p[f"coracle_lr05{sfx}"] = ("gumbel", dict(method="oracle", **ADAPT, seed=s))
        p[f"c_ada_det{sfx}"] = ("straight_through", dict(method="adavipro", **ADAPT, **{**STABLE, "mask_init_on": 0.95, "lr_mask": 0.01},
                                                       target_rate=0.75, target_weight=2.0, seed=s))
    return p

def soft_sample(logits, tau, training):
    if not training: return (logits[:, 1:2] > logits[:, 0:1]).to(logits.dtype)
    g = -torch.empty_like(logits).exponential_().log()
    return ((logits[:, 1:2] + g[:, 1:2] - logits[:, 0:1] - g[:, 0:1]) / tau).sigmoid()

def run(name:str):
    sampler, over = _probes()[name]
    if (OUT / name / "metrics.json").exists(): return
    # the runs used the default sampler name ('gumbel') with the sampler swapped in, so their configs stay as they ran
    paper_sampler = adaptive.MASK_SAMPLERS["gumbel"]
    adaptive.MASK_SAMPLERS["gumbel"] = dict(gumbel=paper_sampler, soft=soft_sample, straight_through=straight_through_region_mask)[sampler]
    try: fit(TrainConfig(**{**BASE, **over, "out_dir": str(OUT / name)}), progress=False)
    finally: adaptive.MASK_SAMPLERS["gumbel"] = paper_sampler

def collect() -> pd.DataFrame:
    rows = []
    for name, (sampler, over) in _probes().items():
        d = OUT / name
        if not (d / "history.csv").exists(): continue
        h, c = pd.read_csv(d / "history.csv"), json.loads((d / "config.json").read_text())
        # a probe stopped early (its course was clear) has no metrics.json: its last epoch's validation figures stand in
        m = json.loads((d / "metrics.json").read_text()) if (d / "metrics.json").exists() else \
            dict(val_acc=h.val_acc.max(), test_acc=float("nan"), unprompted_test_acc=float("nan"),
                 **{"test_" + k: h[k].iloc[-1] for k in h.columns if k.startswith("eval_")})
        rows.append(dict(run=name, sampler=sampler if c["method"] == "adavipro" else "", method=c["method"],
                         dataset=c["dataset"].replace(str(ROOT) + "/", ""), label_mapping=c["label_mapping"],
                         lr_prompt=c["lr_prompt"], seed=c["seed"], epochs_run=len(h), finished=(d / "metrics.json").exists(),
                         **{k: c[k] for k in ("policy_norm", "mask_init_on", "mask_optimizer", "lr_mask", "target_rate", "gamma")},
                         val_acc=m["val_acc"], test_acc=m["test_acc"], unprompted_test_acc=m["unprompted_test_acc"],
                         final_train_acc=h.train_acc.iloc[-1],
                         **{k: v for k, v in m.items() if k.startswith("test_eval_")}))
    return pd.DataFrame(rows)

def _mean_ci(x) -> str:
    "mean ± half-width of the 95 % t-interval (n), in percent"
    from scipy import stats
    import numpy as np
    x = np.asarray(x, dtype=float) * 100
    if len(x) < 2: return f"{x.mean():.1f} (n=1)"
    h = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / len(x) ** 0.5
    return f"{x.mean():.1f} ± {h:.1f} (n={len(x)})"

def summary(df:pd.DataFrame) -> str:
    "Markdown: finished probes grouped by setting and method (seeds pooled); stopped probes are left out."
    df = df[df.finished].copy()
    df["setting"] = df.dataset.str.replace(r"placement:imagefolder:.*", "placement:CIFAR-10", regex=True) + \
                    ", " + df.label_mapping + " mapping, lr " + df.lr_prompt.astype(str)
    df["variant"] = df.run.str.replace(r"_s\d$", "", regex=True)
    lines = ["| setting | probe | method (sampler) | test acc. % | unprompted % | − VP, paired % | mask on-rate | object regions off | oracle agreement | oracle-balanced agreement |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (setting, variant), g in df.groupby(["setting", "variant"], sort=False):
        vp = df[(df.setting == setting) & (df.method == "vp")].set_index("seed").test_acc
        paired = g.set_index("seed").test_acc.sub(vp).dropna()
        d = "" if g.method.iloc[0] == "vp" or paired.empty else _mean_ci(paired.values)
        diag = lambda k: f"{g[k].mean() * 100:.0f} %" if k in g and g[k].notna().any() else ""
        lines.append(f"| {setting} | `{variant}` | {g.method.iloc[0]} {('(' + g.sampler.iloc[0] + ')') if g.sampler.iloc[0] else ''} | "
                     f"{_mean_ci(g.test_acc.values)} | {g.unprompted_test_acc.mean() * 100:.1f} | {d} | "
                     f"{diag('test_eval_on_rate')} | {diag('test_eval_object_off')} | {diag('test_eval_oracle_agreement')} | "
                     f"{diag('test_eval_oracle_balanced')} |")
    return "\n".join(lines) + "\n"

if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["--collect"]:
        df = collect(); df.to_csv(Path(__file__).with_name("probe_runs.csv"), index=False, float_format="%.4f")
        Path(__file__).with_name("probe_summary.md").write_text(summary(df))
        print(summary(df))
    else:
        for n in args or list(_probes()): run(n)
