"Tests of `adavipro.backbones`: real ImageNet weights on real CIFAR-10 images, freezing, CLIP heads, spec errors."
import io
import tarfile
import time
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from adavipro.backbones import (TEXT_TEMPLATE, Backbone, BackboneConfig, ClipHead, LabelMappingHead,
                                create_backbone, list_backbones)
from adavipro.core import ConfigError, seed_everything

CIFAR_TAR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10" / "cifar10-jpeg.tar.gz"
DOGS, CATS = slice(151, 269), slice(281, 286)  # ImageNet-1k: 118 dog breeds (151–268), 5 domestic cats (281–285)
N_PER_CLASS = 100


# ---------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def cats_dogs():
    "(200, 3, 32, 32) float images in [0, 1] (test cats 0000–0099, then test dogs 0000–0099) and labels (1 = dog)."
    if not CIFAR_TAR.is_file(): pytest.skip(f"real CIFAR-10 not found at {CIFAR_TAR}")
    wanted = {f"test/{c}/{i:04d}.jpg": c for c in ("cat", "dog") for i in range(N_PER_CLASS)}
    found = {}
    with tarfile.open(CIFAR_TAR, "r:gz") as tf:
        for m in tf:  # stream: stop as soon as all 200 files are read
            if m.name in wanted:
                found[m.name] = np.asarray(Image.open(io.BytesIO(tf.extractfile(m).read())).convert("RGB"))
                if len(found) == len(wanted): break
    assert len(found) == len(wanted), f"{len(wanted) - len(found)} of the wanted JPEGs are missing from {CIFAR_TAR}"
    x = torch.from_numpy(np.stack([found[k] for k in wanted])).permute(0, 3, 1, 2).float() / 255
    y = np.array([wanted[k] == "dog" for k in wanted], dtype=int)
    return x, y


@pytest.fixture(scope="module")
def eff():
    return create_backbone("efficientnet_lite0")


def _prepare(x, cfg: BackboneConfig):
    "Upsample [0, 1] images to the backbone's resolution (bilinear) and normalise them with its mean/std."
    x = F.interpolate(x, size=cfg.input_size, mode="bilinear", align_corners=False)
    return (x - torch.tensor(cfg.mean)[:, None, None]) / torch.tensor(cfg.std)[:, None, None]


def _dog_vs_cat(backbone: Backbone, x):
    "Per image: log P(ImageNet dog group) − log P(ImageNet cat group), and the probability mass on both groups."
    with torch.no_grad(): logp = torch.cat([backbone(b).log_softmax(-1) for b in _prepare(x, backbone.cfg).split(50)])
    dog, cat = logp[:, DOGS].logsumexp(-1), logp[:, CATS].logsumexp(-1)
    return (dog - cat).numpy(), (dog.exp() + cat.exp()).mean().item()


# ---------------------------------------------------------------------------------------------------- real weights
def test_efficientnet_lite0_real_weights_separate_cats_from_dogs(cats_dogs, eff):
    "The packaged weights are real ImageNet weights: on real CIFAR-10 cats and dogs they rank dogs above cats."
    from sklearn.metrics import roc_auc_score
    x, y = cats_dogs
    t0 = time.perf_counter()
    score, mass = _dog_vs_cat(eff, x)
    auc = roc_auc_score(y, score)
    seed_everything(0)  # control: the same architecture, randomly initialised, on every 4th image (25 cats, 25 dogs)
    control = create_backbone("timm:tf_efficientnet_lite0:random")
    assert control.cfg.mean == eff.cfg.mean and control.cfg.std == eff.cfg.std
    score_r, mass_r = _dog_vs_cat(control, x[::4])
    auc_r = roc_auc_score(y[::4], score_r)
    print(f"real weights: AUC {auc:.3f}, cat+dog mass {mass:.3f}; random init: AUC {auc_r:.3f}, mass {mass_r:.3f}; "
          f"{time.perf_counter() - t0:.1f}s")
    assert auc >= 0.75, f"cat-vs-dog AUC {auc:.3f}: the EfficientNet-Lite0 weights or their loading are wrong"
    assert mass > 2.5 * mass_r, f"cat+dog mass {mass:.3f} is not far above the random-init control's {mass_r:.3f}"
    assert auc > auc_r + 0.15, f"real AUC {auc:.3f} is not well above the random-init control's {auc_r:.3f}"


