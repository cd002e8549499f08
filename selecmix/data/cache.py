"""On-disk cache of built datasets: one file per build, keyed by its parameters.

Files are written to a temporary name and renamed, so an interrupted build never leaves a
half-written cache; the sha256 of the training images is stored and checked on load.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from ..config import cache_dir
from .dataset import BiasedDataset, BiasedSplits

CACHE_VERSION = 1


def atomic_write(path: Path, write) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, then rename it to ``path``: never a
    half-written file; the temporary file is removed if ``write`` fails."""
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
    atomic_write(Path(path), lambda tmp: torch.save(obj, tmp))


def images_sha256(images: torch.Tensor) -> str:
    return hashlib.sha256(images.contiguous().numpy().tobytes()).hexdigest()


def cache_key(params: dict[str, Any]) -> str:
    text = json.dumps({"version": CACHE_VERSION, **params}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cached(params: dict[str, Any], build: Callable[[], BiasedSplits], use_cache: bool = True) -> BiasedSplits:
    """Return the cached build for ``params`` or run ``build()`` and cache its result."""
    path = cache_dir() / f"{params.get('dataset', 'data')}-{cache_key(params)}.pt"
    if use_cache and path.exists():
        splits = _load(path)
        if splits is not None:
            return splits
    splits = build()
    splits.meta.update(params=params, sha256=images_sha256(splits.train.images))
    if use_cache:
        _save(splits, path)
    return splits


def _save(splits: BiasedSplits, path: Path) -> None:
    blob = {"meta": json.dumps(splits.meta, default=str)}
    for name, ds in splits:
        blob[name] = {"images": ds.images, "y": ds.y, "b": ds.b, "y_clean": ds.y_clean,
                      "info": json.dumps({"name": ds.name, "split": ds.split, "num_classes": ds.num_classes,
                                          "class_names": ds.class_names, "bias_names": ds.bias_names})}
    try:
        atomic_torch_save(blob, path)
    except OSError as err:
        warnings.warn(f"could not cache the dataset in {path.parent} ({err}); set SELECMIX_CACHE to a "
                      "writable folder to avoid rebuilding it every time")


def _load(path: Path) -> BiasedSplits | None:
    try:
        blob = torch.load(path, weights_only=True)
        meta = json.loads(blob["meta"])
        parts = {}
        for name in ("train", "valid", "test"):
            d = blob[name]
            parts[name] = BiasedDataset(d["images"], d["y"], d["b"], y_clean=d["y_clean"], **json.loads(d["info"]))
        splits = BiasedSplits(meta=meta, **parts)
        if images_sha256(splits.train.images) != meta.get("sha256"):
            raise ValueError("content hash mismatch")
        return splits
    except Exception as err:  # corrupt or stale file: rebuild
        warnings.warn(f"ignoring unreadable dataset cache {path} ({err}); rebuilding it")
        return None
