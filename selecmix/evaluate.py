"""Evaluation: accuracy by group, similarity curves (Fig. 2), active units of an MLP.

*Unbiased* accuracy is the accuracy on a split whose bias attributes are uniform (the test split
of Colored MNIST and Corrupted CIFAR-10); *bias-aligned* and *bias-conflicting* accuracies are
measured on the two groups separately. All accuracies are in percent.
"""
from __future__ import annotations

from typing import Callable

import torch

from .data import BiasedDataset, InputPipeline
from .models import MLP


@torch.no_grad()
def predictions(logits_fn: Callable[[torch.Tensor], torch.Tensor], ds: BiasedDataset, pipeline: InputPipeline,
                device="cpu", batch_size: int = 2048, inputs: torch.Tensor | None = None) -> torch.Tensor:
    """Predicted labels of a model (``logits_fn`` on f-inputs) for every sample of ``ds``.
    ``inputs``: ``pipeline.f_eval(ds.images)`` computed beforehand (saves converting them again)."""
    preds = []
    for start in range(0, len(ds), batch_size):
        x = (inputs[start:start + batch_size] if inputs is not None
             else pipeline.f_eval(ds.images[start:start + batch_size], device))
        preds.append(logits_fn(x).argmax(1).cpu())
    return torch.cat(preds) if preds else torch.empty(0, dtype=torch.long)


def group_accuracy(pred: torch.Tensor, ds: BiasedDataset) -> dict[str, float]:
    """``{"unbiased", "aligned", "conflicting"}`` accuracies (percent) of predictions on ``ds``
    against its true labels; NaN for a group with no sample."""
    correct = (pred == ds.y_clean).float()

    def mean(mask: torch.Tensor) -> float:
        return 100 * float(correct[mask].mean()) if mask.any() else float("nan")

    return {"unbiased": mean(torch.ones_like(correct, dtype=torch.bool)),
            "aligned": mean(ds.aligned), "conflicting": mean(ds.conflicting)}


def evaluate(logits_fn, ds: BiasedDataset, pipeline: InputPipeline, device="cpu",
             inputs: torch.Tensor | None = None) -> dict[str, float]:
    """Group accuracies of a model on one split (``inputs``: as in :func:`predictions`)."""
    return group_accuracy(predictions(logits_fn, ds, pipeline, device, inputs=inputs), ds)


def _same_key_pair_sum(z: torch.Tensor, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of ``z_i . z_j`` over the ordered pairs (i, j) -- self-pairs included -- with equal
    ``key``, and their number: ``sum_k |sum_{i: key_i = k} z_i|^2`` and ``sum_k n_k^2``."""
    groups = int(key.max()) + 1
    sums = torch.zeros(groups, z.shape[1], dtype=torch.float64, device=z.device).index_add_(0, key, z)
    counts = torch.bincount(key, minlength=groups).double()
    return (sums * sums).sum(), (counts * counts).sum()


@torch.no_grad()
def similarity_groups(z: torch.Tensor, y: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """Mean cosine similarity ``z_i . z_j`` (i != j) of the four kinds of pairs of Fig. 2:
    positives (same label), negatives (different label), contradicting positives (same label,
    different bias) and contradicting negatives (different label, same bias).

    Computed without the N x N similarity matrix: the sum of ``z_i . z_j`` over the pairs of a
    group is the squared norm of the group's summed embedding, so every mean comes from per-group
    sums (exact, in float64; O(N d) instead of O(N^2 d)).
    """
    z = z.double()
    total = z.sum(0)
    all_s, all_n = total @ total, float(len(z)) ** 2
    self_s, self_n = (z * z).sum(), float(len(z))
    y_s, y_n = _same_key_pair_sum(z, y)
    b_s, b_n = _same_key_pair_sum(z, b)
    yb_s, yb_n = _same_key_pair_sum(z, y * (int(b.max()) + 1) + b)

    def mean(s, n):
        return float(s / n) if n > 0 else float("nan")

    return {"positive": mean(y_s - self_s, y_n - self_n), "negative": mean(all_s - y_s, all_n - y_n),
            "contradicting_positive": mean(y_s - yb_s, y_n - yb_n),
            "contradicting_negative": mean(b_s - yb_s, b_n - yb_n)}


@torch.no_grad()
def active_units(model: torch.nn.Module, images: torch.Tensor) -> list[int] | None:
    """For an MLP (``models.MLP``): how many units of each hidden ReLU layer are active (> 0) on at
    least one of ``images`` (already through the input pipeline). A layer with 0 active units is
    dead: nothing reaches the classifier and no gradient flows back, so training cannot recover
    (the "dying ReLU" collapse). ``None`` for other architectures."""
    if not isinstance(model, MLP):
        return None
    was_training = model.training
    model.eval()
    counts, h = [], images
    for layer in model.body:
        h = layer(h)
        if isinstance(layer, torch.nn.ReLU):
            counts.append(int((h > 0).any(dim=0).sum()))
    model.train(was_training)
    return counts
