"""The fast-path switch (`adavipro.fast`): with it off no fast code runs and the results are the fast ones; the
environment variable reaches a fresh process."""
import os, subprocess, sys
from pathlib import Path

import open_clip
import pytest
import torch
from torch import nn

from adavipro import fast
from adavipro.backbones import Backbone, BackboneConfig
from adavipro.fast import fast_paths
from adavipro.model import create_method

ROOT = Path(__file__).resolve().parents[1]

# Every function and method that only a fast path calls.
FAST_FUNCTIONS = ("channels_last_on_cpu", "fused_conv_relu", "region_patches", "mask_logits", "use_fast_layers")
FAST_METHODS = ((fast.RegionMaskGenerator, "forward"), (fast.RegionMaskGenerator, "backward"),
                (fast.BatchFirstSelfAttention, "attend"), (fast.BatchFirstSelfAttention, "attend_first"),
                (fast.PatchEmbedConv2d, "patch_matmul"), (fast.ClassTokenBlock, "class_token"))


def _boom(*args, **kwargs): raise AssertionError("fast code ran")


def _toy_cfg(size:int=16) -> BackboneConfig:
    return BackboneConfig("toy", size, (0.5,) * 3, (0.5,) * 3, "imagenet", True, 8)


def test_switch_off_runs_no_fast_code(monkeypatch):
    "AdaViPro's prompter through an open_clip ViT whose layers were switched: off, the fast code is never called."
    torch.manual_seed(0)
    prompter = create_method("adavipro", prompt_size=8, image_size=32, region_size=8, embed_dim=8).train()
    vit = open_clip.transformer.VisionTransformer(image_size=32, patch_size=8, width=32, layers=2, heads=2,
                                                  mlp_ratio=2., output_dim=16).eval()
    assert fast.use_fast_layers(vit) == 4            # 2 attentions, the patchify conv, the last block
    x = torch.randn(2, 3, 32, 32)

    def step():
        prompter.zero_grad(set_to_none=True)
        torch.manual_seed(1)                          # the same Gumbel noise
        y = vit(prompter(x)); y.square().sum().backward()
        return [y.detach()] + [p.grad.clone() for p in prompter.parameters()]

    with fast_paths(True): on = step()
    for name in FAST_FUNCTIONS: monkeypatch.setattr(fast, name, _boom)
    for cls, name in FAST_METHODS: monkeypatch.setattr(cls, name, _boom)
    with fast_paths(True), pytest.raises(AssertionError, match="fast code ran"): step()   # on: it is reached
    with fast_paths(False): off = step()
    for a, b in zip(on, off): torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    with fast_paths(False):                           # a backbone built while off is left as it is
        bb = Backbone(nn.Sequential(nn.Conv2d(3, 8, 8, stride=8)), _toy_cfg())
    assert bb.fast_layers == 0 and type(bb.model[0]) is nn.Conv2d


_PROBE = """
import torch
from torch import nn
from adavipro.fast import fast_paths_enabled
from adavipro.mask import MaskGenerator
from adavipro.backbones import Backbone, BackboneConfig
y = MaskGenerator(8, 8)(torch.randn(1, 3, 16, 16))
bb = Backbone(nn.Sequential(nn.Conv2d(3, 8, 8, stride=8)), BackboneConfig("toy", 16, (0.5,) * 3, (0.5,) * 3, "imagenet", True, 8))
print(fast_paths_enabled(), type(y.grad_fn).__name__, bb.fast_layers)
"""


@pytest.mark.parametrize("value, expected", [(None, "True RegionMaskGeneratorBackward 1"),
                                             ("0", "False ConvolutionBackward0 0")])
def test_environment_variable_in_a_fresh_process(value, expected):
    "ADAVIPRO_FAST_PATHS=0, read at import, turns the fast paths off; unset, they are on."
    env = {k: v for k, v in os.environ.items() if k != fast.ENV_VAR}
    if value is not None: env[fast.ENV_VAR] = value
    r = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split("\n")[-2] == expected, r.stdout


def test_environment_variable_rejects_other_values():
    env = {**os.environ, fast.ENV_VAR: "maybe"}
    r = subprocess.run([sys.executable, "-c", "import adavipro.fast"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode != 0 and "ADAVIPRO_FAST_PATHS='maybe'" in r.stderr, r.stderr[-3000:]
