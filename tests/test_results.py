"""adavipro.results and nbs/report.ipynb on fabricated run folders (no training): cells over seeds with scipy's
t-interval, the newest-run rule, paired differences and their verdicts, and the report's tables built from them."""
import json, math, os, re
from pathlib import Path

import numpy as np
import pandas as pd
import papermill as pm
import pytest
from scipy import stats

from adavipro.results import (attach_baseline, average_difference, choose_lr, collect_history, collect_runs, failed_runs,
                              fmt_cell, holm, newest_runs, paired_difference, seed_differences, summarise)

ROOT = Path(__file__).resolve().parents[1]
CIFAR = "imagefolder:data/cifar10-jpeg"        # shown as 'cifar10'
SEEDS = range(5)
VP = {("digits", 9): [0.50, 0.47, 0.55, 0.52, 0.49], ("digits", 17): [0.60, 0.58, 0.63, 0.55, 0.61],
      ("cifar10", 9): [0.20, 0.22, 0.19, 0.21, 0.23], ("cifar10", 17): [0.25, 0.24, 0.27, 0.26, 0.22]}
DELTA = {("digits", 9): [0.05, 0.06, 0.055, 0.045, 0.052],      # clearly above 0
         ("digits", 17): [0.04, -0.05, 0.02, -0.03, 0.01],      # noise around 0
         ("cifar10", 9): [-0.02, -0.03, -0.025, -0.015, -0.02], # clearly below 0
         ("cifar10", 17): [0.01, -0.01, 0.02, 0.0, -0.02]}
# the `recipes` experiment: AdaViPro with a second mask recipe over Table 2's grid, − VP per seed; on digits p = 9 the
# interval excludes 0 (p = 0.034) but Holm over the recipe's 4 cells does not (0.034 × 2: it ranks third)
RECIPE_DELTA = {("digits", 9): [0.02, 0.005, 0.03, 0.005, 0.015], ("digits", 17): [0.06, 0.07, 0.065, 0.055, 0.062],
                ("cifar10", 9): [-0.02, -0.03, -0.025, -0.015, -0.02], ("cifar10", 17): [0.01, -0.01, 0.02, 0.0, -0.02]}
OLD_COPY_ACC = 0.10          # table2's copy of digits VP p=9 seed 0, older than fig2's (the newest-run rule)
# a learning-rate search (the `lr` experiment): validation picks lr 4, test accuracy would pick lr 40
LR_VAL = {1.0: [0.25, 0.27, 0.26], 4.0: [0.30, 0.28, 0.31], 40.0: [0.12, 0.11, 0.13]}
LR_TEST = {1.0: [0.30, 0.31, 0.29], 4.0: [0.20, 0.21, 0.19], 40.0: [0.50, 0.52, 0.49]}


