"""Issue 4: runs survive SIGKILL, outputs are atomic, two processes never train into one run folder."""
import json, os, signal, subprocess, sys, textwrap, time
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
import pytest
import torch

import adavipro.core as core
from adavipro.core import ConfigError
from adavipro.training import TrainConfig, fit

ROOT = Path(__file__).resolve().parents[1]
KILLABLE = dict(dataset="digits", backbone="efficientnet_lite0", method="adavipro", image_size=32, prompt_size=4,
                region_size=8, embed_dim=8, epochs=2, batch_size=8, warmup_steps=3, train_per_class=8,
                val_per_class=2, test_per_class=3, checkpoint_every=1)

def run_in_subprocess(cfg:dict) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import time, torch
        from adavipro.training import TrainConfig, fit
        slow = torch.nn.functional.cross_entropy
        def cross_entropy(*a, **k):   # slow the steps down so the parent can kill mid-epoch
            time.sleep(0.3); return slow(*a, **k)
        torch.nn.functional.cross_entropy = cross_entropy
        fit(TrainConfig(**{cfg!r}), progress=False)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

def wait_for(pred, proc, timeout=240):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred(): return
        if proc.poll() is not None: raise AssertionError("subprocess ended early:\n" + proc.stdout.read().decode()[-3000:])
        time.sleep(0.05)
    raise AssertionError("timed out")

def partial_at(path:Path, epoch:int, batches:int) -> bool:
    if not path.exists(): return False
    try: ck = torch.load(path, weights_only=False)
    except Exception: return False          # (never happens with atomic writes; be safe while polling)
    return ck["epoch"] == epoch and ck.get("partial") is not None and ck["partial"]["batches_done"] >= batches

def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    ref = fit(TrainConfig(**{**KILLABLE, "out_dir": str(tmp_path / "ref")}), progress=False)
    out = tmp_path / "killed"
    proc = run_in_subprocess({**KILLABLE, "out_dir": str(out)})
    wait_for(lambda: partial_at(out / "last.pt", epoch=1, batches=3), proc)   # in the middle of epoch 2
    proc.send_signal(signal.SIGKILL); proc.wait()
    assert not (out / "metrics.json").exists()
    resumed = fit(TrainConfig(**{**KILLABLE, "out_dir": str(out)}), progress=False)
    for k in ("test_acc", "val_acc", "unprompted_test_acc", "unprompted_val_acc", "best_epoch", "steps", "n_tunable_params"):
        assert resumed[k] == ref[k], k
    drop = lambda d: pd.read_csv(d / "history.csv").drop(columns="time_s")
    pd.testing.assert_frame_equal(drop(tmp_path / "ref"), drop(out), check_exact=True)
    a = torch.load(tmp_path / "ref" / "best.pt", weights_only=False)["prompter"]
    b = torch.load(out / "best.pt", weights_only=False)["prompter"]
    assert same(a, b)

def same(x, y) -> bool:
    "Exactly equal states: tensors bit for bit, dicts (a prompter's extra state, e.g. its mask statistics) key by key."
    if torch.is_tensor(x): return torch.is_tensor(y) and torch.equal(x, y)
    if isinstance(x, dict): return isinstance(y, dict) and x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
    return x == y

def test_two_processes_never_train_into_one_run(tmp_path):
    out = tmp_path / "run"
    cfg = {**KILLABLE, "epochs": 30, "out_dir": str(out)}
    proc = run_in_subprocess(cfg)
    try:
        wait_for(lambda: (out / "last.pt").exists(), proc)
        with pytest.raises(ConfigError, match="another process is already running in"):
            fit(TrainConfig(**cfg), progress=False)
    finally:
        proc.send_signal(signal.SIGKILL); proc.wait()
    # the lock dies with its process: the run can now be resumed
    assert torch.load(out / "last.pt", weights_only=False)["config"]["epochs"] == 30

def test_failure_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    cfg = TrainConfig(**{**KILLABLE, "method": "vp", "checkpoint_every": None, "out_dir": str(tmp_path / "run")})
    class Stop(Exception): pass
    def stop(epoch, row): raise Stop
    with pytest.raises(Stop): fit(cfg, callbacks=[stop], progress=False)
    last = tmp_path / "run" / "last.pt"; before = last.read_bytes()
    real_save = torch.save
    def half_then_crash(obj, f, *a, **k):
        f.write(b"PK\x03\x04 half a checkpoint"); raise OSError("No space left on device")
    monkeypatch.setattr(core.torch, "save", half_then_crash)
    with pytest.raises(OSError, match="No space left"): fit(cfg, progress=False)
    monkeypatch.setattr(core.torch, "save", real_save)
    assert last.read_bytes() == before
    assert torch.load(last, weights_only=False)["epoch"] == 1
    assert sorted(p.name for p in last.parent.iterdir() if p.name.endswith(".tmp")) == []
    assert fit(cfg, progress=False)["epochs"] == 2          # and the run still resumes and finishes

