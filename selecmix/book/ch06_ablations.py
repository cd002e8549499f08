"""The ablation figures from run results: Fig. 3 (label noise), Fig. 5 (pretrained, frozen ``g``
vs ``g`` trained simultaneously), Table 4 in both model-selection protocols, and per-epoch
auxiliary statistics of recorded runs (Fig. 2's similarity curves, Fig. 9's pair precision).

Every function takes a plain list of result dicts (:func:`selecmix.experiments.tables.load_results`, or
the dicts returned by :func:`selecmix.experiments.runs.train_run`) and finds the runs it needs by their *label*
(:func:`selecmix.experiments.records.run_label`: method plus the fields that differ from the profile's
defaults, e.g. ``selecmix-noise2`` or ``selecmix-pre25-simsc``), dataset, ratio and profile.
Missing runs are reported as missing ("not yet recorded"), never filled in. Seeds are averaged:
mean, sample standard deviation and the number of seeds ``n``, over the tables' seeds
(:data:`selecmix.experiments.tables.TABLE_SEEDS`: the paper's trials, 0-4 on Colored MNIST) unless
``seeds`` says otherwise. A run whose ``f`` collapsed (:func:`selecmix.experiments.tables.is_collapsed`)
counts in the mean like any other -- the book's one rule -- and the figures mark how many runs of a
point collapsed.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..config import make_config
from ..experiments.runs import train_run
from ..experiments.tables import (
    CHANCE,
    TABLE_SEEDS,
    aggregate,
    comparison_rows,
    format_runs,
)
from . import one_thread, quiet
from .plots import comparison_frame
from .recorded import (
    MISSING,
    aux_series,
    aux_series_of,
    cell_text,
    label_of,
    select,
    summarize,
)

# The grids of the paper's Fig. 3 and of our Fig. 5 sweep (selecmix.experiments.sweeps.plan "noise" / "pretrain").
NOISE_BETAS = (0.5, 1.0, 2.0, 5.0)


NOISE_METHODS = {"vanilla": "Vanilla", "lff": "LfF", "selecmix": "SelecMix (V+Ours)", "lff_selecmix": "SelecMix (L+Ours)"}


PRETRAIN_EPOCHS = (0, 1, 5, 25, 100, 200)


SIMILARITY_NAMES = {"gsc": "GSC", "sc": "SC"}


def noise_series(results: Iterable[dict[str, Any]], dataset: str = "cmnist", ratio: float = 1.0,
                 key: str = "best_test_unbiased", betas: Sequence[float] = NOISE_BETAS,
                 methods: dict[str, str] | None = None, profile: str | None = "paper",
                 include_clean: bool = True, seeds: Iterable[int] | None = TABLE_SEEDS) -> dict[str, list[dict[str, Any]]]:
    """Fig. 3: for each method (display name -> points), the unbiased accuracy at each label-noise
    level beta (percent of training labels replaced at random; runs labelled ``<method>-noise<beta>``).
    ``include_clean`` adds beta = 0 from the runs without noise (label ``<method>``). Points average
    ``seeds`` (default the tables' 0-2; None: every recorded seed, so that the extra seeds trained
    for collapsed runs count too), collapsed runs left out and counted."""
    results = list(results)
    methods = NOISE_METHODS if methods is None else methods
    grid = ((0.0,) if include_clean else ()) + tuple(betas)
    series = {}
    for method, display in methods.items():
        points = []
        for beta in grid:
            label = label_of(method, dataset, ratio, profile or "paper", label_noise=beta)
            points.append({"beta": beta, "label": label,
                           **summarize(select(results, label, dataset, ratio, profile, seeds), key)})
        series[display] = points
    return series


def series_frame(series: dict[str, list[dict[str, Any]]], x: str, x_name: str | None = None):
    """A series dict (name -> points with an ``x`` field) as a DataFrame: one row per name, one
    column per x value, cells 'mean ± std (n)' or 'not yet recorded'."""
    data = {name: {f"{p[x]:g}": cell_text(p) for p in points} for name, points in series.items()}
    frame = pd.DataFrame(data).T
    frame.columns.name = x_name or x
    return frame


def _plot_points(ax, points: list[dict[str, Any]], x: str, **style) -> bool:
    have = [p for p in points if p["n"]]
    if not have:
        return False
    xs = [p[x] for p in have]
    ax.errorbar(xs, [p["mean"] for p in have], yerr=[p["std"] for p in have], capsize=3, marker="o", **style)
    return True


def _mark_collapsed(ax, points: list[dict[str, Any]], x: str, y: float, color: str) -> int:
    """Marks the collapsed runs of each point (they are in its mean): an 'x' at ``y`` (chance)
    where every run collapsed, 'k collapsed' beside a point where some did. Returns how many
    points had every run collapsed."""
    dead = [p for p in points if p["n"] and p.get("collapsed") == p["n"]]
    if dead:
        ax.scatter([p[x] for p in dead], [y] * len(dead), marker="x", s=60, color=color, zorder=3)
    for p in points:
        if p.get("collapsed") and p["collapsed"] < p["n"]:
            ax.annotate(f"{p['collapsed']} collapsed", (p[x], p["mean"]), textcoords="offset points",
                        xytext=(4, -10), fontsize=7, color=color)
    return len(dead)


def plot_noise(series: dict[str, list[dict[str, Any]]], ax=None, title: str = "", ylabel: str = "unbiased test accuracy (%)",
               chance: float = CHANCE["cmnist"]):
    """Fig. 3 as the paper draws it: one line per method, accuracy against label noise beta; the
    line joins the means over every run. Collapsed runs (see
    :func:`~selecmix.experiments.tables.is_collapsed`) are marked: an 'x' at ``chance`` where every
    run of a point collapsed, 'k collapsed' beside a mean that includes k of them. Methods without any run are listed on the plot as not yet recorded."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.6))
    drawn = 0
    any_dead = False
    for i, (name, points) in enumerate(series.items()):
        color = f"C{i}"
        if _plot_points(ax, points, "beta", color=color, label=f"{name} (n={max(p['n'] for p in points)})"):
            drawn += 1
        elif any(p.get("collapsed") for p in points):
            ax.plot([], [], ls="", marker="x", color=color, label=f"{name}: every run collapsed")
        else:
            ax.plot([], [], ls="", label=f"{name}: {MISSING}")
        any_dead |= _mark_collapsed(ax, points, "beta", chance, color) > 0
    if any_dead:
        ax.scatter([], [], marker="x", color="grey", label="x: every run collapsed (f at chance)")
    betas = sorted({p["beta"] for points in series.values() for p in points})
    ax.set_xscale("symlog", linthresh=0.5)
    ax.set_xticks(betas, [f"{b:g}" for b in betas])
    ax.set_xlabel("label noise beta (% of training labels replaced)")
    ax.set_ylabel(ylabel)
    if not drawn:
        ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))   # outside: the lines fill the axes
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def pretrain_runs(results: Iterable[dict[str, Any]], similarity: str, k: int, dataset: str = "cmnist",
                  ratio: float = 1.0, profile: str | None = "paper") -> list[dict[str, Any]]:
    """The runs of Fig. 5's point (loss, k): SelecMix with ``g`` pretrained k epochs with that loss,
    then frozen. k = 0 is one experiment for every loss -- an untrained ``g`` is frozen at once and
    its loss is never evaluated, so the runs are identical (our seed-0 GSC and SC files agree to the
    last digit) -- and the sweep records it once, under GSC: for k = 0 a seed's run of any loss in
    :data:`SIMILARITY_NAMES` counts, the requested loss's file first."""
    results, prof = list(results), profile or "paper"
    losses = [similarity] + ([s for s in SIMILARITY_NAMES if s != similarity] if k == 0 else [])
    by_seed: dict[int, dict[str, Any]] = {}
    for sim in losses:
        label = label_of("selecmix", dataset, ratio, prof, similarity=sim, g_pretrain_epochs=k)
        for run in select(results, label, dataset, ratio, profile):
            by_seed.setdefault(run["seed"], run)
    return [by_seed[s] for s in sorted(by_seed)]


