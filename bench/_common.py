"""Helpers shared by bench/step.py and bench/epoch.py (benchmark code, not part of the adavipro package).

Holds: the library training step (the same step structure as `adavipro.training.fit`), the reference steps that
behave like the official VP code (hjbahng/visual_prompting `main_clip.py` / `main_vision.py`), a per-phase peak
memory meter and small reporting helpers.
"""
from __future__ import annotations

import ctypes, gc, math, os, platform, re, resource, subprocess, sys, time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn, Tensor

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path: sys.path.insert(0, str(REPO))   # `python bench/x.py` from a checkout without `pip install -e`

from adavipro.core import precision_autocast  # noqa: E402
from adavipro.fast import fast_paths, use_stock_layers  # noqa: E402
from adavipro.training import TrainConfig, make_optimizers, warmup_cosine  # noqa: E402


def _register_fused_conv_flops():
    """`torch.utils.flop_counter` has no formula for oneDNN's fused `conv2d + ReLU` (`mkldnn::_convolution_pointwise`,
    which AdaViPro's mask generator runs on the CPU: 2.7 GFLOP per step at batch 32), so it would count 0 for it.
    Count it as the convolution it is."""
    from torch.utils.flop_counter import conv_flop_count, register_flop_formula
    op = getattr(getattr(torch.ops, "mkldnn", None), "_convolution_pointwise", None)
    if op is None: return

    def flops(x, w, b=None, padding=None, stride=None, dilation=None, groups=None, *rest, out_shape=None, **kw):
        # the default overload (x, w, b, padding, stride, dilation, groups, attr, ...); other overloads count 0
        ok = isinstance(groups, int) and len(x) == len(w) == 4 and w[1] * groups == x[1]
        return conv_flop_count(x, w, out_shape) if ok else 0
    try: register_flop_formula(op)(flops)
    except (RuntimeError, ValueError): pass   # registered already, or a torch without the registry's shape

_register_fused_conv_flops()

# CIFAR-100's 100 fine labels (readable), used as the class names of the 100-way heads: the text encoder's cost
# does not depend on the words (every prompt is padded to 77 tokens), but real names keep the benchmark honest.
CIFAR100_CLASSES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can castle "
    "caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin elephant "
    "flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man "
    "maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree "
    "plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail "
    "snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor train trout "
    "tulip turtle wardrobe whale willow_tree wolf woman worm").split()
assert len(CIFAR100_CLASSES) == 100

TEXT_TEMPLATE = "This is a photo of a {}"   # the official VP template (and adavipro.backbones.TEXT_TEMPLATE)


def class_names(n:int) -> list[str]:
    "`n` readable class names: CIFAR-100's first, then 'class <i>'."
    return [c.replace("_", " ") for c in CIFAR100_CLASSES[:n]] + [f"class {i}" for i in range(100, n)]


# ----------------------------------------------------------------------------------------------------------- env
def load_str() -> str:
    "The 1/5/15-minute load averages, as `uptime` prints them."
    return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())

def load1() -> float: return os.getloadavg()[0]

def environment(device:torch.device) -> str:
    "One line about the machine: CPU, cores, torch threads, torch version, GPU."
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"): cpu = line.split(":", 1)[1].strip(); break
    except OSError: pass
    s = (f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} with {torch.get_num_threads()} threads, "
         f"python {platform.python_version()}")
    if device.type == "cuda": s += f", GPU {torch.cuda.get_device_name(device)}"
    return s

# Dense (no sparsity) bf16/fp16 tensor-core peaks from the vendors' data sheets, TFLOP/s: the denominator of the
# model FLOPs utilisation (MFU) that bench/step.py prints on these GPUs. Elsewhere pass --peak-tflops.
GPU_PEAK_TFLOPS = {"H100 NVL": 835., "H100 PCIe": 756., "H100": 989., "H200": 989., "A100": 312.,
                   "L40S": 362., "A10": 125., "RTX 3090": 71.}

def peak_tflops(device:torch.device) -> float|None:
    "The data-sheet dense bf16 peak of `device` if it is a GPU in `GPU_PEAK_TFLOPS` (longest name match), else None."
    if device.type != "cuda": return None
    name = torch.cuda.get_device_name(device)
    hits = [k for k in GPU_PEAK_TFLOPS if all(w in name for w in k.split())]
    return GPU_PEAK_TFLOPS[max(hits, key=len)] if hits else None

def resolve_device(name:str) -> torch.device:
    if name == "auto": return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    d = torch.device(name)
    if d.type == "cuda" and not torch.cuda.is_available(): sys.exit(f"--device {name}: CUDA is not available here")
    return d

