"""Plain mixup (Zhang et al., 2018) as a mixer: random partners, soft labels (Table 4, "+ mixup")."""
from __future__ import annotations

import torch

from ..mixing import mixed_cross_entropy, mixup_batch
from .base import Context, Method, Mixer, Pool


class MixupMixer(Mixer):
    def __init__(self, ctx: Context, alpha: float = 1.0):
        self.ctx, self.alpha = ctx, alpha

    def loss(self, f, pool: Pool, batch: torch.Tensor, state) -> torch.Tensor:
        x_mix, y_a, y_b, lam = mixup_batch(pool.x[batch], pool.y[batch], self.ctx.gen, self.alpha)
        return mixed_cross_entropy(f(x_mix), y_a, y_b, lam)


def build(ctx: Context) -> Method:
    """Vanilla + mixup: ``lambda_base = 0``, ``lambda_ours = 1`` (f sees only mixed samples)."""
    return Method(ctx, MixupMixer(ctx), "mixup")
