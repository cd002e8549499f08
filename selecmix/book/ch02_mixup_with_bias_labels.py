"""Chapter 2 (mixup with bias labels): true contradicting partners, what a mixed sample is made
of, the lambda explorer and the table of live runs by protocol.
"""
from __future__ import annotations

from statistics import mean
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..data import BiasedDataset
from ..experiments.paper import paper_numbers
from ..experiments.tables import format_runs, is_collapsed, table_runs
from ..mixing import beta_sample, mixup_batch, sample_lambda
from ..selection import (
    is_contradicting,
)
from .plots import figure_explorer, show_image, to_float


# =========================================================================== Sec. 3.1: pairs by bias labels
def true_partners(ds: BiasedDataset, queries: torch.Tensor, kind: str, seed: int = 0) -> torch.Tensor:
    """A random *true* contradicting partner in the whole split for each query, by the bias labels
    (Sec. 3.1): ``positive`` -- same label, different bias; ``negative`` -- different label, same
    bias. -1 where the split has none."""
    gen = torch.Generator().manual_seed(seed)
    everyone = torch.arange(len(ds))
    candidates: dict[tuple[int, int], torch.Tensor] = {}          # per (label, bias) group
    out = torch.full((len(queries),), -1, dtype=torch.long)
    for n, i in enumerate(queries.tolist()):
        key = (int(ds.y[i]), int(ds.b[i]))
        if key not in candidates:
            ok = is_contradicting(torch.full_like(everyone, i), everyone, ds.y, ds.b, kind)
            candidates[key] = torch.nonzero(ok).flatten()
        cands = candidates[key]
        if len(cands):
            out[n] = cands[torch.randint(len(cands), (1,), generator=gen)]
    return out


def has_partner(ds: BiasedDataset, kind: str) -> torch.Tensor:
    """Boolean mask: which samples of the split have a true contradicting partner of ``kind``."""
    num_b = max(ds.num_classes, int(ds.b.max()) + 1)
    counts = torch.bincount(ds.y * num_b + ds.b, minlength=ds.num_classes * num_b).view(-1, num_b)  # (y, b)
    group = counts[ds.y, ds.b]
    if kind == "positive":
        return counts.sum(1)[ds.y] > group
    return counts.sum(0)[ds.b] > group


def example_queries(ds: BiasedDataset, n: int = 4, seed: int = 0) -> torch.Tensor:
    """``n`` bias-aligned queries with distinct labels (the typical query: 99 % of them are
    aligned), each with a true contradicting positive *and* negative in the split."""
    gen = torch.Generator().manual_seed(seed)
    ok = ds.aligned & has_partner(ds, "positive") & has_partner(ds, "negative")
    picks = []
    for c in torch.randperm(ds.num_classes, generator=gen).tolist():
        cands = torch.nonzero(ok & (ds.y == c)).flatten()
        if len(cands):
            picks.append(int(cands[torch.randint(len(cands), (1,), generator=gen)]))
    return torch.tensor(picks[:n], dtype=torch.long)




def mix(x_i: torch.Tensor, x_k: torch.Tensor, lam: float | torch.Tensor) -> torch.Tensor:
    """Eq. (1)'s image part: ``lam * x_i + (1 - lam) * x_k`` (uint8 or float inputs, float out)."""
    lam = torch.as_tensor(lam, dtype=torch.float32)
    if lam.dim() == 1:
        lam = lam.view(-1, *([1] * (x_i.dim() - 1)))
    return lam * to_float(x_i) + (1 - lam) * to_float(x_k)


def soft_label(y_i: int, y_k: int, lam: float, num_classes: int = 10) -> torch.Tensor:
    """Eq. (1)'s label part, used by mixup and LISA: ``lam * onehot(y_i) + (1 - lam) * onehot(y_k)``."""
    t = torch.zeros(num_classes)
    t[y_i] += lam
    t[y_k] += 1 - lam
    return t


def label_text(method: str, y_i: int, y_k: int, lam: float) -> str:
    """The label a method gives ``lam x_i + (1 - lam) x_k``: mixup / LISA interpolate (Eq. 1),
    SelecMix takes ``y_k`` (Alg. 1 line 8) and only ever draws ``lam <= 0.5`` (line 5)."""
    if method == "selecmix":
        return f"{y_k}" if lam <= 0.5 + 1e-9 else "never drawn (lam > 0.5)"
    if y_i == y_k or lam in (0.0, 1.0):
        return f"{y_i if lam >= 0.5 else y_k}"
    return f"{lam:.2f}·{y_i} + {1 - lam:.2f}·{y_k}"


