"""Walk-throughs for two chapters of the book: mixup with bias labels (paper Sec. 3.1, Table 5,
App. C.3) and the selection of contradicting pairs (Sec. 3.3, Algorithm 1, Fig. 9, Table 2).

Everything here *uses* the package's own selection and mixing functions
(:func:`selecmix.selection.pairs_from_similarity`, :func:`selecmix.mixing.selecmix_batch`, ...);
it only adds what a reader needs to look at them: real pairs and their mixes as image grids, the
labels each method assigns, the similarity matrix of one selection pool, precision / recall of
the pairs found (Fig. 9), and tables of live and recorded runs beside the paper's numbers.

Provenance words used in every title: *live fast run* (trained on the page, small data),
*recorded full-scale run* (a result file under ``book/results``), *paper* (with its table).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..config import make_config
from ..data import BiasedDataset
from ..data.colored_mnist import COLORS
from ..experiments.pair_stats import pair_precision_recall
from ..experiments.paper import PAPER_TABLE2
from ..experiments.records import run_label
from ..experiments.tables import format_runs, table_runs
from ..methods import Pool
from ..mixing import choose_kind, sample_lambda, selecmix_batch
from ..selection import (
    KINDS,
    bias_label_pairs,
    bias_label_similarity,
    is_contradicting,
    pairs_from_similarity,
)
from .plots import figure_explorer, show_image, to_float

SOURCES = ("gt", "gce-cos", "gce-l2", "gce-kl", "gsc")           # Table 2's columns, in the paper's order


SOURCE_NAMES = {"gt": "GT (bias labels)", "gce-cos": "GCE cos", "gce-l2": "GCE l2", "gce-kl": "GCE KL",
                "gsc": "Ours (GSC)", "sc": "SC"}


PAIR_SET_NAMES = {"A": "Contradicting positives (A)", "B": "Contradicting negatives (B)", "AB": "Both (AB)"}


# =========================================================================== Sec. 3.3: one pool walked through
def make_pool(ds: BiasedDataset, size: int = 128, conflicting: int | None = 16, seed: int = 0) -> torch.Tensor:
    """Indices of a selection pool of ``size`` training samples, sorted by label, then aligned
    before conflicting, then bias. ``conflicting`` fixes how many bias-conflicting samples it holds
    (``None``: a plain random draw -- at alpha = 1 % a pool of 128 then holds one or two)."""
    gen = torch.Generator().manual_seed(seed)
    if conflicting is None:
        idx = torch.randperm(len(ds), generator=gen)[:size]
    else:
        conf = torch.nonzero(ds.conflicting).flatten()
        align = torch.nonzero(ds.aligned).flatten()
        conflicting = min(conflicting, len(conf), size)
        idx = torch.cat([conf[torch.randperm(len(conf), generator=gen)[:conflicting]],
                         align[torch.randperm(len(align), generator=gen)[:size - conflicting]]])
    key = ds.y[idx] * 10_000 + (~ds.aligned[idx]).long() * 1000 + ds.b[idx]
    return idx[torch.argsort(key, stable=True)]


def _aux(method):
    mixer = getattr(method, "mixer", None)
    if mixer is None or not hasattr(mixer, "source"):
        raise ValueError(f"{getattr(method, 'name', method)!r} has no auxiliary model: train a SelecMix method "
                         "(selecmix or lff_selecmix) with keep=True")
    return mixer.source


def pool_of(method, idx: torch.Tensor):
    """A :class:`selecmix.methods.Pool` of training indices for a trained method (unaugmented inputs)."""
    ctx = method.ctx
    idx = idx.to(ctx.device)
    train = ctx.splits.train
    return Pool(idx, ctx.pipeline.f_eval(ctx.train_images[idx], ctx.device), train.y.to(ctx.device)[idx],
                train.b.to(ctx.device)[idx], ctx)


@torch.no_grad()
def pool_similarity(method, idx: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The (N, N) "biased similarity" the method's auxiliary model assigns to a pool: cosine of
    ``g``'s embeddings (gsc / sc), the GCE model's cos / l2 / KL (Table 2), or the bias labels (gt)."""
    aux, pool = _aux(method), pool_of(method, idx)
    if hasattr(aux, "similarity"):
        return aux.similarity(pool).cpu()
    return bias_label_similarity(pool.b.cpu(), torch.Generator().manual_seed(seed))


