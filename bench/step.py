"""Training-step throughput of adavipro vs a step that behaves like the official VP code.

Per configuration: images/s, seconds/step (median over --steps timed steps, warm-up steps excluded), peak memory,
FLOPs per step, and the ratio of images/s to the reference on the same backbone — all measured in this one
process, on one random uint8 (B,3,224,224) batch (speed does not depend on content) with labels random in
[0, --classes).

Configurations (per backbone in --backbones):
  reference   CLIP: like hjbahng/visual_prompting main_clip.py — the open_clip model NOT frozen (backward computes
              grads for all ~151M weights), the class prompts tokenised and the text encoder run with gradients
              on every batch, fp16 autocast + GradScaler on CUDA, fp32 on CPU, loss/accuracy .item() per step.
              ImageNet classifiers (efficientnet_lite0, timm:...): like main_vision.py — NOT frozen, fp32.
  vp          adavipro's PromptedClassifier: frozen backbone, cached text head (CLIP) or label mapping, VP
              padding prompt, the step of adavipro.training.fit (no .item() per step).
  adavipro    the same with AdaViPro's masked prompt (mask generator at lr_mask).
  vpt_shallow, vpt_deep (--configs vpt = both)
              the library's VPT prompters (adavipro.vpt, --vpt-length tokens) through the same step; ViT backbones
              only (reported as not applicable on convnets, and as not implemented where the library lacks them).
With --compile / --channels-last, '<config>+compile' / '<config>+cl' variants of the library configurations are
added (torch.compile of the PromptedClassifier / channels_last memory format, as fit's compile / channels_last).
With --bf16 (CPU), '<config>+bf16' variants run under bf16 autocast (fit's precision='bf16'), and the CLIP
reference is also timed under CPU bf16 autocast as 'reference+bf16' (the official code's mixed precision, on a
CPU); 'vs reference' always divides by the float32 'reference', and the summary also compares like with like.
With --plain, '<config>+plain' variants run the same steps with the library's fast paths off
(adavipro.fast.fast_paths(False): the plain mask generator and edge detector, the backbone's stock forwards), and the
summary gives each configuration's img/s with the fast paths off over with them on.

Allocator (CPU): adavipro.training.fit makes glibc malloc keep freed memory (adavipro.core.keep_freed_memory), so
large activations are not page-faulted in afresh every step; the library configurations run with that setting
(--no-keep-freed-memory: without). The official code runs with glibc's defaults, so by default the references are
timed first, before the setting is made, and again after it as 'reference+kept' (--reference-malloc); 'vs reference'
divides by the default-allocator 'reference', and the summary also gives the ratios to 'reference+kept'.

Drift: the library configurations are timed in --rounds rounds in alternating order (A B C, C B A, ...), each
round rebuilding the prompter and doing its own warm-up, and the timed steps of all rounds are pooled, so that a
slow drift of the machine's speed hits every configuration alike. The references are timed once each, before them.

Run from the repo root:  python bench/step.py            (python bench/step.py --help for the flags)
"""
from __future__ import annotations

import argparse, gc, math, statistics, sys, time, traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (ClipReferenceStep, LibStep, PeakMemory, VisionReferenceStep, class_names, environment,  # noqa: E402
                     fmt, load1, load_str, peak_tflops, resolve_device, sync, table)
from adavipro.core import keep_freed_memory  # noqa: E402  (what fit calls on the CPU)

import torch  # noqa: E402
from adavipro.backbones import create_backbone  # noqa: E402
from adavipro.model import PromptedClassifier, Preprocess, create_method, list_methods, count_tunable_params  # noqa: E402
try: import adavipro.vpt  # noqa: F401,E402  (registers 'vpt_shallow' / 'vpt_deep' where the library has them)
except ImportError: pass

DEFAULT_BACKBONES = "clip:ViT-B-32:random,efficientnet_lite0"
LIB_METHODS = ("vp", "adavipro", "vpt_shallow", "vpt_deep")


