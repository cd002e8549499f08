"""Corrupted CIFAR-10 (LfF / DFA): the bias of a CIFAR-10 image is the corruption applied to it.

Class c is correlated with corruption ``CORRUPTIONS[c]`` (the paper's ten, alphabetical: class 0
airplane -- brightness, ..., class 9 truck -- saturate). Split rules are those of Colored MNIST:
a share ``1 - alpha`` of each class is bias-aligned in train and valid, the rest spread over the
nine other corruptions; the test split (CIFAR-10's test set) is unbiased (``r = 0.1``).
Corruptions use the CIFAR-10-C parameters at level 5 (see :mod:`selecmix.data.corruptions`).
"""
from __future__ import annotations

import numpy as np
import torch

from ..config import data_root as resolve_root
from . import sources
from .cache import cached
from .corruptions import CORRUPTIONS, corrupt
from .dataset import BiasedDataset, BiasedSplits, add_label_noise, assign_bias_labels, stratified_split, stratified_subset


def corrupt_by_bias(images: torch.Tensor, bias: torch.Tensor, severity: int, seed: int) -> torch.Tensor:
    """Apply corruption ``CORRUPTIONS[b]`` to each (N, 32, 32, 3) image; return (N, 3, 32, 32) uint8."""
    out = torch.empty_like(images)
    for k, name in enumerate(CORRUPTIONS):
        idx = torch.nonzero(bias == k).flatten()
        if len(idx):
            rng = np.random.default_rng([seed, k])
            out[idx] = torch.from_numpy(corrupt(images[idx].numpy(), name, severity, rng))
    return out.permute(0, 3, 1, 2).contiguous()


def build_corrupted_cifar10(ratio: float, data_root=None, seed: int = 0, severity: int = 5,
                            valid_fraction: float = 0.1, train_size: int | None = None,
                            test_size: int | None = None, label_noise: float = 0.0,
                            use_cache: bool = True) -> BiasedSplits:
    """Corrupted CIFAR-10 with bias-conflicting ratio ``ratio`` (percent), deterministic in its arguments.

    ``train_size`` / ``test_size`` keep class-stratified subsets (for CPU-sized studies).
    """
    if not 0 < ratio < 100:
        raise ValueError(f"ratio {ratio} is out of range: give the bias-conflicting ratio in percent, 0 < ratio < 100")
    root = resolve_root(data_root)
    params = dict(dataset="cifar10c", ratio=float(ratio), seed=seed, severity=severity, root=str(root),
                  valid_fraction=valid_fraction, train_size=train_size, test_size=test_size,
                  label_noise=float(label_noise))

    def build() -> BiasedSplits:
        gen = torch.Generator().manual_seed(seed)
        pool_x, pool_y = sources.cifar10(root, train=True)
        test_x, test_y = sources.cifar10(root, train=False)
        train_idx, valid_idx = stratified_split(pool_y, valid_fraction, gen)
        if train_size is not None:
            train_idx = train_idx[stratified_subset(pool_y[train_idx], train_size, gen)]
            valid_idx = valid_idx[stratified_subset(pool_y[valid_idx], max(train_size // 9, 10), gen)]
        if test_size is not None:
            keep = stratified_subset(test_y, test_size, gen)
            test_x, test_y = test_x[keep], test_y[keep]
        parts = {}
        for i, (split, x, y, r) in enumerate((("train", pool_x[train_idx], pool_y[train_idx], 1 - ratio / 100),
                                              ("valid", pool_x[valid_idx], pool_y[valid_idx], 1 - ratio / 100),
                                              ("test", test_x, test_y, 0.1))):
            b = assign_bias_labels(y, r, len(CORRUPTIONS), gen)
            noisy = add_label_noise(y, label_noise / 100, 10, gen) if split == "train" else y
            images = corrupt_by_bias(x, b, severity, seed * 10 + i)
            parts[split] = BiasedDataset(images, noisy, b, "cifar10c", split, 10, list(sources.CIFAR10_CLASSES),
                                         list(CORRUPTIONS), y_clean=y)
        return BiasedSplits(meta={"dataset": "cifar10c", "ratio": ratio, "source": "cifar10"}, **parts)

    return cached(params, build, use_cache)
