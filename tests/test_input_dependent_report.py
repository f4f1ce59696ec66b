"""The report's `input_dependent` section on fabricated run folders (no training): per cell and method arm the test
accuracy over seeds, the paired differences against VP with Holm over the table's family, VP iterative − first-C,
the protocol gap over the runs with the per-epoch record, the figure and the three-line answer."""
import json, re
from pathlib import Path

import numpy as np
import pandas as pd
import papermill as pm
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
CIFAR = "imagefolder:data/cifar10-jpeg"
SEEDS = range(5)
CELLS = {"digits": dict(dataset="digits"), "digits+iterative": dict(dataset="digits", label_mapping="iterative"),
         "cifar10": dict(dataset=CIFAR), "cifar10+iterative": dict(dataset=CIFAR, label_mapping="iterative"),
         "cifar10+frequency": dict(dataset=CIFAR, label_mapping="frequency", calibrate_head=True, epochs=3),
         "placement-digits": dict(dataset="placement:digits", image_size=112, prompt_size=56, train_per_class=130)}
VP = {"digits": [0.50, 0.47, 0.55, 0.52, 0.49], "digits+iterative": [0.61, 0.57, 0.66, 0.62, 0.60],
      "cifar10": [0.12, 0.13, 0.11, 0.12, 0.14], "cifar10+iterative": [0.14, 0.12, 0.15, 0.13, 0.12],
      "cifar10+frequency": [0.30, 0.31, 0.29, 0.30, 0.32], "placement-digits": [0.40, 0.35, 0.42, 0.38, 0.41]}
NOISE = [0.01, -0.01, 0.02, 0.0, -0.02]                   # a difference around 0
ABOVE = [0.08, 0.09, 0.085, 0.075, 0.082]                 # clearly above 0 (p < 1e-5)
BORDER = [0.02, 0.005, 0.03, 0.005, 0.015]               # p = 0.034 alone: not beyond noise after Holm over 33
# arm → (config, per-cell difference from VP, or from SMM for SMM + TrivialAugment)
ARMS = {"smm": (dict(method="smm"), {"digits": ABOVE}),
        # the shared mask as far above VP on digits as SMM (up to noise): SMM − SMM shared mask is within noise there
        "smm-shared": (dict(method="smm", smm_mask="shared"), {c: NOISE[::-1] for c in CELLS} |
                       {"digits": [a + n for a, n in zip(ABOVE, NOISE)]}),
        "oracle": (dict(method="oracle", region_size=16), {"placement-digits": ABOVE}),
        "adavipro": (dict(method="adavipro", mask_recipe="paper"), {}),
        "adavipro-noise_free": (dict(method="adavipro", mask_recipe="noise_free"), {"digits": BORDER}),
        "vp-ta": (dict(method="vp", augment="trivialaugment"), {}),
        "smm-ta": (dict(method="smm", augment="trivialaugment"), {})}
AUG_CELLS = ("digits", "cifar10+frequency")
ONLY = {"oracle": ("placement-digits",), "adavipro": tuple(CELLS)[:5], "adavipro-noise_free": tuple(CELLS)[:5]}   # where an arm runs
NONE = {"digits": 0.103, "digits+iterative": 0.2, "cifar10": 0.085, "cifar10+iterative": 0.11, "cifar10+frequency": 0.25,
        "placement-digits": 0.1}
GAP = [0.01, 0.03, 0.02, 0.025, 0.015]                    # best-on-test − selected, per seed


def run_folder(root:Path, name:str, acc:float, record:bool=True, **config) -> Path:
    """A finished run of the experiment (`placement_control` on placement data); with `record`, the protocol record
    (last, best-on-test) in metrics.json."""
    d = root / ("placement_control" if config.get("dataset", "").startswith("placement:") else "input_dependent") / name
    d.mkdir(parents=True)
    cfg = dict(backbone="efficientnet_lite0", method="vp", prompt_size=9, image_size=64, epochs=8, batch_size=32,
               train_per_class=200, seed=0, out_dir=str(d), device="auto", record_test=record) | config
    m = dict(test_acc=acc, val_acc=acc, unprompted_test_acc=0.1, n_tunable_params=5000, n_test=300, best_epoch=5,
             config=cfg)
    if record: m |= dict(test_acc_last=acc - 0.01, test_acc_best_on_test=acc + GAP[cfg["seed"]], best_on_test_epoch=3)
    (d / "metrics.json").write_text(json.dumps(m))
    return d


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("outputs")
    for cell, cfg in CELLS.items():
        run_folder(out, f"{cell}-none", NONE[cell], record=False, method="none", **cfg)
        for s in SEEDS:
            vp = VP[cell][s]
            run_folder(out, f"{cell}-vp-s{s}", vp, record=False, seed=s, **cfg)   # reused: no record
            for arm, (acfg, delta) in ARMS.items():
                if arm.endswith("-ta") and cell not in AUG_CELLS or cell not in ONLY.get(arm, CELLS): continue
                smm = vp + ARMS["smm"][1].get(cell, NOISE)[s]
                ref = smm if arm == "smm-ta" else vp                                  # SMM + TA against SMM
                run_folder(out, f"{cell}-{arm}-s{s}", ref + delta.get(cell, NOISE)[s], seed=s, **(cfg | acfg))
    pm.execute_notebook(str(ROOT / "nbs" / "report.ipynb"), str(out / "report.ipynb"), cwd=str(ROOT),
                        parameters=dict(experiment_dir=str(out)), progress_bar=False, kernel_name="python3")
    return out