def parse_args(argv=None):
    doc = __doc__.split("\n\n")
    p = argparse.ArgumentParser(description=doc[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(doc[1:]))
    p.add_argument("--device", default="auto", help="'auto' (cuda if available), 'cpu', 'cuda', 'cuda:N' (default: auto)")
    p.add_argument("--batch-size", type=int, default=None, help="images per step (default: 32 on CPU, 256 on CUDA)")
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps per library configuration, over all rounds (default: 8 on CPU, 30 on CUDA)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed warm-up steps per library configuration and round (default: 2 on CPU, 5 on CUDA)")
    p.add_argument("--rounds", type=int, default=None,
                   help="rounds the library configurations are timed in, alternating their order (default: 2 on CPU, 1 on CUDA)")
    p.add_argument("--ref-steps", type=int, default=None,
                   help="timed steps of the references (default: 3 on CPU — CLIP's is ~18 s/step at batch 32 — else --steps)")
    p.add_argument("--ref-warmup", type=int, default=None, help="warm-up steps of the references (default: 1 on CPU, else --warmup)")
    p.add_argument("--classes", type=int, default=100, help="number of classes (CLIP text prompts / label-mapped logits; default 100)")
    p.add_argument("--backbones", default=DEFAULT_BACKBONES, help=f"comma-separated backbone specs (default: {DEFAULT_BACKBONES})")
    p.add_argument("--configs", default="reference,vp,adavipro,vpt",
                   help="comma-separated configurations, from reference, vp, adavipro, vpt_shallow, vpt_deep "
                        "(vpt = both) (default: reference,vp,adavipro,vpt)")
    p.add_argument("--compile", action="store_true",
                   help="also time every library configuration with torch.compile(model) (as fit's compile=True)")
    p.add_argument("--channels-last", action="store_true",
                   help="also time every library configuration with the model in channels_last (as fit's channels_last=True)")
    p.add_argument("--bf16", action="store_true",
                   help="CPU: also time every library configuration under bf16 autocast (fit's precision='bf16') "
                        "and the CLIP reference under bf16 autocast ('reference+bf16'); on CUDA bf16 is the default")
    p.add_argument("--plain", action="store_true",
                   help="also time every library configuration with the library's fast paths off "
                        "(adavipro.fast.fast_paths(False); '<config>+plain' rows)")
    p.add_argument("--prompt-size", type=int, default=30, help="padding width p (default 30)")
    p.add_argument("--region-size", type=int, default=32, help="AdaViPro region size R (default 32)")
    p.add_argument("--embed-dim", type=int, default=64, help="AdaViPro convergence channels D (default 64)")
    p.add_argument("--vpt-length", type=int, default=10, help="VPT prompt tokens (per layer for vpt_deep; default 10)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--keep-freed-memory", action=argparse.BooleanOptionalAction, default=True,
                   help="(default: on, as adavipro.training.fit does on the CPU) "
                        "CPU: tell glibc malloc never to return freed memory to the OS (mallopt M_MMAP_MAX=0, "
                        "M_TRIM_THRESHOLD=huge; like MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...), so large "
                        "activations are not page-faulted in afresh every step")
    p.add_argument("--reference-malloc", choices=("default", "kept", "both"), default="both",
                   help="CPU, with --keep-freed-memory: time the references under glibc's default allocator, as the "
                        "official code runs ('default': first, before the library's malloc setting is made), under "
                        "the library's setting ('kept': reported as 'reference+kept'), or both (default: both). "
                        "'vs reference' divides by the default-allocator reference where there is one")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="the device's peak TFLOP/s for the MFU column (model FLOPs utilisation = counted FLOPs per "
                        "second / peak); default: the dense bf16 data-sheet peak for known GPUs (H100, H200, A100, ...), "
                        "none on the CPU")
    p.add_argument("--flops", action=argparse.BooleanOptionalAction, default=True,
                   help="count each configuration's FLOPs per step (torch.utils.flop_counter, in its first warm-up "
                        "step; not for +compile variants) and print GFLOP/step and achieved GFLOP/s (default: on)")
    p.add_argument("--profile", default=None, metavar="CONFIG",
                   help="after timing, profile one step of CONFIG (e.g. 'adavipro', 'vp+compile' or 'reference') on "
                        "each backbone with torch.profiler and print the top operators")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def run_steps(step, images, labels, n:int, device) -> list[float]:
    "`n` steps; the wall time of each (synchronised on CUDA)."
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        step(images, labels)
        sync(device)
        out.append(time.perf_counter() - t0)
    return out


