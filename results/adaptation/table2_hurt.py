"""Table 2 in the adaptation regime where the full-image prompt hurts VP: the prompt trained by Adam at 0.01.

At Adam 0.003 (the budget `budget.py` chose) VP never falls below the unprompted model, so the mask has nothing to
avoid. The paper's situation is a prompt that helps at p = 30 and hurts at p = 112 (VP below the backbone on DTD
and UCF101). On the same search grid, Adam 0.01 is the largest rate at which VP at the p = 30 equivalent still
beats the unprompted model on validation (seed 0: 29.2 % against 26.0 %; 0.03: 22.9 %), and there VP at the full
image falls below it (seed 0, validation: 19.9 %). That choice looks at VP's validation accuracy only, never at
AdaViPro's or at test.

Everything else is the cpu preset's `cifar10+frequency` family budget; VP and AdaViPro with the `noise_free` mask
recipe, every size, seeds 0–2. The two largest sizes run first, then p = 9 (the p = 30 equivalent), 17 and 1, every
seed of a group before the next group, so a stopped sweep has whole groups. Runs go to
outputs/adaptation/table2/<run>/ (a finished run is reused; a killed sweep resumes). The same runs, in the library's
order: `adavipro-sweep table2 --preset cpu --out outputs/adaptation -p datasets cifar10 -p label_mapping frequency
-p mask_recipe noise_free -p seeds 0,1,2 -p lr_prompt 0.01 --jobs 2`.

    python results/adaptation/table2_hurt.py             # run what is missing
    python results/adaptation/table2_hurt.py --dry-run   # list the runs
    python results/adaptation/table2_sizes.py --lr 0.01  # the table: table2_sizes_lr0.01.md/.csv"""
import sys
from pathlib import Path
from adavipro.sweeps import plan_experiment, run_configs

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "outputs" / "adaptation" / "table2"
SETTINGS = dict(datasets=["cifar10"], label_mapping="frequency", mask_recipe="noise_free", seeds=[0, 1, 2],
                lr_prompt=0.01, train_per_class=1000, calibrate_head=False)
GROUPS = ((32, 26), (9,), (17,), (1,))   # sizes at 64 px in run order: the paper's p = 112 and 90 first, then 30, 60, 5

def runs() -> dict[str, dict]:
    "The table2 runs, VP and AdaViPro, in `GROUPS` order; within a group seed-major (VP and AdaViPro of a seed together)."
    plan = plan_experiment("table2", "cpu", SETTINGS)
    names = [n for n, p in plan.items() if p["method"] in ("vp", "adavipro")]
    group = lambda n: next(i for i, g in enumerate(GROUPS) if plan[n]["prompt_size"] in g)
    order = lambda n: (group(n), plan[n]["seed"], -plan[n]["prompt_size"], names.index(n))
    return {n: plan[n] for n in sorted(names, key=order)}

if __name__ == "__main__":
    df = run_configs(runs(), OUT, jobs=2, dry_run="--dry-run" in sys.argv, progress=False)
    print(df[["run", "status", "test_acc", "time_s", "error"]].to_string(), flush=True)
