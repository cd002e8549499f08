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
import datetime as _dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from statistics import mean, stdev
from typing import Any, Iterable, Sequence

import torch

from .config import REPO_ROOT, Config, make_config, to_dict

SCHEMA = 1
METRICS = ("unbiased", "aligned", "conflicting")
_SHORT = {"pairs": "pairs", "similarity": "sim", "label_noise": "noise", "input_scale": "scale",
          "g_pretrain_epochs": "pre", "epochs": "ep", "train_size": "n", "test_size": "nt", "g_arch": "g", "f_arch": "f",
          "jtt_epochs": "T", "jtt_upweight": "up", "lambda_ours": "lo", "lambda_base": "lb", "source": "src",
          "g_similarity_mode": "gmode", "random_warmup_pools": "warm"}
_IGNORED = {"seed", "data_root", "device", "threads", "extra", "dataset", "ratio", "method", "profile"}
# Fields that set the scale of a run, not the method: in file names, not in table labels.
_SCHEDULE = {"epochs", "train_size", "test_size", "large_batch", "batch_size", "source", "valid_fraction", "data_seed"}


# --------------------------------------------------------------------------- names and files
def variant(cfg: Config, schedule: bool = True) -> str:
    """The fields that differ from the profile's defaults, e.g. ``simgt-pairsA`` ('' if none);
    ``schedule=False`` leaves out the fields that only change the run's scale (epochs, sizes)."""
    base = to_dict(make_config(cfg.dataset, cfg.ratio, cfg.method, cfg.profile))
    parts = []
    for key, value in to_dict(cfg).items():
        if key in _IGNORED or base.get(key) == value or (not schedule and key in _SCHEDULE):
            continue
        text = f"{value:g}" if isinstance(value, float) else str(value)
        parts.append(f"{_SHORT.get(key, key)}{text}".replace("/", "_"))
    return "-".join(parts)


def run_label(cfg: Config) -> str:
    """Method plus variant, e.g. ``selecmix`` or ``selecmix-pairsA``: one row of a table."""
    v = variant(cfg, schedule=False)
    return f"{cfg.method}-{v}" if v else cfg.method


def run_name(cfg: Config) -> str:
    """File stem of a run, unique per config: ``cmnist-1pct-selecmix-s0-paper`` (plus variant)."""
    v = variant(cfg)
    return f"{cfg.dataset}-{cfg.ratio:g}pct-{cfg.method}{'-' + v if v else ''}-s{cfg.seed}-{cfg.profile}"


def result_path(out: str | os.PathLike, cfg: Config) -> Path:
    return Path(out) / cfg.dataset / f"{run_name(cfg)}.json"


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file, then rename: never a half-written checkpoint."""
    _atomic(Path(path), lambda tmp: torch.save(obj, tmp))


def write_result(path: str | os.PathLike, result: dict[str, Any]) -> None:
    """Write a result as JSON atomically (NaN written as null)."""
    text = json.dumps(_clean(result), indent=1)
    _atomic(Path(path), lambda tmp: Path(tmp).write_text(text))


def read_result(path: str | os.PathLike) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read result file {path}: {err}. Fix: delete it and rerun the run") from None


def load_results(folder: str | os.PathLike, dataset: str | None = None) -> list[dict[str, Any]]:
    """Every result JSON under ``folder`` (recursively), optionally of one dataset."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"results folder {folder} does not exist; pass --results with the folder "
                                "that `python -m selecmix train --out` wrote to")
    found = [read_result(p) for p in sorted(folder.rglob("*.json")) if "checkpoints" not in p.parts]
    found = [r for r in found if r.get("schema") == SCHEMA]
    return [r for r in found if dataset is None or r["dataset"] == dataset]


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN / inf -> null, floats rounded to 4 decimals (accuracies are in percent)."""
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else round(obj, 4)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- building a result
def git_commit() -> str:
    """The checkout's commit (``+dirty`` when tracked files changed), or ``unknown``."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (head + ("+dirty" if dirty else "")) if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.machine()}, {torch.get_num_threads()} thread(s), {os.cpu_count()} core(s)"


