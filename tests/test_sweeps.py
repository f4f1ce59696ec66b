"""Sweeps (adavipro.sweeps) and the report notebook: grid sizes and run names, a tiny real sweep that is killed
with SIGKILL and started again, one stopped with SIGTERM, parallel runs with failures, a sweep through
submitit's local executor, what a SLURM job asks for, and nbs/report.ipynb on the result."""
import json, os, re, shutil, signal, subprocess, sys, threading, time
from pathlib import Path

import pandas as pd
import papermill as pm
import pytest

from adavipro.core import ConfigError
from adavipro.results import collect_runs
from adavipro.study import (ADAPTATION_BUDGET, PRESETS, dataset_family, dataset_label, list_experiments, plan_experiment, run_name,
                            scale_size)
from adavipro.sweeps import SlurmConfig, _await_job, main, make_executor, run_experiment
from adavipro.training import MASK_RECIPES, RUNTIME_FIELDS, effective_config

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(datasets=["digits"], seeds=[0], epochs=1, image_size=32, train_per_class=2, val_per_class=1, test_per_class=1)
PAPER = {**MASK_RECIPES["paper"], **dict(backbone="clip:ViT-B-32:openai", prompter="padding", embed_dim=64, tau0=5.0, gamma=0.98, use_edges=True,
             image_size=224, batch_size=256, lr_mask=1.0, warmup_steps=1000, momentum=0.9, weight_decay=0.0, augment="none",
             init="randn", label_mapping="first", calibrate_head=False, mask_recipe="paper", val_fraction=0.1, split_seed=0, seed=0,
             precision="auto")}   # the paper's values of every field no grid sweeps
# cpu: 5 seeds of every trained run, one of none / linear_probe and of Table 3 (parameter counts); paper: one seed
SIZES = {"cpu": dict(table1=51, table2=100, fig2=100, table3=7, table4=20, table5=40, table6=40, table7=40, fig4=20,
                     stabilisers=170, placement=25, lr=65),
         "paper": dict(table1=45, table2=40, fig2=40, table3=7, table4=8, table5=16, table6=16, table7=16, fig4=4,
                       stabilisers=56, placement=5, lr=27)}


# ---------------------------------------------------------------- planning (no runs)

@pytest.mark.parametrize("preset", ["cpu", "paper"])
@pytest.mark.parametrize("experiment", sorted(SIZES["cpu"]))
def test_grid_sizes_and_names(experiment, preset):
    runs = plan_experiment(experiment, preset)
    assert len(runs) == SIZES[preset][experiment]
    for name, p in runs.items():
        assert name == run_name(p) and p["overwrite"] is False and "out_dir" not in p
        S = p["image_size"]
        assert 1 <= p["prompt_size"] <= S // 2 and S % p["region_size"] == 0
        if preset == "paper":   # every value the paper's, whatever TrainConfig's defaults are
            eff, swept = effective_config(p), dict(table3="embed_dim", table4="use_edges", table5="gamma", table7="embed_dim")
            varied = {swept.get(experiment)} | (set(MASK_RECIPES["paper"]) | {"mask_recipe"} if experiment in ("stabilisers", "placement") else set())
            assert [k for k in PAPER if eff[k] != PAPER[k] and k not in varied] == []
            assert p["epochs"] == (1 if experiment == "table3" else 1000)
        else:
            assert p["dataset"] in ("digits", "imagefolder:data/cifar10-jpeg", "placement:digits")
            assert (p["init"], p["warmup_steps"]) == ("zeros", 20)
            assert p.get("lr_mask", "recipe") == ("recipe" if p["method"] != "adavipro" or "lr_mask" not in p else 0.03)
            size = 64 if p.get("label_mapping") == "frequency" else dict(table3=224, stabilisers=112, placement=112).get(experiment, 64)
            assert (p["backbone"], S) == ("clip:ViT-B-32:random" if experiment == "table3" else "efficientnet_lite0", size)
        if p["method"] == "full_finetune": assert p["lr_prompt"] <= 1e-3
        elif p["method"] in ("vp", "adavipro", "oracle"):   # the lr search's rates, else the family's (preset), else VP's 40
            search = PRESETS[preset]["lr_search"]
            if experiment == "lr": assert p["lr_prompt"] in search["lr_prompt"] + sum(search.get("per_dataset", {}).values(), [])
            else: assert p["lr_prompt"] == PRESETS[preset]["family"].get(dataset_family(p["dataset"], p.get("label_mapping", "first")), {}).get("lr_prompt", 40.0)
            assert bool(re.search(r"-lr\d", name)) == (p["lr_prompt"] != 40.0), name   # a rate other than VP's 40 (not -lrm: the mask's)


def test_paper_command_in_train_notebook_is_the_paper_preset():
    "The paper's command that nbs/train.ipynb shows builds the `paper` preset's run, field for field (randn, mask lr 1)."
    from adavipro.study import preset_params
    from adavipro.sweeps import _parse_value
    text = "".join(json.loads((ROOT / "nbs" / "train.ipynb").read_text())["cells"][0]["source"])
    cmd = text[text.index("papermill nbs/train.ipynb outputs/c100.ipynb"):text.index("# the paper's configuration")]
    words = cmd.replace("\\\n", " ").split()
    shown = {words[i + 1]: _parse_value(words[i + 1], words[i + 2]) for i, w in enumerate(words) if w == "-p"}
    planned = next(p for p in plan_experiment("table1", "paper", dict(datasets=["cifar100"], methods=["adavipro"])).values())
    ours, theirs = effective_config(preset_params(**shown, cuda=True)), effective_config(planned)
    assert {k: (ours[k], theirs[k]) for k in ours if k not in RUNTIME_FIELDS and ours[k] != theirs[k]} == {}