def run_folder(root:Path, exp:str, name:str, acc:float, mtime:float|None=None, metrics:dict|None=None,
               history:pd.DataFrame|None=None, **config) -> Path:
    "A finished run as a sweep leaves it: metrics.json with every metric and the run's config."
    d = root / exp / name
    d.mkdir(parents=True)
    cfg = dict(dataset="digits", backbone="efficientnet_lite0", method="vp", prompt_size=9, region_size=8, image_size=64,
               epochs=8, batch_size=32, train_per_class=100, seed=0, out_dir=str(d), device="auto") | config
    m = dict(test_acc=acc, val_acc=acc, unprompted_test_acc=0.1, n_tunable_params=5000, n_test=300, best_epoch=5,
             config=cfg) | (metrics or {})
    (d / "metrics.json").write_text(json.dumps(m))
    if history is not None: history.to_csv(d / "history.csv", index=False)
    if mtime is not None: os.utime(d / "metrics.json", (mtime, mtime))
    return d


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("outputs")
    t = 1_700_000_000
    for (ds, p), accs in VP.items():
        spec = "digits" if ds == "digits" else CIFAR
        for s in SEEDS:
            copy = (ds, p, s) == ("digits", 9, 0)
            run_folder(out, "table2", f"{ds}-vp-p{p}-s{s}", OLD_COPY_ACC if copy else accs[s], mtime=t - 100 if copy else t,
                       dataset=spec, prompt_size=p, seed=s, num_workers=2 if copy else 0)
            run_folder(out, "table2", f"{ds}-adavipro-p{p}-s{s}", accs[s] + DELTA[ds, p][s], mtime=t, dataset=spec,
                       method="adavipro", prompt_size=p, seed=s, metrics=dict(test_eval_on_rate=1.0))
            run_folder(out, "recipes", f"{ds}-adavipro-noise_free-p{p}-s{s}", accs[s] + RECIPE_DELTA[ds, p][s], dataset=spec,
                       method="adavipro", mask_recipe="noise_free", prompt_size=p, seed=s,
                       metrics=dict(test_eval_on_rate=[0.0, 0.75, 1.0, 0.8, 0.7][s]))
    run_folder(out, "fig2", "digits-vp-p9-s0", VP["digits", 9][0], mtime=t + 100, prompt_size=9, seed=0)   # the newer copy
    for s in (0, 1):                                       # TP: deterministic, one run whatever the seeds
        run_folder(out, "table1", f"digits-none-s{s}", 0.103, method="none", seed=s, mtime=t + s, train_per_class=200)
    run_folder(out, "table1", "digits-vp-p9", 0.52, train_per_class=200)   # one seed
    for s in range(3):                                     # an ablation and the VP of its budget (another experiment)
        for e in (True, False):
            run_folder(out, "table4", f"digits-adavipro-e{e}-s{s}", [0.62, 0.66, 0.60][s] - 0.2 * (not e), method="adavipro",
                       use_edges=e, seed=s, train_per_class=250, epochs=10)
        run_folder(out, "fig4", f"digits-vp-p9-s{s}", [0.60, 0.64, 0.59][s], seed=s, train_per_class=250, epochs=10)
    hist = lambda on: pd.DataFrame(dict(epoch=[1, 2, 3], train_on_rate=on, eval_on_rate=[1.0, 1.0, 1.0], val_acc=[0.1] * 3))
    for s in range(3):                                     # the stabilisers experiment: VP, the paper's mask, a stable one
        run_folder(out, "stabilisers", f"digits-vp-s{s}", [0.50, 0.52, 0.51][s], seed=s, epochs=6)
        paper = dict(mask_recipe="paper") if s else {}    # an older run's config lacks mask_recipe: the default
        run_folder(out, "stabilisers", f"digits-adavipro-s{s}", [0.40, 0.44, 0.40][s], method="adavipro", seed=s, epochs=6,
                   metrics=dict(test_eval_on_rate=1.0, test_eval_oracle_balanced=0.5),
                   history=hist([0.99, 1.0, 1.0]) if s < 2 else None, **paper)
        run_folder(out, "stabilisers", f"digits-adavipro-stable-s{s}", [0.55, 0.56, 0.53][s], method="adavipro",
                   mask_recipe="stable", tau_min=1.0 if s else 0.5, seed=s, epochs=6,
                   metrics=dict(test_eval_on_rate=0.7 + 0.05 * s, test_eval_oracle_balanced=0.6),
                   history=hist([0.8, 0.75, 0.7 + 0.01 * s]))
    for s in range(3):                                     # the placement benchmark at its family's prompt lr (4)
        run_folder(out, "stabilisers", f"placement-digits-vp-lr4-s{s}", [0.30, 0.29, 0.31][s], dataset="placement:digits",
                   lr_prompt=4.0, seed=s, epochs=6)
        run_folder(out, "stabilisers", f"placement-digits-adavipro-lr4-s{s}", [0.25, 0.27, 0.26][s], method="adavipro",
                   dataset="placement:digits", lr_prompt=4.0, seed=s, epochs=6, metrics=dict(test_eval_on_rate=0.9))
    for lr in LR_VAL:                                      # the lr search
        for s in range(3):
            run_folder(out, "lr", f"digits-vp-p9-lr{lr:g}-e4-s{s}", LR_TEST[lr][s], lr_prompt=lr, seed=s, epochs=4,
                       metrics=dict(val_acc=LR_VAL[lr][s]))
    (out / "table2" / "cifar10-vp-p26-s0").mkdir()
    (out / "table2" / "cifar10-vp-p26-s0" / "error.txt").write_text("RuntimeError: out of memory\n\ntraceback\n")
    return out