# ---------------------------------------------------------------------------------------------------- freezing
@pytest.mark.parametrize("name", ["eff", "clip"])
def test_frozen_eval_mode_and_gradient_to_input(name, request):
    bb = request.getfixturevalue(name)
    assert not any(p.requires_grad for p in bb.parameters())
    parent = nn.Sequential(nn.Conv2d(3, 3, 1), bb)
    parent.train()
    assert parent[0].training and not any(m.training for m in bb.modules())
    bb.train(True)
    assert not any(m.training for m in bb.modules())
    x = torch.randn(2, 3, bb.cfg.input_size, bb.cfg.input_size, requires_grad=True)
    bb(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in bb.parameters())


def test_batchnorm_statistics_unchanged_by_parent_train(eff):
    "A training-mode forward through the parent must not touch the frozen batch-norm running statistics."
    before = {k: v.clone() for k, v in eff.state_dict().items()}
    nn.Sequential(eff).train()(torch.randn(2, 3, 64, 64) * 3 + 1)
    assert all(torch.equal(before[k], v) for k, v in eff.state_dict().items())


# ---------------------------------------------------------------------------------------------------- CLIP
def test_clip_shapes_and_config(clip):
    assert clip.cfg == BackboneConfig("clip:ViT-B-32:random", 224, open_clip.OPENAI_DATASET_MEAN,
                                      open_clip.OPENAI_DATASET_STD, "clip", False, 512, "bicubic")   # open_clip's resize
    emb = clip(torch.randn(2, 3, 224, 224))
    assert emb.shape == (2, 512)
    head = clip.create_head(["cat", "dog", "ship", "truck"])
    assert isinstance(head, ClipHead) and head(emb).shape == (2, 4)



@pytest.mark.parametrize("fast_on", [True, False])
def test_fast_layers_match_stock_open_clip(clip, fast_on):
    "use_fast_layers: 12+12 attention layers, the patchify conv and the last image block switched; same embeddings and input gradients, with the fast paths on and off."
    import copy
    from adavipro.fast import BatchFirstSelfAttention, ClassTokenBlock, PatchEmbedConv2d, fast_paths, use_fast_layers
    model = clip.model
    if clip.fast_layers == 0:                                # the suite runs with ADAVIPRO_FAST_PATHS=0: switch a copy
        model = copy.deepcopy(clip.model); assert use_fast_layers(model) == 26
    else: assert clip.fast_layers == 26
    assert type(model.visual.conv1) is PatchEmbedConv2d
    assert type(model.visual.transformer.resblocks[-1]) is ClassTokenBlock
    assert sum(type(m) is ClassTokenBlock for m in model.modules()) == 1             # not in the text tower
    assert sum(type(m) is BatchFirstSelfAttention for m in model.modules()) == 24
    stock = open_clip.create_model("ViT-B-32", pretrained=None).eval().requires_grad_(False)
    stock.load_state_dict(model.state_dict())                # same keys: only the classes changed
    assert not any(type(m) in (BatchFirstSelfAttention, PatchEmbedConv2d, ClassTokenBlock) for m in stock.modules())
    torch.manual_seed(0)
    x = torch.randn(3, 3, 224, 224)
    out = []
    for f in (stock.encode_image, model.encode_image):
        xi = x.clone().requires_grad_(True)
        with fast_paths(fast_on): y = f(xi)
        y.square().sum().backward()
        out.append((y.detach(), xi.grad))
    assert torch.allclose(out[0][0], out[1][0], atol=1e-4, rtol=1e-4)
    assert (out[0][1] - out[1][1]).norm() <= 1e-4 * out[0][1].norm()
    tok = open_clip.get_tokenizer("ViT-B-32")(["This is a photo of a cat", "This is a photo of a dog"])
    with fast_paths(fast_on), torch.no_grad(): assert torch.allclose(stock.encode_text(tok), model.encode_text(tok), atol=1e-4)
    if not fast_on:                                          # built with the fast paths off: the stock modules
        with fast_paths(False): plain = create_backbone("clip:ViT-B-32:random")
        assert plain.fast_layers == 0
        assert not any(type(m) in (BatchFirstSelfAttention, PatchEmbedConv2d, ClassTokenBlock) for m in plain.modules())

