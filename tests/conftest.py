"""Shared fixtures: real data from $SELECMIX_DATA when present, the embedded MNIST sample otherwise."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch


def shared_data() -> Path | None:
    """The folder with real MNIST / CIFAR-10 (CI points SELECMIX_DATA at ../shared/data)."""
    root = os.environ.get("SELECMIX_DATA")
    return Path(root) if root and Path(root).is_dir() else None


def has_mnist() -> bool:
    root = shared_data()
    return root is not None and (root / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()


def has_cifar() -> bool:
    root = shared_data()
    return root is not None and ((root / "cifar10" / "train").is_dir() or (root / "cifar-10-batches-py").is_dir())


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    """Built datasets go to a per-session temporary cache (tests never touch data/cache)."""
    old = os.environ.get("SELECMIX_CACHE")
    os.environ["SELECMIX_CACHE"] = str(tmp_path_factory.mktemp("selecmix-cache"))
    torch.set_num_threads(min(2, torch.get_num_threads()))
    yield
    if old is None:
        os.environ.pop("SELECMIX_CACHE", None)
    else:
        os.environ["SELECMIX_CACHE"] = old


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module (``pytestmark = pytest.mark.usefixtures("one_thread")``): tiny
    models run fastest on one thread and do not stall when other jobs share the CPU."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def cmnist_embedded():
    """Colored MNIST at 1 % from the embedded 5,000-digit sample."""
    from selecmix.data import load_splits

    return load_splits("cmnist", 1.0, source="embedded")


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory) -> Path:
    """A CIFAR-10 folder: the real one when present, else a small folder of synthetic JPEGs in the
    same class-subfolder layout (so the builder's logic is tested everywhere)."""
    if has_cifar():
        return shared_data()
    import numpy as np
    from PIL import Image

    from selecmix.data.sources import CIFAR10_CLASSES

    root = tmp_path_factory.mktemp("cifar")
    rng = np.random.default_rng(0)
    for split, n in (("train", 60), ("test", 20)):
        for c, name in enumerate(CIFAR10_CLASSES):
            folder = root / "cifar10" / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                yy, xx = np.mgrid[0:32, 0:32]
                img = np.stack([(xx * 8 + c * 20) % 256, (yy * 8) % 256, rng.integers(0, 256, (32, 32))], -1)
                Image.fromarray(img.astype(np.uint8)).save(folder / f"{i:04d}.jpg")
    return root
