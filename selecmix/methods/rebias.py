"""ReBias: learning de-biased representations with biased representations (Bahng et al., ICML 2020).

A hand-designed bias-capturing model ``g`` of small receptive field and the debiased ``f`` play a
min-max game on HSIC, the Hilbert-Schmidt independence criterion (ReBias Eq. 4), each batch in
turn, each step moving only its owner's parameters (the other model's features are detached):

1. ``g`` minimises ``CE(g) - lambda_g HSIC(g_feat, f_feat)`` (g chases what f relies on);
2. ``f`` minimises ``CE(f) + lambda_f HSIC(f_feat, g_feat)`` (f escapes it), with the updated g.

HSIC is the unbiased estimator (Song et al., 2012) with RBF kernels ``exp(-|u - v|^2 / (2 sigma^2))``,
sigma = 1 on MNIST (``rebias_sigma <= 0``: the median heuristic per batch); lambda_f = lambda_g = 1.
``f_feat`` is f's penultimate layer (16-d on Colored MNIST), ``g_feat`` g's pooled features.

``g``: ReBias's MNIST g is f's conv net with kernel size 1 (it sees single pixels, i.e. colour,
not shape): 1x1 conv + BatchNorm + ReLU layers 16-32-64-128, then global average pooling. A 1x1
conv net is a per-pixel MLP with shared weights, so it is written here with Linear / BatchNorm1d
layers on the (N * H * W, 3) pixels, then the mean over pixels and a linear classifier. Width:
``rebias_g_layers`` = 4 layers (the official depth) of ``rebias_g_width`` = 8 channels, our
choice -- the official widths cost ~100x a Vanilla MLP step on this CPU, and a pixel's colour is a
3-d quantity that 8 channels represent with room to spare (g is meant to capture colour and nothing
else). The black background pixels are computed once per batch (:class:`PixelNet`, exact). g sees the
clean [0, 1] images (the auxiliary input of every method here): with the double-scaled ones its
first BatchNorm would divide by a variance below its epsilon. Optimisers: Adam 1e-3, weight decay
1e-4 for both, 80 epochs, StepLR(20, 0.1) on Colored MNIST (ReBias's own defaults). One g step
and one f step per mini-batch; BatchNorm statistics of g update in both (g stays in train mode).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import Context, Method, Pool, adam
from .end import epoch_lr


def weighted_batch_norm(h: torch.Tensor, weight: torch.Tensor, bn: nn.BatchNorm1d) -> torch.Tensor:
    """``bn`` applied to a batch in which row k stands for ``weight[k]`` identical rows: the same
    output and running statistics as ``bn`` on the expanded batch (train mode), or ``bn`` (eval)."""
    if not bn.training:
        return bn(h)
    total = weight.sum()
    mean = weight @ h / total
    centered = h - mean
    var = weight @ (centered * centered) / total
    with torch.no_grad():
        bn.running_mean.mul_(1 - bn.momentum).add_(bn.momentum * mean)
        bn.running_var.mul_(1 - bn.momentum).add_(bn.momentum * var * total / (total - 1))
        bn.num_batches_tracked.add_(1)
    return torch.addcmul(bn.bias, centered, bn.weight * torch.rsqrt(var + bn.eps))


class PixelNet(nn.Module):
    """A 1x1-conv net as a per-pixel MLP: ``features`` = mean over pixels, ``forward`` = logits.

    Every black pixel (all channels 0: the background, ~80 % of a Colored MNIST image) gets the same
    features, so they are computed once, as one row weighted by their number (BatchNorm's statistics
    weighted to match): the same numbers as the plain per-pixel net, ~5x cheaper on Colored MNIST."""

    def __init__(self, in_channels: int = 3, width: int = 8, layers: int = 4, num_classes: int = 10):
        super().__init__()
        self.linears = nn.ModuleList([nn.Linear(in_channels if i == 0 else width, width) for i in range(layers)])
        self.norms = nn.ModuleList([nn.BatchNorm1d(width) for _ in range(layers)])
        self.fc = nn.Linear(width, num_classes)

    @staticmethod
    def lit_pixels(x: torch.Tensor) -> tuple:
        """The batch as rows: row 0 the black pixel, standing for all of them, then every lit pixel;
        the rows' weights, each lit row's image and each image's number of black pixels."""
        n, c = x.shape[:2]
        pixels = x.permute(0, 2, 3, 1).reshape(n, -1, c)
        lit = pixels.ne(0).any(-1)
        background = (~lit).sum(1).to(x.dtype)
        rows = torch.cat([pixels.new_zeros(1, c), pixels[lit]])
        weight = torch.cat([background.sum()[None], rows.new_ones(len(rows) - 1)])
        return rows, weight, lit.nonzero()[:, 0], background, pixels.shape[1]

    def features(self, x: torch.Tensor, lit: tuple | None = None) -> torch.Tensor:
        """Mean over pixels of the per-pixel features (``lit``: :meth:`lit_pixels` of ``x``, if known)."""
        h, weight, owner, background, n_pixels = lit if lit is not None else self.lit_pixels(x)
        for linear, norm in zip(self.linears, self.norms):
            h = F.relu(weighted_batch_norm(linear(h), weight, norm))
        pooled = background[:, None] * h[0] + torch.zeros(len(background), h.shape[1], dtype=h.dtype,
                                                          device=h.device).index_add(0, owner, h[1:])
        return pooled / n_pixels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def rbf_kernel(u: torch.Tensor, sigma: float) -> torch.Tensor:
    """``exp(-|u_i - u_j|^2 / (2 sigma^2))``; ``sigma <= 0``: the median pairwise distance."""
    sq = torch.cdist(u, u).pow(2)
    if sigma <= 0:
        sigma = float(sq.detach()[~torch.eye(len(u), dtype=torch.bool, device=u.device)].median().sqrt().clamp_min(1e-6))
    return torch.exp(-sq / (2 * sigma ** 2))


