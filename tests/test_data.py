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
    ds = get_dataset(f"imagefolder:{tmp_path}", image_size=32, data_cache="off")   # large images: nothing decoded yet
    assert isinstance(ds.test, FileImageDataset)
    with pytest.raises(ConfigError, match=f"cannot read image {bad}"): list(iterate_batches(ds.test, 8))
    with pytest.raises(ConfigError) as e: get_dataset(f"imagefolder:{tmp_path}", image_size=32)   # decoded once: now
    assert f"cannot read image {bad}" in str(e.value) and "\n" not in str(e.value)


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


@pytest.mark.parametrize("cache", ["off", "auto"])
def test_imagefolder_large_images(tmp_path, cache):
    root = _tree(tmp_path, size=(90, 60))
    _img(root/"train"/"a"/"0.png", (30, 30))                    # a small first image does not force memory
    ds = get_dataset(f"imagefolder:{root}", image_size=48, data_cache=cache)
    kind = FileImageDataset if cache == "off" else D.CachedImageDataset
    assert all(isinstance(s, kind) for s in (ds.train, ds.val, ds.test))
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
    assert isinstance(ds.train, D.CachedImageDataset) and ds.train[0][0].shape == (3, 32, 32)
    assert get_dataset("eurosat", data_root=tmp_path, seed=5, data_cache="off").test.samples == \
           get_dataset("eurosat", data_root=tmp_path, data_cache="off").test.samples


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
    ds = get_dataset(f"imagefolder:{root}", image_size=16, val_fraction=0.5, data_cache="off")
    batches = list(iterate_batches(ds.train, 3, num_workers=2))
    assert [len(y) for _, y in batches] == [3, 1]
    assert batches[0][0].shape == (3, 3, 16, 16) and batches[0][0].dtype == torch.uint8


# ---------------------------------------------------------------- decode once: the cache of large images

