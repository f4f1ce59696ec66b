"""Tests of `adavipro.data` that the notebook does not cover: bad inputs, the real CIFAR-10 folder, and the
torchvision/CoOp dataset layouts (built here in miniature, since the real datasets cannot be downloaded)."""
import json, os, socket, subprocess, sys, tarfile, time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Subset

import adavipro.data as D
from adavipro.core import ConfigError
from adavipro.data import (DatasetSplits, FileImageDataset, TensorImageDataset, get_dataset, iterate_batches,
                           list_datasets)

CIFAR_TAR = Path(__file__).resolve().parents[1]/".."/"shared"/"data"/"cifar10"/"cifar10-jpeg.tar.gz"
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TRAIN_CAP, TEST_CAP = 40, 10  # images per class unpacked from the tarball


def _online(host="www.cs.toronto.edu"):
    try: socket.getaddrinfo(host, 443); return True
    except OSError: return False


def _img(path, size=(12, 10), colour=(255, 0, 0), fmt=None):
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format=fmt)
    return path


def _tree(root, classes=("a", "b"), n_train=6, n_test=2, size=(12, 10), ext="png"):
    "A tiny imagefolder tree; class k is filled with grey level 40*k."
    for split, n in (("train", n_train), ("test", n_test)):
        for k, c in enumerate(classes):
            for i in range(n): _img(Path(root)/split/c/f"{i}.{ext}", size, (40*k,)*3)
    return Path(root)


# ---------------------------------------------------------------- the real CIFAR-10 folder

@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory):
    "The first TRAIN_CAP/TEST_CAP images of each class of the shared CIFAR-10 tarball, unpacked once per session."
    if not CIFAR_TAR.is_file(): pytest.skip(f"{CIFAR_TAR} is absent")
    out = tmp_path_factory.mktemp("cifar10")
    with tarfile.open(CIFAR_TAR) as tar:
        for m in tar:
            parts = Path(m.name).parts
            if m.isfile() and len(parts) == 3 and int(Path(parts[2]).stem) < (TRAIN_CAP if parts[0] == "train" else TEST_CAP):
                tar.extract(m, out, filter="data")
    return out


def test_cifar_imagefolder(cifar_dir):
    ds = get_dataset(f"imagefolder:{cifar_dir}")
    assert ds.classes == CIFAR_CLASSES
    assert (len(ds.train), len(ds.val), len(ds.test)) == (360, 40, 100)
    for split in (ds.train, ds.val, ds.test):
        assert isinstance(split, TensorImageDataset)
        assert split.images.shape[1:] == (3, 32, 32) and split.images.dtype == torch.uint8
        assert np.bincount(split.labels, minlength=10).min() == np.bincount(split.labels, minlength=10).max()
    assert ds.train.images.float().std() > 30        # real pictures, not blanks
    x, y = ds.test[0]
    assert x.shape == (3, 32, 32) and isinstance(y, int)
    assert "train 360, val 40, test 100" in repr(ds)


def test_cifar_pixels_match_the_files(cifar_dir):
    ds = get_dataset(f"imagefolder:{cifar_dir}", test_per_class=1)
    first_cat = sorted((cifar_dir/"test"/"cat").iterdir())
    cat = CIFAR_CLASSES.index("cat")
    x = ds.test.images[int(torch.nonzero(ds.test.labels == cat)[0])]
    assert any(torch.equal(x, torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1)) for p in first_cat)


def test_cifar_caps_decode_only_what_is_used(cifar_dir, monkeypatch):
    opened = []
    real = D._open_rgb
    monkeypatch.setattr(D, "_open_rgb", lambda p: opened.append(p) or real(p))
    ds = get_dataset(f"imagefolder:{cifar_dir}", train_per_class=5, val_per_class=2, test_per_class=3)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (50, 20, 30)
    assert len(opened) == 100
    assert np.bincount(ds.train.labels).tolist() == [5] * 10


