"""The benchmark scripts still run end to end (tiny sizes; their figures are not checked here: no timed tests)."""
import subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, timeout=300):
    r = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


def test_prompter_bench_runs_every_configuration():
    out = _run("bench/prompter.py", "--batch-size", "2", "--image-size", "32", "--region-size", "8", "--embed-dim", "8",
               "--prompt-size", "4", "--steps", "1", "--warmup", "0", "--bf16", "--threads", "1")
    for config in ("vp", "adavipro", "adavipro-plain", "convs-only"):
        for precision in ("fp32", "bf16"):
            assert any(line.split()[:2] == [config, precision] for line in out.splitlines()), out
    assert "fp32: adavipro − vp =" in out and "bf16: adavipro − vp =" in out and "bf16: the two convolutions alone" in out


def test_step_bench_runs_on_efficientnet():
    "With --plain, every library configuration again with the fast paths off, and the ratio of the two."
    out = _run("bench/step.py", "--backbones", "efficientnet_lite0", "--configs", "reference,vp,adavipro", "--batch-size", "2",
               "--steps", "1", "--warmup", "1", "--rounds", "1", "--ref-steps", "1", "--ref-warmup", "0", "--no-flops",
               "--threads", "1", "--plain")
    assert "adavipro / vp =" in out and "vp / reference+kept" in out, out
    for config in ("reference", "reference+kept", "vp", "adavipro", "vp+plain", "adavipro+plain"):
        assert any(line.split()[:2] == [config, "efficientnet_lite0"] for line in out.splitlines()), out
    assert "efficientnet_lite0: adavipro+plain / adavipro = " in out, out


def test_step_bench_mfu_column():
    "--peak-tflops adds MFU = counted FLOP/s over the peak: here 1 TFLOP/s, so MFU % = GFLOP/s / 10."
    out = _run("bench/step.py", "--backbones", "efficientnet_lite0", "--configs", "vp", "--batch-size", "2", "--steps", "1",
               "--warmup", "1", "--rounds", "1", "--threads", "1", "--peak-tflops", "1")
    lines = out.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("config ") and "MFU" in l)
    spans = [m.span() for m in __import__("re").finditer(r"-+", lines[head + 1])]      # the table's column widths
    cell = lambda line, i: line[spans[i][0]:spans[i][1]].strip()
    cols = [cell(lines[head], i) for i in range(len(spans))]
    row = next(l for l in lines[head + 2:] if l.startswith("vp "))
    gflops, mfu = cell(row, cols.index("GFLOP/s")), cell(row, cols.index("MFU"))
    assert mfu.endswith("%") and abs(float(mfu[:-1]) - float(gflops) / 10) <= 0.06 + 0.01 * float(gflops), (gflops, mfu)
    assert "MFU = counted FLOPs per second / 1 TFLOP/s (--peak-tflops)" in out


