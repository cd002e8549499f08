"""EnD: Entangling and Disentangling deep representations (Tartaglione et al., CVPR 2021).

**Uses bias labels**: every training sample's bias label ``b`` (as the paper's Table 1 marks it).

``L = CE + alpha R_perp + beta R_par`` on the L2-normalised penultimate features ``D`` of ``f``
(normalised here explicitly: the official helper leaves 2-d MLP features as they are). With
``G`` the strictly lower-triangular part of ``D D^T`` clamped to [-1, 1] (each unordered pair once):

* ``R_perp`` (disentangle, EnD Eq. 5): ``sum_c |sum_{i>j, b_i=b_j=c} G_ij| / #{i>j: b_i = b_j}``
  -- samples sharing a bias label are pushed towards orthogonal features, labels ignored;
* ``R_par`` (entangle, EnD Eq. 7): ``1 - mean_{i>j, y_i=y_j, b_i!=b_j} (1 + G_ij) / 2`` --
  samples of one class with different biases are pulled together.

Choices: ``R_par`` averages over *all* same-class, different-bias pairs (the official loop's
lower-triangular masks count about half of them); a term without pairs in the batch is 0; the
masks are built once per batch with one-hot products, no per-class loops. alpha = beta = 0.1
(EnD's own default; its authors tune them per bias strength, what DFA used is not known);
Adam 1e-3, weight decay 1e-4, 80 epochs, StepLR(20, 0.1) on Colored MNIST (EnD's own defaults).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Context, Method, Pool


def end_regularisers(features: torch.Tensor, y: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(R_perp, R_par)`` of a batch of penultimate features (normalised here)."""
    d = F.normalize(features, dim=1)
    n = len(d)
    lower = torch.ones(n, n, dtype=torch.bool, device=d.device).tril(-1)
    gram = (d @ d.T).clamp(-1, 1) * lower
    # R_perp: per bias class, |sum of G over its pairs| = diag(B^T G B) with B one-hot of b
    onehot = F.one_hot(b, int(b.max()) + 1).to(d.dtype)
    per_bias = torch.diagonal(onehot.T @ gram @ onehot).abs()
    same_b = (b[:, None] == b[None, :]) & lower
    r_perp = per_bias.sum() / same_b.sum().clamp_min(1)
    # R_par: same target, different bias
    par = (y[:, None] == y[None, :]) & ~(b[:, None] == b[None, :]) & lower
    r_par = 1 - ((1 + gram) / 2 * par).sum() / par.sum() if par.any() else gram.new_zeros(())
    return r_perp, r_par


def epoch_lr(cfg, base_lr: float, epoch: int) -> float:
    """StepLR per epoch (``baseline_lr_step`` epochs, ``baseline_lr_gamma``; 0: constant)."""
    return base_lr * cfg.baseline_lr_gamma ** (epoch // cfg.baseline_lr_step) if cfg.baseline_lr_step else base_lr


class EnD(Method):
    name = "end"

    def on_epoch_start(self, epoch: int) -> None:
        for group in self.opt_f.param_groups:
            group["lr"] = epoch_lr(self.cfg, self.cfg.lr, epoch)

    def base_loss(self, pool: Pool, q: torch.Tensor) -> torch.Tensor:
        feats = self.f.features(pool.x[q])
        r_perp, r_par = end_regularisers(feats, pool.y[q], pool.b[q])
        ce = F.cross_entropy(self.f.fc(feats), pool.y[q])
        return ce + self.cfg.end_alpha * r_perp + self.cfg.end_beta * r_par


def build(ctx: Context) -> Method:
    return EnD(ctx)
