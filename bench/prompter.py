"""Forward + backward time of the prompters alone, without a backbone: what AdaViPro's edge detector and mask
generator add to a training step, and what the region-by-region CPU path of the mask generator saves.

Per configuration and precision (float32; bf16 autocast with --bf16, as `fit`'s precision='bf16'): the median time
of one forward of the prompter on a random (B,3,S,S) batch in training mode, a scalar loss on its output and the
backward to the prompter's parameters (what a training step does before and after the backbone), over --steps timed
repetitions after --warmup, interleaved between configurations.

Configurations:
  vp              VP's padding prompter (`create_method('vp')`).
  adavipro        AdaViPro's prompter as the library runs it: the mask generator decides only the regions that the
                  frame reaches (`prompted_regions`), on the CPU through `adavipro.fast.RegionMaskGenerator`.
  adavipro-plain  the same module and weights with the library's fast paths off (`adavipro.fast.fast_paths(False)`):
                  the mask generator's plain composition `policy(relu(convergence(edges)))` over the whole grid, left
                  to autograd (the eager PyTorch baseline: the paper's formula as written).
  convs-only      a floor, not a prompter: only the two convolutions that AdaViPro's prompter cannot avoid, on the
                  regions it decides and in the same dtype: the 3→D convergence convolution with its ReLU (forward)
                  and that convolution's weight gradient (backward), as the library's CPU path calls them, plus
                  the copy of the regions' patches they read (~1–2 ms at batch 32). Every
                  other operation of the prompter (edge detector, policy products, passes over the activation,
                  Gumbel sampling, eq. 5) is left out, so `adavipro − convs-only` is what a kernel fusing all of
                  them away could save at most.

Run from the repo root:  python bench/prompter.py --bf16     (python bench/prompter.py --help for the flags)
"""
from __future__ import annotations

import argparse, statistics, sys, time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, fmt, load_str, resolve_device, sync, table  # noqa: E402
from adavipro.core import keep_freed_memory, precision_autocast  # noqa: E402
from adavipro.fast import fast_paths, fused_conv_relu, region_patches  # noqa: E402
from adavipro.model import create_method  # noqa: E402


def plain_forward(p, x):
    "AdaViProPrompter.forward with the fast paths off: the mask generator's plain composition over every region."
    with fast_paths(False): return p(x)


def convs_only(p, x):
    "The floor: the convergence conv + ReLU and its weight gradient on the decided regions, nothing else (no autograd)."
    mg = p.mask_generator
    w, b = mg.convergence.weight, mg.convergence.bias
    dt = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else w.dtype
    with torch.autocast(x.device.type, enabled=False), torch.no_grad():
        R, D = mg.region_size, w.shape[0]
        patches = region_patches(x.to(dt), R, p.prompted_regions)         # (N,3,R+2,R+2), stands in for the edges
        w, b = w.to(dt), b.to(dt)
        h = fused_conv_relu(patches, w, b) if x.device.type == "cpu" else F.conv2d(patches, w, b).relu_()
        grad_wc = torch.ops.aten.convolution_backward(h, patches, w, [D], [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
                                                      (False, True, False))[1]
    return grad_wc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--prompt-size", type=int, default=30)
    ap.add_argument("--region-size", type=int, default=32)
    ap.add_argument("--embed-dim", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10, help="timed repetitions per configuration (default 10)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--bf16", action="store_true", help="also time every configuration under bf16 autocast")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--profile", action="store_true", help="print a torch.profiler table of one 'adavipro' repetition")
    a = ap.parse_args(argv)
    device = resolve_device(a.device)
    if a.threads: torch.set_num_threads(a.threads)
    if device.type == "cpu": keep_freed_memory()      # as fit does on the CPU
    print(f"bench/prompter.py — {environment(device)}")
    print(f"device {device.type}, batch {a.batch_size}, {a.image_size} px, p = {a.prompt_size}, R = {a.region_size}, "
          f"D = {a.embed_dim}; {a.warmup} warm-up + {a.steps} timed repetitions; start: {load_str()}", flush=True)

    torch.manual_seed(0)
    x = torch.randn(a.batch_size, 3, a.image_size, a.image_size, device=device)
    vp = create_method("vp", prompt_size=a.prompt_size, image_size=a.image_size).to(device).train()
    ada = create_method("adavipro", prompt_size=a.prompt_size, image_size=a.image_size, region_size=a.region_size,
                        embed_dim=a.embed_dim).to(device).train()
    configs = {"vp": (vp, vp.forward), "adavipro": (ada, ada.forward),
               "adavipro-plain": (ada, lambda x: plain_forward(ada, x)), "convs-only": (ada, lambda x: convs_only(ada, x))}
    precisions = ["fp32"] + (["bf16"] if a.bf16 else [])

    def once(prompter, fwd, precision):
        prompter.zero_grad(set_to_none=True)
        with precision_autocast(device, precision):
            out = fwd(x)
        if out.requires_grad: out.float().square().mean().backward()
        sync(device)

    times = {(c, p): [] for c in configs for p in precisions}
    for key in times:
        for _ in range(a.warmup): once(*configs[key[0]], key[1])
    order = list(times)
    for i in range(a.steps):
        for key in (order if i % 2 == 0 else order[::-1]):
            t = time.perf_counter(); once(*configs[key[0]], key[1]); times[key].append(time.perf_counter() - t)

    rows = []
    for (c, p), ts in times.items():
        med = statistics.median(ts)
        plain = statistics.median(times[("adavipro-plain", p)])
        rows.append(dict(config=c, precision=p, ms=fmt(med * 1e3, 1), range=f"{min(ts)*1e3:.0f}–{max(ts)*1e3:.0f}",
                         vs_plain=f"{plain / med:.2f}×" if c == "adavipro" else ""))
    print(f"\n=== forward + backward of the prompter alone, median ms; end: {load_str()} ===")
    print(table(rows, [("config", "config"), ("precision", "precision"), ("ms", "ms"), ("range", "min–max ms"),
                       ("vs_plain", "plain / library")]))
    for p in precisions:
        extra = statistics.median(times[("adavipro", p)]) - statistics.median(times[("vp", p)])
        print(f"  {p}: adavipro − vp = {extra * 1e3:.0f} ms per step of {a.batch_size} images")
        floor = statistics.median(times[("convs-only", p)])
        print(f"  {p}: the two convolutions alone (convs-only) take {floor * 1e3:.0f} ms: no kernel that keeps them "
              f"can make adavipro − vp smaller than that")

    if a.profile:
        from torch.profiler import profile
        once(ada, ada.forward, "fp32")
        with profile() as prof: once(ada, ada.forward, "fp32")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