@dataclass
class Walk:
    """One selection pool through Algorithm 1, for both kinds of contradicting pairs."""

    idx: torch.Tensor                      # training indices of the pool
    images: torch.Tensor                   # uint8 (N, C, H, W)
    y: torch.Tensor
    b: torch.Tensor
    sim: torch.Tensor                      # (N, N) biased similarity
    coin: str                              # the kind Alg. 1 line 3 drew for this pool
    lam: torch.Tensor                      # one lam per query (line 5)
    partner: dict[str, torch.Tensor] = field(default_factory=dict)   # kind -> partner index (-1: none)
    mixed: dict[str, torch.Tensor] = field(default_factory=dict)     # kind -> mixed images (float)
    label: dict[str, torch.Tensor] = field(default_factory=dict)     # kind -> y_k
    found: dict[str, dict] = field(default_factory=dict)             # kind -> precision / recall (Fig. 9)
    source: str = ""

    @property
    def aligned(self) -> torch.Tensor:
        return self.b == self.y


def walk_pool(method, idx: torch.Tensor, seed: int = 0) -> Walk:
    """Algorithm 1 on the pool ``idx`` with a trained method's auxiliary model: the similarity,
    the coin, per-query lam, contradicting positives (Eq. 4) *and* negatives (Eq. 5), the mixed
    images with their labels, and how many of the pairs are truly contradicting."""
    gen = torch.Generator().manual_seed(seed)
    ds = method.ctx.splits.train
    y, b, images = ds.y[idx], ds.b[idx], ds.images[idx]
    sim = pool_similarity(method, idx, seed)
    walk = Walk(idx, images, y, b, sim, choose_kind("AB", gen), sample_lambda(len(idx), gen),
                source=method.cfg.similarity)
    aux = _aux(method)
    for kind in KINDS:
        if hasattr(aux, "similarity"):                 # g (GSC / SC) or a GCE model: Eqs. 4 and 5
            partner = pairs_from_similarity(sim, y, kind)
        else:                                          # bias labels: a random true partner, or none
            partner = bias_label_pairs(y, b, kind, gen)
        walk.partner[kind] = partner
        walk.mixed[kind], walk.label[kind] = selecmix_batch(to_float(images), y, partner, walk.lam)
        walk.found[kind] = pair_precision_recall(partner, y, b, kind)
    return walk


def _group_edges(values: torch.Tensor) -> list[int]:
    return [i for i in range(1, len(values)) if values[i] != values[i - 1]]


def similarity_figure(walk: Walk, title: str | None = None):
    """The pool's similarity matrix, rows and columns sorted by label then bias; a strip of each
    sample's colour on the left and top, bias-conflicting samples marked with a dot."""
    n = len(walk.y)
    fig, ax = plt.subplots(figsize=(6.2, 5.6))
    cosine = walk.source in ("gsc", "sc", "gce-cos")
    im = ax.imshow(walk.sim.numpy(), cmap="RdBu_r", vmin=-1 if cosine else None, vmax=1 if cosine else None,
                   interpolation="nearest", extent=(0, n, n, 0))
    strip = COLORS[walk.b.clamp_max(len(COLORS) - 1)].numpy()
    ax.imshow(strip[:, None, :], extent=(-3, -0.5, n, 0), interpolation="nearest")
    ax.imshow(strip[None, :, :], extent=(0, n, -0.5, -3), interpolation="nearest")
    conf = torch.nonzero(~walk.aligned).flatten().numpy()
    ax.scatter(np.full(len(conf), -4.3), conf + 0.5, s=6, c="black", clip_on=False)
    for e in _group_edges(walk.y):
        ax.axhline(e, color="black", lw=0.6)
        ax.axvline(e, color="black", lw=0.6)
    centres = [(s + e) / 2 for s, e in zip([0] + _group_edges(walk.y), _group_edges(walk.y) + [n])]
    labels = [str(int(walk.y[int(c)])) for c in centres]
    ax.set_xticks(centres, labels, fontsize=8)
    ax.set_yticks(centres, labels, fontsize=8)
    ax.tick_params(axis="y", pad=14)
    ax.set_xlim(-3, n)
    ax.set_ylim(n, -3)
    ax.set_xlabel("pool sample j (grouped by label y)")
    ax.set_ylabel("query i (grouped by label y)")
    fig.colorbar(im, ax=ax, fraction=0.04, label="similarity")
    ax.set_title(title or f"biased similarity ({SOURCE_NAMES.get(walk.source, walk.source)}) of one pool", fontsize=10)
    fig.tight_layout()
    return fig


