"""The training loop: outputs, resume, non-finite loss, errors before training, and the CLIP path."""
import json, math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from adavipro.core import ConfigError
from adavipro.training import TrainConfig, fit, TrainingError, build_run, main
from adavipro.config import BAD_INPUTS
from adavipro.model import count_tunable_params, create_method

TINY = dict(dataset="digits", backbone="efficientnet_lite0", image_size=32, prompt_size=4, region_size=8,
            embed_dim=8, epochs=3, batch_size=16, warmup_steps=2, train_per_class=4, val_per_class=2,
            test_per_class=3)

def tiny(tmp_path, **kw) -> TrainConfig:
    return TrainConfig(**{**TINY, "out_dir": str(tmp_path / "run"), **kw})

class Stop(Exception): pass

def stop_after(n):
    def cb(epoch, row):
        if epoch == n: raise Stop
    return cb

@pytest.mark.parametrize("method", ["vp", "adavipro"])
def test_resume_matches_uninterrupted(tmp_path, method):
    full = fit(tiny(tmp_path / "a", method=method), progress=False)
    cfg = tiny(tmp_path / "b", method=method)
    with pytest.raises(Stop): fit(cfg, callbacks=[stop_after(1)], progress=False)
    assert not (Path(cfg.out_dir) / "metrics.json").exists()
    resumed = fit(cfg, progress=False)
    for k in ("test_acc", "val_acc", "unprompted_test_acc", "best_epoch", "steps", "n_tunable_params"):
        assert resumed[k] == full[k], k
    ha = pd.read_csv(tmp_path / "a" / "run" / "history.csv"); hb = pd.read_csv(Path(cfg.out_dir) / "history.csv")
    pd.testing.assert_frame_equal(ha.drop(columns="time_s"), hb.drop(columns="time_s"))
    if method == "adavipro":   # temperature continued: tau = 5 * 0.98**3
        assert math.isclose(hb.tau.iloc[-1], 5 * 0.98**3, rel_tol=1e-6)

def test_resume_refuses_other_config(tmp_path):
    cfg = tiny(tmp_path, method="vp")
    with pytest.raises(Stop): fit(cfg, callbacks=[stop_after(1)], progress=False)
    with pytest.raises(ConfigError, match=r"another configuration \(lr_prompt: 40.0 vs 10.0\)"):
        fit(replace(cfg, lr_prompt=10.0), progress=False)

def test_finished_run_is_kept_unless_overwrite(tmp_path):
    cfg = tiny(tmp_path, method="vp", epochs=1)
    fit(cfg, progress=False)
    before = (Path(cfg.out_dir) / "metrics.json").read_text()
    with pytest.raises(ConfigError, match="already holds a finished run"): fit(cfg, progress=False)
    assert (Path(cfg.out_dir) / "metrics.json").read_text() == before
    m = fit(replace(cfg, overwrite=True), progress=False)
    assert m["epochs"] == 1

def test_non_finite_loss_stops_with_step_and_keeps_checkpoint(tmp_path, monkeypatch):
    cfg = tiny(tmp_path, method="vp", epochs=2)
    with pytest.raises(Stop): fit(cfg, callbacks=[stop_after(1)], progress=False)
    last = Path(cfg.out_dir) / "last.pt"; good = last.read_bytes()
    orig = torch.nn.functional.cross_entropy
    monkeypatch.setattr(torch.nn.functional, "cross_entropy", lambda *a, **k: orig(*a, **k) * float("nan"))
    with pytest.raises(TrainingError, match=r"non-finite loss at step 3 \(epoch 2\).*last.pt is intact"):
        fit(cfg, progress=False)
    assert last.read_bytes() == good
    torch.load(last, weights_only=False)

def test_none_method_is_the_unprompted_baseline(tmp_path):
    m = fit(tiny(tmp_path, method="none"), progress=False)
    assert m["n_tunable_params"] == 0 and m["test_acc"] == m["unprompted_test_acc"]

