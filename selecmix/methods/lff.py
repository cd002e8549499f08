"""Learning from Failure (LfF, Nam et al., 2020).

A biased model ``b`` is trained with GCE so that it latches on to the easy, biased features; the
debiased model ``f`` is trained with cross-entropy re-weighted per sample by
``w = l_b / (l_b + l_d)``, where ``l_b``, ``l_d`` are exponential moving averages (alpha 0.7) of
each sample's CE loss under ``b`` and ``f``, normalised per class by the largest average. Samples
``b`` gets wrong (bias-conflicting ones, mostly) get weights near 1, the rest near 0.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import gce_loss
from ..models import make_classifier
from .base import Context, Method, Mixer, Pool, adam


class LossEMA:
    """Per-sample exponential moving average of a loss, as in LfF (first update sets the value)."""

    def __init__(self, labels: torch.Tensor, num_classes: int, alpha: float = 0.7):
        self.labels, self.num_classes, self.alpha = labels, num_classes, alpha
        self.value = torch.zeros(len(labels), device=labels.device)
        self.updated = torch.zeros(len(labels), device=labels.device)

    def update(self, loss: torch.Tensor, index: torch.Tensor) -> None:
        self.value[index] = self.alpha * self.value[index] + (1 - self.alpha * self.updated[index]) * loss
        self.updated[index] = 1.0

    def normalized(self, index: torch.Tensor) -> torch.Tensor:
        """EMA values at ``index`` divided by the largest EMA value of their class."""
        class_max = torch.zeros(self.num_classes, device=self.value.device).scatter_reduce(
            0, self.labels, self.value, reduce="amax", include_self=True)
        return self.value[index] / class_max[self.labels[index]].clamp_min(1e-8)

    def state(self) -> dict:
        return {"value": self.value, "updated": self.updated}

    def load(self, state: dict) -> None:
        self.value.copy_(state["value"])
        self.updated.copy_(state["updated"])


class LfF(Method):
    """LfF's update as ``L_base``; a mixer on top gives L+Ours (``lambda_base = 1, lambda_ours = 0.1``)."""

    name = "lff"

    def __init__(self, ctx: Context, mixer: Mixer | None = None, name: str | None = None):
        super().__init__(ctx, mixer, name)
        self.b_model = make_classifier(self.cfg.f_arch, ctx.num_classes).to(ctx.device)
        self.opt_b = adam(self.b_model, self.cfg.lr, self.cfg.weight_decay)
        labels = ctx.splits.train.y.to(ctx.device)
        self.ema_b = LossEMA(labels, ctx.num_classes, self.cfg.lff_ema)
        self.ema_d = LossEMA(labels, ctx.num_classes, self.cfg.lff_ema)

    def base_loss(self, pool: Pool, batch: torch.Tensor) -> torch.Tensor:
        x, y, idx = pool.x[batch], pool.y[batch], pool.idx[batch]
        logits_b, logits_d = self.b_model(x), self.f(x)
        self.ema_b.update(F.cross_entropy(logits_b, y, reduction="none").detach(), idx)
        self.ema_d.update(F.cross_entropy(logits_d, y, reduction="none").detach(), idx)
        loss_b, loss_d = self.ema_b.normalized(idx), self.ema_d.normalized(idx)
        weight = loss_b / (loss_b + loss_d + 1e-8)
        # the biased model: GCE on the same mini-batch (its own optimiser; disjoint parameters)
        self.opt_b.zero_grad(set_to_none=True)
        gce_loss(logits_b, y, self.cfg.q).backward()
        self.opt_b.step()
        return (F.cross_entropy(logits_d, y, reduction="none") * weight).mean()

    def modules(self):
        return {**super().modules(), "b_model": self.b_model, "opt_b": self.opt_b}

    def extra_state(self):
        return {"ema_b": self.ema_b.state(), "ema_d": self.ema_d.state()}

    def load_extra_state(self, state):
        self.ema_b.load(state["ema_b"])
        self.ema_d.load(state["ema_d"])


def build(ctx: Context) -> Method:
    return LfF(ctx)
