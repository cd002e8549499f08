"""The DFA release folders (Lee et al., 2021): the paper's exact Colored MNIST, Corrupted
CIFAR-10 and BFFHQ data, for users who download them.

Layout (``root`` is the folder holding ``cmnist/``, ``cifar10c/`` or ``bffhq/``)::

    cmnist/{0.5,1,2,5}pct/{align,conflict}/<class>/*.png    training split
    cmnist/{pct}pct/valid/...                                validation split
    cmnist/test/<class>/*.png                                test split
    bffhq/0.5pct/{align,conflict}/<class>/*, bffhq/valid/*, bffhq/test/*

Every file name ends in ``_<label>_<bias>.<ext>``; labels are read from the names, not the
folders. BFFHQ (label age, bias gender) is reported on its bias-conflicting test samples, as in
DFA and the paper: its test split keeps only those.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch

from ..config import data_root as resolve_root
from . import sources
from .cache import cached
from .dataset import BiasedDataset, BiasedSplits, add_label_noise

NAME_PATTERN = re.compile(r"_(\d+)_(\d+)\.(png|jpg|jpeg|bmp)$", re.IGNORECASE)
DFA_DATASETS = {"cmnist": 10, "cifar10c": 10, "bffhq": 2}


def parse_name(path: Path) -> tuple[int, int]:
    """(label, bias) from a DFA file name such as ``12345_3_7.png``; a clear error otherwise."""
    match = NAME_PATTERN.search(Path(path).name)
    if match is None:
        raise ValueError(f"malformed DFA file name {path}: expected '<id>_<label>_<bias>.<png|jpg>' "
                         "(e.g. 00012_3_7.png). Fix: remove the file or restore the name from the release")
    return int(match.group(1)), int(match.group(2))


def pct_folder(ratio: float) -> str:
    """``0.5`` -> ``0.5pct``, ``1`` -> ``1pct`` (the release's folder names)."""
    return f"{ratio:g}pct"


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in sources.IMAGE_SUFFIXES)


def split_folders(root: Path, dataset: str, ratio: float) -> dict[str, list[Path]]:
    """The folders of each split, checked to exist; a clear error names what is missing."""
    base = Path(root) / dataset
    pct = base / pct_folder(ratio)
    valid = pct / "valid" if (pct / "valid").is_dir() else base / "valid"
    folders = {"train": [pct / "align", pct / "conflict"], "valid": [valid], "test": [base / "test"]}
    missing = [str(f) for fs in folders.values() for f in fs if not f.is_dir()]
    if missing:
        raise sources.DataNotFoundError(
            f"DFA release folder for {dataset} at {ratio}% is incomplete under {base}: missing {missing}. "
            "Fix: download the release from the DFA repository (kakaoenterprise/Learning-Debiased-Disentangled) "
            "and point SELECMIX_DATA / --data-root at the folder that contains "
            f"'{dataset}/' (ratios: {pct_folder(ratio)}, test/, valid/)")
    return folders


def read_split(folders: list[Path], dataset: str, split: str, num_classes: int | None = None) -> BiasedDataset:
    """Every image under ``folders`` (searched recursively, in sorted order) with its label and bias
    label from its name (all names are parsed before any pixel is read). ``num_classes``: default
    the DFA dataset's, for other names the largest label + 1."""
    files = sorted(p for f in folders for p in _files(Path(f)))
    if not files:
        raise sources.DataNotFoundError(f"no images in {[str(f) for f in folders]} ({dataset} {split})")
    labels = [parse_name(p) for p in files]   # parse all names before reading any pixels
    images = [sources.read_image(p) for p in files]
    shapes = {tuple(im.shape) for im in images}
    if len(shapes) > 1:
        raise ValueError(f"{dataset} {split}: images of different sizes {sorted(shapes)[:3]}; "
                         "the release has one size per dataset -- re-extract it")
    y = torch.tensor([lab for lab, _ in labels])
    b = torch.tensor([bias for _, bias in labels])
    n = num_classes or DFA_DATASETS.get(dataset) or int(y.max()) + 1
    return BiasedDataset(torch.stack(images).permute(0, 3, 1, 2).contiguous(), y, b, dataset, split, n,
                         [str(c) for c in range(n)], [str(c) for c in range(n)])


def load_dfa(dataset: str, ratio: float, data_root=None, label_noise: float = 0.0, seed: int = 0,
             use_cache: bool = True) -> BiasedSplits:
    """Load one DFA release dataset at ``ratio`` percent (BFFHQ exists at 0.5 only)."""
    if dataset not in DFA_DATASETS:
        raise ValueError(f"unknown DFA dataset {dataset!r}; choose one of {tuple(DFA_DATASETS)}")
    root = resolve_root(data_root)
    folders = split_folders(root, dataset, ratio)
    listing = hashlib.sha256("\n".join(f"{p.relative_to(root)}:{p.stat().st_size}" for fs in folders.values()
                                       for f in fs for p in _files(f)).encode()).hexdigest()
    params = dict(dataset=f"dfa-{dataset}", ratio=float(ratio), root=str(root), listing=listing,
                  label_noise=float(label_noise), seed=seed)

    def build() -> BiasedSplits:
        parts = {split: read_split(fs, dataset, split) for split, fs in folders.items()}
        if dataset == "bffhq":
            parts["test"] = parts["test"].subset(torch.nonzero(parts["test"].conflicting).flatten())
        if label_noise:
            train = parts["train"]
            train.y = add_label_noise(train.y_clean, label_noise / 100, train.num_classes,
                                      torch.Generator().manual_seed(seed))
        return BiasedSplits(meta={"dataset": dataset, "ratio": ratio, "source": "dfa"}, **parts)

    return cached(params, build, use_cache)
