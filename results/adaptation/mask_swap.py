"""Does AdaViPro's learned mask carry information about *where*? Each AdaViPro run's own template, re-evaluated on
its test images under three masks, without retraining:

- **learned**: the run's argmax region mask (eval mode, as the run was tested; reproduces its test accuracy, checked);
- **all on**: the template as VP would use it (the full prompt);
- **shuffled**: the learned masks handed to other test images (a fixed permutation of the images): the same masks
  and on-rates, but each image gets another image's placement. If learned ≈ shuffled, the mask's image dependence
  is worth nothing to accuracy: it has not learnt where.

Paired by run (same template, same 2,000 test images). The frozen backbone, frequency mapping and calibrated head
are built once per head (they do not depend on the prompt).

    python results/adaptation/mask_swap.py      # every AdaViPro run in outputs/adaptation/table2: mask_swap.md/.csv

Differences are mean ± half-width of the 95 % t-interval over seeds (points of test accuracy)."""
import json
from dataclasses import asdict, fields, replace
from pathlib import Path

import pandas as pd
import torch

from adavipro.adaptive import add_masked_prompt
from adavipro.config import TrainConfig
from adavipro.data import iterate_batches
from adavipro.model import create_method
from adavipro.results import collect_runs, fmt_cell, mean_interval, newest_runs
from adavipro.training import build_run

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "outputs" / "adaptation" / "table2"
HERE = Path(__file__).resolve().parent
SHUFFLE_SEED = 0


def config(run_dir:Path) -> TrainConfig:
    m = json.loads((run_dir / "metrics.json").read_text())
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in m["config"].items() if k in names} | dict(device="cpu"))


@torch.no_grad()
def swap_accuracies(model, prompter, test) -> dict[str, float]:
    "Test accuracy of `prompter`'s template under its learned, all-on and shuffled masks."
    P, R, idx = prompter.template.prompt(), prompter.region_size, prompter.prompted_regions
    xs, ys, ms = [], [], []
    for images, labels in iterate_batches(test, 500, shuffle=False):
        x = model.preprocess(images)
        xs.append(x); ys.append(labels); ms.append(prompter.region_mask(x, idx))   # (B,1,h,w), the run's decisions
    x, y, m = torch.cat(xs), torch.cat(ys), torch.cat(ms)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(SHUFFLE_SEED))
    masks = dict(learned=m, all_on=torch.ones_like(m), shuffled=m[perm])
    acc = {}
    for name, mm in masks.items():
        right = sum((model.head(model.backbone(add_masked_prompt(x[i:i + 500], P, mm[i:i + 500], R))).argmax(1)
                     == y[i:i + 500]).sum().item() for i in range(0, len(x), 500))
        acc[name] = right / len(x)
    return acc


def main():
    df = newest_runs(collect_runs(RUNS))
    df = df[(df.dataset_name == "cifar10+frequency") & (df.method == "adavipro")].copy()
    df["calibrate_head"] = df["calibrate_head"].fillna(False).astype(bool) if "calibrate_head" in df else False
    df = df[[(Path(p) / "best.pt").is_file() for p in df.run_dir]]
    rows = []
    for cal, runs in df.groupby("calibrate_head"):
        first = config(Path(runs.run_dir.iloc[0]))
        model, data = build_run(replace(first, data_root=str(ROOT / "data"), method="vp"))   # backbone, head, data
        model.eval()
        for r in runs.sort_values(["lr_prompt", "prompt_size", "seed"]).itertuples():
            cfg = config(Path(r.run_dir))
            prompter = create_method(cfg.method, **asdict(cfg)).eval()
            ck = torch.load(Path(r.run_dir) / "best.pt", map_location="cpu", weights_only=False)
            prompter.load_state_dict(ck["prompter"])
            acc = swap_accuracies(model, prompter, data.test)
            if abs(acc["learned"] - r.test_acc) > 1e-9:
                raise SystemExit(f"{r.run}: the learned mask scores {acc['learned']:.4f}, the run {r.test_acc:.4f}")
            rows.append(dict(run=r.run, head="calibrated" if cal else "mapped", lr_prompt=r.lr_prompt,
                             prompt_size=r.prompt_size, seed=r.seed, target_weight=r.target_weight,
                             mask_warmup_epochs=r.mask_warmup_epochs,
                             on_rate=r.test_eval_on_rate, **{f"acc_{k}": v for k, v in acc.items()}))
            print(rows[-1], flush=True)
    res = pd.DataFrame(rows)
    res.to_csv(HERE / "mask_swap.csv", index=False)
    pm = lambda s: (lambda i: fmt_cell(i["mean"], i["lo"], i["hi"], signed=True))(mean_interval(s))
    lines = ["| head | prompt Adam lr | target λ | mask warm-up (epochs) | p (at 64 px) | n | learned mask, test (%) | learned − all on (points) | learned − shuffled (points) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (head, lr, lam, warm, p), g in res.groupby(["head", "lr_prompt", "target_weight", "mask_warmup_epochs", "prompt_size"], sort=False):
        lines.append(f"| {head} | {lr:g} | {lam:g} | {warm:g} | {p} | {len(g)} | {g.acc_learned.mean() * 100:.1f} | "
                     f"{pm(g.acc_learned - g.acc_all_on)} | {pm(g.acc_learned - g.acc_shuffled)} |")
    (HERE / "mask_swap.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
