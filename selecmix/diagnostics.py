"""Why a Colored MNIST run collapses: dead ReLU layers in the MLP ``f``.

One of our three full-scale SelecMix runs at 1 % (seed 2) never left chance (11 %): every unit of
f's 16-unit hidden layer was inactive on every input from the first epoch on. A layer with no
active unit passes nothing forward and no gradient back, so it cannot recover: 200 epochs later it
is still dead. The official input scale feeds f images in [0, 1/255]; the first layer's output is
then almost only its bias, the net's outputs barely depend on the input, and one bad Adam step
can push a whole narrow layer below zero.

:func:`collapse_scan` measures how often that happens: it trains the first epoch(s) of many seeds
and counts f's active units, for each method and input scale. ``python -m selecmix collapse-scan``
records the scan as a JSON file that the training chapter shows.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import torch

from .config import make_config
from .data import BiasedSplits
from .data.transforms import InputPipeline
from .evaluate import active_units
from .results import _atomic, device_description, git_commit


def first_epochs(method: str, seed: int, splits: BiasedSplits, input_scale: str, epochs: int = 1,
                 ratio: float = 1.0, profile: str = "paper") -> dict[str, Any]:
    """Train the first ``epochs`` epochs of one run (``profile`` settings, ``input_scale`` for f)
    and return f's active units per hidden layer, its loss and its unbiased test accuracy then."""
    from .train import train

    cfg = make_config("cmnist", ratio, method, profile, seed=seed, input_scale=input_scale)
    run = train(cfg, splits=splits, progress=False, stop_after=epochs, keep=True)
    images = InputPipeline("cmnist", input_scale).f_eval(splits.test.images[:2048])
    units = active_units(run["method"].f, images)
    last = run["history"][-1]
    return {"method": method, "seed": seed, "input_scale": input_scale, "epochs": epochs,
            "active_units": units, "dead_layer": min(units) == 0,
            "loss": round(last["loss"]["loss"], 4), "test_unbiased": round(last["test"]["unbiased"], 2)}


def collapse_scan(splits: BiasedSplits, methods: Iterable[str] = ("vanilla", "selecmix"),
                  seeds: Iterable[int] = range(10), scales: Iterable[str] = ("official", "clean"),
                  epochs: int = 1, ratio: float = 1.0, profile: str = "paper") -> list[dict[str, Any]]:
    """:func:`first_epochs` for every (input scale, method, seed): the rows of the scan."""
    return [first_epochs(m, s, splits, scale, epochs, ratio, profile)
            for scale in scales for m in methods for s in seeds]


def collapse_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (input scale, method): how many seeds ended the scan with a dead layer, and the mean
    number of active units in f's narrowest (16-unit) layer."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["input_scale"], r["method"]), []).append(r)
    return [{"input_scale": scale, "method": method, "seeds": len(rs),
             "dead": sum(r["dead_layer"] for r in rs),
             "dead_seeds": [r["seed"] for r in rs if r["dead_layer"]],
             "mean_active_last_layer": round(sum(r["active_units"][-1] for r in rs) / len(rs), 2)}
            for (scale, method), rs in groups.items()]


def write_scan(path: str | os.PathLike, rows: list[dict[str, Any]], command: str, seconds: float) -> Path:
    """Record a scan (rows, summary, command, commit, date, device, torch) atomically as JSON."""
    from datetime import datetime, timezone

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"kind": "collapse-scan", "command": command, "commit": git_commit(),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "device": device_description(torch.device("cpu")), "torch": torch.__version__,
              "wall_seconds": round(seconds, 1), "summary": collapse_summary(rows), "rows": rows}
    _atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=1)))
    return path


def read_scan(path: str | os.PathLike) -> dict[str, Any] | None:
    """A recorded scan, or None when the file does not exist yet."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None