def sync(device:torch.device):
    if device.type == "cuda": torch.cuda.synchronize(device)


# -------------------------------------------------------------------------------------------------------- memory
def _vm_kb(field:str) -> int|None:
    try: m = re.search(rf"^{field}:\s+(\d+)\s+kB", Path("/proc/self/status").read_text(), re.M)
    except OSError: return None
    return int(m.group(1)) if m else None

class PeakMemory:
    """Peak memory of one phase. CUDA: `torch.cuda.max_memory_allocated` after `reset_peak_memory_stats`.
    CPU: the process's peak resident set (VmHWM), reset per phase by writing 5 to /proc/self/clear_refs after
    `malloc_trim` (Linux ≥ 4.0); where that is not possible, `getrusage` ru_maxrss, which is monotonic over the
    process (then `resettable` is False and a phase's figure can include an earlier phase's peak)."""
    def __init__(self, device:torch.device):
        self.device = device
        self.resettable = device.type == "cuda" or self._try_reset()
        try: self._libc = ctypes.CDLL("libc.so.6")
        except OSError: self._libc = None

    @staticmethod
    def _try_reset() -> bool:
        try: Path("/proc/self/clear_refs").write_text("5"); return _vm_kb("VmHWM") is not None
        except OSError: return False

    def reset(self):
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(self.device)
            return
        if self._libc is not None:
            try: self._libc.malloc_trim(0)
            except AttributeError: pass
        if self.resettable: self._try_reset()

    def current_mb(self) -> float:
        if self.device.type == "cuda": return torch.cuda.memory_allocated(self.device) / 2**20
        kb = _vm_kb("VmRSS")
        return kb / 1024 if kb is not None else float("nan")

    def peak_mb(self) -> float:
        if self.device.type == "cuda": return torch.cuda.max_memory_allocated(self.device) / 2**20
        kb = _vm_kb("VmHWM") if self.resettable else None
        return (kb if kb is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024

    @property
    def what(self) -> str:
        if self.device.type == "cuda": return "peak CUDA memory allocated (torch.cuda.max_memory_allocated)"
        return ("peak RSS of the process during the phase (VmHWM, reset per phase)" if self.resettable else
                "peak RSS of the process so far (ru_maxrss, monotonic: not reset per phase)")


# ------------------------------------------------------------------------------------------------- library step
class LibStep:
    """One optimiser step exactly as `adavipro.training.fit` takes it on one process: forward, cross-entropy and the
    prompter's `extra_loss()` (AdaViPro's target-rate loss; None, so nothing, for the paper's method) under
    `precision_autocast`, zero_grad(set_to_none), backward, the optimiser and LambdaLR(warmup_cosine) steps, and the
    on-device loss/accuracy/non-finite accumulators (stacked as fit does; no `.item()` per step). The optimisers are
    fit's (`make_optimizers`): SGD with momentum over `prompter.param_groups`, except, with `mask_optimizer='adamw'`,
    the 'mask' group(s) under their own AdamW at `lr_mask`; with `mask_grad_clip`, the mask generator's gradient norm
    is clipped before the steps. Several `LibStep`s may share one optimiser (`opt=`, `sched=`; then SGD only).
    With `plain`, the step runs with the library's fast paths off (`adavipro.fast.fast_paths(False)`); otherwise as
    the process is set."""
    def __init__(self, model:nn.Module, device:torch.device, lr_prompt:float=40., lr_mask:float=1.,
                 warmup_steps:int=1000, total_steps:int=100_000, opt=None, sched=None, prompter:nn.Module|None=None,
                 precision:str="auto", plain:bool=False, mask_optimizer:str="sgd", mask_grad_clip:float|None=None):
        self.model, self.device, self.precision, self.plain = model, device, precision, plain
        self.prompter = prompter if prompter is not None else model.prompter
        groups = self.prompter.param_groups(lr_prompt, lr_mask)
        if opt is None:
            cfg = TrainConfig(lr_prompt=lr_prompt, lr_mask=lr_mask, momentum=0.9, weight_decay=0.,
                              mask_optimizer=mask_optimizer)
            opts = make_optimizers(groups, cfg)          # fit's own optimisers
            scheds = [torch.optim.lr_scheduler.LambdaLR(o, lambda s: warmup_cosine(s, warmup_steps, total_steps))
                      for o in opts]
            opt, sched = opts[0], scheds[0]
        else: opts, scheds = [opt], [sched]
        self.opt, self.sched = opt, sched                 # the (first) SGD optimiser and its scheduler
        self.opts, self.scheds = opts, scheds
        self.clipped = [p for g in groups if g.get("name") == "mask" for p in g["params"]] if mask_grad_clip is not None else []
        self.mask_grad_clip = mask_grad_clip
        self.loss_sum = torch.zeros((), device=device); self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.bad_step = torch.full((), -1, dtype=torch.long, device=device); self.step_i = 0
        model.train()

    def __call__(self, images:Tensor, labels:Tensor):
        with fast_paths(False) if self.plain else nullcontext():
            with precision_autocast(self.device, self.precision):
                logits = self.model(images)
                ce = F.cross_entropy(logits.float(), labels)
                extra = self.prompter.extra_loss()
                loss = ce if extra is None else ce + extra
            for o in self.opts: o.zero_grad(set_to_none=True)
            loss.backward()
        if self.clipped: torch.nn.utils.clip_grad_norm_(self.clipped, self.mask_grad_clip)
        for o in self.opts: o.step()
        for sc in self.scheds: sc.step()
        stats = torch.stack([ce.detach().float() * len(labels), (logits.argmax(-1) == labels).sum().float(),
                             loss.detach().float()])
        finite = torch.isfinite(stats[0]) & torch.isfinite(stats[2])
        self.bad_step = torch.where((self.bad_step < 0) & ~finite, torch.full_like(self.bad_step, self.step_i), self.bad_step)
        self.loss_sum += stats[0]; self.correct += stats[1].long()
        self.step_i += 1


# ----------------------------------------------------------------------------------------------- reference steps
class RefPadPrompter(nn.Module):
    """The official VP padding prompter's behaviour (`PadPrompter`): four randn frames, a zero centre allocated on
    every call, the prompt concatenated B times (one copy per image) and added to the batch."""
    def __init__(self, prompt_size:int=30, image_size:int=224):
        super().__init__()
        p, s = prompt_size, image_size
        self.base_size = s - 2 * p
        self.pad_up, self.pad_down = nn.Parameter(torch.randn(1, 3, p, s)), nn.Parameter(torch.randn(1, 3, p, s))
        self.pad_left, self.pad_right = nn.Parameter(torch.randn(1, 3, s - 2*p, p)), nn.Parameter(torch.randn(1, 3, s - 2*p, p))

    def forward(self, x:Tensor) -> Tensor:
        base = torch.zeros(1, 3, self.base_size, self.base_size, device=x.device)
        prompt = torch.cat([self.pad_left, base, self.pad_right], dim=3)
        prompt = torch.cat([self.pad_up, prompt, self.pad_down], dim=2)
        return x + torch.cat(x.size(0) * [prompt])

def _official_cosine_lr(step:int, base_lr:float, warmup:int, total:int) -> float:
    "The official `utils.cosine_lr` schedule: linear warm-up then cosine, set on the optimiser each step."
    if step < warmup: return base_lr * (step + 1) / warmup
    e, es = step - warmup, total - warmup
    return 0.5 * (1 + math.cos(math.pi * e / es)) * base_lr

def _normalise(images:Tensor, mean:Tensor, std:Tensor) -> Tensor:
    "uint8 → float normalised; stands in for the official DataLoader's preprocess (same work as adavipro's Preprocess at 224)."
    return (images.float() / 255. - mean) / std

class ClipReferenceStep:
    """A training step that behaves like the official VP `main_clip.py`: an open_clip model whose parameters are
    NOT frozen (only `.eval()`; every weight has requires_grad, so backward computes — and, because only the
    prompt's grads are zeroed, accumulates — grads for all CLIP weights), the class prompts tokenised and the text
    encoder run with gradients on every batch, logits = logit_scale · normalised image @ normalised text.T, the
    padding prompter, SGD on the prompt only, the official cosine lr set per step, the logit scale clamped to
    ln 100 after each step, and `loss.item()` / accuracy `.item()` read every step. CUDA: fp16 autocast + GradScaler
    (as the official code); CPU: fp32, no scaler, or with `cpu_bf16` bf16 autocast (the CPU's analogue of the
    official mixed precision; no scaler is needed for bf16). Stock open_clip layers (not `adavipro.fast.use_fast_layers`)."""
    def __init__(self, model_name:str, classes:list[str], device:torch.device, prompt_size:int=30, image_size:int=224,
                 cpu_bf16:bool=False):
        import open_clip
        self.device, self.cpu_bf16 = device, cpu_bf16 and device.type == "cpu"
        self.model = open_clip.create_model(model_name, pretrained=None, device=device)   # fp32, random weights
        self.model.eval()                                                                   # NOT frozen
        assert all(p.requires_grad for p in self.model.parameters())
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.texts = [TEXT_TEMPLATE.format(c) for c in classes]
        pp = open_clip.get_model_preprocess_cfg(self.model)
        self.mean = torch.tensor(pp["mean"], device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(pp["std"], device=device).view(1, 3, 1, 1)
        self.prompter = RefPadPrompter(prompt_size, image_size).to(device)
        self.opt = torch.optim.SGD(self.prompter.parameters(), lr=40., momentum=0.9, weight_decay=0.)
        self.scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" else None
        self.step_i, self.last = 0, None
        self.n_params = sum(p.numel() for p in self.model.parameters())

    def forward(self, images:Tensor, labels:Tensor):
        "Logits and loss (used by the steps and by --profile)."
        x = _normalise(images, self.mean, self.std)
        tokens = self.tokenizer(self.texts).to(self.device)                           # tokenised every batch
        prompted = self.prompter(x)
        img = self.model.encode_image(prompted)
        txt = self.model.encode_text(tokens)                                          # with gradients, every batch
        img = img / img.norm(dim=-1, keepdim=True); txt = txt / txt.norm(dim=-1, keepdim=True)
        logits = self.model.logit_scale.exp() * img @ txt.t()
        return logits, F.cross_entropy(logits, labels)

    def __call__(self, images:Tensor, labels:Tensor):
        for g in self.opt.param_groups: g["lr"] = _official_cosine_lr(self.step_i, 40., 1000, 100_000)
        self.opt.zero_grad()
        with (torch.autocast("cpu", dtype=torch.bfloat16) if self.cpu_bf16 else
              torch.autocast(self.device.type, dtype=torch.float16, enabled=self.scaler is not None)):
            logits, loss = self.forward(images, labels)
            if self.scaler is not None: self.scaler.scale(loss).backward(); self.scaler.step(self.opt)
            else: loss.backward(); self.opt.step()
        if self.scaler is not None: self.scaler.update()
        self.model.logit_scale.data = torch.clamp(self.model.logit_scale.data, 0, 4.6052)
        acc = (logits.argmax(-1) == labels).float().mean().mul(100).item()
        self.last = (loss.item(), acc); self.step_i += 1

class VisionReferenceStep:
    """A step that behaves like the official VP `main_vision.py` for an ImageNet classifier: the network NOT frozen
    (only `.eval()`), fp32 (no autocast), label mapping as `output[:, indices]`, the padding prompter, SGD on the
    prompt only, the official cosine lr, `loss.item()` / accuracy `.item()` every step."""
    def __init__(self, spec:str, num_classes:int, device:torch.device, prompt_size:int=30, image_size:int=224):
        from adavipro.backbones import create_backbone
        bb = create_backbone(spec, device=device)           # a fresh copy; the library freezes it, we unfreeze it
        use_stock_layers(bb.model)                          # PyTorch's stock modules, as the official code runs
        self.model = bb.model.requires_grad_(True).eval()
        self.device = device
        self.mean = torch.tensor(bb.cfg.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(bb.cfg.std, device=device).view(1, 3, 1, 1)
        self.indices = list(range(num_classes))
        self.prompter = RefPadPrompter(prompt_size, image_size).to(device)
        self.opt = torch.optim.SGD(self.prompter.parameters(), lr=40., momentum=0.9, weight_decay=0.)
        self.step_i, self.last = 0, None
        self.n_params = sum(p.numel() for p in self.model.parameters())

    def forward(self, images:Tensor, labels:Tensor):
        out = self.model(self.prompter(_normalise(images, self.mean, self.std)))[:, self.indices]
        return out, F.cross_entropy(out, labels)

    def __call__(self, images:Tensor, labels:Tensor):
        for g in self.opt.param_groups: g["lr"] = _official_cosine_lr(self.step_i, 40., 1000, 100_000)
        logits, loss = self.forward(images, labels)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        acc = (logits.argmax(-1) == labels).float().mean().mul(100).item()
        self.last = (loss.item(), acc); self.step_i += 1


# --------------------------------------------------------------------------------------------------- reporting
def table(rows:list[dict], cols:list[tuple[str, str]]) -> str:
    "A plain-text table: `cols` are (key, header) pairs; values are already strings."
    w = {k: max(len(h), *(len(str(r.get(k, ""))) for r in rows)) for k, h in cols}
    line = lambda vals: "  ".join(str(v).rjust(w[k]) if i else str(v).ljust(w[k]) for i, (k, v) in enumerate(vals))
    out = [line([(k, h) for k, h in cols]), "  ".join("-" * w[k] for k, _ in cols)]
    out += [line([(k, r.get(k, "")) for k, _ in cols]) for r in rows]
    return "\n".join(out)

def fmt(x, nd=2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)): return "-"
    return f"{x:.{nd}f}"
