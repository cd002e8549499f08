"""Chapter 1 helpers: the group counts of a bias ratio (a static figure and a slider), and the
committed Corrupted CIFAR-10 samples shown when CIFAR-10 is absent.

Interactive controls for the chapters (ipywidgets). Each has a static twin that draws the same
thing for a few fixed values, so the rendered book shows something without a kernel.

Every explorer of the book is built by :func:`figure_explorer`: controls that redraw a matplotlib
figure shown as a PNG in an ``ipywidgets.Image``. Not ``ipywidgets.interactive``: its ``Output``
widget makes nbclient -- which executes the chapters for Jupyter Book and nbmake -- answer the
kernel on the shell channel while it waits there for the cell's reply, and now and then the reply
is missed until the cell timeout (jupyter/nbclient#312): a build that stalls for 15 minutes at a
slider. An ``Image`` widget gives nbclient nothing to answer.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..config import data_root as resolve_root
from ..data import sources
from ..data.corruptions import CORRUPTIONS, corrupt
from ..data.dataset import assign_bias_labels
from ..data.sources import CIFAR10_CLASSES
from .plots import figure_explorer

PAPER_ALPHAS = (0.5, 1.0, 2.0, 5.0)


def alpha_counts(alpha: float, per_class: int = 5400, num_classes: int = 10) -> np.ndarray:
    """Counts per (label, bias) group of a training split with ``per_class`` images per class at
    bias-conflicting ratio ``alpha`` (percent), by the same rule as the builders."""
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    b = assign_bias_labels(labels, 1 - alpha / 100, num_classes, torch.Generator().manual_seed(0))
    return torch.bincount(labels * num_classes + b, minlength=num_classes ** 2).view(num_classes, num_classes).numpy()


def draw_counts(counts: np.ndarray, ax=None, title: str = "", annotate: bool = False, vmax: float | None = None):
    """Heat map of (label, bias) counts on a log colour scale; ``annotate`` writes each count in its
    cell. Returns the image (for a colour bar)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.2))
    vmax = np.log10(counts.max() + 1) if vmax is None else vmax
    im = ax.imshow(np.log10(counts + 1), cmap="viridis", vmin=0, vmax=vmax)
    if annotate:
        for (r, c), v in np.ndenumerate(counts):
            ax.text(c, r, str(v), ha="center", va="center", fontsize=7,
                    color="black" if np.log10(v + 1) > 0.6 * vmax else "white")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("bias (colour)")
    ax.set_ylabel("label (digit)")
    ax.set_xticks(range(counts.shape[1]))
    ax.set_yticks(range(counts.shape[0]))
    ax.tick_params(labelsize=7)
    return im


