"""One source of run parameters: `TrainConfig` is the list, and the notebook, the CLI and the sweeps agree with it."""
import ast, dataclasses, json
from pathlib import Path

import papermill as pm
import pytest

from adavipro.core import ConfigError
from adavipro.training import MASK_RECIPES, TrainConfig, config_from_namespace, main, validate_config

ROOT = Path(__file__).resolve().parents[1]

def parameters_cell() -> list[tuple[str, object]]:
    "(name, value) of every assignment in nbs/train.ipynb's cell tagged 'parameters', in order."
    nb = json.loads((ROOT / "nbs" / "train.ipynb").read_text())
    cells = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(cells) == 1, "nbs/train.ipynb needs exactly one cell tagged 'parameters'"
    body = ast.parse("".join(cells[0]["source"])).body
    assert all(isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name) for s in body), \
        "the parameters cell holds only `name = literal` lines"
    return [(s.targets[0].id, ast.literal_eval(s.value)) for s in body]

def test_the_notebook_declares_every_field_with_its_default():
    declared = parameters_cell()
    assert declared[0] == ("preset", None)   # the one parameter that is no field: None, the dataset's preset (`preset_params`)
    declared = declared[1:]
    fields = [(f.name, f.default) for f in dataclasses.fields(TrainConfig)]
    assert [n for n, _ in declared] == [n for n, _ in fields]          # the same names, in the same order
    for (name, value), (_, default) in zip(declared, fields):
        assert value == default and type(value) is type(default), f"{name} = {value!r} in the notebook, {default!r} in TrainConfig"

def test_defaults_are_the_cpu_main_job_and_valid():
    cfg = validate_config(TrainConfig())
    assert (cfg.dataset, cfg.backbone, cfg.image_size, cfg.prompt_size, cfg.region_size, cfg.epochs, cfg.batch_size,
            cfg.lr_prompt, cfg.lr_mask, cfg.warmup_steps, cfg.init) == \
           ("digits", "efficientnet_lite0", 112, 15, 16, 8, 64, 40.0, 0.01, 20, "zeros")
    assert {k: getattr(cfg, k) for k in MASK_RECIPES["paper"]} == MASK_RECIPES["paper"]   # filled in: no stabiliser

def test_config_from_namespace_refuses_unknown_and_missing_names():
    ns = dict(dataclasses.asdict(TrainConfig(label_mapping="frequency")), json=json)
    assert config_from_namespace(ns, new_since={"json"}).label_mapping == "frequency"
    with pytest.raises(ConfigError, match=r"^unknown parameter lable_mapping \(a papermill -p\?\); parameters: dataset, "):
        config_from_namespace({**ns, "lable_mapping": "first"}, new_since={"json"})
    with pytest.raises(ConfigError, match="the parameters lack mask_recipe"):
        config_from_namespace({k: v for k, v in ns.items() if k != "mask_recipe"})

def test_cli_refuses_an_unknown_option(capsys):
    with pytest.raises(SystemExit, match=r"^error: unknown option --lable_mapping \(did you mean --label_mapping\?\); options: see adavipro-train --help$"):
        main(["--lable_mapping", "frequency"])
    with pytest.raises(SystemExit, match=r"^error: argument --epochs: expected one argument"): main(["--epochs"])

def test_cli_help_lists_every_field_from_train_config():
    "adavipro-train --help exits 0 and shows every TrainConfig field with its type, default and one-line doc."
    import subprocess, sys
    from adavipro.training import field_docs
    r = subprocess.run([sys.executable, "-m", "adavipro.training", "--help"], capture_output=True, text=True,
                       env={**__import__("os").environ, "COLUMNS": "400"})
    assert r.returncode == 0, r.stderr
    docs = field_docs(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        assert docs[f.name], f"TrainConfig.{f.name} has no comment to document it"
        assert f"--{f.name} {str(f.type).replace(' ', '')}" in r.stdout and docs[f.name][:40] in r.stdout, f.name
        assert f"(default: {f.default!r})" in r.stdout, f.name

def test_cli_takes_both_flag_forms():
    from adavipro.training import parse_args
    assert parse_args(["--epochs=3", "--use-edges", "False", "--dataset", "digits"]) == \
        TrainConfig(epochs=3, use_edges=False, dataset="digits")

@pytest.mark.parametrize("value, msg", [("x", "epochs='x' must be a positive integer"), ("-3", "epochs=-3 must be a positive integer")])
def test_sweep_refuses_a_bad_p_value_before_planning(value, msg, capsys, tmp_path):
    from adavipro.sweeps import main as sweep
    assert sweep(["table2", "--dry-run", "--out", str(tmp_path), "-p", "epochs", value]) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and "\n" not in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())   # nothing planned into the output folder

def test_papermill_refuses_an_unknown_parameter(tmp_path):
    "papermill injects any -p; the notebook stops before anything is built or written."
    out = tmp_path / "run"
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(str(ROOT / "nbs" / "train.ipynb"), str(tmp_path / "train.ipynb"), cwd=str(ROOT),
                            parameters=dict(lable_mapping="frequency", out_dir=str(out)), progress_bar=False)
    assert e.value.ename == "ConfigError" and "unknown parameter lable_mapping" in e.value.evalue
    assert not out.exists()
