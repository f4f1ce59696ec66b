"System tests of `adavipro-prepare-ucf101` on a tiny stand-in of the official download (nbs/01a_ucf101.ipynb)."
import json, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("av")
from adavipro.core import ConfigError
from adavipro.data import get_dataset
from adavipro import ucf101 as U


@pytest.fixture(scope="module")
def download(tmp_path_factory):
    "A tiny official download: 2 classes × 4 videos of 7, 8, 9 and 8 frames (32 px), with the split lists."
    return U.tiny_ucf101(tmp_path_factory.mktemp("download"))


def _frames(out): return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out/U.FRAMES_DIR).rglob("*.jpg")}


def test_command_end_to_end(download, tmp_path, capsys):
    "The command (as `python -m`) writes the middle frames; the loader reads them; a rerun writes nothing."
    out = tmp_path/"data"/"ucf101"
    with pytest.raises(ConfigError, match="adavipro-prepare-ucf101 --videos UCF-101"):
        get_dataset("ucf101", data_root=tmp_path/"data")
    cmd = [sys.executable, "-m", "adavipro.ucf101", "--videos", str(download/"UCF-101"),
           "--splits", str(download/"ucfTrainTestlist"), "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "8 middle frames written, 0 already there" in r.stdout and "UCF101 middle frames" in r.stderr  # tqdm bar
    for label, cls in enumerate(("ApplyEyeMakeup", "YoYo")):
        for g, n in enumerate((7, 8, 9, 8), 1):
            rgb = np.asarray(Image.open(out/U.FRAMES_DIR/f"{U.coop_class_name(cls)}/v_{cls}_g{g:02d}_c01.jpg")).mean((0, 1))
            assert np.abs(rgb - (U.FRAME_STEP * (n // 2), 40 * g, 60 + 120 * label)).max() <= 10, (cls, g, rgb)
    split = json.loads((out/U.SPLIT_FILE).read_text())
    assert {s: len(v) for s, v in split.items()} == dict(train=4, val=2, test=2)
    ds = get_dataset("ucf101", data_root=tmp_path/"data", image_size=32)
    assert ds.classes == ["apply eye makeup", "yo yo"] and ds.num_classes == 2
    before, split_mtime = _frames(out), (out/U.SPLIT_FILE).stat().st_mtime_ns
    U.main(cmd[3:])                                                              # in-process: saves a torch import
    assert "0 middle frames written, 8 already there" in capsys.readouterr().out
    assert _frames(out) == before and (out/U.SPLIT_FILE).stat().st_mtime_ns == split_mtime


def test_interrupted_run_resumes(download, tmp_path, monkeypatch):
    "Killed after 3 videos: 3 whole frames, no split file (the loader still says to run the command); the rerun does the rest."
    out, calls, real = tmp_path/"ucf101", [], U.middle_frame
    def flaky(video):
        if len(calls) == 3: raise KeyboardInterrupt
        calls.append(video); return real(video)
    monkeypatch.setattr(U, "middle_frame", flaky)
    with pytest.raises(KeyboardInterrupt): U.prepare_ucf101(download, download, out, progress=False)
    assert len(_frames(out)) == 3 and not (out/U.SPLIT_FILE).exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]          # no half-written frame
    with pytest.raises(ConfigError, match="adavipro-prepare-ucf101"): get_dataset("ucf101", data_root=tmp_path)
    first = _frames(out)
    monkeypatch.setattr(U, "middle_frame", real)
    n = U.prepare_ucf101(download, download, out, progress=False)
    assert (n["written"], n["skipped"]) == (5, 3)
    assert {p: v for p, v in _frames(out).items() if p in first} == first         # the 3 frames were not rewritten
    (out/U.FRAMES_DIR/"Yo_Yo"/"v_YoYo_g02_c01.jpg").unlink()
    assert U.prepare_ucf101(download, download, out, progress=False)["written"] == 1
    assert len(get_dataset("ucf101", data_root=tmp_path, image_size=32).train) == 4


def _run(download, tmp_path, videos=None, splits=None):
    return U.prepare_ucf101(videos or download/"UCF-101", splits or download/"ucfTrainTestlist", tmp_path/"out",
                            progress=False)


def _one_line(e): assert "\n" not in str(e.value); return str(e.value)


def test_bad_input(download, tmp_path):
    "Each mistake a user can make is one line that says what to do, and nothing is written."
    (tmp_path/"UCF101.rar").write_bytes(b"Rar!")
    with pytest.raises(ConfigError, match=r"UCF101.rar is an archive: extract it first \(unrar x UCF101.rar") as e:
        _run(download, tmp_path, videos=tmp_path/"UCF101.rar")
    _one_line(e)
    with pytest.raises(ConfigError, match="is an archive: extract it first \\(unzip"):
        _run(download, tmp_path, splits=tmp_path/"UCF101TrainTestSplits-RecognitionTask.zip")
    with pytest.raises(ConfigError, match="videos folder .*nope does not exist"): _run(download, tmp_path, videos=tmp_path/"nope")
    (tmp_path/"lists").mkdir()
    with pytest.raises(ConfigError, match="has no classInd.txt"): _run(download, tmp_path, splits=tmp_path/"lists")

    lists = tmp_path/"lists"
    for f in U.LIST_FILES: (lists/f).write_text((download/"ucfTrainTestlist"/f).read_text())
    with open(lists/"classInd.txt", "a") as f: f.write("3 Skiing\n")
    with pytest.raises(ConfigError, match="class 'Skiing' has 0 video"): _run(download, tmp_path, splits=lists)
    with open(lists/"trainlist01.txt", "a") as f: f.write("Skiing/v_Skiing_g01_c01.avi 3\nSkiing/v_Skiing_g02_c01.avi 3\n")
    with pytest.raises(ConfigError, match=r"class 'Skiing' is in the lists but .*Skiing/ does not exist") as e:
        _run(download, tmp_path, splits=lists)
    _one_line(e)
    (lists/"trainlist01.txt").write_text((download/"ucfTrainTestlist"/"trainlist01.txt").read_text() + "YoYo/v_YoYo_g09_c01.avi 2\n")
    (lists/"classInd.txt").write_text((download/"ucfTrainTestlist"/"classInd.txt").read_text())
    with pytest.raises(ConfigError, match="1 listed video\\(s\\) are not in .*YoYo/v_YoYo_g09_c01.avi"):
        _run(download, tmp_path, splits=lists)
    (lists/"testlist01.txt").write_text("Surfing/v_Surfing_g01_c01.avi\n")
    with pytest.raises(ConfigError, match="testlist01.txt:1: class 'Surfing' is not in classInd.txt"):
        _run(download, tmp_path, splits=lists)
    assert not (tmp_path/"out").exists()

    videos = tmp_path/"videos"
    for p in (download/"UCF-101").rglob("*.avi"):
        (videos/p.parent.name).mkdir(parents=True, exist_ok=True); (videos/p.parent.name/p.name).write_bytes(p.read_bytes())
    (videos/"YoYo"/"v_YoYo_g03_c01.avi").write_bytes(b"\0" * 100)
    with pytest.raises(ConfigError, match="cannot decode .*v_YoYo_g03_c01.avi") as e: _run(download, tmp_path, videos=videos)
    _one_line(e)
    assert not (tmp_path/"out"/U.SPLIT_FILE).exists()


def test_cli_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as e: U.main(["--videos", str(tmp_path/"UCF101.rar"), "--splits", str(tmp_path)])
    assert str(e.value).startswith("error: ") and "\n" not in str(e.value)
    with pytest.raises(SystemExit) as e: U.main(["--splits", str(tmp_path)])
    assert e.value.code == 2 and "--videos" in capsys.readouterr().err
