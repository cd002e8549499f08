"""Loading recorded results for the book: where they live, the full-scale runs, per-label series
over seeds (one mean +- std: :class:`selecmix.experiments.tables.Cell`), display names and the
recorded scans of the collapse investigation.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from statistics import mean
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ..config import REPO_ROOT, make_config
from ..experiments.diagnostics import scan_label
from ..experiments.paper import REMEDY_LABEL
from ..experiments.records import run_label
from ..experiments.tables import (
    TABLE_SEEDS,
    aggregate,
    collapsed_cells,
    comparison_rows,
    format_runs,
    is_collapsed,
    is_full_scale,
    load_results,
    table_runs,
)
from . import COLAB_CLONE


def results_dir() -> Path:
    """The folder of recorded full-scale results: ``book/results`` of this checkout (or of the
    clone the Colab set-up cell makes), or ``$SELECMIX_RESULTS``."""
    env = os.environ.get("SELECMIX_RESULTS")
    candidates = [Path(env)] if env else []
    candidates += [REPO_ROOT / "book" / "results", Path.cwd() / "results", COLAB_CLONE / "book" / "results"]
    for path in candidates:
        if path.is_dir():
            return path
    return candidates[0]


def recorded_runs(dataset: str = "cmnist", profile: str = "paper") -> list[dict]:
    """The recorded full-scale results of a dataset (``[]`` when none exist yet)."""
    try:
        found = load_results(results_dir(), dataset)
    except FileNotFoundError:
        return []
    return [r for r in found if r.get("profile") == profile and not r.get("incomplete")]


def load_folder(folder) -> list[dict[str, Any]]:
    """Every result file under ``folder`` (``[]`` if it does not exist yet)."""
    try:
        return load_results(folder)
    except FileNotFoundError:
        return []


def full_scale(results: Iterable[dict[str, Any]], dataset: str | None = None,
               seeds: Iterable[int] | None = TABLE_SEEDS) -> list[dict[str, Any]]:
    """The full-scale runs among ``results`` (optionally of one dataset) of the tables' seeds
    (:data:`selecmix.experiments.tables.TABLE_SEEDS`; ``seeds=None``: every recorded seed)."""
    return [r for r in table_runs(results, seeds) if is_full_scale(r) and (dataset is None or r["dataset"] == dataset)]


def results_folder(*parts: str) -> Path:
    """A folder under the recorded results (``book/results/<parts>``)."""
    return results_dir().joinpath(*parts)


def loss_span(result: dict[str, Any]) -> str:
    history = main_history(result)
    if not history:
        return ""
    return f"{history[0]['loss']['loss']:.3f} -> {history[-1]['loss']['loss']:.3f}"


def collapse_effect(results: list[dict[str, Any]], dataset: str = "cmnist", table: str = "1"):
    """The cells of a paper table where a recorded run collapsed, by the book's one rule
    (:func:`~selecmix.experiments.tables.collapsed_cells`: the mean over every run, the collapsed
    count, and, labelled, the mean of the others, each beside the paper's best-test number) as a
    table; None when no run collapsed."""
    rows = collapsed_cells(results, dataset, table)
    return pd.DataFrame(rows).set_index(["method", "ratio (%)"]) if rows else None


def scan_provenance(scan: dict[str, Any] | None, what: str, width: int | None = None) -> str:
    """One line saying where a recorded investigation (a collapse, g or partner scan) came from:
    ``'<what>: recorded 2026-11-30 at commit 402d07c on cpu: ... (41.8 min): python -m selecmix ...'``,
    the command cut to ``width`` characters if given; or ``'<what>: not yet recorded'``."""
    if scan is None:
        return f"{what}: not yet recorded"
    command = scan.get("command", "?")
    if width is not None and len(command) > width:
        command = command[:width] + " ..."
    minutes = f" ({scan['wall_seconds'] / 60:.1f} min)" if scan.get("wall_seconds") is not None else ""
    commit = f" at commit {scan['commit'][:7]}" if scan.get("commit") else ""
    return f"{what}: recorded {scan.get('date', '?')[:10]}{commit} on {scan.get('device', '?')}{minutes}: {command}"


def scan_table(scan: dict[str, Any] | None):
    """The recorded collapse scan (:mod:`selecmix.experiments.diagnostics`) as a DataFrame: per input scale
    and method, how many of the seeds had a dead layer in f after the first epoch(s). None when
    the scan is not recorded."""
    if scan is None:
        return None
    epochs = scan["rows"][0]["epochs"] if scan["rows"] else 0
    rows = [{"input scale of f": {"official": "official [0, 1/255]", "clean": "clean [0, 1]"}[s["input_scale"]],
             "method": display_name(s["method"]), "seeds": s["seeds"],
             f"dead layer after {epochs} epoch(s)": s["dead"],
             "which seeds": ", ".join(map(str, s["dead_seeds"])) or "-",
             "mean active units, 16-unit layer": s["mean_active_last_layer"]} for s in scan["summary"]]
    return pd.DataFrame(rows).set_index(["input scale of f", "method"])


def scan_ratio(scan: dict[str, Any]) -> float:
    """The bias-conflicting ratio (percent) a collapse scan ran at (its ``--ratio``; default 1)."""
    found = re.search(r"--ratio\s+(\S+)", scan.get("command", ""))
    return float(found.group(1)) if found else 1.0


def _scan_vs_runs(scan: dict[str, Any], results: list[dict[str, Any]], label: str, dataset: str) -> dict[str, Any] | None:
    """One row of :func:`collapse_by_ratio` / :func:`collapse_by_variant`: the seeds of ``label``
    (a method plus pair set, :func:`selecmix.experiments.diagnostics.scan_label`) that ``scan`` found dead after
    its first epoch (official inputs), and the recorded full runs of the same label, ratio and
    seeds: which collapsed, and whether the scan said so beforehand. None if the scan has no such row."""
    ratio = scan_ratio(scan)
    rows = [r for r in scan["rows"] if scan_label(r) == label and r["input_scale"] == "official"]
    if not rows:
        return None
    scanned = {r["seed"]: r["dead_layer"] for r in rows}
    full = {r["seed"]: is_collapsed(r) for r in results if r.get("dataset") == dataset
            and r.get("label") == label and r.get("ratio") == ratio and is_full_scale(r)}
    checked = sorted(seed for seed in full if seed in scanned)
    return {"ratio (%)": f"{ratio:g}", "method": display_name(label), "seeds scanned": len(scanned),
            "dead after epoch 1": sum(scanned.values()),
            "which seeds": ", ".join(str(s) for s, dead in sorted(scanned.items()) if dead) or "-",
            "mean active units, 16-unit layer": round(mean(r["active_units"][-1] for r in rows), 2),
            "full runs (seeds)": ", ".join(map(str, sorted(full))) or "-",
            "collapsed full runs": ", ".join(str(s) for s in sorted(full) if full[s]) or "-",
            "scan foretold each": all(full[s] == scanned[s] for s in checked) if checked else None}


def collapse_by_ratio(scans: Iterable[dict[str, Any] | None], results: list[dict[str, Any]],
                      method: str = "selecmix", dataset: str = "cmnist"):
    """Per ratio, from the collapse scans (official inputs) and the recorded full-scale runs of
    ``method`` (its plain variant): how many scanned seeds had a dead layer after the first
    epoch, which ones, and for the seeds with a full run, whether the run collapsed -- and
    whether the scan said so beforehand (it trains the same first epoch). None if no scan."""
    rows = [row for scan in scans if scan is not None
            for row in [_scan_vs_runs(scan, results, method, dataset)] if row is not None]
    rows.sort(key=lambda row: float(row["ratio (%)"]))
    return pd.DataFrame(rows).drop(columns="method").set_index("ratio (%)") if rows else None


def collapse_by_variant(scans: Iterable[dict[str, Any] | None], results: list[dict[str, Any]],
                        labels: Iterable[str], dataset: str = "cmnist"):
    """:func:`collapse_by_ratio` per method and pair set (Table 4's rows, e.g. ``selecmix``,
    ``selecmix-pairsA``, ``selecmix-pairsB``), from every scan that covers them. None if none does."""
    rows = [row for label in labels for scan in scans if scan is not None
            for row in [_scan_vs_runs(scan, results, label, dataset)] if row is not None]
    return pd.DataFrame(rows).set_index(["ratio (%)", "method"]) if rows else None


MISSING = "not yet recorded"


def label_of(method: str, dataset: str = "cmnist", ratio: float = 1.0, profile: str = "paper", **overrides) -> str:
    """The run label of a method with some fields changed, exactly as result files carry it,
    e.g. ``label_of("selecmix", label_noise=2)`` -> ``"selecmix-noise2"``."""
    return run_label(make_config(dataset, ratio, method, profile, **overrides))


def select(results: Iterable[dict[str, Any]], label: str, dataset: str = "cmnist", ratio: float | None = 1.0,
           profile: str | None = "paper", seeds: Iterable[int] | None = TABLE_SEEDS) -> list[dict[str, Any]]:
    """The complete runs with that label, dataset, ratio (None: any), profile (None: any) and seed
    (default the tables' seeds 0-2, :data:`~selecmix.experiments.tables.TABLE_SEEDS`; None: every seed)."""
    return [r for r in table_runs(results, seeds) if r.get("label") == label and r.get("dataset") == dataset
            and (ratio is None or math.isclose(float(r["ratio"]), ratio))
            and (profile is None or r.get("profile") == profile) and not r.get("incomplete")]


def summarize(runs: Sequence[dict[str, Any]], key: str = "best_test_unbiased") -> dict[str, Any]:
    """Mean, sample std (0 for one seed), n and the ``values`` of ``key`` over **every** run (the
    book's one rule: a collapsed run counts like any other); ``collapsed`` counts the runs that
    collapsed (:func:`~selecmix.experiments.tables.is_collapsed`), ``collapsed_values`` holds
    their values. Mean None when there is no run."""
    have = [r for r in runs if r.get(key) is not None]
    values = [float(r[key]) for r in have]
    dead = [float(r[key]) for r in have if is_collapsed(r)]
    point = {"values": values, "n": len(values), "collapsed": len(dead), "collapsed_values": dead}
    if not values:
        return {**point, "mean": None, "std": None}
    return {**point, "mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}


def cell_text(point: dict[str, Any]) -> str:
    """A :func:`summarize` point as :func:`~selecmix.experiments.tables.format_runs` writes it, with 'n=':
    ``'83.12 ± 0.40 (n=3)'``, ``'83.12 (n=1)'`` (no spread from one seed), ``'55.38 ± 38.13
    (n=3; 1 collapsed, others 77.40 ± 0.62)'`` or ``'not yet recorded'``."""
    return format_runs(point["values"], point.get("collapsed_values", []), n_prefix="n=")


def aux_series(results: Iterable[dict[str, Any]], label: str, keys: Sequence[str], dataset: str = "cmnist",
               ratio: float = 1.0, profile: str | None = "paper") -> dict[str, Any]:
    """Per-epoch ``aux`` statistics of the runs with that label (e.g. ``sim_positive`` or
    ``negative_precision``), averaged over seeds epoch by epoch: ``{"epoch": [...], key: [...],
    "n": seeds}`` (epochs counted from 1; an epoch without the key gives NaN)."""
    return aux_series_of(select(results, label, dataset, ratio, profile), keys)


def aux_series_of(runs: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """:func:`aux_series` of given runs (e.g. :func:`pretrain_runs`)."""
    out: dict[str, Any] = {"epoch": [], "n": len(runs)}
    if not runs:
        return out
    length = min(len(r["history"]) for r in runs)
    out["epoch"] = [runs[0]["history"][e]["epoch"] + 1 for e in range(length)]
    for key in keys:
        values = np.array([[(r["history"][e].get("aux") or {}).get(key, np.nan) for e in range(length)] for r in runs],
                          dtype=float)
        counts = np.isfinite(values).sum(axis=0)
        sums = np.where(np.isfinite(values), values, 0.0).sum(axis=0)
        out[key] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).tolist()
    return out


# How the book names the methods (the paper's column names).
DISPLAY = {"vanilla": "Vanilla", "mixup": "Mixup", "lff": "LfF", "jtt": "JTT", "lisa": "LISA",
           "selecmix": "V+Ours", "lff_selecmix": "L+Ours", "lff_mixup": "LfF + mixup",
           "dfa": "DFA", "end": "EnD", "hex": "HEX", "rebias": "ReBias"}

#: Readable names of the variant parts of a run label (:func:`selecmix.experiments.records.run_label`).
VARIANTS = [(r"pairs(A|B|AB)", r"pairs \1"), (r"noise([0-9.]+)", r"label noise \1 %"),
            (r"pre([0-9]+)", r"g pretrained \1 epochs"), (r"simgce_(cos|kl|l2)", r"GCE \1 similarity"),
            (r"simsc", "SC"), (r"simgt", "bias labels"), (r"simrandom", "random partners"),
            (r"scaleclean", "clean inputs"), (r"warm([0-9]+)", r"random warm-up, \1 pools")]


def display_name(label: str) -> str:
    """``lff_selecmix-pairsA`` -> ``L+Ours (pairs A)``, ``selecmix-noise1-scaleclean`` ->
    ``V+Ours (label noise 1 %, clean inputs)`` (:data:`VARIANTS`); unknown parts are kept as they are."""
    method, _, rest = label.partition("-")
    name = DISPLAY.get(method, method)
    if not rest:
        return name
    parts = []
    for token in re.sub(r"simgce-", "simgce_", rest).split("-"):
        for pattern, readable in VARIANTS:
            if re.fullmatch(pattern, token):
                token = re.sub(pattern, readable, token)
                break
        parts.append(token)
    return f"{name} ({', '.join(parts)})"


def main_history(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [h for h in result["history"] if h.get("stage", "main") == "main"]


# --------------------------------------------------------------------------- the verdict
def verdict_frame(results: list[dict[str, Any]], dataset: str = "cmnist",
                  labels: Sequence[str] = ("selecmix", "lff_selecmix")):
    """Table 1's verdict, generated from the result files: per method and ratio, ours by the one
    rule (:func:`~selecmix.experiments.tables.format_runs`: mean ± std over every run with n and,
    where runs collapsed, their count and, labelled, the others' mean), the paper's number, the
    difference (every run) and the collapsed count. The remedy's row (:data:`REMEDY_LABEL`) joins
    once its runs exist. Columns: 5; rows: one per recorded (method, ratio)."""
    cells = aggregate([r for r in results if r["dataset"] == dataset])
    rows = []
    for r in comparison_rows(results, dataset, "1"):
        if r["label"] not in (*labels, REMEDY_LABEL) or (r["label"] == REMEDY_LABEL and not r["n"]):
            continue
        cell = cells.get((r["label"], r["ratio"]))
        rows.append({"method": r["method"], "ratio (%)": f"{r['ratio']:g}",
                     "ours: mean ± std (n)": format_runs(cell.values, cell.collapsed) if cell else "not run",
                     "paper": f"{r['paper_mean']:.2f} ± {r['paper_std']:.2f}" if r["paper_mean"] is not None else "–",
                     "diff": f"{r['diff']:+.2f}" if r["diff"] is not None else "",
                     "collapsed": r["collapsed"] if r["n"] else ""})
    return pd.DataFrame(rows).set_index(["method", "ratio (%)"]) if rows else None


def collapse_count(results: list[dict[str, Any]], dataset: str = "cmnist", label: str = "selecmix",
                   table: str = "1") -> dict[str, int]:
    """How many of a label's runs in a paper table's cells (the paper's trials per cell) collapsed:
    ``{"runs": .., "collapsed": .., "cells": ..}`` -- the one count every page quotes."""
    rows = [r for r in comparison_rows(results, dataset, table) if r["label"] == label and r["n"]]
    return {"runs": sum(r["n"] for r in rows), "collapsed": sum(r["collapsed"] for r in rows), "cells": len(rows)}


def remedy_scan_files(folder=None) -> list[Path]:
    """Recorded first-epoch scans of the remedy (files under ``investigations`` whose name holds
    ``remedy`` or ``warm``), oldest name first; empty until one is recorded."""
    folder = Path(folder) if folder is not None else results_folder("investigations")
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if "remedy" in p.name or "warm" in p.name)


def glue(name: str, value: Any, digits: int | None = None) -> Any:
    """Hand a number (or a short text) to the page's prose: MyST-NB's ``glue`` when the book is being
    built (the prose writes ``{glue:}`name```), silently nothing in a plain Jupyter / Colab kernel.
    ``digits`` rounds a float first. Text is glued as Markdown (``{glue:md}`name```)."""
    if digits is not None and value is not None:
        value = round(float(value), digits)
    try:
        from myst_nb import glue as _glue
    except ImportError:            # Colab without MyST-NB: the prose is not rendered there
        return value
    if isinstance(value, str):
        from IPython.display import Markdown
        _glue(name, Markdown(value), display=False)
    else:
        _glue(name, value, display=False)
    return value


def frame_markdown(frame) -> str:
    """A DataFrame as a Markdown table (index levels first), for prose pages that glue a table
    (``{glue:md}``): the book's theme styles it like every other table."""
    index = list(frame.index.names) if any(n is not None for n in frame.index.names) else [""]
    header = [str(n or "") for n in index] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    previous = None
    for key, row in frame.iterrows():
        key = key if isinstance(key, tuple) else (key,)
        shown = [("" if previous is not None and i == 0 and k == previous[0] else str(k)) for i, k in enumerate(key)]
        previous = key
        lines.append("| " + " | ".join(shown + [str(v) for v in row]) + " |")
    return "\n".join(lines)