def conflicting_share(y_i: int, b_i: int, y_k: int, b_k: int, lam: float, method: str) -> float:
    """Share of a mixed sample's training target that *contradicts its bias* (the quantity behind
    Sec. 3.1's argument and the paper's label / lam rules of Sec. 3.3 and App. C.3).

    The mixed image's bias is taken to be that of its heavier component (``b_i`` if ``lam > 0.5``,
    else ``b_k``); in Colored MNIST a target class contradicts colour ``b`` when it differs from
    ``b``. SelecMix's target is ``y_k`` alone, mixup's / LISA's the soft label of Eq. (1).
    """
    b_mix = b_i if lam > 0.5 else b_k
    if method == "selecmix":
        return float(y_k != b_mix)
    return lam * float(y_i != b_mix) + (1 - lam) * float(y_k != b_mix)


def draw_lambda(method: str, gen: torch.Generator) -> float:
    """One lam as each method draws it: mixup U[0, 1] (Beta(1, 1)), LISA Beta(2, 2) (both per batch),
    SelecMix ``min(u, 1 - u)`` (per sample, Alg. 1 line 5)."""
    if method == "selecmix":
        return float(sample_lambda(1, gen)[0])
    return beta_sample(2.0 if method == "lisa" else 1.0, gen)


def expected_conflicting_share(ds: BiasedDataset, method: str, kind: str | None = None, n: int = 2000,
                               seed: int = 0) -> float:
    """Monte-Carlo mean (percent) of :func:`conflicting_share` over ``n`` random queries of the split:
    mixup pairs at random; LISA and SelecMix-with-bias-labels pair each query with a random true
    contradicting partner of ``kind`` (queries without one are skipped, as they stay unmixed)."""
    gen = torch.Generator().manual_seed(seed)
    queries = torch.randint(len(ds), (n,), generator=gen)
    if method == "mixup":
        partners = torch.randint(len(ds), (n,), generator=gen)
    else:
        partners = true_partners(ds, queries, kind, seed)
    shares = []
    for i, k in zip(queries.tolist(), partners.tolist()):
        if k < 0:
            continue
        lam = draw_lambda(method, gen)
        shares.append(conflicting_share(int(ds.y[i]), int(ds.b[i]), int(ds.y[k]), int(ds.b[k]), lam, method))
    return 100 * float(np.mean(shares)) if shares else float("nan")


def mixup_demo(ds: BiasedDataset, n: int = 8, seed: int = 0) -> dict[str, Any]:
    """One plain-mixup batch (Eq. 1, :func:`selecmix.mixing.mixup_batch`) of ``n`` random training
    images, with the partner images made visible: ``x``, ``partner``, ``mixed`` (floats), the
    labels ``y_i``, ``y_k`` and ``lam``."""
    gen = torch.Generator().manual_seed(seed)
    batch = torch.randperm(len(ds), generator=gen)[:n]
    x, y = to_float(ds.images[batch]), ds.y[batch]
    state = gen.get_state()
    mixed, y_i, y_k, lam = mixup_batch(x, y, gen)
    gen.set_state(state)                                   # replay the same draw to read the permutation
    _, _, perm, _ = mixup_batch(x, torch.arange(n), gen)
    return {"x": x, "partner": x[perm], "mixed": mixed, "y_i": y_i, "y_k": y_k, "lam": lam, "index": batch}


def _sample_text(ds: BiasedDataset, i: int, role: str) -> str:
    state = "aligned" if bool(ds.aligned[i]) else "conflicting"
    return f"{role}: y={int(ds.y[i])}\ncolour {int(ds.b[i])} ({state})"


def bias_label_pairs_figure(ds: BiasedDataset, queries: torch.Tensor, partners: torch.Tensor, kind: str,
                            seed: int = 0, title: str | None = None):
    """One row per pair: query | true contradicting partner | LISA's mix | SelecMix's mix, with the
    lam each method drew and the label it assigns (Sec. 3.1; Sec. 4.3's three differences)."""
    gen = torch.Generator().manual_seed(seed)
    rows = [(int(i), int(k)) for i, k in zip(queries, partners) if k >= 0]
    fig, axes = plt.subplots(len(rows), 4, figsize=(7.6, 2.05 * len(rows)), squeeze=False)
    for r, (i, k) in enumerate(rows):
        yi, yk = int(ds.y[i]), int(ds.y[k])
        lam_lisa, lam_ours = draw_lambda("lisa", gen), draw_lambda("selecmix", gen)
        cells = [(ds.images[i], _sample_text(ds, i, "query")), (ds.images[k], _sample_text(ds, k, "partner")),
                 (mix(ds.images[i:i + 1], ds.images[k:k + 1], lam_lisa)[0],
                  f"LISA, lam={lam_lisa:.2f}\nlabel {label_text('lisa', yi, yk, lam_lisa)}"),
                 (mix(ds.images[i:i + 1], ds.images[k:k + 1], lam_ours)[0],
                  f"SelecMix, lam={lam_ours:.2f}\nlabel {label_text('selecmix', yi, yk, lam_ours)}")]
        for ax, (img, text) in zip(axes[r], cells):
            show_image(ax, img, text)
    fig.suptitle(title or f"contradicting {kind}s found with the bias labels, and their mixes", fontsize=10)
    fig.tight_layout()
    return fig




