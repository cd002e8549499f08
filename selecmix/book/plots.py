"""Plots and tables the chapters share: image grids, accuracy curves, comparisons with the paper."""
from __future__ import annotations

import io
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..data import BiasedDataset


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




def comparison_frame(rows: list[dict[str, Any]]):
    """A comparison table (from :func:`selecmix.experiments.tables.comparison_rows`) as a DataFrame with one
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


def render_png(draw: Callable[..., Any], values: dict[str, Any]) -> tuple[bytes, str]:
    """Call ``draw(**values)`` and return the figure it drew as PNG bytes (b"" if none) and the
    text it returned, if any (a string is shown as a message, e.g. "not yet recorded"). The new
    figures are closed, so nothing else is displayed."""
    before = set(plt.get_fignums())
    out = draw(**values)
    new = [n for n in plt.get_fignums() if n not in before]
    png = b""
    if new:
        buf = io.BytesIO()
        plt.figure(new[-1]).savefig(buf, format="png", dpi=90, bbox_inches="tight")
        png = buf.getvalue()
    for n in new:
        plt.close(n)
    return png, out if isinstance(out, str) else ""


def figure_explorer(draw: Callable[..., Any], **controls):
    """Controls (ipywidgets, by keyword) above the figure ``draw(**values)`` makes, redrawn when a
    control changes (Jupyter / Colab). ``draw`` may return a string to show instead of a figure."""
    import ipywidgets as w

    image, message = w.Image(format="png"), w.HTML()

    def redraw(_=None):
        png, text = render_png(draw, {name: c.value for name, c in controls.items()})
        image.value, message.value = png, text
        image.layout.display = None if png else "none"

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox(list(controls.values())), message, image])


def curves(results: dict[str, dict], metrics: Sequence[str] = ("unbiased", "conflicting"), split: str = "test",
           title: str = ""):
    """Accuracy over epochs, one panel per metric, one line per run."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label, r in results.items():
            hist = [h for h in r["history"] if h.get("stage", "main") == "main"]
            ax.plot([h["epoch"] + 1 for h in hist], [h[split][metric] for h in hist], label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{split} accuracy, {'bias-' if metric != 'unbiased' else ''}{metric} (%)")
        ax.set_ylim(0, 100)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) images as floats in [0, 1] (what the chapters mix and show)."""
    return images.float() / 255 if images.dtype == torch.uint8 else images.float()


def show_image(ax, img: torch.Tensor, text: str = "", fontsize: float = 7.5, color: str = "black") -> None:
    ax.imshow(to_float(img).permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if text:
        ax.set_title(text, fontsize=fontsize, color=color)
