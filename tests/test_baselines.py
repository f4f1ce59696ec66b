"""Baselines (`adavipro.baselines`): zero-shot CLIP, full fine-tuning, the linear probe and frequency label mapping."""
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from adavipro.backbones import create_backbone
from adavipro.core import ConfigError
from adavipro.model import Preprocess, methods
from adavipro.training import TrainConfig, fit

TINY = dict(dataset="digits", backbone="efficientnet_lite0", image_size=32, prompt_size=4, epochs=1, batch_size=16,
            warmup_steps=1, train_per_class=2, val_per_class=2, test_per_class=3, device="cpu")


@pytest.fixture(scope="module")
def bl():
    "The module under test (its methods register on import, as `adavipro.training` does)."
    import adavipro.baselines
    return adavipro.baselines


def test_zero_shot_clip_runs(bl, tmp_path):
    m = fit(TrainConfig(dataset="digits", backbone="clip:ViT-B-32:random", method="zero_shot", image_size=224,
                        epochs=1, batch_size=10, train_per_class=1, val_per_class=1, test_per_class=1, device="cpu",
                        out_dir=str(tmp_path / "run")), progress=False)
    assert m["n_tunable_params"] == 0 and m["steps"] == 0
    assert m["test_acc"] == m["unprompted_test_acc"] and 0 <= m["test_acc"] <= 1


def test_full_finetune_one_epoch(bl, tmp_path):
    m = fit(TrainConfig(**TINY, method="full_finetune", lr_prompt=1e-3, out_dir=str(tmp_path / "run")), progress=False)
    assert m["n_tunable_params"] == 4_652_008                # every weight of tf_efficientnet_lite0
    assert m["unprompted_test_acc"] == m["test_acc"]         # documented: the fine-tuned network either way
    tuned = torch.load(tmp_path / "run" / "best.pt", weights_only=False)["prompter"]
    pretrained = create_backbone("efficientnet_lite0").model.state_dict()
    assert {k.removeprefix("network.") for k in tuned} == set(pretrained)
    changed = [k for k, v in pretrained.items() if v.is_floating_point() and not torch.equal(tuned["network." + k], v)]
    assert "conv_stem.weight" in changed and len(changed) > 100
    bn = [k for k in pretrained if k.endswith("running_mean")]
    assert all(torch.equal(tuned["network." + k], pretrained[k]) for k in bn)   # eval mode: BN statistics frozen


def test_full_finetune_refuses_prompt_learning_rate(bl, tmp_path):
    with pytest.raises(ConfigError, match="would diverge"):
        fit(TrainConfig(**TINY, method="full_finetune", out_dir=str(tmp_path / "run")), progress=False)


def test_full_finetune_clip_tunes_image_tower_only(bl):
    bb = create_backbone("clip:ViT-B-32:random")
    p = methods.get("full_finetune")(lr_prompt=1e-5); p.attach(bb)
    n = sum(q.numel() for q in p.parameters() if q.requires_grad)
    assert n == sum(q.numel() for q in bb.model.visual.parameters()) == 87_849_216
    assert not bb.model.token_embedding.weight.requires_grad


def test_linear_probe_on_real_features(bl, tmp_path):
    out = tmp_path / "lp"
    cfg = TrainConfig(dataset="digits", backbone="efficientnet_lite0", method="linear_probe", image_size=32,
                      prompt_size=4, train_per_class=20, batch_size=128, device="cpu", out_dir=str(out))
    m = bl.fit_linear_probe(cfg)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "history.csv", "linear_probe.pt",
                                                     "metrics.json", "sweep.csv"]
    assert m["test_acc"] > 0.5, m                            # chance is 0.1; the label-mapped model is near it
    assert m["n_tunable_params"] == (1280 + 1) * 10 and m["feature_dim"] == 1280
    sweep = pd.read_csv(out / "sweep.csv")
    assert len(sweep) == m["n_C_tried"] <= 15 and sweep.val_acc.max() == m["val_acc"]
    assert math.isclose(sweep.C[sweep.val_acc.idxmax()], m["best_C"])
    assert json.loads((out / "metrics.json").read_text())["test_acc"] == m["test_acc"]
    lp = torch.load(out / "linear_probe.pt", weights_only=False)
    assert lp["weight"].shape == (10, 1280) and lp["bias"].shape == (10,)
    with pytest.raises(ConfigError, match="already holds a finished run"): bl.fit_linear_probe(cfg)
    with pytest.raises(ConfigError, match="use fit"): bl.fit_linear_probe(TrainConfig(**TINY, method="vp", out_dir=str(out)))


def test_sweep_is_clips_binary_search(bl):
    calls = []
    best, tried = bl.sweep_log_c(lambda C: calls.append(C) or -abs(math.log10(C) + 2.3))
    assert math.isclose(math.log10(best), -2.25) and len(calls) == len(tried) <= 15
    assert {-6, -4, -2, 0, 2, 4, 6} <= set(tried)


def test_frequency_label_mapping_known_answer(bl):
    counts = torch.tensor([[0, 0, 9, 1, 0],
                           [0, 0, 8, 7, 0],
                           [1, 0, 0, 6, 0]])
    assert bl.greedy_one_to_one(counts).tolist() == [2, 3, 0]
    labels = torch.repeat_interleave(torch.arange(3), counts.sum(1))
    preds = torch.cat([torch.repeat_interleave(torch.arange(5), counts[c]) for c in range(3)])
    logits = F.one_hot(preds, 1000).float() + 0.01 * torch.rand(len(preds), 1000)
    assert bl.frequency_label_mapping(logits, labels, 3).tolist() == [2, 3, 0]
    head = bl.MappedLabelHead(torch.tensor([2, 3, 0]))
    assert torch.equal(head(torch.arange(1000.).expand(4, -1)), torch.tensor([[2., 3., 0.]] * 4))


def test_frequency_label_mapping_is_one_to_one(bl):
    g = torch.Generator().manual_seed(1)
    for n_cls in (2, 10, 397, 1000):
        mp = bl.frequency_label_mapping(torch.randn(300, 1000, generator=g), torch.randint(0, n_cls, (300,), generator=g), n_cls)
        assert mp.shape == (n_cls,) and len(set(mp.tolist())) == n_cls and 0 <= mp.min() and mp.max() < 1000
    with pytest.raises(ConfigError, match="at most 1000 classes"):
        bl.frequency_label_mapping(torch.randn(4, 1000), torch.zeros(4, dtype=torch.long), 1001)


def test_frequency_mapped_head_on_real_backbone(bl):
    from adavipro.data import get_dataset
    bb = create_backbone("efficientnet_lite0")
    head = bl.frequency_mapped_head(bb, Preprocess(32, bb.cfg.mean, bb.cfg.std), get_dataset("digits", train_per_class=3).train, 10, 64)
    assert len(set(head.mapping.tolist())) == 10 and head(torch.randn(2, 1000)).shape == (2, 10)
