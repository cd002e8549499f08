"""`BiasedDataset`: images with a label y and a bias label b, held in memory as tensors.

Every source (Colored MNIST, Corrupted CIFAR-10, the DFA release folders) ends up here, so the
rest of the package never needs to know where the pixels came from. A sample is *bias-aligned*
when its bias attribute is the one the dataset correlates with its label (we number bias values
so that this means ``b == y``), and *bias-conflicting* otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class BiasedDataset:
    """One split: uint8 images (N, C, H, W), labels ``y``, bias labels ``b``.

    ``y_clean`` keeps the original labels when label noise replaced some of ``y`` (Fig. 3).
    """

    images: torch.Tensor
    y: torch.Tensor
    b: torch.Tensor
    name: str = ""
    split: str = ""
    num_classes: int = 10
    class_names: list[str] = field(default_factory=list)
    bias_names: list[str] = field(default_factory=list)
    y_clean: torch.Tensor | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"{self.name}/{self.split}: images must be a uint8 tensor (N, C, H, W), "
                             f"got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.y) != n or len(self.b) != n:
            raise ValueError(f"{self.name}/{self.split}: {n} images but {len(self.y)} labels "
                             f"and {len(self.b)} bias labels")
        self.y = self.y.long()
        self.b = self.b.long()
        if self.y_clean is None:
            self.y_clean = self.y.clone()

    def __len__(self) -> int:
        return len(self.images)

    @property
    def aligned(self) -> torch.Tensor:
        """Boolean mask of bias-aligned samples (bias attribute matches the true label)."""
        return self.b == self.y_clean

    @property
    def conflicting(self) -> torch.Tensor:
        return ~self.aligned

    def group_counts(self) -> torch.Tensor:
        """Counts per (label, bias) group: a ``num_classes x num_bias`` matrix."""
        num_bias = max(self.num_classes, int(self.b.max()) + 1 if len(self) else 0)
        flat = self.y_clean * num_bias + self.b
        return torch.bincount(flat, minlength=self.num_classes * num_bias).view(self.num_classes, num_bias)

    def summary(self) -> dict[str, int]:
        """``{"size", "aligned", "conflicting"}``: the per-split numbers the CLI prints."""
        aligned = int(self.aligned.sum())
        return {"size": len(self), "aligned": aligned, "conflicting": len(self) - aligned}

    def subset(self, idx: torch.Tensor) -> "BiasedDataset":
        return BiasedDataset(self.images[idx], self.y[idx], self.b[idx], self.name, self.split,
                             self.num_classes, self.class_names, self.bias_names, self.y_clean[idx])


@dataclass
class BiasedSplits:
    """The train / valid / test splits of one biased dataset, plus how it was built."""

    train: BiasedDataset
    valid: BiasedDataset
    test: BiasedDataset
    meta: dict[str, Any] = field(default_factory=dict)

    def __iter__(self):
        return iter((("train", self.train), ("valid", self.valid), ("test", self.test)))

    def summary(self) -> dict[str, Any]:
        """Per-split size / aligned / conflicting counts and the sha256 of the training images."""
        return {"splits": {name: ds.summary() for name, ds in self},
                "sha256": self.meta.get("sha256", "")}


# --------------------------------------------------------------------------- shared helpers
def stratified_split(labels: torch.Tensor, fraction: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices into (rest, held_out) with ``round(fraction * n_c)`` of each class held out."""
    rest, held = [], []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        k = int(round(fraction * len(idx)))
        held.append(idx[:k])
        rest.append(idx[k:])
    return torch.sort(torch.cat(rest)).values, torch.sort(torch.cat(held)).values


def stratified_subset(labels: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """About ``size`` indices, the same share of every class (sorted)."""
    if size >= len(labels):
        return torch.arange(len(labels))
    _, held = stratified_split(labels, size / len(labels), gen)
    return held


def assign_bias_labels(labels: torch.Tensor, aligned_ratio: float, num_bias: int,
                       gen: torch.Generator) -> torch.Tensor:
    """LfF's within-class bias assignment.

    In class c, a share ``aligned_ratio`` of the samples gets bias value c and the rest is spread
    evenly over the other ``num_bias - 1`` values. As in LfF's ``make_attr_labels``, the counts
    are the rounded differences of cumulative milestones ``round(n_c * cumsum(ratios))``; which
    samples get which value is decided by a seeded permutation within the class.
    """
    num_classes = int(labels.max()) + 1
    b = torch.empty_like(labels)
    eye = torch.eye(num_classes, num_bias, dtype=torch.float64)
    ratios = aligned_ratio * eye + (1 - aligned_ratio) / (num_bias - 1) * (1 - eye)
    for c in range(num_classes):
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        milestones = torch.round(len(idx) * torch.cumsum(ratios[c], 0))
        positions = torch.arange(len(idx), dtype=torch.float64)
        b[idx] = torch.searchsorted(milestones, positions, right=True).clamp_max(num_bias - 1)
    return b


def add_label_noise(labels: torch.Tensor, fraction: float, num_classes: int,
                    gen: torch.Generator) -> torch.Tensor:
    """Replace the labels of ``round(fraction * N)`` random samples by a different random class."""
    noisy = labels.clone()
    k = int(round(fraction * len(labels)))
    if k == 0:
        return noisy
    idx = torch.randperm(len(labels), generator=gen)[:k]
    shift = torch.randint(1, num_classes, (k,), generator=gen)
    noisy[idx] = (labels[idx] + shift) % num_classes
    return noisy
