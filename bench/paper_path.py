"""The paper's training path end to end, killed mid-epoch and resumed: img/s including data, peak memory and MFU.

What it runs is `adavipro.training.fit` itself, in a child process, with the paper preset's configuration
(`adavipro.study.PRESETS['paper']`: AdaViPro, p = 30, R = 32, D = 64, SGD lr 40, batch 256, bf16 autocast on CUDA)
on random-weight CLIP ViT-B/32 (`clip:ViT-B-32:random`: the speed does not depend on the weights), for --epochs
epochs of a JPEG folder (`imagefolder:`): --images CIFAR-10 training JPEGs (and a tenth as many test JPEGs), resized
once to --image-size and stored as JPEGs, so the data path decodes full-size files as it would for the paper's
datasets. The first child saves last.pt every --kill-after steps; once it has saved inside epoch --kill-epoch, it is
killed with SIGKILL, and a second child resumes the run from that last.pt and finishes it.

Reported per epoch and per child: training images, the seconds of the epoch's training loop (data, steps and the
epoch's checkpoint; validation excluded and shown apart), img/s including data, the child's peak memory (CUDA:
torch.cuda.max_memory_allocated; CPU: peak RSS) and MFU: FLOPs per image (one training step counted with
torch.utils.flop_counter, as bench/step.py) × img/s over the device's dense bf16 peak (`GPU_PEAK_TFLOPS` in
bench/_common.py, or --peak-tflops). Exit status 1 if the run did not resume inside the killed epoch or did not finish.

Run from the repo root:  python bench/paper_path.py --device cuda          (the GPU part `paper` of bench/gpu.sh)
                         python bench/paper_path.py --device cpu --images 64 --batch-size 8 --image-size 32  (tiny)
"""
from __future__ import annotations

import argparse, io, json, os, shutil, signal, subprocess, sys, tarfile, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, PeakMemory, environment, peak_tflops, resolve_device, table  # noqa: E402