LAMBDAS = (0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0)


def lambda_static(ds: BiasedDataset, pairs: Sequence[tuple[int, int, str]], lams: Sequence[float] = LAMBDAS):
    """The static twin of :func:`lambda_explorer`: for each (query, partner, kind) a row of mixes
    ``lam x_i + (1 - lam) x_k`` over ``lams``, titled with LISA's and SelecMix's label."""
    fig, axes = plt.subplots(len(pairs), len(lams), figsize=(1.05 * len(lams) + 0.4, 1.75 * len(pairs)), squeeze=False)
    for r, (i, k, kind) in enumerate(pairs):
        yi, yk = int(ds.y[i]), int(ds.y[k])
        for ax, lam in zip(axes[r], lams):
            show_image(ax, mix(ds.images[i:i + 1], ds.images[k:k + 1], lam)[0],
                  f"lam={lam:g}\nLISA {label_text('lisa', yi, yk, lam).replace(' + ', '+')}\n"
                  f"Ours {label_text('selecmix', yi, yk, lam).replace('never drawn (lam > 0.5)', '-')}",
                  fontsize=6.5)
        axes[r][0].set_ylabel(f"{kind}\n{yi} (col {int(ds.b[i])}) x\n{yk} (col {int(ds.b[k])})", fontsize=7)
    fig.suptitle("lam weights the query x_i; 'Ours' = SelecMix (lam <= 0.5 only, label y_k)", fontsize=9)
    fig.tight_layout()
    return fig


def draw_lambda_view(ds: BiasedDataset, i: int, k: int, lam: float, fig=None):
    """Query, partner and their mix at ``lam``, and the two methods' training targets as bars."""
    fig = fig or plt.figure(figsize=(9, 2.4))
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1, 1, 1, 2.2]})
    yi, yk = int(ds.y[i]), int(ds.y[k])
    show_image(axes[0], ds.images[i], _sample_text(ds, i, "query x_i"))
    show_image(axes[1], ds.images[k], _sample_text(ds, k, "partner x_k"))
    show_image(axes[2], mix(ds.images[i:i + 1], ds.images[k:k + 1], lam)[0], f"{lam:.2f} x_i + {1 - lam:.2f} x_k")
    classes = np.arange(ds.num_classes)
    lisa = soft_label(yi, yk, lam, ds.num_classes).numpy()
    drawn = lam <= 0.5 + 1e-9                      # SelecMix only ever draws lam <= 0.5
    ours = np.eye(ds.num_classes)[yk] if drawn else np.zeros(ds.num_classes)
    axes[3].bar(classes - 0.2, lisa, 0.4, label="LISA / mixup (Eq. 1)")
    axes[3].bar(classes + 0.2, ours, 0.4, label="SelecMix (y_k)" + ("" if drawn else ": lam > 0.5 never drawn"))
    axes[3].set_xticks(classes)
    axes[3].set_ylim(0, 1.05)
    axes[3].set_xlabel("class")
    axes[3].set_ylabel("target weight")
    axes[3].legend(fontsize=8.5, loc="upper left")
    fig.tight_layout()
    return fig


def lambda_explorer(ds: BiasedDataset, pairs: Sequence[tuple[int, int, str]]):
    """A slider over lam and a choice of pair (Jupyter / Colab); see :func:`lambda_static`."""
    import ipywidgets as w

    options = [(f"{kind}: {int(ds.y[i])} x {int(ds.y[k])}", n) for n, (i, k, kind) in enumerate(pairs)]

    def show(pair, lam):
        i, k, _ = pairs[pair]
        draw_lambda_view(ds, i, k, lam)

    return figure_explorer(show, pair=w.Dropdown(options=options, description="pair"),
                           lam=w.FloatSlider(value=0.25, min=0, max=1, step=0.05, description="lam",
                                             continuous_update=False))


