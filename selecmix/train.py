"""The training loop (Algorithm 2 for SelecMix, the same loop for every baseline).

Per epoch: shuffle (the method may upsample, as JTT does), cut the order into selection pools
of ``large_batch`` samples (the last incomplete pool is dropped, as the official code's
``floor(N / large_batch)`` steps), let the method train on each pool in mini-batches, then
evaluate ``f`` on the validation and test splits: unbiased, bias-aligned and bias-conflicting
accuracy.

:func:`train` is the whole loop for a user of the method: a config (and, optionally, your own
splits) in, the trained method and its per-epoch history out. The book's recorded runs add
files around the same loop -- result JSON, a checkpoint after every epoch, a lock -- in
:func:`selecmix.experiments.runs.train_run`, through the ``on_epoch`` hook of :func:`train_epochs`.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .config import Config
from .data import BiasedSplits, InputPipeline, load_splits
from .evaluate import evaluate
from .methods import Context, Method, Pool, build_method


class Interrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C); ``epochs_done`` epochs are saved (in ``checkpoint``,
    when the run has one)."""

    def __init__(self, epochs_done: int, checkpoint=None):
        self.epochs_done, self.checkpoint = epochs_done, checkpoint
        super().__init__(f"interrupted after epoch {epochs_done}")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else the CPU; ``cuda`` without CUDA is a ValueError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use 'auto', 'cpu' or 'cuda'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ValueError(f"device {name!r}: no CUDA device is available on this machine (torch {torch.__version__}, "
                         f"{build}); use device 'cpu' or 'auto'")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {name!r}; use 'auto', 'cpu' or 'cuda'")
    return device


def load_data(cfg: Config) -> BiasedSplits:
    """The dataset a config asks for (built or read from the cache)."""
    return load_splits(cfg.dataset, cfg.ratio, cfg.source, cfg.data_root, cfg.data_seed, cfg.severity,
                       cfg.train_size, cfg.label_noise, cfg.valid_fraction, test_size=cfg.test_size)


@dataclass
class RunState:
    """Where a run stands: the first epoch still to train, the records of those done, seconds trained."""

    start_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    wall: float = 0.0


def build_run(cfg: Config, splits: BiasedSplits | None = None, on_step=None) -> tuple[Method, Context]:
    """Seed the run (``torch`` and the run's generator ``ctx.gen``, both from ``cfg.seed``) and
    build its method and context; nothing is trained yet. ``on_step``, if given, is called after
    every update of f as ``on_step(method, pool, batch, selection, logs)``."""
    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.set_flush_denormal(cfg.flush_denormal)     # process-wide: set by every run, on or off
    device = resolve_device(cfg.device)
    splits = splits if splits is not None else load_data(cfg)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    ctx = Context(cfg, splits, InputPipeline(cfg.dataset, cfg.input_scale), device, gen,
                  splits.train.images.to(device))
    method = build_method(ctx)
    method.observer = on_step
    return method, ctx


def start(method: Method) -> RunState:
    """A fresh run's state: ``method.setup()`` (e.g. g's pretraining, Fig. 5), timed."""
    t0 = time.perf_counter()
    method.setup()
    return RunState(wall=time.perf_counter() - t0)


def train(cfg: Config, splits: BiasedSplits | None = None, on_step=None,
          progress: bool | None = None) -> tuple[Method, list[dict[str, Any]]]:
    """Train a method from scratch: the trained method and one record per epoch (stage, mean
    losses, valid / test accuracies by group, seconds)."""
    method, ctx = build_run(cfg, splits, on_step)
    state = train_epochs(method, ctx, start(method), progress=progress)
    return method, state.history


