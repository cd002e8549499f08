"""Run results: naming, atomic writing, reading, the paper's numbers and comparison tables.

A result is one JSON file per run (dataset, ratio, method, variant, seed) holding the full
config, where and when it ran (command, commit -- ``commits`` too when it was resumed under
another commit --, date, device, torch version), the per-epoch
history and the summary numbers. Accuracies are in percent.

* ``best_test_*`` -- the best test accuracy over epochs: the paper's ("oracle") protocol;
* ``last_test_*`` -- the last epoch's: what a user without an unbiased test set would get;
* ``valid_selected_test_unbiased`` -- test accuracy at the epoch of best (biased) validation
  accuracy: an honest model-selection rule that never looks at the test set.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from statistics import mean, stdev
from typing import Any, Iterable, Sequence

from ..config import make_config, to_dict
from .records import SCHEDULE_FIELDS, SCHEMA, read_result
from .paper import PLANNED_ROWS, TABLE_METRIC, TABLES, table_paper, table_ratios


def load_results(folder: str | os.PathLike, dataset: str | None = None) -> list[dict[str, Any]]:
    """Every result JSON under ``folder`` (recursively), optionally of one dataset."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"results folder {folder} does not exist; pass --results with the folder "
                                "that `python -m selecmix train --out` wrote to")
    found = [read_result(p) for p in sorted(folder.rglob("*.json")) if "checkpoints" not in p.parts]
    found = [r for r in found if r.get("schema") == SCHEMA]
    return [r for r in found if dataset is None or r["dataset"] == dataset]


@dataclasses.dataclass
class Cell:
    """Mean ± std over seeds of one metric for one (label, ratio). ``values`` holds every run,
    collapsed ones included (they count like any other); ``collapsed`` the values of those that
    collapsed (:func:`is_collapsed`)."""

    values: list[float]
    collapsed: list[float] = dataclasses.field(default_factory=list)   # values of collapsed runs

    @property
    def healthy(self) -> "Cell | None":
        """The same cell without its collapsed runs (None when every run collapsed)."""
        if not self.collapsed:
            return self
        rest = list(self.values)
        for v in self.collapsed:
            rest.remove(v)
        return Cell(rest) if rest else None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return mean(self.values)

    @property
    def std(self) -> float:
        return stdev(self.values) if self.n > 1 else 0.0

    def __str__(self) -> str:
        return format_runs(self.values, self.collapsed, n_prefix="n=")

    def short(self) -> str:
        """``mean ± std`` (just ``mean`` for a single run: one seed has no spread)."""
        return f"{self.mean:.2f} ± {self.std:.2f}" if self.n > 1 else f"{self.mean:.2f}"


CHANCE = {"cmnist": 10.0, "cifar10c": 10.0, "bffhq": 50.0}

#: Independent trials per cell, as the paper (App. A.2): 5 for Colored MNIST, 3 for the others.
TRIALS = {"cmnist": 5, "cifar10c": 3, "bffhq": 3}


class _PaperTrials:
    """The default ``seeds`` of the tables: seeds ``0 .. TRIALS[dataset] - 1`` of each run's dataset."""

    def __repr__(self) -> str:
        return "TABLE_SEEDS"


#: Pass as ``seeds`` for the paper's number of trials per dataset (:data:`TRIALS`); a tuple of
#: seeds selects those seeds on every dataset; ``None`` every recorded seed.
TABLE_SEEDS = _PaperTrials()


def table_seeds(dataset: str) -> tuple[int, ...]:
    """The seeds a table of ``dataset`` averages: ``0 .. TRIALS[dataset] - 1``."""
    return tuple(range(TRIALS.get(dataset, 3)))


def table_runs(results: Iterable[dict[str, Any]], seeds: Iterable[int] | None | _PaperTrials = TABLE_SEEDS) -> list[dict[str, Any]]:
    """The results whose seed is one of ``seeds`` (:data:`TABLE_SEEDS`: the paper's trials of
    each result's dataset; ``None``: every seed)."""
    if seeds is None:
        return list(results)
    if isinstance(seeds, _PaperTrials):
        return [r for r in results if r.get("seed") in table_seeds(r.get("dataset", "cmnist"))]
    keep = set(seeds)
    return [r for r in results if r.get("seed") in keep]


def format_runs(values: Sequence[float], collapsed: Sequence[float] = (), n_prefix: str = "") -> str:
    """The book's one way to write a cell: 'mean ± std (n)' over **every** run (sample std; one
    run has no spread, '83.12 (1)'); where some collapsed (:func:`is_collapsed`; ``collapsed``
    holds their values, a subset of ``values``) their count and, labelled, the mean of the
    others follow: '55.38 ± 38.13 (3; 1 collapsed, others 77.40 ± 0.62)'. ``n_prefix`` labels the
    count, e.g. ``"n="``."""
    if not values:
        return "not yet recorded"
    n = f"{n_prefix}{len(values)}"
    text = f"{values[0]:.2f}" if len(values) == 1 else f"{mean(values):.2f} ± {stdev(values):.2f}"
    if not collapsed:
        return f"{text} ({n})"
    rest = list(values)
    for v in collapsed:
        rest.remove(v)
    if not rest:
        return f"{text} ({n}; all collapsed)"
    others = f"{rest[0]:.2f}" if len(rest) == 1 else f"{mean(rest):.2f} ± {stdev(rest):.2f}"
    return f"{text} ({n}; {len(collapsed)} collapsed, others {others})"


