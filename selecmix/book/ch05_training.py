"""Summaries of training runs for the training chapter: live runs side by side, the three
model-selection protocols, recorded full-scale results beside the paper (Tables 1, 6, 7), mean
accuracy curves over seeds, the input-scaling pairs and the reduced-scale Corrupted CIFAR-10 runs.

Every function takes result dicts as :func:`selecmix.experiments.runs.train_run` returns them or as
:func:`selecmix.experiments.tables.load_results` reads them; nothing here trains or reads files on its own
except :func:`train_runs` (which calls ``train``) and :func:`load_folder` (which reads a folder).

The three protocols (see :mod:`selecmix.experiments.tables`):

* **best-test** -- the best test accuracy over epochs: the paper's "oracle" selection (App. A.2);
* **last-epoch** -- the accuracy after the last epoch: what a user without an unbiased set gets;
* **valid-selected** -- the test accuracy at the epoch of best accuracy on the (biased)
  validation split: honest, but the validation split has the training bias.
"""
from __future__ import annotations

import math
import re
from statistics import mean, median
from typing import Any, Iterable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..config import make_config
from ..experiments.diagnostics import read_scan
from ..experiments.paper import REMEDY_LABEL, paper_numbers
from ..experiments.runs import train_run
from ..experiments.tables import (
    aggregate,
    collapsed_cells,
    comparison_rows,
    format_runs,
    is_collapsed,
    short_of_trials,
    table_seeds,
)
from .plots import figure_explorer
from .recorded import DISPLAY, display_name, loss_span, main_history, remedy_scan_files, scan_provenance, scan_table

# One colour per method, shared by every figure of the chapter.
COLORS = {"Vanilla": "tab:gray", "Mixup": "tab:olive", "LfF": "tab:blue", "JTT": "tab:brown",
          "V+Ours": "tab:red", "L+Ours": "tab:purple", "LfF + mixup": "tab:cyan", "LISA": "tab:green"}


PROTOCOLS = {"best-test": "best_test_unbiased", "last-epoch": "last_test_unbiased",
             "valid-selected": "valid_selected_test_unbiased"}






def lambda_table(methods: Iterable[str] = ("vanilla", "mixup", "lff", "jtt", "selecmix", "lff_selecmix"),
                 dataset: str = "cmnist"):
    """The weights of ``L = lambda_base L_base(B) + lambda_ours L_CE(B~)`` (App. A.2) per method,
    read from :func:`selecmix.config.make_config`, with what ``L_base`` and ``B~`` are."""
    base = {"vanilla": "CE", "mixup": "CE", "selecmix": "CE", "jtt": "CE (upsampled error set)",
            "lff": "LfF-weighted CE", "lff_selecmix": "LfF-weighted CE", "lff_mixup": "LfF-weighted CE",
            "lisa": "CE"}
    mixed = {"mixup": "mixup (random pairs)", "lff_mixup": "mixup (random pairs)",
             "selecmix": "SelecMix (contradicting pairs)", "lff_selecmix": "SelecMix (contradicting pairs)",
             "lisa": "LISA (bias labels)"}
    rows = {}
    for m in methods:
        cfg = make_config(dataset, 1.0, m, "paper")
        rows[DISPLAY[m]] = {"lambda_base": cfg.lambda_base, "lambda_ours": cfg.lambda_ours,
                            "L_base": base[m], "mixed batch B~": mixed.get(m, "-"),
                            "extra models": {"lff": "biased b (GCE)", "lff_selecmix": "biased b (GCE), g (GSC)",
                                             "selecmix": "g (GSC)", "lff_mixup": "biased b (GCE)",
                                             "jtt": "stage-1 ERM model"}.get(m, "-")}
    return pd.DataFrame(rows).T


def train_runs(methods: Iterable[str], splits, out=None, dataset: str = "cmnist", ratio: float = 1.0,
               resume: bool = True, **overrides) -> dict[str, dict[str, Any]]:
    """Train (or read back, when ``out`` holds the result) one run per method; returns
    ``{display name: result}``. With ``out`` and ``resume=True`` an interrupted run continues
    from its last epoch's checkpoint (``out/checkpoints``) and a finished one is not retrained."""
    runs = {}
    for m in methods:
        cfg = make_config(dataset, ratio, m, **overrides)
        runs[DISPLAY.get(m, m)] = train_run(cfg, out=out, resume=resume, splits=splits, progress=False)
    return runs


def protocol_table(runs: dict[str, dict[str, Any]]):
    """One row per run: unbiased test accuracy under the three protocols (and the epoch each one
    picks), plus the bias-aligned and bias-conflicting accuracies of the last epoch."""
    rows = {}
    for name, r in runs.items():
        hist = main_history(r)
        first = hist[0]["epoch"] if hist else 0          # JTT: epochs counted from its second stage
        rows[name] = {"best-test": r.get("best_test_unbiased"), "(epoch)": r.get("best_epoch", -1) + 1 - first,
                      "last-epoch": r.get("last_test_unbiased"),
                      "valid-selected": r.get("valid_selected_test_unbiased"),
                      "(epoch) ": r.get("valid_selected_epoch", -1) + 1 - first,
                      "last: aligned": hist[-1]["test"]["aligned"] if hist else None,
                      "last: conflicting": hist[-1]["test"]["conflicting"] if hist else None}
    frame = pd.DataFrame(rows).T
    return frame.astype(float).round(1).astype({"(epoch)": int, "(epoch) ": int})