def test_clip_text_encoder_runs_once(clip, monkeypatch):
    calls, encode_text = [], clip.model.encode_text
    monkeypatch.setattr(clip.model, "encode_text", lambda *a, **k: calls.append(a[0].shape) or encode_text(*a, **k))
    head = clip.create_head(["cat", "dog", "bird"])
    for _ in range(3): head(clip(torch.randn(2, 3, 224, 224)))
    assert len(calls) == 1 and calls[0][0] == 3


def test_clip_head_is_scaled_cosine_of_template_embeddings(clip):
    classes = ["cat", "dog"]
    head = clip.create_head(classes)
    tok = open_clip.get_tokenizer("ViT-B-32")([TEXT_TEMPLATE.format(c) for c in classes])
    with torch.no_grad():
        text = clip.model.encode_text(tok)
        emb = clip(torch.randn(2, 3, 224, 224))
        want = clip.model.logit_scale.exp() * F.cosine_similarity(emb[:, None], text[None], dim=-1)
    assert torch.allclose(head(emb), want, atol=1e-4)
    assert torch.allclose(head.text_features.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert TEXT_TEMPLATE.format("cat") == "This is a photo of a cat"


def test_clip_local_checkpoint_round_trip(tmp_path):
    "A local checkpoint file is loaded exactly (small ViT-S-32-alt to keep the file small)."
    src = create_backbone("clip:ViT-S-32-alt:random")
    torch.save(src.model.state_dict(), tmp_path / "ckpt.pt")
    dst = create_backbone(f"clip:ViT-S-32-alt:{tmp_path / 'ckpt.pt'}")
    x = torch.randn(2, 3, dst.cfg.input_size, dst.cfg.input_size)
    with torch.no_grad(): assert torch.equal(src(x), dst(x))
    with pytest.raises(ConfigError, match="could not load CLIP checkpoint"):
        create_backbone(f"clip:ViT-B-32:{tmp_path / 'ckpt.pt'}")


def test_clip_tag_uses_tag_preprocessing_and_quickgelu(monkeypatch):
    "A tag's own settings are applied: OpenAI weights were trained with QuickGELU (download and load stubbed out)."
    import open_clip.factory as fac
    monkeypatch.setattr(fac, "download_pretrained", lambda cfg, **kw: "stub.pt")
    monkeypatch.setattr(fac, "load_checkpoint", lambda *a, **kw: None)
    bb = create_backbone("clip:ViT-B-32:openai")
    assert isinstance(bb.model.visual.transformer.resblocks[0].mlp.gelu, open_clip.transformer.QuickGELU)
    assert bb.cfg.mean == open_clip.OPENAI_DATASET_MEAN and bb.cfg.input_size == 224


# ---------------------------------------------------------------------------------------------------- heads
def test_label_mapping_head():
    logits = torch.randn(3, 1000)
    assert torch.equal(LabelMappingHead(10)(logits), logits[:, :10])
    assert torch.equal(LabelMappingHead(1000)(logits), logits)
    with pytest.raises(ConfigError): LabelMappingHead(1001)
    with pytest.raises(ConfigError): LabelMappingHead(0)


def test_imagenet_backbone_head(eff):
    head = eff.create_head([f"c{i}" for i in range(37)])
    assert isinstance(head, LabelMappingHead) and head(torch.randn(2, 1000)).shape == (2, 37)


# ---------------------------------------------------------------------------------------------------- errors
def test_unknown_spec_lists_valid_patterns():
    with pytest.raises(ConfigError) as e: create_backbone("resnet50")
    for pattern in list_backbones(): assert pattern in str(e.value)


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    "HF_HUB_OFFLINE=1 (conftest) and an empty hub cache: no weights can be had, whatever this machine has cached."
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))


