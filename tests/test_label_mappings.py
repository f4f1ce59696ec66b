"""Label mappings fitted or trained during a run (ILM, BLM, BLM+, fc): re-fitted every epoch, saved with the prompt,
restored on resume and for the test, one training loop."""
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

import adavipro.training as training
from adavipro.core import ConfigError, seed_everything
from adavipro.heads import (BayesianLabelHead, IterativeLabelHead, TemperatureScaledHead, blm_weights,
                            prediction_counts)
from adavipro.training import TrainConfig, build_run, fit

TINY = dict(dataset="digits", backbone="efficientnet_lite0", method="vp", image_size=32, prompt_size=4, epochs=3,
            batch_size=16, warmup_steps=2, train_per_class=4, val_per_class=2, test_per_class=3, checkpoint_every=1)

def tiny(path, **kw) -> TrainConfig: return TrainConfig(**{**TINY, "out_dir": str(path), **kw})

class Stop(Exception): pass

def heads_by_epoch(cfg):
    "A callback that records the head's state in last.pt after every epoch, and the list it fills."
    seen = []
    def cb(epoch, row): seen.append(torch.load(Path(cfg.out_dir) / "last.pt", weights_only=True)["head"])
    return cb, seen


def test_blm_on_a_toy_by_hand():
    "3 classes, 5 source labels: ω and the head's logits written out from the equations."
    logits = torch.tensor([[5., 1, 0, 0, 0], [4, 0, 0, 1, 0], [0, 6, 0, 0, 0],    # class 0: sources 0, 0, 1
                           [0, 3, 0, 0, 2], [0, 0, 0, 9, 0], [0, 0, 0, 7, 0]])   # class 1: source 1; class 2: 3, 3
    labels = torch.tensor([0, 0, 0, 1, 2, 2])
    counts = prediction_counts(logits, labels, 3)               # N[c, k]
    assert counts.tolist() == [[2, 1, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 2, 0]]
    # λ = 1: P(c|k) = N[k,c] / (Σ_c N[k,c] + 1): k=0 → (2/3, 0, 0), k=1 → (1/3, 1/3, 0), k=3 → (0, 0, 2/3)
    w = blm_weights(counts, 1.0)
    want = torch.tensor([[2/3, 0, 0], [1/3, 1, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0]])
    torch.testing.assert_close(w, want)
    head = BayesianLabelHead(3, 5); head.fit_counts(counts)
    torch.testing.assert_close(head(logits), logits @ want)     # target logits = f(x) ω
    # BLM+ with k = 1: the top-1 probability instead of a 1
    p = logits.double().softmax(-1).max(-1).values
    plus = prediction_counts(logits, labels, 3, top_k=1)
    torch.testing.assert_close(plus[0, 0], p[0] + p[1]); torch.testing.assert_close(plus[2, 3], p[4] + p[5])


def test_ilm_is_one_to_one_even_when_every_image_lands_on_one_source_class():
    head = IterativeLabelHead(4, 10)
    head.fit_counts(prediction_counts(torch.eye(10)[[3] * 8], torch.arange(8) % 4, 4))
    assert len(set(head.mapping.tolist())) == 4 and 3 in head.mapping.tolist()


@pytest.mark.parametrize("label_mapping", ["iterative", "bayesian"])
def test_the_mapping_is_refitted_each_epoch_from_the_prompted_model(tmp_path, label_mapping, monkeypatch):
    "refit runs before epochs 2..E (not 1), in eval mode; the saved mapping changes as the prompt changes predictions."
    calls = []
    cls = IterativeLabelHead if label_mapping == "iterative" else BayesianLabelHead
    orig = cls.refit
    def spy(self, model, *a, **k):
        calls.append(model.training); return orig(self, model, *a, **k)
    monkeypatch.setattr(cls, "refit", spy)
    cfg = tiny(tmp_path / "run", label_mapping=label_mapping, checkpoint_every=None)
    cb, seen = heads_by_epoch(cfg)
    fit(cfg, callbacks=[cb], progress=False)
    assert len(calls) == cfg.epochs - 1
    states = [next(iter(h.values())) for h in seen]
    assert any(not torch.equal(states[0], s) for s in states[1:]), "the mapping never changed"
    if label_mapping == "iterative": assert all(len(set(s.tolist())) == len(s) for s in states)
    else: assert all(torch.allclose(s.sum(0), torch.ones(s.shape[1])) for s in states)