def _photos(root, n_train=5, n_test=2, size=(90, 70), seed=0):
    "A tree of noisy JPEGs larger than SMALL_IMAGE_MAX (so they are read from files), two classes."
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        for c in ("a", "b"):
            (Path(root)/split/c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(Path(root)/split/c/f"{i}.jpg")
    return Path(root)


def _get(root, **kw):
    "get_dataset of the image folder `root`, a fifth of train carved as val."
    return get_dataset(f"imagefolder:{root}", **{"val_fraction": 0.2, **kw})


def _items(ds):
    return torch.stack([ds[i][0] for i in range(len(ds))]), torch.tensor([ds[i][1] for i in range(len(ds))])


def _same(a, b):
    "Two DatasetSplits hold the same images and labels in every split."
    return all(all(torch.equal(u, v) for u, v in zip(_items(getattr(a, k)), _items(getattr(b, k)))) for k in ("train", "val", "test"))


def test_cache_hit_returns_what_direct_decoding_gives(tmp_path, capsys):
    root, cache = _photos(tmp_path/"tree"), tmp_path/"cache"
    off = _get(root, image_size=32, data_cache="off")
    built = _get(root, image_size=32, data_cache=str(cache))
    err = capsys.readouterr().err
    assert "decoded 14 images of imagefolder:" in err and "MiB on disk) in" in err, err        # the one line with the size
    hit = _get(root, image_size=32, data_cache=str(cache))
    assert capsys.readouterr().err == ""                                                         # mapped, nothing decoded
    assert isinstance(off.train, FileImageDataset) and isinstance(hit.train, D.CachedImageDataset)
    assert _same(off, built) and _same(off, hit)
    assert "uint8 decoded once, mapped from" in repr(hit) and str(cache) in repr(hit)
    npy = hit.train.cache_file
    assert npy.stat().st_size == np.load(npy, mmap_mode="r").nbytes + 128 and (npy.with_suffix(".json")).is_file()
    assert sorted(p.name for p in cache.iterdir() if p.name.startswith(".") and p.suffix != ".lock") == []   # no temp left
    other = _get(root, image_size=24, data_cache=str(cache))              # another size: its own cache
    assert other.train.images.shape[-1] == 24 and len(list(cache.glob("*.npy"))) == 2


def test_cache_auto_is_under_data_root_and_placement_and_ucf_use_it(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "DATA_CACHE_FOLDER", "decoded")
    root = _photos(tmp_path/"tree")
    ds = _get(root, data_root=tmp_path/"data", image_size=32)
    assert ds.val.cache_file.parent == tmp_path/"data"/"decoded"
    pl = get_dataset(f"placement:imagefolder:{root}", data_root=tmp_path/"data", image_size=28, val_fraction=0.2)
    assert pl.train.images.shape[1:] == (4, 28, 28)
    assert len(list((tmp_path/"data"/"decoded").glob("*-12px-*.npy"))) == 1       # objects decoded once at round(3/7·28)


def test_cache_rebuilt_when_the_files_change(tmp_path, capsys):
    root, cache = _photos(tmp_path/"tree"), str(tmp_path/"cache")
    _get(root, image_size=32, data_cache=cache)
    f = root/"test"/"b"/"1.jpg"
    Image.new("RGB", (80, 80), (9, 99, 199)).save(f)                    # same name, new content
    capsys.readouterr()
    ds = _get(root, image_size=32, data_cache=cache)
    assert "was built from other files, or files changed since: decoding again" in capsys.readouterr().err
    assert _same(ds, _get(root, image_size=32, data_cache="off"))
    assert any((ds.test[i][0].int() - torch.tensor([9, 99, 199])[:, None, None]).abs().max() <= 3 for i in range(len(ds.test)))
    _photos(tmp_path/"tree", n_train=6, seed=1)                         # a changed file list: a new cache
    more = _get(root, image_size=32, data_cache=cache)
    assert len(more.train) + len(more.val) == 12 and len(list(Path(cache).glob("*.npy"))) == 2
    assert _same(more, _get(root, image_size=32, data_cache="off"))


@pytest.mark.parametrize("damage", ["truncate", "flip", "json", "no-json", "shape"])
def test_damaged_cache_is_decoded_again(tmp_path, capsys, damage):
    root, cache = _photos(tmp_path/"tree"), str(tmp_path/"cache")
    good = _get(root, image_size=32, data_cache=cache)
    npy = good.train.cache_file; meta = npy.with_suffix(".json")
    del good
    if damage == "truncate":
        with open(npy, "r+b") as f: f.truncate(npy.stat().st_size - 100)
    elif damage == "flip":
        with open(npy, "r+b") as f: f.seek(npy.stat().st_size // 2); b = f.read(1); f.seek(-1, 1); f.write(bytes([b[0] ^ 1]))
    elif damage == "json": meta.write_text("{ not json")
    elif damage == "no-json": meta.unlink()
    else: np.save(npy, np.zeros((14, 3, 16, 16), np.uint8))
    capsys.readouterr()
    ds = _get(root, image_size=32, data_cache=cache)
    err = capsys.readouterr().err
    why = dict(truncate="is truncated or damaged", flip="checksum does not match", json="has no readable description",
               shape="holds uint8 (14, 3, 16, 16), not uint8 (14, 3, 32, 32)")
    assert why.get(damage, "has no readable description") in err and "decoding again" in err, err
    assert _same(ds, _get(root, image_size=32, data_cache="off"))


def test_cache_folder_not_writable_is_one_line(tmp_path, monkeypatch):
    from adavipro.training import TrainConfig, validate_config
    monkeypatch.setattr(D, "DATA_CACHE_FOLDER", "decoded")
    root = _photos(tmp_path/"tree")
    (tmp_path/"file").write_text("not a folder")
    for bad in (str(tmp_path/"file"/"cache"), "/dev/null/cache"):
        with pytest.raises(ConfigError) as e: _get(root, image_size=32, data_cache=bad)
        assert "is not a folder; point it at a writable folder, or 'off'" in str(e.value) and "\n" not in str(e.value)
        with pytest.raises(ConfigError) as e: validate_config(TrainConfig(data_cache=bad))
        assert str(e.value).startswith(f"data_cache={bad!r}: ") and "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="data_cache=3 must be 'auto'"): get_dataset("digits", data_cache=3)
    with pytest.raises(ConfigError, match="data_cache=None must be"): validate_config(TrainConfig(data_cache=None))
    with pytest.raises(ConfigError) as e:                               # 'auto' under a data_root that is a file
        _get(root, image_size=32, data_root=tmp_path/"file", data_cache="auto")
    assert "cannot cache the decoded images of imagefolder:" in str(e.value) and "\n" not in str(e.value)
    assert validate_config(TrainConfig(data_cache=str(tmp_path/"new"))).data_cache == str(tmp_path/"new")
    assert not (tmp_path/"new").exists()                                # validation creates nothing


def test_cache_off_is_the_old_path(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "DATA_CACHE_FOLDER", "decoded")
    root = _photos(tmp_path/"tree")
    ds = _get(root, data_root=tmp_path/"data", image_size=32, data_cache="off")
    assert all(type(s) is FileImageDataset for s in (ds.train, ds.val, ds.test))
    assert not (tmp_path/"data").exists()
    assert "files read as 3×32×32 uint8" in repr(ds)


def test_cache_no_room_is_one_line(tmp_path, monkeypatch):
    root = _photos(tmp_path/"tree")
    monkeypatch.setattr(D.shutil, "disk_usage", lambda p: type("U", (), dict(free=1000))())
    with pytest.raises(ConfigError, match=r"need 42.0 KiB|need .* MiB in .* which has 0.0 MiB free: set data_cache to a folder on a larger disk"):
        _get(root, image_size=32, data_cache=str(tmp_path/"c"))
    assert list((tmp_path/"c").glob("*.npy")) == []


def test_interrupted_build_leaves_nothing_under_the_final_name(tmp_path, monkeypatch):
    root, cache = _photos(tmp_path/"tree"), tmp_path/"cache"
    calls, real = [], D.load_image
    def flaky(path, size=None):
        if len(calls) == 6: raise KeyboardInterrupt
        calls.append(path); return real(path, size)
    monkeypatch.setattr(D, "load_image", flaky)                        # 14 images: decoded in this process
    with pytest.raises(KeyboardInterrupt): _get(root, image_size=32, data_cache=str(cache))
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []    # no cache, no temp file
    monkeypatch.setattr(D, "load_image", real)
    ds = _get(root, image_size=32, data_cache=str(cache))
    assert _same(ds, _get(root, image_size=32, data_cache="off"))


_BUILD = r"""
import sys, time
from adavipro import data as D
real = D.load_image
def slow(path, size=None): time.sleep(float(sys.argv[3])); return real(path, size)
D.load_image = slow
ds = D.get_dataset("imagefolder:" + sys.argv[1], image_size=32, data_cache=sys.argv[2], val_fraction=0.2)
print(int(ds.train.images.sum()) + int(ds.val.images.sum()) + int(ds.test.images.sum()))
"""


def test_killed_build_then_a_clean_one(tmp_path):
    "A build killed outright leaves its temp file (never a file under the final name); the next build removes it."
    import signal
    root, cache = _photos(tmp_path/"tree"), tmp_path/"cache"
    p = subprocess.Popen([sys.executable, "-c", _BUILD, str(root), str(cache), "0.5"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    t = time.time()
    while not list(cache.glob(".*.npy.*.tmp")) and time.time() - t < 120 and p.poll() is None: time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.communicate(timeout=60)
    assert list(cache.glob(".*.npy.*.tmp")) and not list(cache.glob("*.npy"))
    ds = _get(root, image_size=32, data_cache=str(cache))
    assert not list(cache.glob(".*.tmp")) and len(list(cache.glob("*.npy"))) == 1
    assert _same(ds, _get(root, image_size=32, data_cache="off"))


def test_two_processes_build_the_cache_once(tmp_path):
    root, cache = _photos(tmp_path/"tree"), tmp_path/"cache"
    procs = [subprocess.Popen([sys.executable, "-c", _BUILD, str(root), str(cache), "0.05"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sum(e.count("decoded 14 images") for _, e in outs) == 1, outs          # built once, mapped by the other
    assert outs[0][0] == outs[1][0]


def test_progress_is_bounded_without_a_terminal(tmp_path, capsys):
    paths = [str(p) for p in sorted(_photos(tmp_path/"tree", n_train=30, n_test=1, size=(70, 66)).rglob("*.jpg"))]
    D.decode_cached(paths, 16, tmp_path/"c", "many", num_workers=0, chunk=2)
    err = capsys.readouterr().err
    assert 1 <= err.count("decoding many at 16 px (once)") <= 12 and "62/62" in err, err


def test_cache_build_with_worker_processes(tmp_path):
    paths = [str(p) for p in sorted(_photos(tmp_path/"tree", n_train=12, n_test=1).rglob("*.jpg"))]
    x = D.decode_cached(paths, 20, tmp_path/"c", "w", num_workers=2, chunk=4)
    assert torch.equal(x, torch.stack([D.load_image(p, 20) for p in paths]))


# ---------------------------------------------------------------- shards of a global batch

@pytest.mark.parametrize("kind", ["memory", "cached", "files", "files-workers"])
def test_shards_make_up_the_global_batch(tmp_path, kind):
    root = _photos(tmp_path/"tree", n_train=6, n_test=1)
    ds = _get(root, image_size=16, data_cache="off" if kind.startswith("files") else str(tmp_path/"c"))
    split = ds.train if kind != "memory" else TensorImageDataset(torch.stack([ds.train[i][0] for i in range(len(ds.train))]), ds.train.labels)
    workers = 2 if kind == "files-workers" else 0
    for world in (2, 3):
        for kw in (dict(shuffle=True), dict(), dict(shuffle=True, drop_last=True)):
            whole = list(iterate_batches(split, 4, generator=torch.Generator().manual_seed(5), num_workers=workers, **kw))
            shards = [list(iterate_batches(split, 4, generator=torch.Generator().manual_seed(5), num_workers=workers,
                                           shard=(r, world), **kw)) for r in range(world)]
            assert all(len(s) == len(whole) for s in shards)
            for b, (x, y) in enumerate(whole):
                for r in range(world):                                  # rank r holds items r, r+world, … of the batch
                    assert torch.equal(shards[r][b][0], x[r::world]) and torch.equal(shards[r][b][1], y[r::world])


def test_a_shard_decodes_only_its_share(tmp_path, monkeypatch):
    root = _photos(tmp_path/"tree", n_train=6, n_test=1)
    ds = _get(root, image_size=16, data_cache="off")
    opened, real = [], D.load_image
    monkeypatch.setattr(D, "load_image", lambda p, s=None: opened.append(p) or real(p, s))
    n = sum(len(y) for _, y in iterate_batches(ds.train, 4, shuffle=True, shard=(1, 2)))
    assert n == len(opened) == len(ds.train) // 2


def test_bad_shard():
    ds = TensorImageDataset(torch.zeros(4, 3, 2, 2, dtype=torch.uint8), [0, 1, 0, 1])
    for bad in [(2, 2), (-1, 2), (0, 0), 2, (0, 1, 2), (0.0, 2)]:
        with pytest.raises(ConfigError, match="must be \\(rank, world\\) with 0 <= rank < world"): iterate_batches(ds, 2, shard=bad)
    assert [len(y) for _, y in iterate_batches(ds, 3, shard=(0, 1))] == [3, 1]