def _count_colorbar(fig, im, axes, vmax: float):
    ticks = [t for t in (1, 10, 100, 1000, 10000) if np.log10(t + 1) <= vmax + 1e-9]
    bar = fig.colorbar(im, ax=axes, shrink=0.85, pad=0.02)
    bar.set_ticks([np.log10(t + 1) for t in [0] + ticks], labels=["0"] + [f"{t:,}" for t in ticks])
    bar.set_label("images per group (log scale)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return bar


def draw_alpha(alpha: float, ax=None, per_class: int = 5400, colorbar: bool = True):
    """Heat map of the (label, bias) counts at one alpha, log colour scale, with a colour bar."""
    counts = alpha_counts(alpha, per_class)
    standalone = ax is None
    vmax = np.log10(per_class + 1)
    im = draw_counts(counts, ax, f"alpha = {alpha:g} %: {counts.sum() - np.trace(counts)} of {counts.sum()} conflicting",
                     vmax=vmax)
    if standalone and colorbar:
        _count_colorbar(im.axes.figure, im, im.axes, vmax)
    return im.axes


def group_heatmap(ds, title: str = ""):
    """The (label, bias) counts of a built dataset as an annotated heat map with a colour bar
    (rows: labels, columns: bias values; the diagonal is bias-aligned)."""
    counts = ds.group_counts().numpy()
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    vmax = np.log10(counts.max() + 1)
    im = draw_counts(counts, ax, title, annotate=True, vmax=vmax)
    _count_colorbar(fig, im, ax, vmax)
    return fig


def alpha_static(alphas=PAPER_ALPHAS, per_class: int = 5400):
    """The static fallback: the group counts at the paper's four ratios, 2 x 2, one colour bar."""
    fig, axes = plt.subplots(2, 2, figsize=(7.4, 6.6), constrained_layout=True)
    vmax = np.log10(per_class + 1)
    for a, ax in zip(alphas, axes.flat):
        counts = alpha_counts(a, per_class)
        im = draw_counts(counts, ax, f"alpha = {a:g} %: {counts.sum() - np.trace(counts):,} of {counts.sum():,} conflicting",
                         vmax=vmax)
    _count_colorbar(fig, im, axes, vmax)
    fig.suptitle(f"group counts of a training split of {per_class:,} images per class", fontsize=10)
    return fig


def alpha_explorer():
    """A slider over alpha (0.1 .. 20 %) redrawing the group-count heat map (Jupyter / Colab)."""
    import ipywidgets as w

    slider = w.FloatLogSlider(value=1.0, base=10, min=-1, max=np.log10(20), step=0.05,
                              description="alpha (%)", continuous_update=False)
    return figure_explorer(draw_alpha, alpha=slider)


# --------------------------------------------------------------------------- Corrupted CIFAR-10 samples
#: Where the committed sample figures live (shown by chapter 1 when CIFAR-10 is not on the machine).
FIGURES = Path(__file__).resolve().parents[2] / "book" / "figures"
CIFAR_GRID_PNG = "cifar10c_corruptions.png"
CIFAR_GROUPS_PNG = "cifar10c_aligned_conflicting.png"


def _cifar_test_images(per_class: int, seed: int = 0, data_root=None) -> tuple[np.ndarray, list[int]]:
    """``per_class`` CIFAR-10 test images of every class, (10 * per_class, 32, 32, 3) uint8, class-major."""
    x, y = sources.cifar10(resolve_root(data_root), train=False)
    gen = np.random.default_rng(seed)
    picks = [int(i) for c in range(10) for i in gen.choice(np.flatnonzero(y.numpy() == c), per_class, replace=False)]
    return x[picks].numpy(), picks


def cifar10c_corruption_grid(seed: int = 0, data_root=None):
    """One CIFAR-10 test image per class (rows), clean and under each of the ten corruptions at
    CIFAR-10-C's level 5 (columns). The diagonal cell of each row -- class c under corruption c --
    is what a bias-aligned training image of that class looks like."""
    clean, _ = _cifar_test_images(1, seed, data_root)
    cols = [clean] + [corrupt(clean, name, 5, np.random.default_rng([seed, k])) for k, name in enumerate(CORRUPTIONS)]
    fig, axes = plt.subplots(10, 11, figsize=(7.6, 7.4))
    for r in range(10):
        for c in range(11):
            ax = axes[r, c]
            ax.imshow(cols[c][r], interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if c - 1 == r:   # the bias-aligned corruption of this class
                for side in ax.spines.values():
                    side.set_visible(True), side.set_color("#d62728"), side.set_linewidth(2.5)
            else:
                for side in ax.spines.values():
                    side.set_visible(False)
            if c == 0:
                ax.set_ylabel(CIFAR10_CLASSES[r], fontsize=8, rotation=0, ha="right", va="center")
            if r == 0:
                ax.set_title("clean" if c == 0 else CORRUPTIONS[c - 1].replace("_", "\n"), fontsize=7.5)
    fig.suptitle("Corrupted CIFAR-10: one test image per class, clean and under each corruption (level 5);\n"
                 "red frame: the corruption the class is correlated with (bias-aligned)", fontsize=9)
    fig.subplots_adjust(left=0.12, right=0.99, top=0.86, bottom=0.01, wspace=0.05, hspace=0.05)
    return fig


def cifar10c_groups_figure(per_class: int = 4, seed: int = 1, data_root=None):
    """Per class (rows): ``per_class`` bias-aligned images (the class's own corruption) left and
    ``per_class`` bias-conflicting ones (a random other corruption, named below) right."""
    clean, _ = _cifar_test_images(2 * per_class, seed, data_root)
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(10, 2 * per_class, figsize=(6.4, 8.6))
    for c in range(10):
        for j in range(2 * per_class):
            img = clean[c * 2 * per_class + j][None]
            aligned = j < per_class
            k = c if aligned else int(rng.choice([b for b in range(10) if b != c]))
            ax = axes[c, j]
            ax.imshow(corrupt(img, CORRUPTIONS[k], 5, np.random.default_rng([seed, c, j]))[0], interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if not aligned:
                ax.set_xlabel(CORRUPTIONS[k].replace("_transform", "").replace("gaussian", "gauss.").replace("_", " "), fontsize=6, labelpad=1)
            if j == 0:
                ax.set_ylabel(CIFAR10_CLASSES[c], fontsize=8, rotation=0, ha="right", va="center")
    fig.text(0.33, 0.955, "bias-aligned", ha="center", fontsize=10)
    fig.text(0.78, 0.955, "bias-conflicting", ha="center", fontsize=10)
    fig.suptitle("Corrupted CIFAR-10, level 5: each class with its own corruption and with others", fontsize=9, y=0.995)
    fig.subplots_adjust(left=0.13, right=0.99, top=0.94, bottom=0.01, wspace=0.06, hspace=0.35)
    return fig


def write_cifar10c_samples(folder: Path | None = None, data_root=None) -> list[Path]:
    """Draw both sample figures from CIFAR-10 and save them as PNGs in ``folder`` (default
    ``book/figures``), for readers without CIFAR-10: ``python -m selecmix.book.ch01_biased_datasets``."""
    folder = Path(folder or FIGURES)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in ((CIFAR_GRID_PNG, cifar10c_corruption_grid), (CIFAR_GROUPS_PNG, cifar10c_groups_figure)):
        fig = draw(data_root=data_root)
        path = folder / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def show_committed(name: str, width: int = 700):
    """Show a committed figure of ``book/figures`` (an IPython Image)."""
    from IPython.display import Image

    return Image(filename=str(FIGURES / name), width=width)


if __name__ == "__main__":
    import matplotlib

    matplotlib.use("Agg")
    for p in write_cifar10c_samples():
        print(p.relative_to(FIGURES.parents[1]), f"{p.stat().st_size / 1024:.0f} KiB")