def count_flops(step, images, labels, device) -> tuple[int, float]:
    "One step under torch.utils.flop_counter: (FLOPs, wall time of that step)."
    from torch.utils.flop_counter import FlopCounterMode
    t0 = time.perf_counter()
    with FlopCounterMode(display=False) as fc: step(images, labels)
    sync(device)
    return fc.get_total_flops(), time.perf_counter() - t0


def profile_step(step, images, labels, device, title:str, n:int=1, top:int=15):
    "Profile `n` steps (after the timing, so already warm) and print the top operators by self CPU/CUDA time."
    from torch.profiler import ProfilerActivity, profile, record_function
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(n):
            with record_function("step"): step(images, labels)
        sync(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(f"\n--- profile: {title} (top {top} operators by {key}) ---")
    print(prof.key_averages().table(sort_by=key, row_limit=top, max_name_column_width=48), flush=True)


def is_clip(spec:str) -> bool: return spec.startswith("clip:")


def main(argv=None):
    a = parse_args(argv)
    device = resolve_device(a.device)
    cuda = device.type == "cuda"
    if a.threads: torch.set_num_threads(a.threads)
    kept = a.keep_freed_memory and not cuda          # the library's malloc setting, made after the default-malloc references
    ref_phases = ((("default",) if a.reference_malloc in ("default", "both") else ()) +
                  (("kept",) if a.reference_malloc in ("kept", "both") else ())) if kept else ("default",)
    B = a.batch_size or (256 if cuda else 32)
    steps = a.steps or (30 if cuda else 8)
    warmup = a.warmup if a.warmup is not None else (5 if cuda else 2)
    rounds = max(1, min(a.rounds or (1 if cuda else 2), steps))
    ref_steps = a.ref_steps or (3 if not cuda else steps)
    ref_warmup = a.ref_warmup if a.ref_warmup is not None else (1 if not cuda else warmup)
    configs = [c.strip() for c in a.configs.split(",") if c.strip()]
    configs = [x for c in configs for x in (("vpt_shallow", "vpt_deep") if c == "vpt" else (c,))]
    backbones = [b.strip() for b in a.backbones.split(",") if b.strip()]
    unknown = set(configs) - {"reference", *LIB_METHODS}
    if unknown: sys.exit(f"--configs: unknown {sorted(unknown)}; use reference, {', '.join(LIB_METHODS)} (vpt = both VPTs)")
    if a.profile and a.profile.split("+")[0] not in configs: sys.exit(f"--profile {a.profile}: not among --configs {configs}")
    if a.bf16 and cuda: print("--bf16: the library already autocasts to bf16 on CUDA; no +bf16 variants"); a.bf16 = False
    torch.manual_seed(a.seed)

    peak_tf = a.peak_tflops or peak_tflops(device)   # TFLOP/s for the MFU column, or None
    mem = PeakMemory(device)
    classes = class_names(a.classes)
    per_round = [steps // rounds + (r < steps % rounds) for r in range(rounds)]
    print(f"bench/step.py — {environment(device)}")
    print(f"device {device}, batch {B}, {a.classes} classes; library configurations: {rounds} round(s) × "
          f"({warmup} warm-up + {'/'.join(map(str, per_round))} timed) steps; references: {ref_warmup} warm-up + "
          f"{ref_steps} timed")
    if kept: print("malloc: library configurations with freed memory kept by glibc malloc (as fit does on the CPU); "
                   "references under " + " and ".join({"default": "the default allocator (as the official code runs; timed first)",
                                                        "kept": "the library's setting ('+kept')"}[x] for x in ref_phases))
    print(f"memory = {mem.what}")
    print(f"start: {load_str()}")
    mem.reset(); base_mb = mem.current_mb()
    print(f"process memory before any model: {base_mb:.0f} MB" + (" allocated" if cuda else " RSS"))

    g = torch.Generator().manual_seed(a.seed)
    images = torch.randint(0, 256, (B, 3, 224, 224), dtype=torch.uint8, generator=g).to(device)
    labels = torch.randint(0, a.classes, (B,), generator=g).to(device)

    rows, notes = [], []
    t_all = time.perf_counter()

    def record(name, spec, times, first, peak, flops, extra=""):
        med = statistics.median(times)
        rows.append(dict(config=name, backbone=spec, B=B, n=len(times), s_step=fmt(med, 3),
                         spread=f"{min(times):.2f}–{max(times):.2f}", first=fmt(first, 2), img_s=fmt(B / med, 2),
                         peak=f"{peak:.0f}", load=fmt(load1(), 2), _img_s=B / med, note=extra,
                         gflop="-" if flops is None else f"{flops / 1e9:.0f}",
                         gflops="-" if flops is None else f"{flops / 1e9 / med:.0f}", _flops=flops,
                         mfu="-" if flops is None or not peak_tf else f"{100 * flops / med / (peak_tf * 1e12):.1f}%"))
        print(f"  {name:<18} {spec:<22} {med:8.3f} s/step  {B / med:8.2f} img/s  peak {peak:.0f} MB  "
              f"({len(times)} timed; {load_str()})", flush=True)

    def time_references(spec, suffix=""):
        "Time the reference step(s) on `spec` once; rows named 'reference[+bf16]' + suffix."
        for base in (("reference", "reference+bf16") if a.bf16 and is_clip(spec) else ("reference",)):
            ref_name, ref = base + suffix, None
            try:
                mem.reset()
                ref = (ClipReferenceStep(spec.split(":")[1], classes, device, a.prompt_size, cpu_bf16=base.endswith("+bf16"))
                       if is_clip(spec) else VisionReferenceStep(spec, a.classes, device, a.prompt_size))
                kind = "main_clip.py-like" if is_clip(spec) else "main_vision.py-like"
                flops, first = count_flops(ref, images, labels, device) if a.flops else (None, None)
                warm = run_steps(ref, images, labels, max(ref_warmup - a.flops, 0), device)
                times = run_steps(ref, images, labels, ref_steps, device)
                grouped = [m for m in ref.model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
                if flops is not None and grouped:   # torch's counter ignores groups in conv weight-gradient FLOPs
                    flops = None
                    if not suffix:
                        notes.append(f"reference on {spec}: FLOPs not shown — torch.utils.flop_counter ignores `groups` in "
                                     f"the weight-gradient FLOPs of its {len(grouped)} grouped (depthwise) convs, overstating them")
                malloc = "" if not kept else (", freed memory kept by malloc" if suffix else ", default malloc")
                record(ref_name, spec, times, first if first is not None else (warm or times)[0], mem.peak_mb(), flops,
                       f"{kind}, {ref.n_params / 1e6:.1f}M unfrozen weights" + (", bf16 autocast" if base.endswith("+bf16") else "") + malloc)
                if a.profile == ref_name: profile_step(ref, images, labels, device, f"{ref_name} on {spec}")
            except Exception as e:
                traceback.print_exc(); notes.append(f"{ref_name} on {spec} failed: {type(e).__name__}: {e}")
            del ref; gc.collect()

    if "reference" in configs and "default" in ref_phases:
        for spec in backbones:
            print(f"\n== backbone {spec}: reference" + (" (default malloc) ==" if kept else " =="), flush=True)
            time_references(spec)
    if kept: keep_freed_memory()                     # from here on, as adavipro.training.fit on the CPU

    for spec in backbones:
        print(f"\n== backbone {spec} ==", flush=True)
        if "reference" in configs and "kept" in ref_phases:
            time_references(spec, "" if "default" not in ref_phases else "+kept")

        # ------------------------------------------------------------------ library configurations (rounds)
        lib = [c for c in LIB_METHODS if c in configs]
        if not lib: continue
        backbone = create_backbone(spec, device=device)
        backbone.check_image_size(224)
        head = backbone.create_head(classes)   # CLIP: encode_text once; ImageNet: label mapping
        variants = [(c, "") for c in lib]
        if a.channels_last: variants += [(c, "+cl") for c in lib]
        if a.compile: variants += [(c, "+compile") for c in lib]
        if a.bf16: variants += [(c, "+bf16") for c in lib]
        if a.plain: variants += [(c, "+plain") for c in lib]
        acc = {}      # name → dict(times, first, peak, flops, extra)
        skipped = set()
        for r in range(rounds):
            for method, suffix in (variants if r % 2 == 0 else variants[::-1]):
                name, step, prompter = method + suffix, None, None
                if name in skipped: continue
                try:
                    if method.startswith("vpt") and method not in list_methods():
                        raise NotImplementedError(f"not implemented yet (adavipro has no '{method}' method: {list_methods()})")
                    mem.reset()
                    torch.manual_seed(a.seed)
                    prompter = create_method(method, prompt_size=a.vpt_length if method.startswith("vpt") else a.prompt_size,
                                             image_size=224, region_size=a.region_size, embed_dim=a.embed_dim)
                    prompter.attach(backbone)            # as build_run does (VPT installs its hooks here)
                    model = PromptedClassifier(Preprocess(224, backbone.cfg.mean, backbone.cfg.std),
                                               prompter, backbone, head).to(device)
                    tunable = count_tunable_params(model)
                    if suffix == "+cl": model = model.to(memory_format=torch.channels_last)
                    train_model = torch.compile(model) if suffix == "+compile" else model
                    step = LibStep(train_model, device, prompter=prompter, precision="bf16" if suffix == "+bf16" else "auto",
                                   plain=suffix == "+plain")
                    st = acc.setdefault(name, dict(times=[], first=None, peak=0., flops=None))
                    n_warm = warmup
                    if r == 0 and a.flops and suffix != "+compile":
                        st["flops"], st["first"] = count_flops(step, images, labels, device); n_warm -= 1
                    warm = run_steps(step, images, labels, max(n_warm, 0), device)
                    if st["first"] is None and warm: st["first"] = warm[0]
                    times = run_steps(step, images, labels, per_round[r], device)
                    if st["first"] is None: st["first"] = times[0]
                    st["times"] += times; st["peak"] = max(st["peak"], mem.peak_mb())
                    extra = f"{tunable:,} tunable params"
                    if method.startswith("vpt"): extra += f", {a.vpt_length} prompt tokens" + (" per layer" if method == "vpt_deep" else "")
                    if suffix == "+compile": extra += "; '1st step' includes compilation"
                    if suffix == "+cl": extra += "; model in channels_last"
                    if suffix == "+bf16": extra += "; bf16 autocast"
                    if suffix == "+plain": extra += "; fast paths off"
                    st["extra"] = extra
                    print(f"    round {r + 1}/{rounds} {name:<18} median {statistics.median(times):.3f} s/step "
                          f"({len(times)} timed; {load_str()})", flush=True)
                    if a.profile == name and r == rounds - 1:
                        profile_step(step, images, labels, device, f"{name} on {spec}")
                except NotImplementedError as e:
                    skipped.add(name); msg = f"{name} on {spec}: {e} — not timed"
                    print("  " + msg); notes.append(msg)
                except Exception as e:
                    skipped.add(name)
                    msg = f"{name} on {spec} not timed: {type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"
                    print("  " + msg); notes.append(msg)
                if prompter is not None and hasattr(prompter, "remove"): prompter.remove()   # VPT: unhook the shared backbone
                del step, prompter; gc.collect()
                if suffix == "+compile": torch._dynamo.reset()
        for method, suffix in variants:
            st = acc.get(method + suffix)
            if st and st["times"]: record(method + suffix, spec, st["times"], st["first"], st["peak"], st["flops"], st["extra"])
        del backbone, head; gc.collect()

    # ------------------------------------------------------------------------------------------ summary
    rows.sort(key=lambda r: backbones.index(r["backbone"]))   # per backbone, in the order timed
    by = {(r["backbone"], r["config"]): r for r in rows}
    for r in rows:
        ref = by.get((r["backbone"], "reference"))
        r["ratio"] = "-" if not ref else f"{r['_img_s'] / ref['_img_s']:.2f}×"
        vp = by.get((r["backbone"], "vp" + ("+" + r["config"].split("+")[1] if "+" in r["config"] else "")))
        r["vs_vp"] = (f"{r['_img_s'] / vp['_img_s']:.3f}×" if vp and not r["config"].startswith(("vp", "reference"))
                      else "")
    print(f"\n=== results: {device}, batch {B}, {a.classes} classes, median of timed steps; "
          f"total {time.perf_counter() - t_all:.0f} s; end: {load_str()} ===")
    print(table(rows, [("config", "config"), ("backbone", "backbone"), ("B", "B"), ("n", "timed"),
                       ("s_step", "s/step"), ("spread", "min–max s"), ("img_s", "img/s"), ("ratio", "vs reference"),
                       ("vs_vp", "vs vp"), ("gflop", "GFLOP/step"), ("gflops", "GFLOP/s")] + ([("mfu", "MFU")] if peak_tf else []) + [("peak", "peak MB"),
                       ("first", "1st step s"), ("load", "load1")]))
    if peak_tf: print(f"MFU = counted FLOPs per second / {peak_tf:g} TFLOP/s (" + ("--peak-tflops" if a.peak_tflops else
                   f"the dense bf16 data-sheet peak of the {torch.cuda.get_device_name(device)}") + "); FLOPs from torch.utils.flop_counter")
    print(f"peak MB = {mem.what}; process before any model: {base_mb:.0f} MB. 'vs vp' compares with vp of the same variant.")
    for r in rows:
        if r["note"]: print(f"  {r['config']} on {r['backbone']}: {r['note']}")
    for n in notes: print(f"  note: {n}")

    print("\ntargets (CPU): vp ≥ 6× reference img/s on CLIP ViT-B-32 with 100 classes; adavipro ≥ 0.95× vp img/s")
    for spec in backbones:
        ref, vp, ada = by.get((spec, "reference")), by.get((spec, "vp")), by.get((spec, "adavipro"))
        if ref and vp:
            x = vp["_img_s"] / ref["_img_s"]
            if ref["_flops"] and vp["_flops"]:
                print(f"  {spec}: FLOPs per step reference / vp = {ref['_flops'] / vp['_flops']:.2f}× "
                      "(the speed-up the arithmetic alone allows)")
            tgt = is_clip(spec) and a.classes == 100 and not cuda
            print(f"  {spec}: vp / reference = {x:.2f}×" +
                  (f"  → {'MET' if x >= 6 else 'MISSED'} (target ≥ 6×)" if tgt else "  (no target for this setting)"))
            refk = by.get((spec, "reference+kept"))
            if refk: print(f"  {spec}: vp / reference+kept (the reference with the library's malloc setting too) = "
                           f"{vp['_img_s'] / refk['_img_s']:.2f}×")
            vpb, refb = by.get((spec, "vp+bf16")), by.get((spec, "reference+bf16"))
            if vpb:
                x = vpb["_img_s"] / ref["_img_s"]
                print(f"  {spec}: vp+bf16 / reference (float32, the target's reference) = {x:.2f}×" +
                      (f"  → {'MET' if x >= 6 else 'MISSED'} (target ≥ 6×)" if tgt else ""))
                if refb: print(f"  {spec}: vp+bf16 / reference+bf16 (both bf16 autocast) = {vpb['_img_s'] / refb['_img_s']:.2f}×")
                refbk = by.get((spec, "reference+bf16+kept"))
                if refbk: print(f"  {spec}: vp+bf16 / reference+bf16+kept = {vpb['_img_s'] / refbk['_img_s']:.2f}×")
        for suffix in ("", "+bf16"):
            vp, ada = by.get((spec, "vp" + suffix)), by.get((spec, "adavipro" + suffix))
            if not (vp and ada): continue
            x = ada["_img_s"] / vp["_img_s"]
            if ada["_flops"] and vp["_flops"] and not suffix:
                print(f"  {spec}: FLOPs per step vp / adavipro = {vp['_flops'] / ada['_flops']:.3f}×")
            print(f"  {spec}: adavipro{suffix} / vp{suffix} = {x:.3f}×  → {'MET' if x >= 0.95 else 'MISSED'} (target ≥ 0.95×)")
        for method in LIB_METHODS:
            on, off = by.get((spec, method)), by.get((spec, method + "+plain"))
            if on and off: print(f"  {spec}: {method}+plain / {method} = {off['_img_s'] / on['_img_s']:.3f}× "
                                 "(img/s with the fast paths off over on)")
    if not mem.resettable: print("  (peak memory not reset per configuration on this system: read it as a running maximum)")


if __name__ == "__main__":
    main()
