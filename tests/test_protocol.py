"""Training-batch augmentation and the protocol record: reproducible, resumable, and neither disturbs training."""
import json, os, subprocess, sys
from pathlib import Path

import pandas as pd
import pytest
import torch

import adavipro.training as training
from adavipro.core import ConfigError
from adavipro.training import TrainConfig, fit

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(dataset="digits", backbone="efficientnet_lite0", method="adavipro", image_size=32, prompt_size=4,
            region_size=8, embed_dim=8, epochs=2, batch_size=8, warmup_steps=2, train_per_class=4, val_per_class=2,
            test_per_class=3)

def tiny(out, **kw) -> TrainConfig: return TrainConfig(**{**TINY, "out_dir": str(out), **kw})

def history(out) -> pd.DataFrame: return pd.read_csv(Path(out) / "history.csv").drop(columns="time_s")

def prompter_state(out, name="best.pt") -> dict: return torch.load(Path(out) / name, weights_only=False)["prompter"]

def same_state(a:dict, b:dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a)

class Stop(Exception): pass


def test_augmented_run_is_reproducible_and_resumes_mid_epoch_exactly(tmp_path, monkeypatch):
    "AdaViPro (Gumbel noise) with TrivialAugmentWide: two runs agree, and a run stopped inside epoch 2 resumes to the same numbers."
    kw = dict(augment="trivialaugment", checkpoint_every=1)   # last.pt after every step
    a = fit(tiny(tmp_path / "a", **kw), progress=False)
    b = fit(tiny(tmp_path / "b", **kw), progress=False)
    plain = fit(tiny(tmp_path / "plain", checkpoint_every=1), progress=False)
    pd.testing.assert_frame_equal(history(tmp_path / "a"), history(tmp_path / "b"), check_exact=True)
    assert not history(tmp_path / "a").train_loss.equals(history(tmp_path / "plain").train_loss)   # augmentation acted
    assert a["val_acc"] == b["val_acc"] and plain["config"]["augment"] == "none"

    steps_per_epoch = a["steps"] // 2
    real_step, calls = training._train_step, []
    def step_then_stop(*args, **kwargs):   # the 2nd step of epoch 2: last.pt holds that epoch after 1 batch
        if len(calls) == steps_per_epoch + 1: raise Stop
        calls.append(1); return real_step(*args, **kwargs)
    monkeypatch.setattr(training, "_train_step", step_then_stop)
    cfg = tiny(tmp_path / "c", **kw)
    with pytest.raises(Stop): fit(cfg, progress=False)
    ck = torch.load(tmp_path / "c" / "last.pt", weights_only=False)
    assert (ck["epoch"], ck["partial"]["batches_done"]) == (1, 1)
    monkeypatch.setattr(training, "_train_step", real_step)
    resumed = fit(cfg, progress=False)
    for k in ("test_acc", "val_acc", "best_epoch", "steps", "test_acc_last"):
        assert resumed[k] == a[k], k
    pd.testing.assert_frame_equal(history(tmp_path / "a"), history(tmp_path / "c"), check_exact=True)
    assert same_state(prompter_state(tmp_path / "a", "last.pt"), prompter_state(tmp_path / "c", "last.pt"))


def _file_folder(root:Path) -> Path:
    "An image folder of 80 px noise images (above SMALL_IMAGE_MAX): with data_cache='off' every split is read by a DataLoader."
    from PIL import Image
    g = torch.Generator().manual_seed(0)
    for split in ("train", "test"):
        for c in ("cat", "dog"):
            d = root / split / c; d.mkdir(parents=True)
            for i in range(10):
                Image.fromarray(torch.randint(0, 256, (80, 80, 3), generator=g, dtype=torch.uint8).numpy()).save(d / f"{i}.png")
    return root


def test_record_test_changes_no_training_number_and_survives_resume(tmp_path):
    """The per-epoch test evaluation runs outside the training's random stream: with record_test on, a run whose
    evaluations draw from torch's generator (a file dataset's DataLoader) trains bit for bit as with it off."""
    data = dict(dataset=f"imagefolder:{_file_folder(tmp_path / 'tree')}", data_cache="off", epochs=3, train_per_class=None,
                val_per_class=None, test_per_class=None)
    off = fit(tiny(tmp_path / "off", **data), progress=False)
    on = fit(tiny(tmp_path / "on", record_test=True, **data), progress=False)
    h_off, h_on = history(tmp_path / "off"), history(tmp_path / "on")
    assert "test_acc" not in h_off and h_on.test_acc.between(0, 1).all() and len(h_on) == 3
    pd.testing.assert_frame_equal(h_off, h_on.drop(columns="test_acc"), check_exact=True)
    assert same_state(prompter_state(tmp_path / "off"), prompter_state(tmp_path / "on"))
    for k in ("test_acc", "val_acc", "unprompted_test_acc", "best_epoch", "test_acc_last"):
        assert on[k] == off[k], k
    # the record: the validation-chosen epoch's row is the reported number; the optimistic one is the best row
    assert h_on.set_index("epoch").test_acc[on["best_epoch"]] == on["test_acc"]
    assert on["test_acc_best_on_test"] == h_on.test_acc.max() >= on["test_acc"]
    assert on["best_on_test_epoch"] == h_on.epoch[h_on.test_acc.idxmax()]
    assert on["test_acc_last"] == h_on.test_acc.iloc[-1]
    assert off["test_acc_best_on_test"] is None and off["best_on_test_epoch"] is None
    # stopped after epoch 1 and resumed: the restored rows keep their test_acc
    cfg = tiny(tmp_path / "resumed", record_test=True, **data)
    def stop(epoch, row):
        if epoch == 1: raise Stop
    with pytest.raises(Stop): fit(cfg, callbacks=[stop], progress=False)
    resumed = fit(cfg, progress=False)
    pd.testing.assert_frame_equal(h_on, history(tmp_path / "resumed"), check_exact=True)
    for k in ("test_acc", "test_acc_last", "test_acc_best_on_test", "best_on_test_epoch"):
        assert resumed[k] == on[k], k


