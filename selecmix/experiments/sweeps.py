"""Full-scale experiment plans and a small runner that works through them in parallel.

Each plan lists the runs behind one table or figure of the paper; ``python -m selecmix sweep
--plan table1 --out book/results`` trains the missing ones, a few processes at a time (one CPU
thread each), skipping runs whose result file exists -- so an interrupted sweep just resumes
(each run also resumes from its own checkpoint). ``--print-commands`` hands the same runs to
another engine (GNU parallel, a Slurm job array: one command a line), ``--shard i/n`` takes a
slice of the plan, and every ``train`` holds a lock file beside its checkpoint, so sweeps and
engines sharing a results folder never train the same run twice at once.
"""
from __future__ import annotations

import datetime as _dt
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import PAPER_RATIOS, REMEDY, make_config
from .records import result_path, run_name
from .tables import table_seeds

#: Exit status of ``train`` when another process holds the run's lock (the run is skipped).
LOCKED_EXIT = 3


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
        """The ``train`` command of this run: interpreter, ``-m selecmix train``, one thread, resume."""
        args = [sys.executable, "-m", "selecmix", "train", "--dataset", self.dataset, "--ratio", f"{self.ratio:g}",
                "--method", self.method, "--seed", str(self.seed), "--profile", profile, "--out", out,
                "--resume", "--no-progress", "--threads", "1"]
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
        return (_runs(dataset, ratios, seeds, ("vanilla", "lff", "selecmix"), input_scale="clean")
                + _runs(dataset, ratios, seeds, ("end", "hex", "dfa", "rebias"), input_scale="clean"))
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


def with_overrides(runs: list[Run], **overrides) -> list[Run]:
    """The runs with these config fields set (``None`` values ignored), e.g. ``epochs=1`` for a
    quick trial of a plan; the run names record them."""
    extra = {k: v for k, v in overrides.items() if v is not None}
    if not extra:
        return runs
    return [replace(run, overrides=tuple(sorted({**dict(run.overrides), **extra}.items()))) for run in runs]


def only_methods(runs: list[Run], methods) -> list[Run]:
    """The runs of the given methods (all runs when ``methods`` is empty)."""
    return [r for r in runs if not methods or r.method in methods]


