"""Models: the MLP and ResNet18 classifiers ``f``, and the auxiliary contrastive model ``g``.

* Colored MNIST ``f``: DFA's MLP 2352-100-100-16-10 with ReLU (paper: "three-layer MLP").
* Corrupted CIFAR-10 / BFFHQ ``f``: torchvision's ResNet18, random init, a new 10- / 2-way fc.
* ``g`` = backbone + projection head (Linear-ReLU-Linear to 128) whose output is L2-normalised.
  Backbone: for Colored MNIST an MLP 2352-100-100-100 (our choice, so it trains on a CPU; the
  official code uses a CIFAR-stem ResNet18 for every dataset, available as ``resnet18_cifar``);
  for the others ResNet18.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Classifier(nn.Module):
    """A ``body`` and a linear ``fc``: ``features`` gives the body's output, ``forward`` the logits."""

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class MLP(Classifier):
    """Flatten, then Linear-ReLU layers; ``features`` gives the last hidden layer, ``fc`` the logits."""

    def __init__(self, in_dim: int = 3 * 28 * 28, hidden: tuple[int, ...] = (100, 100, 16), num_classes: int = 10):
        super().__init__()
        layers, d = [], in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        self.body = nn.Sequential(nn.Flatten(), *layers)
        self.feature_dim = d
        self.fc = nn.Linear(d, num_classes) if num_classes else nn.Identity()


class ResNet18(Classifier):
    """torchvision ResNet18 (random init) with ``features`` / ``fc`` split like :class:`MLP`.

    ``cifar_stem=True`` swaps the 7x7/stride-2 stem and max-pool for a 3x3/stride-1 conv, the
    variant the official SelecMix code uses for ``g`` (about 8x slower on 32x32 inputs).
    """

    def __init__(self, num_classes: int = 10, cifar_stem: bool = False):
        super().__init__()
        from torchvision.models import resnet18   # here: torchvision's import is slow, and MLP runs never need it

        net = resnet18(weights=None, num_classes=max(num_classes, 1))
        if cifar_stem:
            net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        self.feature_dim = net.fc.in_features
        self.fc = nn.Linear(self.feature_dim, num_classes) if num_classes else nn.Identity()
        net.fc = nn.Identity()
        self.body = net


def make_classifier(arch: str, num_classes: int = 10, hidden: tuple[int, ...] = (100, 100, 16)) -> Classifier:
    """The debiased model ``f`` (and the biased models of LfF / JTT): ``mlp`` (``hidden`` widths) or
    ``resnet18`` / ``resnet18_cifar``; ``num_classes = 0``: no fc (a backbone)."""
    if arch == "mlp":
        return MLP(hidden=hidden, num_classes=num_classes)
    if arch in ("resnet18", "resnet18_cifar"):
        return ResNet18(num_classes, cifar_stem=arch == "resnet18_cifar")
    raise ValueError(f"unknown architecture {arch!r}; choose 'mlp', 'resnet18' or 'resnet18_cifar'")


class ContrastiveModel(nn.Module):
    """The auxiliary model ``g``: backbone + projection head, L2-normalised 128-d output."""

    def __init__(self, arch: str = "mlp", out_dim: int = 128):
        super().__init__()
        self.backbone = make_classifier(arch, 0, hidden=(100, 100, 100))
        d = self.backbone.feature_dim
        self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.backbone.features(x)), dim=1)