@pytest.fixture(scope="module")
def runs(outputs) -> pd.DataFrame: return collect_runs(outputs)


def test_collect_runs(outputs, runs):
    assert len(runs) == 4 * 5 * 3 + 1 + 3 + 6 + 3 + 9 + 6 + 9
    assert runs.attrs["n_failed"] == 1 and failed_runs(outputs).run.tolist() == ["cifar10-vp-p26-s0"]
    assert {"seed", "mask_recipe", "tau_min", "test_acc", "val_acc", "unprompted_test_acc", "n_tunable_params", "n_test",
            "best_epoch", "experiment", "run", "run_dir", "mtime", "test_eval_on_rate", "test_eval_oracle_balanced"} <= set(runs)
    assert set(runs[runs.experiment == "table2"].dataset_name) == {"digits", "cifar10"}
    stab = runs[(runs.experiment == "stabilisers") & (runs.method == "adavipro")]
    assert set(stab.mask_recipe) == {"paper", "stable"}                  # the missing field at its default


def test_newest_run_rule(runs):
    copies = runs[(runs.run == "digits-vp-p9-s0") & runs.experiment.isin(["table2", "fig2"])]
    assert len(copies) == 2 and copies.run_key.nunique() == 1             # num_workers differs: a runtime field
    kept = newest_runs(runs[runs.experiment.isin(["table2", "fig2"])])
    assert len(kept) == 40
    row = kept[(kept.run == "digits-vp-p9-s0")]
    assert row.experiment.tolist() == ["fig2"] and row.test_acc.tolist() == [VP["digits", 9][0]]


def test_summarise_mean_interval_n(runs):
    t2 = newest_runs(runs[runs.experiment.isin(["table2", "fig2"])])
    s = summarise(t2, ["dataset_name", "prompt_size", "method"]).set_index(["dataset_name", "prompt_size", "method"])
    assert len(s) == 8
    for (ds, p), accs in VP.items():
        for m, x in (("vp", np.array(accs)), ("adavipro", np.array(accs) + DELTA[ds, p])):
            c = s.loc[(ds, p, m)]
            lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
            assert c.n == 5 and c["mean"] == pytest.approx(x.mean()) and c["std"] == pytest.approx(x.std(ddof=1))
            assert (c.lo, c.hi) == (pytest.approx(lo), pytest.approx(hi))
    lo90 = summarise(t2, ["dataset_name", "prompt_size", "method"], confidence=0.9).lo.iloc[0]
    assert lo90 > summarise(t2, ["dataset_name", "prompt_size", "method"]).lo.iloc[0]   # a narrower interval


def test_one_seed_and_deterministic(runs):
    s = summarise(newest_runs(runs[runs.experiment == "table1"]), ["method"]).set_index("method")
    assert s.loc["vp", "n"] == 1 and math.isnan(s.loc["vp", "lo"]) and math.isnan(s.loc["vp", "hi"])
    assert s.loc["vp", "note"] == "n = 1: no interval" and math.isnan(s.loc["vp", "std"])
    assert s.loc["none", "n"] == 1 and s.loc["none", "note"] == "deterministic: one run" and math.isnan(s.loc["none", "lo"])
    assert fmt_cell(s.loc["vp", "mean"], s.loc["vp", "lo"], s.loc["vp", "hi"], s.loc["vp", "n"]) == "52.0 (n=1)"
    with pytest.raises(ValueError, match="several runs"):                  # the copies of one seed, not removed
        summarise(runs[runs.experiment.isin(["table2", "fig2"])], ["dataset_name", "prompt_size", "method"])