def pretrain_series(results: Iterable[dict[str, Any]], similarity: str = "gsc", dataset: str = "cmnist",
                    ratio: float = 1.0, key: str = "best_test_unbiased", epochs: Sequence[int] = PRETRAIN_EPOCHS,
                    profile: str | None = "paper") -> dict[str, Any]:
    """Fig. 5 for one loss: ``points`` -- SelecMix with ``g`` pretrained alone for k epochs and then
    frozen (labels ``selecmix-pre<k>`` / ``selecmix-pre<k>-simsc``), one point per k; and
    ``simultaneous`` -- the usual SelecMix, ``g`` trained with ``f`` (``selecmix`` / ``selecmix-simsc``)."""
    results = list(results)
    prof = profile or "paper"
    points = []
    for k in epochs:
        label = label_of("selecmix", dataset, ratio, prof, similarity=similarity, g_pretrain_epochs=k)
        runs = pretrain_runs(results, similarity, k, dataset, ratio, profile)
        points.append({"epochs": k, "label": label, **summarize(runs, key)})
    label = label_of("selecmix", dataset, ratio, prof, similarity=similarity)
    simultaneous = {"label": label, **summarize(select(results, label, dataset, ratio, profile), key)}
    return {"similarity": similarity, "points": points, "simultaneous": simultaneous}


