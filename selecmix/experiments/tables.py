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
from ..records import SCHEDULE_FIELDS, SCHEMA, read_result
from .paper import TABLES, paper_numbers, paper_ratios


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
    """Mean ± std over seeds of one metric for one (label, ratio)."""

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
        return f"{self.mean:.2f} ± {self.std:.2f} (n={self.n})" if self.n > 1 else f"{self.mean:.2f} (n=1)"

    def short(self) -> str:
        """``mean ± std`` (just ``mean`` for a single run: one seed has no spread)."""
        return f"{self.mean:.2f} ± {self.std:.2f}" if self.n > 1 else f"{self.mean:.2f}"


CHANCE = {"cmnist": 10.0, "cifar10c": 10.0, "bffhq": 50.0}


#: The seeds the paper-style tables average: three, as the paper's tables (mean ± std over three
#: runs). Runs of other seeds are recorded too -- extra V+Ours seeds that show what its collapsed
#: cells give when every run trains -- and shown only where the book says so.
TABLE_SEEDS = (0, 1, 2)


def table_runs(results: Iterable[dict[str, Any]], seeds: Iterable[int] | None = TABLE_SEEDS) -> list[dict[str, Any]]:
    """The results whose seed is one of ``seeds`` (``None``: all of them)."""
    keep = None if seeds is None else set(seeds)
    return [r for r in results if keep is None or r.get("seed") in keep]


def format_runs(values: Sequence[float], collapsed: int = 0, n_prefix: str = "") -> str:
    """'mean ± std (n)' of per-seed values (sample std); one value has no spread, '83.12 (1)';
    ``collapsed`` runs (see :func:`is_collapsed`), left out of ``values``, are counted:
    '(n + k collapsed)'. ``n_prefix`` labels the count, e.g. ``"n="`` gives '(n=3)'."""
    if not values:
        return f"collapsed ({collapsed})" if collapsed else "not yet recorded"
    n = f"{n_prefix}{len(values)}" + (f" + {collapsed} collapsed" if collapsed else "")
    if len(values) == 1:
        return f"{values[0]:.2f} ({n})"
    return f"{mean(values):.2f} ± {stdev(values):.2f} ({n})"


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


def comparison_rows(results: list[dict[str, Any]], dataset: str, table: str = "1",
                    key: str = "best_test_unbiased", profile: str | None = "paper") -> list[dict[str, Any]]:
    """Rows of a paper table: for each method and ratio, ours (mean, std, n), the paper's and the
    difference. The paper reports the best-test protocol only, so ``diff`` is given for the
    ``best_test_*`` keys and left empty for the last-epoch / valid-selected protocols."""
    ours = aggregate([r for r in results if r["dataset"] == dataset], key, profile)
    paper = paper_numbers(dataset)
    rows = []
    for label, display in TABLES[table]:
        for ratio in paper_ratios(dataset):
            cell, ref = ours.get((label, ratio)), paper.get(label, {}).get(ratio)
            if cell is None and ref is None:
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
    """A plain-text table: one line per method, one column per ratio, 'ours | paper | diff'."""
    ratios = sorted({r["ratio"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cells = {(r["method"], r["ratio"]): r for r in rows}
    width = 36
    lines = [title] if title else []
    lines.append(f"{'method':<26}" + "".join(f"{f'{r:g} %':^{width}}" for r in ratios))
    lines.append(f"{'':<26}" + "".join(f"{'ours (n) | paper | diff':^{width}}" for _ in ratios))
    for m in methods:
        line = f"{m:<26}"
        for ratio in ratios:
            r = cells.get((m, ratio))
            if r is None:
                line += f"{'':^{width}}"
                continue
            spread = f"±{r['ours_std']:.2f}" if r["n"] > 1 else ""
            star = "*" if r.get("collapsed") else ""
            ours = f"{r['ours_mean']:.2f}{spread} ({r['n']}{star})" if r["n"] else "not run"
            paper = f"{r['paper_mean']:.2f}" if r["paper_mean"] is not None else "-"
            diff = f"{r['diff']:+.2f}" if r["diff"] is not None else ""
            line += f"{f'{ours} | {paper} | {diff}':^{width}}"
        lines.append(line.rstrip())
    flagged = [r for r in rows if r.get("collapsed")]
    for r in flagged:
        h = r["healthy"]
        without = f"{h.short()} (n={h.n})" if h else "no run left"
        lines.append(f"* {r['method']} at {r['ratio']:g} %: {r['collapsed']} of {r['n']} runs collapsed "
                     f"(stuck at chance); without them: {without}")
    return "\n".join(lines)
