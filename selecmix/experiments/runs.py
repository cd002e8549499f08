"""A recorded run: the training loop of :mod:`selecmix.train` with the files the book keeps.

:func:`train_run` trains one configuration and leaves behind one JSON result
(:mod:`selecmix.experiments.records`), with a checkpoint after every epoch (state dicts only,
loaded with ``weights_only=True``), so ``resume=True`` continues a killed run to the same final
numbers on the CPU. An existing checkpoint is never silently overwritten (``resume=True``
continues it, ``force=True`` starts over), and a lock file beside it keeps two processes from
training the same run.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import torch

from ..config import Config, to_dict
from ..data import BiasedSplits
from ..data.cache import atomic_torch_save
from ..methods import Context, Method
from ..train import Interrupted, RunState, build_run, load_data, resolve_device, start, train_epochs
from .pair_stats import PairStats
from .probes import PROBE_VERSION, bias_probe_of, f_active_units
from .records import (acquire_lock, build_result, git_commit, read_result, release_lock, result_path, run_name,
                      write_result)


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


def checkpoint_file(cfg: Config, out=None, checkpoint_dir=None) -> Path | None:
    """Where a run's checkpoint lives: ``checkpoint_dir`` (default ``out/checkpoints``), or None."""
    folder = Path(checkpoint_dir) if checkpoint_dir else (Path(out) / "checkpoints" if out is not None else None)
    return folder / f"{run_name(cfg)}.pt" if folder is not None else None


def train_run(cfg: Config, out: str | os.PathLike | None = None, resume: bool = False, force: bool = False,
              splits: BiasedSplits | None = None, progress: bool | None = None, stop_after: int | None = None,
              checkpoint_dir: str | os.PathLike | None = None, keep: bool = False, on_step=None) -> dict[str, Any]:
    """Train one run (:func:`selecmix.train.train_epochs`) and return its result dict.

    ``out``: folder for the JSON result (``None``: nothing written); an existing result is
    returned without training unless ``force`` (also with ``resume``). Checkpoints go to
    ``checkpoint_dir`` (default ``out/checkpoints``). ``resume`` continues from the checkpoint; an
    existing checkpoint without ``resume`` raises :class:`CheckpointExists` unless ``force`` (start
    over). While it trains, the run holds ``<checkpoint>.lock`` (:func:`records.acquire_lock`).
    ``stop_after`` stops after that many epochs of this call (to simulate an interruption). ``keep``
    adds the trained ``method`` object to the returned dict (for notebooks that inspect the models).
    ``on_step``: as in :func:`selecmix.train.build_run` (the traces of :mod:`.diagnostics`). Ctrl-C
    raises :class:`selecmix.train.Interrupted` saying how many epochs the checkpoint holds.
    """
    cfg.validate()
    path = result_path(out, cfg) if out is not None else None
    if path is not None and path.exists() and not force:
        return read_result(path)
    ckpt = checkpoint_file(cfg, out, checkpoint_dir)
    if ckpt is not None and ckpt.exists() and not resume and not force:
        raise CheckpointExists(ckpt, checkpoint_epochs(ckpt))
    resolve_device(cfg.device)             # a bad device or missing data fails before any file is made
    splits = splits if splits is not None else load_data(cfg)
    lock = acquire_lock(ckpt, _notice) if ckpt is not None else None
    try:
        if path is not None and path.exists() and not force:     # finished by another process meanwhile
            return read_result(path)
        if ckpt is not None and ckpt.exists() and not resume:      # force: start over
            ckpt.unlink()
        result, method = _train(cfg, splits, ckpt, resume, progress, stop_after, on_step)
        if path is not None and not result.get("incomplete"):
            write_result(path, result)
    finally:
        if lock is not None:
            release_lock(lock)
    if keep:
        result["method"] = method
    return result


def _train(cfg: Config, splits, ckpt: Path | None, resume: bool, progress, stop_after,
           on_step) -> tuple[dict[str, Any], Method]:
    """Build the run, start it (or, with ``resume``, continue it from ``ckpt``), train, checkpoint into ``ckpt``."""
    method, ctx = build_run(cfg, splits, on_step)
    commits = [git_commit()]          # the code this process runs (checked when it starts)
    if resume and ckpt is not None and ckpt.exists():
        state, earlier = _load_checkpoint(ckpt, cfg, method, ctx.gen)
        commits = list(dict.fromkeys(earlier + commits))
    else:
        state = start(method)

    stats = PairStats(method) if method.mixer is not None else None

    def end_of_epoch(state: RunState) -> None:
        if stats is not None:
            state.history[-1]["aux"] = stats.epoch()      # Figs. 2, 3 and 9, measured
        if ckpt is not None:
            _save_checkpoint(ckpt, method, cfg, ctx.gen, state, commits)

    try:
        train_epochs(method, ctx, state, end_of_epoch, stop_after, progress)
    except Interrupted as err:
        err.checkpoint = ckpt
        raise
    return _result(method, ctx, state, commits), method


def _result(method: Method, ctx: Context, state: RunState, commits: list[str]) -> dict[str, Any]:
    """The run's result dict; a finished run adds f's active units (and, full-scale, Table 3's probe)."""
    cfg = ctx.cfg
    result = build_result(cfg, state.history, state.wall, ctx.device, commits)
    if len(state.history) < method.total_epochs():
        result["incomplete"] = True
        return result
    if (units := f_active_units(method, ctx)) is not None:
        result["f_active_units"] = units      # a 0 here explains a run stuck at chance
    if cfg.profile == "paper" and (probe := bias_probe_of(method, ctx)) is not None:
        result["aux_bias_probe"] = probe      # Table 3 (full-scale runs only: it costs seconds)
        result["aux_bias_probe_version"] = PROBE_VERSION
    return result


def _notice(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- checkpoints
def _save_checkpoint(ckpt: Path, method: Method, cfg: Config, gen: torch.Generator, state: RunState,
                     commits: list[str]) -> None:
    atomic_torch_save({"epoch_done": len(state.history), "config": to_dict(cfg), "method": method.state_dict(),
                       "gen": gen.get_state(), "torch_rng": torch.get_rng_state(),
                       "history": state.history, "wall": state.wall, "commits": commits}, ckpt)


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


def _load_checkpoint(ckpt: Path, cfg: Config, method: Method, gen: torch.Generator) -> tuple[RunState, list[str]]:
    """Restore the method, the run's generator and torch's RNG from ``ckpt``; its state and commits."""
    state = _read_checkpoint(ckpt)
    # fields added to Config after the checkpoint was written take their defaults
    saved = {**to_dict(Config()), **state["config"]}
    machinery = ("device", "threads", "flush_denormal")       # how it runs, not what it trains
    saved = {k: v for k, v in saved.items() if k not in machinery}
    current = {k: v for k, v in to_dict(cfg).items() if k not in machinery}
    if saved != current:
        diff = sorted(k for k in current if saved.get(k) != current[k])
        raise ValueError(f"checkpoint {ckpt} was written by a different configuration (fields {diff}); "
                         "resume with the same options, or delete the checkpoint to start over")
    method.load_state_dict(state["method"])
    gen.set_state(state["gen"])
    torch.set_rng_state(state["torch_rng"])
    return RunState(state["epoch_done"], state["history"], state["wall"]), list(state.get("commits", []))