def train_epochs(method: Method, ctx: Context, state: RunState, on_epoch: Callable[[RunState], Any] | None = None,
                 stop_after: int | None = None, progress: bool | None = None) -> RunState:
    """Train epochs ``state.start_epoch .. method.total_epochs() - 1`` (at most ``stop_after`` of
    them), appending each epoch's record to ``state``; ``on_epoch(state)`` after each (the recorded
    runs checkpoint there). Ctrl-C raises :class:`Interrupted` with the epochs done -- with an
    ``on_epoch``, those for which it returned."""
    total = method.total_epochs()
    y_dev, b_dev = ctx.splits.train.y.to(ctx.device), ctx.splits.train.b.to(ctx.device)
    bar = _bar(total, state.start_epoch, ctx.cfg, progress)
    saved = state.start_epoch
    try:
        for epoch in range(state.start_epoch, total):
            if stop_after is not None and epoch - state.start_epoch >= stop_after:
                break
            record = epoch_record(method, ctx, epoch, y_dev, b_dev)
            state.wall += record["seconds"]
            state.history.append(record)
            if on_epoch is not None:
                on_epoch(state)
                saved = epoch + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(test=f"{record['test']['unbiased']:.1f}", loss=f"{record['loss'].get('loss', 0):.3f}")
    except KeyboardInterrupt:
        raise Interrupted(saved if on_epoch is not None else len(state.history)) from None
    finally:
        if bar is not None:
            bar.close()
    return state


def epoch_record(method: Method, ctx: Context, epoch: int, y_dev: torch.Tensor, b_dev: torch.Tensor) -> dict[str, Any]:
    """Train one epoch and evaluate: the epoch's record (stage, losses, valid / test accuracies, seconds)."""
    t0 = time.perf_counter()
    losses = train_epoch(method, ctx, epoch, y_dev, b_dev)
    record = {"epoch": epoch, "stage": method.stage(epoch), "loss": losses}
    method.train_mode(False)
    for split in ("valid", "test"):
        record[split] = evaluate(method.logits, getattr(ctx.splits, split), ctx.pipeline, ctx.device,
                                 ctx.eval_inputs(split))
    method.train_mode(True)
    record["seconds"] = time.perf_counter() - t0
    return record


def train_epoch(method: Method, ctx: Context, epoch: int, y_dev: torch.Tensor, b_dev: torch.Tensor) -> dict[str, float]:
    """One epoch over the pools; returns the mean of each logged loss. Stops on NaN / inf."""
    cfg = ctx.cfg
    method.on_epoch_start(epoch)
    method.train_mode(True)
    order = method.epoch_order(epoch).to(ctx.device)
    n_pools = max(1, len(order) // cfg.large_batch)
    totals: dict[str, torch.Tensor] = {}
    steps = 0
    for p in range(n_pools):
        idx = order[p * cfg.large_batch:(p + 1) * cfg.large_batch]
        pool = Pool(idx, ctx.f_inputs(idx), y_dev[idx], b_dev[idx], ctx)
        for key, value in method.train_pool(pool).items():
            totals[key] = totals.get(key, 0.0) + value
        steps += -(-len(idx) // cfg.batch_size)
        if not torch.isfinite(totals["loss"]):
            raise FloatingPointError(
                f"{cfg.method} on {cfg.dataset}: the loss became {float(totals['loss'])} in epoch {epoch} "
                f"(pool {p}); training stopped. Lower the learning rate (--lr {cfg.lr} / --g-lr {cfg.g_lr}) "
                "or check the inputs for NaNs")
    return {key: float(value) / steps for key, value in totals.items()}


def _bar(total: int, start_epoch: int, cfg: Config, progress: bool | None):
    """A tqdm bar over epochs; by default only on an interactive terminal outside CI."""
    if not ((sys.stderr.isatty() and not os.environ.get("CI")) if progress is None else progress):
        return None
    from tqdm.auto import tqdm      # a notebook gets its widget bar

    return tqdm(total=total, initial=start_epoch, desc=f"{cfg.method} {cfg.dataset} {cfg.ratio:g}% s{cfg.seed}",
                unit="ep")