def test_record_test_is_runtime_and_a_flip_on_resume_leaves_no_best_on_test_claim(tmp_path):
    "record_test does not change the run: a resume may flip it; the epochs before lack a test_acc, so no best-on-test figure."
    cfg = tiny(tmp_path / "run", method="vp")
    def stop(epoch, row):
        if epoch == 1: raise Stop
    with pytest.raises(Stop): fit(cfg, callbacks=[stop], progress=False)
    m = fit(tiny(tmp_path / "run", method="vp", record_test=True), progress=False)
    h = history(tmp_path / "run")
    assert h.test_acc.isna().tolist() == [True, False]
    assert m["test_acc_best_on_test"] is None and m["best_on_test_epoch"] is None
    assert m["test_acc_last"] == h.test_acc.iloc[-1]


def test_augmentation_on_placement_data_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match="4th channel.*use augment='none' on placement data") as e:
        fit(tiny(tmp_path / "run", dataset="placement:digits", augment="trivialaugment"), progress=False)
    assert "\n" not in str(e.value) and not (tmp_path / "run").exists()


def test_command_line_writes_the_record(tmp_path):
    out = tmp_path / "cli"
    args = ["--dataset", "digits", "--epochs", "2", "--train_per_class", "4", "--val_per_class", "2", "--test_per_class", "3",
            "--image_size", "32", "--prompt_size", "4", "--region_size", "8", "--embed_dim", "8", "--batch_size", "8",
            "--record_test", "True", "--augment", "trivialaugment", "--out_dir", str(out)]
    r = subprocess.run([sys.executable, "-m", "adavipro.training", *args], capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["augment"] == "trivialaugment" and m["config"]["record_test"] is True
    assert {"test_acc_last", "test_acc_best_on_test", "best_on_test_epoch"} <= set(m) and m["best_on_test_epoch"] in (1, 2)
    assert "test_acc" in pd.read_csv(out / "history.csv")


def test_under_torchrun_the_record_and_augmentation_run_on_every_rank_and_change_no_training_number(tmp_path):
    "Two ranks (gloo, CPU), each augmenting its own share with its own noise; the record on or off trains the same."
    args = ["--dataset", "digits", "--method", "vp", "--image_size", "32", "--prompt_size", "4", "--epochs", "2",
            "--batch_size", "16", "--lr_prompt", "0.1", "--warmup_steps", "2", "--train_per_class", "8",
            "--val_per_class", "3", "--test_per_class", "5", "--augment", "trivialaugment"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    def torchrun(out, *extra):
        p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                            "-m", "adavipro.training", *args, *extra, "--out_dir", str(out)],
                           env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
        return json.loads((out / "metrics.json").read_text())
    off, on = torchrun(tmp_path / "off"), torchrun(tmp_path / "on", "--record_test", "True")
    assert on["world_size"] == 2 and on["config"]["augment"] == "trivialaugment"
    h_on = history(tmp_path / "on")
    pd.testing.assert_frame_equal(history(tmp_path / "off"), h_on.drop(columns="test_acc"), check_exact=True)
    assert h_on.set_index("epoch").test_acc[on["best_epoch"]] == on["test_acc"] == off["test_acc"]
    assert on["test_acc_best_on_test"] == h_on.test_acc.max() and on["test_acc_last"] == h_on.test_acc.iloc[-1]


def test_a_sweep_takes_a_finished_run_for_the_record_but_not_for_augmentation():
    "record_test is a runtime field: a run finished without it is the run a plan with it asks for; augment is not."
    from adavipro.sweeps import _config_mismatch, plan_experiment, run_name
    name, plan = next((n, p) for n, p in plan_experiment("table1", "cpu").items() if p["method"] == "vp")
    finished = dict(config=dict(plan, out_dir="x"))            # a run written before either field existed
    assert _config_mismatch(finished, dict(plan, record_test=True)) == []
    assert _config_mismatch(finished, dict(plan, augment="trivialaugment")) == \
        ["augment: 'none' (finished) vs 'trivialaugment' (planned)"]
    assert run_name(dict(plan, record_test=True)) == name and run_name(dict(plan, augment="none")) == name
    assert run_name(dict(plan, augment="trivialaugment")) == name.replace("-e8", "-ta-e8")
