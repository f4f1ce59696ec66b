"""Two training steps (by default VP's and AdaViPro's; --pair A,B) timed in pairs: the two steps alternate one by one
on the same backbone, so the ratio of each pair sees the same state of the machine.

`bench/step.py` times each configuration for a few steps in a row; on a shared VM whose speed drifts by ±10–20 %
between minutes, that spreads a 5 % target ratio over several runs. Here every timed pair is (vp step, adavipro
step) or (adavipro, vp), alternating the order, and the figure is the median over the pairs of
vp s/step ÷ adavipro s/step (= adavipro img/s ÷ vp img/s), with its interquartile range. Each step is the library's
(`LibStep`: forward and loss under `precision_autocast`, backward, SGD and LambdaLR steps, as `fit` takes it) on a
random batch at 224 px; both prompters train on the same batch, as in `bench/step.py`. With --plain, the whole run
has the library's fast paths off (`adavipro.fast.set_fast_paths(False)`, before any model is built).

--pair A,B (default vp,adavipro) times any two of: `vp`, `adavipro` (the paper's method), `adavipro-nodiag` (adavipro
with its per-step mask diagnostics off: `prompter.stats`, the `MaskStats` that `AdaViProPrompter.forward` feeds,
replaced by a no-op object of the same interface, here in the bench, the library untouched) and `adavipro:<recipe>`
for a recipe of `adavipro.config.MASK_RECIPES` (e.g. `adavipro:noise_free`: the prompter built with the recipe's
prompter fields, its target-rate loss added to the loss, its mask optimiser and gradient clip as `fit` makes them).
The figure is always B's img/s over A's (= A s/step ÷ B s/step): with `--pair adavipro-nodiag,adavipro`, 0.98 means
that the diagnostics cost 2 % of the step.

Run from the repo root:  python bench/pair.py          (python bench/pair.py --help for the flags)
"""
from __future__ import annotations

import argparse, statistics, sys, time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import LibStep, class_names, environment, load_str, resolve_device, sync  # noqa: E402
from adavipro.backbones import create_backbone  # noqa: E402
from adavipro.config import MASK_RECIPES  # noqa: E402
from adavipro.core import keep_freed_memory  # noqa: E402
from adavipro.fast import set_fast_paths  # noqa: E402
from adavipro.model import PromptedClassifier, Preprocess, create_method  # noqa: E402


def quartiles(xs:list[float]) -> tuple[float, float]:
    "First and third quartiles (the median itself for fewer than 4 values)."
    if len(xs) < 4: m = statistics.median(xs); return m, m
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


# the recipe fields that `create_method("adavipro", ...)` takes (the prompter's), and those `LibStep` takes (the step's)
PROMPTER_FIELDS = ("policy_norm", "mask_init_on", "tau_min", "mask_warmup_epochs", "target_rate", "target_weight",
                   "mask_sampler")
STEP_FIELDS = ("lr_mask", "mask_optimizer", "mask_grad_clip")
METHODS = ("vp", "adavipro", "adavipro-nodiag", *(f"adavipro:{r}" for r in MASK_RECIPES))


class NoStats:
    "`MaskStats`' interface, doing nothing: `adavipro-nodiag`'s `prompter.stats` (the per-step diagnostics off)."
    def add_train(self, *args, **kwargs): pass
    add_eval = load = add_train
    def reset(self): pass
    def read(self) -> dict: return {}
    def state(self) -> dict: return {}


def parse_pair(s:str) -> tuple[str, str]:
    "`A,B` from `METHODS`, or exit with a one-line message naming the choices."
    parts = [x.strip() for x in s.split(",")]
    if len(parts) != 2 or not all(x in METHODS for x in parts):
        sys.exit(f"--pair {s}: give two of {', '.join(METHODS)}, comma-separated (A,B)")
    return parts[0], parts[1]


def build_method(name:str, **kwargs) -> tuple[nn.Module, dict]:
    "The prompter of `name` (from `METHODS`) and `LibStep`'s keyword arguments for it."
    if name.startswith("adavipro:"):
        recipe = MASK_RECIPES[name.split(":", 1)[1]]
        prompter = create_method("adavipro", **kwargs, **{k: recipe[k] for k in PROMPTER_FIELDS})
        return prompter, {k: recipe[k] for k in STEP_FIELDS}
    prompter = create_method("adavipro" if name == "adavipro-nodiag" else name, **kwargs)
    if name == "adavipro-nodiag": prompter.stats = NoStats()
    return prompter, {}


