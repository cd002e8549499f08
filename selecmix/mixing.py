"""Mixing: SelecMix (Algorithm 1), plain mixup (Zhang et al., 2018) and LISA (Yao et al., 2022).

All three produce a batch of convex combinations ``lam * x_i + (1 - lam) * x_k``; they differ in
how the partner k is chosen, how lam is drawn, and which label the mixed sample gets:

============  ==============================  =====================  ==========================
method        partner k                       lam                    label
============  ==============================  =====================  ==========================
mixup         random                          U[0, 1], per batch     lam y_i + (1 - lam) y_k
LISA          random contradicting, by        Beta(2, 2), per batch  lam y_i + (1 - lam) y_k
              bias labels
SelecMix      contradicting by ``g``           min(u, 1 - u), u ~     y_k
              (Eqs. 4, 5)                      U[0, 1], per sample
============  ==============================  =====================  ==========================
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F

from .selection import true_contradicting_pairs


def choose_kind(pairs: str, gen: torch.Generator | None = None) -> str:
    """Alg. 1 line 3: one coin p ~ U[0, 1] per selection pool; p > 0.5 -> contradicting positives.
    Pair set ``A`` always uses positives, ``B`` always negatives, ``AB`` the coin (Table 4)."""
    if pairs == "A":
        return "positive"
    if pairs == "B":
        return "negative"
    if pairs != "AB":
        raise ValueError(f"unknown pair set {pairs!r}; use 'A', 'B' or 'AB'")
    return "positive" if float(torch.rand(1, generator=gen)) > 0.5 else "negative"


def sample_lambda(n: int, gen: torch.Generator | None = None) -> torch.Tensor:
    """Alg. 1 line 5: lam ~ U[0, 1], lam <- min(lam, 1 - lam), so the partner k gets the larger
    weight. (The official code's ``0.5 * Beta(1, 1)`` is the same law.)"""
    u = torch.rand(n, generator=gen)
    return torch.minimum(u, 1 - u)


def selecmix_batch(x: torch.Tensor, y: torch.Tensor, partner: torch.Tensor, lam: torch.Tensor,
                   queries: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Alg. 1 line 8: ``x~_i = lam x_i + (1 - lam) x_k`` with label ``y_k``.

    ``x``, ``y`` are the selection pool, ``partner``/``lam`` one entry per pool sample, ``queries``
    the pool indices to mix (a mini-batch; default all). Queries without a partner (-1) stay
    unmixed with their own label.
    """
    i = torch.arange(len(y), device=y.device) if queries is None else queries
    k = partner[i]
    has = k >= 0
    k = torch.where(has, k, i)
    lam_i = torch.where(has, lam.to(x.device)[i], torch.ones_like(lam[i]).to(x.device))
    shape = (-1,) + (1,) * (x.dim() - 1)
    return torch.lerp(x[k], x[i], lam_i.view(shape)), y[k]     # lam x_i + (1 - lam) x_k


class Selection(NamedTuple):
    """Algorithm 1's choices for one pool: the pair kind, each query's partner (-1: none), its lam."""

    kind: str
    partner: torch.Tensor
    lam: torch.Tensor


def selecmix_selection(y: torch.Tensor, partners: Callable[[str], torch.Tensor], pairs: str = "AB",
                       gen: torch.Generator | None = None) -> Selection:
    """Algorithm 1 on one selection pool of labels ``y``: the coin picks the pair kind (line 3),
    ``partners(kind)`` finds every query's contradicting partner (line 4: Eq. 4 or 5 on the
    similarity source's scores, :func:`selecmix.selection.pairs_from_similarity`), and each query
    draws its lam = min(u, 1 - u) (line 5). :func:`selecmix_batch` then mixes a mini-batch (line 8)."""
    kind = choose_kind(pairs, gen)
    partner = partners(kind)
    lam = sample_lambda(len(y), gen).to(y.device)
    return Selection(kind, partner, lam)


def mixup_batch(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator | None = None, alpha: float = 1.0):
    """Plain mixup, Eq. 1: a random permutation as partners, one lam ~ Beta(alpha, alpha) per batch.
    Returns (x_mix, y_i, y_k, lam); train with ``lam CE(y_i) + (1 - lam) CE(y_k)``."""
    perm = torch.randperm(len(y), generator=gen).to(y.device)
    lam = beta_sample(alpha, gen)
    return lam * x + (1 - lam) * x[perm], y, y[perm], lam


def lisa_partners(y: torch.Tensor, b: torch.Tensor, kind: str, gen: torch.Generator | None = None) -> torch.Tensor:
    """LISA's selective pairs from bias labels, chosen at random among the candidates:
    ``positive`` (intra-label): same label, different bias; ``negative`` (intra-domain): same bias,
    different label. -1 where none exists. LISA's law: uniform scores u ~ U[0, 1), the arg-max
    among the candidates (for positives, Eq. 4's arg-min of -u: the same pick)."""
    u = torch.rand(len(y), len(y), generator=gen).to(y.device)
    return true_contradicting_pairs(-u if kind == "positive" else u, y, b, kind)


def beta_sample(alpha: float, gen: torch.Generator | None = None) -> float:
    """One draw of Beta(alpha, alpha) for integer alpha, reproducible from ``gen``: the a-th
    smallest of 2a - 1 uniforms is Beta(a, a) distributed (alpha = 1: a plain uniform)."""
    a = int(alpha)
    if a != alpha or a < 1:
        raise ValueError(f"beta_sample supports integer alpha >= 1, got {alpha}")
    u = torch.rand(2 * a - 1, generator=gen).sort().values
    return float(u[a - 1])


def mixed_cross_entropy(logits: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor, lam) -> torch.Tensor:
    """``lam CE(logits, y_a) + (1 - lam) CE(logits, y_b)`` (lam scalar or per sample)."""
    ce_a = F.cross_entropy(logits, y_a, reduction="none")
    ce_b = F.cross_entropy(logits, y_b, reduction="none")
    return (lam * ce_a + (1 - lam) * ce_b).mean()