def pick_queries(walk: Walk, n: int = 5, kind: str = "positive", seed: int = 0) -> list[int]:
    """``n`` pool positions to show, bias-aligned queries of distinct labels that have a partner,
    those whose partner is truly contradicting first (then the others, so failures show too)."""
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(walk.y), generator=gen).tolist()
    hits, misses, seen = [], [], set()
    partner = walk.partner[kind]
    for q in order:
        label = int(walk.y[q])
        if label in seen or partner[q] < 0 or not bool(walk.aligned[q]):
            continue
        seen.add(label)
        ok = bool(is_contradicting(torch.tensor([q]), partner[q:q + 1], walk.y, walk.b, kind))
        (hits if ok else misses).append(q)
    chosen = hits[:max(n - 1, 1)] + misses
    return chosen[:n]


def pair_cells(walk: Walk, q: int, kind: str) -> list[tuple[torch.Tensor, str, str]]:
    """(image, title, title colour) for query | partner | mixed image of one pool position."""
    k = int(walk.partner[kind][q])
    if k < 0:
        return [(walk.images[q], f"query y={int(walk.y[q])}\nno candidate", "black")]
    ok = bool(is_contradicting(torch.tensor([q]), torch.tensor([k]), walk.y, walk.b, kind))

    def state(j):
        return "aligned" if bool(walk.aligned[j]) else "conflicting"

    return [(walk.images[q], f"query y={int(walk.y[q])}\ncolour {int(walk.b[q])} ({state(q)})", "black"),
            (walk.images[k], f"partner y={int(walk.y[k])}, colour {int(walk.b[k])}\n"
                             f"{'contradicting ✓' if ok else 'not contradicting ✗'}",
             "darkgreen" if ok else "firebrick"),
            (walk.mixed[kind][q], f"lam={float(walk.lam[q]):.2f}\nlabel y_k={int(walk.label[kind][q])}", "black")]


def pairs_figure(walk: Walk, queries: dict[str, list[int]] | None = None, n: int = 5, title: str | None = None):
    """For each kind (columns blocks: positives, negatives): rows of query | partner | mixed image."""
    queries = queries or {kind: pick_queries(walk, n, kind) for kind in KINDS}
    rows = max(len(v) for v in queries.values())
    fig, axes = plt.subplots(rows, 3 * len(queries), figsize=(1.75 * 3 * len(queries), 1.55 * rows + 0.5),
                             squeeze=False)
    for block, (kind, qs) in enumerate(queries.items()):
        for r in range(rows):
            for c in range(3):
                axes[r][3 * block + c].axis("off")
            if r >= len(qs):
                continue
            for c, (img, text, colour) in enumerate(pair_cells(walk, qs[r], kind)):
                ax = axes[r][3 * block + c]
                ax.axis("on")
                show_image(ax, img, text, fontsize=7, color=colour)
        found = walk.found[kind]
        rule = "Eq. 4: least similar, same label" if kind == "positive" else "Eq. 5: most similar, other label"
        fig.text((block + 0.5) / len(queries), 0.995, f"contradicting {kind}s ({rule})\n"
                 f"whole pool: {found['precision']:.0f} % of the chosen pairs are truly contradicting",
                 ha="center", va="top", fontsize=8.5)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.55 / (1.55 * rows + 0.5)))
    if title:
        fig.suptitle(title, fontsize=10, y=0.0, va="bottom")
    return fig