def test_paper_preset_names_every_result_parameter():
    "What TrainConfig's defaults could change in a paper run: nothing but the stabilisers, which its recipe sets."
    base = PRESETS["paper"]["base"]
    grid_keys = {"dataset", "method", "prompt_size", "region_size"}
    left_to_defaults = {f for f in effective_config({})} - set(base) - grid_keys - set(RUNTIME_FIELDS)
    assert left_to_defaults == set(MASK_RECIPES["paper"]) - {"lr_mask"} and base["mask_recipe"] == "paper"
    assert base["lr_mask"] == 1.0   # the paper's, not the recipe's CPU-sized 0.01


def test_swept_values():
    t2 = plan_experiment("table2", "cpu")
    assert sorted({p["prompt_size"] for p in t2.values()}) == [1, 9, 17, 26, 32]
    assert sorted({p["prompt_size"] for p in plan_experiment("table2", "paper").values()}) == [5, 30, 60, 90, 112]
    assert sorted({p["region_size"] for p in plan_experiment("table6", "cpu").values()}) == [2, 4, 8, 16]
    assert sorted({p["gamma"] for p in plan_experiment("table5", "paper").values()}) == [0.9, 0.94, 0.98, 0.99]
    assert sorted({p["embed_dim"] for p in plan_experiment("table7", "cpu").values()}) == [8, 16, 32, 64]
    assert sorted({p["use_edges"] for p in plan_experiment("table4", "cpu").values()}) == [False, True]
    assert {p["dataset"] for p in plan_experiment("table1", "paper").values()} == \
        {"cifar10", "cifar100", "dtd", "food101", "sun397", "flowers102", "ucf101", "eurosat", "oxford_pets"}
    assert {p["dataset"] for p in plan_experiment("fig2", "paper").values()} == {"cifar10", "cifar100", "dtd", "ucf101"}
    assert [p["method"] for p in plan_experiment("table3", "cpu").values()] == \
        ["full_finetune", "linear_probe", "vp", "adavipro", "adavipro", "vpt_shallow", "vpt_deep"]
    assert "cifar10-adavipro-p30-r32-d64-g0.98-lrm1-e1000" in plan_experiment("table1", "paper")
    assert "digits-adavipro-p9-r8-d64-g0.98-noedge-e10-n250" in plan_experiment("table4", "cpu")
    t2 = {(p["dataset"], p.get("label_mapping", "first")) for p in plan_experiment("table2", "cpu").values()}
    assert t2 == {("digits", "first"), ("imagefolder:data/cifar10-jpeg", "frequency")}   # one dataset per regime
    assert scale_size(112, 112) == 56 and scale_size(5, 112) == 3


def test_overrides():
    runs = plan_experiment("table2", "cpu", TINY)
    assert len(runs) == 10 and {p["dataset"] for p in runs.values()} == {"digits"}
    assert sorted({p["prompt_size"] for p in runs.values()}) == [1, 4, 9, 13, 16]
    assert list(plan_experiment("table1", "cpu", dict(TINY, methods=["none", "adavipro"]))) == \
        ["digits-none", "digits-adavipro-p4-r4-d64-g0.98-e1-n2"]
    assert len(plan_experiment("table7", "paper", dict(datasets="dtd"))) == 4
    for bad, msg in [(dict(overwrite=True), "never overwrites"), (dict(out_dir="x"), "out_dir is set per run"),
                     (dict(methods=["vpt"]), "selects no run"), (dict(datasets=[]), "selects no run")]:
        with pytest.raises(ConfigError, match=msg): plan_experiment("table1", "cpu", bad)
    for bad in ([], [-1], ["a"], True):
        with pytest.raises(ConfigError, match="seeds=.* must be a non-empty list of integers"): plan_experiment("table2", "cpu", dict(seeds=bad))
    assert [p["seed"] for p in plan_experiment("table2", "cpu", dict(TINY, seeds=[3, 4])).values()][:2] == [3, 4]
    with pytest.raises(ConfigError, match="unknown experiment 'table8'"): plan_experiment("table8")
    with pytest.raises(ConfigError, match=r"^unknown parameter lable_mapping; parameters: dataset, .*label_mapping.*, methods, seeds$"):
        plan_experiment("table2", "cpu", dict(lable_mapping="frequency"))
    runs = plan_experiment("fig4", "cpu", dict(TINY, methods=["adavipro"], mask_recipe="stable", label_mapping="frequency"))
    assert list(runs) == ["digits+frequency-adavipro-p4-r4-d64-g0.98-stable-e1-n2",   # the mapping is in the name
                          "digits+frequency-adavipro-p9-r4-d64-g0.98-stable-e1-n2"]
    assert all(p["label_mapping"] == "frequency" for p in runs.values())


