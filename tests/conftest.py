import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_CIFAR = ROOT.parent / "shared" / "data" / "cifar10" / "cifar10-jpeg.tar.gz"

@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    "Tests never reach a model hub: fail fast instead of waiting on the network."
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
