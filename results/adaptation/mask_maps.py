"""Where does AdaViPro's mask put the prompt on CIFAR-10 in the adaptation regime? Its argmax decisions (eval mode)
over the 2,000 test images, per region, for every finished AdaViPro run of Table 2 (`table2_sizes.py`'s runs at
Adam 0.003 and `table2_hurt.py`'s at 0.01).

CIFAR-10's objects sit mostly in the middle of the frame, so a mask that learned *where* should switch the prompt
off there first. Per run: the share of reached regions switched on, over all of them, over the middle 4 × 4 regions
(the central half of the 64 px image, 32 px wide) and over the outer ring; and the spread, how much the decisions
depend on the image (`MaskStats`'s `eval_spread`: the mean over regions of 4q(1 − q), q the region's on-share
across images; 0 = the same mask for every image, 1 = a coin flip per image). Means ± 95 % t-intervals over seeds.
The on-rate and spread equal those the run logged (`test_eval_on_rate`, `test_eval_spread` in metrics.json).

    python results/adaptation/mask_maps.py                     # mask_maps.csv, .md and .png here: the test checkpoints
    python results/adaptation/mask_maps.py --checkpoint last   # mask_maps_last.*: the masks at the end of training

The runs' test checkpoint is `best.pt` (the best validation epoch); `last.pt` holds the last epoch's state, where
the mask has trained longest. The head column tells the runs with a temperature-scaled head (`calibrate_head`) apart.

Only the mask generator runs (edges → F_c → F_p, the backbone is not needed): about a second per run."""
import json
from dataclasses import asdict, fields
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from adavipro.config import TrainConfig
from adavipro.data import get_dataset, iterate_batches
from adavipro.model import Preprocess, create_method
from adavipro.results import collect_runs, mean_interval, newest_runs

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "outputs" / "adaptation" / "table2"
HERE = Path(__file__).resolve().parent
MEAN = STD = (0.5, 0.5, 0.5)   # EfficientNet-Lite0's normalisation (the cpu preset's backbone)


def config(run_dir:Path) -> TrainConfig:
    m = json.loads((run_dir / "metrics.json").read_text())
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in m["config"].items() if k in names} | dict(device="cpu"))


@torch.no_grad()
def decisions(run_dir:Path, test, cfg:TrainConfig, checkpoint:str="best") -> tuple[np.ndarray, np.ndarray]:
    "The checkpoint's argmax decisions on `test`: (N, S/R, S/R) in {0, 1}, and the reached regions (S/R, S/R) bool."
    prompter = create_method(cfg.method, **asdict(cfg)).eval()
    prompter.load_state_dict(torch.load(run_dir / f"{checkpoint}.pt", map_location="cpu", weights_only=False)["prompter"])
    pre = Preprocess(cfg.image_size, MEAN, STD, "bilinear")
    out = [prompter.region_mask(pre(x), prompter.prompted_regions)[:, 0]
           for x, _ in iterate_batches(test, 500, shuffle=False)]
    g = cfg.image_size // cfg.region_size
    reached = np.zeros(g * g, bool)
    reached[slice(None) if prompter.prompted_regions is None else prompter.prompted_regions.numpy()] = True
    return torch.cat(out).numpy(), reached.reshape(g, g)


def main(checkpoint:str="best"):
    stem = "mask_maps" if checkpoint == "best" else f"mask_maps_{checkpoint}"
    df = newest_runs(collect_runs(RUNS))
    df = df[(df.dataset_name == "cifar10+frequency") & (df.method == "adavipro")].copy()
    df["head"] = (df["calibrate_head"].fillna(False).astype(bool) if "calibrate_head" in df else False).map({False: "mapped", True: "calibrated"})
    df = df[[(Path(p) / f"{checkpoint}.pt").is_file() for p in df.run_dir]].sort_values(["head", "lr_prompt", "prompt_size", "seed"], ascending=[False, True, True, True])
    first = config(Path(df.run_dir.iloc[0]))
    test = get_dataset(first.dataset, data_root=ROOT / "data", image_size=first.image_size,
                       train_per_class=1, val_per_class=1, test_per_class=first.test_per_class,
                       seed=first.split_seed).test
    rows, maps = [], {}
    for r in df.itertuples():
        cfg = config(Path(r.run_dir))
        d, reached = decisions(Path(r.run_dir), test, cfg, checkpoint)
        g = d.shape[-1]
        middle = np.zeros((g, g), bool); middle[g // 4:g - g // 4, g // 4:g - g // 4] = True
        on = d.mean(0)
        rows.append(dict(head=r.head, lr_prompt=r.lr_prompt, prompt_size=r.prompt_size, seed=r.seed, test_acc=r.test_acc,
                         on_rate=on[reached].mean(),
                         on_middle=on[reached & middle].mean() if (reached & middle).any() else np.nan,
                         on_ring=on[reached & ~middle].mean(),
                         spread=(4 * on * (1 - on))[reached].mean()))
        maps.setdefault((f"Adam {r.lr_prompt:g}" + (", calibrated head" if r.head == "calibrated" else ""), r.prompt_size), []).append(np.where(reached, on, np.nan))
    res = pd.DataFrame(rows)
    res.to_csv(HERE / f"{stem}.csv", index=False)
    pm = lambda x: (lambda i: f"{i['mean'] * 100:.0f} ± {(i['hi'] - i['mean']) * 100:.0f}" if i["n"] > 1
                    else f"{i['mean'] * 100:.0f}")(mean_interval(x))
    lines = ["| head | prompt Adam lr | p (at 64 px) | n | on, all reached regions (%) | on, middle 4 × 4 (%) | on, outer ring (%) | middle − ring (points) | spread (%) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (head, lr, p), g in res.groupby(["head", "lr_prompt", "prompt_size"], sort=False):
        mid = "–" if g.on_middle.isna().all() else pm(g.on_middle)
        diff = "–" if g.on_middle.isna().all() else pm(g.on_middle - g.on_ring)
        lines.append(f"| {head} | {lr:g} | {p} | {len(g)} | {pm(g.on_rate)} | {mid} | {pm(g.on_ring)} | {diff} | {pm(g.spread)} |")
    (HERE / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    lrs, sizes = list(dict.fromkeys(k[0] for k in maps)), sorted({k[1] for k in maps})
    fig, axes = plt.subplots(len(lrs), len(sizes), figsize=(2.2 * len(sizes), 2.4 * len(lrs)), squeeze=False)
    for i, lr in enumerate(lrs):
        for j, p in enumerate(sizes):
            ax = axes[i, j]; ax.set_xticks([]); ax.set_yticks([])
            if (lr, p) not in maps: ax.axis("off"); continue
            im = ax.imshow(np.mean(maps[lr, p], 0), vmin=0, vmax=1, cmap="viridis")
            ax.set_title(f"{lr}, p={p} (n={len(maps[lr, p])})", fontsize=7)
    fig.colorbar(im, ax=axes, shrink=0.8, label="share of test images with the region on (white: not reached)")
    fig.suptitle(f"AdaViPro's argmax mask on CIFAR-10 ({checkpoint}.pt; adaptation regime, 8 × 8 regions of 8 px)", fontsize=9)
    fig.savefig(HERE / f"{stem}.png", dpi=120, bbox_inches="tight")


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", choices=["best", "last"], default="best", help="best.pt (tested) or last.pt")
    main(ap.parse_args().checkpoint)