def test_lr_search_and_family_lr():
    "The lr experiment sweeps the preset's rates, its names differ per rate; the preset's family lr reaches every experiment."
    cpu = plan_experiment("lr", "cpu", dict(seeds=[0]))
    assert list(cpu)[:5] == [f"digits-vp-p9{'' if lr == 40 else f'-lr{lr:g}'}-e8-n100" for lr in (0.4, 1, 4, 10, 40)]
    assert {(dataset_label(p["dataset"]), p["method"]) for p in cpu.values()} == {("digits", "vp"), ("cifar10", "vp")}
    assert cpu["digits-vp-p9-e8-n100"] == plan_experiment("table2", "cpu", dict(seeds=[0]))["digits-vp-p9-e8-n100"]
    assert len({run_name(p) for p in plan_experiment("lr", "paper").values()}) == 27
    pl = plan_experiment("lr", "cpu", dict(datasets=["placement:digits"], seeds=[0, 1]))
    assert sorted({p["lr_prompt"] for p in pl.values()}) == [0.4, 1.0, 4.0, 10.0, 40.0] and len(pl) == 10
    assert {f: b["lr_prompt"] for f, b in PRESETS["cpu"]["family"].items()} == \
        {"placement-digits": 4.0, "placement-cifar10+frequency": 0.05, "cifar10+frequency": ADAPTATION_BUDGET["lr_prompt"]}
    assert PRESETS["paper"]["family"] == {}
    freq = plan_experiment("placement", "cpu", dict(datasets=["placement:imagefolder:data/cifar10-jpeg"], seeds=[0],
                                                    label_mapping="frequency", methods=["vp"]))
    assert [p["lr_prompt"] for p in freq.values()] == [0.05]      # the adaptation regime's family, not placement-cifar10's
    st = plan_experiment("stabilisers", "cpu", dict(seeds=[0]))
    assert {dataset_family(p["dataset"], p.get("label_mapping", "first")): p["lr_prompt"] for p in st.values()} == \
        {"placement-digits": 4.0, "digits": 40.0, "cifar10+frequency": ADAPTATION_BUDGET["lr_prompt"]}
    assert "placement-digits-vp-p56-lr4-e8-n130" in st and "digits-vp-p56-e8-n130" in st   # digits: VP's 40, no -lr
    assert "placement-digits-vp-p56-e8-n130" not in st   # never the name of an earlier lr-40 run
    assert {p["lr_prompt"] for p in plan_experiment("fig4", "cpu", dict(TINY, datasets=["placement:digits"], lr_prompt=10.0)).values()} == {10.0}
    assert all(p["lr_prompt"] == 4.0 for p in plan_experiment("table2", "cpu", dict(TINY, datasets=["placement:digits"])).values())
    # the adaptation regime's family gets its whole budget; every method sees the same images, only VP and AdaViPro Adam
    adapt = plan_experiment("table1", "cpu", dict(datasets=["cifar10"], label_mapping="frequency", seeds=[0]))
    assert adapt == plan_experiment("table1", "cpu", dict(datasets=["cifar10+frequency"], seeds=[0]))   # the preset's short name
    assert {(p["train_per_class"], p["val_per_class"], p["test_per_class"], p["image_size"], p["calibrate_head"])
            for p in adapt.values()} == {(250, 100, 200, 64, True)}
    lr = ADAPTATION_BUDGET["lr_prompt"]
    assert {n: (p.get("prompt_optimizer", "sgd"), p["lr_prompt"]) for n, p in adapt.items() if p["method"] != "none" and p["method"] != "linear_probe"} == \
        {f"cifar10+frequency-cal-vp-p9-lr{lr:g}-adam-e3-n250": ("adam", lr),
         f"cifar10+frequency-cal-adavipro-p9-r8-d64-g0.98-lr{lr:g}-adam-e3-n250": ("adam", lr),
         "cifar10+frequency-cal-full_finetune-e3-n250": ("sgd", 1e-3)}
    # a short name that stands for another regime keeps it when it replaces the grid's datasets; an override wins
    first = plan_experiment("table2", "cpu", dict(datasets=["cifar10+frequency", "cifar10"], seeds=[0], methods=["vp"]))
    assert [p.get("label_mapping", "first") for p in first.values()] == ["frequency"] * 5 + ["first"] * 5
    assert {p["label_mapping"] for p in plan_experiment("table2", "cpu", dict(datasets=["cifar10+frequency"], label_mapping="first",
                                                                             seeds=[0])).values()} == {"first"}


def test_cli_dry_run(tmp_path, capsys):
    assert main(["table2", "--dry-run", "--out", str(tmp_path), "-p", "datasets", "digits", "-p", "epochs", "1"]) == 0
    out = capsys.readouterr().out   # 5 prompt sizes × 2 methods × the cpu preset's 5 seeds
    assert "digits-vp-p1-e1-n100" in out and "digits-vp-p1-e1-n100-s4" in out and "50 pending" in out
    assert not (tmp_path / "table2").exists()
    assert main(["table2", "--dry-run", "--out", str(tmp_path), "-p", "datasets", "digits", "-p", "seeds", "0,2"]) == 0
    assert "20 pending" in capsys.readouterr().out
    assert main(["table2", "--dry-run", "-p", "seeds", "0,x"]) == 2 and "seeds='0,x' must be integers" in capsys.readouterr().err
    assert main(["table9", "--dry-run"]) == 2 and "unknown experiment 'table9'" in capsys.readouterr().err
    assert main(["table1", "--dry-run", "--preset", "cpu", "-p", "overwrite", "True"]) == 2
    capsys.readouterr()
    assert main(["table2", "--dry-run", "-p", "lable_mapping", "frequency"]) == 2
    assert "error: unknown parameter lable_mapping; parameters: " in capsys.readouterr().err
    assert main([]) == 2 and "table1" in capsys.readouterr().out
    assert main(["lr", "--dry-run", "--out", str(tmp_path), "-p", "datasets", "placement:digits", "-p", "seeds", "0,1"]) == 0
    out = capsys.readouterr().out   # 5 rates × 2 seeds, each with its estimated seconds
    assert "placement-digits-vp-p9-lr0.4-e8-n100-s1" in out and "10 pending; estimated" in out and not (tmp_path / "lr").exists()
    assert main(["lr", "--dry-run", "--preset", "paper", "--out", str(tmp_path)]) == 0
    assert "dtd-vp-p30-lr400-e1000" in capsys.readouterr().out


