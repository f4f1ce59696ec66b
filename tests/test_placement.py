"""The placement benchmark (`placement:<dataset>`) and the `oracle` method: canvases with a known object position,
the ground-truth region mask, the matte through the pipeline, and short end-to-end runs."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Subset

import adavipro.data as D
from adavipro.core import ConfigError
from adavipro.data import (check_dataset_spec, get_dataset, iterate_batches, make_placement, oracle_region_mask,
                           placement_grid, TensorImageDataset)
from adavipro.model import OraclePrompter, Preprocess, create_method, count_tunable_params
from adavipro.training import TrainConfig, fit, validate_config

CAPS = dict(train_per_class=5, val_per_class=2, test_per_class=3)


def boxes(canvases):
    "(top, left, height, width) of every matte, asserting that each is one filled rectangle of 255 on 0."
    out = []
    for m in canvases[:, 3]:
        rows, cols = (m == 255).any(1).nonzero().flatten(), (m == 255).any(0).nonzero().flatten()
        t, l, h, w = int(rows[0]), int(cols[0]), len(rows), len(cols)
        box = torch.zeros_like(m); box[t:t + h, l:l + w] = 255
        assert torch.equal(m, box)
        out.append((t, l, h, w))
    return out


def background_values(canvases):
    return set(canvases[:, :3][(canvases[:, 3:] == 0).expand(-1, 3, -1, -1)].unique().tolist())


# ---- data -------------------------------------------------------------------------------------------------------

def test_placement_digits_canvases():
    base = get_dataset("digits", image_size=32, **CAPS)
    pl = get_dataset("placement:digits", image_size=32, **CAPS)
    assert pl.name == "placement:digits" and pl.classes == base.classes
    for k in ("train", "val", "test"):
        b, p = getattr(base, k), getattr(pl, k)
        assert isinstance(p, TensorImageDataset) and len(p) == len(b)
        assert torch.equal(p.labels, b.labels)
        assert p.images.shape == (len(b), 4, 32, 32) and p.images.dtype == torch.uint8
        bx = boxes(p.images)
        assert {(h, w) for *_, h, w in bx} == {(14, 14)}                              # round(3/7 · 32)
        assert all(t % 8 == 0 and l % 8 == 0 and 0 <= t <= 18 and 0 <= l <= 18 for t, l, *_ in bx)   # grid 8 at 32 px
        assert background_values(p.images) == {D.PLACEMENT_BACKGROUND} == {128}
    # same positions on every call, for every run seed and cap
    again = get_dataset("placement:digits", image_size=32, **CAPS)
    assert all(torch.equal(getattr(again, k).images, getattr(pl, k).images) for k in ("train", "val", "test"))
    other = get_dataset("placement:digits", image_size=32, **CAPS, seed=3)
    assert torch.equal(other.train.images[:, 3], pl.train.images[:, 3])
    assert not torch.equal(other.train.images[:, :3], pl.train.images[:, :3])         # other images, same places
    assert torch.equal(other.test.images, pl.test.images)                             # test does not depend on seed


def test_object_pixels_are_the_resized_image():
    objs = torch.randint(0, 256, (5, 3, 10, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    c = make_placement(objs, 40, scale=0.3, grid=4, background=7, seed=5)
    ref = torch.nn.functional.interpolate(objs.float(), size=(12, 12), mode="bilinear", antialias=True,
                                          align_corners=False).round().clamp(0, 255).to(torch.uint8)
    for i, (t, l, h, w) in enumerate(boxes(c)):
        assert (h, w) == (12, 12) and t % 4 == 0 and l % 4 == 0 and t <= 28 and l <= 28
        assert torch.equal(c[i, :3, t:t + 12, l:l + 12], ref[i])
    assert background_values(c) == {7}
    assert torch.equal(make_placement(objs[:3], 40, 0.3, 4, 7, 5), c[:3])             # image i: the i-th draw
    assert not torch.equal(make_placement(objs, 40, 0.3, 4, 7, 6)[:, 3], c[:, 3])      # another seed, other places


def test_module_constants_are_read_at_call_time(monkeypatch):
    monkeypatch.setattr(D, "PLACEMENT_SCALE", 0.25)
    monkeypatch.setattr(D, "PLACEMENT_BACKGROUND", 0)
    monkeypatch.setattr(D, "PLACEMENT_GRID", 4)
    pl = get_dataset("placement:digits", image_size=32, **CAPS)
    bx = boxes(pl.train.images)
    assert {(h, w) for *_, h, w in bx} == {(8, 8)} and all(t % 4 == 0 and l % 4 == 0 for t, l, *_ in bx)
    assert {t for t, *_ in bx} - set(range(0, 25, 8)), "some corner off the 8 px grid: the 4 px grid was used"


def test_placement_grid_default():
    assert [placement_grid(s) for s in (112, 224, 32, 64, 96, 384, 7)] == [16, 32, 8, 16, 16, 64, 1]


def _tree(root, size, n_train=4, n_test=2):
    for split, n in (("train", n_train), ("test", n_test)):
        for k, c in enumerate(("a", "b")):
            (root/split/c).mkdir(parents=True, exist_ok=True)
            for i in range(n): Image.new("RGB", size, (200 * k + 20, 60, 90)).save(root/split/c/f"{i}.png")
    return root


@pytest.mark.parametrize("size", [(12, 10), (80, 100)])   # decoded into memory / read from files at the object's size
def test_placement_imagefolder(tmp_path, size):
    root = _tree(tmp_path/"tree", size)
    pl = get_dataset(f"placement:imagefolder:{root}", image_size=48, val_fraction=0.25)
    assert (len(pl.train), len(pl.val), len(pl.test)) == (6, 2, 4) and pl.classes == ["a", "b"]
    for split in (pl.train, pl.test):
        for (t, l, h, w), img, y in zip(boxes(split.images), split.images, split.labels):
            assert (h, w) == (21, 21) and t % 8 == 0 and l % 8 == 0               # round(3/7 · 48); grid placement_grid(48) = 8
            assert img[:3, t:t + h, l:l + w].flatten(1).unique(dim=1).tolist() == [[200 * int(y) + 20], [60], [90]]


def test_batches_carry_the_matte():
    pl = get_dataset("placement:digits", image_size=32, **CAPS)
    x, y = next(iterate_batches(pl.train, 8, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert x.shape == (8, 4, 32, 32) and x.dtype == torch.uint8 and y.shape == (8,)
    x, y = next(iterate_batches(Subset(pl.test, [3, 1]), 8))
    assert torch.equal(x, pl.test.images[[3, 1]])


@pytest.mark.parametrize("spec, msg", [
    ("placement:foo", "dataset='placement:foo': unknown dataset 'foo'; choose one of: cifar10"),
    ("placement:", "needs a dataset after 'placement:', e.g. 'placement:digits'"),
    ("placement:<dataset>", "needs a dataset after 'placement:'"),
    ("placement:placement:digits", "'placement:' cannot be nested"),
    ("placement:imagefolder:", "needs a path"),
    ("mnist", "unknown dataset 'mnist'; choose one of"),
    ("", "must be a non-empty string"),
])
def test_bad_specs_one_line(spec, msg):
    with pytest.raises(ConfigError) as e: check_dataset_spec(spec)
    assert msg in str(e.value) and "\n" not in str(e.value)
    if spec.startswith("placement:"):
        with pytest.raises(ConfigError, match=msg.split(";")[0].replace("(", r"\(")): get_dataset(spec)


def test_good_specs_pass_without_reading():
    for spec in ("digits", "cifar100", "imagefolder:/does/not/exist", "placement:digits",
                 "placement:imagefolder:/does/not/exist", "placement:cifar10"):
        check_dataset_spec(spec)
    assert "placement:<dataset>" in D.list_datasets()


def test_bad_placement_arguments():
    objs = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    for kw, msg in ((dict(scale=0), "scale=0 must be in (0, 1]"), (dict(scale=0.01), "at least 1 px"),
                    (dict(grid=0), "grid=0 must be a positive integer"), (dict(background=300), "background=300")):
        with pytest.raises(ConfigError, match=msg.replace("(", r"\(").replace(")", r"\)")): make_placement(objs, 32, **kw)
    with pytest.raises(ConfigError, match=r"uint8 tensor \(N,3,H,W\)"): make_placement(objs.float(), 32)


# ---- the oracle -------------------------------------------------------------------------------------------------

def test_oracle_region_mask_hand_made():
    m = torch.zeros(2, 1, 12, 12)
    m[0, 0, 0, 0] = 1                       # one pixel in the top-left region
    m[1, 0, 4:8, 4:8] = 1                   # exactly the centre region
    m[1, 0, 11, 8] = 1                      # and one pixel of the bottom-right one
    expect = torch.tensor([[[[0., 1, 1], [1, 1, 1], [1, 1, 1]]], [[[1., 1, 1], [1, 0, 1], [1, 1, 0]]]])
    assert torch.equal(oracle_region_mask(m, 4), expect)
    assert torch.equal(oracle_region_mask(m.bool(), 4), expect)
    assert torch.equal(oracle_region_mask(m, 12), torch.zeros(2, 1, 1, 1))
    assert torch.equal(oracle_region_mask(torch.zeros(1, 1, 12, 12), 3), torch.ones(1, 1, 4, 4))
    with pytest.raises(ConfigError, match="region_size=5 must divide"): oracle_region_mask(m, 5)


def test_object_mask_resized_nearest():
    pre = Preprocess(64, (0.5,) * 3, (0.5,) * 3)
    c = make_placement(torch.zeros(3, 3, 8, 8, dtype=torch.uint8), 32, scale=0.5, grid=8)
    om = pre.object_mask(c)
    assert om.shape == (3, 1, 64, 64) and set(om.unique().tolist()) == {0., 1.}
    assert torch.equal(om, c[:, 3:].float().div(255).repeat_interleave(2, 2).repeat_interleave(2, 3))
    assert pre.object_mask(c[:, :3]) is None
    assert torch.equal(pre(c), pre(c[:, :3]))


def test_oracle_prompter_contract():
    orc = create_method("oracle", prompt_size=16, image_size=32, region_size=8, init="zeros", lr_prompt=40.)
    assert isinstance(orc, OraclePrompter) and orc.uses_object_mask
    assert count_tunable_params(orc) == count_tunable_params(create_method("vp", prompt_size=16, image_size=32)) == 3 * 32 * 32
    with pytest.raises(ConfigError) as e: orc(torch.zeros(1, 3, 32, 32))
    assert str(e.value) == ("method 'oracle' needs the object's position: use a placement dataset "
                            "(dataset='placement:<base>')")
    with pytest.raises(ConfigError, match="must divide image_size=32"): create_method("oracle", image_size=32, region_size=5)
    with pytest.raises(ConfigError, match="prompter='padding'"): create_method("oracle", prompter="fixed_patch")


# ---- end to end -------------------------------------------------------------------------------------------------

TINY = dict(backbone="efficientnet_lite0", image_size=32, prompt_size=16, region_size=8, epochs=1, batch_size=32,
            warmup_steps=2, embed_dim=8, init="zeros", device="cpu", **CAPS)


def _accepts_placement() -> bool:
    try: validate_config(TrainConfig(dataset="placement:digits", method="vp", **TINY)); return True
    except ConfigError: return False


def test_oracle_on_rgb_data_fails_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as e:
        fit(TrainConfig(dataset="digits", method="oracle", out_dir=str(tmp_path/"run"), **TINY), progress=False)
    assert "placement" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.skipif(not _accepts_placement(), reason="validate_config (nbs/08a_config.ipynb) does not accept "
                    "'placement:' datasets yet: it must call adavipro.data.check_dataset_spec(cfg.dataset)")
@pytest.mark.parametrize("method", ["oracle", "vp"])
def test_fit_on_placement_digits(tmp_path, method):
    cfg = TrainConfig(dataset="placement:digits", method=method, out_dir=str(tmp_path/"run"), **TINY)
    m = fit(cfg, progress=False)
    assert (m["n_train"], m["n_val"], m["n_test"]) == (50, 20, 30)
    assert m["n_tunable_params"] == 3 * 32 * 32 and 0 <= m["test_acc"] <= 1 and m["steps"] == 2
    assert json.loads((Path(cfg.out_dir)/"config.json").read_text())["dataset"] == "placement:digits"