def test_cifar_split_determinism(cifar_dir):
    a = get_dataset(f"imagefolder:{cifar_dir}", train_per_class=5, seed=3)
    b = get_dataset(f"imagefolder:{cifar_dir}", train_per_class=5, seed=3)
    c = get_dataset(f"imagefolder:{cifar_dir}", train_per_class=5, seed=4)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.val.images, b.val.images)
    assert not torch.equal(a.train.images, c.train.images) and not torch.equal(a.val.images, c.val.images)
    assert torch.equal(a.test.images, c.test.images)            # the test set does not depend on seed
    full = get_dataset(f"imagefolder:{cifar_dir}", seed=3)
    assert torch.equal(full.val.images, a.val.images)           # capping train leaves val alone


def test_cifar_batches(cifar_dir):
    ds = get_dataset(f"imagefolder:{cifar_dir}")
    g = torch.Generator().manual_seed(1)
    batches = list(iterate_batches(ds.train, 64, shuffle=True, generator=g))
    assert [len(y) for _, y in batches] == [64] * 5 + [40]
    x, y = batches[0]
    assert x.shape == (64, 3, 32, 32) and x.dtype == torch.uint8 and y.dtype == torch.int64
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == sorted(ds.train.labels.tolist())


# ---------------------------------------------------------------- arguments

@pytest.mark.parametrize("kw, msg", [
    (dict(train_per_class=0), "train_per_class must be a positive integer"),
    (dict(val_per_class=-1), "val_per_class must be a positive integer"),
    (dict(test_per_class=2.5), "test_per_class must be a positive integer"),
    (dict(train_per_class=True), "train_per_class must be a positive integer"),
    (dict(val_fraction=0), "val_fraction must be between 0 and 1"),
    (dict(val_fraction=1), "val_fraction must be between 0 and 1"),
    (dict(val_fraction=-0.1), "val_fraction must be between 0 and 1"),
    (dict(seed=-1), "seed must be a non-negative integer"),
    (dict(image_size=0), "image_size must be a positive integer"),
])
def test_bad_arguments(kw, msg):
    with pytest.raises(ConfigError, match=msg): get_dataset("digits", **kw)


def test_numpy_integers_accepted():
    ds = get_dataset("digits", train_per_class=np.int64(2), seed=np.int64(1), val_fraction=np.float32(0.1))
    assert len(ds.train) == 20


def test_arguments_checked_before_loading(tmp_path):
    # a bad cap is reported even though the dataset is missing: nothing slow runs first
    with pytest.raises(ConfigError, match="train_per_class"): get_dataset("cifar10", data_root=tmp_path, train_per_class=0)


def test_unknown_name_lists_choices():
    with pytest.raises(ConfigError) as e: get_dataset("cifar-10")
    msg = str(e.value)
    assert "\n" not in msg and "imagefolder:<path>" in msg and "cifar10" in msg and "ucf101" in msg
    assert list_datasets() == sorted(list_datasets()) and "imagefolder:<path>" in list_datasets()
    with pytest.raises(ConfigError, match="replace <path>"): get_dataset("imagefolder:<path>")
    with pytest.raises(ConfigError, match="needs a path"): get_dataset("imagefolder:")


def test_digits():
    ds = get_dataset("digits", val_fraction=0.25)
    assert isinstance(ds, DatasetSplits) and ds.num_classes == 10
    assert (len(ds.train), len(ds.val), len(ds.test)) == (1077, 360, 360)
    assert ds.train.images.shape[1:] == (3, 8, 8)
    assert len(set(map(tuple, ds.train.images.flatten(1).tolist())) & set(map(tuple, ds.test.images.flatten(1).tolist()))) < 5


# ---------------------------------------------------------------- image folders

def test_imagefolder_structure_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"): get_dataset(f"imagefolder:{tmp_path/'nope'}")
    (tmp_path/"train").mkdir()
    with pytest.raises(ConfigError, match="has no test/ folder"): get_dataset(f"imagefolder:{tmp_path}")
    (tmp_path/"test").mkdir()
    with pytest.raises(ConfigError, match=f"{tmp_path/'train'} has no class folders"): get_dataset(f"imagefolder:{tmp_path}")
    _tree(tmp_path, classes=("a", "b"))
    (tmp_path/"test"/"c").mkdir()
    with pytest.raises(ConfigError, match=r"only in train: -; only in test: c"): get_dataset(f"imagefolder:{tmp_path}")
    (tmp_path/"train"/"c").mkdir()
    _img(tmp_path/"train"/"c"/"0.png"); _img(tmp_path/"train"/"c"/"1.png")
    (tmp_path/"test"/"c"/"notes.txt").write_text("no image here")
    with pytest.raises(ConfigError, match=f"no images .* in {tmp_path/'test'/'c'}"): get_dataset(f"imagefolder:{tmp_path}")


