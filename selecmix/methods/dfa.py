"""Disentangled Feature Augmentation (DFA, Lee et al., NeurIPS 2021).

Two encoders, an intrinsic ``E_i`` and a biased ``E_b`` (each the MLP 2352-100-100-16 on Colored
MNIST, ResNet18 elsewhere), and two linear classifiers ``C_i``, ``C_b`` on the concatenation
``z = [z_i, z_b]`` (32 -> 10 on Colored MNIST). Per mini-batch (DFA Eqs. 1-4, ``sg`` = stop-gradient):

* ``C_i([z_i, sg(z_b)])`` and ``C_b([sg(z_i), z_b])``; per-sample EMAs (alpha ``lff_ema`` = 0.7)
  of both detached CEs, each divided by the largest EMA of its class (over every training sample
  of the class, unvisited ones at 0), give the LfF weight ``W = l_b / (l_b + l_i + 1e-8)``;
* ``L_dis = mean(W CE(C_i([z_i, sg(z_b)]), y)) + lambda_dis * mean(GCE(C_b([sg(z_i), z_b]), y))``;
* after update ``curr_step`` only, the swap: ``z~_b`` = ``z_b`` permuted within the batch, with its
  labels ``y~``; ``L_swap = mean(W CE(C_i([z_i, sg(z~_b)]), y)) + lambda_swap_align *
  mean(GCE(C_b([sg(z_i), z~_b]), y~))``, the same ``W``;
* one backward of ``L_dis + lambda_swap L_swap``; Adam (weight decay 0) on everything; the
  learning rate times ``gamma`` every ``lr_decay_step`` updates counted from ``curr_step``.

Prediction: ``C_i([z_i, z_b])``. Official values per dataset are in the paper profile (Colored
MNIST: lr 0.01, lambda_dis = lambda_swap_align = 10, lambda_swap = 1, gamma 0.5, curr_step and
lr_decay_step 10,000). Choices the official recipe leaves to us: our loop's schedule (200 epochs
of 208 updates on Colored MNIST, about 41,600 updates, not DFA's 50,000) with curr_step and the
decay counted in updates of f; the swap starts at the first update after ``curr_step``; GCE is
LfF's form (with the constant q, :func:`selecmix.losses.gce_loss`); one Adam over both models
(the same as DFA's two Adams with equal settings).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..losses import gce_loss
from ..models import make_classifier
from .base import Context, Method, Pool, adam
from .lff import LossEMA


class DFANet(nn.Module):
    """``E_i``, ``E_b`` and the classifiers ``C_i``, ``C_b`` on ``[z_i, z_b]``; forward predicts."""

    def __init__(self, arch: str, num_classes: int):
        super().__init__()
        self.E_i, self.E_b = make_classifier(arch, 0), make_classifier(arch, 0)
        d = self.E_i.feature_dim
        self.C_i, self.C_b = nn.Linear(2 * d, num_classes), nn.Linear(2 * d, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.C_i(torch.cat([self.E_i(x), self.E_b(x)], 1))


def dfa_heads(net: DFANet, z_i: torch.Tensor, z_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``C_i([z_i, sg(z_b)])`` and ``C_b([sg(z_i), z_b])``: each classifier trains only its own encoder."""
    return net.C_i(torch.cat([z_i, z_b.detach()], 1)), net.C_b(torch.cat([z_i.detach(), z_b], 1))


def dfa_loss(net: DFANet, z_i, z_b, y, weight, perm, lambda_dis, lambda_swap_align, lambda_swap, q):
    """``L_dis + lambda_swap L_swap`` (``perm`` None: no swap yet, ``L_dis`` only)."""
    logit_i, logit_b = dfa_heads(net, z_i, z_b)
    loss = (weight * F.cross_entropy(logit_i, y, reduction="none")).mean() + lambda_dis * gce_loss(logit_b, y, q)
    if perm is not None:
        # the swap: bias features of other samples of the batch, labelled with their own labels
        swap_i, swap_b = dfa_heads(net, z_i, z_b[perm])
        l_swap = (weight * F.cross_entropy(swap_i, y, reduction="none")).mean() + \
            lambda_swap_align * gce_loss(swap_b, y[perm], q)
        loss = loss + lambda_swap * l_swap
    return loss


class DFA(Method):
    name = "dfa"

    def __init__(self, ctx: Context):
        self.ctx, self.cfg, self.mixer, self.observer = ctx, ctx.cfg, None, None
        self.f = DFANet(self.cfg.f_arch, ctx.num_classes).to(ctx.device)
        self.b_model = self.f.E_b                        # the biased encoder (Table 3's probe)
        self.opt_f = adam(self.f, self.cfg.lr, self.cfg.weight_decay)
        labels = ctx.splits.train.y.to(ctx.device)
        self.ema_i = LossEMA(labels, ctx.num_classes, self.cfg.lff_ema)
        self.ema_b = LossEMA(labels, ctx.num_classes, self.cfg.lff_ema)
        self.steps = 0                                   # updates done (curr_step, lr decay)

    @property
    def f_body(self) -> nn.Module:
        """The intrinsic encoder ``E_i``: the MLP whose units count as f's."""
        return self.f.E_i

    def learning_rate(self) -> float:
        """StepLR stepped once per update from ``curr_step`` on."""
        cfg = self.cfg
        decays = max(0, self.steps - cfg.dfa_curr_step) // cfg.dfa_lr_decay_step if cfg.dfa_lr_decay_step > 0 else 0
        return cfg.lr * cfg.dfa_lr_gamma ** decays

    def step(self, pool: Pool, q: torch.Tensor, state) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        x, y, idx = pool.x[q], pool.y[q], pool.idx[q]
        z_i, z_b = self.f.E_i(x), self.f.E_b(x)
        # LfF weights from the EMAs of both classifiers' losses
        with torch.no_grad():
            logit_i, logit_b = dfa_heads(self.f, z_i, z_b)
            self.ema_i.update(F.cross_entropy(logit_i, y, reduction="none"), idx)
            self.ema_b.update(F.cross_entropy(logit_b, y, reduction="none"), idx)
            l_i, l_b = self.ema_i.normalized(idx), self.ema_b.normalized(idx)
            weight = l_b / (l_b + l_i + 1e-8)
        # the swap after curr_step (a permutation from the run's generator)
        perm = None
        if self.steps > cfg.dfa_curr_step:
            perm = torch.randperm(len(q), generator=self.ctx.gen).to(y.device)
        loss = dfa_loss(self.f, z_i, z_b, y, weight, perm, cfg.dfa_lambda_dis, cfg.dfa_lambda_swap_align,
                        cfg.dfa_lambda_swap, cfg.q)
        for group in self.opt_f.param_groups:
            group["lr"] = self.learning_rate()
        self.opt_f.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_f.step()
        self.steps += 1
        return {"loss": loss.detach(), "weight": weight.mean()}

    def extra_state(self):
        return {"ema_i": self.ema_i.state(), "ema_b": self.ema_b.state(), "steps": self.steps}

    def load_extra_state(self, state):
        self.ema_i.load(state["ema_i"])
        self.ema_b.load(state["ema_b"])
        self.steps = int(state["steps"])


def build(ctx: Context) -> Method:
    return DFA(ctx)
