"""Issue 5: `torchrun --nproc_per_node 2` (gloo, CPU) runs the same loop and ends where one process does."""
import json, os, subprocess, sys
from pathlib import Path
import pandas as pd
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--dataset", "digits", "--backbone", "efficientnet_lite0", "--method", "vp", "--image_size", "32",
        "--prompt_size", "4", "--epochs", "2", "--batch_size", "16", "--lr_prompt", "1.0", "--warmup_steps", "2",
        "--train_per_class", "8", "--val_per_class", "3", "--test_per_class", "5"]

def run(cmd, out):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    p = subprocess.run(cmd + ARGS + ["--out_dir", str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text()), pd.read_csv(out / "history.csv")

def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    one, h1 = run([sys.executable, "-m", "adavipro.training"], tmp_path / "one")
    two, h2 = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                   "-m", "adavipro.training"], tmp_path / "two")
    assert two["world_size"] == 2 and one["world_size"] == 1 and one["steps"] == two["steps"] == 10
    # tolerance: the same maths, summed in another order (2 shards of 8 + an all-reduce vs 1 batch of 16)
    np.testing.assert_allclose(h2.train_loss, h1.train_loss, rtol=1e-4)
    assert list(h2.train_acc) == list(h1.train_acc)
    assert abs(two["test_acc"] - one["test_acc"]) <= 1 / one["n_test"] + 1e-9