def test_paper_dry_run_estimates_gpu_hours(tmp_path, capsys):
    "The paper study's dry run: every pending run estimated from its FLOPs, the total in GPU-hours; bad GPUs refused in one line."
    assert main(["all", "--preset", "paper", "--dry-run", "--no-progress", "--out", str(tmp_path)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"all \(paper\): 124 pending, 68 reusable; estimated [\d,.]+ GPU-hours on h100: 989 TFLOP/s bf16 peak "
                        r"× 30% MFU, assumed \(compute only\), [\d,.]+ h with --jobs 1 on 1 GPU", last), last
    hours = float(re.search(r"estimated ([\d,.]+) GPU-hours", last).group(1).replace(",", ""))
    assert main(["all", "--preset", "paper", "--dry-run", "--no-progress", "--out", str(tmp_path), "--gpu", "a100", "--jobs", "4"]) == 0
    a100 = float(re.search(r"estimated ([\d,.]+) GPU-hours on a100", capsys.readouterr().out).group(1).replace(",", ""))
    assert abs(a100 / hours - 989 / 312) < 0.01 * 989 / 312
    assert main(["table2", "--preset", "paper", "--dry-run", "--out", str(tmp_path), "--gpu-tflops", "250"]) == 0
    assert "GPU-hours at 250 TFLOP/s measured" in capsys.readouterr().out
    assert main(["table2", "--preset", "paper", "--dry-run", "--out", str(tmp_path), "--gpu", "h1000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown GPU 'h1000': choose one of h100, h100-pcie, h200, a100, l40s" in err
    assert main(["table2", "--preset", "paper", "--dry-run", "--out", str(tmp_path), "--gpu", "h100", "--gpu-tflops", "9"]) == 2
    capsys.readouterr()
    # a value the cost model cannot count gives no estimate, not a TypeError (whether -p refuses it is main's business)
    assert main(["table2", "--dry-run", "--out", str(tmp_path), "-p", "epochs", "x", "-p", "datasets", "digits"]) in (0, 2)


def test_a_sweep_gives_the_notebook_every_parameter(tmp_path, monkeypatch):
    "A sweep gives nbs/train.ipynb every field, so the notebook's preset fills in none: a cpu sweep on CIFAR-100 keeps its mask lr."
    import adavipro.sweeps as sw
    seen = []
    def fake_child(cmd, stop=None, **kw):
        params = json.loads(cmd[-1])["parameters"]; seen.append(params)
        (Path(params["out_dir"]) / "metrics.json").write_text("{}")
        return 0
    monkeypatch.setattr(sw, "_run_child", fake_child)
    runs = plan_experiment("table2", "cpu", dict(TINY, datasets=["cifar100"], methods=["adavipro"]))
    sw.run_configs(dict(list(runs.items())[:1]), tmp_path, progress=False)
    (params,) = seen
    assert set(params) == set(sw.TRAIN_PARAMS) and params["lr_mask"] == "recipe"   # the paper preset's would be 1
    assert sw.preset_params(**params, cuda=False) == params

# ---------------------------------------------------------------- real sweeps (shared by the report test)

def _sweep_cmd(out, **overrides):
    cmd = [sys.executable, "-m", "adavipro.sweeps", "fig4", "--out", str(out), "--no-progress"]
    for k, v in dict(TINY, **overrides).items(): cmd += ["-p", k, ",".join(map(str, v)) if isinstance(v, list) else str(v)]
    return cmd


def _wait_for(path, proc, timeout_s=300):
    "Wait until `path` exists while the sweep `proc` runs (a wait, not a speed test: the machine may be busy)."
    deadline = time.time() + timeout_s
    while not path.exists():
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.time() < deadline, f"{path} did not appear in {timeout_s} s"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """fig4 on digits (4 runs) killed with SIGKILL after its first run and started again; then table1's VP and
    AdaViPro on digits and on a missing folder (2 done, 2 failed) with jobs=2. Returns (out root, facts)."""
    out = tmp_path_factory.mktemp("sweeps")
    facts = {}
    # 1. start, wait for the first run's metrics.json, kill the whole process group
    proc = subprocess.Popen(_sweep_cmd(out), cwd=ROOT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = out / "fig4" / "digits-vp-p4-e1-n2" / "metrics.json"
    _wait_for(first, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    st = first.stat()
    facts["first"] = (first, st.st_mtime_ns, st.st_ino)
    facts["done_at_kill"] = sorted(p.parent.name for p in (out / "fig4").glob("*/metrics.json"))
    # 2. start it again, in process
    facts["resumed"] = run_experiment("fig4", out_root=out, overrides=TINY, progress=False)
    # 3. two jobs at once, two of the four runs failing
    t0 = time.time()
    facts["parallel"] = run_experiment("table1", out_root=out, jobs=2, progress=False, reuse=False,
                                       overrides=dict(TINY, methods=["vp", "adavipro"],
                                                      datasets=["digits", f"imagefolder:{out}/missing"]))
    facts["parallel_s"] = time.time() - t0
    return out, facts


def test_killed_sweep_completes_only_missing_runs(sweeps):
    out, facts = sweeps
    first, mtime, ino = facts["first"]
    df = facts["resumed"]
    assert len(facts["done_at_kill"]) < 4, "the sweep finished before it was killed"
    assert df.status.tolist()[0] == "skipped"
    assert df.set_index("run").status.to_dict() == \
        {r: ("skipped" if r in facts["done_at_kill"] else "done") for r in df.run}
    st = first.stat()
    assert (st.st_mtime_ns, st.st_ino) == (mtime, ino), "a finished run was rewritten"
    assert all((out / "fig4" / r / "metrics.json").exists() for r in df.run)
    assert all(0 <= a <= 1 for a in df.test_acc)
    assert pd.read_csv(out / "fig4" / "sweep.csv").status.tolist() == df.status.tolist()


def _processes():
    "pid → command line of every live process (a zombie's is empty)."
    found = {}
    for d in Path("/proc").glob("[0-9]*"):
        try: cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError: continue
        if cmd: found[int(d.name)] = cmd
    return found


def _parent(pid):
    try: return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError): return None


def _library_sweep_cmd(out, **overrides):
    "A script that calls the library (`run_experiment`) instead of `adavipro-sweep`: the same runs as `_sweep_cmd`."
    code = ("import sys; from adavipro.sweeps import run_experiment; "
            f"run_experiment('fig4', out_root={str(out)!r}, overrides={dict(TINY, **overrides)!r}, progress=False)")
    return [sys.executable, "-c", code]


@pytest.mark.parametrize("via", ["cli", "library"])
def test_sigterm_stops_the_running_runs_and_their_kernels(tmp_path, via):
    """SIGTERM to the sweep alone (kill <pid>): its papermill child and that child's kernel stop, last.pt stays; the
    CLI exits 143, a script that called `run_experiment` stops with a KeyboardInterrupt."""
    cmd = (_sweep_cmd if via == "cli" else _library_sweep_cmd)(tmp_path, epochs=1000, methods=["vp"])
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    run = tmp_path / "fig4" / "digits-vp-p4-e1000-n2"
    try:
        _wait_for(run / "last.pt", proc)   # its kernel is training
        papermill = [pid for pid, cmd in _processes().items() if str(run) in cmd]
        kernels = [pid for pid in _processes() if _parent(pid) in papermill]
        assert papermill and kernels, _processes()
        os.kill(proc.pid, signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].decode()
        deadline = time.time() + 30
        while (left := {p: c for p, c in _processes().items() if str(run) in c or p in kernels}) and time.time() < deadline:
            time.sleep(0.2)
        assert not left, left
        if via == "cli": assert proc.returncode == 143 and "stopped by SIGTERM" in out, (proc.returncode, out)
        else: assert proc.returncode != 0 and "KeyboardInterrupt: SIGTERM" in out, (proc.returncode, out)
        assert (run / "last.pt").exists() and not (run / "metrics.json").exists()
        assert (run / "error.txt").read_text().startswith("interrupted: the sweep was stopped")
        assert not (tmp_path / "fig4" / "digits-vp-p9-e1000-n2").exists()   # the next run never started
    finally:
        if proc.poll() is None: os.killpg(proc.pid, signal.SIGKILL)
        for pid, cmd in _processes().items():
            if str(tmp_path) in cmd:
                try: os.kill(pid, signal.SIGKILL)
                except ProcessLookupError: pass


def test_a_run_finished_by_another_experiment_is_reused(sweeps):
    out, _ = sweeps   # fig4's VP at p=30 and 60 (4 and 9 px at 32 px) are also runs of table2's grid
    plan = run_experiment("table2", out_root=out, overrides=dict(TINY, methods=["vp"]), dry_run=True, progress=False)
    st = plan.set_index("run").status
    assert st.to_dict() == {"digits-vp-p1-e1-n2": "pending", "digits-vp-p4-e1-n2": "reusable",
                            "digits-vp-p9-e1-n2": "reusable", "digits-vp-p13-e1-n2": "pending",
                            "digits-vp-p16-e1-n2": "pending"}
    assert not (out / "table2").exists()
    one = run_experiment("table2", out_root=out, overrides=dict(TINY, methods=["vp"], prompt_size=4), progress=False)
    assert one.status.tolist() == ["reused"]
    copied, src = out / "table2" / "digits-vp-p4-e1-n2", out / "fig4" / "digits-vp-p4-e1-n2"
    assert (copied / "metrics.json").read_bytes() == (src / "metrics.json").read_bytes()
    assert (copied / "reused_from.txt").read_text().strip() == str(src.resolve()) and not (copied / ".lock").exists()
    assert run_experiment("table2", out_root=out, overrides=dict(TINY, methods=["vp"], prompt_size=4),
                          progress=False, reuse=False).status.tolist() == ["skipped"]
    shutil.rmtree(out / "table2")   # leave the shared sweep folder as the other tests expect it


def test_parallel_sweep_records_failures_and_goes_on(sweeps):
    out, facts = sweeps
    df = facts["parallel"].set_index("run")
    assert df.status.to_dict() == {"digits-vp-p4-e1-n2": "done", "digits-adavipro-p4-r4-d64-g0.98-e1-n2": "done",
                                   "missing-vp-p4-e1-n2": "failed", "missing-adavipro-p4-r4-d64-g0.98-e1-n2": "failed"}, \
        df.error.to_dict()
    for r in ("missing-vp-p4-e1-n2", "missing-adavipro-p4-r4-d64-g0.98-e1-n2"):
        assert "does not exist" in df.error[r]
        assert "ConfigError" in (out / "table1" / r / "error.txt").read_text()
    # the two digits runs overlapped in time (papermill records start and end in the executed notebook)
    spans = []
    for r in ("digits-vp-p4-e1-n2", "digits-adavipro-p4-r4-d64-g0.98-e1-n2"):
        meta = json.loads((out / "table1" / r / "run.ipynb").read_text())["metadata"]["papermill"]
        spans.append((pd.Timestamp(meta["start_time"]), pd.Timestamp(meta["end_time"])))
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], spans
    # a sweep started again skips the finished runs and retries the failed ones
    again = run_experiment("table1", out_root=out, overrides=dict(TINY, methods=["vp"], datasets=["digits"]), progress=False)
    assert again.status.tolist() == ["skipped"]


def test_finished_run_with_other_parameters_is_left_alone(sweeps):
    out, _ = sweeps
    run = out / "fig4" / "digits-vp-p4-e1-n2" / "metrics.json"
    before = run.stat().st_mtime_ns
    df = run_experiment("fig4", out_root=out, overrides=dict(TINY, val_per_class=2, methods=["vp"]), progress=False)
    assert df.status.tolist() == ["failed", "failed"] and "val_per_class: 1 (finished) vs 2 (planned)" in df.error[0]
    assert run.stat().st_mtime_ns == before
    # every field is compared, also those the plan leaves to their defaults and those it did not list before
    for kw, msg in [(dict(weight_decay=0.1), "weight_decay: 0.0 (finished) vs 0.1 (planned)"),
                    (dict(precision="bf16"), "precision: 'auto' (finished) vs 'bf16' (planned)"),
                    (dict(momentum=0.5), "momentum: 0.9 (finished) vs 0.5 (planned)")]:
        df = run_experiment("fig4", out_root=out, overrides=dict(TINY, methods=["vp"], **kw), dry_run=True, progress=False)
        assert df.status.tolist()[0] == "failed" and msg in df.error[0], (kw, df.error[0])
    # a mask parameter reaches the methods with a mask only: VP's finished runs are the same runs, AdaViPro's are new
    df = run_experiment("fig4", out_root=out, overrides=dict(TINY, mask_grad_clip=1.0), dry_run=True, progress=False)
    assert df.status.tolist() == ["skipped", "pending"] * 2, df[["run", "status"]]
    assert all("-clip1-" in r for r in df.run[df.method == "adavipro"]), df.run.tolist()
    assert run_experiment("fig4", out_root=out, overrides=dict(TINY, methods=["vp"], label_mapping="first"),
                          dry_run=True, progress=False).status.tolist()[0] == "skipped"   # the default, named
    other = run_experiment("fig4", out_root=out, overrides=dict(TINY, methods=["vp"], label_mapping="frequency"),
                           dry_run=True, progress=False)   # another regime: its own folder, named by the mapping
    assert other.run.tolist()[0] == "digits+frequency-vp-p4-e1-n2" and other.status.tolist()[0] == "pending"


# ---------------------------------------------------------------- beyond one machine: GPUs, submitit, SLURM

def test_gpu_and_cluster_options_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.device_count", lambda: 0)   # whatever this machine has
    for argv, msg in [(["--gpus", "0,x"], "gpus='0,x' must be GPU indices separated by commas, e.g. --gpus 0,1"),
                      (["--gpus", "0"], "--gpus names GPU 0, which is not present: this machine has no GPU"),
                      (["--slurm-partition", "gpu"], "the --slurm-* options apply only with --executor slurm"),
                      (["--executor", "slurm", "--slurm-time", "0"], "--slurm-time 0: must be an integer >= 1"),
                      (["--executor", "slurm", "--gpus", "0"], "SLURM gives each job its GPUs: use --slurm-gpus-per-job"),
                      (["--jobs", "0"], "jobs=0 must be a positive integer")]:
        assert main(["table2", "--dry-run", "--out", str(tmp_path), *argv]) == 2, argv
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1, (argv, err)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 2)
    assert main(["table2", "--dry-run", "--out", str(tmp_path), "--gpus", "1,2"]) == 2
    assert "GPU 2, which is not present: this machine has GPUs 0, 1" in capsys.readouterr().err
    monkeypatch.setenv("PATH", str(tmp_path))   # no srun: refused before anything is made
    assert main(["table2", "-p", "datasets", "digits", "--executor", "slurm", "--out", str(tmp_path / "out")]) == 2
    assert "--executor slurm needs SLURM, and its srun is not on PATH here" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _fake_slurm(tmp_path, monkeypatch):
    "Stand-ins for srun and sbatch on PATH: sbatch keeps each batch script (job<k>.sh) and answers job id 4242."
    bin_ = tmp_path / "bin"; bin_.mkdir()
    (bin_ / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_ / "sbatch").write_text(f'#!/bin/sh\nn=$(ls {tmp_path}/job*.sh 2>/dev/null | wc -l)\ncp "$1" "{tmp_path}/job$n.sh"\n'
                                 'echo "Submitted batch job 4242"\n')
    for f in bin_.iterdir(): f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")


def test_slurm_options_reach_the_batch_script(tmp_path, monkeypatch):
    "With stand-ins for srun and sbatch on PATH, a submitted job's batch script asks for what the options say."
    seen = {}
    def fake(kind, folder, slurm, jobs):
        seen.update(kind=kind, slurm=slurm, jobs=jobs); raise ConfigError("stop here")
    monkeypatch.setattr("adavipro.sweeps.make_executor", fake)
    assert main(["table2", "-p", "datasets", "digits", "--out", str(tmp_path / "out"), "--executor", "slurm", "--jobs", "3",
                 "--slurm-partition", "gpu", "--slurm-time", "90", "--slurm-mem", "64", "--slurm-cpus-per-job", "6",
                 "--slurm-requeues", "5", "--slurm-option", "account", "myproject", "--slurm-option", "qos", "high"]) == 2
    assert seen == dict(kind="slurm", jobs=3, slurm=SlurmConfig(partition="gpu", time_min=90, gpus_per_job=1, cpus_per_job=6, mem_gb=64,
                                                                requeues=5, options={"account": "myproject", "qos": "high"}))
    monkeypatch.undo()
    _fake_slurm(tmp_path, monkeypatch)
    ex = make_executor("slurm", tmp_path / "jobs", seen["slurm"], jobs=3)
    with ex.batch(): jobs = [ex.submit(print, i) for i in range(5)]
    assert [j.job_id for j in jobs] == [f"4242_{i}" for i in range(5)]
    assert sorted(p.name for p in tmp_path.glob("job*.sh")) == ["job0.sh"]   # one sbatch: one array
    script = (tmp_path / "job0.sh").read_text()
    for line in ("--partition=gpu", "--time=90", "--mem=64GB", "--gpus-per-node=1", "--cpus-per-task=6", "--ntasks-per-node=1",
                 "--nodes=1", "--array=0-4%3", "--requeue", "--signal=USR2@90", "--account=myproject", "--qos=high"):
        assert f"#SBATCH {line}\n" in script, (line, script)


def test_slurm_gpus_per_job_above_one_is_refused(tmp_path, capsys):
    assert main(["table2", "--dry-run", "--out", str(tmp_path), "--executor", "slurm", "--slurm-gpus-per-job", "2"]) == 2
    err = capsys.readouterr().err
    assert "--slurm-gpus-per-job 2: a run is one process on one GPU, so 1 would sit idle" in err and len(err.strip().splitlines()) == 1


def test_slurm_sweep_submits_one_array(tmp_path, monkeypatch):
    "Every pending run of a sweep goes into one job array; each task is the run's requeueable `_RunJob`."
    from adavipro.sweeps import _RunJob, _row
    _fake_slurm(tmp_path, monkeypatch)
    tasks = {}
    def await_job(job, stop, name, params, run_dir):
        tasks[name] = (job.job_id, job.submission().function)
        return _row(name, params, run_dir, "failed", error="not run here")
    monkeypatch.setattr("adavipro.sweeps._await_job", await_job)
    df = run_experiment("table2", out_root=tmp_path / "out", overrides=dict(TINY, methods=["vp", "adavipro"]), jobs=2,
                        executor="slurm", slurm=SlurmConfig(mem_gb=16), progress=False)
    n = len(df)
    assert n > 2 and sorted(tasks) == sorted(df.run) and set(df.error) == {"not run here"}
    assert sorted(job_id for job_id, _ in tasks.values()) == sorted(f"4242_{i}" for i in range(n))
    for name, (_, fn) in tasks.items():
        assert isinstance(fn, _RunJob) and fn.args[0] == name and fn.args[2] == tmp_path / "out" / "table2" / name
    assert f"#SBATCH --array=0-{n - 1}%2\n" in (tmp_path / "job0.sh").read_text() and not (tmp_path / "job1.sh").exists()


_CUT_OFF = """import json, os, pathlib, time
out = pathlib.Path(out_dir)
if not (out / "last.pt").exists():   # the first job: a checkpoint, then it runs until it is stopped
    (out / "runner.pid").write_text(str(os.getppid())); (out / "last.pt").write_text("epoch 1"); time.sleep(300)
json.dump(dict(test_acc=0.5, resumed_from=(out / "last.pt").read_text()), open(out / "metrics.json", "w"))
"""

def test_submitit_job_is_requeued_and_resumes(tmp_path):
    "At its time limit submitit signals the job (USR2); `_RunJob.checkpoint` stops the run and the same job runs again."
    import nbformat
    from adavipro.sweeps import _RunJob
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("out_dir = None", metadata=dict(tags=["parameters"])),
                                         nbformat.v4.new_code_cell(_CUT_OFF)],
                                  metadata=dict(kernelspec=dict(name="python3", display_name="Python 3", language="python")))
    (tmp_path / "nbs").mkdir(); nbformat.write(nb, tmp_path / "nbs" / "stand_in.ipynb")
    run_dir, params = tmp_path / "out" / "r", dict(dataset="digits", method="vp")
    ex = make_executor("local", tmp_path / "jobs")
    job = ex.submit(_RunJob("r", params, run_dir, tmp_path / "nbs" / "stand_in.ipynb", tmp_path, 1, 10.0))
    deadline = time.time() + 240
    while not (run_dir / "runner.pid").exists():
        assert time.time() < deadline and not job.done(), job.stderr()
        time.sleep(0.2)
    runner = int((run_dir / "runner.pid").read_text())
    task = int(Path(f"/proc/{runner}/stat").read_text().rsplit(")", 1)[1].split()[1])   # the papermill runner's parent: the job
    os.kill(task, signal.SIGUSR2)                             # what SLURM sends 90 s before the time limit
    row = job.result()
    assert row["status"] == "done" and row["test_acc"] == 0.5, row
    assert json.loads((run_dir / "metrics.json").read_text())["resumed_from"] == "epoch 1"
    log = (job.paths.stderr.read_text() if job.paths.stderr.exists() else "") + job.stdout()
    assert "Requeued" in log or "requeue" in log.lower(), log[-2000:]


