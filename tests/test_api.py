"""The library's front door: `adavipro.prompt` on a user's own model, the README's own-model example as written, and
help() that answers shapes, units and errors."""
import inspect, subprocess, sys
from pathlib import Path

import pytest
import torch
from torch import nn

import adavipro
from adavipro.core import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "own_model.py"


def small_net(k=10):
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, k))


def test_readme_example_runs_as_written():
    "docs/own_model.py (included verbatim in the README) is short, runs, trains only the prompt and reports."
    assert len(EXAMPLE.read_text().splitlines()) <= 20
    r = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert lines[0].startswith("trainable params: ") and "(prompt " in lines[0] and ", mask " in lines[0]
    assert lines[1].startswith("epoch 0: loss ") and lines[-1].startswith("accuracy ")


@pytest.mark.parametrize("method, groups", [("adavipro", ["prompt", "mask"]), ("vp", ["prompt"]), ("none", [])])
def test_prompt_trains_exactly_the_prompter(method, groups):
    mine = small_net()
    model = adavipro.prompt(mine, classes=["a", "b", "c"], image_size=32, method=method)
    assert isinstance(model, adavipro.PromptedModel)
    assert [g["name"] for g in model.param_groups()] == groups
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert trainable == {id(p) for g in model.param_groups() for p in g["params"]}
    assert all(p.requires_grad for p in mine.parameters())            # copy=True: the caller's model is untouched
    x, y = torch.randint(0, 256, (2, 3, 40, 40), dtype=torch.uint8), torch.tensor([0, 2])
    loss = model.training_step(x, y)
    assert loss.dim() == 0 and model(x).shape == (2, 3)
    if groups: loss.backward()
    model.on_epoch_end()


def test_prompt_freezes_in_place_only_when_asked():
    mine = small_net()
    adavipro.prompt(mine, 3, image_size=32, method="vp", copy=False)
    assert not any(p.requires_grad for p in mine.parameters())


def test_print_trainable_parameters(capsys):
    model = adavipro.prompt(small_net(), 3, image_size=32, method="vp", prompt_size=2)
    model.print_trainable_parameters()
    n = 2 * 3 * 2 * 32 + 2 * 3 * 28 * 2
    assert capsys.readouterr().out.startswith(f"trainable params: {n:,} || all params: ")


def test_prompt_reads_a_timm_models_preprocessing():
    import timm
    net = timm.create_model("resnet18", pretrained=False)
    model = adavipro.prompt(net, classes=5, method="vp", image_size=64)
    assert tuple(model.preprocess.mean.flatten().tolist()) == pytest.approx(net.pretrained_cfg["mean"])
    assert model.preprocess.interpolation == net.pretrained_cfg["interpolation"]


@pytest.mark.parametrize("name", ["prompt", "PromptedModel", "PromptedClassifier", "Preprocess", "Backbone",
                                  "BackboneConfig", "AdaViProPrompter"])
def test_help_answers_shapes_units_and_errors(name):
    "help() shows the docstrings: each names a shape, the units/range, what is raised, and no notebook-only section."
    obj = getattr(adavipro, name)
    doc = inspect.getdoc(obj) + "\n" + (inspect.getdoc(getattr(obj, "forward", None)) or "")
    assert "(B," in doc or "(B,3" in doc or "three per-channel" in doc, doc
    assert "ConfigError" in doc, doc
    assert "below" not in doc.lower() and "Keeping the mask alive" not in doc


def test_forward_docstrings_are_specific():
    for cls in (adavipro.PromptedClassifier, adavipro.Preprocess, adavipro.Backbone):
        assert cls.forward.__doc__ and "Define the computation" not in cls.forward.__doc__, cls