def describe(name:str) -> str:
    "One line saying what `name` is (printed for pairs other than the default)."
    if name.startswith("adavipro:"):
        recipe = MASK_RECIPES[name.split(":", 1)[1]]
        kv = lambda keys: ", ".join(f"{k}={recipe[k]!r}" for k in keys)
        return f"{name}: create_method('adavipro', {kv(PROMPTER_FIELDS)}); step: {kv(STEP_FIELDS)}, + extra_loss()"
    return {"vp": "vp: create_method('vp')", "adavipro": "adavipro: create_method('adavipro'), the paper's method",
            "adavipro-nodiag": "adavipro-nodiag: adavipro with prompter.stats a no-op (no per-step mask diagnostics)"}[name]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    ap.add_argument("--backbones", default="clip:ViT-B-32:random,efficientnet_lite0", help="comma-separated backbone specs")
    ap.add_argument("--precisions", default="fp32,bf16", help="comma-separated, from fp32 and bf16 (fit's precision)")
    ap.add_argument("--batch-size", type=int, default=None, help="default 32 on CPU, 256 on CUDA")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--pairs", type=int, default=12, help="timed pairs per backbone and precision (default 12)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps of each method first (default 2)")
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--prompt-size", type=int, default=30)
    ap.add_argument("--region-size", type=int, default=32)
    ap.add_argument("--embed-dim", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--pair", default="vp,adavipro",
                    help="A,B: the two steps to pair, from " + ", ".join(METHODS) + " (default vp,adavipro). The figure "
                         "is B img/s ÷ A img/s. adavipro-nodiag: adavipro with prompter.stats a no-op (its per-step "
                         "mask diagnostics off); adavipro:<recipe>: the prompter with the recipe's prompter fields "
                         f"({', '.join(PROMPTER_FIELDS)}), the step with its target-rate loss, its mask optimiser "
                         "(the mask generator's own AdamW for 'adamw') and gradient clip, as fit makes them. "
                         "The prompter is fresh (epoch 0, tau = tau0): a recipe's mask_warmup_epochs > 0 would time "
                         "its warm-up")
    ap.add_argument("--target", type=float, default=0.95, help="the ratio B / A to meet (default 0.95)")
    ap.add_argument("--plain", action="store_true",
                    help="run with the library's fast paths off (adavipro.fast.set_fast_paths(False)): the plain mask "
                         "generator and edge detector, the backbones' stock modules")
    a = ap.parse_args(argv)
    A, B_ = parse_pair(a.pair)
    if a.plain: set_fast_paths(False)
    device = resolve_device(a.device)
    if a.threads: torch.set_num_threads(a.threads)
    if device.type == "cpu": keep_freed_memory()      # as fit does on the CPU
    B = a.batch_size or (256 if device.type == "cuda" else 32)
    precisions = [p for p in a.precisions.split(",") if p]
    if not set(precisions) <= {"fp32", "bf16"}: sys.exit(f"--precisions {a.precisions}: use fp32 and/or bf16")
    print(f"bench/pair.py — {environment(device)}")
    print(f"device {device.type}, batch {B}, {a.image_size} px, {a.classes} classes, p = {a.prompt_size}, "
          f"R = {a.region_size}, D = {a.embed_dim}; fast paths {'off (--plain)' if a.plain else 'on'}; "
          f"{a.warmup} warm-up steps each, then {a.pairs} timed pairs; "
          f"start: {load_str()}", flush=True)
    if (A, B_) != ("vp", "adavipro"):
        print(f"pair A = {describe(A)}\n     B = {describe(B_)}\n     figure: B / A img/s", flush=True)
    torch.manual_seed(0)
    images = torch.rand(B, 3, a.image_size, a.image_size, device=device)
    labels = torch.randint(0, a.classes, (B,), device=device)
    results = []
    for spec in [s for s in a.backbones.split(",") if s]:
        backbone = create_backbone(spec, device=device)
        backbone.check_image_size(a.image_size)
        head = backbone.create_head(class_names(a.classes))
        for precision in precisions:
            steps = []                      # indexed 0 (A) and 1 (B): A and B may be the same method
            for method in (A, B_):
                torch.manual_seed(0)
                prompter, step_kw = build_method(method, prompt_size=a.prompt_size, image_size=a.image_size,
                                                 region_size=a.region_size, embed_dim=a.embed_dim)
                prompter.attach(backbone)
                model = PromptedClassifier(Preprocess(a.image_size, backbone.cfg.mean, backbone.cfg.std),
                                           prompter, backbone, head).to(device)
                steps.append(LibStep(model, device, prompter=prompter,
                                     precision="bf16" if precision == "bf16" else "auto", **step_kw))
            for step in steps:
                for _ in range(a.warmup): step(images, labels)
            sync(device)
            times = [[], []]
            for i in range(a.pairs):
                for m in ((0, 1) if i % 2 == 0 else (1, 0)):
                    t = time.perf_counter(); steps[m](images, labels); sync(device)
                    times[m].append(time.perf_counter() - t)
            ratios = [v / w for v, w in zip(times[0], times[1])]     # A s/step ÷ B s/step = B img/s ÷ A img/s
            q1, q3 = quartiles(ratios)
            r = statistics.median(ratios)
            results.append((spec, precision, r))
            print(f"  {spec:<22} {precision}: {A} {statistics.median(times[0]):.3f} s/step, {B_} "
                  f"{statistics.median(times[1]):.3f} s/step; {B_} / {A} img/s, median of {len(ratios)} "
                  f"pairs {r:.3f}× (quartiles {q1:.3f}–{q3:.3f}; range {min(ratios):.3f}–{max(ratios):.3f}); "
                  f"{load_str()}", flush=True)
            del steps
    print(f"\ntargets: {B_} ≥ {a.target}× {A} img/s (median of paired ratios); end: {load_str()}")
    for spec, precision, r in results:
        print(f"  {spec} {precision}: {r:.3f}×  → {'MET' if r >= a.target else 'MISSED'}")


if __name__ == "__main__":
    main()
