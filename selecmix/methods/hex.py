"""HEX: projecting superficial statistics out (Wang et al., ICLR 2019).

A texture branch, the neural grey-level co-occurrence matrix (NGLCM, HEX Sec. 3.1), sees the image
as ``N_g`` = 16 grey levels ``x_re`` and the neighbour difference ``x_d`` (offset: row 0, column 1):
``G[a, b] = mean over pixel pairs of clip(x_d - lambda_a, 0, 1) * clip(x_re - theta_b, 0, 1)``
with learnable thresholds ``lambda``, ``theta`` (initialised uniformly in (0, N_g)); flattened
(N_g^2) -> FC 32 + ReLU = ``h_G``. ``h_A`` is f's penultimate representation. Both are L2-normalised
over the *batch* axis, one shared last layer ``W`` gives (HEX Eqs. 2-3)

``F_P = [h_A, h_G] W``, ``F_G = [0, h_G] W``, ``F_A = [h_A, 0] W``,
``F_L = F_P - F_G (F_G^T F_G)^-1 F_G^T F_P`` (the part of the logits orthogonal to what texture alone explains),

trained with CE on ``F_L``; predictions from ``F_A``.

The solve: ``F_G^T F_G`` (C x C) is singular whenever ``F_G`` has rank below C -- the batch-normed
``h_G`` has dead units, or early on every row of ``F_G`` is close to the bias -- and then its inverse,
and the gradient through it, blow up (HEX's authors warn of NaNs). We solve
``(F_G^T F_G + r I) X = F_G^T F_P`` with ``torch.linalg.solve`` in float64, ``r = hex_ridge`` (1e-3)
times the mean diagonal (+ 1e-8): a ridge that bounds the condition number by about
``C / hex_ridge`` while changing a well-conditioned projection by ~0.1 %.

Choices the facts leave open: grey = ITU-R 601 luminance (0.299 R + 0.587 G + 0.114 B) of the
clean [0, 1] image (so hue is lost, as HEX's grey input), ``x_re = round(grey (N_g - 1))``,
``x_d = |x_re(i, j+1) - x_re(i, j)|`` over the 28 x 27 pairs, the mean over pairs instead of the
sum (a constant that keeps the FC's input in [0, 1]); the sum computed from the joint histogram of
the integer levels (:meth:`NGLCM.cooccurrence`: the same value, ~50x cheaper than per pixel); ``W`` has a bias, shared by all three
logits; dropout ``hex_dropout`` = 0.5 on ``h_A`` while training (HEX's MNIST setting); outside a
training batch (evaluation) the batch L2 norm is rescaled to the training batch size
(``h / |h|_batch * sqrt(n / batch_size)``), so predictions do not depend on the evaluation batch's
size. Adam 1e-4, batch 128, 100 epochs on Colored MNIST (HEX's MNIST settings).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models import make_classifier
from .base import Context, Method, Pool, adam

LUMA = (0.299, 0.587, 0.114)


class NGLCM(nn.Module):
    """The NGLCM texture branch: soft co-occurrences of grey level and neighbour difference, FC + ReLU."""

    def __init__(self, levels: int = 16, hidden: int = 32):
        super().__init__()
        self.levels = levels
        self.lam = nn.Parameter(torch.rand(levels) * levels)
        self.theta = nn.Parameter(torch.rand(levels) * levels)
        self.fc = nn.Linear(levels * levels, hidden)

    def histogram(self, x: torch.Tensor) -> torch.Tensor:
        """Joint counts ``H[n, v, w]`` of (neighbour difference v, grey level w) over the pixel pairs of
        images ``x`` in [0, 1] (no parameters: computed once per batch, no gradient)."""
        grey = x if x.shape[1] == 1 else (x * x.new_tensor(LUMA)[:, None, None]).sum(1, keepdim=True)
        x_re = torch.round(grey.squeeze(1).clamp(0, 1) * (self.levels - 1)).long()
        x_d = (x_re[:, :, 1:] - x_re[:, :, :-1]).abs().flatten(1)       # neighbour difference
        x_re = x_re[:, :, :-1].flatten(1)
        n, L = len(x), self.levels
        code = (torch.arange(n, device=x.device)[:, None] * L + x_d) * L + x_re
        return torch.bincount(code.flatten(), minlength=n * L * L).view(n, L, L).to(x.dtype)

    def cooccurrence(self, x: torch.Tensor) -> torch.Tensor:
        """``G`` (N, N_g, N_g) of images ``x`` in [0, 1]. The levels are integers, so each soft
        indicator is a table over them, ``T_d[v, a] = clip(v - lambda_a, 0, 1)``, and the sum over
        pixels is ``T_d^T H T_re`` with the hard joint histogram ``H``: the same numbers (and
        gradients) as the per-pixel sum, at the cost of 16 x 16 products per image."""
        levels = torch.arange(self.levels, device=x.device, dtype=x.dtype)
        t_d = (levels[:, None] - self.lam).clamp(0, 1)
        t_re = (levels[:, None] - self.theta).clamp(0, 1)
        h = self.histogram(x)
        pairs = x.shape[-2] * (x.shape[-1] - 1)
        return t_d.T @ h @ t_re / pairs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc(self.cooccurrence(x).flatten(1)))


def batch_l2(h: torch.Tensor, ref_size: int) -> torch.Tensor:
    """L2 normalisation over the batch axis (each unit's column), at the scale of a ``ref_size`` batch."""
    return F.normalize(h, dim=0) * math.sqrt(len(h) / ref_size)


def project_out(f_p: torch.Tensor, f_g: torch.Tensor, ridge: float = 1e-3) -> torch.Tensor:
    """``F_L = F_P - F_G (F_G^T F_G + r I)^-1 F_G^T F_P``, solved in float64 (see the module's note)."""
    g, p = f_g.double(), f_p.double()
    gram = g.T @ g
    r = ridge * gram.diagonal().mean() + 1e-8
    coef = torch.linalg.solve(gram + r * torch.eye(len(gram), dtype=gram.dtype, device=gram.device), g.T @ p)
    return (p - g @ coef).to(f_p.dtype)


class HEXNet(nn.Module):
    """``h_A`` from f's encoder, ``h_G`` from the NGLCM, one shared layer ``W``; forward gives ``F_A``."""

    def __init__(self, arch: str, num_classes: int, levels: int, hidden: int, batch_size: int, dropout: float):
        super().__init__()
        self.encoder, self.nglcm = make_classifier(arch, 0), NGLCM(levels, hidden)
        self.W = nn.Linear(self.encoder.feature_dim + hidden, num_classes)
        self.batch_size, self.dropout = batch_size, dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h_a = batch_l2(self.encoder(x), self.batch_size)
        return self.W(torch.cat([h_a, torch.zeros(len(x), self.nglcm.fc.out_features, device=x.device)], 1))

    def train_logits(self, x: torch.Tensor, x_texture: torch.Tensor, ridge: float) -> torch.Tensor:
        """``F_L`` of a training batch (``x_texture``: the clean [0, 1] images for the NGLCM)."""
        h_a = batch_l2(F.dropout(self.encoder(x), self.dropout, self.training), self.batch_size)
        h_g = batch_l2(self.nglcm(x_texture), self.batch_size)
        f_p = self.W(torch.cat([h_a, h_g], 1))
        f_g = self.W(torch.cat([torch.zeros_like(h_a), h_g], 1))
        return project_out(f_p, f_g, ridge)


class HEX(Method):
    name = "hex"

    def __init__(self, ctx: Context):
        self.ctx, self.cfg, self.mixer, self.observer = ctx, ctx.cfg, None, None
        cfg = self.cfg
        self.f = HEXNet(cfg.f_arch, ctx.num_classes, cfg.hex_levels, cfg.hex_hidden, cfg.batch_size,
                        cfg.hex_dropout).to(ctx.device)
        self.opt_f = adam(self.f, cfg.lr, cfg.weight_decay)

    @property
    def f_body(self) -> nn.Module:
        """``h_A``'s encoder: the MLP whose units count as f's."""
        return self.f.encoder

    def base_loss(self, pool: Pool, q: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.f.train_logits(pool.x[q], pool.x_g[q], self.cfg.hex_ridge), pool.y[q])


def build(ctx: Context) -> Method:
    return HEX(ctx)