def test_failure_while_writing_metrics_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    core.atomic_write_json(path, {"test_acc": 0.5})
    monkeypatch.setattr(core.json, "dumps", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt): core.atomic_write_json(path, {"test_acc": 0.9})
    assert json.loads(path.read_text()) == {"test_acc": 0.5}

class RunsCodeWhenUnpickled:
    "What a crafted checkpoint holds: unpickling it calls io.open, which creates `marker`."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self):
        import io
        return (io.open, (self.marker, "w"))

@pytest.mark.parametrize("name", ["last.pt", "best.pt"])
def test_a_crafted_checkpoint_runs_no_code_and_stops_the_run_with_one_line(tmp_path, name):
    cfg = TrainConfig(**{**KILLABLE, "method": "vp", "epochs": 1, "checkpoint_every": None, "out_dir": str(tmp_path / "run")})
    if name == "best.pt": fit(cfg, progress=False); (tmp_path / "run" / "metrics.json").unlink()   # a finished run's best.pt, read again at the end
    marker = tmp_path / "marker"; (tmp_path / "run").mkdir(exist_ok=True)
    payload = dict(torch.load(tmp_path / "run" / name, weights_only=True) if name == "best.pt" else {},
                   config=asdict(cfg), evil=RunsCodeWhenUnpickled(marker))
    torch.save(payload, tmp_path / "run" / name)
    with pytest.raises(ConfigError) as e: fit(cfg, progress=False)
    assert not marker.exists()
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "run" / name) in msg and "io.open" in msg
    assert "delete it, or pass overwrite=True" in msg
    assert fit(replace(cfg, overwrite=True), progress=False)["epochs"] == 1 and not marker.exists()


# ---------------------------------------------------------------- run locks: removed after a run, flock or not
_HOLD_SOFT = """
import sys, time
import adavipro.core as core
core.flock_supported = lambda folder: False          # as on a file system without flock
from adavipro.runs import RunLock
held = RunLock(sys.argv[1]).__enter__()
print("held", flush=True); time.sleep(120)
"""

def test_failed_run_removes_its_lock(tmp_path):
    cfg = TrainConfig(**{**KILLABLE, "method": "vp", "epochs": 1, "out_dir": str(tmp_path / "run")})
    def crash(epoch, row): raise RuntimeError("the run failed")
    with pytest.raises(RuntimeError, match="the run failed"): fit(cfg, callbacks=[crash], progress=False)
    assert (tmp_path / "run" / "last.pt").exists() and not (tmp_path / "run" / ".lock").exists()
    fit(cfg, progress=False)                                    # resumed and finished: no lock either
    assert (tmp_path / "run" / "metrics.json").exists() and not (tmp_path / "run" / ".lock").exists()


def test_soft_lock_where_flock_is_refused(tmp_path, monkeypatch):
    "Without flock, the lock file names its holder; a live holder refuses a second run, a killed one does not block."
    import socket
    from adavipro.runs import RunLock
    monkeypatch.setattr(core, "flock_supported", lambda folder: False)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_SOFT, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert core.lock_holder(tmp_path / ".lock") == f"pid {proc.pid} on {socket.gethostname()}"
        with pytest.raises(ConfigError, match=rf"another process is already running in .*pid {proc.pid} on "):
            RunLock(tmp_path).__enter__()
    finally:
        proc.send_signal(signal.SIGKILL); proc.wait()
    assert (tmp_path / ".lock").exists()                      # left behind by the killed process...
    t0 = time.time()
    with RunLock(tmp_path) as lock:                            # ...and taken over: its pid is dead on this host
        assert lock.held and core.lock_holder(tmp_path / ".lock") == f"pid {os.getpid()} on {socket.gethostname()}"
    assert time.time() - t0 < 5 and not (tmp_path / ".lock").exists()


def test_lock_on_a_file_system_that_cannot_lock(tmp_path, monkeypatch):
    "flock failing for another reason than 'not supported' is one line naming the folder and its file system."
    import errno, fcntl
    from adavipro.runs import RunLock
    def broken(fd, op): raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(fcntl, "flock", broken)
    with pytest.raises(ConfigError, match=rf"cannot lock files in {tmp_path} on its \S+ file system \(Input/output error\)") as e:
        RunLock(tmp_path).__enter__()
    assert "\n" not in str(e.value) and not (tmp_path / ".lock").exists()
    for code in (errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK):   # "not supported": a soft lock instead
        monkeypatch.setattr(fcntl, "flock", lambda fd, op, code=code: (_ for _ in ()).throw(OSError(code, os.strerror(code))))
        with RunLock(tmp_path) as lock: assert lock.held and (tmp_path / ".lock").read_text().startswith(str(os.getpid()))
        assert not (tmp_path / ".lock").exists()
