"""The training loop (Algorithm 2 for SelecMix, the same loop for every baseline).

Per epoch: shuffle (the method may upsample, as JTT does), cut the order into selection pools
of ``large_batch`` samples (the last incomplete pool is dropped, as the official code's
``floor(N / large_batch)`` steps), let the method train on each pool in mini-batches, then
evaluate ``f`` on the validation and test splits: unbiased, bias-aligned and bias-conflicting
accuracy. A checkpoint is written after every epoch (state dicts only, loaded with
``weights_only=True``), so ``resume=True`` continues a killed run to the same final numbers on
the CPU; an existing checkpoint is never silently overwritten (``resume=True`` continues it,
``force=True`` starts over), and a lock file beside it keeps two processes from training the
same run. The run ends in one JSON result (see :mod:`selecmix.experiments.tables`).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .config import Config, to_dict
from .data import BiasedSplits, InputPipeline, load_splits
from .evaluate import active_units, bias_probe_on, evaluate
from .methods import Context, Method, Pool, build_method
from .records import (
    acquire_lock,
    atomic_torch_save,
    build_result,
    git_commit,
    read_result,
    release_lock,
    result_path,
    run_name,
    write_result,
)


class CheckpointExists(ValueError):
    """The run has a checkpoint but neither ``resume`` nor ``force`` was given."""

    def __init__(self, path: Path, epochs_done: int | None):
        self.path, self.epochs_done = path, epochs_done
        done = f" ({epochs_done} epoch(s) done)" if epochs_done is not None else ""
        super().__init__(f"the run has a checkpoint {path}{done}; pass resume=True to continue it "
                         "or force=True to start over")


class CorruptCheckpoint(ValueError):
    """The checkpoint to resume from cannot be read."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"checkpoint {path} cannot be read ({reason}); pass force=True to start the run over")


class Interrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C); ``epochs_done`` epochs are in the checkpoint."""

    def __init__(self, epochs_done: int, checkpoint: Path | None):
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


def _progress_default() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


def _notice(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def checkpoint_file(cfg: Config, out=None, checkpoint_dir=None) -> Path | None:
    """Where a run's checkpoint lives: ``checkpoint_dir`` (default ``out/checkpoints``), or None."""
    folder = Path(checkpoint_dir) if checkpoint_dir else (Path(out) / "checkpoints" if out is not None else None)
    return folder / f"{run_name(cfg)}.pt" if folder is not None else None


def train(cfg: Config, out: str | os.PathLike | None = None, resume: bool = False, force: bool = False,
          splits: BiasedSplits | None = None, progress: bool | None = None, stop_after: int | None = None,
          checkpoint_dir: str | os.PathLike | None = None, keep: bool = False, on_step=None) -> dict[str, Any]:
    """Train one run and return its result dict.

    ``out``: folder for the JSON result (``None``: nothing written); an existing result is
    returned without training unless ``force`` (also with ``resume``). Checkpoints go to ``checkpoint_dir`` (default
    ``out/checkpoints``). ``resume`` continues from the checkpoint; an existing checkpoint without
    ``resume`` raises :class:`CheckpointExists` unless ``force`` (start over). While it trains, the
    run holds ``<checkpoint>.lock`` (:func:`selecmix.records.acquire_lock`). ``stop_after`` stops after
    that many epochs of this call (to simulate an interruption). ``keep`` adds the trained
    ``method`` object to the returned dict (for notebooks that inspect the models). ``on_step``, if
    given, is called after every update of f as ``on_step(method, pool, batch, selection, logs)``
    (the per-step traces of :mod:`selecmix.experiments.diagnostics`). Ctrl-C raises
    :class:`Interrupted` (a KeyboardInterrupt) that says how many epochs the checkpoint holds.
    """
    cfg.validate()
    path = result_path(out, cfg) if out is not None else None
    if path is not None and path.exists() and not force:
        return read_result(path)
    ckpt = checkpoint_file(cfg, out, checkpoint_dir)
    if ckpt is not None and ckpt.exists() and not resume and not force:
        raise CheckpointExists(ckpt, checkpoint_epochs(ckpt))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    splits = splits if splits is not None else load_data(cfg)
    lock = acquire_lock(ckpt, _notice) if ckpt is not None else None
    try:
        if path is not None and path.exists() and not force:     # finished by another process meanwhile
            return read_result(path)
        if ckpt is not None and ckpt.exists() and not resume:      # force: start over
            ckpt.unlink()
        result, method = _train_run(cfg, splits, device, ckpt, resume, progress, stop_after, on_step)
        if path is not None and not result.get("incomplete"):
            write_result(path, result)
    finally:
        if lock is not None:
            release_lock(lock)
    if keep:
        result["method"] = method
    return result