def test_sweep_through_submitit_local_executor(tmp_path):
    "A run as a job of submitit's LocalExecutor (the cheapest: no training); started again, it is skipped."
    ov = dict(TINY, methods=["none"])
    df = run_experiment("table1", out_root=tmp_path, overrides=ov, executor="local", progress=False)
    assert df.status.tolist() == ["done"], df.error.tolist()
    for r in df.run:   # the same run folders as the process executor writes
        assert {"run.ipynb", "papermill.log", "config.json", "metrics.json"} <= {p.name for p in (tmp_path / "table1" / r).iterdir()}
    assert all(0 <= a <= 1 for a in df.test_acc)
    jobs = sorted((tmp_path / "table1" / ".submitit").glob("*_0_log.out"))
    assert len(jobs) == 1   # one job per run
    again = run_experiment("table1", out_root=tmp_path, overrides=ov, executor="local", progress=False)
    assert again.status.tolist() == ["skipped"]
    assert sorted((tmp_path / "table1" / ".submitit").glob("*_0_log.out")) == jobs   # nothing submitted again
    assert sorted(collect_runs(tmp_path).run) == sorted(df.run)   # the report sees the runs, not submitit's files


def test_failed_or_interrupted_submitit_job_fails_its_run_only(tmp_path):
    # submitit cancels a local job with SIGINT. A process started in the background (`cmd &` in a script) ignores
    # SIGINT, and its children inherit that, so the cancel would be ignored; a sweep that is interrupted has SIGINT
    # handled, as here (a handled signal is reset to its default in the job's process).
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try: _submitit_failures(tmp_path)
    finally: signal.signal(signal.SIGINT, old)

