"""adavipro: pixel-space visual prompting (VP, AdaViPro) of frozen pretrained vision models.

A five-line tour:
    import adavipro, timm, torch
    net = timm.create_model("resnet18", pretrained=True)             # any classifier (B,3,S,S) -> (B,K) logits
    model = adavipro.prompt(net, classes=10, method="adavipro")      # frozen copy + trainable prompt; help(adavipro.prompt)
    opt = torch.optim.SGD(model.param_groups(lr_prompt=40., lr_mask=1.), momentum=0.9)
    loss = model.training_step(images, labels); loss.backward(); opt.step()   # images: (B,3,H,W) uint8; model.on_epoch_end() per epoch

Experiments by name: `adavipro.fit(adavipro.TrainConfig(dataset="digits", method="vp"))`, or the console scripts
`adavipro-train --help` and `adavipro-sweep`. Valid names: `list_methods()`, `list_prompters()`, `list_backbones()`,
`list_datasets()`, `list_experiments()`. Names are imported on first use (PEP 562), so `import adavipro` is cheap.
"""
__version__ = "0.1.0"

import importlib

# public name -> the module that defines it; imported at the first access (timm-style front door, lazily)
_EXPORTS = {
    "prompt": "api", "PromptedModel": "api", "PROMPT_METHODS": "api",
    "Prompter": "prompters", "PaddingPrompter": "prompters", "FixedPatchPrompter": "prompters",
    "RandomPatchPrompter": "prompters", "FullPrompter": "prompters", "create_prompter": "prompters",
    "list_prompters": "prompters",
    "AdaViProPrompter": "adaptive", "VPTPrompter": "vpt", "SMMPrompter": "smm",
    "Preprocess": "model", "PromptedClassifier": "model", "create_method": "model", "list_methods": "model",
    "count_tunable_params": "model",
    "Backbone": "backbones", "BackboneConfig": "backbones", "create_backbone": "backbones",
    "list_backbones": "backbones", "ClipHead": "heads", "LabelMappingHead": "heads",
    "TrainConfig": "config", "fit": "training", "evaluate": "training", "build_run": "training",
    "get_dataset": "data", "list_datasets": "data", "list_experiments": "study",
    "ConfigError": "core",
}
_SUBMODULES = ("core", "data", "ucf101", "backbones", "heads", "prompters", "edges", "mask", "fast", "adaptive", "smm", "model",
               "config", "runs", "training", "vpt", "baselines", "study", "cost", "sweeps", "results", "api")
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value   # later look-ups skip this function
        return value
    if name in _SUBMODULES: return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__(): return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))