import torch  # noqa: E402

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ARCHIVES = (REPO / ".data" / "cifar10-jpeg.tar.gz", REPO.parent / "shared" / "data" / "cifar10" / "cifar10-jpeg.tar.gz",
            REPO / "data" / "cifar10-jpeg")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--device", default="auto", help="'auto' (cuda if available), 'cpu', 'cuda', 'cuda:N' (default: auto)")
    p.add_argument("--images", type=int, default=3000, help="CIFAR-10 training JPEGs in the folder, split 9:1 into "
                   "train and validation by fit (default 3000; in small folders, 2 validation images per class); plus a "
                   "tenth as many test JPEGs")
    p.add_argument("--image-size", type=int, default=224, help="side the JPEGs are stored at and the model's input (default 224)")
    p.add_argument("--batch-size", type=int, default=256, help="global batch (default 256, the paper's)")
    p.add_argument("--epochs", type=int, default=3, help="epochs (default 3)")
    p.add_argument("--kill-epoch", type=int, default=2, help="the epoch (1-based) in which the first child is killed (default 2)")
    p.add_argument("--kill-after", type=int, default=None,
                   help="last.pt is saved every N steps; the child is killed after the first such save in --kill-epoch "
                        "(default: half the steps of an epoch)")
    p.add_argument("--backbone", default=None, help="default: clip:ViT-B-32:random at 224 px, efficientnet_lite0 at other sizes")
    p.add_argument("--method", default="adavipro", help="default: adavipro")
    p.add_argument("--num-workers", type=int, default=0, help="TrainConfig.num_workers (default 0, as the paper preset)")
    p.add_argument("--archive", default=None, help="CIFAR-10 JPEG archive (.tar.gz) or tree (train/<class>/, test/<class>/); "
                   "default: the first of " + ", ".join(str(a.relative_to(REPO.parent)) for a in ARCHIVES) + " that exists")
    p.add_argument("--work", default="data/paper-path", help="folder for the JPEG subset and the run (default: data/paper-path)")
    p.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak for MFU (default: from "
                   "GPU_PEAK_TFLOPS for known GPUs; none on the CPU)")
    p.add_argument("--timeout", type=float, default=420, help="seconds each child may take before it is stopped (default 420)")
    p.add_argument("--child", nargs=2, metavar=("CONFIG_JSON", "STATS_JSON"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------------ the JPEG folder
def _members(archive:Path):
    "(split, class, name, JPEG bytes) of every image of a CIFAR-10 JPEG archive or tree."
    if archive.is_dir():
        for f in sorted(archive.glob("*/*/*.jpg")): yield f.parts[-3], f.parts[-2], f.name, f.read_bytes()
        return
    with tarfile.open(archive) as tf:
        for m in tf:
            parts = m.name.strip("./").split("/")
            if m.isfile() and len(parts) >= 3 and parts[-1].endswith(".jpg"): yield parts[-3], parts[-2], parts[-1], tf.extractfile(m).read()


def build_folder(archive:Path, out:Path, images:int, size:int) -> str:
    "An `imagefolder:` tree of `images` train and images/10 test JPEGs resized to `size`, made once (temp dir + rename)."
    from PIL import Image
    want = {"train": -(-images // len(CLASSES)), "test": max(1, -(-images // 10 // len(CLASSES)))}
    if out.is_dir(): return f"using {out}"
    t0, tmp = time.perf_counter(), Path(tempfile.mkdtemp(prefix=".build-", dir=out.parent))
    try:
        counts = {}
        for split, cls, name, data in _members(archive):
            k = (split, cls)
            if split not in want or cls not in CLASSES or counts.get(k, 0) >= want[split]: continue
            img = Image.open(io.BytesIO(data)).convert("RGB").resize((size, size), Image.BICUBIC)
            (tmp / split / cls).mkdir(parents=True, exist_ok=True)
            img.save(tmp / split / cls / name, quality=90)
            counts[k] = counts.get(k, 0) + 1
            if len(counts) == 2 * len(CLASSES) and all(counts[(s, c)] >= want[s] for s in want for c in CLASSES): break
        n = {s: sum(v for (t, _), v in counts.items() if t == s) for s in want}
        if n["train"] < len(CLASSES) or n["test"] < len(CLASSES): sys.exit(f"{archive} has too few CIFAR-10 JPEGs")
        tmp.rename(out)
    finally:
        if tmp.exists(): shutil.rmtree(tmp, ignore_errors=True)
    return f"made {out}: {n['train']} train + {n['test']} test JPEGs at {size}×{size} in {time.perf_counter() - t0:.1f} s"


# --------------------------------------------------------------------------------------------------------- child
def child(config_json:str, stats_json:str) -> int:
    """Run `fit` on the configuration; after each epoch append its figures to `stats_json`: the epoch's training
    loop measured from the call of `iterate_batches` that starts it to the epoch's end, less its validation."""
    import adavipro.training as T
    from adavipro.core import atomic_write_json
    from adavipro.training import TrainConfig, fit
    cfg = TrainConfig(**json.loads(Path(config_json).read_text()))
    device, state = resolve_device(cfg.device), dict(start=None, eval_s=0.0, images=0)
    meter = PeakMemory(device); meter.reset()
    stats = json.loads(Path(stats_json).read_text()) if Path(stats_json).exists() else []
    run = 1 + max((r["run"] for r in stats), default=0)
    evaluate, iterate_batches, train_step = T.evaluate, T.iterate_batches, T._train_step

    def timed_evaluate(*a, **k):
        t0 = time.perf_counter()
        try: return evaluate(*a, **k)
        finally: state["eval_s"] += time.perf_counter() - t0
    def marked_iterate_batches(*a, **k):   # fit shuffles once at the start of every epoch; evaluation does not
        if k.get("shuffle"): state["start"], state["eval_s"], state["images"] = time.perf_counter(), 0.0, 0
        return iterate_batches(*a, **k)
    def counted_train_step(*a, **k):
        state["images"] += len(a[6])       # _train_step(train_model, prompter, opts, scheds, clipped, images, labels, …)
        return train_step(*a, **k)
    def record(epoch:int, row:dict):
        wall = time.perf_counter() - state["start"]
        stats.append(dict(run=run, epoch=epoch, images=state["images"], train_s=wall - state["eval_s"],
                          val_s=state["eval_s"], peak_mb=meter.peak_mb(), val_acc=row["val_acc"]))
        atomic_write_json(stats_json, stats)
    T.evaluate, T.iterate_batches, T._train_step = timed_evaluate, marked_iterate_batches, counted_train_step
    fit(cfg, callbacks=[record], progress=False)
    return 0


# -------------------------------------------------------------------------------------------------------- parent
def partial_at(path:Path, epoch:int) -> bool:
    "Whether `path` is a last.pt saved inside (0-based) `epoch`."
    try: ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception: return False
    return ck.get("epoch") == epoch and ck.get("partial") is not None


def launch(cfg_json:Path, stats_json:Path, log:Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, __file__, "--child", str(cfg_json), str(stats_json)], env=env, cwd=REPO,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def flops_per_image(cfg, device:torch.device) -> float:
    "FLOPs of one training step (forward, loss, backward, optimiser) at cfg.batch_size, per image (flop_counter)."
    from torch.utils.flop_counter import FlopCounterMode
    from _common import LibStep
    from adavipro.training import build_run
    model, _ = build_run(cfg, device)
    step = LibStep(model, device, cfg.lr_prompt, cfg.lr_mask, precision=cfg.precision)
    x = torch.randint(0, 256, (cfg.batch_size, 3, cfg.image_size, cfg.image_size), dtype=torch.uint8, device=device)
    y = torch.randint(0, 10, (cfg.batch_size,), device=device)
    step(x, y)   # warm-up: lazy initialisations are not the step's FLOPs
    with FlopCounterMode(display=False) as fc: step(x, y)
    del model, step
    if device.type == "cuda": torch.cuda.empty_cache()
    return fc.get_total_flops() / cfg.batch_size


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.child: return child(*a.child)
    from adavipro.study import PRESETS, scale_size
    from adavipro.training import TrainConfig
    device = resolve_device(a.device)
    S = a.image_size
    backbone = a.backbone or ("clip:ViT-B-32:random" if S == 224 else "efficientnet_lite0")
    archive = Path(a.archive) if a.archive else next((p for p in ARCHIVES if p.exists()), None)
    if archive is None or not archive.exists():
        sys.exit(f"no CIFAR-10 JPEGs: pass --archive (a .tar.gz or a train/<class>/ tree); looked for {', '.join(map(str, ARCHIVES))}")
    work = (REPO / a.work).resolve(); work.mkdir(parents=True, exist_ok=True)
    folder = work / f"cifar10-{a.images}-{S}px"
    print(build_folder(archive, folder, a.images, S))
    run_dir = work / f"run-{backbone.replace(':', '_').replace('/', '_')}-{a.method}-{S}px-b{a.batch_size}"
    shutil.rmtree(run_dir, ignore_errors=True)
    n_train = sum(1 for _ in (folder / "train").glob("*/*.jpg"))
    val_fraction = 0.1 if n_train * 0.1 >= 2 * len(CLASSES) else min(0.5, 2 * len(CLASSES) / n_train)   # ≥ 2 per class
    steps = -(-(n_train - round(n_train * val_fraction)) // a.batch_size)   # fit trains on the rest
    kill_after = a.kill_after or max(1, steps // 2)
    if not 1 <= a.kill_epoch <= a.epochs or kill_after >= steps:
        sys.exit(f"--kill-epoch {a.kill_epoch} / --kill-after {kill_after}: the kill must fall inside an epoch of {steps} steps "
                 f"among {a.epochs} epochs")
    base = dict(PRESETS["paper"]["base"])
    cfg = TrainConfig(**{**{k: v for k, v in base.items() if k in TrainConfig.__dataclass_fields__},
                         "dataset": f"imagefolder:{folder}", "backbone": backbone, "method": a.method, "image_size": S,
                         "prompt_size": scale_size(30, S), "region_size": scale_size(32, S, divides=True),
                         "batch_size": a.batch_size, "epochs": a.epochs, "device": str(device), "num_workers": a.num_workers,
                         "out_dir": str(run_dir), "checkpoint_every": kill_after, "data_root": str(work / "data"),
                         "val_fraction": val_fraction})
    cfg_json, stats_json, log = work / "config.json", work / "stats.json", work / "children.log"
    cfg_json.write_text(json.dumps(cfg.__dict__)); stats_json.unlink(missing_ok=True); log.unlink(missing_ok=True)
    print(f"{environment(device)}\n{backbone}, {a.method} (p = {cfg.prompt_size}, R = {cfg.region_size}, D = {cfg.embed_dim}), "
          f"{S} px, batch {a.batch_size}, precision {cfg.precision}, {a.epochs} epochs of {steps} steps; "
          f"{n_train} JPEGs in {folder.name}/train; last.pt every {kill_after} steps; SIGKILL in epoch {a.kill_epoch}")

    t0 = time.time()
    first = launch(cfg_json, stats_json, log)
    killed = None
    while first.poll() is None and time.time() - t0 < a.timeout:
        if partial_at(run_dir / "last.pt", a.kill_epoch - 1):
            first.send_signal(signal.SIGKILL); first.wait(); killed = time.time() - t0; break
        time.sleep(0.1)
    if killed is None:
        if first.poll() is None: first.kill(); first.wait()
        print(open(log, errors="replace").read()[-3000:]); print("FAILED: the first child was not killed inside an epoch"); return 1
    t1 = time.time()
    second = launch(cfg_json, stats_json, log)
    try: second.wait(timeout=a.timeout)
    except subprocess.TimeoutExpired: second.kill(); second.wait()
    text = open(log, errors="replace").read()
    resumed = next((l for l in text.splitlines() if l.startswith("resuming ")), None)
    ok = second.returncode == 0 and (run_dir / "metrics.json").exists() and resumed is not None and \
        f"at epoch {a.kill_epoch}/{a.epochs}, batch " in resumed
    if not ok:
        print(text[-3000:]); print(f"FAILED: the resumed child exited with {second.returncode}; resume line: {resumed}"); return 1

    peak = a.peak_tflops or peak_tflops(device)
    fpi = flops_per_image(cfg, device)
    stats = json.loads(stats_json.read_text())
    rows = [dict(child=("first" if r["run"] == 1 else "resumed"), epoch=r["epoch"], images=r["images"], train_s=f"{r['train_s']:.2f}",
                 ips=f"{r['images'] / r['train_s']:.0f}", val_s=f"{r['val_s']:.2f}", peak=f"{r['peak_mb']:.0f}",
                 mfu=f"{100 * fpi * r['images'] / r['train_s'] / (peak * 1e12):.1f} %" if peak else "–") for r in stats]
    cols = [("child", "child"), ("epoch", "epoch"), ("images", "train images"), ("train_s", "train loop s"),
            ("ips", "img/s incl. data"), ("val_s", "val s"), ("peak", "peak MB"), ("mfu", "MFU")]
    print(table(rows, cols))
    later = [r for r in stats if r["run"] == 2 and r["epoch"] > a.kill_epoch] or stats[-1:]
    ips = sum(r["images"] for r in later) / sum(r["train_s"] for r in later)
    print(f"first child killed (SIGKILL) {killed:.1f} s after its start, inside epoch {a.kill_epoch}; {resumed.strip()}")
    print(f"finished {time.time() - t1:.1f} s after the restart: test_acc "
          f"{json.loads((run_dir / 'metrics.json').read_text())['test_acc']:.3f} (random weights: chance)")
    print(f"FLOPs per image of a training step (torch.utils.flop_counter, batch {a.batch_size}): {fpi / 1e9:.2f} GFLOP")
    print(f"steady state (the resumed child's full epochs): {ips:.0f} img/s including data"
          + (f", MFU {100 * fpi * ips / (peak * 1e12):.1f} % of {peak:.0f} TFLOP/s" if peak else ", MFU: no peak for this device"))
    print(f"peak memory: {max(r['peak_mb'] for r in stats):.0f} MB ({PeakMemory(device).what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