def test_imagefolder_no_train_folder(tmp_path):
    (tmp_path/"test").mkdir()
    with pytest.raises(ConfigError, match="has no train/ folder"): get_dataset(f"imagefolder:{tmp_path}")


def test_imagefolder_corrupt_image(tmp_path):
    _tree(tmp_path)
    bad = tmp_path/"train"/"b"/"zz.jpg"
    bad.write_bytes(b"garbage, not a jpeg at all")
    with pytest.raises(ConfigError) as e: get_dataset(f"imagefolder:{tmp_path}")
    assert f"cannot read image {bad}" in str(e.value) and "\n" not in str(e.value)


def test_imagefolder_corrupt_image_in_file_dataset(tmp_path):
    _tree(tmp_path, size=(80, 70))
    bad = tmp_path/"test"/"a"/"zz.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    ds = get_dataset(f"imagefolder:{tmp_path}", image_size=32)   # large images: nothing decoded yet
    assert isinstance(ds.test, FileImageDataset)
    with pytest.raises(ConfigError, match=f"cannot read image {bad}"): list(iterate_batches(ds.test, 8))


def test_imagefolder_too_few_images_for_val(tmp_path):
    _tree(tmp_path, n_train=1)
    with pytest.raises(ConfigError, match="class 'a' has only 1 image"): get_dataset(f"imagefolder:{tmp_path}")
    _tree(tmp_path/"two", n_train=3)
    with pytest.raises(ConfigError, match="each needs at least one per class"):
        get_dataset(f"imagefolder:{tmp_path/'two'}", val_fraction=0.1)


def test_imagefolder_files_and_names(tmp_path):
    root = _tree(tmp_path, classes=("Red_Car", "blue-bird"), ext="PNG")
    _img(root/"train"/"Red_Car"/"x.JpEg", fmt="JPEG"); _img(root/"train"/"Red_Car"/"y.bmp", fmt="BMP")
    _img(root/"train"/"Red_Car"/"z.webp", fmt="WEBP")
    (root/"train"/"Red_Car"/"readme.txt").write_text("ignored")
    (root/"train"/".ipynb_checkpoints").mkdir()                 # hidden folders are not classes
    ds = get_dataset(f"imagefolder:{root}", val_fraction=0.2)
    assert ds.classes == ["red car", "blue bird"]               # sorted folder names, readable
    assert len(ds.train) + len(ds.val) == 15 and len(ds.test) == 4
    assert isinstance(ds.train, TensorImageDataset) and ds.train.images.shape[1:] == (3, 10, 12)


def test_imagefolder_mixed_small_sizes(tmp_path):
    root = _tree(tmp_path, size=(16, 16))
    _img(root/"test"/"b"/"1.png", (40, 20), (200, 100, 50))      # resized to the first image's 16×16
    ds = get_dataset(f"imagefolder:{root}")
    for split in (ds.train, ds.val, ds.test): assert split.images.shape[1:] == (3, 16, 16)
    assert ds.test.images[-1, :, 0, 0].tolist() == [200, 100, 50]


def test_imagefolder_large_images(tmp_path):
    root = _tree(tmp_path, size=(90, 60))
    _img(root/"train"/"a"/"0.png", (30, 30))                    # a small first image does not force memory
    ds = get_dataset(f"imagefolder:{root}", image_size=48)
    assert all(isinstance(s, FileImageDataset) for s in (ds.train, ds.val, ds.test))
    x, y = ds.train[0]
    assert x.shape == (3, 48, 48) and x.dtype == torch.uint8 and isinstance(y, int)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    b1 = [y for _, y in iterate_batches(ds.train, 4, shuffle=True, generator=g1)]
    b2 = [y for _, y in iterate_batches(ds.train, 4, shuffle=True, generator=g2)]
    assert all(torch.equal(u, v) for u, v in zip(b1, b2))
    xb, yb = next(iterate_batches(ds.test, 4))
    assert xb.shape == (4, 3, 48, 48) and xb.dtype == torch.uint8 and yb.dtype == torch.int64