def query_figure(walk: Walk, q: int, kind: str, fig=None):
    """One query: its similarity to every pool sample (candidates of ``kind`` highlighted, the
    chosen one circled) and query | partner | mixed image."""
    fig = fig or plt.figure(figsize=(9.5, 2.9))
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [3.4, 1, 1, 1]})
    same = walk.y == walk.y[q]
    cand = (same & (torch.arange(len(walk.y)) != q)) if kind == "positive" else ~same
    s = walk.sim[q].numpy()
    xs = np.arange(len(s))
    cand_np, conf_np = cand.numpy(), (~walk.aligned).numpy()
    axes[0].scatter(xs[~cand_np], s[~cand_np], s=6, c="lightgrey", label="not a candidate")
    axes[0].scatter(xs[cand_np & ~conf_np], s[cand_np & ~conf_np], s=8, c="tab:blue", label="candidate, aligned")
    axes[0].scatter(xs[cand_np & conf_np], s[cand_np & conf_np], s=22, c="tab:orange", zorder=3,
                    label="candidate, bias-conflicting")
    k = int(walk.partner[kind][q])
    if k >= 0:
        axes[0].scatter([k], [s[k]], s=130, facecolors="none", edgecolors="black", lw=1.4, zorder=4,
                        label=f"chosen (arg{'min' if kind == 'positive' else 'max'})")
    for e in _group_edges(walk.y):
        axes[0].axvline(e - 0.5, color="black", lw=0.3)
    axes[0].set_xlabel("pool sample j (sorted by label)")
    axes[0].set_ylabel(f"similarity to query {q}")
    axes[0].legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, frameon=False)
    for ax, (img, text, colour) in zip(axes[1:], pair_cells(walk, q, kind)):
        show_image(ax, img, text, fontsize=7, color=colour)
    for ax in axes[1 + len(pair_cells(walk, q, kind)):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def pair_explorer(walk: Walk):
    """Pick a query of the pool and a pair kind; see its similarities and its partner (Jupyter / Colab).
    Static twin: :func:`pairs_figure` and :func:`query_figure`."""
    import ipywidgets as w

    return figure_explorer(lambda query, kind: query_figure(walk, query, kind),
                           query=w.IntSlider(value=0, min=0, max=len(walk.y) - 1, description="query i",
                                             continuous_update=False),
                           kind=w.ToggleButtons(options=list(KINDS), description="pair kind"))


# =========================================================================== Fig. 9: discovering pairs
STATS = ("positive_precision", "positive_recall", "negative_precision", "negative_recall")


def aux_series(result: dict, stat: str) -> tuple[list[int], list[float]]:
    """(epochs, values) of one pair-discovery statistic from a run's history (epochs where a pool
    of that kind was drawn; with pairs AB a coin picks the kind per pool, so some epochs lack one)."""
    xs, ys = [], []
    for h in result.get("history", []):
        value = (h.get("aux") or {}).get(stat)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            xs.append(h["epoch"] + 1)
            ys.append(value)
    return xs, ys


def discovery_curves(results: dict[str, dict], title: str = "", smooth: int = 1, logx: bool = False):
    """Fig. 9 over training: precision and recall of the contradicting positives and negatives
    each run's selection found, per epoch (``smooth`` > 1: running mean over that many points;
    ``logx``: a logarithmic epoch axis, which shows the first epochs of a long run)."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.2), sharex=True)
    for label, r in results.items():
        for ax, stat in zip(axes.flat, STATS):
            xs, ys = aux_series(r, stat)
            if smooth > 1 and len(ys) >= smooth:
                ys = list(np.convolve(ys, np.ones(smooth) / smooth, mode="valid"))
                xs = xs[smooth - 1:]
            ax.plot(xs, ys, marker=".", ms=3, lw=1.2, label=label)
    for ax, stat in zip(axes.flat, STATS):
        kind, what = stat.split("_")
        ax.set_title(f"contradicting {kind}s: {what}", fontsize=9)
        ax.set_ylim(0, 102)
        ax.set_ylabel("%")
        if logx:
            ax.set_xscale("log")
    for ax in axes[1]:
        ax.set_xlabel("epoch (log scale)" if logx else "epoch")
    handles, labels = axes[0][0].get_legend_handles_labels()
    ncol = min(len(labels), 3) or 1
    rows = -(-len(labels) // ncol)
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=9, frameon=False, markerscale=3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.045 * rows, 1, 1))
    return fig


def window_mean(result: dict, stat: str, first: int = 1, last: int | None = None) -> float:
    """Mean of one pair-discovery statistic of a run's history over the epochs ``first..last``
    (1-based, inclusive; ``last=None``: to the end); NaN where no epoch in the window has it."""
    xs, ys = aux_series(result, stat)
    vals = [v for x, v in zip(xs, ys) if x >= first and (last is None or x <= last)]
    return float(np.mean(vals)) if vals else float("nan")


def discovery_summary(results: dict[str, dict], first: int = 1, last: int | None = None):
    """Mean over the epochs ``first..last`` (1-based, inclusive) of each pair-discovery statistic
    of each run's history: one row per run, columns (precision / recall, positive / negative)."""
    rows = {label: {tuple(reversed(stat.split("_"))): window_mean(r, stat, first, last) for stat in STATS}
            for label, r in results.items()}
    frame = pd.DataFrame(rows).T
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame.round(1)


@torch.no_grad()
def discovery_at_end(method, pool_size: int | None = None, seed: int = 0) -> dict[str, float]:
    """Precision / recall of both kinds over the whole training split, cut into random pools of
    ``pool_size`` (default: the run's ``large_batch``), with the trained auxiliary model."""
    aux, ds = _aux(method), method.ctx.splits.train
    size = pool_size or method.cfg.large_batch
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))
    sums = {stat: [] for stat in STATS}
    for start in range(0, len(order) - size + 1, size):
        pool = pool_of(method, order[start:start + size])
        for kind in KINDS:
            found = pair_precision_recall(aux.partners(pool, kind).cpu(), pool.y.cpu(), pool.b.cpu(), kind)
            sums[f"{kind}_precision"].append(found["precision"])
            sums[f"{kind}_recall"].append(found["recall"])
    return {stat: float(np.mean(v)) for stat, v in sums.items()}