@pytest.mark.parametrize("kw,msg", BAD_INPUTS, ids=[", ".join(f"{k}={v!r}" for k, v in kw.items()) for kw, _ in BAD_INPUTS])
def test_bad_input_is_one_line_from_the_command_line(tmp_path, kw, msg):
    "The library's table of bad inputs (08a_config) through `main` (then `fit`): exit with one line, nothing written."
    if "device" in kw and torch.cuda.is_available(): pytest.skip("CUDA present")
    if any(v != v for v in kw.values()): pytest.skip("nan has no literal: the command line reads it as the string 'nan'")
    args = {**TINY, "out_dir": str(tmp_path / "run"), **kw}
    with pytest.raises(SystemExit) as e: main([a for k, v in args.items() for a in (f"--{k}", repr(v))])
    assert e.value.code.startswith("error: ") and msg in e.value.code and "\n" not in e.value.code
    assert not (tmp_path / "run").exists()

def test_paper_parameter_counts():
    assert count_tunable_params(create_method("vp", prompter="padding", prompt_size=30, image_size=224)) == 69_840
    ada = create_method("adavipro", prompt_size=30, image_size=224, region_size=32, embed_dim=64)
    assert ada.mask_generator.policy.weight.numel() == 131_072
    assert count_tunable_params(ada) == 69_840 + 1_792 + 131_074

def test_clip_path_end_to_end_text_encoder_called_once(tmp_path, monkeypatch):
    """Random-weight open_clip ViT-B-32 (no CLIP weights exist offline), one epoch on a tiny subset."""
    import open_clip
    calls = []
    orig = open_clip.CLIP.encode_text
    def counting(self, *a, **k):
        calls.append(1); return orig(self, *a, **k)
    monkeypatch.setattr(open_clip.CLIP, "encode_text", counting)
    cfg = tiny(tmp_path, backbone="clip:ViT-B-32:random", image_size=224, prompt_size=30, region_size=32,
               embed_dim=8, epochs=1, batch_size=8, train_per_class=1, val_per_class=1, test_per_class=1)
    m = fit(cfg, progress=False)
    assert len(calls) == 1            # text embeddings computed once, not per batch
    assert m["n_tunable_params"] == 69_840 + 3*8*9 + 8 + 8*2*32*32 + 2
    assert 0 <= m["test_acc"] <= 1 and m["steps"] == 2

def test_channels_last_changes_memory_format_not_results(tmp_path):
    a = fit(tiny(tmp_path / "a", method="vp", epochs=1), progress=False)
    b = fit(tiny(tmp_path / "b", method="vp", epochs=1, channels_last=True), progress=False)
    ha, hb = (pd.read_csv(tmp_path / d / "run" / "history.csv") for d in "ab")
    assert math.isclose(ha.train_loss[0], hb.train_loss[0], rel_tol=1e-4)
    assert abs(a["test_acc"] - b["test_acc"]) <= 1 / a["n_test"] + 1e-9

def test_bf16_precision_on_cpu_trains_and_is_a_result_field(tmp_path):
    "precision='bf16' autocasts on the CPU too: same run shape, a loss close to float32's, and resume checks it."
    a = fit(tiny(tmp_path / "a", method="vp", epochs=2), progress=False)
    b = fit(tiny(tmp_path / "b", method="vp", epochs=2, precision="bf16"), progress=False)
    ha, hb = (pd.read_csv(tmp_path / d / "run" / "history.csv") for d in "ab")
    assert b["config"]["precision"] == "bf16" and len(hb) == 2 and hb.train_loss.notna().all()
    assert not ha.train_loss.equals(hb.train_loss)                 # autocast really ran in bf16 ...
    assert math.isclose(ha.train_loss[0], hb.train_loss[0], rel_tol=0.05)   # ... on the same maths
    with pytest.raises(ConfigError, match="precision"):              # not a runtime field: resume refuses a change
        fit(tiny(tmp_path / "b", method="vp", epochs=3, precision="fp32"), progress=False)

def test_fit_dispatches_linear_probe_and_frequency_mapping(tmp_path):
    lp = fit(tiny(tmp_path / "lp", method="linear_probe", train_per_class=10), progress=False)
    assert lp["test_acc"] > 0.3 and "best_C" in lp          # real ImageNet features on real digits (chance 0.1)
    fm = fit(tiny(tmp_path / "fm", method="none", label_mapping="frequency"), progress=False)
    first = fit(tiny(tmp_path / "first", method="none"), progress=False)
    assert fm["config"]["label_mapping"] == "frequency" and fm["unprompted_val_acc"] >= first["unprompted_val_acc"] - 1e-9