# ---------------------------------------------------------------- preparing a dataset under a lock

_PREPARE = r"""
import json, sys, time
from pathlib import Path
from adavipro.data import _torchvision
root, me = Path(sys.argv[1]), sys.argv[2]

class SlowDownload:
    "A stand-in for a torchvision dataset whose download writes its files one by one, then a marker."
    def __init__(self, root, download):
        d = Path(root) / "slow"
        if download and not (d / "done").exists():
            with open(Path(root) / "downloads.txt", "a") as f: f.write(me + "\n")
            d.mkdir(exist_ok=True)
            for i in range(5): (d / f"part{i}").write_text(str(i) * 1000); time.sleep(0.1)
            (d / "done").touch()
        if not (d / "done").exists(): raise RuntimeError("Dataset not found or corrupted")
        self.parts = [p.read_text() for p in sorted(d.glob("part*"))]

(root / f"ready.{me}").touch()
while len(list(root.glob("ready.*"))) < 2: time.sleep(0.01)   # both start preparing together
print(json.dumps([p[:1] * len(p) == p and len(p) for p in _torchvision("slow", SlowDownload, root, True, "its files").parts]))
"""


def test_two_processes_prepare_a_dataset_once(tmp_path):
    "Two runs find the same dataset missing at once: one downloads it, the other waits and reads the finished files."
    procs = [subprocess.Popen([sys.executable, "-c", _PREPARE, str(tmp_path), str(k)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len((tmp_path / "downloads.txt").read_text().splitlines()) == 1, outs   # prepared once
    assert [json.loads(o) for o, _ in outs] == [[1000] * 5] * 2                   # both read every file whole


def test_dataset_lock_where_no_lock_file_can_be_made(tmp_path, monkeypatch):
    "A read-only data folder (nothing can be prepared there either): the dataset is read without a lock."
    import tempfile
    def unwritable(*a, **k): raise PermissionError(13, "Permission denied", k.get("dir"))
    monkeypatch.setattr(tempfile, "TemporaryFile", unwritable)   # the first file the lock makes (running as root, chmod is no test)
    with D.dataset_lock(tmp_path / "x") as folder: assert folder == tmp_path / "x"
    assert D._torchvision("ready", lambda root, download: root, tmp_path, True, "its files") == str(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_dataset_lock_is_removed_and_works_without_flock(tmp_path, monkeypatch, capsys):
    "The lock file is gone after the preparation, also when it failed; without flock a soft lock names its holder."
    import socket
    import adavipro.core as core
    for flock in (True, False):
        monkeypatch.setattr(core, "flock_supported", lambda folder: flock)
        with D.dataset_lock(tmp_path / "x"):
            assert (tmp_path / ".x.lock").exists()
            if not flock: assert core.lock_holder(tmp_path / ".x.lock") == f"pid {os.getpid()} on {socket.gethostname()}"
        assert not (tmp_path / ".x.lock").exists()
        with pytest.raises(RuntimeError, match="download failed"):
            with D.dataset_lock(tmp_path / "x"): raise RuntimeError("download failed")
        assert not (tmp_path / ".x.lock").exists()


# ---------------------------------------------------------------- torchvision and CoOp layouts (in miniature)

def test_cifar_missing_offline_fails_fast(tmp_path):
    with pytest.raises(ConfigError, match=r"cifar10 is not in .* download=False.*cifar-10-batches-py"):
        get_dataset("cifar10", data_root=tmp_path, download=False)
    if _online(): pytest.skip("online: would download CIFAR-10")
    t = time.time()
    with pytest.raises(ConfigError, match=r"could not be downloaded \(offline\?\).*cifar-10-batches-py.*imagefolder:<path>"):
        get_dataset("cifar10", data_root=tmp_path/"empty")
    assert time.time() - t < 10


@pytest.mark.parametrize("name, expect", [
    ("cifar100", "cifar-100-python"), ("dtd", "dtd/dtd/images"), ("food101", "food-101"), ("sun397", "SUN397"),
    ("flowers102", "flowers-102"), ("eurosat", "eurosat/2750"), ("oxford_pets", "oxford-iiit-pet")])
def test_torchvision_missing(tmp_path, name, expect):
    with pytest.raises(ConfigError) as e: get_dataset(name, data_root=tmp_path, download=False)
    assert expect in str(e.value) and "\n" not in str(e.value)


def test_eurosat_layout(tmp_path):
    for c in ("AnnualCrop", "SeaLake"):
        for i in range(10): _img(tmp_path/"eurosat"/"2750"/c/f"{c}_{i}.jpg", (64, 64), fmt="JPEG")
    ds = get_dataset("eurosat", data_root=tmp_path, image_size=32)
    assert ds.classes == ["annual crop land", "sea or lake"]
    assert (len(ds.train), len(ds.val), len(ds.test)) == (14, 2, 4)   # test: 20% held out with TEST_SEED
    assert isinstance(ds.train, FileImageDataset) and ds.train[0][0].shape == (3, 32, 32)
    assert get_dataset("eurosat", data_root=tmp_path, seed=5).test.samples == ds.test.samples


def test_dtd_layout(tmp_path):
    base = tmp_path/"dtd"/"dtd"
    lines = {s: [] for s in ("train", "val", "test")}
    for c in ("banded", "zig_zagged"):
        for i in range(6):
            _img(base/"images"/c/f"{c}_{i}.jpg", (80, 70), fmt="JPEG")
            lines[("train", "train", "val", "val", "test", "test")[i]].append(f"{c}/{c}_{i}.jpg")
    (base/"labels").mkdir()
    for s, ls in lines.items(): (base/"labels"/f"{s}1.txt").write_text("\n".join(ls) + "\n")
    ds = get_dataset("dtd", data_root=tmp_path, image_size=40, val_per_class=1)
    assert ds.classes == ["banded", "zig zagged"]
    assert (len(ds.train), len(ds.val), len(ds.test)) == (4, 2, 4)     # the official val split, capped
    assert ds.val[0][0].shape == (3, 40, 40)


def test_food101_layout(tmp_path):
    base = tmp_path/"food-101"
    meta = {"train": {}, "test": {}}
    for c in ("apple_pie", "baby_back_ribs"):
        for i in range(5):
            _img(base/"images"/c/f"{i}.jpg", (70, 90), fmt="JPEG")
            meta["train" if i < 4 else "test"].setdefault(c, []).append(f"{c}/{i}")
    (base/"meta").mkdir()
    for s, m in meta.items(): (base/"meta"/f"{s}.json").write_text(json.dumps(m))
    ds = get_dataset("food101", data_root=tmp_path, val_fraction=0.25)
    assert ds.classes == ["apple pie", "baby back ribs"]
    assert (len(ds.train), len(ds.val), len(ds.test)) == (6, 2, 2)


def test_oxford_pets_layout(tmp_path):
    base = tmp_path/"oxford-iiit-pet"
    rows = {"trainval": [], "test": []}
    for label, (breed, species) in enumerate((("Abyssinian", 1), ("american_bulldog", 2)), 1):
        for i in range(5):
            _img(base/"images"/f"{breed}_{i}.jpg", (60, 80), fmt="JPEG")
            rows["trainval" if i < 4 else "test"].append(f"{breed}_{i} {label} {species} 1")
    (base/"annotations").mkdir()
    for s, r in rows.items(): (base/"annotations"/f"{s}.txt").write_text("\n".join(r) + "\n")
    ds = get_dataset("oxford_pets", data_root=tmp_path, val_fraction=0.25, image_size=24)
    assert ds.classes == ["abyssinian", "american bulldog"]
    assert (len(ds.train), len(ds.val), len(ds.test)) == (6, 2, 2)
    assert ds.test[1][1] == 1 and ds.test[1][0].shape == (3, 24, 24)


def test_sun397_layout(tmp_path):
    base = tmp_path/"SUN397"
    base.mkdir()
    (base/"ClassName.txt").write_text("/a/abbey\n/a/apartment_building/outdoor\n")
    for rel in ("a/abbey", "a/apartment_building/outdoor"):
        for i in range(10): _img(base/rel/f"sun_{i}.jpg", (70, 70), fmt="JPEG")
    ds = get_dataset("sun397", data_root=tmp_path)
    assert ds.classes == ["abbey", "outdoor apartment building"]
    assert (len(ds.train), len(ds.val), len(ds.test)) == (14, 2, 4)


def _ucf(root, classes=("Apply_Eye_Makeup", "YoYo"), n=4):
    base = Path(root)/"ucf101"
    split = {"train": [], "val": [], "test": []}
    for label, c in enumerate(classes):
        for i in range(n):
            rel = f"{c}/v_{c}_g0{i}_c01.jpg"
            _img(base/"UCF-101-midframes"/rel, (80, 60), fmt="JPEG")
            split[("train", "train", "val", "test")[i % 4]].append([rel, label, c])
    (base/"split_zhou_UCF101.json").write_text(json.dumps(split))
    return base


def test_ucf101_layout(tmp_path):
    _ucf(tmp_path)
    ds = get_dataset("ucf101", data_root=tmp_path, image_size=32)
    assert ds.classes == ["apply eye makeup", "yo yo"]
    assert (len(ds.train), len(ds.val), len(ds.test)) == (4, 2, 2)
    x, y = ds.test[1]
    assert x.shape == (3, 32, 32) and y == 1


def test_ucf101_missing_and_malformed(tmp_path):
    with pytest.raises(ConfigError, match="split_zhou_UCF101.json.*UCF-101-midframes"):
        get_dataset("ucf101", data_root=tmp_path)
    base = _ucf(tmp_path)
    (base/"split_zhou_UCF101.json").write_text('{"train": []}')
    with pytest.raises(ConfigError, match="is not a CoOp split file"): get_dataset("ucf101", data_root=tmp_path)


def test_flowers_names():
    assert len(D.FLOWERS102_CLASSES) == 102
    assert D._readable(D.FLOWERS102_CLASSES[1]) == "hard leaved pocket orchid"


# ---------------------------------------------------------------- datasets and batches

def test_tensor_dataset_checks():
    with pytest.raises(ConfigError, match="uint8"): TensorImageDataset(torch.zeros(2, 3, 4, 4), [0, 1])
    with pytest.raises(ConfigError, match="uint8"): TensorImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), [0, 1])
    with pytest.raises(ConfigError, match="labels must have shape"): TensorImageDataset(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), [0])


def test_iterate_batches_subsets():
    images = torch.arange(10, dtype=torch.uint8)[:, None, None, None].expand(10, 3, 2, 2).contiguous()
    ds = TensorImageDataset(images, torch.arange(10))
    sub = Subset(Subset(ds, [9, 8, 7, 6, 5]), [0, 2, 4])
    (x, y), = list(iterate_batches(sub, 8))
    assert y.tolist() == [9, 7, 5] and x[:, 0, 0, 0].tolist() == [9, 7, 5]
    a = torch.cat([y for _, y in iterate_batches(sub, 2, shuffle=True, generator=torch.Generator().manual_seed(0))])
    b = torch.cat([y for _, y in iterate_batches(sub, 2, shuffle=True, generator=torch.Generator().manual_seed(0))])
    assert torch.equal(a, b) and sorted(a.tolist()) == [5, 7, 9]
    assert [len(y) for _, y in iterate_batches(ds, 4, drop_last=True)] == [4, 4]
    assert [len(y) for _, y in iterate_batches(ds, 4)] == [4, 4, 2]
    with pytest.raises(ConfigError, match="batch_size"): iterate_batches(ds, 0)          # at the call, not at next()
    with pytest.raises(ConfigError, match="num_workers"): iterate_batches(ds, 2, num_workers=-1)


def test_iterate_batches_dataloader_workers(tmp_path):
    root = _tree(tmp_path, size=(70, 70), n_train=4, n_test=2)
    ds = get_dataset(f"imagefolder:{root}", image_size=16, val_fraction=0.5)
    batches = list(iterate_batches(ds.train, 3, num_workers=2))
    assert [len(y) for _, y in batches] == [3, 1]
    assert batches[0][0].shape == (3, 3, 16, 16) and batches[0][0].dtype == torch.uint8