@dataclass
class RunState:
    """Where a run stands: epochs done, their records, seconds trained, commits that trained it."""

    start_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    wall: float = 0.0
    commits: list[str] = field(default_factory=list)


def _train_run(cfg: Config, splits: BiasedSplits, device: torch.device, ckpt: Path | None, resume: bool,
               progress: bool | None, stop_after: int | None, on_step) -> tuple[dict[str, Any], Method]:
    """Build the method, start or resume, train the epochs; the result and the trained method."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    pipeline = InputPipeline(cfg.dataset, cfg.input_scale)
    ctx = Context(cfg, splits, pipeline, device, gen, splits.train.images.to(device))
    method = build_method(ctx)
    method.observer = on_step
    state = _start(method, ctx, gen, ckpt if resume else None)
    total = method.total_epochs()
    _train_epochs(method, ctx, gen, state, ckpt, total, stop_after, _bar(total, state.start_epoch, cfg, progress))
    return _result(method, ctx, state, total), method


def _start(method: Method, ctx: Context, gen: torch.Generator, ckpt: Path | None) -> RunState:
    """The state of a fresh run (``method.setup()`` timed), or the one ``ckpt`` holds, if it exists."""
    commits = [git_commit()]          # the code this process runs (checked when it starts)
    if ckpt is not None and ckpt.exists():
        start_epoch, history, wall, earlier = _load_checkpoint(ckpt, ctx.cfg, method, gen)
        return RunState(start_epoch, history, wall, list(dict.fromkeys(earlier + commits)))
    t0 = time.perf_counter()
    method.setup()
    return RunState(wall=time.perf_counter() - t0, commits=commits)


def _train_epochs(method: Method, ctx: Context, gen: torch.Generator, state: RunState, ckpt: Path | None,
                  total: int, stop_after: int | None, bar) -> None:
    """Train epochs ``state.start_epoch .. total - 1`` (at most ``stop_after``), recording and
    checkpointing each; Ctrl-C raises :class:`Interrupted`."""
    y_dev, b_dev = ctx.splits.train.y.to(ctx.device), ctx.splits.train.b.to(ctx.device)
    saved = state.start_epoch
    try:
        for epoch in range(state.start_epoch, total):
            if stop_after is not None and epoch - state.start_epoch >= stop_after:
                break
            record = epoch_record(method, ctx, epoch, y_dev, b_dev)
            state.wall += record["seconds"]
            state.history.append(record)
            if ckpt is not None:
                _save_checkpoint(ckpt, method, ctx.cfg, gen, state, epoch + 1)
                saved = epoch + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(test=f"{record['test']['unbiased']:.1f}", loss=f"{record['loss'].get('loss', 0):.3f}")
    except KeyboardInterrupt:
        raise Interrupted(saved if ckpt is not None else len(state.history), ckpt) from None
    finally:
        if bar is not None:
            bar.close()


def epoch_record(method: Method, ctx: Context, epoch: int, y_dev: torch.Tensor, b_dev: torch.Tensor) -> dict[str, Any]:
    """Train one epoch and evaluate: the epoch's record (stage, losses, valid / test accuracies,
    the mixer's statistics, seconds)."""
    t0 = time.perf_counter()
    losses = train_epoch(method, ctx, epoch, y_dev, b_dev)
    record = {"epoch": epoch, "stage": method.stage(epoch), "loss": losses}
    method.train_mode(False)
    for split in ("valid", "test"):
        record[split] = evaluate(method.logits, getattr(ctx.splits, split), ctx.pipeline, ctx.device,
                                 ctx.eval_inputs(split))
    method.train_mode(True)
    if method.mixer is not None:
        record["aux"] = method.mixer.epoch_stats()
    record["seconds"] = time.perf_counter() - t0
    return record


