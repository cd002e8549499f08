"""SelecMix on your own data: wrap tensors or folders into :class:`BiasedSplits` and write the DFA
folder layout.

* :func:`from_tensors` -- images + labels (+ optional bias labels, used only to *evaluate*) ->
  ``BiasedSplits``; :func:`config_for` picks the model and input pipeline that fit the images.
* :func:`write_dfa_folder` / :func:`from_folders` -- the DFA release layout (file names
  ``<id>_<label>_<bias>.png``), readable by ``load_splits(..., source="dfa")`` for the three
  benchmark names and by :func:`from_folders` for any other dataset.

The book's chapter 7 (:mod:`selecmix.book.ch07_your_own_data`) adds a dataset whose bias is hard
to learn and a check of the easy-to-learn assumption.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..config import Config, make_config
from . import BiasedDataset, BiasedSplits
from .dataset import stratified_split
from .dfa import pct_folder, read_split

__all__ = ["from_tensors", "config_for", "write_dfa_folder", "from_folders", "to_uint8_images"]


def to_uint8_images(images, size: int | None = None) -> torch.Tensor:
    """Any image batch -> uint8 (N, 3, H, W).

    Accepts a torch tensor or numpy array, uint8 (0..255) or float (0..1); shapes (N, H, W)
    (grey), (N, 1|3, H, W) or channels-last (N, H, W, 1|3). Grey images are repeated to three
    channels; ``size`` resizes to ``size x size`` (bilinear, antialiased).
    """
    x = torch.as_tensor(images)
    if x.dim() == 3:
        x = x[:, None]
    if x.dim() != 4:
        raise ValueError(f"images must have shape (N, H, W), (N, C, H, W) or (N, H, W, C); got {tuple(x.shape)}")
    if x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):
        x = x.permute(0, 3, 1, 2)
    if x.shape[1] not in (1, 3):
        raise ValueError(f"images need 1 or 3 channels; got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8:
        x = x.float()
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ValueError("float images must lie in [0, 1] (or pass uint8 images in 0..255); "
                             f"got values in [{float(x.min()):.3g}, {float(x.max()):.3g}]")
        x = (x * 255).round().to(torch.uint8)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = x.round().clamp(0, 255).to(torch.uint8)
    return x.contiguous()


def _labels(values, n: int, what: str) -> torch.Tensor:
    t = torch.as_tensor(values).long().flatten()
    if len(t) != n:
        raise ValueError(f"{what}: {len(t)} values for {n} images")
    if len(t) and t.min() < 0:
        raise ValueError(f"{what} must be non-negative integers 0..K-1")
    return t


def from_tensors(train_images, train_labels, test_images, test_labels, train_bias=None, test_bias=None,
                 valid_images=None, valid_labels=None, valid_bias=None, valid_fraction: float = 0.1,
                 num_classes: int | None = None, class_names: Sequence[str] | None = None,
                 bias_names: Sequence[str] | None = None, name: str = "custom", size: int | None = None,
                 seed: int = 0) -> BiasedSplits:
    """Your data as ``BiasedSplits(train, valid, test)``.

    ``*_bias`` are the bias labels, numbered so that *bias value c is the one correlated with
    class c* (then ``b == y`` means bias-aligned). They are never used to train the debiasing
    methods (only the ``gt`` similarity and LISA read them): they give the bias-aligned /
    bias-conflicting accuracies and the diagnostics. Without them every sample counts as
    bias-aligned, and only the overall ("unbiased") accuracy is meaningful; ``meta["bias_labels"]``
    says which case you are in. Without a validation set, ``valid_fraction`` of the training set
    (stratified by class) is held out.
    """
    splits: dict[str, tuple] = {"train": (train_images, train_labels, train_bias),
                                "test": (test_images, test_labels, test_bias)}
    if valid_images is not None:
        splits["valid"] = (valid_images, valid_labels, valid_bias)
    has_bias = all(b is not None for _, _, b in splits.values())
    parts = {}
    for split, (images, labels, bias) in splits.items():
        x = to_uint8_images(images, size)
        y = _labels(labels, len(x), f"{split} labels")
        b = _labels(bias, len(x), f"{split} bias labels") if has_bias else y.clone()
        parts[split] = (x, y, b)
    k = num_classes or int(max(int(p[1].max()) for p in parts.values() if len(p[1])) + 1)
    if "valid" not in parts:
        x, y, b = parts["train"]
        keep, held = stratified_split(y, valid_fraction, torch.Generator().manual_seed(seed))
        parts["train"], parts["valid"] = (x[keep], y[keep], b[keep]), (x[held], y[held], b[held])
    shapes = {tuple(p[0].shape[1:]) for p in parts.values()}
    if len(shapes) > 1:
        raise ValueError(f"all splits need the same image size; got {sorted(shapes)} (pass size=...)")
    names = list(class_names) if class_names else [str(c) for c in range(k)]
    bnames = list(bias_names) if bias_names else ([f"bias {c}" for c in range(k)] if has_bias else [])
    data = {split: BiasedDataset(x, y, b, name, split, k, names, bnames) for split, (x, y, b) in parts.items()}
    return BiasedSplits(data["train"], data["valid"], data["test"],
                        meta={"dataset": name, "source": "tensors", "bias_labels": has_bias})


def config_for(splits: BiasedSplits, method: str = "selecmix", profile: str | None = None, **overrides) -> Config:
    """A :class:`Config` whose model and input pipeline fit ``splits``.

    3 x 28 x 28 images get the Colored MNIST set-up (MLPs, inputs on the clean [0, 1] scale);
    any other size the Corrupted CIFAR-10 one (ResNet18, crop-and-flip augmentation, CIFAR
    normalisation; ``image size`` is kept). ``ratio`` is the measured bias-conflicting share of
    the training split (1 % when there are no bias labels): it only names the run.
    Pass ``train(cfg, splits=splits)``; overrides (``epochs``, ``lr``, ...) go to :func:`make_config`.
    """
    train = splits.train
    if tuple(train.images.shape[1:]) == (3, 28, 28):
        values: dict[str, Any] = dict(input_scale="clean")
        dataset = "cmnist"
    else:
        values, dataset = {}, "cifar10c"
    share = 100 * float(train.conflicting.float().mean()) if len(train) else 0.0
    ratio = round(share, 2) if splits.meta.get("bias_labels", True) and 0 < share < 100 else 1.0
    values.update(source=str(splits.meta.get("source", "custom")), train_size=None)
    values.update(overrides)
    return make_config(dataset, ratio, method, profile, **values)


def write_dfa_folder(splits: BiasedSplits, root, dataset: str = "cmnist", ratio: float | None = None) -> Path:
    """Write ``splits`` as PNG files in the DFA release layout under ``root/dataset``::

        <ratio>pct/align/<label>/<id>_<label>_<bias>.png     bias-aligned training images
        <ratio>pct/conflict/<label>/<id>_<label>_<bias>.png  bias-conflicting training images
        <ratio>pct/valid/<label>/...                         validation split
        test/<label>/...                                     test split

    ``ratio`` (percent) names the folder (default: the split's ``meta["ratio"]``). Returns
    ``root/dataset``. Labels are the *training* labels ``y`` (noisy ones included). A marker
    file records what was written, so writing the same splits again returns at once.
    """
    ratio = float(ratio if ratio is not None else splits.meta.get("ratio", 1.0))
    base = Path(root) / dataset
    digest = hashlib.sha256()
    for _, ds in splits:
        for t in (ds.images, ds.y, ds.b, ds.y_clean):
            digest.update(t.contiguous().numpy().tobytes())
    marker = base / f".written-{pct_folder(ratio)}-{digest.hexdigest()[:16]}"
    if marker.exists():
        return base
    targets = {"train": base / pct_folder(ratio), "valid": base / pct_folder(ratio) / "valid", "test": base / "test"}
    for split, ds in splits:
        for i in range(len(ds)):
            y, b = int(ds.y[i]), int(ds.b[i])
            folder = targets[split]
            if split == "train":
                folder = folder / ("align" if b == int(ds.y_clean[i]) else "conflict")
            path = folder / str(y) / f"{i:05d}_{y}_{b}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.ascontiguousarray(ds.images[i].permute(1, 2, 0).numpy())).save(path)
    marker.touch()
    return base


def from_folders(train, test, valid=None, num_classes: int | None = None, name: str = "custom",
                 valid_fraction: float = 0.1, seed: int = 0) -> BiasedSplits:
    """Any dataset whose files are named ``<id>_<label>_<bias>.<png|jpg>`` (the DFA convention),
    with any number of classes: ``train`` / ``test`` / ``valid`` are folders (or lists of
    folders) searched recursively. Without ``valid``, ``valid_fraction`` of train is held out."""
    def as_list(f):
        return [Path(p) for p in (f if isinstance(f, (list, tuple)) else [f])]

    tr = read_split(as_list(train), name, "train", num_classes)
    te = read_split(as_list(test), name, "test", num_classes or tr.num_classes)
    k = max(tr.num_classes, te.num_classes)
    if valid is not None:
        va = read_split(as_list(valid), name, "valid", k)
    else:
        keep, held = stratified_split(tr.y, valid_fraction, torch.Generator().manual_seed(seed))
        tr, va = tr.subset(keep), tr.subset(held)
    for ds, split in ((tr, "train"), (va, "valid"), (te, "test")):
        ds.num_classes, ds.split = k, split
        ds.class_names, ds.bias_names = [str(c) for c in range(k)], [f"bias {c}" for c in range(k)]
    return BiasedSplits(tr, va, te, meta={"dataset": name, "source": "folders", "bias_labels": True})
