"""Plots and tables the chapters share: image grids, accuracy curves, comparisons with the paper."""
from __future__ import annotations

import io
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..data import BiasedDataset
from ..experiments.tables import format_runs


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
    counts = ds.group_counts().numpy()
    rows = ds.class_names or [str(c) for c in range(counts.shape[0])]
    cols = ds.bias_names[:counts.shape[1]] if ds.bias_names else [str(c) for c in range(counts.shape[1])]
    return pd.DataFrame(counts, index=pd.Index(rows, name="label"), columns=pd.Index(cols, name="bias"))


def split_table(splits) -> "Any":
    """size / aligned / conflicting (count and share) per split, as a DataFrame."""
    rows = {name: ds.summary() for name, ds in splits}
    frame = pd.DataFrame(rows).T
    # the count and its share in one column: the table stays narrow enough for a phone
    frame["conflicting"] = [f"{int(c):,} ({100 * c / n:.2f} %)" for c, n in zip(frame["conflicting"], frame["size"])]
    frame.index.name = "split"
    return frame




def ours_text(row: dict[str, Any]) -> str:
    """The 'ours' cell of a :func:`~selecmix.experiments.tables.comparison_rows` row, exactly as
    :func:`~selecmix.experiments.tables.format_runs` writes it: 'mean ± std (n)' over every run,
    and where runs collapsed their count and, labelled, the others' mean."""
    if not row["n"]:
        return format_runs([])
    healthy = row.get("healthy")
    if not row.get("collapsed"):
        return format_runs(healthy.values) if healthy is not None else format_runs([row["ours_mean"]] * 1)
    text = f"{row['ours_mean']:.2f} ± {row['ours_std']:.2f}" if row["n"] > 1 else f"{row['ours_mean']:.2f}"
    if healthy is None:
        return f"{text} ({row['n']}; all collapsed)"
    return f"{text} ({row['n']}; {row['collapsed']} collapsed, others {healthy.short()})"


def comparison_frame(rows: list[dict[str, Any]], ratios: Sequence[float] | None = None, diff: bool = True):
    """A comparison table (from :func:`selecmix.experiments.tables.comparison_rows`) as a DataFrame with one
    row per method and, per ratio, 'ours' (:func:`ours_text`), 'paper' and (``diff=True``) 'diff'.
    ``ratios`` keeps only those ratios (a narrower table: at most about 8 columns read well)."""
    data: dict[str, dict[tuple[str, str], str]] = {}
    for r in rows:
        if ratios is not None and float(r["ratio"]) not in {float(x) for x in ratios}:
            continue
        col = f"{r['ratio']:g} %"
        cell = data.setdefault(r["method"], {})
        cell[(col, "ours (n)")] = ours_text(r)
        cell[(col, "paper")] = f"{r['paper_mean']:.2f} ± {r['paper_std']:.2f}" if r["paper_mean"] is not None else "–"
        if diff:
            cell[(col, "diff")] = f"{r['diff']:+.2f}" if r["diff"] is not None else ""
    frame = pd.DataFrame(data).T
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame


def paper_frame(rows: list[dict[str, Any]]):
    """The paper's numbers of :func:`~selecmix.experiments.tables.comparison_rows` rows: one row per
    method, one column per ratio ('mean ± std', labelled as the paper's by the caller)."""
    data: dict[str, dict[str, str]] = {}
    for r in rows:
        if r["paper_mean"] is not None:
            data.setdefault(r["method"], {})[f"{r['ratio']:g} %"] = f"{r['paper_mean']:.2f} ± {r['paper_std']:.2f}"
    return pd.DataFrame(data).T


def show_code(*sources: str) -> None:
    """Show source code (``show_code(inspect.getsource(f))``) as a syntax-highlighted Python block:
    a Markdown fence, which Jupyter and the built book both highlight."""
    from IPython.display import Markdown, display

    for src in sources:
        display(Markdown(f"````python\n{src.rstrip()}\n````"))


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
    """Accuracy over epochs, one panel per metric, one line per run; one legend below the panels
    (readable at the column width)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label, r in results.items():
            hist = [h for h in r["history"] if h.get("stage", "main") == "main"]
            ax.plot([h["epoch"] + 1 for h in hist], [h[split][metric] for h in hist], label=label, lw=1.6)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{split} accuracy, {'bias-' if metric != 'unbiased' else ''}{metric} (%)")
        ax.set_ylim(0, 100)
    handles, labels = axes[0][0].get_legend_handles_labels()
    ncol = min(len(labels), 3)
    rows = -(-len(labels) // ncol) if labels else 0
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.08 * rows, 1, 1))
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
