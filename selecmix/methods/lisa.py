"""LISA (Yao et al., 2022) with bias labels as domains: mixup of contradicting pairs found from
the *true* bias labels, chosen at random, lam ~ Beta(2, 2) per batch, labels interpolated.

Intra-label pairs (same label, different bias) are pair set A, intra-domain pairs (same bias,
different label) pair set B; with ``AB`` a coin per pool picks one (Table 5).
"""
from __future__ import annotations

import torch

from ..mixing import beta_sample, choose_kind, lisa_partners, mixed_cross_entropy
from .base import Context, Method, Mixer, Pool


class LisaMixer(Mixer):
    def __init__(self, ctx: Context, alpha: float = 2.0):
        self.ctx, self.alpha = ctx, alpha

    def prepare(self, pool: Pool) -> torch.Tensor:
        kind = choose_kind(self.ctx.cfg.pairs, self.ctx.gen)
        return lisa_partners(pool.y, pool.b, kind, self.ctx.gen)

    def loss(self, f, pool: Pool, batch: torch.Tensor, partner: torch.Tensor) -> torch.Tensor:
        k = partner[batch]
        k = torch.where(k >= 0, k, batch)
        lam = beta_sample(self.alpha, self.ctx.gen)
        x_mix = lam * pool.x[batch] + (1 - lam) * pool.x[k]
        return mixed_cross_entropy(f(x_mix), pool.y[batch], pool.y[k], lam)


def build(ctx: Context) -> Method:
    return Method(ctx, LisaMixer(ctx), "lisa")
