import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_CIFAR = ROOT.parent / "shared" / "data" / "cifar10" / "cifar10-jpeg.tar.gz"

@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    "Tests never reach a model hub: fail fast instead of waiting on the network."
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def clip():
    "An open_clip ViT-B-32 with random weights (no CLIP weights are reachable offline); one per test module."
    from adavipro.backbones import create_backbone
    return create_backbone("clip:ViT-B-32:random")


@pytest.fixture(autouse=True)
def _decoded_images_in_tmp(monkeypatch, tmp_path_factory):
    "data_cache='auto' caches decoded images in the session's temporary folder, not in the checkout's data/."
    monkeypatch.setattr("adavipro.data.DATA_CACHE_FOLDER", str(tmp_path_factory.getbasetemp() / "decoded"))
