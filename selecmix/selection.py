"""Contradicting-pair selection (paper Sec. 3.3, Eqs. 4 and 5).

For a query i in the selection pool B:

* contradicting positive (Eq. 4): ``k = argmin_{j in P_i} z_i . z_j`` with ``P_i = {j != i : y_j = y_i}``
  -- same label, most *dissimilar* biased features;
* contradicting negative (Eq. 5): ``k = argmax_{j in N_i} z_i . z_j`` with ``N_i = {j : y_j != y_i}``
  -- different label, most *similar* biased features.

Everything is one masked ``argmin`` / ``argmax`` over a similarity matrix, so any similarity
works: cosine of ``g``'s embeddings (the method), ground-truth bias labels, or the embeddings and
outputs of a GCE-trained model (Table 2's ablation). How well a run's choices match the hidden
bias labels (Fig. 9) is measured by :mod:`selecmix.experiments.pair_stats`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

KINDS = ("positive", "negative")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown pair kind {kind!r}; use 'positive' (Eq. 4) or 'negative' (Eq. 5)")


def pairs_from_similarity(sim: torch.Tensor, y: torch.Tensor, kind: str,
                          allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Partner index for every row of an (N, N) similarity matrix; -1 where no candidate exists.

    ``positive``: least similar among same-label others; ``negative``: most similar among
    different-label samples; ``allowed`` (N, N) optionally narrows the candidates further.
    Vectorised: one masked reduction, no Python loop. Ties go to the lowest index.
    """
    _check_kind(kind)
    same = y[:, None] == y[None, :]
    if kind == "positive":                  # Eq. 4: j != i, y_j = y_i
        candidates = same & ~torch.eye(len(y), dtype=torch.bool, device=y.device)
    else:                                   # Eq. 5: y_j != y_i
        candidates = ~same
    if allowed is not None:
        candidates = candidates & allowed
    if kind == "positive":
        best = sim.masked_fill(~candidates, float("inf")).argmin(1)
    else:
        best = sim.masked_fill(~candidates, float("-inf")).argmax(1)
    return torch.where(candidates.any(1), best, torch.full_like(best, -1))


# --------------------------------------------------------------------------- other similarities
def bias_label_similarity(b: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """Similarity from ground-truth bias labels: 1 if same bias, else 0, plus a tiny random
    tie-break so that the arg-min / arg-max picks uniformly among the equally good candidates."""
    noise = torch.rand(len(b), len(b), generator=gen).to(b.device) * 1e-3
    return (b[:, None] == b[None, :]).float() + noise


def true_contradicting_pairs(scores: torch.Tensor, y: torch.Tensor, b: torch.Tensor, kind: str) -> torch.Tensor:
    """A *true* contradicting partner by the bias labels -- same label and different bias
    (positive), or different label and same bias (negative) -- picked by Eq. 4 / 5's masked
    arg-min / arg-max of the (N, N) ``scores`` (random scores: a random true partner); -1 (the
    query stays unmixed) where the pool has none. SelecMix with bias labels
    (:func:`bias_label_pairs`) and LISA (:func:`selecmix.mixing.lisa_partners`) differ only in
    their scores."""
    same_b = b[:, None] == b[None, :]
    return pairs_from_similarity(scores, y, kind, allowed=~same_b if kind == "positive" else same_b)


def bias_label_pairs(y: torch.Tensor, b: torch.Tensor, kind: str, gen: torch.Generator | None = None) -> torch.Tensor:
    """SelecMix "with bias labels" (Tables 2 and 5): a random *true* contradicting partner --
    same label and different bias (positive), or different label and same bias (negative);
    -1 (the query stays unmixed) where the pool has none, as LISA does. Scores:
    :func:`bias_label_similarity`."""
    return true_contradicting_pairs(bias_label_similarity(b, gen), y, b, kind)


def gce_similarity(features: torch.Tensor, logits: torch.Tensor, metric: str) -> torch.Tensor:
    """Similarity from a GCE-trained biased classifier (LfF's ``b``), Table 2's baselines:

    ``cos`` -- cosine of its penultimate features; ``l2`` -- negative squared Euclidean distance of
    those features; ``kl`` -- negative KL divergence ``KL(p_i || p_j)`` of its softmax outputs.
    """
    if metric == "cos":
        z = F.normalize(features, dim=1)
        return z @ z.T
    if metric == "l2":
        return -torch.cdist(features, features).pow(2)
    if metric == "kl":
        log_p = F.log_softmax(logits, dim=1)
        p = log_p.exp()
        # KL(p_i || p_j) = sum_c p_ic log p_ic - sum_c p_ic log p_jc
        return -((p * log_p).sum(1, keepdim=True) - p @ log_p.T)
    raise ValueError(f"unknown GCE similarity metric {metric!r}; use 'cos', 'l2' or 'kl'")


# --------------------------------------------------------------------------- the definition, by bias labels
def is_contradicting(i: torch.Tensor, k: torch.Tensor, y: torch.Tensor, b: torch.Tensor, kind: str) -> torch.Tensor:
    """Whether pairs (i, k) are truly contradicting by the (hidden) bias labels:
    positive -- same label, different bias; negative -- different label, same bias."""
    _check_kind(kind)
    if kind == "positive":
        return (y[i] == y[k]) & (b[i] != b[k])
    return (y[i] != y[k]) & (b[i] == b[k])