def plot_runs(runs: dict[str, dict[str, Any]], title: str = "", split: str = "test"):
    """Two panels: unbiased accuracy per run; bias-aligned (dashed) and bias-conflicting (solid)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for i, (name, r) in enumerate(runs.items()):
        hist = main_history(r)
        ep = [h["epoch"] + 1 - (hist[0]["epoch"] if hist else 0) for h in hist]
        color = COLORS.get(name.split(" (")[0], f"C{i}")
        axes[0].plot(ep, [h[split]["unbiased"] for h in hist], color=color, label=name)
        axes[1].plot(ep, [h[split]["conflicting"] for h in hist], color=color, label=f"{name}: conflicting")
        axes[1].plot(ep, [h[split]["aligned"] for h in hist], color=color, ls="--", lw=1)
    axes[0].set_title(f"{split} accuracy, unbiased", fontsize=10)
    axes[1].set_title(f"{split} accuracy: bias-aligned (dashed), bias-conflicting (solid)", fontsize=10)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 101)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%)")
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def recorded_summary(results: list[dict[str, Any]], dataset: str = "cmnist"):
    """How many seeds are recorded per method and ratio (a DataFrame; empty when none)."""
    counts: dict[str, dict[str, int]] = {}
    for r in results:
        if r["dataset"] == dataset:
            row = counts.setdefault(display_name(r["label"]), {})
            col = f"{r['ratio']:g} %"
            row[col] = row.get(col, 0) + 1
    frame = pd.DataFrame(counts).T.fillna(0).astype(int)
    return frame.reindex(sorted(frame.columns, key=lambda c: float(c.split()[0])), axis=1)


def protocol_summary(results: list[dict[str, Any]], dataset: str = "cmnist", ratios=None,
                     labels=("vanilla", "mixup", "lff", "jtt", "selecmix", "lff_selecmix")):
    """Unbiased test accuracy of recorded runs under the three protocols, beside the paper's
    (best-test) number: one row per (ratio, method), cells 'mean ± std (n)' over every run, with
    the collapsed count and the others' mean where runs collapsed (:func:`format_runs`). ``ratios`` defaults to the
    ratios with at least one recorded run (all four of the paper when there is none)."""
    mine = [r for r in results if r["dataset"] == dataset]
    if ratios is None:
        ratios = sorted({float(r["ratio"]) for r in mine}) or (0.5, 1.0, 2.0, 5.0)
    paper = paper_numbers(dataset)
    cells = {p: aggregate(mine, key, "paper") for p, key in PROTOCOLS.items()}
    rows = []
    for ratio in ratios:
        for label in labels:
            ref = paper.get(label, {}).get(float(ratio))
            row = {"ratio (%)": f"{ratio:g}", "method": display_name(label),
                   "paper (best-test)": f"{ref[0]:.2f} ± {ref[1]:.2f}" if ref else "–"}
            for p in PROTOCOLS:
                cell = cells[p].get((label, float(ratio)))
                row[p] = format_runs(cell.values, cell.collapsed) if cell else format_runs([])
            rows.append(row)
    return pd.DataFrame(rows).set_index(["ratio (%)", "method"])


def mean_curve(results: list[dict[str, Any]], label: str, ratio: float, split: str = "test",
               metric: str = "unbiased") -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Epochs (1-based), mean and std over seeds of one accuracy curve; ``n`` seeds (0: empty arrays).
    Seeds are cut to the shortest history so every epoch averages the same runs."""
    runs = [main_history(r) for r in results if r["label"] == label and float(r["ratio"]) == float(ratio)]
    runs = [h for h in runs if h]
    if not runs:
        return np.array([]), np.array([]), np.array([]), 0
    length = min(len(h) for h in runs)
    values = np.array([[h[e][split][metric] for e in range(length)] for h in runs], dtype=float)
    return np.arange(1, length + 1), values.mean(0), values.std(0), len(runs)


