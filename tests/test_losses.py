"""GCE, SC (Eq. 2) and GSC (Eq. 3) against direct loop computations."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from selecmix.losses import gce_loss, gsc_loss, supcon_loss


def _embeddings(n=12, d=5, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)
    y = torch.randint(0, classes, (n,), generator=g)
    return z, y


def _loop_loss(z, y, tau, q=None):
    """Eqs. 2 / 3 written as in the paper, one anchor and one positive at a time."""
    n, total = len(y), 0.0
    for i in range(n):
        denom = sum(math.exp(float(z[i] @ z[j]) / tau) for j in range(n) if j != i)
        positives = [k for k in range(n) if k != i and y[k] == y[i]]
        if not positives:
            continue
        terms = []
        for k in positives:
            p = math.exp(float(z[i] @ z[k]) / tau) / denom
            terms.append((p ** q if q is not None else 1.0) * -math.log(p))
        total += sum(terms) / len(positives)
    return total / n


def test_supcon_matches_loop():
    z, y = _embeddings()
    assert math.isclose(float(supcon_loss(z, y, 0.2)), _loop_loss(z, y, 0.2), rel_tol=1e-9)


def test_gsc_matches_loop():
    z, y = _embeddings(seed=1)
    assert math.isclose(float(gsc_loss(z, y, 0.2, 0.7)), _loop_loss(z, y, 0.2, 0.7), rel_tol=1e-9)


def test_anchor_without_positive_contributes_zero():
    z, _ = _embeddings(n=4)
    y = torch.tensor([0, 0, 1, 2])                       # anchors 2 and 3 have no positive
    assert math.isclose(float(supcon_loss(z, y)), _loop_loss(z, y, 0.2), rel_tol=1e-9)
    assert float(supcon_loss(z, torch.arange(4))) == 0.0


def test_gsc_gradient_is_stopgrad_weighted_sc_gradient():
    """d L_GSC / dz equals the gradient of sum_ik w_ik * (-log p_ik) with w_ik = p_ik^q held constant."""
    z, y = _embeddings(n=10, seed=2)
    z1 = z.clone().requires_grad_(True)
    gsc_loss(z1, y, 0.2, 0.7).backward()

    z2 = z.clone().requires_grad_(True)
    n = len(y)
    logits = (z2 @ z2.T / 0.2).masked_fill(torch.eye(n, dtype=torch.bool), float("-inf"))
    log_p = logits - torch.logsumexp(logits, 1, keepdim=True)
    pos = (y[:, None] == y[None, :]) & ~torch.eye(n, dtype=torch.bool)
    weight = torch.where(pos, log_p.exp() ** 0.7, torch.zeros_like(log_p)).detach()
    manual = -(torch.where(pos, weight * log_p, torch.zeros_like(log_p))).sum(1) / pos.sum(1).clamp_min(1)
    manual.mean().backward()
    assert torch.allclose(z1.grad, z2.grad, atol=1e-12)
    # and it differs from the plain SC gradient (the weight matters)
    z3 = z.clone().requires_grad_(True)
    supcon_loss(z3, y, 0.2).backward()
    assert not torch.allclose(z1.grad, z3.grad)


def test_gce_matches_definition_and_gradient():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    per = gce_loss(logits, y, 0.7, reduction="none")
    p_y = torch.softmax(logits, 1)[torch.arange(6), y]
    assert torch.allclose(per, -torch.log(p_y) * p_y ** 0.7 * 0.7)
    # its gradient is the gradient of (1 - p_y^q) / q (App. C.2, Eq. 6), up to the constant q (LfF)
    gce_loss(logits, y, 0.7, reduction="sum").backward()
    grad_gce = logits.grad.clone()
    logits.grad = None
    ((1 - torch.softmax(logits, 1)[torch.arange(6), y] ** 0.7) / 0.7).sum().backward()
    assert torch.allclose(grad_gce, 0.7 * logits.grad)
    assert torch.isclose(gce_loss(logits, y), per.mean())
