"""The CUDA paths against the CPU ones. They need a CUDA GPU and are skipped without one (as in CI); run them on a
GPU machine with `python -m pytest -q tests/test_cuda.py` (bench/gpu.sh does)."""
import copy

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("fast_on", [True, False])
@pytest.mark.parametrize("subset", [False, True])
def test_mask_generator_cuda_matches_cpu_region_path(subset, fast_on):
    """CUDA runs the convolutions (cuDNN), the CPU the region-by-region autograd Function with the fast paths on and
    the plain composition with them off: same numbers (float64)."""
    from adavipro.fast import fast_paths
    from adavipro.mask import MaskGenerator
    torch.manual_seed(0)
    mg = MaskGenerator(embed_dim=16, region_size=8).double()
    e = torch.randn(2, 3, 32, 48, dtype=torch.float64)
    g = torch.randn(2, 2, 4, 6, dtype=torch.float64)
    regions = torch.tensor([0, 1, 5, 6, 11, 17, 23]) if subset else None
    fwd = lambda m, x: m(x, None if regions is None else regions.to(x.device))
    outs = []
    for dev in ("cpu", "cuda"):
        m = copy.deepcopy(mg).to(dev)
        with fast_paths(fast_on): y = fwd(m, e.to(dev))
        (y * g.to(dev)).sum().backward()
        if dev == "cpu": assert (type(y.grad_fn).__name__ == "RegionMaskGeneratorBackward") == fast_on
        outs.append([y.detach().cpu()] + [p.grad.cpu() for p in m.parameters()])
    for a, b in zip(*outs): torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)


def test_adavipro_prompter_bf16_autocast_on_cuda_close_to_float32():
    "The training-mode prompter under CUDA bf16 autocast (fit's default there): same mask, gradients close to float32."
    from adavipro.model import create_method
    torch.manual_seed(0)
    p = create_method("adavipro", prompt_size=8, image_size=64, region_size=16, embed_dim=16).cuda().train()
    x = torch.randn(4, 3, 64, 64, device="cuda")
    out = []
    for bf16 in (False, True):
        p.zero_grad(set_to_none=True)
        torch.manual_seed(1)                       # the same Gumbel noise draw
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            y = p(x)
        y.float().square().mean().backward()
        out.append((y.detach().float(), [q.grad.float().clone() for q in p.parameters() if q.requires_grad]))
    (y32, g32), (y16, g16) = out
    assert torch.isfinite(y16).all() and all(torch.isfinite(t).all() for t in g16)
    torch.testing.assert_close(y16, y32, rtol=2e-2, atol=2e-2)
    for a, b in zip(g32, g16): assert (a - b).norm() <= 5e-2 * a.norm() + 1e-6


@pytest.mark.parametrize("fast_on", [True, False])
def test_fast_clip_layers_match_stock_open_clip_on_cuda(clip, fast_on):
    "use_fast_layers on CUDA (SDPA attention): stock open_clip's embeddings and input gradients, float32, with the fast paths on and off."
    import open_clip
    from adavipro.fast import fast_paths
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, False
    fast = copy.deepcopy(clip).cuda()
    stock = open_clip.create_model("ViT-B-32", pretrained=None).eval().requires_grad_(False)
    stock.load_state_dict(clip.model.state_dict())
    stock = stock.cuda()
    torch.manual_seed(0)
    x = torch.randn(4, 3, 224, 224, device="cuda")
    out = []
    for f in (stock.encode_image, fast):
        xi = x.clone().requires_grad_(True)
        with fast_paths(fast_on): y = f(xi)
        y.square().sum().backward()
        out.append((y.detach(), xi.grad))
    torch.testing.assert_close(out[1][0], out[0][0], atol=1e-4, rtol=1e-4)
    assert (out[0][1] - out[1][1]).norm() <= 1e-4 * out[0][1].norm()


