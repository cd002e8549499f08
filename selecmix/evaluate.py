"""Evaluation: accuracy by group and the active units of an MLP.

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
