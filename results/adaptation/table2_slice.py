"""Table 2 in the adaptation regime, at its largest prompt (p = 112 at 224 px: the full image), 5 seeds.

The budget `budget.py` chose on validation (64 px, 1,000 training images per class, 3 epochs, batch 64, the prompt
trained by Adam at 0.003, 100 validation and 200 test images per class), CIFAR-10 with the frequency label mapping;
VP and AdaViPro with the `noise_free` mask recipe, planned by the library's own `table2` experiment and filtered to
the largest size. Runs go to outputs/adaptation/table2/<run>/ (a finished run is reused; a killed sweep resumes).

    python results/adaptation/table2_slice.py            # run what is missing
    python results/adaptation/table2_slice.py --dry-run  # list the runs"""
import sys
from pathlib import Path
from adavipro.sweeps import plan_experiment, run_configs

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "outputs" / "adaptation" / "table2"
BUDGET = dict(datasets=["cifar10"], label_mapping="frequency", image_size=64, train_per_class=1000, val_per_class=100,
              test_per_class=200, epochs=3, batch_size=64, prompt_optimizer="adam", lr_prompt=0.003,
              mask_recipe="noise_free", seeds=[0, 1, 2, 3, 4], calibrate_head=False)

def runs() -> dict[str, dict]:
    "The table2 runs at the largest prompt size (at 64 px: p = 32), VP and AdaViPro."
    plan = plan_experiment("table2", "cpu", BUDGET)
    largest = max(p["prompt_size"] for p in plan.values())
    # seed-major order: every method gets seed 0 first, so a stopped sweep leaves paired seeds
    keep = [n for n, p in plan.items() if p["prompt_size"] == largest]
    return {n: plan[n] for n in sorted(keep, key=lambda n: (plan[n]["seed"], keep.index(n)))}

if __name__ == "__main__":
    df = run_configs(runs(), OUT, jobs=2, dry_run="--dry-run" in sys.argv, progress=False)
    print(df[["run", "status", "test_acc", "time_s", "error"]].to_string(), flush=True)
