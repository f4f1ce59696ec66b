"""Why does AdaViPro's mask not learn *where* on `placement:digits` (reprogramming, lr 40), when it does on placed
CIFAR-10 (adaptation)? Two questions, asked of the finished VP and oracle runs of either regime (5 seeds each; see
README.md):

1. **Signal.** Is there a gradient that points the mask towards the oracle? For a trained template P and a region
   mask m, the loss L(x + P ⊙ Φ(m)) has a per-image gradient g_r = ∂L/∂m_r for every region r. Decreasing m_r
   lowers the loss where g_r > 0: that region "wants off". We read g at m = all-on (where the mask starts and where
   VP trains the template) and at the oracle's mask, for VP's template and for the oracle's, on the training
   images. Per image, the mask sign(g) prescribes (off where g_r > 0) is scored against the oracle's (balanced
   agreement, 50 % = blind to the object); over images, the mean of (mean g over the object's regions − mean g
   over the others) and its t statistic say whether the gradient summed over a batch, which is what trains the
   generator's shared weights, points towards the oracle.
   We also swap masks without retraining: VP's template under the oracle's mask, the oracle's under all-on.
2. **Capacity.** Can the mask generator (Laplacian edges → F_c → F_p, as AdaViPro's `stable` recipe builds it)
   represent the oracle's mask at all? Trained on the oracle's decisions directly (cross-entropy), 8 epochs, Adam.

    python results/placement/mask_signal.py                                  # placement:digits, lr 40
    python results/placement/mask_signal.py --regime adaptation --at all     # placed CIFAR-10, frequency, lr 0.5

Writes results/placement/mask_signal_<regime>.csv and prints a Markdown table (mean ± 95 % t-interval over seeds).
"""
import argparse, json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from adavipro.adaptive import add_masked_prompt
from adavipro.config import TrainConfig
from adavipro.data import iterate_batches, oracle_region_mask
from adavipro.edges import EdgeDetector
from adavipro.mask import MaskGenerator
from adavipro.results import mean_interval
from adavipro.training import build_run

HERE = Path(__file__).parent


# regime → (the runs' folder, run name per method): the 5-seed runs of README.md's two regimes
REGIMES = {
    "reprogramming": ("outputs/digits40/placement", {"vp": "placement-digits-vp-p56-e8-n130",
                                                     "oracle": "placement-digits-oracle-p56-r16-e8-n130"}),
    "adaptation": ("outputs/adapt/placement", {"vp": "placement-cifar10+frequency-vp-p56-lr0.5-e8-n130",
                                               "oracle": "placement-cifar10+frequency-oracle-p56-r16-lr0.5-e8-n130"}),
}
REGIME = "reprogramming"

def run_dir(root:Path, method:str, seed:int) -> Path:
    name = REGIMES[REGIME][1][method]
    return root / (name if seed == 0 else f"{name}-s{seed}")


def load_model(root:Path, seed:int):
    "The oracle run's model (placement data, the oracle's prompter) with its data splits."
    cfg = json.loads((run_dir(root, "oracle", seed) / "config.json").read_text())
    cfg = TrainConfig(**{k: v for k, v in cfg.items() if k in TrainConfig.__dataclass_fields__})
    cfg.device = "cpu"
    model, data = build_run(cfg)
    return model.eval(), data, cfg


def template(root:Path, method:str, seed:int) -> dict:
    "The best checkpoint's padding template of a VP or oracle run, as a state dict of `PaddingPrompter`."
    sd = torch.load(run_dir(root, method, seed) / "best.pt", map_location="cpu", weights_only=False)["prompter"]
    return {k.removeprefix("template."): v for k, v in sd.items()}


def mask_gradients(model, ds, R:int, on:str, batch_size:int=128):
    """Per image: g = ∂CE/∂m at the mask `on` ('all' or 'oracle') and the oracle's mask.
    Returns g (N,h,w) and oracle (N,h,w) in {0,1}."""
    gs, oracles = [], []
    P = model.prompter.template.prompt().detach()
    for images, labels in iterate_batches(ds, batch_size):
        x = model.preprocess(images)
        orc = oracle_region_mask(model.preprocess.object_mask(images), R)
        m = (torch.ones_like(orc) if on == "all" else orc.clone()).requires_grad_(True)
        logits = model.head(model.backbone(add_masked_prompt(x, P, m, R)))
        loss = F.cross_entropy(logits, labels, reduction="sum")   # per-image gradients: each m_i sees its own loss
        g, = torch.autograd.grad(loss, m)
        gs.append(g[:, 0]); oracles.append(orc[:, 0])
    return torch.cat(gs), torch.cat(oracles)


def agreement(on, oracle) -> tuple[float, float, float]:
    "A mask's decisions `on` (bool) against the oracle's (1 = on): share of object regions off, of the others on, their mean."
    obj, bg = oracle == 0, oracle == 1
    obj_off = (~on & obj).sum().item() / obj.sum().item()
    bg_on = (on & bg).sum().item() / bg.sum().item()
    return obj_off, bg_on, (obj_off + bg_on) / 2