def protocol_frame(results: list[dict], rows: Sequence[tuple[str, str]], ratio: float = 1.0,
                   paper: dict[str, dict[float, tuple[float, float]]] | None = None):
    """Recorded runs of one ratio under three model-selection rules -- best test epoch (the
    paper's "oracle" protocol), last epoch, and the epoch of best (biased) validation accuracy --
    beside the paper's best-test number; the tables' seeds only (:data:`selecmix.experiments.tables.TABLE_SEEDS`).
    ``rows`` are ``(run label, display name)``. Collapsed runs (:func:`selecmix.experiments.tables.is_collapsed`)
    count in the mean like any other; their number and the mean of the others follow, as in Table 1."""
    keys = {"best test (paper protocol)": "best_test_unbiased", "last epoch": "last_test_unbiased",
            "best validation epoch": "valid_selected_test_unbiased"}
    data = {}
    results = [r for r in table_runs(results) if float(r["ratio"]) == float(ratio)]
    for label, name in rows:
        runs = [r for r in results if r["label"] == label]
        line = {col: format_runs([r[key] for r in runs if r.get(key) is not None],
                                 [r[key] for r in runs if r.get(key) is not None and is_collapsed(r)])
                for col, key in keys.items()}
        ref = (paper or {}).get(label, {}).get(float(ratio))
        line["paper (best test)"] = f"{ref[0]:.2f} ± {ref[1]:.2f}" if ref else "–"
        data[name] = line
    return pd.DataFrame(data).T


#: The pair sets of Table 5 and the run labels of its two mixing rules.
TABLE5_PAIRS = {"A (positives)": ("lisa-pairsA", "selecmix-simgt-pairsA"),
                "B (negatives)": ("lisa-pairsB", "selecmix-simgt-pairsB"),
                "AB (both)": ("lisa", "selecmix-simgt")}


def margin_frame(results: list[dict], ratio: float = 1.0, paper: dict | None = None):
    """Table 5's comparison in one line per pair set: SelecMix with bias labels minus LISA given
    the same pairs, from the recorded runs of one ratio (the tables' seeds), at the best test epoch
    and the last epoch, the paper's margin (best test) beside it, and in how many seeds run with
    both SelecMix was ahead. Means over every run (:func:`~selecmix.experiments.tables.format_runs`'s rule)."""
    paper = paper_numbers("cmnist") if paper is None else paper
    runs = [r for r in table_runs(results) if float(r["ratio"]) == float(ratio)]
    rows = {}
    for name, (lisa, ours) in TABLE5_PAIRS.items():
        by = {lab: {r["seed"]: r for r in runs if r["label"] == lab} for lab in (lisa, ours)}
        if not by[lisa] or not by[ours]:
            rows[name] = {"best test: margin": "not yet recorded"}
            continue
        row = {}
        for col, key in (("best test", "best_test_unbiased"), ("last epoch", "last_test_unbiased")):
            m = mean(r[key] for r in by[ours].values()) - mean(r[key] for r in by[lisa].values())
            row[f"{col}: margin"] = round(m, 2)
        p_ours, p_lisa = paper.get(ours, {}).get(float(ratio)), paper.get(lisa, {}).get(float(ratio))
        row["paper margin (best test)"] = round(p_ours[0] - p_lisa[0], 2) if p_ours and p_lisa else None
        both = sorted(set(by[lisa]) & set(by[ours]))
        won = sum(by[ours][s]["best_test_unbiased"] > by[lisa][s]["best_test_unbiased"] for s in both)
        row["seeds SelecMix ahead"] = f"{won} of {len(both)}"
        rows[name] = row
    frame = pd.DataFrame(rows).T
    frame.index.name = "pair set"
    return frame


def seed_margin_frame(results: list[dict], ratio: float = 1.0):
    """Table 5 per seed: for each pair set (A, B, AB) and seed recorded with both mixing rules,
    LISA's and SelecMix's (bias labels) unbiased test accuracy at the best test epoch, SelecMix's
    margin there and its margin at the last epoch. One row per (pair set, seed)."""
    runs = [r for r in table_runs(results) if float(r["ratio"]) == float(ratio)]
    rows = {}
    for name, (lisa, ours) in TABLE5_PAIRS.items():
        by = {lab: {r["seed"]: r for r in runs if r["label"] == lab} for lab in (lisa, ours)}
        for seed in sorted(set(by[lisa]) & set(by[ours])):
            a, b = by[lisa][seed], by[ours][seed]
            rows[(name.split()[0], seed)] = {
                "LISA": a["best_test_unbiased"], "SelecMix": b["best_test_unbiased"],
                "margin": b["best_test_unbiased"] - a["best_test_unbiased"],
                "margin, last epoch": b["last_test_unbiased"] - a["last_test_unbiased"]}
    frame = pd.DataFrame(rows).T.round(2)
    if len(frame):
        frame.index.names = ["pair set", "seed"]
    return frame