def test_paired_difference(runs):
    t2 = newest_runs(runs[runs.experiment.isin(["table2", "fig2"])])
    d = paired_difference(t2, ["dataset_name", "prompt_size"]).set_index(["dataset_name", "prompt_size"])
    assert d.verdict.to_dict() == {("cifar10", 9): "vp above adavipro", ("cifar10", 17): "within noise",
                                   ("digits", 9): "adavipro above vp", ("digits", 17): "within noise"}
    for key, delta in DELTA.items():
        x = np.array(delta)
        assert d.loc[key, "n"] == 5 and d.loc[key, "mean"] == pytest.approx(x.mean())
        lo, hi = stats.t.interval(0.95, 4, loc=x.mean(), scale=stats.sem(x))
        assert (d.loc[key, "lo"], d.loc[key, "hi"]) == (pytest.approx(lo), pytest.approx(hi))
        assert d.loc[key, "p_value"] == pytest.approx(stats.ttest_rel(np.array(VP[key]) + x, VP[key]).pvalue)
    one = t2[~((t2.method == "vp") & (t2.seed > 0))]                        # VP of seed 0 only: one pair per cell
    assert set(paired_difference(one, ["dataset_name", "prompt_size"]).verdict) == {"n < 2"}
    avg = average_difference(seed_differences(t2, ["dataset_name", "prompt_size"]), ["dataset_name", "prompt_size"])
    per_seed = np.mean([DELTA[k] for k in DELTA], axis=0)
    assert avg["n"] == 5 and avg["cells"] == 4 and avg["mean"] == pytest.approx(per_seed.mean())
    lo, hi = stats.t.interval(0.95, 4, loc=per_seed.mean(), scale=stats.sem(per_seed))
    assert (avg["lo"], avg["hi"]) == (pytest.approx(lo), pytest.approx(hi))


def test_ablation_pairs_with_vp_of_its_budget(runs):
    pool = newest_runs(runs)
    abl = pool[pool.experiment == "table4"]
    both = attach_baseline(abl, pool, ["dataset_name", "use_edges"])
    vp = both[both.method == "vp"]
    assert set(vp.experiment) == {"fig4"} and len(vp) == 6                 # not table2's VP: another budget
    d = paired_difference(both, ["dataset_name", "use_edges"]).set_index("use_edges")
    assert d.loc[True, "mean"] == pytest.approx(np.mean([0.02, 0.02, 0.01]))
    assert d.loc[False, "verdict"] == "vp above adavipro"


def test_choose_lr_picks_on_validation_never_test(runs):
    "A search where test accuracy would pick another rate than validation: validation's rate is chosen."
    search = newest_runs(runs[runs.experiment == "lr"])
    by_test = search.groupby("lr_prompt").test_acc.mean().idxmax()
    c = choose_lr(search)
    assert by_test == 40.0 and c.lr_prompt.tolist() == [4.0] and c.dataset_name.tolist() == ["digits"]
    x = np.array(LR_VAL[4.0])
    assert c.n[0] == 3 and c["mean"][0] == pytest.approx(x.mean()) and c.runner_up[0] == 1.0 and c.lrs[0] == "1,4,40"
    assert [c.lo[0], c.hi[0]] == pytest.approx(stats.t.interval(0.95, 2, loc=x.mean(), scale=stats.sem(x)))
    assert c.diff_mean[0] == pytest.approx(np.mean(x - LR_VAL[1.0])) and c.verdict[0] == "within noise"
    assert choose_lr(search.drop(columns="test_acc")).equals(c)            # test accuracy is not read
    swapped = search.assign(val_acc=search.test_acc, test_acc=search.val_acc)
    assert choose_lr(swapped).lr_prompt.tolist() == [40.0]                  # it follows val_acc wherever that points
    with pytest.raises(ValueError, match="never on test"): choose_lr(search, value="test_acc")
    # a synthetic table: per dataset, a tie in validation goes to the rate with more seeds, then to the smaller rate
    t = pd.DataFrame([dict(dataset_name=d, method="vp", lr_prompt=lr, seed=s, val_acc=v, test_acc=1 - v)
                      for d, lrs in (("a", {0.4: [0.2, 0.4], 10.0: [0.4, 0.2]}), ("b", {1.0: [0.3, 0.3], 4.0: [0.3, 0.3, 0.3]}))
                      for lr, vals in lrs.items() for s, v in enumerate(vals)])
    assert choose_lr(t).set_index("dataset_name").lr_prompt.to_dict() == {"a": 0.4, "b": 4.0}


