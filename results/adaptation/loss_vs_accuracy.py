"""Does the task loss see the harm a large prompt does in the adaptation regime? For the VP runs of Table 2 at both
prompt learning rates (`table2_sizes.py`, `table2_hurt.py`) and the unprompted model: the cross-entropy and accuracy
on the 2,000 test images, with the run's own head (frequency-mapped EfficientNet-Lite0 logits, not calibrated).

    python results/adaptation/loss_vs_accuracy.py    # loss_vs_accuracy.csv and .md here

Also prints the temperature that would calibrate the unprompted head on the training images (`fit_temperature`,
what `calibrate_head=True` does) and the unprompted training loss with and without it."""
import json
from dataclasses import asdict, fields
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from adavipro.config import TrainConfig
from adavipro.data import iterate_batches
from adavipro.heads import fit_temperature
from adavipro.model import create_method
from adavipro.results import collect_runs, mean_interval, newest_runs
from adavipro.training import build_run

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "outputs" / "adaptation" / "table2"
HERE = Path(__file__).resolve().parent


@torch.no_grad()
def logits_of(model, ds, prompted:bool) -> tuple[torch.Tensor, torch.Tensor]:
    z, y = [], []
    for x, t in iterate_batches(ds, 500, shuffle=False):
        z.append(model(x, prompted=prompted)); y.append(t)
    return torch.cat(z).float(), torch.cat(y)


def main():
    df = newest_runs(collect_runs(RUNS))
    df = df[(df.dataset_name == "cifar10+frequency") & (df.method == "vp") & df.prompt_size.isin([9, 26, 32])
            & ~df.get("calibrate_head", pd.Series(False, index=df.index)).fillna(False).astype(bool)]
    names = {f.name for f in fields(TrainConfig)}
    model = data = None
    rows = []
    for r in df.sort_values(["lr_prompt", "prompt_size", "seed"]).itertuples():
        cfg = TrainConfig(**{k: v for k, v in json.loads((Path(r.run_dir) / "metrics.json").read_text())["config"].items()
                             if k in names} | dict(device="cpu"))
        if model is None:   # the same data and head for every run (same budget and split)
            model, data = build_run(cfg); model.eval()
            z, y = logits_of(model, data.test, prompted=False)
            rows.append(dict(method="unprompted", lr_prompt=None, prompt_size=0, seed=0,
                             test_loss=F.cross_entropy(z, y).item(), test_acc=(z.argmax(1) == y).float().mean().item()))
            ztr, ytr = logits_of(model, data.train, prompted=False)
            T = fit_temperature(ztr, ytr)
            print(f"unprompted training loss {F.cross_entropy(ztr, ytr):.2f} at T = 1, "
                  f"{F.cross_entropy(ztr / T, ytr):.2f} at the fitted T = {T:.2f}")
        model.prompter = create_method(cfg.method, **asdict(cfg)).eval()   # this run's prompt size
        model.prompter.load_state_dict(torch.load(Path(r.run_dir) / "best.pt", map_location="cpu", weights_only=False)["prompter"])
        z, y = logits_of(model, data.test, prompted=True)
        acc = (z.argmax(1) == y).float().mean().item()
        assert abs(acc - r.test_acc) < 1e-4, (r.run, acc, r.test_acc)   # the run's own test accuracy (one image: 5e-4)
        rows.append(dict(method="vp", lr_prompt=r.lr_prompt, prompt_size=r.prompt_size, seed=r.seed,
                         test_loss=F.cross_entropy(z, y).item(), test_acc=acc))
    res = pd.DataFrame(rows)
    res.to_csv(HERE / "loss_vs_accuracy.csv", index=False)
    base = res[res.method == "unprompted"].iloc[0]
    lines = [f"Unprompted: test loss {base.test_loss:.2f}, test accuracy {base.test_acc * 100:.1f} %.", "",
             "| VP, prompt Adam lr | p (at 64 px) | n | test loss (nats) | test acc. (%) | acc. − unprompted (points) |",
             "|---|---|---|---|---|---|"]
    f = lambda i, s=1: f"{i['mean'] * s:.2f} ± {(i['hi'] - i['mean']) * s:.2f}" if i["n"] > 1 else f"{i['mean'] * s:.2f}"
    for (lr, p), g in res[res.method == "vp"].groupby(["lr_prompt", "prompt_size"]):
        lines.append(f"| {lr:g} | {p} | {len(g)} | {f(mean_interval(g.test_loss))} | {f(mean_interval(g.test_acc), 100)} | "
                     f"{f(mean_interval(g.test_acc - base.test_acc), 100)} |")
    (HERE / "loss_vs_accuracy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
