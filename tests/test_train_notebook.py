"""The main job: nbs/train.ipynb executed by papermill with small parameters."""
import json
from pathlib import Path
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(image_size=32, prompt_size=4, region_size=8, embed_dim=8, epochs=2, batch_size=32, warmup_steps=2,
            train_per_class=5, val_per_class=2, test_per_class=3)

@pytest.mark.parametrize("method,extra", [
    ("adavipro", {}),                                                   # the mask's plots
    ("none", {}),                                                       # no SGD epochs: an empty history
    ("vp", dict(label_mapping="frequency", channels_last=True, epochs=1)),  # parameters the notebook once dropped
])
def test_train_notebook_runs_with_papermill(tmp_path, method, extra):
    out = tmp_path / "run"
    pm.execute_notebook(str(ROOT / "nbs" / "train.ipynb"), str(tmp_path / "train.ipynb"), cwd=str(ROOT),
                        parameters=dict(TINY, method=method, out_dir=str(out), **extra), progress_bar=False)
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["method"] == method and m["config"]["dataset"] == "digits"
    assert {k: m["config"][k] for k in extra} == extra                   # every -p reaches the run
    assert {"test_acc", "val_acc", "unprompted_test_acc", "n_tunable_params"} <= set(m)
    nb = json.loads((tmp_path / "train.ipynb").read_text())
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert "test accuracy" in text and "unprompted" in text
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    assert images == {"adavipro": 3, "none": 0, "vp": 1}[method]   # history; + on-rate and masks with a mask


def test_a_run_of_300_steps_writes_at_most_8_kb_of_progress_into_its_notebook(tmp_path, monkeypatch):
    "Under papermill no progress bar draws (each redraw would be kept): one line per epoch."
    monkeypatch.setenv("OMP_NUM_THREADS", "1")                 # the kernel's: 300 tiny steps, no thread start-ups
    params = dict(TINY, method="vp", train_per_class=30, batch_size=4, epochs=4, out_dir=str(tmp_path / "run"))
    pm.execute_notebook(str(ROOT / "nbs" / "train.ipynb"), str(tmp_path / "train.ipynb"), cwd=str(ROOT),
                        parameters=params, progress_bar=False)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == 300
    nb = json.loads((tmp_path / "train.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "metrics = fit(cfg)" in "".join(c["source"]))
    size = len(json.dumps(cell["outputs"]).encode())          # everything the training cell left in the notebook
    text = "".join("".join(o.get("text", "")) for o in cell["outputs"])
    assert size <= 8192, f"{size} bytes of output"
    assert text.count("epoch ") == 4                           # the one line per epoch


def test_preset_fills_in_only_what_no_parameter_gives(tmp_path):
    "-p preset paper on digits: the paper's values for what no -p gives, a -p wins even where it equals TrainConfig's default."
    out = tmp_path / "run"
    pm.execute_notebook(str(ROOT / "nbs" / "train.ipynb"), str(tmp_path / "train.ipynb"), cwd=str(ROOT), progress_bar=False,
                        parameters=dict(TINY, epochs=1, method="vp", preset="paper", backbone="efficientnet_lite0",
                                        device="cpu", init="zeros", out_dir=str(out)))
    cfg = json.loads((out / "metrics.json").read_text())["config"]
    assert (cfg["lr_mask"], cfg["momentum"]) == (1.0, 0.9)                        # the paper preset's (TrainConfig: "recipe")
    assert (cfg["init"], cfg["image_size"], cfg["prompt_size"], cfg["backbone"]) == ("zeros", 32, 4, "efficientnet_lite0")  # given


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="the paper preset runs where CUDA exists")
def test_paper_dataset_without_cuda_stops_with_what_to_do(tmp_path):
    "The paper's command (-p dataset ucf101) is the paper preset; without CUDA it stops at once, in one line, writing nothing."
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(str(ROOT / "nbs" / "train.ipynb"), str(tmp_path / "train.ipynb"), cwd=str(tmp_path),
                            parameters=dict(dataset="ucf101"), progress_bar=False)
    assert e.value.ename == "ConfigError" and "\n" not in e.value.evalue
    assert "runs the paper preset (clip:ViT-B-32:openai at 224 px, 1000 epochs of batch 256)" in e.value.evalue
    assert "-p device cpu" in e.value.evalue and "-p preset cpu" in e.value.evalue
    assert not (tmp_path / "outputs").exists()
