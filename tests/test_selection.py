"""Contradicting-pair selection (Eqs. 4, 5) against brute force; precision / recall; mixing rules."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from selecmix.mixing import choose_kind, lisa_partners, mixup_batch, sample_lambda, selecmix_batch, selecmix_selection
from selecmix.experiments.pair_stats import pair_precision_recall, partner_sources
from selecmix.selection import pairs_from_similarity, gce_similarity, is_contradicting


def _brute(z, y, kind):
    out = []
    for i in range(len(y)):
        if kind == "positive":
            cands = [j for j in range(len(y)) if j != i and y[j] == y[i]]
            out.append(min(cands, key=lambda j: float(z[i] @ z[j])) if cands else -1)
        else:
            cands = [j for j in range(len(y)) if y[j] != y[i]]
            out.append(max(cands, key=lambda j: float(z[i] @ z[j])) if cands else -1)
    return torch.tensor(out)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("kind", ["positive", "negative"])
def test_pairs_match_brute_force(seed, kind):
    g = torch.Generator().manual_seed(seed)
    n = 30
    z = F.normalize(torch.randn(n, 8, generator=g, dtype=torch.float64), dim=1)
    y = torch.randint(0, 4, (n,), generator=g)
    y[0] = 9                                     # a query with no positive candidate
    assert torch.equal(pairs_from_similarity(z @ z.T, y, kind), _brute(z, y, kind))


def test_empty_candidate_sets_give_minus_one():
    z = F.normalize(torch.randn(3, 4), dim=1)
    assert pairs_from_similarity(z @ z.T, torch.tensor([0, 0, 0]), "negative").tolist() == [-1, -1, -1]
    assert pairs_from_similarity(z @ z.T, torch.tensor([0, 1, 2]), "positive").tolist() == [-1, -1, -1]
    with pytest.raises(ValueError, match="unknown pair kind"):
        pairs_from_similarity(z @ z.T, torch.tensor([0, 1, 2]), "sideways")


def test_bias_label_similarity_finds_true_contradicting_pairs():
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    b = torch.tensor([0, 0, 1, 1, 1, 0])
    from selecmix.selection import bias_label_pairs

    for kind in ("positive", "negative"):
        k = bias_label_pairs(y, b, kind, torch.Generator().manual_seed(0))
        assert is_contradicting(torch.arange(6), k, y, b, kind).all()
    # no true contradicting partner -> unmixed (-1)
    assert bias_label_pairs(torch.tensor([0, 0]), torch.tensor([1, 1]), "positive").tolist() == [-1, -1]


def test_gce_similarity_metrics():
    g = torch.Generator().manual_seed(0)
    feats, logits = torch.randn(5, 3, generator=g), torch.randn(5, 4, generator=g)
    cos = gce_similarity(feats, logits, "cos")
    assert torch.allclose(cos.diagonal(), torch.ones(5), atol=1e-6)
    l2 = gce_similarity(feats, logits, "l2")
    assert torch.allclose(-l2[1, 2], ((feats[1] - feats[2]) ** 2).sum(), atol=1e-5)
    kl = gce_similarity(feats, logits, "kl")
    p, q = torch.softmax(logits[1], 0), torch.softmax(logits[2], 0)
    assert torch.isclose(-kl[1, 2], (p * (p.log() - q.log())).sum(), atol=1e-6)
    assert torch.allclose(kl.diagonal(), torch.zeros(5), atol=1e-6)


def test_precision_recall_by_hand():
    y = torch.tensor([0, 0, 0, 1])
    b = torch.tensor([0, 0, 1, 1])
    partner = torch.tensor([2, 0, 0, -1])        # 0->2 contradicting, 1->0 not, 2->0 contradicting
    r = pair_precision_recall(partner, y, b, "positive")
    assert r["precision"] == pytest.approx(200 / 3) and r["recall"] == pytest.approx(200 / 3)
    assert r["discoverable"] == 3 and r["selected"] == 3


# --------------------------------------------------------------------------- Algorithm 1
def test_partner_sources_use_the_true_labels():
    y_clean = torch.tensor([0, 0, 1, 1, 2])
    y = torch.tensor([0, 0, 1, 2, 2])            # sample 3: a 1 labelled 2
    b = torch.tensor([0, 1, 1, 1, 0])            # sample 1: a genuine bias-conflicting 0; sample 4 too
    partner = torch.tensor([3, 1, -1, 4, 0])     # chosen: 3 (mislabelled), 1 (conflicting), 4 (conflicting), 0
    assert partner_sources(partner, y, y_clean, b) == {"mislabelled": 25.0, "conflicting": 50.0}
    # precision by the training labels counts the mislabelled 1 as a contradicting positive of a true 2
    assert bool(is_contradicting(torch.tensor([4]), torch.tensor([3]), y, b, "positive"))
    assert partner_sources(torch.full((5,), -1), y, y_clean, b) == {"mislabelled": 0.0, "conflicting": 0.0}


def test_lambda_law():
    lam = sample_lambda(100000, torch.Generator().manual_seed(0))
    assert lam.min() >= 0 and lam.max() <= 0.5
    assert abs(float(lam.mean()) - 0.25) < 0.005          # min(U, 1-U) ~ U[0, 1/2]


def test_selecmix_batch_labels_and_unmixed_queries():
    x = torch.arange(4, dtype=torch.float32).view(4, 1) * 10
    y = torch.tensor([0, 1, 2, 3])
    partner = torch.tensor([1, -1, 3, 0])
    lam = torch.tensor([0.2, 0.3, 0.5, 0.0])
    x_mix, y_mix = selecmix_batch(x, y, partner, lam)
    assert y_mix.tolist() == [1, 1, 3, 0]                  # label of the partner k; unmixed keep their own
    assert torch.allclose(x_mix.flatten(), torch.tensor([0.2 * 0 + 0.8 * 10, 10, 0.5 * 20 + 0.5 * 30, 0.0]))
    x_q, y_q = selecmix_batch(x, y, partner, lam, torch.tensor([2]))
    assert y_q.tolist() == [3] and torch.allclose(x_q, torch.tensor([[25.0]]))


def test_one_coin_per_pool_and_pair_sets():
    gen = torch.Generator().manual_seed(0)
    kinds = [choose_kind("AB", gen) for _ in range(2000)]
    assert 0.45 < kinds.count("positive") / 2000 < 0.55
    assert choose_kind("A") == "positive" and choose_kind("B") == "negative"
    with pytest.raises(ValueError, match="pair set"):
        choose_kind("C")
    z = F.normalize(torch.randn(16, 4, generator=gen), dim=1)
    y = torch.randint(0, 3, (16,), generator=gen)
    out = selecmix_selection(y, lambda kind: pairs_from_similarity(z @ z.T, y, kind), "A", gen)
    _, y_mix = selecmix_batch(z, y, out.partner, out.lam)
    assert out.kind == "positive" and torch.equal(y_mix, y[out.partner.clamp_min(0)].where(out.partner >= 0, y))


def test_mixup_and_lisa():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3)
    y = torch.arange(8) % 2
    x_mix, y_a, y_b, lam = mixup_batch(x, y, gen)
    assert 0 <= lam <= 1 and torch.equal(y_a, y)
    b = torch.tensor([0, 1, 1, 0, 0, 1, 1, 0])
    for kind in ("positive", "negative"):
        k = lisa_partners(y, b, kind, gen)
        ok = k >= 0
        assert is_contradicting(torch.arange(8)[ok], k[ok], y, b, kind).all()