def test_history(runs):
    st = newest_runs(runs[(runs.experiment == "stabilisers") & (runs.method == "adavipro")])
    h = collect_history(st, keep=("mask_recipe", "seed"))
    assert len(h) == 5 * 3 and set(h.mask_recipe) == {"paper", "stable"}
    s = summarise(h, ["mask_recipe", "epoch"], value="train_on_rate").set_index(["mask_recipe", "epoch"])
    assert s.loc[("stable", 3), "n"] == 3 and s.loc[("stable", 3), "mean"] == pytest.approx(0.71)


def said(cell:str, n:int) -> str:
    "The verdict of a report's difference cell '+1.2 ± 3.4 (n=5, p_Holm=0.210): within noise', checking its form."
    m = re.fullmatch(r"[+-]\d+\.\d ± \d+\.\d \(n=(\d+), p_Holm(=[01]\.\d{3}|<0\.001)\): (.+)", cell)
    assert m and int(m[1]) == n, cell
    return m[3]


def test_report_notebook(outputs, tmp_path):
    pm.execute_notebook(str(ROOT / "nbs" / "report.ipynb"), str(tmp_path / "report.ipynb"), cwd=str(ROOT),
                        parameters=dict(experiment_dir=str(outputs)), progress_bar=False, kernel_name="python3")
    rep = outputs / "report"
    for t in ("table1", "table2", "table3", "table4", "table4_vs_vp", "table5", "table6", "table7", "stabilisers",
              "stabilisers_vs_vp"):
        assert (rep / f"{t}.md").read_text().startswith("### "), t
    for f in ("fig2.png", "fig4.png", "stabilisers_on_rate.png"):
        assert (rep / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    t2 = pd.read_csv(rep / "table2.csv", index_col=[0, 1], dtype=str).fillna("")
    vp = np.array(VP["digits", 9])                                        # the newer copy of seed 0, not OLD_COPY_ACC
    lo, hi = stats.t.interval(0.95, 4, loc=vp.mean(), scale=stats.sem(vp))
    assert t2.loc[("30 (9 px)", "VP"), "digits"] == f"{100 * vp.mean():.1f} ± {100 * (hi - lo) / 2:.1f} (n=5)"
    assert said(t2.loc[("30 (9 px)", "Δ AdaViPro − VP"), "digits"], 5) == "AdaViPro above"
    assert said(t2.loc[("60 (17 px)", "Δ AdaViPro − VP"), "digits"], 5) == "within noise"
    assert said(t2.loc[("30 (9 px)", "Δ AdaViPro − VP"), "cifar10"], 5) == "VP above"
    assert t2.loc[("5 (1 px)", "VP"), "digits"] == ""                     # not run: an empty cell
    assert said(t2.loc[("all", "average gain"), "Average"], 5) == "within noise"
    assert "Correction: Holm over the 4 (p, dataset) cells' comparisons" in (rep / "table2.md").read_text()
    t1 = pd.read_csv(rep / "table1.csv", index_col=0, dtype=str).fillna("")
    assert t1.loc["TP (no prompt / zero-shot)", "digits"] == "10.3 (n=1)"
    assert t1.loc["VP (p=30 (9 px))", "digits"] == "52.0 (n=1)"
    t4 = pd.read_csv(rep / "table4.csv", index_col=0, dtype=str).fillna("")
    assert t4.loc["digits", "VP (same parameters)"].endswith("(n=3)")
    assert said(pd.read_csv(rep / "table4_vs_vp.csv", index_col=0).loc["digits", "without edge detector"], 3) == "VP above"
    assert "Holm over the table's 2 comparisons" in (rep / "table4_vs_vp.md").read_text()
    pairs4 = pd.read_csv(rep / "table4_settings_paired.csv")            # without − with: −0.2 in every seed
    assert pairs4[["a", "b", "n", "family"]].values.tolist() == [["without edge detector", "with edge detector", 3, 1]]
    assert pairs4["mean"][0] == pytest.approx(-0.2) and pairs4.verdict[0] == "with edge detector above without edge detector"
    st = (rep / "stabilisers.md").read_text()
    assert "digits on-rate (%)" in st and "digits oracle balanced (%)" in st and "stable" in st
    st_vs = pd.read_csv(rep / "stabilisers_vs_vp.csv", index_col=[0, 1, 2], dtype=str).fillna("")   # method, recipe, tau_min
    assert said(st_vs.loc[("adavipro", "paper", "0"), "digits"], 3) == "VP above"
    assert st_vs.loc[("adavipro", "stable", "0.5"), "digits"].endswith("(n=1): n < 2, no interval")
    assert said(st_vs.loc[("adavipro", "stable", "1"), "digits"], 2) == "within noise"
    paired = pd.read_csv(rep / "table2_paired.csv")
    assert set(paired.verdict) == {"adavipro above vp", "vp above adavipro", "within noise"}
    # Holm by hand over Table 2's 4 cells: sorted p-values × 4, 3, 2, 1, each at least the one before
    p = np.array([stats.ttest_1samp(DELTA[d, {30: 9, 60: 17}[q]], 0).pvalue for d, q in zip(paired.dataset_name, paired.p)])
    order = np.argsort(p)
    by_hand = np.minimum(1, np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p)))))[np.argsort(order)]
    assert paired.p_holm.to_numpy() == pytest.approx(by_hand) and (paired.family == 4).all()
    assert paired.p_holm.to_numpy() == pytest.approx(holm(p))
    # the recipes experiment: its table, the choice on validation, each recipe's own family of cells
    rec = (rep / "recipes.md").read_text()
    assert "→ **`noise_free`**" in rec and "Holm over each recipe's 4 (`paper`), 4 (`noise_free`) cells' comparisons" in rec
    rt = pd.read_csv(rep / "recipes.csv", index_col=[0, 1], dtype=str).fillna("")
    cell = rt.loc[("reprogramming (digits, first-C)", "30 (9 px)"), "`noise_free` − VP"]
    d = np.array(RECIPE_DELTA["digits", 9])
    assert stats.ttest_1samp(d, 0).confidence_interval().low > 0      # beyond noise alone ...
    assert said(cell, 5) == "within noise" and cell.startswith(f"+{100 * d.mean():.1f} ± ")   # ... not after Holm
    assert said(rt.loc[("reprogramming (digits, first-C)", "60 (17 px)"), "`noise_free` − VP"], 5) == "AdaViPro above"
    assert rt.loc[("reprogramming (digits, first-C)", "30 (9 px)"), "`noise_free` all-on / off"] == "1 / 1"
    tidy = pd.read_csv(rep / "recipes_paired.csv")
    assert set(tidy.recipe) == {"paper", "noise_free"} and {"p_value", "p_holm", "family"} <= set(tidy)
    assert pd.read_csv(rep / "unfinished.csv").run.tolist() == ["cifar10-vp-p26-s0"]
    lr = pd.read_csv(rep / "lr.csv", index_col=[0, 1], dtype=str).fillna("")   # the lr search, on validation
    x = np.array(LR_VAL[4.0])
    lo, hi = stats.t.interval(0.95, 2, loc=x.mean(), scale=stats.sem(x))
    assert lr.loc[("digits", "VP"), "lr 4"] == f"**{100 * x.mean():.1f} ± {100 * (hi - lo) / 2:.1f} (n=3)**"
    assert lr.loc[("digits", "VP"), "chosen lr"] == "4" and not lr.loc[("digits", "VP"), "lr 40"].startswith("**")
    assert lr.loc[("digits", "VP"), "chosen − runner-up"].endswith("(n=3): within noise")
    assert "Learning rate (chosen on validation)" in (rep / "lr.md").read_text()
    assert "placement-digits" in st and "lr_prompt: 40 (digits), 4 (placement-digits)" in st   # set per dataset, no variant


