"""The overview figure of SelecMix (in the spirit of the paper's Fig. 1), drawn from real digits
of the embedded MNIST sample coloured like Colored MNIST: the selection pool, the auxiliary model
``g`` that compares samples by their bias, the two kinds of contradicting pairs it picks for a
query, the mixing rule and the debiased classifier ``f`` trained on the mixes.

``python -m selecmix.book.overview`` writes ``book/figures/selecmix_overview.png``.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ..data.colored_mnist import colorize
from ..data.sources import mnist_embedded

FIGURE = Path(__file__).resolve().parents[2] / "book" / "figures" / "selecmix_overview.png"


def _digits(labels_and_colours: list[tuple[int, int]], seed: int = 0) -> torch.Tensor:
    """Real grey digits of the given labels, coloured with the given bias colours: (N, 3, 28, 28) floats."""
    x, y = mnist_embedded()
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for label, _ in labels_and_colours:
        idx = torch.nonzero(y == label).flatten()
        picks.append(int(idx[torch.randint(len(idx), (1,), generator=gen)]))
    bias = torch.tensor([c for _, c in labels_and_colours])
    return colorize(x[picks], bias, severity=4, gen=torch.Generator().manual_seed(seed)).float() / 255


def _show(fig, img: torch.Tensor, rect, title: str = "", color: str = "black", frame: str | None = None, size: float = 8):
    ax = fig.add_axes(rect)
    ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(frame is not None)
        if frame:
            side.set_color(frame), side.set_linewidth(2)
    if title:
        ax.set_title(title, fontsize=size, color=color, pad=2)
    return ax


def _arrow(fig, a, b, color="0.25", style="-|>", lw=1.4, text="", offset=(0, 0.012), size=8, rad=0.0):
    fig.patches.append(FancyArrowPatch(a, b, transform=fig.transFigure, arrowstyle=style, mutation_scale=12,
                                       color=color, lw=lw, connectionstyle=f"arc3,rad={rad}"))
    if text:
        fig.text((a[0] + b[0]) / 2 + offset[0], (a[1] + b[1]) / 2 + offset[1], text, ha="center", va="bottom",
                 fontsize=size, color=color)


def _box(fig, rect, text, face, size=9):
    x, y, w, h = rect
    fig.patches.append(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.006", transform=fig.transFigure,
                                      facecolor=face, edgecolor="0.3", lw=1))
    fig.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size)


def overview_figure(seed: int = 0):
    """Draw the overview: pool -> g's similarity -> contradicting positive / negative -> mix -> f."""
    fig = plt.figure(figsize=(10, 5.0))
    # the pool: mostly bias-aligned digits (digit c in colour c), three bias-conflicting ones
    layout = [(d, d) for d in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 3, 2, 0, 3, 5, 7)]
    layout[4], layout[10], layout[16] = (0, 5), (3, 0), (6, 2)      # the conflicting ones
    pool = _digits(layout, seed)
    fig.text(0.115, 0.9, "selection pool B\n(1,024 training images,\n~99 % bias-aligned)", ha="center", va="top", fontsize=9)
    for i, img in enumerate(pool):
        r, c = divmod(i, 3)
        conflicting = layout[i][0] != layout[i][1]
        _show(fig, img, (0.035 + c * 0.055, 0.66 - r * 0.105, 0.05, 0.095), frame="#ff7f0e" if conflicting else None)
    fig.text(0.115, 0.06, "orange frame: bias-conflicting", ha="center", fontsize=7.5, color="#ff7f0e")

    # g: the auxiliary model comparing samples by their bias
    _box(fig, (0.245, 0.42, 0.15, 0.2), "auxiliary model $g$\ntrained with GSC:\nsimilarity $z_i^\\top z_j$\nmeasures the bias", "#fde9c9", 8.5)
    _arrow(fig, (0.205, 0.52), (0.243, 0.52))

    # the query and its two partners
    query, positive, negative = _digits([(0, 0), (0, 5), (3, 0)], seed + 1)
    _show(fig, query, (0.45, 0.44, 0.075, 0.16), "query $x_i$\n(a red 0)", size=8)
    _arrow(fig, (0.397, 0.52), (0.447, 0.52))
    _show(fig, positive, (0.6, 0.68, 0.075, 0.16), "same label,\nleast similar bias", size=8, frame="#2ca02c")
    _show(fig, negative, (0.6, 0.12, 0.075, 0.16), "other label,\nmost similar bias", size=8, frame="#2ca02c")
    _arrow(fig, (0.53, 0.58), (0.597, 0.74), text="contradicting\npositive (p > 0.5)", offset=(-0.045, 0.03), size=7.5)
    _arrow(fig, (0.53, 0.46), (0.597, 0.22), text="contradicting\nnegative (p ≤ 0.5)", offset=(-0.05, -0.1), size=7.5)

    # the mixes: lambda <= 0.5 on the query, the partner's label
    lam = 0.3
    for partner, y_k, top in ((positive, 0, 0.68), (negative, 3, 0.12)):
        mixed = lam * query + (1 - lam) * partner
        _arrow(fig, (0.677, top + 0.08), (0.74, top + 0.08), text="mix", size=7.5)
        _show(fig, mixed, (0.745, top, 0.075, 0.16), f"label $y_k$ = {y_k}", size=8)
    fig.text(0.7825, 0.52, "$\\lambda x_i + (1-\\lambda)\\, x_k$\n$\\lambda = \\min(u, 1-u) \\leq 0.5$\nlabelled $y_k$:\nnew bias-conflicting\nsamples",
             ha="center", va="center", fontsize=8)

    # f: the debiased classifier
    _box(fig, (0.865, 0.4, 0.12, 0.24), "debiased\nclassifier $f$\ntrained on\nthe mixes", "#d5e8d4", 8.5)
    _arrow(fig, (0.825, 0.76), (0.9, 0.645), rad=-0.2)
    _arrow(fig, (0.825, 0.20), (0.9, 0.395), rad=0.2)
    fig.text(0.5, 0.99, "SelecMix: mix each query with a contradicting partner that the biased model $g$ picks",
             ha="center", va="top", fontsize=10.5)
    return fig


def write_overview(path: Path | None = None) -> Path:
    path = Path(path or FIGURE)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = overview_figure()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    import matplotlib

    matplotlib.use("Agg")
    p = write_overview()
    print(p.name, f"{p.stat().st_size / 1024:.0f} KiB")