def test_fc_mapping_trains_with_the_prompt(tmp_path):
    cfg = tiny(tmp_path / "run", label_mapping="fc", epochs=2)
    m = fit(cfg, progress=False)
    seed_everything(cfg.seed)                      # the same draws as the run's build: the initial weights
    model, _ = build_run(replace(cfg), torch.device("cpu"))
    last = torch.load(Path(cfg.out_dir) / "last.pt", weights_only=True)
    assert not torch.equal(last["head"]["linear.weight"], model.head.linear.weight.detach())
    assert any(v.abs().sum() > 0 for v in last["prompter"].values())      # the zero-initialised prompt moved too
    assert m["n_tunable_params"] == 2*3*4*32 + 2*3*24*4 + 1000 * 10 + 10
    assert "mapping" in [g["name"] for o in training.make_optimizers(model.head.param_groups(1e-3), cfg) for g in o.param_groups]


@pytest.mark.parametrize("label_mapping", ["iterative", "bayesian_plus", "fc"])
def test_a_resumed_run_reproduces_the_uninterrupted_one(tmp_path, label_mapping, monkeypatch):
    "Stopped after epoch 1 (the next re-fit runs on resume), then in the middle of epoch 3 (last.pt's mapping kept)."
    full = fit(tiny(tmp_path / "a", label_mapping=label_mapping), progress=False)
    cfg = tiny(tmp_path / "b", label_mapping=label_mapping)
    def stop_after_1(epoch, row):
        if epoch == 1: raise Stop
    with pytest.raises(Stop): fit(cfg, callbacks=[stop_after_1], progress=False)
    orig, n = training._train_step, []
    def bomb(*a, **k):                               # epoch 3's second step: last.pt holds its first (checkpoint_every=1)
        n.append(1)
        if len(n) == full["steps"] // 3 + 2: raise Stop
        return orig(*a, **k)
    monkeypatch.setattr(training, "_train_step", bomb)
    with pytest.raises(Stop): fit(cfg, progress=False)
    assert torch.load(Path(cfg.out_dir) / "last.pt", weights_only=True)["partial"] is not None
    monkeypatch.setattr(training, "_train_step", orig)
    resumed = fit(cfg, progress=False)
    for k in ("test_acc", "val_acc", "unprompted_test_acc", "unprompted_val_acc", "best_epoch", "steps"):
        assert resumed[k] == full[k], k
    drop = lambda d: pd.read_csv(d / "history.csv").drop(columns="time_s")
    pd.testing.assert_frame_equal(drop(tmp_path / "a"), drop(Path(cfg.out_dir)), check_exact=True)
    a, b = (torch.load(d / "best.pt", weights_only=True)["head"] for d in (tmp_path / "a", Path(cfg.out_dir)))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_test_accuracy_uses_the_best_epochs_mapping(tmp_path, monkeypatch):
    "_test_best loads best.pt's head: a head changed after training does not reach the test."
    seen = {}
    orig = training._test_best
    def spy(model, *a, **k):
        with torch.no_grad(): training._label_mapping(model).mapping.copy_(torch.arange(10).flip(0))
        out = orig(model, *a, **k)
        seen["mapping"] = training._label_mapping(model).mapping.clone(); return out
    monkeypatch.setattr(training, "_test_best", spy)
    cfg = tiny(tmp_path / "run", label_mapping="iterative", epochs=2, checkpoint_every=None)
    fit(cfg, progress=False)
    best = torch.load(Path(cfg.out_dir) / "best.pt", weights_only=True)
    assert torch.equal(seen["mapping"], best["head"]["mapping"])


@pytest.mark.parametrize("label_mapping", ["iterative", "bayesian", "bayesian_plus", "fc"])
def test_calibrate_head_works_with_every_mapping(label_mapping):
    cfg = tiny("unused", label_mapping=label_mapping, calibrate_head=True)
    model, data = build_run(cfg, torch.device("cpu"))
    assert isinstance(model.head, TemperatureScaledHead) and model.head.temperature > 0
    x = torch.stack([data.train[i][0] for i in range(4)])
    assert model(x).shape == (4, 10) and torch.isfinite(model(x)).all()
    if label_mapping != "fc":
        training._label_mapping(model).refit(model, data.train, 64)   # the re-fit reaches the mapping inside


def test_calibrated_bayesian_run_end_to_end(tmp_path):
    m = fit(tiny(tmp_path / "run", label_mapping="bayesian", calibrate_head=True, epochs=2, checkpoint_every=None),
            progress=False)
    assert m["head_temperature"] > 0 and 0 <= m["test_acc"] <= 1


def test_unknown_label_mapping_is_one_line():
    with pytest.raises(ConfigError, match=r"^label_mapping='ilm': choose one of first, frequency, iterative, bayesian, "
                                          r"bayesian_plus, fc$"):
        training.validate_config(TrainConfig(label_mapping="ilm"))
