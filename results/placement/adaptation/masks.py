"""Draw what AdaViPro's learned mask does on placed test images, beside the oracle's mask (results/placement/README.md).

    python results/placement/adaptation/masks.py outputs/adapt/placement/<an AdaViPro run> [out.png]

Rows: the first test images (one per class). Columns: the canvas; AdaViPro's argmax region mask over it (green:
prompt on, red: off); the oracle's (off exactly on the regions holding the object). The run's best checkpoint."""
import json, sys, dataclasses
from pathlib import Path
import matplotlib; matplotlib.use("Agg")
import matplotlib.pyplot as plt, torch
from adavipro.data import oracle_region_mask
from adavipro.results import region_overlay, on_share
from adavipro.training import TrainConfig, build_run

def main(run:Path, out:Path, n:int=6):
    m = json.loads((run / "metrics.json").read_text())
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    model, data = build_run(TrainConfig(**{k: v for k, v in m["config"].items() if k in fields} | dict(device="cpu")))
    model.prompter.load_state_dict(torch.load(run / "best.pt", map_location="cpu", weights_only=False)["prompter"])
    model.eval()
    labels = torch.as_tensor(data.test.labels)
    idx = [int(torch.nonzero(labels == c)[0]) for c in range(n)]
    images = data.test.images[idx]
    pr = model.prompter
    with torch.no_grad():
        x = model.preprocess(images)
        ada = pr.region_mask(x, pr.prompted_regions)[:, 0].numpy()
        oracle = oracle_region_mask(model.preprocess.object_mask(images), pr.region_size)[:, 0].numpy()
    fig, axes = plt.subplots(n, 3, figsize=(6.3, 2.1 * n), squeeze=False)
    for i in range(n):
        canvas = images[i, :3].permute(1, 2, 0).numpy()
        for j, (title, mask) in enumerate((("canvas", None), ("AdaViPro (noise_free)", ada[i]), ("oracle", oracle[i]))):
            ax = axes[i, j]; ax.imshow(canvas); ax.set_xticks([]); ax.set_yticks([])
            if mask is not None:
                ax.imshow(region_overlay(mask, pr.region_size), interpolation="nearest")
                ax.set_xlabel(f"on: {100 * on_share(mask):.0f} %", fontsize=8)
            if i == 0: ax.set_title(title, fontsize=9)
        axes[i, 0].set_ylabel(data.classes[int(labels[idx[i]])], fontsize=9)
    fig.suptitle(f"{run.name}\n(test images; green: prompt on, red: off)", fontsize=8)
    fig.tight_layout(); fig.savefig(out, dpi=110)
    print(f"wrote {out}")

if __name__ == "__main__":
    run = Path(sys.argv[1])
    main(run, Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).with_name("masks.png"))