def said(cell:str, n:int) -> str:
    "The verdict of a difference cell '+1.2 ± 3.4 (n=5, p_Holm=0.210): within noise', checking its form."
    m = re.fullmatch(r"[+-]\d+\.\d ± \d+\.\d \(n=(\d+), p_Holm(=[01]\.\d{3}|<0\.001)\): (.+)", cell)
    assert m and int(m[1]) == n, cell
    return m[3]


def test_table(report):
    rep = report / "report"
    t = pd.read_csv(rep / "input_dependent.csv", index_col=[0, 1, 2, 3], dtype=str).fillna("")
    digits = ("reprogramming", "digits", "first-C")
    assert said(t.loc[(*digits, "SMM"), "points"], 5) == "SMM above"                 # the positive control, after Holm
    assert t.loc[(*digits, "SMM"), "paired difference"] == "SMM − VP"
    assert said(t.loc[(("reprogramming", "cifar10", "first-C", "SMM")), "points"], 5) == "within noise"
    assert stats.ttest_1samp(BORDER, 0).pvalue < 0.05                               # beyond noise alone ...
    assert said(t.loc[(*digits, "AdaViPro `noise_free`"), "points"], 5) == "within noise"   # ... not after Holm
    assert said(t.loc[(*digits, "SMM shared mask"), "points"], 5) == "SMM shared mask above"  # capacity ...
    assert t.loc[(*digits, "SMM vs SMM shared mask"), "paired difference"] == "SMM − SMM shared mask"
    assert said(t.loc[(*digits, "SMM vs SMM shared mask"), "points"], 5) == "within noise"      # ... not the image
    assert t.loc[(*digits, "SMM vs SMM shared mask"), "test accuracy (%)"] == ""
    assert said(t.loc[(*digits, "SMM + TrivialAugment"), "points"], 5) == "within noise"    # against SMM, not VP
    assert t.loc[(*digits, "SMM + TrivialAugment"), "paired difference"] == "SMM + TrivialAugment − SMM"
    vp = np.array(VP["digits"])
    lo, hi = stats.t.interval(0.95, 4, loc=vp.mean(), scale=stats.sem(vp))
    assert t.loc[(*digits, "VP"), "test accuracy (%)"] == f"{100 * vp.mean():.1f} ± {100 * (hi - lo) / 2:.1f} (n=5)"
    assert t.loc[(*digits, "none"), "test accuracy (%)"] == "10.3 (one run)"       # a number, no interval
    assert said(t.loc[("reprogramming", "digits", "iterative", "VP"), "points"], 5) == "VP iterative above"
    assert said(t.loc[("reprogramming", "cifar10", "iterative", "VP"), "points"], 5) == "within noise"
    assert ("adaptation", "cifar10", "frequency (calibrated)", "VP + TrivialAugment") in t.index
    placed = ("reprogramming", "placement-digits", "first-C")
    assert said(t.loc[(*placed, "oracle"), "points"], 5) == "oracle above" and t.loc[(*placed, "oracle"), "paired difference"] == "oracle − VP"
    assert ("reprogramming", "digits", "first-C", "oracle") not in t.index                 # only where it is known
    assert ("reprogramming", "cifar10", "first-C", "VP + TrivialAugment") not in t.index   # not run: no row
    md = (rep / "input_dependent.md").read_text()
    assert md.startswith("### ") and "Holm over the table's 33 comparisons" in md and "Holm over its 2 comparisons" in md
    paired = pd.read_csv(rep / "input_dependent_paired.csv")
    # 5 cells × (SMM, SMM shared, AdaViPro ×2 vs VP; SMM vs shared) + 2 × 2 augmented + placement (SMM, shared, oracle
    # vs VP; SMM vs shared)
    main = paired[paired.family == 33]
    assert len(main) == 33 and (main.p_holm >= main.p_value).all() and main.p_value.notna().all()


def test_protocol_gap(report):
    g = pd.read_csv(report / "report" / "input_dependent_protocol.csv", index_col=[0, 1], dtype=str).fillna("")
    assert "VP" not in set(g.index.get_level_values(0))                             # reused runs: no record
    assert g.loc[("SMM", "all cells"), "runs with the record"] == "30"
    for where, gaps in (("all cells", GAP * 6), ("reprogramming / digits / first-C", GAP)):   # over runs: 6 cells
        lo, hi = stats.ttest_1samp(gaps, 0).confidence_interval()
        assert g.loc[("SMM", where), "best-on-test − selected (points)"] == \
            f"+{100 * np.mean(gaps):.1f} ± {100 * (hi - lo) / 2:.1f} (n={len(gaps)})"
    assert g.loc[("SMM", "reprogramming / digits / first-C"), "last − selected (points)"] == "-1.0 ± 0.0 (n=5)"
    assert "optimistic" in (report / "report" / "input_dependent_protocol.md").read_text()


def test_figure_and_answer(report):
    assert (report / "report" / "input_dependent.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    nb = json.loads((report / "report.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "answer = [" in "".join(c["source"]))
    lines = "".join(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
                    for o in cell["outputs"]).strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Positive control, SMM − VP") and "digits first-C +" in lines[0] and "SMM above" in lines[0]
    assert "SMM − SMM shared mask (what depends on the image): " in lines[0]
    assert lines[1].startswith("AdaViPro − VP: `paper`:") and "`noise_free`:" in lines[1]
    assert lines[2].startswith("VP iterative − VP first-C") and "VP iterative above" in lines[2]
