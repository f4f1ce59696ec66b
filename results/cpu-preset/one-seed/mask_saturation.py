"""How saturated is each AdaViPro run's region mask at its best checkpoint?

For every `*adavipro*` run folder matched by the argument, rebuild the run from its `best.pt` config, load the
prompter, and report on the first 200 test images: the share of regions where the inference mask (argmax) is on, and
the mean / min / max over regions and images of the policy's probability of "prompt on" (softmax of F_p's logits).

    python results/cpu-preset/one-seed/mask_saturation.py 'outputs/table2/*adavipro*'
"""
import glob, sys
from pathlib import Path

import torch
from adavipro.training import TrainConfig, build_run

torch.set_num_threads(2)
print(f"{'run':<46} {'best epoch':>10} {'val acc':>7} {'mask on':>7} {'P(on) mean':>10} {'min':>6} {'max':>6}")
for d in sorted(map(Path, glob.glob(sys.argv[1]))):
    if not (d / "best.pt").is_file(): continue
    ck = torch.load(d / "best.pt", map_location="cpu", weights_only=False)
    cfg = TrainConfig(**{k: v for k, v in ck["config"].items() if k in TrainConfig.__dataclass_fields__})
    model, data = build_run(cfg, torch.device("cpu"))
    model.prompter.load_state_dict(ck["prompter"])
    model.eval()
    with torch.no_grad():
        x = model.preprocess(torch.stack([data.test[i][0] for i in range(min(len(data.test), 200))]))
        on = model.prompter.region_mask(x).mean().item()
        p_on = model.prompter.mask_generator(model.prompter.edges(x)).softmax(1)[:, 1]
    print(f"{d.name:<46} {ck['epoch']:>10} {ck['val_acc']:>7.3f} {on:>7.3f} {p_on.mean():>10.4f} {p_on.min():>6.3f} {p_on.max():>6.3f}")