def _result(method: Method, ctx: Context, state: RunState, total: int) -> dict[str, Any]:
    """The run's result dict; a finished run adds f's active units (and, full-scale, Table 3's probe)."""
    cfg = ctx.cfg
    result = build_result(cfg, state.history, state.wall, ctx.device, state.commits)
    if len(state.history) < total:
        result["incomplete"] = True
        return result
    if (units := f_active_units(method, ctx)) is not None:
        result["f_active_units"] = units      # a 0 here explains a run stuck at chance
    if cfg.profile == "paper" and (probe := bias_probe_of(method, ctx)) is not None:
        result["aux_bias_probe"] = probe      # Table 3 (full-scale runs only: it costs seconds)
        result["aux_bias_probe_version"] = PROBE_VERSION
    return result


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


PROBE_VERSION = 2   # 2: logistic regression on standardised features (1: unstandardised)


def f_active_units(method: Method, ctx: Context, n: int = 2048) -> list[int] | None:
    """Active units per hidden layer of the MLP ``f`` on the first ``n`` test images, as ``f``
    sees them (:func:`evaluate.active_units`); None for a ResNet ``f``."""
    images = ctx.pipeline.f_eval(ctx.splits.test.images[:n].to(ctx.device), ctx.device)
    return active_units(method.f, images)


def biased_features(method: Method, ctx: Context):
    """The features of the run's biased model as a function of uint8 images: SelecMix's ``g``
    (the embedding of its similarity source) or LfF's biased model; None for other methods."""
    source = getattr(method.mixer, "source", None)
    if hasattr(source, "embed"):
        return lambda images: source.embed(ctx.pipeline.g_input(images.to(ctx.device), ctx.device))
    if hasattr(method, "b_model"):
        def features(images):
            method.b_model.eval()
            return method.b_model.features(ctx.pipeline.f_eval(images.to(ctx.device), ctx.device))
        return features
    return None


@torch.no_grad()
def bias_probe_of(method: Method, ctx: Context, max_train: int = 10000) -> float | None:
    """Table 3's bias-label probe (:func:`selecmix.evaluate.bias_probe_on`) on the run's biased
    model (:func:`biased_features`); None for methods without one."""
    features = biased_features(method, ctx)
    return None if features is None else bias_probe_on(features, ctx.splits, max_train)


def _save_checkpoint(ckpt: Path, method: Method, cfg: Config, gen: torch.Generator, state: RunState,
                     epochs_done: int) -> None:
    atomic_torch_save({"epoch_done": epochs_done, "config": to_dict(cfg), "method": method.state_dict(),
                       "gen": gen.get_state(), "torch_rng": torch.get_rng_state(),
                       "history": state.history, "wall": state.wall, "commits": state.commits}, ckpt)


def _read_checkpoint(ckpt: Path) -> dict[str, Any]:
    try:
        state = torch.load(ckpt, weights_only=True, map_location="cpu")
        missing = [k for k in ("epoch_done", "config", "method", "gen", "torch_rng", "history", "wall") if k not in state]
    except KeyboardInterrupt:
        raise
    except Exception as err:          # truncated, not a torch file, unpickling refused, ...
        raise CorruptCheckpoint(ckpt, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None
    if missing:
        raise CorruptCheckpoint(ckpt, f"no {', '.join(missing)} in it")
    return state


def checkpoint_epochs(ckpt: Path) -> int | None:
    """Epochs a checkpoint holds (None if it cannot be read)."""
    try:
        return int(_read_checkpoint(ckpt)["epoch_done"])
    except CorruptCheckpoint:
        return None


def _load_checkpoint(ckpt: Path, cfg: Config, method: Method, gen: torch.Generator):
    state = _read_checkpoint(ckpt)
    # fields added to Config after the checkpoint was written take their defaults
    saved = {**to_dict(Config()), **state["config"]}
    saved = {k: v for k, v in saved.items() if k not in ("device", "threads")}
    current = {k: v for k, v in to_dict(cfg).items() if k not in ("device", "threads")}
    if saved != current:
        diff = sorted(k for k in current if saved.get(k) != current[k])
        raise ValueError(f"checkpoint {ckpt} was written by a different configuration (fields {diff}); "
                         "resume with the same options, or delete the checkpoint to start over")
    method.load_state_dict(state["method"])
    gen.set_state(state["gen"])
    torch.set_rng_state(state["torch_rng"])
    return state["epoch_done"], state["history"], state["wall"], list(state.get("commits", []))


def _bar(total: int, start: int, cfg: Config, progress: bool | None):
    if not (_progress_default() if progress is None else progress):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc=f"{cfg.method} {cfg.dataset} {cfg.ratio:g}% s{cfg.seed}", unit="ep")