def test_gpu_script_is_valid_bash_and_rejects_unknown_parts():
    "bench/gpu.sh needs a GPU to do its work; here only its syntax and its argument check."
    r = subprocess.run(["bash", "-n", "bench/gpu.sh"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["bash", "bench/gpu.sh", "nonsense"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "OUT": "/tmp/adavipro-gpu-sh-test"})
    assert r.returncode == 2 and "unknown part 'nonsense'" in r.stdout, r.stdout + r.stderr


def test_gpu_script_groups_fit_their_device_calls():
    "Each group's parts, at their time limits (plus `timeout -k 10`), fit one device call: A 8 min, B 5 min, C 3 min."
    import re
    script = (ROOT / "bench" / "gpu.sh").read_text()
    limits = {name: int(s) for name, s in re.findall(r"\brun (\w+) (\d+) ", script)}
    assert set(limits) == {"info", "tests", "paper", "step", "prompter", "epoch", "ddp"}, limits
    for parts, budget in ((("info", "tests", "paper"), 480), (("step", "prompter", "epoch"), 300), (("ddp",), 180)):
        assert sum(limits[p] + 10 for p in parts) <= budget, (parts, limits)
    assert re.search(r"A\) parts\+=\(info tests paper\) ;; B\) parts\+=\(step prompter epoch\) ;; C\) parts\+=\(ddp\)", script)


def test_gpu_script_skips_ddp_without_two_gpus(tmp_path):
    r = subprocess.run(["bash", "bench/gpu.sh", "C"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**__import__("os").environ, "OUT": str(tmp_path), "CUDA_VISIBLE_DEVICES": ""})
    assert r.returncode == 0 and "=== ddp: skipped, fewer than 2 GPUs here" in r.stdout, r.stdout + r.stderr


def test_paper_path_bench_kills_and_resumes(tmp_path):
    "The paper path at tiny size on the CPU: a JPEG folder, a run killed in its second epoch, resumed and finished."
    out = _run("bench/paper_path.py", "--device", "cpu", "--images", "64", "--batch-size", "8", "--image-size", "32",
               "--epochs", "2", "--work", str(tmp_path), timeout=600)
    assert "made " in out and "20 test JPEGs at 32×32" not in out, out
    assert "at epoch 2/2, batch " in out and "first child killed (SIGKILL)" in out, out
    lines = out.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("child ") and "img/s incl. data" in l)
    rows = [l.split() for l in lines[head + 2:head + 4]]
    assert [r[:2] for r in rows] == [["first", "1"], ["resumed", "2"]], out
    assert int(rows[0][2]) > int(rows[1][2]) > 0, out           # the resumed epoch trains only what was left
    assert "GFLOP" in out and "img/s including data" in out and (tmp_path / "cifar10-64-32px" / "test").is_dir()


@pytest.mark.parametrize("plain", [False, True])
def test_pair_bench_prints_a_paired_ratio_per_precision(plain):
    out = _run("bench/pair.py", "--backbones", "efficientnet_lite0", "--batch-size", "2", "--image-size", "64",
               "--region-size", "8", "--prompt-size", "4", "--embed-dim", "8", "--pairs", "2", "--warmup", "1",
               "--threads", "1", *(["--plain"] if plain else []))
    assert ("fast paths off (--plain)" if plain else "fast paths on;") in out, out
    for precision in ("fp32", "bf16"):
        assert f"efficientnet_lite0     {precision}: vp " in out and "median of 2 pairs" in out, out
        line = next(l for l in out.splitlines() if l.startswith(f"  efficientnet_lite0 {precision}: "))
        assert line.rstrip().endswith(("MET", "MISSED")), line


def test_pair_bench_compares_a_chosen_pair():
    "--pair A,B: the diagnostics-off adavipro against the noise_free recipe; lines and targets name the pair (B / A)."
    out = _run("bench/pair.py", "--backbones", "efficientnet_lite0", "--precisions", "fp32", "--batch-size", "2",
               "--image-size", "64", "--region-size", "8", "--prompt-size", "4", "--embed-dim", "8", "--pairs", "1",
               "--warmup", "1", "--threads", "1", "--pair", "adavipro-nodiag,adavipro:noise_free", "--target", "0.97")
    assert "pair A = adavipro-nodiag:" in out and "B = adavipro:noise_free:" in out and "mask_sampler='straight_through'" in out, out
    line = next(l for l in out.splitlines() if l.startswith("  efficientnet_lite0     fp32: "))
    assert "adavipro-nodiag " in line and "adavipro:noise_free " in line, line
    assert "adavipro:noise_free / adavipro-nodiag img/s, median of 1 pairs" in line, line
    assert "targets: adavipro:noise_free ≥ 0.97× adavipro-nodiag img/s" in out, out
    line = next(l for l in out.splitlines() if l.startswith("  efficientnet_lite0 fp32: "))
    assert line.rstrip().endswith(("MET", "MISSED")), line