def _command() -> str:
    """How this process was started (``python -m selecmix ...`` for the command line)."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(os.path.join("selecmix", "__main__.py")):
        argv = ["-m", "selecmix"] + argv[1:]
    return " ".join(shlex.quote(a) for a in ["python"] + argv)


def _best(history: list[dict], split: str, metric: str) -> float | None:
    values = [h[split][metric] for h in history if h[split][metric] is not None and not math.isnan(h[split][metric])]
    return max(values) if values else None


def build_result(cfg: Config, history: list[dict[str, Any]], wall: float, device: torch.device,
                 commits: list[str] | None = None) -> dict[str, Any]:
    """The result dict of a run from its per-epoch history (only the main stage counts).

    ``commits``: the checkout's commit when each process that trained part of the run started
    (a run resumed from a checkpoint can span several); ``commit`` is the last of them, and the
    whole list is kept as ``commits`` when there are several. Default: the commit now."""
    commits = commits or [git_commit()]
    main = [h for h in history if h.get("stage", "main") == "main"] or history
    result: dict[str, Any] = {
        "schema": SCHEMA, "name": run_name(cfg), "label": run_label(cfg),
        "dataset": cfg.dataset, "method": cfg.method, "ratio": cfg.ratio, "seed": cfg.seed,
        "profile": cfg.profile, "epochs": cfg.epochs, "config": to_dict(cfg),
        "command": _command(),
        "commit": commits[-1], "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "device": device_description(device), "torch": torch.__version__,
        "python": platform.python_version(), "wall_seconds": round(wall, 2),
    }
    if len(commits) > 1:
        result["commits"] = list(commits)
    if main:
        for metric in METRICS:
            result[f"best_test_{metric}"] = _best(main, "test", metric)
            result[f"last_test_{metric}"] = main[-1]["test"][metric]
        best_epoch = max(main, key=lambda h: h["test"]["unbiased"])
        by_valid = max(main, key=lambda h: (h["valid"]["unbiased"], -h["epoch"]))
        result.update(best_epoch=best_epoch["epoch"], valid_selected_epoch=by_valid["epoch"],
                      valid_selected_test_unbiased=by_valid["test"]["unbiased"])
    result["history"] = history
    return _clean(result)


# --------------------------------------------------------------------------- the paper's numbers
def _row(*cells: str) -> tuple[tuple[float, float] | None, ...]:
    out = []
    for c in cells:
        if c == "-":
            out.append(None)
        else:
            m, s = c.split("±")
            out.append((float(m), float(s)))
    return tuple(out)


_CM, _CC = (0.5, 1.0, 2.0, 5.0), (0.5, 1.0, 2.0, 5.0)

# Table 1 (unbiased test accuracy; BFFHQ: bias-conflicting test samples). Keys are our run labels
# where we have the method; other columns of the paper are kept under their names for display.
PAPER_TABLE1: dict[str, dict[str, dict[float, tuple[float, float]]]] = {}
_T1 = {
    "cmnist": {
        "vanilla": _row("35.71±0.83", "50.51±2.17", "65.40±1.63", "82.12±1.52"),
        "HEX": _row("30.33±0.76", "43.73±5.50", "56.85±2.58", "74.62±3.20"),
        "ReBias": _row("71.42±1.41", "86.50±0.97", "92.95±0.21", "96.92±0.09"),
        "EnD": _row("56.98±4.85", "73.83±2.09", "82.28±1.08", "89.26±0.27"),
        "lff": _row("63.86±2.81", "78.64±1.51", "84.95±1.71", "89.42±0.65"),
        "DFA": _row("67.37±1.61", "80.20±1.86", "85.61±0.76", "89.86±0.80"),
        "selecmix": _row("70.47±1.66", "83.55±0.42", "87.03±0.58", "91.56±0.17"),
        "lff_selecmix": _row("70.00±0.52", "82.80±0.71", "87.16±0.62", "91.57±0.20")},
    "cifar10c": {
        "vanilla": _row("23.26±0.29", "26.10±0.72", "31.04±0.44", "41.98±0.12"),
        "HEX": _row("13.87±0.06", "14.81±0.42", "15.20±0.54", "16.04±0.63"),
        "ReBias": _row("22.13±0.23", "26.05±0.10", "32.00±0.81", "44.00±0.66"),
        "EnD": _row("22.54±0.65", "26.20±0.39", "32.99±0.33", "44.90±0.37"),
        "lff": _row("29.36±0.18", "33.50±0.52", "40.65±1.23", "50.95±0.40"),
        "DFA": _row("30.04±0.66", "33.80±1.83", "42.10±1.04", "49.23±0.63"),
        "selecmix": _row("38.14±0.15", "41.87±0.14", "47.70±1.35", "54.00±0.38"),
        "lff_selecmix": _row("39.44±0.22", "43.68±0.51", "49.70±0.54", "57.03±0.48")},
    "bffhq": {
        "vanilla": _row("56.20±0.35"), "HEX": _row("52.83±0.90"), "ReBias": _row("56.80±1.56"),
        "EnD": _row("56.53±0.61"), "lff": _row("65.60±1.40"), "DFA": _row("61.60±1.97"),
        "selecmix": _row("71.60±1.91"), "lff_selecmix": _row("70.80±2.95")},
}
# Table 4 (pair sets and plain mixup) -- Colored MNIST, Corrupted CIFAR-10 (0.5/1/2/5 %), BFFHQ (0.5 %).
_T4 = {
    "mixup": ("36.90±1.87 46.19±1.93 59.44±3.61 76.28±3.51", "23.53±0.80 25.48±0.50 31.88±0.42 43.41±0.56", "52.80±0.40"),
    "selecmix-pairsA": ("58.49±0.77 74.59±0.77 83.16±1.14 89.32±0.71", "37.16±0.09 41.38±0.41 48.00±0.64 54.40±0.26", "66.20±1.80"),
    "selecmix-pairsB": ("71.23±1.30 81.87±0.94 85.91±0.51 90.53±0.81", "35.17±0.47 37.74±0.17 42.77±0.75 49.59±0.05", "70.33±0.46"),
    "lff_mixup": ("44.30±1.03 58.22±2.71 72.44±2.10 85.28±1.39", "22.71±0.60 26.32±1.10 32.67±0.46 45.16±0.92", "57.53±0.64"),
    "lff_selecmix-pairsA": ("57.28±1.96 74.44±0.36 84.20±0.48 90.33±0.22", "38.46±0.40 42.94±0.44 49.32±0.28 56.11±0.83", "67.60±2.20"),
    "lff_selecmix-pairsB": ("70.26±1.70 83.14±0.86 86.44±0.49 91.49±0.31", "37.15±1.31 41.82±0.98 47.01±0.34 53.68±0.02", "70.40±2.23"),
}
# Table 5 (bias labels known): LISA vs SelecMix with ground-truth bias labels.
_T5 = {
    "lisa-pairsA": ("48.95±0.75 67.10±0.77 78.28±0.99 87.04±0.72", "33.29±0.65 38.62±0.31 45.79±0.13 53.41±0.27", "63.20±0.92"),
    "selecmix-simgt-pairsA": ("58.07±1.94 72.25±0.60 82.35±0.82 90.11±0.14", "36.10±0.21 40.55±0.45 46.70±0.73 53.90±0.59", "67.67±1.33"),
    "lisa-pairsB": ("52.32±2.30 72.97±1.22 79.74±2.25 86.44±1.10", "29.56±0.93 34.23±1.34 40.47±0.67 47.61±0.64", "58.93±0.50"),
    "selecmix-simgt-pairsB": ("72.02±1.39 81.94±1.62 86.04±0.77 88.68±2.32", "35.47±0.54 39.27±0.87 43.13±1.29 48.44±0.96", "77.40±2.09"),
    "lisa": ("60.85±1.72 74.42±2.27 83.20±0.52 88.73±0.39", "32.71±1.09 38.18±0.90 44.15±0.39 51.57±0.45", "65.20±0.53"),
    "selecmix-simgt": ("70.57±2.86 83.38±0.53 87.22±0.70 90.23±0.58", "37.02±1.05 41.66±1.10 48.35±0.99 53.47±0.53", "75.00±0.53"),
}
# Table 7 (JTT) and Table 6 (bias-conflicting accuracy), where the paper reports them.
PAPER_JTT = {"cmnist": {1.0: (62.35, 3.30), 2.0: (74.04, 1.33)}, "cifar10c": {1.0: (28.55, 0.27), 2.0: (33.03, 0.52)},
             "bffhq": {0.5: (58.40, 0.35)}}
PAPER_TABLE6 = {  # bias-conflicting test accuracy
    "cmnist": {1.0: {"vanilla": (44.14, 2.71), "mixup": (38.80, 3.85), "EnD": (62.92, 2.56), "lff": (71.40, 2.63),
                     "DFA": (76.06, 3.15), "selecmix": (77.38, 1.87), "lff_selecmix": (74.62, 0.94)},
               2.0: {"vanilla": (59.32, 1.52), "mixup": (51.88, 3.56), "EnD": (76.31, 1.16), "lff": (80.82, 2.75),
                     "DFA": (81.39, 1.97), "selecmix": (83.32, 1.57), "lff_selecmix": (82.70, 0.73)}},
    "cifar10c": {1.0: {"vanilla": (16.30, 0.50), "mixup": (14.77, 0.50), "EnD": (16.22, 0.53), "lff": (24.08, 0.97),
                       "DFA": (25.00, 2.55), "selecmix": (35.89, 1.05), "lff_selecmix": (36.17, 1.25)},
                 2.0: {"vanilla": (21.40, 0.74), "mixup": (22.23, 0.89), "EnD": (23.77, 0.22), "lff": (34.00, 1.06),
                       "DFA": (31.84, 1.09), "selecmix": (44.24, 1.07), "lff_selecmix": (43.88, 1.41)}},
}
# Table 2 (Corrupted CIFAR-10, 1 %, on L+Ours): similarity source x pair set.
PAPER_TABLE2 = {
    "A": {"gt": (41.71, 0.85), "gce-cos": (40.31, 0.63), "gce-l2": (38.56, 1.25), "gce-kl": (40.82, 0.94), "gsc": (42.94, 0.44)},
    "B": {"gt": (41.70, 0.74), "gce-cos": (33.69, 0.97), "gce-l2": (34.15, 0.50), "gce-kl": (30.99, 0.93), "gsc": (41.82, 0.98)},
    "AB": {"gt": (43.35, 0.67), "gce-cos": (38.05, 0.83), "gce-l2": (38.90, 0.96), "gce-kl": (39.94, 1.48), "gsc": (43.68, 0.51)},
}
# Table 3 (bias-label prediction accuracy of the biased model, linear probe).
PAPER_TABLE3 = {
    "cifar10c": {"lff": _row("77.44±0.94", "73.01±1.70", "67.00±0.87", "55.58±0.06"),
                 "DFA": _row("79.03±1.15", "72.30±0.71", "64.71±0.24", "52.01±0.70"),
                 "selecmix": _row("95.45±0.05", "93.39±0.02", "92.89±0.06", "87.28±0.20")},
    "bffhq": {"lff": _row("51.07±3.06"), "DFA": _row("46.20±1.00"), "selecmix": _row("59.13±0.23")},
}


def _ratios(dataset: str) -> tuple[float, ...]:
    return (0.5,) if dataset == "bffhq" else _CM


def _by_ratio(dataset: str, cells) -> dict[float, tuple[float, float]]:
    return {r: c for r, c in zip(_ratios(dataset), cells) if c is not None}


def paper_numbers(dataset: str) -> dict[str, dict[float, tuple[float, float]]]:
    """The paper's unbiased accuracy (mean, std) per run label and ratio (Tables 1, 4, 5, 7)."""
    table = {label: _by_ratio(dataset, cells) for label, cells in _T1.get(dataset, {}).items()}
    col = {"cmnist": 0, "cifar10c": 1, "bffhq": 2}[dataset]
    for source in (_T4, _T5):
        for label, texts in source.items():
            table[label] = _by_ratio(dataset, _row(*texts[col].split()))
    table["jtt"] = dict(PAPER_JTT.get(dataset, {}))
    return table