def pending(runs: list[Run], out: str, profile: str = "paper") -> list[Run]:
    return [r for r in runs if not result_path(out, r.config(profile)).exists()]


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` (1 <= i <= n) as ``(i, n)``; ValueError otherwise."""
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"shard {text!r} is not of the form i/n (e.g. 1/4)") from None
    if not 1 <= i <= n:
        raise ValueError(f"shard {text!r}: need 1 <= i <= n (shards are numbered 1..n)")
    return i, n


def shard(runs: list[Run], i: int, n: int) -> list[Run]:
    """Shard ``i`` of ``n`` (1-based) of a plan: every n-th run from the i-th, so the ``n`` shards
    are disjoint, cover the plan and mix its methods and ratios. Taken over the whole plan (not the
    pending runs), so every machine computes the same slices whatever it has recorded."""
    return runs[i - 1::n]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def command(run: Run, profile: str, out: str) -> str:
    """One shell-quoted, complete ``train`` command (absolute ``--out``, so it runs from any folder)."""
    return shlex.join(run.argv(profile, os.path.abspath(out)))


def print_commands(runs: list[Run], out: str, profile: str = "paper") -> list[Run]:
    """Write one command per pending run to stdout (every other message goes to stderr)."""
    todo = pending(runs, out, profile)
    _say(f"{len(runs)} runs in the plan, {len(runs) - len(todo)} recorded, {len(todo)} to train "
         "(one command a line on stdout)")
    for run in todo:
        print(command(run, profile, out), flush=True)
    return todo


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped a sweep; the message says how to continue."""


@dataclass
class _Job:
    run: Run
    name: str
    log: Path
    proc: subprocess.Popen
    handle: Any
    started: float = field(default_factory=time.perf_counter)


@dataclass
class SweepState:
    """The runs of a sweep: left to start, running, done, failed (with logs), skipped."""

    todo: list[Run]
    running: list[_Job] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, Path]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def counts(self) -> str:
        return (f"[{len(self.done)} done | {len(self.running)} running | {len(self.todo)} left"
                + (f" | {len(self.failed)} failed" if self.failed else "") + "]")


def _start_job(run: Run, out: str, profile: str) -> _Job:
    """Start one run's ``train`` in its own session (Ctrl-C reaches the sweep, which stops it)."""
    name = run_name(run.config(profile))
    log = Path(out) / "logs" / f"{name}.log"
    handle = open(log, "a")             # appended: a second sweep never truncates a running run's log
    handle.write(f"=== {_dt.datetime.now().astimezone().isoformat(timespec='seconds')} "
                 f"{command(run, profile, out)}\n")
    handle.flush()
    proc = subprocess.Popen(run.argv(profile, out), stdout=handle, stderr=subprocess.STDOUT,
                            env=dict(os.environ, OMP_NUM_THREADS="1"), start_new_session=True)
    return _Job(run, name, log, proc, handle)


def _finish_job(job: _Job, state: SweepState) -> str:
    """Book a finished job; its one-word outcome."""
    job.handle.close()
    state.running.remove(job)
    code = job.proc.returncode
    if code == 0:
        state.done.append(job.name)
        return "done"
    if code == LOCKED_EXIT:
        state.skipped.append(job.name)
        return "skipped (another process is training it)"
    state.failed.append((job.name, job.log))
    return f"FAILED (exit {code}, see {job.log})"


def _step(state: SweepState, out: str, profile: str, workers: int, poll: float) -> None:
    """Start runs up to ``workers``, wait ``poll`` seconds, book the finished ones."""
    while state.todo and len(state.running) < workers:
        job = _start_job(state.todo.pop(0), out, profile)
        state.running.append(job)
        print(f"{state.counts()} started  {job.name}", flush=True)
    time.sleep(poll)
    for job in [j for j in state.running if j.proc.poll() is not None]:
        outcome = _finish_job(job, state)
        minutes = (time.perf_counter() - job.started) / 60
        print(f"{state.counts()} {outcome} {job.name} ({minutes:.1f} min)", flush=True)


def _stop(state: SweepState, grace: float = 60.0) -> None:
    """Interrupt the running jobs (SIGINT: each keeps its last checkpoint), kill any that lingers."""
    for job in state.running:
        if job.proc.poll() is None:
            job.proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace
    for job in state.running:
        try:
            job.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            job.proc.kill()
            job.proc.wait()
        job.handle.close()


def _summary(state: SweepState) -> None:
    print(f"sweep: {len(state.done)} done, {len(state.failed)} failed, {len(state.skipped)} skipped"
          + (f", {len(state.todo) + len(state.running)} not finished" if state.todo or state.running else ""), flush=True)
    for name, log in state.failed:
        print(f"  failed: {name} (log: {log})", flush=True)
    for name in state.skipped:
        print(f"  skipped: {name} (being trained by another process; see its lock file)", flush=True)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def sweep(runs: list[Run], out: str, profile: str = "paper", workers: int = 2, dry_run: bool = False,
          poll: float = 2.0) -> int:
    """Train the pending runs, ``workers`` processes at a time (one thread each), printing the
    progress after each start and finish and a final summary. Returns the number of failed runs;
    each run's log is ``out/logs/<name>.log``. Ctrl-C (or SIGTERM) interrupts the running runs
    (they keep their checkpoints) and raises :class:`SweepInterrupted`."""
    if dry_run:
        print_commands(runs, out, profile)
        return 0
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    todo = pending(runs, out, profile)
    print(f"{len(runs)} runs in the plan, {len(runs) - len(todo)} recorded, {len(todo)} to train", flush=True)
    (Path(out) / "logs").mkdir(parents=True, exist_ok=True)
    state = SweepState(list(todo))
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while state.todo or state.running:
            _step(state, out, profile, workers, poll)
    except KeyboardInterrupt:
        stopped = len(state.running)
        _stop(state)
        _summary(state)
        raise SweepInterrupted(f"sweep interrupted: {stopped} running run(s) stopped at their last checkpoint; "
                               "rerun the same command to continue (finished runs are kept, the others resume)") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    _summary(state)
    return len(state.failed)
