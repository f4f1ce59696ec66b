"""VPT (`adavipro.vpt`): token insertion in timm and open_clip ViTs, the unprompted path, parameter counts, a run."""
import json
from pathlib import Path

import open_clip
import pytest
import timm
import torch
import torch.nn.functional as F

from adavipro.backbones import Backbone, BackboneConfig, create_backbone
from adavipro.core import ConfigError
from adavipro.model import PromptedClassifier, Preprocess, count_tunable_params, methods


@pytest.fixture(scope="module")
def vpt():
    "The module under test (its methods register on import, as `adavipro.training` does)."
    import adavipro.vpt
    return adavipro.vpt


@pytest.fixture(scope="module")
def vit():
    return create_backbone("timm:vit_tiny_patch16_224:random")


def block_inputs(blocks, run, seq_dim=1):
    "Sequence lengths (and inputs) every block sees while `run()` executes."
    seen = []
    hs = [b.register_forward_pre_hook(lambda m, a, k: seen.append(a[0].detach()), with_kwargs=True) for b in blocks]
    try: out = run()
    finally:
        for h in hs: h.remove()
    return out, seen


def tiny_timm(**kw) -> Backbone:
    "A small random timm ViT wrapped as a backbone (32 px, 8 px patches: 16 patch tokens)."
    net = timm.models.vision_transformer.VisionTransformer(img_size=32, patch_size=8, embed_dim=16, depth=3, num_heads=2,
                                                         num_classes=1000, **kw)
    return Backbone(net, BackboneConfig("tiny", 32, (0.5,) * 3, (0.5,) * 3, "imagenet", False, 1000))


def test_parameter_counts_clip_vit_b32(vpt, clip):
    for deep, n in ((False, 7_680), (True, 92_160)):       # L·d and L·d·12 with d = 768
        p = methods.get("vpt_deep" if deep else "vpt_shallow")(num_tokens=10, image_size=224, init="randn")
        p.attach(clip)
        try:
            assert count_tunable_params(p) == n and list(p.state_dict()) == ["prompts"]
            assert count_tunable_params(clip) == 0
        finally: p.remove()


@pytest.mark.parametrize("which", ["vit", "clip"])
@pytest.mark.parametrize("deep", [False, True])
def test_disabled_is_exactly_the_plain_backbone(vpt, request, which, deep):
    bb = request.getfixturevalue(which)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(): plain = bb(x)
    p = vpt.VPTPrompter(4, deep=deep, init="zeros"); p.attach(bb); p.eval()
    try:
        with torch.no_grad():
            p.enabled = False; off = bb(x)
            p.enabled = True; on = bb(x)
    finally: p.remove()
    assert torch.equal(off, plain)
    assert on.shape == plain.shape and (on - plain).abs().max() > 1e-4    # zero tokens still take part in attention
    with torch.no_grad(): assert torch.equal(bb(x), plain)                # removed: plain again


@pytest.mark.parametrize("deep", [False, True])
def test_tokens_per_layer(vpt, vit, deep):
    p = vpt.VPTPrompter(3, deep=deep); p.attach(vit)
    x = torch.randn(2, 3, 224, 224)
    blocks = vpt.vit_layout(vit.model).blocks
    try: out, seen = block_inputs(blocks, lambda: vit(x))
    finally: p.remove()
    assert out.shape == (2, 1000)
    assert [s.shape[1] for s in seen] == [1 + 3 + 196] * 12
    P = p.prompts.detach()
    assert torch.equal(seen[0][:, 1:4], P[0].expand(2, -1, -1))
    for i in range(1, 12):    # deep: block i's prompt positions hold P_i, not block i-1's outputs; shallow: the outputs
        assert torch.equal(seen[i][:, 1:4], P[i if deep else 0].expand(2, -1, -1)) == deep


def test_gradients_reach_prompts_only(vpt, vit):
    p = methods.get("vpt_deep")(num_tokens=2, init="randn"); p.attach(vit)
    try:
        model = PromptedClassifier(Preprocess(224, vit.cfg.mean, vit.cfg.std), p, vit,
                                   vit.create_head([str(i) for i in range(10)]))
        model.train()
        assert not vit.training and p.training
        F.cross_entropy(model(torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)), torch.tensor([0, 1])).backward()
        assert [n for n, q in model.named_parameters() if q.grad is not None] == ["prompter.prompts"]
        assert (p.prompts.grad.flatten(1).abs().sum(1) > 0).all()          # every layer's set gets a gradient
        assert count_tunable_params(model) == 2 * 192 * 12
    finally: p.remove()


def test_register_tokens_and_no_class_token(vpt):
    for kw, prefix in ((dict(reg_tokens=2), 3), (dict(class_token=False, global_pool="avg"), 0)):
        bb = tiny_timm(**kw)
        assert vpt.vit_layout(bb.model).num_prefix == prefix
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad(): plain = bb(x)
        p = vpt.VPTPrompter(2, deep=True); p.attach(bb)
        with torch.no_grad():
            on, seen = block_inputs(bb.model.blocks, lambda: bb(x))
            p.enabled = False; assert torch.equal(bb(x), plain)
        assert [s.shape[1] for s in seen] == [prefix + 2 + 16] * 3
        for i, s in enumerate(seen): assert torch.equal(s[:, prefix:prefix + 2], p.prompts[i].detach().expand(2, -1, -1))
        assert (on - plain).abs().max() > 0