def is_collapsed(result: dict[str, Any]) -> bool:
    """The book's one definition of a collapsed run: a hidden layer of the MLP ``f`` has no active
    unit at the end (``f_active_units`` holds a 0: nothing reaches the classifier, no gradient flows
    back, training cannot recover) **and** the last-epoch unbiased test accuracy is within 5 points
    of chance (100 / classes). For a ResNet ``f`` (no unit count) the accuracy alone decides.
    Tables keep collapsed runs in the mean like any other, and give their count and, labelled,
    the mean of the others."""
    last = result.get("last_test_unbiased")
    if last is None or last >= CHANCE.get(result.get("dataset"), 10.0) + COLLAPSE_MARGIN:
        return False
    units = result.get("f_active_units")
    return units is None or min(units) == 0


#: Points above chance within which a run with a dead layer counts as collapsed (:func:`is_collapsed`).
COLLAPSE_MARGIN = 5.0


def is_full_scale(result: dict[str, Any]) -> bool:
    """A finished paper-profile run whose schedule and data size are the paper profile's (a
    paper-profile run with, say, fewer epochs is not full scale and stays out of the paper tables)."""
    if result.get("profile") != "paper" or result.get("incomplete"):
        return False
    ref = to_dict(make_config(result["dataset"], result["ratio"], result["method"], "paper"))
    config = result.get("config", {})
    return all(config.get(k) == ref[k] for k in SCHEDULE_FIELDS if k in ref)


def aggregate(results: Iterable[dict[str, Any]], key: str = "best_test_unbiased",
              profile: str | None = "paper", seeds: Iterable[int] | None = TABLE_SEEDS) -> dict[tuple[str, float], Cell]:
    """Group results by (label, ratio) and collect ``key`` over ``seeds`` (default
    :data:`TABLE_SEEDS`; ``None``: every seed), for one profile (for ``paper``: full-scale runs
    only, see :func:`is_full_scale`)."""
    groups: dict[tuple[str, float], Cell] = {}
    for r in table_runs(results, seeds):
        if profile == "paper" and not is_full_scale(r):
            continue
        if (profile is None or r["profile"] == profile) and r.get(key) is not None:
            cell = groups.setdefault((r["label"], float(r["ratio"])), Cell([]))
            cell.values.append(float(r[key]))
            if is_collapsed(r):
                cell.collapsed.append(float(r[key]))
    return groups


def table_key(table: str = "1", protocol: str = "best") -> str:
    """The result field a paper table reports under ``protocol`` (best / last / valid):
    ``best_test_unbiased`` for Table 1, ``best_test_conflicting`` for Table 6 (:data:`TABLE_METRIC`)."""
    metric = TABLE_METRIC.get(table, "unbiased")
    if protocol == "valid":
        if metric != "unbiased":
            raise ValueError(f"Table {table} reports {metric} accuracy; the valid-selected protocol records the "
                             "unbiased accuracy only: use protocol 'best' or 'last'")
        return "valid_selected_test_unbiased"
    return f"{protocol}_test_{metric}"


def comparison_rows(results: list[dict[str, Any]], dataset: str, table: str = "1",
                    key: str | None = None, profile: str | None = "paper") -> list[dict[str, Any]]:
    """Rows of a paper table: for each method and ratio the table covers (:func:`table_ratios`),
    ours (mean, std, n, collapsed count), the paper's and the difference. ``key`` defaults to the
    table's own metric (:func:`table_key`). The paper reports the best-test protocol only, so
    ``diff`` is given for the ``best_test_*`` keys and left empty for the last-epoch /
    valid-selected protocols. A cell neither recorded nor in the paper is left out, except the
    rows of :data:`PLANNED_ROWS` (they read "not run" until recorded)."""
    key = key or table_key(table)
    ours = aggregate([r for r in results if r["dataset"] == dataset], key, profile)
    paper = table_paper(dataset, table)
    planned = PLANNED_ROWS.get((table, dataset), ())
    rows = []
    for label, display in TABLES[table]:
        for ratio in table_ratios(dataset, table):
            cell, ref = ours.get((label, ratio)), paper.get(label, {}).get(ratio)
            if cell is None and ref is None and label not in planned:
                continue
            rows.append({"label": label, "method": display, "ratio": ratio,
                         "ours_mean": cell.mean if cell else None, "ours_std": cell.std if cell else None,
                         "n": cell.n if cell else 0, "paper_mean": ref[0] if ref else None,
                         "paper_std": ref[1] if ref else None,
                         "diff": cell.mean - ref[0] if cell and ref and key.startswith("best_test") else None,
                         "collapsed": len(cell.collapsed) if cell else 0,
                         "healthy": cell.healthy if cell else None})
    return rows


