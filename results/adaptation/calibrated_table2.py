"""Table 2 in the adaptation regime with a calibrated head (`calibrate_head=True`), where VP's prompt helps at every
size: the learning rate and the mask recipe chosen on validation (seed 0), then every size over seeds 0-2.

The cpu preset's `cifar10+frequency` budget (64 px, 1,000 training images per class, 3 epochs of batch 64, Adam,
validation 1,000 and test 2,000 images), the head's logits divided by the temperature fitted on the unprompted
training logits. Runs go to outputs/adaptation/table2 through the library's `table2` plan, so a finished run is reused
and a killed script resumes.

    python results/adaptation/calibrated_table2.py lr        # VP at p = 9 (the p = 30 equivalent), Adam 0.003 to 0.3, seed 0
    python results/adaptation/calibrated_table2.py recipe    # AdaViPro at p = 32, `noise_free`, ± target rate, ± mask warm-up, seed 0
    python results/adaptation/calibrated_table2.py recipe vp # several stages at once (`vp`: the table's VP runs)
    python results/adaptation/calibrated_table2.py table     # the chosen lr and recipe, VP and AdaViPro at every size, seeds 0-2
    python results/adaptation/calibrated_table2.py best      # BEST, the recipe leading on validation, at p = 26 and 32, seeds 0-2
    python results/adaptation/calibrated_table2.py choices   # the validation accuracies (per epoch) the choices read:
                                                             # calibrated_choices.csv

Every choice reads validation accuracy only (`val_acc` of the best epoch), never test."""
import json, sys
from pathlib import Path
import pandas as pd
from adavipro.sweeps import plan_experiment, run_configs

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "outputs" / "adaptation" / "table2"
BASE = dict(datasets=["cifar10"], label_mapping="frequency", calibrate_head=True, mask_recipe="noise_free",
            train_per_class=1000)   # 1,000 per class (the study's budget, sweeps.ADAPTATION_BUDGET, has 250)
LRS = (0.003, 0.01, 0.03, 0.1, 0.3)   # the prompt's Adam learning rates tried (VP at p = 9, seed 0), widened while the largest led
RECIPES = {"noise_free": {}, "noise_free, no target rate": dict(target_rate=None, target_weight=0.0),   # AdaViPro at p = 32,
           "noise_free, mask warm-up": dict(mask_warmup_epochs=1),                                      # seed 0
           "noise_free, mask warm-up, no target rate": dict(mask_warmup_epochs=1, target_rate=None, target_weight=0.0)}
# the choices `choices` printed (validation, seed 0); `table` runs them
LR, RECIPE = 0.1, "noise_free"
# the fourth recipe, added after `table` had started, leads on validation (0.336 against noise_free's 0.316)
BEST = "noise_free, mask warm-up, no target rate"

def plan(sizes, methods, seeds, lr, extra=None) -> dict[str, dict]:
    "The library's table2 runs of these prompt sizes (px at 64 px), methods and seeds, the largest prompt first."
    p = plan_experiment("table2", "cpu", dict(BASE, seeds=list(seeds), lr_prompt=lr, **(extra or {})))
    keep = [n for n, q in p.items() if q["method"] in methods and q["prompt_size"] in sizes]
    return {n: p[n] for n in sorted(keep, key=lambda n: (-p[n]["prompt_size"], p[n]["seed"], keep.index(n)))}

def stage(name:str) -> dict[str, dict]:
    if name == "lr": return {n: q for lr in LRS for n, q in plan([9], ["vp"], [0], lr).items()}
    if name == "recipe": return {n: q for x in RECIPES.values() for n, q in plan([32], ["adavipro"], [0], LR, x).items()}
    if name == "vp": return plan([1, 9, 17, 26, 32], ["vp"], [0, 1, 2], LR)   # the table's VP runs (no recipe)
    if name == "best":   # the recipe that leads on validation once the fourth was added: the two largest sizes
        return plan([26, 32], ["adavipro"], [0, 1, 2], LR, RECIPES[BEST])
    if name == "table": return plan([1, 9, 17, 26, 32], ["vp", "adavipro"], [0, 1, 2], LR, RECIPES[RECIPE])
    raise SystemExit(f"unknown stage {name!r}; choose one of: lr, recipe, vp, best, table, choices")

def choices() -> pd.DataFrame:
    "Per epoch of each choice's runs: validation accuracy and, for AdaViPro, the mask's on-rate and spread (eval)."
    runs = [("lr", "", n) for lr in LRS for n in plan([9], ["vp"], [0], lr)]
    runs += [("recipe", r, n) for r, x in RECIPES.items() for n in plan([32], ["adavipro"], [0], LR, x)]
    rows = []
    for choice, recipe, n in runs:
        if not (OUT / n / "metrics.json").exists(): continue
        m = json.loads((OUT / n / "metrics.json").read_text())
        best, lr = m["best_epoch"], m["config"]["lr_prompt"]
        for _, h in pd.read_csv(OUT / n / "history.csv").iterrows():
            rows.append(dict(choice=choice, recipe=recipe, lr_prompt=lr,
                             epoch=int(h.epoch), val_acc=h.val_acc, eval_on_rate=h.get("eval_on_rate"),
                             eval_spread=h.get("eval_spread"), best=int(h.epoch) == best, run=n))
    return pd.DataFrame(rows)

if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "table"
    if what == "choices":   # writes calibrated_choices.csv beside this script
        df = choices()
        df.to_csv(Path(__file__).with_name("calibrated_choices.csv"), index=False)
        print(df.drop(columns="run").to_string(index=False))
        raise SystemExit
    runs = {n: q for w in sys.argv[1:] if not w.startswith("--") for n, q in stage(w).items()} or stage("table")
    df = run_configs(runs, OUT, jobs=2, dry_run="--dry-run" in sys.argv, progress=False)
    print(df[["run", "status", "test_acc", "time_s", "error"]].to_string(), flush=True)