def _submitit_failures(tmp_path):
    ex, p = make_executor("local", tmp_path / "jobs"), dict(dataset="digits", method="vp")
    row = _await_job(ex.submit(int, "x"), threading.Event(), "r", p, tmp_path / "r")
    assert row["status"] == "failed" and "failed: ValueError: invalid literal for int()" in row["error"], row["error"]
    assert "Traceback" in (tmp_path / "r" / "error.txt").read_text()
    stop = threading.Event(); stop.set()
    job = ex.submit(time.sleep, 60)
    t0 = time.time()
    row = _await_job(job, stop, "s", p, tmp_path / "s")
    assert row["status"] == "failed" and "cancelled" in row["error"] and time.time() - t0 < 10
    deadline = time.time() + 20
    while job.state == "RUNNING" and time.time() < deadline: time.sleep(0.2)
    assert job.state != "RUNNING"


# ---------------------------------------------------------------- the report

def test_report_notebook(sweeps, tmp_path):
    out, _ = sweeps
    pm.execute_notebook(str(ROOT / "nbs" / "report.ipynb"), str(tmp_path / "report.ipynb"), cwd=str(ROOT),
                        parameters=dict(experiment_dir=str(out), fig4_images=3), progress_bar=False)
    rep = out / "report"
    for t in ("table1", "table2", "table3", "table4", "table5", "table6", "table7"):
        assert (rep / f"{t}.csv").stat().st_size > 0 and (rep / f"{t}.md").read_text().startswith("### Table")
    for f in ("fig2.png", "fig4.png"):
        assert (rep / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    t1 = pd.read_csv(rep / "table1.csv", index_col=0)
    assert list(t1.columns) == ["digits", "Average"]          # the failed dataset has no column
    cells = t1.digits.to_dict()
    filled = {k for k, v in cells.items() if pd.notna(v)}
    delta = "Δ AdaViPro − VP (p=30 (4 px))"                   # one seed pairs: no test
    assert filled == {"VP (p=30 (4 px))", "AdaViPro (p=30 (4 px))", delta}, cells   # the other methods were not run: empty
    assert cells[delta].endswith("(n=1): n < 2, no interval")
    metrics = json.loads((out / "table1" / "digits-vp-p4-e1-n2" / "metrics.json").read_text())
    mean = float(str(cells["VP (p=30 (4 px))"]).split()[0])   # a number, or 'mean ± h (n=k)' once runs have seeds
    assert mean == pytest.approx(round(100 * metrics["test_acc"], 1))
    t2 = pd.read_csv(rep / "table2.csv", index_col=[0, 1])      # no table2 / fig2 runs: every cell empty
    assert len(t2) == 16 and t2.drop(columns="Average").isna().all().all()
    t3 = pd.read_csv(rep / "table3.csv", index_col=0)           # counts from the runs that exist, no invented ones
    assert t3.loc["VP (p=4)"].iloc[0] == f"{2 * 3 * 4 * 32 + 2 * 3 * 24 * 4:,}"
    assert t3.loc["Full fine-tuning"].isna().all() and t3.loc["VPT-deep"].isna().all()
    for t in ("table4", "table5", "table6", "table7"):
        assert pd.read_csv(rep / f"{t}.csv", index_col=0).isna().all().all()
    unfinished = pd.read_csv(rep / "unfinished.csv")
    assert set(unfinished.run) == {"missing-vp-p4-e1-n2", "missing-adavipro-p4-r4-d64-g0.98-e1-n2"}
