"""Full-scale experiment plans and a small runner that works through them in parallel.

Each plan lists the runs behind one table or figure of the paper; ``python -m selecmix sweep
--plan table1 --out book/results`` trains the missing ones, a few processes at a time (one CPU
thread each), skipping runs whose result file exists -- so an interrupted sweep just resumes
(each run also resumes from its own checkpoint).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import PAPER_RATIOS, make_config
from ..records import result_path, run_name
from ..config import REMEDY
from .tables import table_seeds


@dataclass(frozen=True)
class Run:
    dataset: str
    ratio: float
    method: str
    seed: int
    overrides: tuple[tuple[str, Any], ...] = field(default=())

    def config(self, profile: str = "paper"):
        return make_config(self.dataset, self.ratio, self.method, profile, seed=self.seed, **dict(self.overrides))

    def argv(self, profile: str, out: str) -> list[str]:
        args = [sys.executable, "-m", "selecmix", "train", "--dataset", self.dataset, "--ratio", f"{self.ratio:g}",
                "--method", self.method, "--seed", str(self.seed), "--profile", profile, "--out", out,
                "--resume", "--no-progress"]
        for key, value in self.overrides:
            args += ["--" + key.replace("_", "-"), str(value)]
        return args


# The reduced Corrupted CIFAR-10 study: 5,000 training and 2,000 test images, 15 epochs of
# ResNet18 (standard stem) for f and g, pools of 256 split into mini-batches of 64.
REDUCED_CIFAR = dict(train_size=5000, test_size=2000, epochs=15, large_batch=256, batch_size=64)


PLANS = ("all", "table1", "remedy", "table4", "table5", "table2", "noise", "pretrain", "sc", "scale", "cifar-reduced")


# Table 7 (JTT) reports Colored MNIST and Corrupted CIFAR-10 at 1 % and 2 % only.
TABLE7_RATIOS = {"cmnist": (1.0, 2.0), "cifar10c": (1.0, 2.0), "bffhq": (0.5,)}


def _runs(dataset, ratios, seeds, methods, **overrides) -> list[Run]:
    extra = tuple(sorted(overrides.items()))
    return [Run(dataset, r, m, s, extra) for r in ratios for s in seeds for m in methods]


def plan(name: str, dataset: str = "cmnist", ratios=None, seeds=None) -> list[Run]:
    """The runs of a named plan (one of :data:`PLANS`); ``seeds`` default: the paper's trials of
    ``dataset`` (:func:`selecmix.experiments.tables.table_seeds`: 0-4 for Colored MNIST, else 0-2)."""
    ratios = tuple(ratios or PAPER_RATIOS[dataset])
    seeds = table_seeds(dataset) if seeds is None else tuple(seeds)
    if name == "table1":   # Tables 1, 6, 7 (and Table 4's mixup rows); JTT only where Table 7 has it
        jtt = tuple(r for r in ratios if r in TABLE7_RATIOS.get(dataset, ()))
        return (_runs(dataset, ratios, seeds, ("vanilla", "lff", "selecmix", "lff_selecmix", "mixup"))
                + _runs(dataset, jtt, seeds, ("jtt",))
                + _runs(dataset, ratios, seeds, ("dfa", "end", "hex", "rebias")))
    if name == "remedy":   # this book's remedy for the V+Ours collapse (not the paper's)
        return _runs(dataset, ratios, seeds, ("selecmix",), **REMEDY)
    if name == "table4":   # pair sets A / B alone, on Vanilla and on LfF; LfF + mixup
        return (_runs(dataset, ratios, seeds, ("selecmix", "lff_selecmix"), pairs="A")
                + _runs(dataset, ratios, seeds, ("selecmix", "lff_selecmix"), pairs="B")
                + _runs(dataset, ratios, seeds, ("lff_mixup",)))
    if name == "table5":   # bias labels known: LISA vs SelecMix with ground-truth bias labels
        return [run for pairs in ("A", "B", "AB") for run in
                _runs(dataset, ratios, seeds, ("lisa",), pairs=pairs)
                + _runs(dataset, ratios, seeds, ("selecmix",), pairs=pairs, similarity="gt")]
    if name == "table2":   # similarity source x pair set, on L+Ours as the paper's Table 2
        return [run for pairs in ("AB", "A", "B") for sim in ("gt", "gce-cos", "gce-l2", "gce-kl", "gsc")
                for run in _runs(dataset, ratios, seeds, ("lff_selecmix",), pairs=pairs, similarity=sim)]
    if name == "noise":    # Fig. 3: label noise beta at alpha = 1 % (L+Ours too: the paper does not say which "Ours")
        return [run for beta in (0.5, 1.0, 2.0, 5.0)
                for run in _runs(dataset, ratios, seeds, ("vanilla", "lff", "selecmix", "lff_selecmix"), label_noise=beta)]
    if name == "pretrain":  # Fig. 5: frozen pretrained g (GSC and SC) after k epochs; k = 0 (an untrained g,
        # whose loss is never used) is the same run for both losses, recorded once under GSC
        # (figures.pretrain_runs reads it for either)
        return [run for sim in ("gsc", "sc") for k in (0, 1, 5, 25, 100, 200) if not (k == 0 and sim != "gsc")
                for run in _runs(dataset, ratios, seeds, ("selecmix",), similarity=sim, g_pretrain_epochs=k)]
    if name == "sc":       # Fig. 2 / 5: SelecMix with g trained by plain SC, simultaneously
        return _runs(dataset, ratios, seeds, ("selecmix",), similarity="sc")
    if name == "scale":    # the input-scaling quirk: f on clean [0, 1] inputs instead of [0, 1/255]
        return _runs(dataset, ratios, seeds, ("vanilla", "lff", "selecmix"), input_scale="clean")
    if name == "all":
        return _everything(dataset, ratios, seeds)
    if name == "cifar-reduced":  # a CPU-sized Corrupted CIFAR-10 study (use with --profile fast)
        return _runs("cifar10c", ratios if dataset == "cifar10c" else (1.0, 5.0), seeds,
                     ("vanilla", "lff", "selecmix", "lff_selecmix"), **REDUCED_CIFAR)
    raise ValueError(f"unknown plan {name!r}; choose one of {', '.join(PLANS)}")


# Plans the book runs at every ratio, not only at 1 % (:func:`_everything`; Table 1 first).
_ALL_RATIOS = ("table1", "table5", "table4", "remedy")


def _everything(dataset: str, ratios: tuple[float, ...], seeds) -> list[Run]:
    """Every run behind the book's recorded tables and figures, in the order worth running them:
    Table 1's four headline methods seed by seed (so every ratio gets a first seed early), then
    mixup and JTT, Table 1's other baselines (DFA, EnD, HEX, ReBias) and this book's remedy row, then the ablations at 1 % (Tables 5, 4, 2, Figs. 3, 2, 5 and the input-scaling
    check), then Tables 4 and 5 at the other ratios. Each run appears once."""
    headline = ("vanilla", "lff", "selecmix", "lff_selecmix")
    runs = [run for seed in seeds for run in _runs(dataset, ratios, (seed,), headline)]
    runs += only_methods(plan("table1", dataset, ratios, seeds), ("mixup", "jtt", "dfa", "end", "hex", "rebias"))
    runs += plan("remedy", dataset, ratios, seeds)
    one = (1.0,) if 1.0 in ratios else ratios[:1]
    for name in ("scale", "table5", "table4", "noise", "sc", "table2", "pretrain"):
        runs += plan(name, dataset, one, seeds)
    rest = tuple(r for r in ratios if r not in one)
    for name in _ALL_RATIOS[1:]:
        runs += plan(name, dataset, rest, seeds) if rest else []
    unique = {run_name(run.config()): run for run in reversed(runs)}      # keep the first of duplicates
    return [run for run in runs if unique.get(run_name(run.config())) is run]


#: What each plan's runs reproduce (the status page's progress table), in the book's order.
PLAN_FIGURES = {"table1": "Tables 1, 6, 7", "remedy": "Table 1's remedy row (this book's)", "table5": "Table 5", "table4": "Table 4",
                "table2": "Table 2 (the paper's is on Corrupted CIFAR-10)", "noise": "Fig. 3", "sc": "Fig. 2, 5, 9 (SC)",
                "pretrain": "Fig. 5", "scale": "the input-scaling check"}


def plan_progress(out: str, dataset: str = "cmnist", seeds=None) -> list[dict[str, Any]]:
    """How much of each plan in :data:`PLAN_FIGURES` is recorded under ``out``: ``(recorded,
    planned)`` runs at 1 % and at the other ratios (``None`` where the book plans none)."""
    rest = tuple(r for r in PAPER_RATIOS[dataset] if r != 1.0)
    rows = []
    for name, what in PLAN_FIGURES.items():
        row: dict[str, Any] = {"plan": name, "reproduces": what}
        for key, ratios in (("1 %", (1.0,)), ("other ratios", rest if name in _ALL_RATIOS else ())):
            runs = plan(name, dataset, ratios, seeds) if ratios else []
            row[key] = (len(runs) - len(pending(runs, out)), len(runs)) if runs else None
        rows.append(row)
    return rows


def progress_markdown(out: str, dataset: str = "cmnist") -> str:
    """:func:`plan_progress` as a Markdown table ('recorded / planned')."""
    lines = ["| plan | reproduces | runs at 1 % | runs at 0.5, 2, 5 % |", "| --- | --- | --- | --- |"]
    for row in plan_progress(out, dataset):
        cells = [f"{row[k][0]} / {row[k][1]}" if row[k] else "-" for k in ("1 %", "other ratios")]
        lines.append(f"| `{row['plan']}` | {row['reproduces']} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def only_methods(runs: list[Run], methods) -> list[Run]:
    """The runs of the given methods (all runs when ``methods`` is empty)."""
    return [r for r in runs if not methods or r.method in methods]


def pending(runs: list[Run], out: str, profile: str = "paper") -> list[Run]:
    return [r for r in runs if not result_path(out, r.config(profile)).exists()]


def sweep(runs: list[Run], out: str, profile: str = "paper", workers: int = 2, dry_run: bool = False) -> int:
    """Train the pending runs, ``workers`` processes at a time (one thread each). Returns the
    number of failed runs; each run's log is ``out/logs/<name>.log``."""
    todo = pending(runs, out, profile)
    print(f"{len(runs)} runs in the plan, {len(runs) - len(todo)} recorded, {len(todo)} to train", flush=True)
    if dry_run:
        for r in todo:
            print(" ".join(r.argv(profile, out)[1:]))
        return 0
    logs = Path(out) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    active: list[tuple[subprocess.Popen, Run, Any]] = []
    failed = 0
    while todo or active:
        while todo and len(active) < workers:
            run = todo.pop(0)
            log = open(logs / f"{run_name(run.config(profile))}.log", "w")
            proc = subprocess.Popen(run.argv(profile, out) + ["--threads", "1"], stdout=log, stderr=subprocess.STDOUT, env=env)
            active.append((proc, run, log))
            print(f"started  {run_name(run.config(profile))}", flush=True)
        time.sleep(2)
        for item in list(active):
            proc, run, log = item
            if proc.poll() is not None:
                log.close()
                active.remove(item)
                status = "done" if proc.returncode == 0 else f"FAILED ({proc.returncode}, see {log.name})"
                failed += proc.returncode != 0
                print(f"{status:<8} {run_name(run.config(profile))}", flush=True)
    return failed
