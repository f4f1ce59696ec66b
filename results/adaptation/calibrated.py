"""A probe of the adaptation regime with a calibrated head: VP at the p = 30 and 112 equivalents (9 and 32 px at
64 px) and AdaViPro (`noise_free`) at 32, the head's logits divided by the temperature fitted on the unprompted
training logits (`calibrate_head=True`, T = 10.2 here); otherwise `table2_hurt.py`'s runs (Adam 0.01, the cpu
preset's `cifar10+frequency` budget), seeds 0–2, seed-major. The learning rate was not searched for this head.

    python results/adaptation/calibrated.py                              # run what is missing
    python results/adaptation/table2_sizes.py --lr 0.01 --calibrated     # table2_sizes_lr0.01_cal.md/.csv"""
import sys
from pathlib import Path
from adavipro.sweeps import plan_experiment, run_configs

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "outputs" / "adaptation" / "table2"
SETTINGS = dict(datasets=["cifar10"], label_mapping="frequency", calibrate_head=True, mask_recipe="noise_free",
                seeds=[0, 1, 2], lr_prompt=0.01, train_per_class=1000)
CELLS = (("vp", 9), ("vp", 32), ("adavipro", 32))

def runs() -> dict[str, dict]:
    "The table2 runs of `CELLS`, seed-major."
    plan = plan_experiment("table2", "cpu", SETTINGS)
    keep = [n for n, p in plan.items() if (p["method"], p["prompt_size"]) in CELLS]
    return {n: plan[n] for n in sorted(keep, key=lambda n: (plan[n]["seed"], keep.index(n)))}

if __name__ == "__main__":
    df = run_configs(runs(), OUT, jobs=2, dry_run="--dry-run" in sys.argv, progress=False)
    print(df[["run", "status", "test_acc", "time_s", "error"]].to_string(), flush=True)
