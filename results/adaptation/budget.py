"""The adaptation regime's budget search: where does VP beat the unprompted model?

CIFAR-10 with the frequency label mapping (ILM-VP) puts the frozen EfficientNet-Lite0 in the paper's regime: it
already knows the classes and the prompt is a correction. This script runs, through the sweep machinery
(`adavipro.sweeps.run_configs`, so a finished run is reused and a killed search resumes), VP at the p = 30
equivalent and the unprompted model for each budget below, and collects validation and test accuracy.

    python results/adaptation/budget.py                  # every budget, every run not yet finished
    python results/adaptation/budget.py b112n500         # one budget
    python results/adaptation/budget.py --confirm b64n1000 adam 0.003   # that choice over seeds 0-4
    python results/adaptation/budget.py --collect        # writes results/adaptation/budget.csv and budget.md

Runs go to outputs/adaptation/<budget>/<run>/. The learning rate is chosen on validation (1,000 images), never on
test."""
import sys
from pathlib import Path
import pandas as pd
from adavipro.sweeps import run_configs, scale_size, CIFAR10_FOLDER, ensure_cifar10_folder

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "outputs" / "adaptation"
HERE = Path(__file__).resolve().parent
BASE = dict(dataset=f"imagefolder:{CIFAR10_FOLDER}", backbone="efficientnet_lite0", prompter="padding",
            label_mapping="frequency", init="zeros", warmup_steps=20, val_per_class=100, test_per_class=200,
            data_root="data", device="auto")
# budget name -> (fields, (prompt optimiser, learning rate) pairs tried): SGD as VP, Adam as ILM-VP (lr 0.01)
BUDGETS = {
    "b112n500": (dict(image_size=112, train_per_class=500, epochs=3, batch_size=64),
                 [("sgd", 0.01), ("sgd", 0.1), ("adam", 0.001), ("adam", 0.01)]),
    "b64n1000": (dict(image_size=64, train_per_class=1000, epochs=3, batch_size=64),
                 [("sgd", 0.01), ("adam", 0.0003), ("adam", 0.001), ("adam", 0.003), ("adam", 0.01)]),
}

SEEDS = (0, 1, 2, 3, 4)
# the choice confirmed over SEEDS (picked on validation accuracy, seed 0): budget -> (optimiser, lr)
CONFIRMED = {"b64n1000": ("adam", 0.003)}

def configs(budget:str, seeds=(0,), choices=None) -> dict[str, dict]:
    "Run name -> train.ipynb parameters: the unprompted model once, VP at p = 30 (equivalent) per lr and seed."
    fields, lrs = BUDGETS[budget]
    lrs = lrs if choices is None else choices
    p = scale_size(30, fields["image_size"])
    runs = {"none-s0": dict(BASE, **fields, method="none", prompt_size=p, seed=0)}
    for s in seeds:
        for opt, lr in lrs:
            runs[f"vp-p{p}-{opt}-lr{lr:g}-s{s}"] = dict(BASE, **fields, method="vp", prompt_size=p, prompt_optimizer=opt,
                                                       lr_prompt=lr, seed=s)
    return runs

def collect() -> pd.DataFrame:
    import json
    rows = []
    for b in BUDGETS:
        names = dict(configs(b))
        if b in CONFIRMED: names.update(configs(b, SEEDS, [CONFIRMED[b]]))
        for name in names:
            m = OUT / b / name / "metrics.json"
            if not m.exists(): continue
            d = json.loads(m.read_text()); c = d["config"]
            rows.append(dict(budget=b, run=name, method=c["method"], image_size=c["image_size"], prompt_size=c["prompt_size"],
                             train_per_class=c["train_per_class"], epochs=c["epochs"],
                             prompt_optimizer=c.get("prompt_optimizer", "sgd"), lr_prompt=c["lr_prompt"],
                             seed=c["seed"], val_acc=d.get("val_acc"), test_acc=d["test_acc"], train_time_s=d.get("train_time_s")))
    df = pd.DataFrame(rows)
    df.to_csv(HERE / "budget.csv", index=False)
    cols = [c for c in df.columns if c != "run"]
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in df[cols].itertuples(index=False)]
    (HERE / "budget.md").write_text("\n".join(lines) + "\n")
    return df

if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["--collect"]: print(collect().to_string()); sys.exit()
    ensure_cifar10_folder()
    if args[:1] == ["--confirm"]:
        b, opt, lr = args[1], args[2], float(args[3])
        df = run_configs(configs(b, SEEDS, [(opt, lr)]), OUT / b, jobs=2, progress=False)
        print(df[["run", "status", "test_acc", "time_s", "error"]].to_string(), flush=True); sys.exit()
    for b in args or BUDGETS:
        df = run_configs(configs(b), OUT / b, jobs=2, progress=False)
        print(df[["run", "status", "test_acc", "time_s", "error"]].to_string(), flush=True)