def discovery_frame(methods: dict[str, Any], pool_size: int | None = None, seed: int = 0):
    """:func:`discovery_at_end` for several trained methods, one row each (percent)."""
    frame = pd.DataFrame({label: discovery_at_end(m, pool_size, seed) for label, m in methods.items()}).T
    frame.columns = pd.MultiIndex.from_tuples([tuple(reversed(c.split("_"))) for c in frame.columns])
    return frame.round(1)


def discovery_bars(frame, title: str = ""):
    """A bar chart of :func:`discovery_frame` (the layout of the paper's Fig. 9)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
    x = np.arange(len(frame))
    for ax, kind in zip(axes, KINDS):
        for j, what in enumerate(("precision", "recall")):
            ax.bar(x + (j - 0.5) * 0.38, frame[(what, kind)], 0.38, label=what)
        ax.set_xticks(x, list(frame.index), fontsize=8)
        ax.set_title(f"contradicting {kind}s", fontsize=9)
        ax.set_ylim(0, 105)
    axes[0].set_ylabel("%")
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# =========================================================================== Table 2
def table2_label(similarity: str, pairs: str, method: str = "lff_selecmix", dataset: str = "cmnist",
                 ratio: float = 1.0) -> str:
    """The run label of one cell of Table 2, e.g. ``lff_selecmix-simgt-pairsA``."""
    return run_label(make_config(dataset, ratio, method, "paper", similarity=similarity, pairs=pairs))


def table2_values(results: list[dict], dataset: str = "cmnist", ratio: float = 1.0, method: str = "lff_selecmix",
                  key: str = "best_test_unbiased") -> dict[str, dict[str, list[float]]]:
    """``pairs -> similarity -> [values over seeds]`` of the recorded runs behind Table 2."""
    out: dict[str, dict[str, list[float]]] = {}
    for pairs in PAIR_SET_NAMES:
        for sim in SOURCES:
            runs = _table2_cell(results, sim, pairs, method, dataset, ratio)
            out.setdefault(pairs, {})[sim] = [float(r[key]) for r in runs if r.get(key) is not None]
    return out


def _table2_cell(results: list[dict], similarity: str, pairs: str, method: str, dataset: str,
                 ratio: float) -> list[dict]:
    """The recorded runs of one cell of Table 2 (the tables' seeds, :data:`~selecmix.experiments.tables.TABLE_SEEDS`:
    0-4 on Colored MNIST, the paper's five trials)."""
    label = table2_label(similarity, pairs, method, dataset, ratio)
    return [r for r in table_runs(results) if r["label"] == label and r["dataset"] == dataset and float(r["ratio"]) == float(ratio)]


def table2_runs(results: list[dict], pairs: str, dataset: str = "cmnist", ratio: float = 1.0,
                method: str = "lff_selecmix") -> dict[str, dict]:
    """The recorded runs of one row of Table 2, keyed ``'GCE cos, seed 1'`` (sources in the
    table's order, seeds ascending): the input of :func:`precision_windows`."""
    return {f"{SOURCE_NAMES[sim]}, seed {r['seed']}": r for sim in SOURCES
            for r in sorted(_table2_cell(results, sim, pairs, method, dataset, ratio), key=lambda r: r["seed"])}


def precision_windows(runs: dict[str, dict], kind: str = "negative",
                      windows: Sequence[tuple[int, int | None]] = ((1, 1), (1, 10), (11, None), (1, None))):
    """Per run, the mean precision (%) of the contradicting pairs of one ``kind`` it chose over
    windows of epochs (:func:`window_mean`), beside its best test accuracy -- do the runs with the
    poorer pairs train worse?"""
    def name(first, last):
        return "whole run" if (first, last) == (1, None) else (
            f"epoch {first}" if first == last else f"epochs {first}-{last or 'end'}")

    rows = {label: {**{name(f, l): round(window_mean(r, f"{kind}_precision", f, l), 1) for f, l in windows},
                    "best test": r.get("best_test_unbiased")} for label, r in runs.items()}
    return pd.DataFrame(rows).T


def table2_frame(results: list[dict] | None = None, dataset: str = "cmnist", ratio: float = 1.0,
                 method: str = "lff_selecmix", key: str = "best_test_unbiased"):
    """Table 2's layout (rows: pair sets, columns: similarity sources). ``results=None``: the
    paper's numbers (Corrupted CIFAR-10, 1 %); otherwise our recorded runs, 'mean ± std (n)'."""
    if results is None:
        data = {PAIR_SET_NAMES[p]: {SOURCE_NAMES[s]: f"{m:.2f} ± {sd:.2f}" for s, (m, sd) in PAPER_TABLE2[p].items()}
                for p in PAIR_SET_NAMES}
    else:
        values = table2_values(results, dataset, ratio, method, key)
        data = {PAIR_SET_NAMES[p]: {SOURCE_NAMES[s]: format_runs(values[p][s]) for s in SOURCES} for p in PAIR_SET_NAMES}
    return pd.DataFrame(data).T[[SOURCE_NAMES[s] for s in SOURCES]]


def orderings(means: dict[str, dict[str, float]]) -> dict[str, str]:
    """Per pair set, the similarity sources from best to worst, e.g. ``'Ours (GSC) > GT > ...'``;
    sources without a number are left out."""
    out = {}
    for pairs, by_source in means.items():
        ranked = sorted(((v, s) for s, v in by_source.items() if v is not None and not math.isnan(v)), reverse=True)
        out[pairs] = " > ".join(SOURCE_NAMES[s] for _, s in ranked) if ranked else "not yet recorded"
    return out


def ordering_frame(results: list[dict] | None = None, live: dict[str, dict] | None = None,
                   dataset: str = "cmnist", ratio: float = 1.0, method: str = "lff_selecmix"):
    """The order of the similarity sources (best first) in the paper's Table 2, in our recorded
    runs and, if given, in the live runs (``live``: similarity -> result, pair set AB)."""
    cols = {"paper (Corrupted CIFAR-10 1 %, L+Ours)": orderings(
        {p: {s: m for s, (m, _) in PAPER_TABLE2[p].items()} for p in PAIR_SET_NAMES})}
    if results is not None:
        values = table2_values(results, dataset, ratio, method)
        cols[f"recorded full-scale runs ({dataset} {ratio:g} %, L+Ours)"] = orderings(
            {p: {s: (float(np.mean(v)) if v else None) for s, v in values[p].items()} for p in PAIR_SET_NAMES})
    if live is not None:
        cols["live fast runs (small sample, V+Ours)"] = {
            "AB": orderings({"AB": {s: r["best_test_unbiased"] for s, r in live.items()}})["AB"]}
    frame = pd.DataFrame(cols)
    frame.index = [PAIR_SET_NAMES[p] for p in frame.index]
    return frame.fillna("–")


def recorded_discovery(results: list[dict], dataset: str = "cmnist", ratio: float = 1.0, seed: int = 0,
                       sources: Sequence[str] = ("gsc", "gce-cos", "gce-l2", "gce-kl")) -> dict[str, dict]:
    """Recorded full-scale runs (one seed, pair set AB) whose histories hold pair-discovery
    statistics, keyed ``'V+Ours, Ours (GSC)'`` / ``'L+Ours, GCE cos'`` ...: the inputs of
    :func:`discovery_curves` for Fig. 9 at full scale."""
    out = {}
    for method, name in (("selecmix", "V+Ours"), ("lff_selecmix", "L+Ours")):
        for sim in sources:
            label = table2_label(sim, "AB", method, dataset, ratio)
            for r in results:
                if (r["label"] == label and r["dataset"] == dataset and float(r["ratio"]) == float(ratio)
                        and r.get("seed") == seed and any(aux_series(r, s)[0] for s in STATS)):
                    out[f"{name}, {SOURCE_NAMES[sim]}"] = r
    return out


def first_and_whole(results: dict[str, dict]):
    """Pair discovery of each run in its first epoch and over the whole run (means of the per-epoch
    statistics, :func:`discovery_summary`): one row per run."""
    return pd.concat({"epoch 1": discovery_summary(results, 1, 1), "whole run": discovery_summary(results)})