@pytest.mark.parametrize("pair", ["vp,nonsense", "vp", "vp,adavipro,adavipro", "adavipro:nonsense,vp"])
def test_pair_bench_rejects_a_bad_pair(pair):
    r = subprocess.run([sys.executable, "bench/pair.py", "--pair", pair], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode != 0, r.stdout + r.stderr
    msg = r.stderr.strip().splitlines()
    assert len(msg) == 1 and msg[0].startswith(f"--pair {pair}: give two of vp, adavipro, adavipro-nodiag, adavipro:paper"), r.stderr
    assert "adavipro:noise_free" in msg[0] and "bench/pair.py —" not in r.stdout, r.stdout + r.stderr


def test_estimate_bench_fits_the_cost_model(tmp_path):
    "bench/estimate.py on fabricated wall times that follow known coefficients: the fit recovers them."
    from adavipro.study import plan_experiment
    sys.path.insert(0, str(ROOT / "bench"))
    from estimate import features
    coef = dict(fixed=20.0, train_vp=0.03, train_adavipro=0.033, train_full_finetune=0.06, eval=0.005, probe=0.02)
    rows = []
    for e in ("table1", "table2"):
        for r, p in list(plan_experiment(e, "cpu", dict(seeds=[0])).items()):
            rows.append(dict(experiment=e, run=r, status="done", time_s=sum(coef[k] * v for k, v in features(p).items())))
    rows.append(dict(experiment="table2", run=r, status="pending", time_s=None))   # not trained: left out
    f = tmp_path / "timings.csv"
    import pandas as pd
    pd.DataFrame(rows).to_csv(f, index=False)
    out = _run("bench/estimate.py", "--timings", str(f))
    assert f"{len(rows) - 1} runs measured" in out, out
    fitted = {l.split()[0]: float(l.split()[1]) for l in out.splitlines() if l.startswith("  ") and len(l.split()) == 2}
    assert all(abs(fitted[k] / v - 1) < 0.01 for k, v in coef.items()), fitted
    assert "predicted / measured = 1.000" in out, out
    # runs on two machines: every third on one twice as slow (machine_s); the fit scales them to the median machine
    df = pd.DataFrame(rows).assign(machine_s=[0.2 if i % 3 == 2 else 0.1 for i in range(len(rows))])
    df.loc[df.machine_s == 0.2, "time_s"] *= 2
    df.to_csv(f, index=False)
    out = _run("bench/estimate.py", "--timings", str(f))
    fitted = {l.split()[0]: float(l.split()[1]) for l in out.splitlines() if l.startswith("  ") and len(l.split()) == 2}
    assert all(abs(fitted[k] / v - 1) < 0.01 for k, v in coef.items()), fitted
    assert "REFERENCE_MACHINE_S = 0.1000" in out and "predicted / measured = 1.000" in out, out


def test_epoch_bench_measures_the_decode_once_cache(tmp_path):
    "--cache at a tiny size: the photo trees are made, built in 1 and 2 processes, and (a), (b), (c) each print a verdict."
    args = ["bench/epoch.py", "--cache", "--photos", str(tmp_path / "photos"), "--n-photos", "60", "--photo-size", "90x70",
            "--image-size", "32", "--batch-size", "8", "--build-workers", "0,2", "--epochs", "2", "--min-seconds", "0.1"]
    out = _run(*args)
    assert "made 60 90×70 photos in" in out and "stored them at the training size (32 px shorter side)" in out, out
    assert "(a) one-off build" in out and "(b) the data path alone" in out and "(c) a 2-epoch run's data" in out, out
    lines = out.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("decoding processes"))
    assert [l.split()[0] for l in lines[head + 2:head + 4]] == ["0", "2"], out
    assert all(l.rstrip().endswith(("MET", "MISSED")) or "MET;" in l or "MISSED;" in l
               for l in lines if l.startswith("target:")), out
    assert sum(l.startswith("target:") for l in lines) == 2, out
    photos = sorted((tmp_path / "photos" / "full").rglob("*.jpg"))
    from PIL import Image
    assert len(photos) == 60 and Image.open(photos[0]).size == (90, 70)
    assert not list((tmp_path / "photos").glob(".bench-cache-*")), "the bench's caches are removed"
    again = _run(*args, "--no-off")                                  # the trees are reused
    assert "using " in again and "made 60" not in again and not any(l.startswith("off ") for l in again.splitlines()), again