# Which run labels make up each of the paper's tables (display names on the right).
TABLES = {
    "1": [("vanilla", "Vanilla"), ("lff", "LfF"), ("selecmix", "V+Ours"), ("lff_selecmix", "L+Ours"),
          ("HEX", "HEX (paper only)"), ("ReBias", "ReBias (paper only)"), ("EnD", "EnD (paper only)"),
          ("DFA", "DFA (paper only)")],
    "4": [("vanilla", "Vanilla"), ("mixup", "+ mixup"), ("selecmix-pairsA", "+ Ours (A)"),
          ("selecmix-pairsB", "+ Ours (B)"), ("selecmix", "+ Ours (AB)"), ("lff", "LfF"),
          ("lff_mixup", "LfF + mixup"), ("lff_selecmix-pairsA", "LfF + Ours (A)"),
          ("lff_selecmix-pairsB", "LfF + Ours (B)"), ("lff_selecmix", "LfF + Ours (AB)")],
    "5": [("vanilla", "Vanilla"), ("lisa-pairsA", "+ LISA (A)"), ("selecmix-simgt-pairsA", "+ Ours (A), bias labels"),
          ("lisa-pairsB", "+ LISA (B)"), ("selecmix-simgt-pairsB", "+ Ours (B), bias labels"),
          ("lisa", "+ LISA (AB)"), ("selecmix-simgt", "+ Ours (AB), bias labels")],
    "7": [("vanilla", "Vanilla"), ("jtt", "JTT"), ("selecmix", "V+Ours")],
}