def plot_mean_curves(results: list[dict[str, Any]], ratio: float = 1.0, dataset: str = "cmnist",
                     labels=("vanilla", "lff", "selecmix", "lff_selecmix"), metric: str = "unbiased", ax=None):
    """Mean ± std over seeds of the test accuracy of recorded runs; the legend gives each method's
    best-test (mean of the per-seed maxima) and last-epoch numbers. Returns the axes, or None when
    no run of ``ratio`` is recorded."""
    chosen = [r for r in results if r["dataset"] == dataset]
    if not any(float(r["ratio"]) == float(ratio) and r["label"] in labels for r in chosen):
        return None
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    for label in labels:
        ep, m, s, n = mean_curve(chosen, label, ratio, "test", metric)
        if not n:
            continue
        seeds = [r for r in chosen if r["label"] == label and float(r["ratio"]) == float(ratio)]
        best = mean(r[f"best_test_{metric}"] for r in seeds)
        last = mean(r[f"last_test_{metric}"] for r in seeds)
        name = display_name(label)
        ax.plot(ep, m, color=COLORS.get(name), lw=1.2,
                label=f"{name} (n={n}): best-test {best:.1f}, last {last:.1f}")
        ax.fill_between(ep, m - s, m + s, color=COLORS.get(name), alpha=0.2, lw=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"test accuracy, {metric} (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"{dataset}, alpha = {ratio:g} %: recorded full-scale runs, mean ± std over seeds", fontsize=10)
    return ax


def curves_static(results: list[dict[str, Any]], dataset: str = "cmnist", ratios=(0.5, 1.0, 2.0, 5.0),
                  metric: str = "unbiased"):
    """The static twin of :func:`curves_explorer`: one panel per ratio, two per row ("not yet
    recorded" where no run exists)."""
    rows = (len(ratios) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(12, 3.8 * rows), squeeze=False)
    for ax, ratio in zip(axes.flat, ratios):
        if plot_mean_curves(results, ratio, dataset, metric=metric, ax=ax) is None:
            ax.text(0.5, 0.5, "not yet recorded", ha="center", va="center", transform=ax.transAxes, color="gray")
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_ylim(0, 100)
        ax.set_title(f"alpha = {ratio:g} %", fontsize=10)
    for ax in axes.flat[len(ratios):]:
        ax.axis("off")
    fig.suptitle(f"{dataset}: test accuracy ({metric}) of recorded full-scale runs, mean ± std over seeds",
                 fontsize=11)
    fig.tight_layout()
    return fig


def cost_table(results: list[dict[str, Any]]):
    """What recorded runs cost, per method: the typical minutes of a run (its median epoch time
    times its epochs, averaged over runs -- robust to a run that was paused, suspended or resumed,
    whose wall clock counts the gap), the median wall-clock minutes, seeds, and the device line."""
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        row = rows.setdefault(display_name(r["label"]), {"runs": 0, "typical": [], "wall": [], "device": set()})
        row["runs"] += 1
        epochs = [h["seconds"] for h in r.get("history", []) if "seconds" in h]
        if epochs:
            row["typical"].append(median(epochs) * len(epochs) / 60)
        row["wall"].append(r.get("wall_seconds", math.nan) / 60)
        row["device"].add(r.get("device", "?"))
    if not rows:
        return None
    return pd.DataFrame({k: {"runs": v["runs"],
                             "typical minutes per run": round(mean(v["typical"]), 1) if v["typical"] else None,
                             "median wall minutes": round(median(v["wall"]), 1),
                             "device": "; ".join(sorted(v["device"]))} for k, v in rows.items()}).T


def curves_explorer(results: list[dict[str, Any]], dataset: str = "cmnist"):
    """Dropdowns over ratio and metric redrawing :func:`plot_mean_curves` (Jupyter / Colab)."""
    import ipywidgets as w

    ratios = sorted({float(r["ratio"]) for r in results if r["dataset"] == dataset}) or [1.0]

    def draw(ratio, metric):
        if plot_mean_curves(results, ratio, dataset, metric=metric) is None:
            return f"no recorded {dataset} run at {ratio:g} % yet"

    return figure_explorer(draw, ratio=w.Dropdown(options=ratios, value=1.0 if 1.0 in ratios else ratios[0],
                                                  description="ratio (%)"),
                           metric=w.Dropdown(options=["unbiased", "conflicting", "aligned"], description="metric"))


def scale_pairs(results: list[dict[str, Any]], dataset: str = "cmnist"):
    """Recorded runs with the official double-scaled input next to the same method with clean
    inputs (label ``<method>-scaleclean``): best-test and last-epoch unbiased accuracy. A paired
    comparison: the official column only counts the seeds that also have a clean run, so the two
    columns differ in the input scale alone."""
    rows = {}
    ours = [r for r in results if r["dataset"] == dataset]
    clean = {(r["label"], float(r["ratio"])) for r in ours if r["label"].endswith("-scaleclean")}
    for label, ratio in sorted(clean):
        base = label[: -len("-scaleclean")]
        seeds = {r["seed"] for r in ours if r["label"] == label and float(r["ratio"]) == ratio}
        row = {}
        for name, lab in (("official [0, 1/255]", base), ("clean [0, 1]", label)):
            for p, key in (("best-test", "best_test_unbiased"), ("last-epoch", "last_test_unbiased")):
                vals = [r[key] for r in ours if r["label"] == lab and float(r["ratio"]) == ratio
                        and r["seed"] in seeds and r.get(key) is not None]
                row[(name, p)] = format_runs(vals)
        rows[f"{display_name(base)}, {ratio:g} %"] = row
    if not rows:
        return None
    frame = pd.DataFrame(rows).T
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame


def reduced_table(results: list[dict[str, Any]], dataset: str = "cifar10c"):
    """Reduced-scale runs (any profile, any schedule) grouped by method, ratio and scale: the
    three protocols as 'mean ± std (n)', the scale they ran at, and the paper's full-scale
    Table 1 number beside them (not comparable: it is there to show the distance). ``None`` when
    there is none."""
    paper = paper_numbers(dataset)
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in results:
        if r["dataset"] != dataset or r.get("incomplete"):
            continue
        cfg = r["config"]
        test = f", {cfg['test_size']} test images" if cfg.get("test_size") else ""
        scale = f"{cfg.get('train_size') or 'all'} train images{test}, {cfg['epochs']} epochs"
        groups.setdefault((display_name(r["label"]), float(r["ratio"]), scale), []).append(r)
    if not groups:
        return None
    rows = []
    for (name, ratio, scale), runs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        ref = paper.get(runs[0]["label"], {}).get(ratio)
        row = {"method": name, "ratio (%)": ratio, "scale": scale,
               "paper, full scale (best-test)": f"{ref[0]:.2f} ± {ref[1]:.2f}" if ref else "–"}
        for p, key in PROTOCOLS.items():
            row[p] = format_runs([r[key] for r in runs if r.get(key) is not None])
        row["best-test, conflicting"] = format_runs([r["best_test_conflicting"] for r in runs
                                              if r.get("best_test_conflicting") is not None])
        rows.append(row)
    return pd.DataFrame(rows).set_index(["ratio (%)", "method"])


def best_minus_last(results: list[dict[str, Any]], dataset: str = "cmnist") -> dict[str, float]:
    """Mean (best-test - last-epoch) unbiased accuracy per method over recorded runs."""
    gaps: dict[str, list[float]] = {}
    for r in results:
        if r["dataset"] == dataset and r.get("best_test_unbiased") is not None:
            gaps.setdefault(display_name(r["label"]), []).append(r["best_test_unbiased"] - r["last_test_unbiased"])
    return {k: mean(v) for k, v in gaps.items() if v and not any(math.isnan(x) for x in v)}


def seed_table(results: list[dict[str, Any]], ratio: float = 1.0, dataset: str = "cmnist",
               labels=("vanilla", "mixup", "lff", "jtt", "selecmix", "lff_selecmix")):
    """One row per recorded run at ``ratio``: best-test and last-epoch unbiased accuracy, f's
    active units per hidden layer (``f_active_units``: 100-100-16 units for the MLP) and whether
    the run collapsed (:func:`selecmix.experiments.tables.is_collapsed`), with the training loss of the first
    and last epochs (ln 10 = 2.303 is the loss of a constant uniform prediction). None when nothing
    is recorded."""

    rows = [{"method": display_name(r["label"]), "seed": r["seed"],
             "best-test": round(r["best_test_unbiased"], 2), "last-epoch": round(r["last_test_unbiased"], 2),
             "f's active units": "-".join(map(str, r["f_active_units"])) if r.get("f_active_units") else "not measured",
             "training loss, first -> last epoch": loss_span(r),
             "collapsed": "yes" if is_collapsed(r) else ""}
            for r in results if r["dataset"] == dataset and float(r["ratio"]) == ratio and r["label"] in labels]
    if not rows:
        return None
    order = {display_name(label): i for i, label in enumerate(labels)}
    rows.sort(key=lambda row: (order[row["method"]], row["seed"]))
    return pd.DataFrame(rows).set_index(["method", "seed"])


def gap_summary(results: list[dict[str, Any]], dataset: str = "cmnist", table: str = "1", tolerance: float = 2.0):
    """Where the recorded runs depart from the paper, by the two tests of a reproduction: a method
    more than ``tolerance`` points from the paper's number (best-test protocol, mean over every
    run -- collapsed ones count, and are counted), or methods in another order than the paper's. Order counts only
    between methods the paper separates by more than ``tolerance`` points (V+Ours and L+Ours, less
    than a point apart in the paper, may come in either order). One row per (ratio, method) with a
    recorded run of a method the paper reports; None if there is none."""
    rows = [r for r in comparison_rows(results, dataset, table) if r["n"] and r["paper_mean"] is not None]
    out = []
    for ratio in sorted({r["ratio"] for r in rows}):
        cells = [r for r in rows if r["ratio"] == ratio]
        swapped = [f"{a['method']} below {b['method']}" for a in cells for b in cells
                   if a["paper_mean"] - b["paper_mean"] > tolerance and a["ours_mean"] < b["ours_mean"]]
        for r in cells:
            diff = r["ours_mean"] - r["paper_mean"]
            spread = f" ± {r['ours_std']:.2f}" if r["n"] > 1 else ""
            out.append({"ratio (%)": f"{ratio:g}", "method": r["method"],
                        "ours": f"{r['ours_mean']:.2f}{spread}", "n": r["n"],
                        "collapsed": r["collapsed"], "paper": f"{r['paper_mean']:.2f} ± {r['paper_std']:.2f}",
                        "diff": round(diff, 2), f"within {tolerance:g}": abs(diff) <= tolerance,
                        "order vs paper": "; ".join(swapped) or "as paper"})
    return pd.DataFrame(out).set_index(["ratio (%)", "method"]) if out else None


def g_scan_table(scan: dict[str, Any] | None):
    """The recorded g-architecture scan (:func:`selecmix.experiments.diagnostics.g_pair_scan`) as a DataFrame:
    per architecture and scoring step, the precision and recall (%) of the contradicting positives
    and negatives ``g`` would select. None when the scan is not recorded."""
    if scan is None:
        return None
    names = {"mlp": "MLP (ours)", "resnet18_cifar": "ResNet18, CIFAR stem (official)", "resnet18": "ResNet18"}
    rows = {(names.get(r["arch"], r["arch"]), p["step"]): {k: v for k, v in p.items() if k != "step"}
            for r in scan["rows"] for p in r["curve"]}
    frame = pd.DataFrame(rows).T
    frame.index.names = ["g", "steps of g"]
    frame.columns = [c.replace("_", " ") + " (%)" for c in frame.columns]
    return frame


def replay_table(report: dict[str, Any] | None):
    """The recorded replay (:func:`selecmix.experiments.diagnostics.replay_first_epoch`) as a
    DataFrame: per recorded run, its first epoch's training loss and unbiased test accuracy as
    recorded (on the run's machine) and as retrained here, and whether both agree to the recorded
    digits. None when no replay is recorded."""
    if report is None:
        return None
    def name(r: dict[str, Any]) -> str:
        ratio, seed = re.search(r"-([0-9.]+)pct-.*-s([0-9]+)-[a-z]+$", r["name"]).groups()
        return f"{display_name(r['label'])}, {ratio} %, seed {seed}"

    rows = {name(r): {
                "loss: recorded": r["loss_then"], "loss: here": r["loss_now"],
                "test (%): recorded": r["test_then"], "test (%): here": r["test_now"],
                "same": "yes" if r["same"] else "no"} for r in report["rows"]}
    frame = pd.DataFrame(rows).T
    frame.index.name = "run (first epoch)"
    return frame


def partner_table(scan: dict[str, Any] | None, results: Iterable[dict[str, Any]] = ()):
    """The recorded partner scan (:func:`selecmix.experiments.diagnostics.partner_scan`) as a DataFrame: per
    scanned run, the share (%) of g's contradicting positives and negatives that are mislabelled
    and that are genuine bias-conflicting samples, beside both base rates, f's active units and the
    run's best test accuracy (from ``results``, when recorded). None when the scan is not recorded."""
    if scan is None:
        return None
    best = {r.get("name"): r.get("best_test_unbiased") for r in results}
    rows = [{"run": f"{display_name(r['label'])}, seed {r['seed']}", "beta (%)": f"{r['label_noise']:g}",
             "epoch": r["epoch"],
             "mislabelled: in the data": r["base_mislabelled"],
             "mislabelled: positives": r["positive_mislabelled"], "mislabelled: negatives": r["negative_mislabelled"],
             "bias-conflicting: in the data": r["base_conflicting"],
             "bias-conflicting: positives": r["positive_conflicting"],
             "bias-conflicting: negatives": r["negative_conflicting"],
             "f active units": str(r["f_active_units"]), "best test": best.get(r["name"])}
            for r in sorted(scan["rows"], key=lambda r: (r["label_noise"], r["seed"]))]
    return pd.DataFrame(rows).set_index("run")


# --------------------------------------------------------------------------- the book's argument
#: Readable names of the partner sources of the collapse traces
#: (:data:`selecmix.experiments.diagnostics.TRACE_SOURCES`).
SOURCE_NAMES = {"mlp": "MLP g (paper profile)", "official": "official g (ResNet18, train mode)",
                "random": "random partners"}


def trace_counts(traces: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per partner source (every source of :data:`SOURCE_NAMES`, recorded or not): how many traces
    are recorded (``n``) and in how many f's narrowest layer died in the first epoch (``dead``)."""
    counts = {s: {"n": 0, "dead": 0} for s in SOURCE_NAMES}
    for t in traces:
        c = counts.setdefault(t["source"], {"n": 0, "dead": 0})
        c["n"] += 1
        c["dead"] += t.get("first_dead_step") is not None
    return counts


def plot_collapse(traces: Iterable[dict[str, Any]], steps: int | None = None):
    """The collapse in one figure: one row per partner source (MLP g, official g, random partners),
    left the live units of f's 16-unit layer after every update, right the share (%) of the
    partners that are bias-conflicting samples in the pools of contradicting *negatives* (the coin's
    other side, positives, are bias-conflicting by construction once g is good). One line per
    recorded (ratio, seed), red where the layer died, blue where it stayed alive; a row without a
    recorded trace says so. Two columns keep the panels legible on a phone. ``steps`` cuts the
    x axis (default: the whole recorded epoch)."""
    from matplotlib.lines import Line2D

    traces = list(traces)
    counts = trace_counts(traces)
    fig, axes = plt.subplots(len(SOURCE_NAMES), 2, figsize=(8, 8), sharex=True, sharey="col")
    for row, source in enumerate(SOURCE_NAMES):
        units, share = axes[row]
        mine = [t for t in traces if t["source"] == source]
        seeds = sorted({(t["ratio"], t["seed"]) for t in mine})
        units.set_title(f"{SOURCE_NAMES[source]}: {len(seeds)} runs, {counts[source]['dead']} died",
                        fontsize=10, loc="left")
        if not mine:
            for ax in (units, share):
                ax.text(0.5, 0.5, "not recorded yet", ha="center", va="center", transform=ax.transAxes, color="gray")
        for t in mine:
            rows = t["steps"][:steps] if steps else t["steps"]
            color = "tab:red" if t.get("first_dead_step") is not None else "tab:blue"
            units.plot([s["step"] for s in rows], [s["active_units"][-1] for s in rows], color=color, lw=1, alpha=0.7)
            neg = [s for s in rows if s["kind"].startswith("neg")]
            share.plot([s["step"] for s in neg], [s["partners_conflicting"] for s in neg], color=color, lw=1,
                       alpha=0.7, marker=".", markersize=2)
        units.set_ylabel("live units")
        for ax in (units, share):
            ax.set_xscale("log")
            ax.grid(alpha=0.3)
    axes[0, 1].set_title("bias-conflicting share of the\ncontradicting negatives (%)", fontsize=10)
    axes[-1, 0].set_xlabel("update of f (log scale)")
    axes[-1, 1].set_xlabel("update of f (log scale)")
    axes[0, 0].set_ylim(-0.5, 16.5)
    axes[0, 1].set_ylim(0, 100)
    handles = [Line2D([], [], color="tab:red", label="layer died in the first epoch"),
               Line2D([], [], color="tab:blue", label="layer stayed alive")]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=10, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def trace_table(traces: Iterable[dict[str, Any]], results: Iterable[dict[str, Any]] = ()):
    """One row per recorded (ratio, seed); per partner source the update at which f's 16-unit layer
    died ('alive: k units' when it did not, with its live units at the end of the epoch) and the
    unbiased test accuracy after the epoch; "–" where that source has no trace. With ``results``
    (full-scale runs), a last column says how the recorded 200-epoch V+Ours run of that (ratio,
    seed) -- the MLP g, trained on another machine -- ended: 'collapsed' (:func:`is_collapsed`) or
    'trained', with its best-test accuracy. None when no trace is recorded."""
    runs = {(f"{r['ratio']:g}", r["seed"]): r for r in results
            if r.get("label") == "selecmix" and r.get("profile") == "paper" and not r.get("incomplete")}
    by_key: dict[tuple[str, int], dict[tuple[str, str], Any]] = {}
    for t in traces:
        key = (f"{t['ratio']:g}", t["seed"])
        row = by_key.setdefault(key, {})
        name = SOURCE_NAMES.get(t["source"], t["source"]).split(" (")[0]
        dead = t.get("first_dead_step")
        row[(name, "layer died at update")] = (str(dead) if dead is not None
                                               else f"alive: {t['final_active_units'][-1]} units")
        row[(name, "test (%)")] = f"{t['test_unbiased'][-1]:.1f}" if t.get("test_unbiased") else "–"
        if key in runs:
            run = runs[key]
            ended = "collapsed" if is_collapsed(run) else "trained"
            row[("recorded run", "MLP g, 200 epochs")] = f"{ended} ({run['best_test_unbiased']:.1f})"
    if not by_key:
        return None
    frame = pd.DataFrame(by_key).T
    names = [SOURCE_NAMES[s].split(" (")[0] for s in SOURCE_NAMES]
    cols = [(n, c) for n in names for c in ("layer died at update", "test (%)")]
    if runs:
        cols.append(("recorded run", "MLP g, 200 epochs"))
    frame = frame.reindex(columns=pd.MultiIndex.from_tuples(cols)).astype(object).fillna("–")
    frame.index = frame.index.set_names(["ratio (%)", "seed"])
    return frame.sort_index(key=lambda ix: ix.map(float) if ix.name == "ratio (%)" else ix)


def official_verdict(traces: Iterable[dict[str, Any]], epochs: int = 200) -> str:
    """The traces' answer to "does the official g avoid the collapse?", as one sentence from the
    recorded traces: in how many traced first epochs the official g kept f's narrowest layer alive,
    how many of the (ratio, seed) pairs where the MLP g's trace lost it are among them, and what a
    whole run of ``epochs`` epochs with the official g would cost at the traces' speed."""
    traces = list(traces)
    official = [t for t in traces if t["source"] == "official"]
    if not official:
        return "No first epoch with the official *g* is traced yet."
    alive = [t for t in official if t.get("first_dead_step") is None]
    mlp_dead = {(t["ratio"], t["seed"]) for t in traces if t["source"] == "mlp" and t.get("first_dead_step") is not None}
    traced = {(t["ratio"], t["seed"]) for t in official} & mlp_dead
    rescued = [t for t in alive if (t["ratio"], t["seed"]) in traced]
    timed = [t["seconds"] / t.get("epochs", 1) for t in official if "seconds" in t]
    days = epochs * mean(timed) / 86400 if timed else None
    text = (f"The official *g* kept *f*'s 16-unit layer alive through the first epoch in {len(alive)} of "
            f"{len(official)} traced runs; of the {len(traced)} traced (ratio, seed) pairs whose MLP-*g* trace "
            f"lost the layer, it kept {len(rescued)} alive.")
    if days is not None:
        text += (f" A whole {epochs}-epoch run with it would take about {days:.0f} days of one CPU core at the "
                 "traces' speed, so whether it stays alive to the end is not measured here.")
    return text


def conflicting_share(traces: Iterable[dict[str, Any]], source: str, step: int, kind: str = "negative") -> float | None:
    """Mean over the traces of ``source`` of the share (%) of bias-conflicting partners in the
    latest pool of ``kind`` (contradicting negatives by default) chosen by update ``step``; None
    when no trace of ``source`` has such a pool by then."""
    vals = []
    for t in traces:
        if t["source"] != source:
            continue
        seen = [s["partners_conflicting"] for s in t["steps"] if s["step"] <= step and s["kind"].startswith(kind[:3])]
        if seen:
            vals.append(seen[-1])
    return mean(vals) if vals else None


def table1_frame(results: list[dict[str, Any]], dataset: str = "cmnist", table: str = "1"):
    """Table 1 at the column width: one row per method, per ratio 'ours' (mean ± std over every run,
    n and, where runs collapsed, how many) and the paper's number -- 8 columns for the four ratios.
    Cells with collapsed runs have their others' mean in :func:`collapsed_frame` (the one rule)."""
    data: dict[str, dict[tuple[str, str], str]] = {}
    for r in comparison_rows(results, dataset, table):
        col = f"{r['ratio']:g} %"
        cell = data.setdefault(r["method"], {})
        if r["n"]:
            spread = f" ± {r['ours_std']:.2f}" if r["n"] > 1 else ""
            coll = f"; {r['collapsed']} collapsed" if r["collapsed"] else ""
            cell[(col, "ours")] = f"{r['ours_mean']:.2f}{spread} ({r['n']}{coll})"
        else:
            cell[(col, "ours")] = "not run"
        cell[(col, "paper")] = f"{r['paper_mean']:.2f}" if r["paper_mean"] is not None else "–"
    frame = pd.DataFrame(data).T
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame.fillna("–")


def trials_sentence(results: list[dict[str, Any]], dataset: str = "cmnist", table: str = "1") -> str:
    """The sentence under Table 1 naming the cells with fewer runs than the paper's trials
    (:func:`selecmix.experiments.tables.short_of_trials`), or saying every cell has them."""
    trials = len(table_seeds(dataset))
    short = short_of_trials(comparison_rows(results, dataset, table), dataset)
    if not short:
        return f"Every cell has the paper's {trials} runs."
    return f"Cells with fewer runs than the paper's {trials} (seeds not recorded yet on this book's CPU): {short}."


def collapsed_frame(results: list[dict[str, Any]], dataset: str = "cmnist", table: str = "1"):
    """The cells with a collapsed run (:func:`selecmix.experiments.tables.collapsed_cells`): the mean
    over every run and, labelled, the mean of the others, each with its difference from the paper."""
    rows = collapsed_cells(results, dataset, table)
    return pd.DataFrame(rows).set_index(["method", "ratio (%)"]) if rows else None


def scale_margins(results: list[dict[str, Any]], ratio: float = 1.0, dataset: str = "cmnist") -> dict[str, float] | None:
    """SelecMix's (V+Ours) best-test margin over Vanilla at ``ratio``, with the official double-scaled
    and with clean inputs, over every run of the seeds both scales have (collapsed ones included,
    the one rule); also the four means. None until both scales are recorded for both methods."""
    ours = [r for r in results if r["dataset"] == dataset and float(r["ratio"]) == ratio]
    out = {}
    for method in ("vanilla", "selecmix"):
        seeds = {r["seed"] for r in ours if r["label"] == f"{method}-scaleclean"}
        for scale, label in (("official", method), ("clean", f"{method}-scaleclean")):
            vals = [r["best_test_unbiased"] for r in ours if r["label"] == label and r["seed"] in seeds]
            if not vals:
                return None
            out[f"{method}_{scale}"] = mean(vals)
    out["margin_official"] = out["selecmix_official"] - out["vanilla_official"]
    out["margin_clean"] = out["selecmix_clean"] - out["vanilla_clean"]
    return out


#: Seconds per epoch relative to Vanilla of the four further Table 1 methods, measured once on a
#: 2-core machine (full-scale Colored MNIST, one thread, shared with other runs).
def method_costs(benchmark: dict[str, Any] | None = None):
    """Seconds per epoch of every timed method and its cost relative to Vanilla, from a recorded
    ``python -m selecmix benchmark --methods ... --out`` (its ``rows[0]``, or the report itself).
    Returns (DataFrame or None when nothing is recorded, where the numbers come from)."""
    report = (benchmark or {}).get("rows", [benchmark])[0] if benchmark else None
    if not report or "vanilla" not in report.get("methods", {}):
        return None, "not measured yet: run `python -m selecmix benchmark --methods dfa end hex rebias --out ...`"
    sec = {m: v["seconds_per_epoch"] for m, v in report["methods"].items()}
    names = {**DISPLAY, "dfa": "DFA", "end": "EnD", "hex": "HEX", "rebias": "ReBias"}
    rows = {names.get(m, m): {"seconds per epoch": round(s, 1), "x Vanilla": round(s / sec["vanilla"], 1)}
            for m, s in sec.items()}
    return pd.DataFrame(rows).T, (f"recorded benchmark, {benchmark.get('device', report.get('device'))}, "
                                  f"{report['threads']} thread(s), {benchmark.get('date', 'date not recorded')[:10]}")


def rows_frame(rows: list[dict[str, Any]]):
    """Rows of :func:`selecmix.experiments.tables.comparison_rows` at the
    column width, by the one rule: per ratio 'ours' (mean ± std over every run, n, and the collapsed
    count with, labelled, the others' mean), the paper's number and the difference; "not run" where
    no full-scale result exists."""
    data: dict[str, dict[tuple[str, str], str]] = {}
    for r in rows:
        col = f"{r['ratio']:g} %"
        cell = data.setdefault(r["method"], {})
        if r["n"]:
            spread = f" ± {r['ours_std']:.2f}" if r["n"] > 1 else ""
            extra = ""
            if r.get("collapsed"):
                h = r.get("healthy")
                extra = f"; {r['collapsed']} collapsed, others {h.short()}" if h else "; all collapsed"
            cell[(col, "ours")] = f"{r['ours_mean']:.2f}{spread} ({r['n']}{extra})"
        else:
            cell[(col, "ours")] = "not run"
        cell[(col, "paper")] = f"{r['paper_mean']:.2f}" if r["paper_mean"] is not None else "–"
        cell[(col, "diff")] = f"{r['diff']:+.2f}" if r.get("diff") is not None else ""
    frame = pd.DataFrame(data).T
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame.fillna("–")


#: Table 1's four other baselines, in the paper's order.
OTHER_BASELINES = ("hex", "rebias", "end", "dfa")


def _history_check(method: str, runs: list[dict[str, Any]]) -> str:
    """What the histories of a baseline's runs show about the choice most likely to explain a gap:
    DFA's swap schedule, EnD's learning-rate steps, ReBias's g, HEX's convergence (mean over runs)."""
    if not runs:
        return ""
    text = _what_the_history_shows(method, runs)
    units = [r["f_active_units"] for r in runs if r.get("f_active_units")]
    if units:                                     # per layer, the range over the runs
        text += "; f's live units per layer at the end " + " / ".join(
            f"{min(layer)}-{max(layer)}" for layer in zip(*units))
    return text


def _what_the_history_shows(method: str, runs: list[dict[str, Any]]) -> str:
    """:func:`_history_check`'s per-method reading of the histories."""
    best = mean(r["best_epoch"] for r in runs)
    hist = [main_history(r) for r in runs]
    cfg = runs[0]["config"]
    if method == "dfa":
        n_train = cfg["train_size"] or int(60000 * (1 - cfg["valid_fraction"]))     # MNIST's 60,000 less valid
        per_epoch = (n_train // cfg["large_batch"]) * (cfg["large_batch"] // cfg["batch_size"])   # updates of f
        swap = cfg["dfa_curr_step"] // per_epoch
        before = mean(h[swap - 1]["test"]["unbiased"] for h in hist if len(h) >= swap)
        after = mean(max(e["test"]["unbiased"] for e in h[swap:]) for h in hist if len(h) > swap)
        return (f"the swap starts in epoch {swap}: test {before:.1f} % just before it, best after it "
                f"{after:.1f} %; best epoch {best:.0f}")
    if method == "end":
        step = cfg["baseline_lr_step"]
        at_step = mean(h[step - 1]["test"]["unbiased"] for h in hist if step and len(h) >= step)
        return (f"lr divided by 10 every {step} epochs: test {at_step:.1f} % at epoch {step}; "
                f"best epoch {best:.0f} of {cfg['epochs']}")
    if method == "rebias":
        g_loss = mean(h[-1]["loss"].get("g_loss", float("nan")) for h in hist)
        hsic = mean(h[-1]["loss"].get("hsic", float("nan")) for h in hist)
        return (f"g's training CE at the end {g_loss:.2f} (ln 10 = 2.30: g predicts the label from "
                f"single pixels, i.e. colour), HSIC(f, g) {hsic:.3f}; best epoch {best:.0f}")
    if method == "hex":
        last = mean(h[-1]["loss"]["loss"] for h in hist)
        return f"every epoch's loss finite (a NaN stops a run); last-epoch loss {last:.3f}; best epoch {best:.0f}"
    return f"best epoch {best:.0f}"


def baseline_checks(results: list[dict[str, Any]], dataset: str = "cmnist", tolerance: float = 2.0):
    """HEX, ReBias, EnD and DFA beside the paper, one row per method and recorded ratio: the recorded
    cell (official input scaling, the one rule), the paper's mean, the difference, the same seeds
    with clean [0, 1] inputs (the ``scale`` plan), and -- where the gap exceeds ``tolerance``
    points -- what the runs' histories show (:func:`_history_check`). None before any of them is
    recorded."""
    paper = paper_numbers(dataset)
    rows = {}
    for method in OTHER_BASELINES:
        mine = [r for r in results if r["dataset"] == dataset and r["label"] == method]
        for ratio in sorted({float(r["ratio"]) for r in mine}):
            cell = [r for r in mine if float(r["ratio"]) == ratio]
            clean = [r for r in results if r["dataset"] == dataset and r["label"] == f"{method}-scaleclean"
                     and float(r["ratio"]) == ratio]
            values = [r["best_test_unbiased"] for r in cell]
            p = paper.get(method, {}).get(ratio)
            diff = mean(values) - p[0] if p else None
            rows[f"{display_name(method)}, {ratio:g} %"] = {
                "ours, official scaling": format_runs(values, [r["best_test_unbiased"] for r in cell if is_collapsed(r)]),
                "paper": f"{p[0]:.2f}" if p else "",
                "diff": f"{diff:+.2f}" if diff is not None else "",
                "ours, clean inputs": format_runs([r["best_test_unbiased"] for r in clean]) if clean else "not run",
                "what the runs show": _history_check(method, cell) if diff is not None and abs(diff) > tolerance
                else "within tolerance",
            }
    return pd.DataFrame(rows).T if rows else None


def remedy_cost(results: list[dict[str, Any]], dataset: str = "cmnist", tolerance: float = 1.0):
    """The remedy against what it must not lose: per ratio, its best-test mean over every run (the
    one rule: n and collapsed count) beside the mean of the V+Ours runs that did not collapse,
    the difference and whether the remedy costs more than ``tolerance`` points. None until a
    full-scale remedy run is recorded."""
    rows = {(r["label"], r["ratio"]): r for r in comparison_rows(results, dataset, "1")}
    out = []
    for (label, ratio), r in sorted(rows.items(), key=lambda kv: kv[0][1]):
        if label != REMEDY_LABEL or not r["n"]:
            continue
        vours = rows.get(("selecmix", ratio))
        healthy = vours["healthy"] if vours and vours["n"] else None
        diff = r["ours_mean"] - healthy.mean if healthy else None
        out.append({"ratio (%)": f"{ratio:g}",
                    "remedy (every run)": f"{r['ours_mean']:.2f}" + (f" ± {r['ours_std']:.2f}" if r["n"] > 1 else ""),
                    "runs": r["n"], "collapsed": r["collapsed"],
                    "V+Ours, runs that did not collapse": f"{healthy.short()} (n={healthy.n})" if healthy else "–",
                    "diff": round(diff, 2) if diff is not None else None,
                    f"costs > {tolerance:g} point": "yes" if diff is not None and diff < -tolerance else "no"})
    return pd.DataFrame(out).set_index("ratio (%)") if out else None


def remedy_report(results: list[dict[str, Any]], folder=None) -> None:
    """The remedy's recorded first-epoch scans (:func:`~selecmix.book.recorded.remedy_scan_files`),
    each with its provenance line and table, and its full-scale runs against the V+Ours runs that
    did not collapse (:func:`remedy_cost`)."""
    from IPython.display import display

    files = remedy_scan_files(folder)
    scans = {}
    for path in files:
        scan = read_scan(path)
        ratio = re.search(r"--ratio ([0-9.]+)", scan.get("command", ""))
        where = f"{ratio.group(1)} %" if ratio else path.stem
        print(scan_provenance(scan, f"remedy scan at {where}", width=90))
        scans[where] = scan_table(scan)
    if scans:
        display(pd.concat(scans, names=["ratio"]))
    else:
        print("The remedy's first-epoch scan is not recorded yet.")
    cost = remedy_cost(results)
    if cost is None:
        print("No full-scale remedy run is recorded yet: its Table 1 row reads 'not run' until "
              "`python -m selecmix sweep --plan remedy` trains them.")
    else:
        print("The remedy's full-scale runs (best-test) against the V+Ours runs that did not collapse:")
        display(cost)