"""SMM (Cai et al., ICML 2024) as method 'smm': its mask, its size against the paper, its errors, and a run through the one loop."""
from pathlib import Path

import pandas as pd
import pytest
import torch

from adavipro.config import TrainConfig, validate_config
from adavipro.core import ConfigError
from adavipro.model import count_tunable_params, create_method
from adavipro.smm import SMMPrompter, patchwise_upsample
from adavipro.training import fit

TINY = dict(dataset="digits", backbone="efficientnet_lite0", method="smm", image_size=32, epochs=2, batch_size=16,
            warmup_steps=2, train_per_class=4, val_per_class=2, test_per_class=3, prompt_optimizer="adam", lr_prompt=0.01)


def test_parameter_count_is_the_papers_at_224():
    "Table 4 of the paper: the 5-layer mask generator of ResNet-18/50 has 26,499 parameters; δ adds 3·224² = 150,528."
    p = create_method("smm", image_size=224)
    assert count_tunable_params(p.mask_generator) == 26_499
    assert count_tunable_params(p) == 3 * 224 * 224 + 26_499
    assert 26_499 / (3 * 224 * 224) == pytest.approx(0.1760, abs=5e-5)   # Table 4's "17.60 %" of the watermark's


def test_mask_is_sample_specific_and_the_shared_mask_is_not():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    smm, shared = SMMPrompter(32, 8).eval(), SMMPrompter(32, 8, mask="shared")
    with torch.no_grad():
        shared.shared_mask.uniform_()
        m, s = smm.mask(x), shared.mask(x)
    assert m.shape == s.shape == (2, 3, 32, 32)
    assert (m[0] - m[1]).abs().max() > 1e-3          # two images, two masks
    assert torch.equal(s[0], s[1])                    # one mask for both


def test_patchwise_interpolation_is_nearest_upsampling_by_hand():
    m = torch.tensor([[[[1., 2., 3.], [4., 5., 6.]]]])   # (1,1,2,3)
    want = torch.tensor([[1., 1., 2., 2., 3., 3.], [1., 1., 2., 2., 3., 3.],
                         [4., 4., 5., 5., 6., 6.], [4., 4., 5., 5., 6., 6.]])
    assert torch.equal(patchwise_upsample(m, 2)[0, 0], want)


def test_gradient_reaches_the_pattern_and_the_mask_generator():
    smm = SMMPrompter(32, 4).train()
    with torch.no_grad(): smm.pattern.normal_()
    smm(torch.randn(3, 3, 32, 32)).sum().backward()
    assert smm.pattern.grad.abs().sum() > 0
    assert all(p.grad.abs().sum() > 0 for p in smm.mask_generator.parameters())


@pytest.mark.parametrize("kw,msg", [
    (dict(image_size=36), "smm_patch_size=8 does not divide image_size=36: use one of 1, 2, 4 "),
    (dict(image_size=40, smm_patch_size=16), "smm_patch_size=16 does not divide image_size=40: use one of 1, 2, 4, 8 "),
    (dict(smm_patch_size=6), "smm_patch_size=6 is no patch side of the mask generator"),
    (dict(smm_mask="per_class"), "smm_mask='per_class': choose 'sample'"),
    (dict(smm_channels=2), "smm_channels=2: choose 3"),
])
def test_bad_smm_options_are_one_line_errors(kw, msg):
    with pytest.raises(ConfigError) as e: validate_config(TrainConfig(**{**TINY, **kw}))
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_other_methods_ignore_the_smm_fields():
    validate_config(TrainConfig(**{**TINY, "method": "vp", "prompt_size": 4, "smm_patch_size": 6}))


def test_a_run_through_the_one_loop_resumes_exactly_from_inside_an_epoch(tmp_path, monkeypatch):
    "A crash in the middle of epoch 2, then a resume from last.pt: the same metrics, history and best prompter."
    full = fit(TrainConfig(**TINY, out_dir=str(tmp_path / "a")), progress=False)
    assert full["n_tunable_params"] == 3 * 32 * 32 + 26_499
    h = pd.read_csv(tmp_path / "a" / "history.csv")
    assert (h.train_mask_spread > 0).all() and (h.eval_mask_spread > 0).all()   # per-image masks, logged per epoch
    assert full["test_eval_mask_spread"] > 0

    cfg = TrainConfig(**TINY, out_dir=str(tmp_path / "b"), checkpoint_every=1)
    orig, calls = torch.nn.functional.cross_entropy, []
    def crash_at_step_5(*a, **k):   # 3 steps per epoch: the 5th is the 2nd of epoch 2
        calls.append(1)
        if len(calls) == 5: raise KeyboardInterrupt
        return orig(*a, **k)
    monkeypatch.setattr(torch.nn.functional, "cross_entropy", crash_at_step_5)
    with pytest.raises(KeyboardInterrupt): fit(cfg, progress=False)
    assert torch.load(Path(cfg.out_dir) / "last.pt", weights_only=False)["partial"]["batches_done"] == 1
    monkeypatch.setattr(torch.nn.functional, "cross_entropy", orig)
    resumed = fit(cfg, progress=False)
    for k in ("test_acc", "val_acc", "best_epoch", "steps", "test_eval_mask_spread"):
        assert resumed[k] == full[k], k
    pd.testing.assert_frame_equal(h.drop(columns="time_s"),
                                  pd.read_csv(Path(cfg.out_dir) / "history.csv").drop(columns="time_s"))
    a = torch.load(tmp_path / "a" / "best.pt", weights_only=False)["prompter"]
    b = torch.load(Path(cfg.out_dir) / "best.pt", weights_only=False)["prompter"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a if torch.is_tensor(a[k]))


def test_prompt_wraps_a_users_model_with_smm():
    import adavipro
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 1000))
    m = adavipro.prompt(net, classes=10, method="smm", image_size=32, smm_patch_size=4)
    assert isinstance(m.prompter, SMMPrompter) and m.prompter.patch_size == 4
    assert count_tunable_params(m) == 3 * 32 * 32 + 26_499
    assert m(torch.randint(0, 256, (2, 3, 40, 40), dtype=torch.uint8)).shape == (2, 10)
