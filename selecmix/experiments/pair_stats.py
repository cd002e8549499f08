"""What a SelecMix run's pair choices and its ``g`` look like, epoch by epoch, measured against the
bias labels the method never sees: pair precision and recall (Fig. 9), the share of mislabelled
partners under label noise (Fig. 3) and g's similarity curves (Fig. 2).

:class:`PairStats` listens to the run's mixer (``SelecMixMixer.on_selection``, called once per pool
with Algorithm 1's choice) and stores one ``aux`` dict per epoch in the run's history;
:func:`selecmix.experiments.runs.train_run` attaches it to every recorded run.
"""
from __future__ import annotations

from collections import defaultdict

import torch

from ..methods import Method, Pool
from ..methods.selecmix import ContrastiveSource
from ..mixing import Selection
from ..selection import is_contradicting


class PairStats:
    """Per-epoch measurements of a run with a mixer (``{}`` for mixup and LISA, which choose no pairs)."""

    def __init__(self, method: Method):
        self.method, self.ctx = method, method.ctx
        self.values: dict[str, list[float]] = defaultdict(list)
        n = len(self.ctx.splits.train)
        self.probe = torch.randperm(n, generator=torch.Generator().manual_seed(1234))[:min(n, 2048)]   # fixed
        if hasattr(method.mixer, "on_selection"):
            method.mixer.on_selection = self.record

    def record(self, pool: Pool, selection: Selection) -> None:
        """One pool's choice: pair precision / recall (Fig. 9) and, under label noise, the share of
        mislabelled partners (Fig. 3)."""
        kind, partner = selection.kind, selection.partner
        found = pair_precision_recall(partner, pool.y, pool.b, kind)
        self.values[f"{kind}_precision"].append(found["precision"])
        self.values[f"{kind}_recall"].append(found["recall"])
        if self.ctx.cfg.label_noise > 0:
            y_clean = self.ctx.splits.train.y_clean[pool.idx.cpu()].to(pool.y.device)
            self.values[f"{kind}_mislabelled"].append(partner_sources(partner, pool.y, y_clean, pool.b)["mislabelled"])

    def epoch(self) -> dict[str, float]:
        """The epoch's means (then reset) and, for a contrastive ``g``, its similarity curves on a
        fixed probe of 2,048 training images (Fig. 2)."""
        out = {key: sum(v) / len(v) for key, v in self.values.items() if v}
        self.values.clear()
        source = getattr(self.method.mixer, "source", None)
        if isinstance(source, ContrastiveSource):
            train, device = self.ctx.splits.train, self.ctx.device
            z = source.embed(self.ctx.g_inputs(self.probe.to(self.ctx.train_images.device)))
            groups = similarity_groups(z, train.y_clean[self.probe].to(device), train.b[self.probe].to(device))
            out.update({f"sim_{k}": v for k, v in groups.items()})
        return out


def pair_precision_recall(partner: torch.Tensor, y: torch.Tensor, b: torch.Tensor, kind: str) -> dict[str, float]:
    """Precision and recall of the selected pairs against the bias labels (paper Fig. 9).

    * precision: the share of selected pairs that are truly contradicting;
    * recall: the share of the queries that *have* a contradicting candidate in the pool whose
      selected partner is one (how many of the discoverable pairs were found).
    """
    queries = torch.arange(len(y), device=y.device)
    chosen = partner >= 0
    hit = chosen & is_contradicting(queries, partner.clamp_min(0), y, b, kind)
    # a query has a contradicting candidate iff its (label, bias) group is not all of its label
    # (positives) / of its bias value (negatives): counted per group, O(N)
    num_b = int(b.max()) + 1
    group = y * num_b + b
    per_group = torch.bincount(group, minlength=(int(y.max()) + 1) * num_b)
    per_side = torch.bincount(y if kind == "positive" else b)
    discoverable = per_side[y if kind == "positive" else b] > per_group[group]
    precision = hit.sum() / chosen.sum().clamp_min(1)
    recall = (hit & discoverable).sum() / discoverable.sum().clamp_min(1)
    return {"precision": 100 * float(precision), "recall": 100 * float(recall),
            "selected": int(chosen.sum()), "discoverable": int(discoverable.sum())}


def partner_sources(partner: torch.Tensor, y: torch.Tensor, y_clean: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """What the chosen partners of a pool really are, by the *true* labels (Fig. 3's label noise):
    the share (percent of chosen partners) that are **mislabelled** (training label ``y`` differs
    from the true class ``y_clean``) and the share that are genuine **bias-conflicting** samples
    (correct label, bias attribute other than the true class). A mislabelled sample looks exactly
    like a contradicting partner -- its label disagrees with its bias -- so
    :func:`pair_precision_recall`, which uses the training labels, counts it as a hit."""
    k = partner[partner >= 0]
    if len(k) == 0:
        return {"mislabelled": 0.0, "conflicting": 0.0}
    wrong = y[k] != y_clean[k]
    genuine = ~wrong & (b[k] != y_clean[k])
    return {"mislabelled": 100 * float(wrong.float().mean()), "conflicting": 100 * float(genuine.float().mean())}


def _same_key_pair_sum(z: torch.Tensor, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of ``z_i . z_j`` over the ordered pairs (i, j) -- self-pairs included -- with equal
    ``key``, and their number: ``sum_k |sum_{i: key_i = k} z_i|^2`` and ``sum_k n_k^2``."""
    groups = int(key.max()) + 1
    sums = torch.zeros(groups, z.shape[1], dtype=torch.float64, device=z.device).index_add_(0, key, z)
    counts = torch.bincount(key, minlength=groups).double()
    return (sums * sums).sum(), (counts * counts).sum()


@torch.no_grad()
def similarity_groups(z: torch.Tensor, y: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """Mean cosine similarity ``z_i . z_j`` (i != j) of the four kinds of pairs of Fig. 2:
    positives (same label), negatives (different label), contradicting positives (same label,
    different bias) and contradicting negatives (different label, same bias).

    Computed without the N x N similarity matrix: the sum of ``z_i . z_j`` over the pairs of a
    group is the squared norm of the group's summed embedding, so every mean comes from per-group
    sums (exact, in float64; O(N d) instead of O(N^2 d)).
    """
    z = z.double()
    total = z.sum(0)
    all_s, all_n = total @ total, float(len(z)) ** 2
    self_s, self_n = (z * z).sum(), float(len(z))
    y_s, y_n = _same_key_pair_sum(z, y)
    b_s, b_n = _same_key_pair_sum(z, b)
    yb_s, yb_n = _same_key_pair_sum(z, y * (int(b.max()) + 1) + b)

    def mean(s, n):
        return float(s / n) if n > 0 else float("nan")

    return {"positive": mean(y_s - self_s, y_n - self_n), "negative": mean(all_s - y_s, all_n - y_n),
            "contradicting_positive": mean(y_s - yb_s, y_n - yb_n),
            "contradicting_negative": mean(b_s - yb_s, b_n - yb_n)}