def test_calibrated_head_keeps_predictions_and_lowers_the_starting_loss(tmp_path):
    "calibrate_head: the unprompted accuracy is unchanged (T scales logits), the first epoch's loss is lower, T is logged."
    kw = dict(method="vp", label_mapping="frequency", train_per_class=10, epochs=1, lr_prompt=1e-6)   # the prompt ~ still
    plain = fit(tiny(tmp_path / "plain", **kw), progress=False)
    cal = fit(tiny(tmp_path / "cal", calibrate_head=True, **kw), progress=False)
    assert plain["head_temperature"] is None and cal["head_temperature"] > 0
    assert cal["config"]["calibrate_head"] is True
    for k in ("unprompted_val_acc", "unprompted_test_acc"): assert cal[k] == plain[k], k
    loss = lambda m: pd.read_csv(tmp_path / m / "run" / "history.csv").train_loss.iloc[0]
    assert loss("cal") < loss("plain")

_FIT_CHILD = """import json, sys
from adavipro.training import TrainConfig, fit
m = fit(TrainConfig(**json.loads(sys.argv[1])), progress=False)
print(json.dumps(dict(test_acc=m["test_acc"], val_acc=m["val_acc"])))
"""

def test_keep_freed_memory_changes_no_number(tmp_path):
    "glibc's malloc settings (process-wide, so each fit in its own process) change speed, never a result."
    import json, subprocess, sys
    runs = {}
    for keep in (True, False):
        cfg = {**TINY, "method": "adavipro", "epochs": 2, "out_dir": str(tmp_path / str(keep)), "keep_freed_memory": keep}
        out = subprocess.run([sys.executable, "-c", _FIT_CHILD, json.dumps(cfg)], capture_output=True, text=True, check=True)
        runs[keep] = json.loads(out.stdout.strip().splitlines()[-1])
    assert runs[True] == runs[False]
    ha, hb = (pd.read_csv(tmp_path / str(k) / "history.csv").drop(columns=["time_s"]) for k in (True, False))
    pd.testing.assert_frame_equal(ha, hb, check_exact=True)


# ---------------------------------------------------------------- the prompter's hooks, seen from the loop

from torch import nn
from adavipro.model import methods
from adavipro.prompters import PaddingPrompter, Prompter

class HookProbe(Prompter):
    """VP's padding prompt plus a 'mask' group `w` that only `extra_loss` sees, (w - 3)²; `diagnostics` counts the
    images of its forwards and reports an all-on eval mask, like a prompter with a mask would."""
    def __init__(self, prompt_size=4, image_size=32, init="zeros", **kwargs):
        super().__init__()
        self.template, self.w = PaddingPrompter(prompt_size, image_size, init), nn.Parameter(torch.zeros(3))
        self._extra, self._seen = None, dict(train=0, eval=0)
    def forward(self, x):
        self._seen["train" if self.training else "eval"] += len(x)
        if self.training: self._extra = ((self.w - 3) ** 2).sum()
        return self.template(x)
    def extra_loss(self): return self._extra
    def diagnostics(self):
        out = {f"{k}_images": float(v) for k, v in self._seen.items()}
        if self._seen["eval"]: out["eval_on_rate"] = 1.0
        self._seen = dict(train=0, eval=0)
        return out
    def param_groups(self, lr_prompt, lr_mask):
        return [dict(params=list(self.template.parameters()), lr=lr_prompt, name="prompt"),
                dict(params=[self.w], lr=lr_mask, name="mask")]

@pytest.fixture
def hook_probe(monkeypatch):
    "The method 'hook_probe', registered for one test only (the registry is shared by every test in the process)."
    monkeypatch.setitem(methods._items, "hook_probe", HookProbe)

def probe_w(out) -> torch.Tensor: return torch.load(Path(out) / "last.pt", weights_only=False)["prompter"]["w"]