def format_table(rows: list[dict[str, Any]], dataset: str, title: str = "") -> str:
    """A plain-text table: one line per method, one column per ratio, 'ours | paper | diff'
    (each column as wide as its widest cell)."""
    ratios = sorted({r["ratio"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cells = {(r["method"], r["ratio"]): _table_cell(r) for r in rows}
    header = "ours (n) | paper | diff"
    widths = {ratio: 2 + max([len(header)] + [len(c) for (m, q), c in cells.items() if q == ratio])
              for ratio in ratios}
    name = 2 + max(len(m) for m in ["method", *methods])
    lines = [title] if title else []
    lines.append(f"{'method':<{name}}" + "".join(f"{f'{r:g} %':^{widths[r]}}" for r in ratios))
    lines.append(f"{'':<{name}}" + "".join(f"{header:^{widths[r]}}" for r in ratios))
    for m in methods:
        lines.append((f"{m:<{name}}" + "".join(f"{cells.get((m, r), ''):^{widths[r]}}" for r in ratios)).rstrip())
    flagged = [r for r in rows if r.get("collapsed")]
    for r in flagged:
        h = r["healthy"]
        without = f"{h.short()} (n={h.n})" if h else "no run left"
        lines.append(f"{r['method']} at {r['ratio']:g} %: {r['collapsed']} of {r['n']} runs collapsed; "
                     f"mean of the others: {without}")
    if flagged:
        lines.append(f"collapsed = last-epoch accuracy within {COLLAPSE_MARGIN:g} points of chance, with a dead "
                     "layer of f where its units were counted (tables.is_collapsed); collapsed runs stay in the mean")
    planned = {label for (_, d), labels in PLANNED_ROWS.items() if d == dataset for label in labels}
    pending = [r for r in rows if r["label"] in planned and r["n"] < len(table_seeds(dataset))]
    if pending:
        lines.append(f"{pending[0]['method']}: " + ", ".join(f"{r['ratio']:g} % (n={r['n']})" for r in pending)
                     + f" of {len(table_seeds(dataset))} runs; `python -m selecmix sweep --plan remedy` trains them")
    short = short_of_trials([r for r in rows if r["label"] not in planned], dataset)
    if short:
        lines.append(f"fewer runs than the paper's {len(table_seeds(dataset))} trials (seeds not recorded yet; "
                     f"`python -m selecmix sweep --plan table1` trains them): {short}")
    return "\n".join(lines)


def short_of_trials(rows: list[dict[str, Any]], dataset: str) -> str:
    """The recorded cells of ``rows`` (:func:`comparison_rows`) with fewer runs than the paper's
    trials of ``dataset`` (:data:`TRIALS`, App. A.2), method by method ('HEX at 0.5 % (n=2), ...; ...');
    '' when every recorded cell has them all. Cells never run are left out (they read 'not run')."""
    trials = len(table_seeds(dataset))
    short: dict[str, list[str]] = {}
    for r in rows:
        if 0 < r["n"] < trials:
            short.setdefault(r["method"], []).append(f"{r['ratio']:g} % (n={r['n']})")
    return "; ".join(f"{m} at {', '.join(c)}" for m, c in short.items())


def _table_cell(r: dict[str, Any]) -> str:
    """One cell of :func:`format_table`: 'mean±std (n, k coll.) | paper | diff'."""
    spread = f"±{r['ours_std']:.2f}" if r["n"] > 1 else ""
    star = f", {r['collapsed']} coll." if r.get("collapsed") else ""
    ours = f"{r['ours_mean']:.2f}{spread} ({r['n']}{star})" if r["n"] else "not run"
    paper = f"{r['paper_mean']:.2f}" if r["paper_mean"] is not None else "-"
    diff = f"{r['diff']:+.2f}" if r["diff"] is not None else ""
    return f"{ours} | {paper} | {diff}".rstrip()


def collapsed_cells(results: list[dict[str, Any]], dataset: str = "cmnist", table: str = "1",
                    key: str | None = None) -> list[dict[str, Any]]:
    """The cells of a paper table with a collapsed run (:func:`is_collapsed`), by the one rule:
    n, the collapsed count, the mean over every run and its difference from the paper, and,
    labelled, the mean of the others and its difference."""
    rows = []
    for r in comparison_rows(results, dataset, table, key):
        if not r.get("collapsed"):
            continue
        healthy, paper = r["healthy"], r["paper_mean"]
        rows.append({"method": r["method"], "ratio (%)": f"{r['ratio']:g}", "runs": r["n"],
                     "collapsed": r["collapsed"], "paper": paper, "mean, every run": round(r["ours_mean"], 2),
                     "diff": round(r["ours_mean"] - paper, 2) if paper is not None else None,
                     "mean of the others": round(healthy.mean, 2) if healthy else None,
                     "diff, others": round(healthy.mean - paper, 2) if healthy and paper is not None else None})
    return rows