def sign_mask_scores(g, oracle) -> dict:
    "The mask −sign(g) prescribes (off where g > 0) against the oracle's: object regions off, background on, balanced."
    obj, bg = oracle == 0, oracle == 1
    # per image: mean g over its object's regions − mean over the others; > 0 is the oracle's direction. Its t over
    # images says whether the gradient summed over a batch (what trains the generator's shared weights) points there.
    d = (g * obj).flatten(1).sum(1) / obj.flatten(1).sum(1) - (g * bg).flatten(1).sum(1) / bg.flatten(1).sum(1)
    t = (d.mean() / (d.std() / len(d) ** 0.5)).item()
    obj_off, bg_on, balanced = agreement(g <= 0, oracle)   # on where the loss does not want it off
    return dict(obj_wants_off=obj_off, bg_wants_on=bg_on, sign_balanced=balanced,
                g_obj=g[obj].mean().item(), g_bg=g[bg].mean().item(), obj_minus_bg_t=t,
                images_obj_minus_bg_positive=(d > 0).float().mean().item())


def supervised_capacity(model, data, cfg, seed:int, epochs:int=8, lr:float=0.01) -> dict:
    "Train `stable`'s mask generator on the oracle's decisions (cross-entropy); its argmax against the oracle on test."
    torch.manual_seed(seed)
    pre, R = model.preprocess, cfg.region_size
    edges, gen = EdgeDetector(), MaskGenerator(cfg.embed_dim, R, policy_norm="area", init_on=0.85)
    opt = torch.optim.Adam(gen.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for images, _ in iterate_batches(data.train, cfg.batch_size, shuffle=True, generator=g):
            x = pre(images)
            target = oracle_region_mask(pre.object_mask(images), R)[:, 0].long()
            loss = F.cross_entropy(gen(edges(x)), target)
            opt.zero_grad(); loss.backward(); opt.step()
    ms, os_ = [], []
    with torch.no_grad():
        for images, _ in iterate_batches(data.test, 256):
            x = pre(images)
            ms.append(gen(edges(x)).argmax(1)); os_.append(oracle_region_mask(pre.object_mask(images), R)[:, 0])
    obj_off, bg_on, balanced = agreement(torch.cat(ms) == 1, torch.cat(os_))
    return dict(supervised_obj_off=obj_off, supervised_bg_on=bg_on, supervised_balanced=balanced)


@torch.no_grad()
def accuracy(model, ds, R:int, on:str) -> float:
    P, right, n = model.prompter.template.prompt(), 0, 0
    for images, labels in iterate_batches(ds, 256):
        x = model.preprocess(images)
        orc = oracle_region_mask(model.preprocess.object_mask(images), R)
        m = torch.ones_like(orc) if on == "all" else orc
        right += (model.head(model.backbone(add_masked_prompt(x, P, m, R))).argmax(1) == labels).sum().item()
        n += len(labels)
    return right / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--regime", choices=list(REGIMES), default="reprogramming")
    ap.add_argument("--runs", default=None, help="the runs' folder (default: the regime's)")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--at", default="all,oracle", help="the masks the gradient is read at: all and/or oracle")
    a = ap.parse_args()
    global REGIME
    REGIME = a.regime
    a.runs = a.runs or REGIMES[a.regime][0]
    torch.set_num_threads(2)
    rows = []
    for seed in map(int, a.seeds.split(",")):
        model, data, cfg = load_model(Path(a.runs), seed)
        R = cfg.region_size
        row = dict(seed=seed)
        for method in ("vp", "oracle"):
            model.prompter.template.load_state_dict(template(Path(a.runs), method, seed))
            for on in ("all", "oracle"):
                row[f"{method}_template_{on}_mask_test_acc"] = accuracy(model, data.test, R, on)
            for on in a.at.split(","):   # the gradient where the mask starts (all on) and at the oracle's mask
                g, orc = mask_gradients(model, data.train, R, on)
                row.update({f"{method}_template_at_{on}_{k}": v for k, v in sign_mask_scores(g, orc).items()})
        row.update(supervised_capacity(model, data, cfg, seed))
        rows.append(row)
        print(row, flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(HERE / f"mask_signal_{a.regime}.csv", index=False)
    print(f"\n| measure | mean ± 95 % interval (n = {len(df)}) |\n|---|---|")
    for c in df.columns.drop("seed"):
        r = mean_interval(df[c])
        scale = 1 if "_g_" in c or c.endswith("_t") else 100   # gradients as they are; shares and accuracies in %
        print(f"| {c} | {r['mean'] * scale:.3g} ± {(r['hi'] - r['mean']) * scale:.2g} |")


if __name__ == "__main__":
    main()
