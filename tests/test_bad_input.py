"""Issue 4: every mistake is one line that says what to do, raised before any training starts."""
import signal
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings, strategies as st, HealthCheck

from adavipro.core import ConfigError
from adavipro.training import TrainConfig, fit, validate_config
from adavipro.config import BAD_INPUTS
from adavipro.model import create_method

BASE = dict(dataset="digits", backbone="efficientnet_lite0", method="adavipro", image_size=32, prompt_size=4,
            region_size=8, embed_dim=8, epochs=1, batch_size=16, warmup_steps=1, train_per_class=2,
            val_per_class=1, test_per_class=1)

def _folder(tmp_path, corrupt=False, empty=False):
    from PIL import Image
    root = tmp_path / "tree"
    for split in ("train", "test"):
        for c in ("cat", "dog"):
            d = root / split / c; d.mkdir(parents=True)
            if empty: continue
            for i in range(10): Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(d / f"{i}.png")
    if corrupt: (root / "train" / "dog" / "9.jpg").write_bytes(b"not a jpeg")
    return root

# Mistakes `validate_config` answers: the library's one table (08a_config), run here through `fit`.
CONFIG_CASES = {", ".join(f"{k}={v!r}" for k, v in kw.items()): (kw, msg) for kw, msg in BAD_INPUTS}
# Mistakes only `build_run` can see: they need the backbone, its weights or the data on disk (files made below,
# a download refused offline), so they are no `validate_config` case and stay here rather than in BAD_INPUTS.
BUILD_CASES = {
    "unknown backbone": (dict(backbone="resnet50"), "resnet50"),
    "missing dataset offline": (dict(dataset="cifar10", data_root="{tmp}/empty"), "cifar-10-batches-py"),
    "missing weights offline": (dict(backbone="clip:ViT-B-32:openai", image_size=224, prompt_size=30, region_size=32),
                                "pass a local checkpoint"),
    "missing local weights": (dict(backbone="clip:ViT-B-32:{tmp}/nope.pt", image_size=224, prompt_size=30, region_size=32),
                              "nope.pt"),
    "CLIP at the wrong size": (dict(backbone="clip:ViT-B-32:random"), "224"),
    "label mapping on CLIP": (dict(backbone="clip:ViT-B-32:random", image_size=224, prompt_size=30, region_size=32,
                                   label_mapping="iterative"), "label_mapping='iterative' is for ImageNet classifiers"),
    "image folder missing": (dict(dataset="imagefolder:{tmp}/nowhere"), "nowhere"),
    "empty image folder": (dict(dataset="imagefolder:{tmp}/tree"), "no images"),
    "corrupt image": (dict(dataset="imagefolder:{tmp}/tree", train_per_class=None), "9.jpg"),
}
CASES = {**CONFIG_CASES, **BUILD_CASES}

@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(tmp_path, name):
    kw, msg = CASES[name]
    if "device" in kw and torch.cuda.is_available(): pytest.skip("CUDA present")
    if name == "empty image folder": _folder(tmp_path, empty=True)
    if name == "corrupt image": _folder(tmp_path, corrupt=True)
    kw = {k: v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v for k, v in kw.items()}
    out = tmp_path / "run"
    with pytest.raises(ConfigError) as e:
        fit(TrainConfig(**{**BASE, **kw, "out_dir": str(out)}), progress=False)
    text = str(e.value)
    print(f"{name}: {text}")
    assert msg.lower() in text.lower(), text
    assert "\n" not in text and len(text) < 400
    assert not (out / "last.pt").exists() and not (out / "metrics.json").exists()

def test_overwrite_does_not_delete_a_finished_run_when_the_new_one_is_invalid(tmp_path):
    cfg = TrainConfig(**{**BASE, "method": "vp", "out_dir": str(tmp_path / "run")})
    fit(cfg, progress=False)
    bad = TrainConfig(**{**BASE, "method": "vp", "out_dir": str(tmp_path / "run"), "overwrite": True,
                         "dataset": "imagefolder:/does/not/exist"})
    with pytest.raises(ConfigError): fit(bad, progress=False)
    assert (tmp_path / "run" / "metrics.json").exists() and (tmp_path / "run" / "best.pt").exists()