def test_hooks_extra_loss_diagnostics_and_a_mask_adamw_that_resumes_exactly(tmp_path, capsys, hook_probe):
    kw = dict(method="hook_probe", epochs=2, lr_mask=0.1, mask_optimizer="adamw")
    full = fit(tiny(tmp_path / "a", **kw), progress=False)
    assert "warning: the learned mask is all-on" in capsys.readouterr().err          # eval_on_rate == 1 at the end
    h = pd.read_csv(tmp_path / "a" / "run" / "history.csv")
    assert list(h.train_images) == [full["n_train"]] * 2 and list(h.eval_images) == [full["n_val"]] * 2
    assert (h.eval_on_rate == 1).all() and "test_train_images" not in full
    assert full["test_eval_images"] == full["n_test"] and full["test_eval_on_rate"] == 1.0   # the test evaluation's only
    assert (full["config"]["mask_optimizer"], full["config"]["tau_min"]) == ("adamw", 0.0)      # effective values written
    ck = torch.load(tmp_path / "a" / "run" / "last.pt", weights_only=False)
    assert [len(o["param_groups"]) for o in ck["optimizer"]] == [1, 1] and "exp_avg" in ck["optimizer"][1]["state"][0]
    w = probe_w(tmp_path / "a" / "run")
    assert (w > 0.05).all()                   # only the extra loss moves w: it was added to the loss
    cfg = tiny(tmp_path / "b", **kw)          # stopped after epoch 1, resumed: both optimisers carry on exactly
    with pytest.raises(Stop): fit(cfg, callbacks=[stop_after(1)], progress=False)
    resumed = fit(cfg, progress=False)
    assert torch.equal(probe_w(cfg.out_dir), w) and resumed["test_acc"] == full["test_acc"]
    pd.testing.assert_frame_equal(h.drop(columns="time_s"), pd.read_csv(Path(cfg.out_dir) / "history.csv").drop(columns="time_s"))

def test_mask_grad_clip_bounds_the_mask_groups_step(tmp_path, hook_probe):
    kw = dict(method="hook_probe", epochs=1, lr_mask=0.1, mask_optimizer="sgd")
    fit(tiny(tmp_path / "free", **kw), progress=False)
    fit(tiny(tmp_path / "clip", mask_grad_clip=1e-4, **kw), progress=False)
    free, clip = probe_w(tmp_path / "free" / "run"), probe_w(tmp_path / "clip" / "run")
    assert free.abs().min() > 0.1 and 0 < clip.abs().max() < 1e-3   # 3 steps of lr <= 0.1 on a gradient of norm <= 1e-4

@pytest.mark.parametrize("interval_s,written", [(3600., [None, None, 3]), (1e-6, [1, 2, 3])])
def test_a_large_prompter_writes_last_pt_at_most_every_interval_and_always_at_the_end(tmp_path, monkeypatch, interval_s, written):
    import adavipro.baselines, adavipro.training as training
    monkeypatch.setattr(training, "THROTTLE_BYTES", 2**20)   # full fine-tuning of EfficientNet-Lite0: ~18 MB
    last = Path(tmp_path / "run" / "last.pt")
    seen = []
    def record(epoch, row): seen.append(torch.load(last, weights_only=True)["epoch"] if last.exists() else None)
    cfg = tiny(tmp_path, method="full_finetune", lr_prompt=1e-3, train_per_class=2, checkpoint_interval_s=interval_s)
    fit(cfg, callbacks=[record], progress=False)
    assert seen == written
    if interval_s < 1: return
    vp = []
    fit(tiny(tmp_path / "vp", method="vp", checkpoint_interval_s=3600.),
        callbacks=[lambda e, r: vp.append(torch.load(tmp_path / "vp" / "run" / "last.pt", weights_only=True)["epoch"])], progress=False)
    assert vp == [1, 2, 3]                                    # a small prompter: every epoch


def test_a_path_or_numpy_number_in_the_config_still_gives_checkpoints_that_load_safely(tmp_path):
    "validate_config turns a Path into str and numpy numbers into Python ones: last.pt/best.pt hold asdict(cfg)."
    import numpy as np
    cfg = tiny(tmp_path, method="adavipro", epochs=2, data_cache=tmp_path / "cache", tau0=np.float64(5.0),
               gamma=np.float64(0.98))
    with pytest.raises(Stop): fit(cfg, callbacks=[stop_after(1)], progress=False)
    m = fit(cfg, progress=False)                       # resumes from last.pt, reads best.pt: both with weights_only=True
    assert m["config"]["data_cache"] == str(tmp_path / "cache") and type(m["config"]["tau0"]) is float
    for name in ("last.pt", "best.pt"): torch.load(Path(cfg.out_dir) / name, weights_only=True)
