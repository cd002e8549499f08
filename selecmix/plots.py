"""Plots and tables the chapters share: image grids, accuracy curves, comparisons with the paper."""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .data import BiasedDataset


def image_grid(images: torch.Tensor, nrow: int, ax=None, titles: Sequence[str] | None = None,
               scale: float = 1.0, title: str | None = None):
    """Show uint8 (N, C, H, W) or float images as one grid on ``ax`` (made if None)."""
    x = images.detach().cpu()
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    n, c, h, w = x.shape
    ncol = int(np.ceil(n / nrow))
    canvas = torch.ones(c, nrow * (h + 2), ncol * (w + 2))
    for i in range(n):
        r, col = divmod(i, ncol)
        canvas[:, r * (h + 2) + 1:r * (h + 2) + 1 + h, col * (w + 2) + 1:col * (w + 2) + 1 + w] = x[i]
    if ax is None:
        _, ax = plt.subplots(figsize=(scale * ncol * 0.6, scale * nrow * 0.6))
    ax.imshow(canvas.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def group_examples(ds: BiasedDataset, per_class: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``per_class`` bias-aligned and bias-conflicting images of every class (blank if none)."""
    gen = torch.Generator().manual_seed(seed)
    blank = torch.zeros_like(ds.images[0])
    rows = {True: [], False: []}
    for c in range(ds.num_classes):
        for aligned in (True, False):
            idx = torch.nonzero((ds.y_clean == c) & (ds.aligned == aligned)).flatten()
            idx = idx[torch.randperm(len(idx), generator=gen)[:per_class]]
            pick = list(ds.images[idx]) + [blank] * (per_class - len(idx))
            rows[aligned] += pick
    return torch.stack(rows[True]), torch.stack(rows[False])


def show_dataset(ds: BiasedDataset, per_class: int = 6, title: str = ""):
    """Two grids side by side: one row per class, bias-aligned samples left, bias-conflicting right."""
    aligned, conflicting = group_examples(ds, per_class)
    fig, axes = plt.subplots(1, 2, figsize=(2 * per_class * 0.55 + 1, ds.num_classes * 0.55 + 0.6))
    image_grid(aligned, ds.num_classes, axes[0], title="bias-aligned")
    image_grid(conflicting, ds.num_classes, axes[1], title="bias-conflicting")
    names = ds.class_names or [str(c) for c in range(ds.num_classes)]
    h = ds.images.shape[-2] + 2
    axes[0].set_yticks([h * c + h / 2 for c in range(ds.num_classes)], names, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def group_table(ds: BiasedDataset):
    """Counts per (label, bias) group as a pandas DataFrame (rows: labels, columns: bias values)."""
    import pandas as pd

    counts = ds.group_counts().numpy()
    rows = ds.class_names or [str(c) for c in range(counts.shape[0])]
    cols = ds.bias_names[:counts.shape[1]] if ds.bias_names else [str(c) for c in range(counts.shape[1])]
    return pd.DataFrame(counts, index=pd.Index(rows, name="label"), columns=pd.Index(cols, name="bias"))


def split_table(splits) -> "Any":
    """size / aligned / conflicting / conflicting % per split, as a DataFrame."""
    import pandas as pd

    rows = {name: ds.summary() for name, ds in splits}
    frame = pd.DataFrame(rows).T
    frame["conflicting %"] = (100 * frame["conflicting"] / frame["size"]).round(2)
    return frame


def accuracy_curves(results: dict[str, dict], split: str = "test", metric: str = "unbiased", ax=None,
                    title: str | None = None):
    """One line per run: accuracy over epochs (``results``: label -> result dict)."""
    if ax is None:
        _, ax = plt.subplots()
    for label, r in results.items():
        hist = [h for h in r["history"] if h.get("stage", "main") == "main"]
        ax.plot([h["epoch"] + 1 for h in hist], [h[split][metric] for h in hist], label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{split} {metric} accuracy (%)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def comparison_frame(rows: list[dict[str, Any]]):
    """A comparison table (from :func:`selecmix.results.comparison_rows`) as a DataFrame with one
    row per method and, per ratio, 'ours' (mean ± std, n), 'paper' and 'diff'."""
    import pandas as pd

    data: dict[str, dict[tuple[str, str], str]] = {}
    for r in rows:
        col = f"{r['ratio']:g} %"
        cell = data.setdefault(r["method"], {})
        spread = f" ± {r['ours_std']:.2f}" if r["n"] > 1 else ""
        cell[(col, "ours (n)")] = f"{r['ours_mean']:.2f}{spread} ({r['n']})" if r["n"] else "not yet recorded"
        cell[(col, "paper")] = f"{r['paper_mean']:.2f} ± {r['paper_std']:.2f}" if r["paper_mean"] is not None else "–"
        cell[(col, "diff")] = f"{r['diff']:+.2f}" if r["diff"] is not None else ""
    frame = pd.DataFrame(data).T
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame
