"""The auxiliary model's embedding space: SC vs GSC (paper Sec. 3.2, Eqs. 2-3, App. C.2, Fig. 2,
Fig. 4, Table 3).

* :func:`gsc_pair_weights`, :func:`anchor_pulls` -- how the stop-gradient weight ``p_ik^q`` of
  Eq. 3 reweights the pairs of one anchor, and what that does to the gradient; the widget
  :func:`gsc_weight_explorer` and its static twin :func:`gsc_weight_static`;
* :func:`gce_gradient_ratio` -- App. C.2, Eq. 6: the GCE gradient is the CE gradient times ``p_y^q``;
* :func:`train_auxiliary` -- train ``g`` alone with SC (Eq. 2) or GSC (Eq. 3) and record, per
  epoch, the mean cosine similarity of the four kinds of pairs of Fig. 2;
  :func:`plot_similarity_panels` draws them as the paper does (one panel per loss);
* :func:`features_of`, :func:`tsne_2d`, :func:`plot_tsne_grid` -- Fig. 4, t-SNE of the embeddings
  of ``g`` (SC / GSC) and of LfF's GCE-trained biased model, coloured by bias label;
* :func:`probe_bias` -- Table 3, a linear probe that predicts the bias label from the embedding.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..config import make_config
from ..data import BiasedDataset, BiasedSplits, InputPipeline
from ..data.colored_mnist import COLORS
from ..experiments.pair_stats import similarity_groups
from ..experiments.paper import PAPER_TABLE3
from ..experiments.probes import bias_probe_on, biased_features
from ..experiments.tables import is_collapsed, table_runs
from ..losses import gce_loss
from ..methods.selecmix import g_optimizer, g_step, train_alone
from ..models import ContrastiveModel
from . import one_thread, quiet
from .ch04_pair_selection import window_mean
from .plots import figure_explorer
from .recorded import aux_series, cell_text, select, summarize

PAIR_KINDS = ("positive", "negative", "contradicting_positive", "contradicting_negative")


PAIR_NAMES = {"positive": "positives", "negative": "negatives",
              "contradicting_positive": "contradicting positives",
              "contradicting_negative": "contradicting negatives"}


# Fig. 2's line styles: solid for all positives / negatives, dotted for the contradicting ones.
PAIR_STYLE = {"positive": dict(color="tab:blue", ls="-"), "negative": dict(color="tab:red", ls="-"),
              "contradicting_positive": dict(color="tab:blue", ls=":"),
              "contradicting_negative": dict(color="tab:red", ls=":")}


def gsc_pair_weights(sims: torch.Tensor, tau: float = 0.2, q: float = 0.7) -> dict[str, torch.Tensor]:
    """For one anchor i with cosine similarities ``sims`` (to every other sample of the batch):
    ``p`` = p_ik of Eq. 2 (softmax of sims / tau over j != i) and ``weight`` = stopgrad(p_ik)^q,
    the factor GSC (Eq. 3) puts on the pair's term ``-log p_ik``; SC's factor is 1.

    Two pairs of the same anchor have weights in the ratio ``exp(q (s_1 - s_2) / tau)``: the
    normaliser of the softmax cancels, so the weight depends on the similarity alone.
    """
    p = torch.softmax(torch.as_tensor(sims, dtype=torch.float64) / tau, dim=0)
    return {"p": p, "weight": p ** q}


def anchor_loss(sims: torch.Tensor, positive: torch.Tensor, tau: float = 0.2, q: float | None = 0.7) -> torch.Tensor:
    """Anchor i's term of Eq. 2 (``q=None``) or Eq. 3 from its similarities ``sims`` to the other
    samples of the batch: ``L_i = -(1/|P_i|) sum_{k in P_i} w_ik log p_ik`` with ``w_ik = 1`` (SC)
    or ``w_ik = stopgrad(p_ik)^q`` (GSC). Averaged over anchors it equals
    :func:`selecmix.losses.supcon_loss` / :func:`~selecmix.losses.gsc_loss` (tested)."""
    log_p = torch.log_softmax(sims / tau, dim=0)
    w = torch.ones_like(log_p) if q is None else log_p.detach().exp() ** q
    pos = torch.as_tensor(positive, dtype=torch.bool)
    return -(w * log_p)[pos].sum() / pos.sum().clamp_min(1)


def anchor_pulls(sims: torch.Tensor, positive: torch.Tensor, tau: float = 0.2,
                 q: float | None = 0.7) -> torch.Tensor:
    """The *pull* ``-dL_i / ds_ik`` of anchor i's loss term (:func:`anchor_loss`) on each
    similarity ``s_ik``: positive means the loss draws the pair together, negative pushes it apart."""
    s = torch.as_tensor(sims, dtype=torch.float64).clone().requires_grad_(True)
    anchor_loss(s, positive, tau, q).backward()
    return -s.grad


def toy_anchor() -> dict[str, Any]:
    """A toy batch seen from one anchor (a red zero) by a ``g`` that has learnt colour: cosine
    similarities of the 20 other samples, their kind, and which are positives (same label)."""
    rows = ([("red 0 (positive)", "positive", 0.9)] * 6 + [("green 0 (contradicting positive)", "contradicting_positive", 0.1)]
            + [("red 1 (contradicting negative)", "contradicting_negative", 0.8)]
            + [("other digit, other colour (negative)", "negative", 0.0)] * 12)
    names, kinds, sims = (list(column) for column in zip(*rows))
    positive = torch.tensor([k in ("positive", "contradicting_positive") for k in kinds])
    return {"name": names, "kind": kinds, "sim": torch.tensor(sims, dtype=torch.float64), "positive": positive}


def toy_anchor_table(tau: float = 0.2, q: float = 0.7):
    """One row per kind of pair of :func:`toy_anchor`: cosine similarity, p_ik, GSC weight p_ik^q,
    and the pull of the SC and GSC terms on that pair (a pandas DataFrame)."""
    toy = toy_anchor()
    wts = gsc_pair_weights(toy["sim"], tau, q)
    pull_sc = anchor_pulls(toy["sim"], toy["positive"], tau, None)
    pull_gsc = anchor_pulls(toy["sim"], toy["positive"], tau, q)
    frame = pd.DataFrame({"pair with the anchor (a red 0)": toy["name"], "cosine sim": toy["sim"].numpy(),
                          "p_ik (Eq. 2)": wts["p"].numpy(), "GSC weight p_ik^q": wts["weight"].numpy(),
                          "pull under SC": pull_sc.numpy(), "pull under GSC": pull_gsc.numpy()})
    return frame.drop_duplicates("pair with the anchor (a red 0)").set_index("pair with the anchor (a red 0)")


def draw_gsc_weights(q: float = 0.7, tau: float = 0.2, ax=None, marks: dict[str, float] | None = None):
    """Relative GSC weight ``exp(q (s - 1) / tau)`` of a pair of cosine similarity s (1 at s = 1),
    with SC's constant weight for comparison. ``marks``: name -> similarity to point out."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    s = np.linspace(-1, 1, 201)
    ax.semilogy(s, np.exp(q * (s - 1) / tau), color="tab:purple", label=f"GSC (q = {q:g}, tau = {tau:g})")
    ax.semilogy(s, np.ones_like(s), color="grey", ls="--", label="SC (every pair weight 1)")
    marks = {"aligned positive": 0.9, "contradicting positive": 0.1} if marks is None else marks
    for name, value in marks.items():
        w = math.exp(q * (value - 1) / tau)
        ax.plot([value], [w], "o", color="black")
        ax.annotate(f"{name}\n{w:.2g}", (value, w), textcoords="offset points", xytext=(-10, -26), fontsize=7, ha="center")
    ax.set_ylim(1e-5, 3)
    ax.set_xlabel("cosine similarity of the pair  z_i . z_k")
    ax.set_ylabel("weight of the pair's term")
    ax.set_title("Eq. 3's weight p_ik^q, relative to a pair with s = 1", fontsize=9)
    ax.legend(fontsize=8.5, loc="lower right")
    return ax


def gsc_weight_static(qs: Sequence[float] = (0.3, 0.7, 1.0), taus: Sequence[float] = (0.1, 0.2, 0.5)):
    """The static twin of :func:`gsc_weight_explorer`: the weight curve for several q (tau = 0.2)
    and several tau (q = 0.7)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    s = np.linspace(-1, 1, 201)
    for ax, values, name in ((axes[0], qs, "q"), (axes[1], taus, "tau")):
        for v in values:
            q, tau = (v, 0.2) if name == "q" else (0.7, v)
            ax.semilogy(s, np.exp(q * (s - 1) / tau), label=f"q = {q:g}, tau = {tau:g}")
        ax.semilogy(s, np.ones_like(s), color="grey", ls="--", label="SC (q = 0)")
        ax.set_xlabel("cosine similarity of the pair")
        ax.set_title(f"GSC weight for several {name} ({'tau = 0.2' if name == 'q' else 'q = 0.7'})", fontsize=9)
        ax.legend(fontsize=8.5, loc="lower right")
        ax.set_ylim(1e-5, 3)
    axes[0].set_ylabel("relative weight of the pair's term")
    fig.tight_layout()
    return fig


def gsc_weight_explorer():
    """Sliders over q and tau redrawing :func:`draw_gsc_weights` (Jupyter / Colab)."""
    import ipywidgets as w

    q = w.FloatSlider(value=0.7, min=0.0, max=1.0, step=0.05, description="q", continuous_update=False)
    tau = w.FloatLogSlider(value=0.2, base=10, min=-1.3, max=0, step=0.05, description="tau", continuous_update=False)
    return figure_explorer(draw_gsc_weights, q=q, tau=tau)


def gce_gradient_ratio(logits: torch.Tensor, y: torch.Tensor, q: float = 0.7) -> dict[str, torch.Tensor]:
    """App. C.2, Eq. 6: per sample, the gradient of :func:`selecmix.losses.gce_loss` w.r.t. the
    logits divided by that of cross-entropy, next to ``q * p_y^q`` (LfF's form carries the extra
    constant q). Both are computed with autograd; they agree to rounding."""
    logits = torch.as_tensor(logits, dtype=torch.float64)
    grads = []
    for fn in (lambda z: gce_loss(z, y, q, reduction="sum"), lambda z: F.cross_entropy(z, y, reduction="sum")):
        z = logits.clone().requires_grad_(True)
        fn(z).backward()
        grads.append(z.grad)
    p_y = torch.softmax(logits, 1).gather(1, y[:, None]).squeeze(1)
    return {"p_y": p_y, "measured": grads[0][torch.arange(len(y)), y] / grads[1][torch.arange(len(y)), y],
            "q_p_y^q": q * p_y ** q}


@dataclass
class AuxRun:
    """The auxiliary model ``g`` trained alone, with its per-epoch similarity curves (Fig. 2)."""

    g: torch.nn.Module
    loss: str
    ratio: float
    curves: dict[str, list[float]] = field(default_factory=dict)   # "epoch" and the four PAIR_KINDS
    seconds: float = 0.0
    pipeline: InputPipeline | None = None

    @torch.no_grad()
    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """g's embeddings of uint8 images (g in eval mode)."""
        self.g.eval()
        device = next(self.g.parameters()).device
        return self.g((self.pipeline or InputPipeline("cmnist", "clean")).g_input(images, device))

    @torch.no_grad()
    def embed(self, ds: BiasedDataset, pipeline: InputPipeline | None = None) -> torch.Tensor:
        """L2-normalised 128-d embeddings of every image of ``ds`` (g in eval mode)."""
        pipeline = pipeline or self.pipeline or InputPipeline("cmnist", "clean")
        self.g.eval()
        device = next(self.g.parameters()).device
        return torch.cat([self.g(pipeline.g_input(chunk, device)).cpu() for chunk in ds.images.split(2048)])


def train_auxiliary(splits: BiasedSplits, loss: str = "gsc", epochs: int = 20, seed: int = 0, cfg=None,
                    probe_size: int = 4096, device="cpu", dataset: str = "cmnist", profile: str | None = None) -> AuxRun:
    """Train the auxiliary model ``g`` alone with SC (``loss="sc"``, Eq. 2) or GSC (``"gsc"``,
    Eq. 3) -- the experiment of Fig. 2 -- and after every epoch (and once before training, epoch 0)
    record :func:`selecmix.experiments.pair_stats.similarity_groups` on a fixed probe of ``probe_size``
    training images (all of them in the fast profile's 3,600-image split): mean cosine
    similarity of positives, negatives, contradicting positives and contradicting negatives.

    Hyperparameters (architecture, optimiser, learning rate, batch size, tau, q) come from
    ``cfg`` (default: the SelecMix config of the dataset and the split's ratio in ``profile``,
    default ``SELECMIX_PROFILE``, i.e. ``fast``), so ``g`` is trained
    exactly as inside SelecMix, only without ``f``: mini-batches of ``batch_size`` images of
    the training split, unaugmented, clean input scale.
    """
    if loss not in ("sc", "gsc"):
        raise ValueError(f"unknown loss {loss!r}; use 'sc' (Eq. 2) or 'gsc' (Eq. 3)")
    train = splits.train
    cfg = cfg or make_config(dataset, train_ratio(train), "selecmix", profile, similarity=loss, seed=seed)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    pipeline = InputPipeline(cfg.dataset, cfg.input_scale)
    g = ContrastiveModel(cfg.g_arch).to(device)
    opt = g_optimizer(g, cfg)
    x_g = pipeline.g_input(train.images, device)
    y = train.y.to(device)
    probe = torch.randperm(len(train), generator=torch.Generator().manual_seed(1234))[:min(len(train), probe_size)]
    curves: dict[str, list[float]] = {"epoch": []}

    def record(epoch: int) -> None:
        g.eval()
        with torch.no_grad():
            z = torch.cat([g(chunk) for chunk in x_g[probe.to(device)].split(1024)])
        g.train()
        groups = similarity_groups(z, train.y_clean[probe].to(device), train.b[probe].to(device))
        curves["epoch"].append(epoch)
        for kind in PAIR_KINDS:
            curves.setdefault(kind, []).append(groups[kind])

    with one_thread():
        t0 = time.perf_counter()
        record(0)
        train_alone(lambda idx: g_step(g, opt, x_g[idx], y[idx], cfg, loss), len(y), cfg.batch_size, gen, epochs,
                    y.device, on_epoch=record)
    return AuxRun(g.eval(), loss, float(cfg.ratio), curves, time.perf_counter() - t0, pipeline)