def pretrain_frame(series: Sequence[dict[str, Any]]):
    """Fig. 5's numbers as a table: one row per loss, one column per pretraining length, and the
    simultaneous run in the last column."""
    rows = {}
    for s in series:
        name = SIMILARITY_NAMES.get(s["similarity"], s["similarity"])
        rows[f"{name} (frozen after k epochs)"] = {f"{p['epochs']}": cell_text(p) for p in s["points"]}
        rows[f"{name} (frozen after k epochs)"]["simultaneous"] = cell_text(s["simultaneous"])

    frame = pd.DataFrame(rows).T
    frame.columns.name = "pretraining epochs k"
    return frame


def pretrain_pairs_frame(results: Iterable[dict[str, Any]], stats: Sequence[str] = ("positive_precision", "negative_precision"),
                        similarities: Sequence[str] = ("gsc", "sc"), dataset: str = "cmnist", ratio: float = 1.0,
                        epochs: Sequence[int] = PRETRAIN_EPOCHS, profile: str | None = "paper"):
    """Why Fig. 5's curves differ: how well ``g`` finds contradicting pairs (Fig. 9's ``aux``
    statistics, e.g. the precision of the contradicting negatives) when it is frozen after k epochs
    of each loss, and when it is trained simultaneously. Each cell: :func:`aux_series` (seeds
    averaged epoch by epoch) averaged over f's epochs, with the number of seeds ``n``; collapsed
    runs are kept -- a dead ``f`` does not change which pairs ``g`` picks."""
    results = list(results)
    prof = profile or "paper"
    rows: dict[str, dict[str, str]] = {}
    for sim in similarities:
        name = SIMILARITY_NAMES.get(sim, sim)
        for k in (*epochs, None):
            runs = (select(results, label_of("selecmix", dataset, ratio, prof, similarity=sim), dataset, ratio, profile)
                    if k is None else pretrain_runs(results, sim, k, dataset, ratio, profile))
            series = aux_series_of(runs, stats)
            for stat in stats:
                values = np.array(series.get(stat, []), dtype=float)
                cell = f"{np.nanmean(values):.1f} (n={series['n']})" if np.isfinite(values).any() else MISSING
                rows.setdefault(f"{name}: {stat.replace('_', ' ')}", {})["simultaneous" if k is None else f"{k}"] = cell
    frame = pd.DataFrame(rows).T
    frame.columns.name = "pretraining epochs k"
    return frame