# -- property: any combination of papermill parameters is either accepted or answered with a ConfigError;
#    an accepted one builds a prompter that runs (never an exception from inside torch).
ints = lambda lo, hi: st.one_of(st.integers(lo, hi), st.sampled_from([0, -1, 10**6]), st.floats(allow_nan=True),
                                st.none(), st.booleans(), st.text(max_size=3))
PARAMS = dict(
    method=st.sampled_from(["none", "vp", "adavipro", "vpt", "", 3]),
    prompter=st.sampled_from(["padding", "fixed_patch", "random_patch", "full", "pad", None]),
    prompt_size=ints(1, 40), region_size=ints(1, 64), embed_dim=ints(1, 16), image_size=st.sampled_from([8, 16, 24, 32, 48, 64, 7, 0, -32, 32.0, 33.5]),
    tau0=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 6)),
    gamma=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-1, 2)),
    epochs=ints(1, 5), batch_size=ints(1, 64), warmup_steps=ints(0, 10),
    lr_prompt=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-1, 50)),
    lr_mask=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-1, 2)),
    use_edges=st.sampled_from([True, False, 1, 0, "yes", None]),
    train_per_class=st.one_of(st.none(), ints(1, 10)), seed=ints(0, 10),
    device=st.sampled_from(["auto", "cpu", "cuda:3", "gpu", "", "meta"]),
)

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({}, optional=PARAMS))
def test_any_parameter_combination_is_accepted_or_a_config_error(params):
    cfg = TrainConfig(dataset="digits", backbone="efficientnet_lite0", out_dir="outputs/never-written", **params)
    try:
        validate_config(cfg)
    except ConfigError as e:
        assert "\n" not in str(e)
        return
    prompter = create_method(cfg.method, **{k: getattr(cfg, k) for k in ("prompter", "prompt_size", "image_size",
                              "region_size", "embed_dim", "tau0", "gamma", "use_edges", "init")})
    x = torch.zeros(2, 3, cfg.image_size, cfg.image_size)
    for mode in (True, False):
        prompter.train(mode)
        assert prompter(x).shape == x.shape


# Misuse of the pipeline's building blocks: one line each, where the input enters.
def _toy_model(image_size=32, prompter_size=None):
    from adavipro.model import Preprocess, PromptedClassifier
    from adavipro.prompters import create_prompter
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(4))
    return PromptedClassifier(Preprocess(image_size, (0.5,) * 3, (0.5,) * 3),
                              create_prompter("padding", 2, prompter_size or image_size), net, torch.nn.Identity())

@pytest.mark.parametrize("images, msg", [
    (torch.zeros(2, 32, 32, 3, dtype=torch.uint8), "look channels-last (B,H,W,C): pass images.permute(0, 3, 1, 2)"),
    (torch.full((2, 3, 32, 32), 255.), "float images must be in [0, 1] (unnormalised)"),
    (torch.zeros(2, 3, 32, 32, dtype=torch.int32), "got dtype torch.int32"),
    (torch.zeros(3, 32, 32, dtype=torch.uint8), "must be (B,3,H,W) channels-first"),
])
def test_images_in_a_layout_dtype_or_range_the_pipeline_cannot_read(images, msg):
    with pytest.raises(ConfigError) as e: _toy_model()(images)
    assert msg in str(e.value) and "\n" not in str(e.value)

def test_prompter_sized_for_another_image_side():
    with pytest.raises(ConfigError, match=r"built for 96×96 inputs but Preprocess makes 64×64"): _toy_model(64, 96)

def test_unknown_head_kind():
    from adavipro.backbones import BackboneConfig
    with pytest.raises(ConfigError, match=r"^head_kind='bogus': choose one of clip, imagenet$"):
        BackboneConfig("mine", 32, (0.5,) * 3, (0.5,) * 3, "bogus", True, 10)

def test_backbone_copy_leaves_the_callers_model_alone():
    from adavipro.backbones import Backbone, BackboneConfig
    from adavipro.fast import fast_paths
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 4, stride=4), torch.nn.Flatten())
    cfg = BackboneConfig("mine", 32, (0.5,) * 3, (0.5,) * 3, "imagenet", True, 256)
    with fast_paths(True): Backbone(net, cfg, copy=True)
    assert all(p.requires_grad for p in net.parameters()) and type(net[0]) is torch.nn.Conv2d
    assert "FREEZES `model` IN PLACE" in Backbone.__doc__