def train_ratio(ds: BiasedDataset) -> float:
    """The bias-conflicting ratio (percent) of a split, rounded to the paper's grid when close."""
    share = 100 * float(ds.conflicting.float().mean())
    for r in (0.5, 1.0, 2.0, 5.0):
        if abs(share - r) < 0.35 * r:
            return r
    return round(share, 2)




def recorded_similarity_curves(results, label: str, dataset: str = "cmnist", ratio: float = 1.0,
                               profile: str | None = "paper") -> dict[str, Any]:
    """Fig. 2's curves from *recorded* runs with that label (``selecmix``: GSC, ``selecmix-simsc``:
    SC), averaged over seeds: the ``sim_*`` entries of each epoch's ``aux`` record, measured on a
    fixed probe of 2,048 training images. ``n`` = number of seeds (0: not yet recorded)."""
    s = aux_series(results, label, [f"sim_{k}" for k in PAIR_KINDS], dataset, ratio, profile)
    curves = {"epoch": s["epoch"], "n": s["n"]}
    for kind in PAIR_KINDS:
        curves[kind] = s.get(f"sim_{kind}", [])
    return curves


def plot_similarity_panels(panels: dict[str, dict[str, list[float]]], suptitle: str = "", axes=None):
    """Fig. 2: one panel per loss (title -> curves), mean cosine similarity per epoch; solid lines
    for positives / negatives, dotted for contradicting positives / negatives. A panel without
    curves says "not yet recorded"."""
    if axes is None:
        fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.4), sharey=True, squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    for ax, (title, curves) in zip(axes, panels.items()):
        drawn = False
        for kind in PAIR_KINDS:
            if len(curves.get(kind, [])):
                ax.plot(curves["epoch"], curves[kind], label=PAIR_NAMES[kind], lw=1.8, **PAIR_STYLE[kind])
                drawn = True
        if not drawn:
            ax.text(0.5, 0.5, "not yet recorded", transform=ax.transAxes, ha="center", color="grey")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.set_ylim(-0.3, 1.05)
        ax.axhline(0, color="grey", lw=0.5)
    axes[0].set_ylabel("mean cosine similarity")
    handles = [plt.Line2D([], [], lw=1.8, label=PAIR_NAMES[k], **PAIR_STYLE[k]) for k in PAIR_KINDS]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=9.5, frameon=False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


