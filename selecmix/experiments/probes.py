"""Probes of finished runs from their checkpoints: load a run's method as its checkpoint left it,
and recompute Table 3's bias probe and f's active units of recorded runs (``python -m selecmix
reprobe``).
"""
from __future__ import annotations

import os
from typing import Any

import torch

from ..data import BiasedSplits, InputPipeline
from ..methods import Context, Method, build_method
from ..records import (
    read_result,
    write_result,
)
from ..train import (
    PROBE_VERSION,
    bias_probe_of,
    f_active_units,
    load_data,
    resolve_device,
)


def load_checkpointed(checkpoint: str | os.PathLike, splits: BiasedSplits | None = None,
                      finished: bool = True) -> tuple[Method, Context, dict[str, Any]]:
    """The method of a run as its checkpoint left it (models and optimisers), with its context and
    the checkpoint itself (``epoch_done``, ``history``, ``config``). ``finished``: refuse a
    checkpoint of a run that stopped before its last epoch."""
    from ..config import from_dict

    state = torch.load(checkpoint, weights_only=True, map_location="cpu")
    cfg = from_dict(state["config"])
    device = resolve_device(cfg.device)
    splits = splits if splits is not None else load_data(cfg)
    ctx = Context(cfg, splits, InputPipeline(cfg.dataset, cfg.input_scale), device,
                  torch.Generator().manual_seed(cfg.seed), splits.train.images.to(device))
    torch.manual_seed(cfg.seed)
    method = build_method(ctx)
    if finished and state["epoch_done"] < method.total_epochs():
        raise ValueError(f"checkpoint {checkpoint} is not a finished run")
    method.load_state_dict(state["method"])        # copies onto the models' device
    return method, ctx, state


def reprobe(result_file: str | os.PathLike, checkpoint: str | os.PathLike, splits: BiasedSplits | None = None) -> float | None:
    """Recompute Table 3's probe of a recorded run from its final checkpoint with the current probe,
    and f's active units (:func:`f_active_units`), and store them in the result file
    (``aux_bias_probe``, ``aux_bias_probe_version``, ``f_active_units``)."""

    result = read_result(result_file)
    method, ctx, _ = load_checkpointed(checkpoint, splits)
    probe = bias_probe_of(method, ctx)
    if probe is not None:
        result.update(aux_bias_probe=probe, aux_bias_probe_version=PROBE_VERSION)
    if (units := f_active_units(method, ctx)) is not None:
        result["f_active_units"] = units
    write_result(result_file, result)
    return probe
