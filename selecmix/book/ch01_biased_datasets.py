"""Interactive controls for the chapters (ipywidgets). Each has a static twin that draws the same
thing for a few fixed values, so the rendered book shows something without a kernel.

Every explorer of the book is built by :func:`figure_explorer`: controls that redraw a matplotlib
figure shown as a PNG in an ``ipywidgets.Image``. Not ``ipywidgets.interactive``: its ``Output``
widget makes nbclient -- which executes the chapters for Jupyter Book and nbmake -- answer the
kernel on the shell channel while it waits there for the cell's reply, and now and then the reply
is missed until the cell timeout (jupyter/nbclient#312): a build that stalls for 15 minutes at a
slider. An ``Image`` widget gives nbclient nothing to answer.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..data.dataset import assign_bias_labels
from .plots import figure_explorer

PAPER_ALPHAS = (0.5, 1.0, 2.0, 5.0)


def alpha_counts(alpha: float, per_class: int = 5400, num_classes: int = 10) -> np.ndarray:
    """Counts per (label, bias) group of a training split with ``per_class`` images per class at
    bias-conflicting ratio ``alpha`` (percent), by the same rule as the builders."""
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    b = assign_bias_labels(labels, 1 - alpha / 100, num_classes, torch.Generator().manual_seed(0))
    return torch.bincount(labels * num_classes + b, minlength=num_classes ** 2).view(num_classes, num_classes).numpy()


def draw_alpha(alpha: float, ax=None, per_class: int = 5400):
    """Heat map of the (label, bias) counts at one alpha, log colour scale."""
    counts = alpha_counts(alpha, per_class)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.4, 3))
    ax.imshow(np.log10(counts + 1), cmap="viridis", vmin=0, vmax=np.log10(per_class + 1))
    ax.set_title(f"alpha = {alpha:g} %: {counts.sum() - np.trace(counts)} of {counts.sum()} conflicting", fontsize=9)
    ax.set_xlabel("bias (colour)")
    ax.set_ylabel("label (digit)")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.tick_params(labelsize=7)
    return ax


def alpha_static(alphas=PAPER_ALPHAS):
    """The static fallback: the group counts at the paper's four ratios side by side."""
    fig, axes = plt.subplots(1, len(alphas), figsize=(3.2 * len(alphas), 3.2))
    for a, ax in zip(alphas, axes):
        draw_alpha(a, ax)
    fig.tight_layout()
    return fig


def alpha_explorer():
    """A slider over alpha (0.1 .. 20 %) redrawing the group-count heat map (Jupyter / Colab)."""
    import ipywidgets as w

    slider = w.FloatLogSlider(value=1.0, base=10, min=-1, max=np.log10(20), step=0.05,
                              description="alpha (%)", continuous_update=False)
    return figure_explorer(draw_alpha, alpha=slider)