@torch.no_grad()
def image_features(model):
    """``model``'s biased embedding as a function of uint8 images: an :class:`AuxRun` (g's 128-d
    L2-normalised output) or a trained method (:func:`selecmix.experiments.probes.biased_features`: SelecMix's
    ``g`` or LfF's biased model)."""
    if isinstance(model, AuxRun):
        return lambda images: model.embed_images(images)
    features = biased_features(model, model.ctx) if hasattr(model, "ctx") else None
    if features is None:
        raise TypeError(f"no biased embedding in {type(model).__name__}: pass an AuxRun, an LfF or a SelecMix method")
    return features


@torch.no_grad()
def features_of(model, ds: BiasedDataset) -> torch.Tensor:
    """Embeddings of every image of ``ds`` (:func:`image_features`), on the CPU."""
    features = image_features(model)
    return torch.cat([features(chunk).cpu() for chunk in ds.images.split(2048)])


def probe_bias(model, splits: BiasedSplits, max_train: int = 10000) -> float:
    """Table 3: accuracy (percent) of a linear probe that predicts the *bias label* from the frozen
    embedding, fitted on the (biased) training split and scored on the unbiased test split --
    where bias and label disagree, so only an embedding that encodes the bias itself scores
    high. The protocol of the ``aux_bias_probe`` of recorded runs: :func:`selecmix.experiments.probes.bias_probe_on`."""
    with quiet():
        return bias_probe_on(image_features(model), splits, max_train)


def tsne_2d(features: torch.Tensor, seed: int = 0, perplexity: float = 30.0, max_iter: int = 500) -> np.ndarray:
    """2-d t-SNE (scikit-learn, PCA initialisation, 500 iterations) of (N, d) features."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = features.detach().cpu().double().numpy()
    # one thread: on a busy 2-core machine OpenMP's spinning threads make t-SNE ten times slower
    with threadpool_limits(1):
        return TSNE(n_components=2, perplexity=min(perplexity, (len(x) - 1) / 3), init="pca",
                    max_iter=max_iter, random_state=seed).fit_transform(x)


def subsample(ds: BiasedDataset, n: int = 800, seed: int = 0) -> BiasedDataset:
    """A random subset of ``n`` samples (for a quick t-SNE)."""
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return ds.subset(idx)


def plot_tsne_grid(points: dict[tuple[str, str], tuple[np.ndarray, torch.Tensor]], bias_names: Sequence[str] | None = None,
                   suptitle: str = "", colors=None, legend_title: str = "bias label (colour)"):
    """Fig. 4: a grid of t-SNE scatter plots, ``points[(row, column)] = (xy, bias labels)``; each
    point is drawn in its bias class's Colored MNIST colour
    (:data:`selecmix.data.colored_mnist.COLORS`, or ``colors``: one RGB row per class)."""
    palette = np.asarray(COLORS if colors is None else colors, dtype=float)
    rows = list(dict.fromkeys(r for r, _ in points))
    cols = list(dict.fromkeys(c for _, c in points))
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(3.0 * len(cols) + 1.2, 3.0 * len(rows)), squeeze=False)
    for (row, col), (xy, b) in points.items():
        ax = axes[rows.index(row)][cols.index(col)]
        ax.scatter(xy[:, 0], xy[:, 1], c=palette[np.asarray(b)], s=7, alpha=0.9, linewidths=0.2, edgecolors="0.3")
        ax.set_xticks([])
        ax.set_yticks([])
        if rows.index(row) == 0:
            ax.set_title(col, fontsize=9)
        if cols.index(col) == 0:
            ax.set_ylabel(row, fontsize=9)
    names = list(bias_names) if bias_names else [str(i) for i in range(len(palette))]
    handles = [plt.Line2D([], [], marker="o", ls="", markersize=7, markerfacecolor=palette[i], markeredgecolor="0.3",
                          label=names[i]) for i in range(len(names))]
    fig.legend(handles=handles, loc="center right", fontsize=9, title=legend_title, title_fontsize=9, frameon=False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 1.1 / fig.get_figwidth(), 1))
    return fig


def probe_frame(probes: dict[tuple[str, float], float]):
    """Live probe accuracies ``{(model name, ratio): accuracy}`` as a table: one row per model,
    one column per ratio."""
    models = list(dict.fromkeys(m for m, _ in probes))
    ratios = sorted({r for _, r in probes})
    frame = pd.DataFrame({f"{r:g} %": [probes.get((m, r)) for m in models] for r in ratios}, index=models)
    frame.index.name = "biased model"
    return frame.round(1)


RECORDED_PROBES = {"lff": "LfF (GCE biased model)", "selecmix-simsc": "g trained with SC (SelecMix + SC)",
                   "selecmix": "g trained with GSC (SelecMix)"}


def recorded_probe_frame(results, dataset: str = "cmnist", ratios: Sequence[float] = (0.5, 1.0, 2.0, 5.0),
                         labels: dict[str, str] | None = None, profile: str | None = "paper"):
    """Table 3 from recorded runs: the ``aux_bias_probe`` each LfF / SelecMix run stores at its
    end (same probe as :func:`probe_bias`), mean ± std over the tables' seeds, or "not yet recorded";
    runs whose ``f`` collapsed are kept: the probe is of ``g``, which trains either way."""
    results = list(results)
    labels = RECORDED_PROBES if labels is None else labels
    data = {f"{r:g} %": [cell_text(summarize(select(results, label, dataset, r, profile), "aux_bias_probe"))
                         for label in labels] for r in ratios}
    frame = pd.DataFrame(data, index=list(labels.values()))
    frame.index.name = "biased model"
    return frame


def paper_table3_frame():
    """The paper's Table 3 (Corrupted CIFAR-10 and BFFHQ; the paper gives no Colored MNIST numbers)."""
    names = {"lff": "LfF", "DFA": "DFA", "selecmix": "Ours (GSC)"}
    cols = {}
    for dataset, rows in PAPER_TABLE3.items():
        ratios = (0.5,) if dataset == "bffhq" else (0.5, 1.0, 2.0, 5.0)
        for i, r in enumerate(ratios):
            cols[(dataset, f"{r:g} %")] = {names[m]: f"{v[i][0]:.2f} ± {v[i][1]:.2f}" for m, v in rows.items()}
    frame = pd.DataFrame(cols)
    frame.index.name = "biased model"
    return frame