def plot_pretrain(series: Sequence[dict[str, Any]], axes=None, title: str = "",
                  ylabel: str = "unbiased test accuracy (%)"):
    """Fig. 5 as the paper draws it, one panel per loss: solid line -- unbiased accuracy of
    SelecMix with ``g`` pretrained k epochs and frozen, against k; dashed line (band: ± std) --
    ``g`` trained simultaneously with ``f``."""
    if axes is None:
        fig, axes = plt.subplots(1, len(series), figsize=(5 * len(series), 3.5), sharey=True, squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    for ax, s in zip(axes, series):
        name = SIMILARITY_NAMES.get(s["similarity"], s["similarity"])
        n_max = max(p["n"] for p in s["points"])
        drawn = _plot_points(ax, s["points"], "epochs", color="tab:blue", label=f"{name} (freeze), n={n_max}")
        if not drawn:
            ax.plot([], [], ls="", label=f"{name} (freeze): {MISSING}")
        sim = s["simultaneous"]
        if sim["n"]:
            ax.axhline(sim["mean"], color="tab:orange", ls="--", label=f"{name} (simultaneous), n={sim['n']}")
            if sim["std"]:
                ax.axhspan(sim["mean"] - sim["std"], sim["mean"] + sim["std"], color="tab:orange", alpha=0.15)
        else:
            ax.plot([], [], ls="", label=f"{name} (simultaneous): {MISSING}")
        if not drawn and not sim["n"]:
            ax.set_ylim(0, 100)
        ax.legend(fontsize=8, loc="best")
        ks = [p["epochs"] for p in s["points"]]
        ax.set_xlim(min(ks) - 0.04 * (max(ks) - min(ks) + 1), max(ks) * 1.04 + 1)
        ax.set_xlabel("pretraining epochs k")
        ax.set_title(name, fontsize=10)
    axes[0].set_ylabel(ylabel)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def last_epoch_frame(rows: list[dict[str, Any]]):
    """:func:`selecmix.book.plots.comparison_frame` of rows made with ``key="last_test_unbiased"``,
    without the 'diff' column: the paper reports the best test accuracy over epochs only, so a
    difference between our last-epoch number and the paper's best-test number would mislead."""
    frame = comparison_frame(rows)
    keep = [c for c in frame.columns if c[1] != "diff"]
    frame = frame[keep]
    frame.columns = frame.columns.set_levels(["last epoch (ours)" if v == "ours (n)" else "paper (best test)" if v == "paper"
                                              else v for v in frame.columns.levels[1]], level=1)
    return frame


def plot_table_rows(rows: list[dict[str, Any]], ratio: float, ax=None, title: str = ""):
    """One ratio of a comparison table as grouped bars: ours (mean ± std, where recorded) next to
    the paper's (mean ± std)."""
    rows = [r for r in rows if math.isclose(r["ratio"], ratio)]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5, 0.8 * len(rows)), 3.6))
    x = np.arange(len(rows))
    ours = [r["ours_mean"] if r["n"] else np.nan for r in rows]
    ax.bar(x - 0.2, [r["paper_mean"] if r["paper_mean"] is not None else np.nan for r in rows], 0.4,
           yerr=[r["paper_std"] or 0 for r in rows], color="lightgrey", edgecolor="grey", label="paper", capsize=2)
    ax.bar(x + 0.2, ours, 0.4, yerr=[r["ours_std"] or 0 for r in rows], color="tab:blue", label="ours (recorded)", capsize=2)
    for i, r in enumerate(rows):
        if not r["n"]:
            ax.text(i + 0.2, 2, MISSING, rotation=90, fontsize=7, ha="center", va="bottom", color="grey")
    ax.set_xticks(x, [r["method"] for r in rows], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("unbiased test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_aux(results: Iterable[dict[str, Any]], labels: dict[str, str], keys: Sequence[str], dataset: str = "cmnist",
             ratio: float = 1.0, profile: str | None = "paper", axes=None, ylabel: str = "", title: str = ""):
    """One panel per label (label -> panel title), one line per aux statistic, over epochs;
    a panel says "not yet recorded" where no run has that label."""
    results = list(results)
    if axes is None:
        fig, axes = plt.subplots(1, len(labels), figsize=(5 * len(labels), 3.4), sharey=True, squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    for ax, (label, name) in zip(axes, labels.items()):
        s = aux_series(results, label, keys, dataset, ratio, profile)
        if not s["n"]:
            ax.text(0.5, 0.5, f"{label}: {MISSING}", transform=ax.transAxes, ha="center", color="grey")
        for key in keys if s["n"] else ():
            ax.plot(s["epoch"], s[key], label=key.replace("_", " "), lw=1.5)
        ax.set_title(f"{name} (n={s['n']})" if s["n"] else name, fontsize=10)
        ax.set_xlabel("epoch")
        if s["n"]:
            ax.legend(fontsize=7)
    axes[0].set_ylabel(ylabel)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def live_frame(runs: dict[str, dict[str, Any]]):
    """Live fast runs (display name -> result) as a DataFrame of best-test and last-epoch
    unbiased and bias-conflicting test accuracy (percent)."""
    cols = {"best-test unbiased": "best_test_unbiased", "last-epoch unbiased": "last_test_unbiased",
            "best-test conflicting": "best_test_conflicting", "last-epoch conflicting": "last_test_conflicting"}
    frame = pd.DataFrame({name: {c: r.get(k) for c, k in cols.items()} for name, r in runs.items()}).T
    return frame.astype(float).round(1)


def live_run(method: str, splits, out, **overrides) -> dict[str, Any]:
    """One live fast run of the chapter, checkpointed in ``out`` (:func:`selecmix.book.work_dir`):
    a finished run is read back, an interrupted one resumes from its last epoch. One torch thread,
    no progress bar."""
    with quiet(), one_thread():
        return train_run(make_config("cmnist", 1.0, method, **overrides), out=out, resume=True, splits=splits,
                     progress=False)


def table4_frame(results: list[dict[str, Any]], ratio: float = 1.0, dataset: str = "cmnist"):
    """Table 4 at one ratio, both protocols, by the one rule: per row the paper's (best-test)
    number, ours best-test and ours last-epoch ('mean ± std (n)' over every run, with the collapsed
    count and, labelled, the others' mean where runs collapsed); "not run" where nothing is recorded."""
    mine = [r for r in results if r["dataset"] == dataset]
    cells = {key: aggregate(mine, key) for key in ("best_test_unbiased", "last_test_unbiased")}
    rows = {}
    for r in comparison_rows(mine, dataset, "4"):
        if not math.isclose(r["ratio"], ratio):
            continue
        row = {"paper (best-test)": f"{r['paper_mean']:.2f} ± {r['paper_std']:.2f}" if r["paper_mean"] is not None else "–"}
        for name, key in (("ours: best-test", "best_test_unbiased"), ("ours: last-epoch", "last_test_unbiased")):
            cell = cells[key].get((r["label"], ratio))
            row[name] = format_runs(cell.values, cell.collapsed) if cell else "not run"
        rows[r["method"]] = row
    return pd.DataFrame(rows).T