def test_clip_pretrained_tag_offline_fails_fast_in_one_line(empty_hub_cache, caplog):
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as e: create_backbone("clip:ViT-B-32:openai")
    assert [r.getMessage() for r in caplog.records if r.levelno >= 40] == []   # open_clip's own error log is held back
    assert time.perf_counter() - t0 < 10
    msg = str(e.value)
    assert "\n" not in msg and "'openai'" in msg and "HF_HUB_OFFLINE=1" in msg and "set HF_HUB_OFFLINE=0" in msg, msg
    assert "clip:ViT-B-32-quickgelu:/path/to/" in msg, msg


def test_timm_pretrained_offline_fails_fast(empty_hub_cache):
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"HF_HUB_OFFLINE=1.*timm:resnet18:/path/to/weights.pth") as e: create_backbone("timm:resnet18")
    assert time.perf_counter() - t0 < 10 and "\n" not in str(e.value)


@pytest.mark.parametrize("spec", ["clip:ViT-B-32:openai", "timm:resnet18"])
def test_hub_offline_opens_no_socket(spec, empty_hub_cache, monkeypatch):
    "Offline, the weights are refused by the hub library's offline path; nothing (ours or the library's) connects anywhere."
    import socket
    import huggingface_hub.errors as hub_errors
    import adavipro.backbones as B
    tried = []
    def refuse(*a, **k): tried.append(a); raise AssertionError(f"a connection was opened: {a}")
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with pytest.raises(ConfigError) as e: create_backbone(spec)
    assert tried == []
    chain, c = [], e.value
    while c is not None: chain.append(c); c = c.__cause__ or c.__context__
    assert any(isinstance(c, (hub_errors.OfflineModeIsEnabled, hub_errors.LocalEntryNotFoundError)) for c in chain), chain
    assert not any(hasattr(B, n) for n in ("_hub_reachable", "socket", "urlparse"))   # no probe of our own


def test_hub_offline_follows_the_variable_set_after_import(monkeypatch):
    "The hub library reads HF_HUB_OFFLINE once, at import; the backbones follow it as it is when they load weights."
    from huggingface_hub import constants
    from adavipro.backbones import _hub_env
    for value, offline in (("1", True), ("0", False)):
        monkeypatch.setenv("HF_HUB_OFFLINE", value)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", not offline)
        with _hub_env(): assert constants.HF_HUB_OFFLINE is offline
        assert constants.HF_HUB_OFFLINE is (not offline)


@pytest.mark.parametrize("spec, match", [
    ("clip:ViT-B-32:/nonexistent.pt", "/nonexistent.pt"),
    ("clip:ViT-B-32:not_a_tag", "not a pretrained tag"),
    ("clip:ViT-B-99:random", "unknown open_clip model"),
    ("clip:ViT-B-32", "clip:<model>:<weights>"),
    ("timm:not_a_model:random", "unknown timm model"),
    ("timm:resnet18:/no/such/weights.pth", "/no/such/weights.pth"),
    ("timm:vit_tiny_patch16_224.augreg_in21k:random", "1000-class"),
    ("efficientnet_lite0:random", "takes no argument"),
])
def test_spec_errors(spec, match):
    with pytest.raises(ConfigError, match=match): create_backbone(spec)


def test_check_image_size(clip, eff):
    with pytest.raises(ConfigError, match="224"): clip.check_image_size(112)
    clip.check_image_size(224)
    eff.check_image_size(112)
    assert eff(torch.randn(1, 3, 112, 112)).shape == (1, 1000)


def test_timm_config_from_pretrained_cfg():
    vit = create_backbone("timm:vit_tiny_patch16_224:random")
    assert (vit.cfg.input_size, vit.cfg.any_size, vit.cfg.head_kind, vit.cfg.num_outputs) == (224, False, "imagenet", 1000)
    assert vit.cfg.mean == (0.5, 0.5, 0.5)
    r = create_backbone("timm:resnet18:random")
    assert r.cfg.any_size and r.cfg.mean == (0.485, 0.456, 0.406)


def test_timm_local_weights(tmp_path):
    src = create_backbone("timm:resnet18:random")
    torch.save(src.model.state_dict(), tmp_path / "w.pth")
    dst = create_backbone(f"timm:resnet18:{tmp_path / 'w.pth'}")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad(): assert torch.equal(src(x), dst(x))
