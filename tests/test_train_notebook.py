"""The main job: nbs/train.ipynb executed by papermill with small parameters."""
import json
from pathlib import Path
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.mark.parametrize("method", ["adavipro", "none"])   # 'none' has no SGD epochs: an empty history
def test_train_notebook_runs_with_papermill(tmp_path, method):
    out = tmp_path / "run"
    pm.execute_notebook(str(ROOT / "nbs" / "train.ipynb"), str(tmp_path / "train.ipynb"), cwd=str(ROOT),
                        parameters=dict(method=method, image_size=32, prompt_size=4, region_size=8, embed_dim=8, epochs=2,
                                        batch_size=32, warmup_steps=2, train_per_class=5, val_per_class=2,
                                        test_per_class=3, out_dir=str(out)), progress_bar=False)
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["method"] == method and m["config"]["dataset"] == "digits"
    assert {"test_acc", "val_acc", "unprompted_test_acc", "n_tunable_params"} <= set(m)
    nb = json.loads((tmp_path / "train.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "test accuracy" in text and "unprompted" in text
