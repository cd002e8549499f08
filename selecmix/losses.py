"""Losses: generalized cross-entropy (GCE), supervised contrastive (SC, Eq. 2) and the paper's
generalized supervised contrastive loss (GSC, Eq. 3).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def gce_loss(logits: torch.Tensor, y: torch.Tensor, q: float = 0.7, reduction: str = "mean") -> torch.Tensor:
    """Generalized cross-entropy (Zhang & Sabuncu, 2018) in LfF's gradient form.

    ``L_GCE = (1 - p_y^q) / q`` has gradient ``p_y^q * dL_CE`` (paper App. C.2, Eq. 6); LfF
    implements it as ``CE * stopgrad(p_y^q) * q``, which we follow (the constant q included).
    It up-weights samples the model already finds easy, so the model leans on easy (biased) features.
    """
    ce = F.cross_entropy(logits, y, reduction="none")
    p_y = torch.softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
    loss = ce * p_y.detach() ** q * q
    return loss.mean() if reduction == "mean" else loss if reduction == "none" else loss.sum()


def _log_prob_and_positives(z: torch.Tensor, y: torch.Tensor, tau: float):
    """``log p_ik`` of Eq. 2 for all pairs, and the mask of positives ``P_i`` (same label, k != i)."""
    n = len(z)
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = (z @ z.T / tau).masked_fill(self_mask, float("-inf"))    # the sum in p_ik skips j = i
    log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (y[:, None] == y[None, :]) & ~self_mask
    return log_p.masked_fill(self_mask, 0.0), positives


def supcon_loss(z: torch.Tensor, y: torch.Tensor, tau: float = 0.2) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., 2020), paper Eq. 2.

    ``z`` are L2-normalised embeddings (N, d). For anchor i, ``p_ik = exp(z_i.z_k/tau) /
    sum_{j != i} exp(z_i.z_j/tau)`` and the loss is ``-(1/|P_i|) sum_{k in P_i} log p_ik``.
    As in the official code, anchors are averaged (an anchor without positives contributes 0).
    """
    log_p, pos = _log_prob_and_positives(z, y, tau)
    per_anchor = -(log_p * pos).sum(1) / pos.sum(1).clamp_min(1)
    return per_anchor.mean()


def gsc_loss(z: torch.Tensor, y: torch.Tensor, tau: float = 0.2, q: float = 0.7) -> torch.Tensor:
    """Generalized supervised contrastive loss, paper Eq. 3.

    The SC loss with every term weighted by ``stopgrad(p_ik)^q``: pairs the model already finds
    similar count more, which amplifies its reliance on the easy-to-learn (biased) features --
    the role ``p_y^q`` plays in GCE. The official code multiplies by an extra constant q; we use
    the paper's form (under Adam the constant does not matter).
    """
    log_p, pos = _log_prob_and_positives(z, y, tau)
    weight = log_p.detach().exp() ** q
    per_anchor = -(weight * log_p * pos).sum(1) / pos.sum(1).clamp_min(1)
    return per_anchor.mean()