def _records_module(tmp_path, monkeypatch):
    "results/cpu-preset/records.py, its records folder moved into tmp_path."
    import importlib.util
    spec = importlib.util.spec_from_file_location("records", Path(__file__).parents[1] / "results" / "cpu-preset" / "records.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "RECORDS", tmp_path / "records")
    monkeypatch.setattr(mod, "checkpoint_runs", lambda: {"digits-adavipro-p9"})   # Fig 4's runs
    return mod


def test_study_records_save_and_restore(tmp_path, monkeypatch):
    "A study's runs survive a new machine: save keeps their small files (mtimes too) and every sweep call's wall times."
    rec = _records_module(tmp_path, monkeypatch)
    out, t = tmp_path / "out", 1_700_000_000
    a = run_folder(out, "table2", "digits-vp-p9", 0.5, mtime=t, history=pd.DataFrame(dict(epoch=[1], val_acc=[0.4])))
    (a / "last.pt").write_bytes(b"x" * 100)                    # not kept (outputs/ only)
    f = run_folder(out, "table2", "digits-adavipro-p9", 0.4, mtime=t + 5, method="adavipro")
    (f / "best.pt").write_bytes(b"ckpt")                      # kept: a Fig 4 run (the report draws its mask)
    (a / "best.pt").write_bytes(b"not kept")
    (out / "table2" / "unfinished").mkdir()                   # no metrics.json: not a record
    (out / "table2" / "unfinished" / "last.pt").write_bytes(b"y")
    pd.DataFrame(dict(run=["digits-vp-p9", "x"], status=["done", "failed"], time_s=[61.0, 3.0])).to_csv(out / "table2" / "sweep.csv", index=False)
    rec.save(out)
    # a resumed call (another session) lists the run as skipped, without its time, and runs another
    pd.DataFrame(dict(run=["digits-vp-p9", "y"], status=["skipped", "done"], time_s=[None, 70.0])).to_csv(out / "table2" / "sweep.csv", index=False)
    rec.save(out)
    sweeps = pd.read_csv(tmp_path / "records" / "table2" / "sweeps.csv").set_index("run")
    assert sweeps.loc["digits-vp-p9", "status"] == "done" and sweeps.loc["digits-vp-p9", "time_s"] == 61.0
    assert set(sweeps.index) == {"digits-vp-p9", "x", "y"}

    new = tmp_path / "new"
    (new / "table2" / "digits-vp-p9").mkdir(parents=True)
    (new / "table2" / "digits-vp-p9" / "metrics.json").write_text("{}")   # exists there: left as it is
    rec.restore(new)
    assert (new / "table2" / "digits-vp-p9" / "metrics.json").read_text() == "{}"
    assert (new / "table2" / "digits-vp-p9" / "history.csv").is_file() and not (new / "table2" / "digits-vp-p9" / "last.pt").exists()
    assert (new / "table2" / "digits-adavipro-p9" / "best.pt").read_bytes() == b"ckpt"
    assert not (new / "table2" / "digits-vp-p9" / "best.pt").exists()
    assert not (new / "table2" / "unfinished").exists()
    assert (new / "table2" / "digits-adavipro-p9" / "metrics.json").stat().st_mtime == t + 5   # the newest-run rule reads it
    assert pd.read_csv(new / "table2" / "sweep-records.csv").set_index("run").loc["digits-vp-p9", "time_s"] == 61.0
    assert collect_runs(new).shape[0] == 2