def test_sequence_first_open_clip_matches_batch_first(vpt):
    "open_clip blocks that take (N, B, d): same weights, same prompts, same output as the batch-first tower."
    torch.manual_seed(0)
    bf = open_clip.transformer.VisionTransformer(image_size=32, patch_size=8, width=32, layers=2, heads=2, mlp_ratio=2.,
                                                 output_dim=16)
    sf = open_clip.transformer.VisionTransformer(image_size=32, patch_size=8, width=32, layers=2, heads=2, mlp_ratio=2.,
                                                 output_dim=16)
    sf.transformer = open_clip.transformer.Transformer(32, 2, 2, 2., batch_first=False)
    sf.load_state_dict(bf.state_dict())
    assert vpt.vit_layout(sf).seq_dim == 0 and vpt.vit_layout(bf).seq_dim == 1
    x = torch.randn(3, 3, 32, 32)
    pb, ps = vpt.VPTPrompter(2, deep=True), vpt.VPTPrompter(2, deep=True)
    pb.attach(bf); ps.attach(sf); ps.load_state_dict(pb.state_dict())
    with torch.no_grad():
        out_s, seen = block_inputs(sf.transformer.resblocks, lambda: sf(x))
        torch.testing.assert_close(out_s, bf(x))
    assert [tuple(s.shape) for s in seen] == [(1 + 2 + 16, 3, 32)] * 2


@pytest.mark.parametrize("fast_on", [True, False])
@pytest.mark.parametrize("deep", [False, True])
def test_class_token_block_gives_the_stock_prompted_output(vpt, deep, fast_on):
    "With the last block computing the class token alone (`use_fast_layers`), VPT's output and prompt gradients are the stock tower's, with the fast paths on and off."
    import copy
    from adavipro.fast import ClassTokenBlock, fast_paths, use_fast_layers
    torch.manual_seed(0)
    stock = open_clip.transformer.VisionTransformer(image_size=32, patch_size=8, width=32, layers=3, heads=2,
                                                    mlp_ratio=2., output_dim=16).eval()
    fast = copy.deepcopy(stock); use_fast_layers(fast)
    assert type(fast.transformer.resblocks[-1]) is ClassTokenBlock
    x = torch.randn(3, 3, 32, 32)
    ps, pf = vpt.VPTPrompter(4, deep=deep), vpt.VPTPrompter(4, deep=deep)
    ps.attach(stock); pf.attach(fast); pf.load_state_dict(ps.state_dict())
    out = []
    for net, p in ((stock, ps), (fast, pf)):
        with fast_paths(fast_on): y = net(x)
        y.square().sum().backward()
        out.append((y.detach(), p.prompts.grad))
    torch.testing.assert_close(out[1][0], out[0][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[1][1], out[0][1], rtol=1e-4, atol=1e-6)


def test_gradient_checkpointing(vpt):
    "Both families' checkpointed block loops still call the blocks as modules, so the hooks run."
    bb = tiny_timm(); bb.model.set_grad_checkpointing(True)
    vis = open_clip.transformer.VisionTransformer(image_size=32, patch_size=8, width=32, layers=2, heads=2, mlp_ratio=2.,
                                                  output_dim=16).requires_grad_(False)
    vis.set_grad_checkpointing(True)
    for net in (bb, vis):
        p = vpt.VPTPrompter(2, deep=True); p.attach(net)
        net(torch.randn(2, 3, 32, 32)).sum().backward()
        assert (p.prompts.grad.flatten(1).abs().sum(1) > 0).all()


def test_errors(vpt, vit):
    with pytest.raises(ConfigError, match="VPT needs a Vision Transformer"):
        vpt.VPTPrompter(4).attach(create_backbone("efficientnet_lite0"))
    p = vpt.VPTPrompter(4); p.attach(vit)
    try:
        with pytest.raises(ConfigError, match="already carries VPT prompts"): vpt.VPTPrompter(4).attach(vit)
        with pytest.raises(ConfigError, match="already attached"): p.attach(vit)
    finally: p.remove()
    with pytest.raises(ConfigError, match="positive integer"): methods.get("vpt_deep")(num_tokens=0)
    with pytest.raises(ConfigError, match="randn"): methods.get("vpt_shallow")(num_tokens=4, init="ones")


def test_fit_one_epoch(vpt, tmp_path):
    from adavipro.training import TrainConfig, fit
    cfg = TrainConfig(dataset="digits", backbone="timm:vit_tiny_patch16_224:random", method="vpt_deep", image_size=224,
                      num_tokens=5, epochs=1, batch_size=10, warmup_steps=1, lr_prompt=1.0, train_per_class=1,
                      val_per_class=1, test_per_class=1, device="cpu", out_dir=str(tmp_path / "run"))
    m = fit(cfg, progress=False)
    assert m["n_tunable_params"] == 5 * 192 * 12 and m["steps"] == 1
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    assert list(best["prompter"]) == ["prompts"] and best["prompter"]["prompts"].shape == (12, 5, 192)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["config"]["method"] == "vpt_deep"
    with pytest.raises(ConfigError, match="VPT needs a Vision Transformer"):
        fit(TrainConfig(**{**vars(cfg), "backbone": "efficientnet_lite0", "image_size": 32, "num_tokens": 4,
                           "out_dir": str(tmp_path / "bad")}), progress=False)