def hsic_unbiased(u: torch.Tensor, v: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Unbiased HSIC: with ``K~``, ``L~`` the kernel matrices with zero diagonals and m samples,
    ``[tr(K~L~) + 1'K~1 1'L~1 / ((m-1)(m-2)) - 2/(m-2) 1'K~L~1] / (m(m-3))``. In float64: the
    terms nearly cancel (kernel values close to 1), which float32 sums would drown in rounding."""
    m, dtype = len(u), u.dtype
    u, v = u.double(), v.double()
    eye = torch.eye(m, dtype=torch.bool, device=u.device)
    k = rbf_kernel(u, sigma).masked_fill(eye, 0)
    l = rbf_kernel(v, sigma).masked_fill(eye, 0)
    trace = (k * l.T).sum()
    middle = k.sum() * l.sum() / ((m - 1) * (m - 2))
    last = 2 / (m - 2) * (k.sum(0) @ l.sum(1))
    return ((trace + middle - last) / (m * (m - 3))).to(dtype)


class ReBias(Method):
    name = "rebias"

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        cfg = self.cfg
        channels = ctx.splits.train.images.shape[1]
        self.g = PixelNet(channels, cfg.rebias_g_width, cfg.rebias_g_layers, ctx.num_classes).to(ctx.device)
        self.opt_g = adam(self.g, cfg.g_lr, cfg.g_weight_decay)

    def on_epoch_start(self, epoch: int) -> None:
        for opt, lr in ((self.opt_f, self.cfg.lr), (self.opt_g, self.cfg.g_lr)):
            for group in opt.param_groups:
                group["lr"] = epoch_lr(self.cfg, lr, epoch)

    def g_step(self, x: torch.Tensor, x_g: torch.Tensor, y: torch.Tensor, lit: tuple | None = None) -> torch.Tensor:
        """1. g's update: ``CE(g) - lambda_g HSIC(g, sg(f))``; only g's optimiser steps."""
        with torch.no_grad():
            f_feat = self.f.features(x)
        g_feat = self.g.features(x_g, lit)
        loss = F.cross_entropy(self.g.fc(g_feat), y) - self.cfg.rebias_lambda_g * hsic_unbiased(
            g_feat, f_feat, self.cfg.rebias_sigma)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        return loss.detach()

    def f_step(self, x: torch.Tensor, x_g: torch.Tensor, y: torch.Tensor,
               lit: tuple | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """2. f's update: ``CE(f) + lambda_f HSIC(f, sg(g))``; only f's optimiser steps."""
        with torch.no_grad():
            g_feat = self.g.features(x_g, lit)
        f_feat = self.f.features(x)
        hsic = hsic_unbiased(f_feat, g_feat, self.cfg.rebias_sigma)
        loss = F.cross_entropy(self.f.fc(f_feat), y) + self.cfg.rebias_lambda_f * hsic
        self.opt_f.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_f.step()
        return loss.detach(), hsic.detach()

    def step(self, pool: Pool, q: torch.Tensor, state) -> dict[str, torch.Tensor]:
        x, x_g, y = pool.x[q], pool.x_g[q], pool.y[q]
        lit = self.g.lit_pixels(x_g)                # g's rows, shared by both steps
        loss_g = self.g_step(x, x_g, y, lit)        # g first, then f against the updated g
        loss, hsic = self.f_step(x, x_g, y, lit)
        return {"loss": loss, "g_loss": loss_g, "hsic": hsic}

    def modules(self):
        return {**super().modules(), "g": self.g, "opt_g": self.opt_g}


def build(ctx: Context) -> Method:
    return ReBias(ctx)