@pytest.mark.parametrize("method", ["vp", "adavipro"])
def test_fit_on_cuda(tmp_path, method):
    "A tiny run of the training loop on the GPU (bf16 autocast, fit's default there) finishes with sane metrics."
    from adavipro.training import TrainConfig, fit
    cfg = TrainConfig(dataset="digits", backbone="efficientnet_lite0", method=method, image_size=64, prompt_size=8,
                      region_size=16, embed_dim=8, epochs=3, batch_size=32, warmup_steps=2, train_per_class=10,
                      val_per_class=5, test_per_class=10, device="cuda", out_dir=str(tmp_path / "run"))
    m = fit(cfg, progress=False)
    assert m["steps"] == 3 * 4
    for k in ("test_acc", "val_acc", "unprompted_test_acc"): assert 0 <= m[k] <= 1, (k, m[k])
    assert (tmp_path / "run" / "metrics.json").exists()


def test_adavipro_mask_under_cuda_bf16_autocast_is_the_float32_mask_for_logits_in_the_hundreds():
    "The mask decision runs in float32 outside autocast: logits ~600 (gaps ~1) give the same mask under bf16."
    from adavipro.adaptive import AdaViProPrompter
    torch.manual_seed(0)
    p = AdaViProPrompter(8, 64, 16, 8).cuda().train()
    with torch.no_grad(): p.mask_generator.policy.bias.add_(600)
    x = torch.randn(16, 3, 64, 64, device="cuda")
    masks = []
    for bf16 in (False, True):
        torch.manual_seed(1)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16): logits, m = p.decide(x)
        assert logits.dtype == torch.float32 and 100 < logits.abs().median() < 1000
        masks.append(m.detach())
    assert torch.equal(masks[0], masks[1]) and 0 < masks[0].mean() < 1


def test_mask_statistics_loaded_onto_the_cpu_go_on_on_cuda():
    "A checkpoint's mask sums loaded with map_location='cpu' into a CUDA prompter follow it there and keep adding."
    import io
    from adavipro.adaptive import AdaViProPrompter
    src = AdaViProPrompter(8, 64, 16, 8).cuda().train()
    x = torch.randn(4, 3, 64, 64, device="cuda")
    src(x); src.eval()(x)
    buf = io.BytesIO(); torch.save(src.state_dict(), buf); buf.seek(0)
    dst = AdaViProPrompter(8, 64, 16, 8).cuda().train()
    dst.load_state_dict(torch.load(buf, map_location="cpu", weights_only=True))
    assert dst.stats.train.device.type == dst.stats.eval_on.device.type == "cuda"
    dst(x); dst.eval()(x)
    d = dst.diagnostics()
    assert 0 <= d["train_on_rate"] <= 1 and 0 <= d["eval_on_rate"] <= 1


def test_fit_on_cuda_resumes_inside_an_epoch(tmp_path, monkeypatch):
    "AdaViPro on CUDA stopped after a mid-epoch last.pt (mask sums on the device), then resumed: it finishes."
    import adavipro.training as training
    from adavipro.training import TrainConfig, fit
    cfg = TrainConfig(dataset="digits", backbone="efficientnet_lite0", method="adavipro", image_size=64, prompt_size=8,
                      region_size=16, embed_dim=8, epochs=2, batch_size=16, warmup_steps=2, train_per_class=8,
                      val_per_class=3, test_per_class=5, device="cuda", checkpoint_every=1, out_dir=str(tmp_path / "run"))
    real, calls = training.F.cross_entropy, [0]
    def stop_at_7(*a, **k):
        calls[0] += 1
        if calls[0] == 7: raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(training.F, "cross_entropy", stop_at_7)
    with pytest.raises(KeyboardInterrupt): fit(cfg, progress=False)
    monkeypatch.setattr(training.F, "cross_entropy", real)
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert ck["partial"] is not None and ck["epoch"] == 1
    m = fit(cfg, progress=False)
    assert m["steps"] == 2 * 5 and 0 <= m["test_acc"] <= 1


def test_rng_states_of_more_gpus_than_this_job_sees_restore_those_it_has():
    "A last.pt from a job that saw more GPUs (SLURM requeue with fewer) restores the visible ones instead of failing."
    from adavipro.runs import rng_state, set_rng_state
    gen = torch.Generator()
    s = rng_state(gen)
    s["cuda"] = list(s["cuda"]) + [s["cuda"][0]] * 3          # as saved where 3 more GPUs were visible
    torch.cuda.manual_seed_all(1)
    set_rng_state(s, gen)
    assert torch.equal(torch.cuda.get_rng_state(0), s["cuda"][0])