def ranking(probes: dict[tuple[str, float], float], ratio: float) -> str:
    """The models of one ratio ordered by probe accuracy, e.g. ``'GSC 80.0 > LfF 76.6 > SC 71.4'``."""
    row = sorted(((acc, m) for (m, r), acc in probes.items() if r == ratio), reverse=True)
    return " > ".join(f"{m} ({acc:.1f})" for acc, m in row)


def sc_vs_gsc_seeds(results, dataset: str = "cmnist", ratio: float = 1.0):
    """SelecMix (V+Ours) with GSC's ``g`` against SC's, per recorded seed (the tables' seeds): the
    mean precision of the contradicting positives and negatives it chose over the run, the bias
    probe of its ``g``, and the unbiased test accuracy of ``f`` (best test epoch, last epoch; a run
    whose ``f`` collapsed, :func:`~selecmix.experiments.tables.is_collapsed`, says so)."""
    rows = {}
    for name, label in (("GSC", "selecmix"), ("SC", "selecmix-simsc")):
        for r in sorted(table_runs(results), key=lambda r: r.get("seed", 0)):
            if r["label"] != label or r["dataset"] != dataset or float(r["ratio"]) != float(ratio) or r.get("profile") != "paper":
                continue
            rows[(name, r["seed"])] = {
                "precision, positives": round(window_mean(r, "positive_precision"), 1),
                "precision, negatives": round(window_mean(r, "negative_precision"), 1),
                "probe of g": r.get("aux_bias_probe"),
                "f, best test": r.get("best_test_unbiased"),
                "f, last": f"{r['last_test_unbiased']:.2f}" + (" (collapsed)" if is_collapsed(r) else "")}
    frame = pd.DataFrame(rows).T
    if len(frame):
        frame.index.names = ["g", "seed"]
    return frame