# --------------------------------------------------------------------------- aggregation
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
    return all(config.get(k) == ref[k] for k in _SCHEDULE if k in ref)


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
        for ratio in _ratios(dataset):
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


# --------------------------------------------------------------------------- reproduction status
STATUS_METHODS = (("vanilla", "Vanilla"), ("lff", "LfF"), ("selecmix", "V+Ours"), ("lff_selecmix", "L+Ours"))


def status_markdown(results: list[dict[str, Any]]) -> str:
    """The introduction's reproduction-status table (Markdown): for each dataset and ratio of
    Table 1, the paper's number and our recorded runs (best-test and last-epoch, mean ± std, n)."""
    lines = ["| dataset | ratio | method | paper (Table 1) | ours, best epoch | ours, last epoch | runs |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for dataset in ("cmnist", "cifar10c", "bffhq"):
        mine = [r for r in results if r["dataset"] == dataset]
        best, last = aggregate(mine, "best_test_unbiased"), aggregate(mine, "last_test_unbiased")
        paper = paper_numbers(dataset)
        for ratio in _ratios(dataset):
            for label, display in STATUS_METHODS:
                ref = paper.get(label, {}).get(ratio)
                b, l = best.get((label, ratio)), last.get((label, ratio))
                cell_b = b.short() if b else "not yet recorded"
                cell_l = l.short() if l else ""
                runs = f"{b.n} ({len(b.collapsed)} collapsed; without: {b.healthy.short() if b.healthy else '-'})" \
                    if b and b.collapsed else f"{b.n if b else 0}"
                lines.append(f"| {dataset} | {ratio:g} % | {display} | {ref[0]:.2f} ± {ref[1]:.2f} | {cell_b} | "
                             f"{cell_l} | {runs} |")
    spent = compute_spent(results)
    if spent:
        where = "; ".join(f"{n} on {device} ({seconds / 3600:.1f} h)" for device, (n, seconds) in spent.items())
        lines += ["", f"Compute spent on all recorded runs (this table's, the ablations' and the reduced study's; "
                      f"wall-clock time of each run): {sum(n for n, _ in spent.values())} runs, "
                      f"{sum(s for _, s in spent.values()) / 3600:.1f} hours -- {where}."]
    return "\n".join(lines) + "\n"


def compute_spent(results: list[dict[str, Any]]) -> dict[str, tuple[int, float]]:
    """``device -> (runs, seconds)``: the wall-clock time of the recorded runs, per device (a run
    resumed from a checkpoint counts the time of all its parts)."""
    spent: dict[str, tuple[int, float]] = {}
    for r in results:
        if r.get("wall_seconds") is not None:
            device = r.get("device", "unknown")
            n, seconds = spent.get(device, (0, 0.0))
            spent[device] = (n + 1, seconds + float(r["wall_seconds"]))
    return dict(sorted(spent.items(), key=lambda kv: -kv[1][1]))


def write_status(folder: str | os.PathLike) -> Path:
    """Regenerate ``<folder>/STATUS.md`` from the result files in ``folder`` (atomically)."""
    folder = Path(folder)
    results = load_results(folder) if folder.is_dir() else []
    text = ("<!-- generated by `python -m selecmix status`; do not edit -->\n"
            "Full-scale runs recorded in `book/results` (paper profile; mean ± std over seeds, n = runs). "
            "Best epoch = the paper's protocol (best test accuracy over training); last epoch = what a user "
            "without an unbiased test set gets.\n\n" + status_markdown(results))
    from .sweeps import progress_markdown       # sweeps imports this module

    text += ("\nProgress of the sweep plans behind the book's Colored MNIST tables and figures (seeds 0, 1, 2; "
             "recorded / planned runs; `python -m selecmix sweep --plan <plan>` trains the missing ones; Table 2's GSC "
             "column shares its runs with Table 1's and Table 4's L+Ours rows):\n\n"
             + progress_markdown(str(folder)))
    scans = [json.loads(p.read_text()) for p in sorted((folder / "investigations").glob("*.json"))]
    scan_seconds = sum(float(s.get("wall_seconds") or 0) for s in scans)
    if scan_seconds:
        text += (f"\nThe investigations in `investigations/` (scans of many short runs) took another "
                 f"{scan_seconds / 3600:.1f} hours.\n")
    path = folder / "STATUS.md"
    _atomic(path, lambda tmp: Path(tmp).write_text(text))
    return path
