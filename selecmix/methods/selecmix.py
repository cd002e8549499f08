"""SelecMix (V+Ours): ``f`` is trained on mixed contradicting pairs (Alg. 1) chosen by an
auxiliary model ``g`` trained at the same time with the GSC loss on the unmixed batch (Alg. 2).

The auxiliary model that measures "biased similarity" is a choice (Table 2's ablation):

* ``gsc`` (the method) / ``sc``: the contrastive model ``g`` (backbone + head), cosine similarity
  of its L2-normalised embeddings, trained with Eq. 3 / Eq. 2 on ``g``'s clean, unaugmented input;
* ``gce-cos`` / ``gce-l2`` / ``gce-kl``: a classifier trained with GCE (LfF's biased model), with
  cosine or l2 on its penultimate features, or KL between its softmax outputs;
* ``gt``: the true bias labels (SelecMix "with bias labels", Tables 2 and 5);
* ``random``: a partner drawn at random among the pair kind's candidates (same label for
  positives, another label for negatives) -- not the paper's: the control of this book's
  collapse investigation, and, for the first ``random_warmup_pools`` pools, its remedy.

``g_similarity_mode`` is g's mode while it embeds a pool: ``eval`` (the paper profile; the MLP g
has no BatchNorm, so the mode changes nothing there) or ``train``, as the official code, which
never puts g in eval mode: a BatchNorm g (ResNet18) then normalises with the pool's statistics.

``pairs`` picks the pair sets (A: contradicting positives, B: negatives, AB: both, Table 4), and
``g_pretrain_epochs`` pretrains ``g`` alone that many epochs and then freezes it (Fig. 5).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..losses import gce_loss, gsc_loss, supcon_loss
from ..mixing import Selection, selecmix_batch, selecmix_selection
from ..models import ContrastiveModel, make_classifier
from ..selection import bias_label_pairs, gce_similarity, pairs_from_similarity
from .base import Context, Method, Mixer, Pool, adam


def g_optimizer(model: torch.nn.Module, cfg) -> torch.optim.Optimizer:
    if cfg.g_optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.g_lr, momentum=cfg.g_momentum,
                               weight_decay=cfg.g_weight_decay)
    return adam(model, cfg.g_lr, cfg.g_weight_decay)


class SimilaritySource:
    """Where SelecMix's partners come from: ``similarity(pool)`` scores every pair of the pool and
    Eq. 4 / 5 pick the partners from it; ``train_step`` (where ``trainable``) updates the model behind it."""

    trainable = False

    def partners(self, pool: Pool, kind: str) -> torch.Tensor:
        return pairs_from_similarity(self.similarity(pool), pool.y, kind)

    def modules(self):
        return {}


class ContrastiveSource(SimilaritySource):
    """``g`` trained with GSC (Eq. 3) or SC (Eq. 2); similarity = cosine of its embeddings."""

    trainable = True

    def __init__(self, ctx: Context, loss: str = "gsc"):
        self.ctx, self.loss_name = ctx, loss
        self.g = ContrastiveModel(ctx.cfg.g_arch).to(ctx.device)
        self.opt = g_optimizer(self.g, ctx.cfg)

    @torch.no_grad()
    def embed(self, x_g: torch.Tensor) -> torch.Tensor:
        """g's embeddings of ``x_g``, in chunks of 1,024 (one official pool), in the mode
        ``g_similarity_mode`` names (train: BatchNorm uses -- and updates -- the chunk's statistics)."""
        was_training = self.g.training
        self.g.train(self.ctx.cfg.g_similarity_mode == "train")
        z = torch.cat([self.g(chunk) for chunk in x_g.split(1024)])
        self.g.train(was_training)
        return z

    def similarity(self, pool: Pool) -> torch.Tensor:
        z = self.embed(pool.x_g)
        return z @ z.T

    def train_step(self, pool: Pool, batch: torch.Tensor) -> torch.Tensor:
        return g_step(self.g, self.opt, pool.x_g[batch], pool.y[batch], self.ctx.cfg, self.loss_name)

    def modules(self):
        return {"g": self.g, "opt_g": self.opt}


class GCESource(SimilaritySource):
    """LfF's biased classifier (GCE loss, f's architecture and input) as the similarity source."""

    trainable = True

    def __init__(self, ctx: Context, metric: str):
        self.ctx, self.metric = ctx, metric
        self.model = make_classifier(ctx.cfg.f_arch, ctx.num_classes).to(ctx.device)
        self.opt = adam(self.model, ctx.cfg.lr, ctx.cfg.weight_decay)

    @torch.no_grad()
    def similarity(self, pool: Pool) -> torch.Tensor:
        self.model.eval()
        features = self.model.features(pool.x)
        sim = gce_similarity(features, self.model.fc(features), self.metric)
        self.model.train()
        return sim

    def train_step(self, pool: Pool, batch: torch.Tensor) -> torch.Tensor:
        loss = gce_loss(self.model(pool.x[batch]), pool.y[batch], self.ctx.cfg.q)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach()

    def modules(self):
        return {"gce_model": self.model, "opt_gce": self.opt}


class BiasLabelSource(SimilaritySource):
    """Ground-truth bias labels as the similarity (no model to train)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def partners(self, pool: Pool, kind: str) -> torch.Tensor:
        return bias_label_pairs(pool.y, pool.b, kind, self.ctx.gen)


class RandomSource(SimilaritySource):
    """Random partners: every candidate of the pair kind equally likely (uniform random scores,
    then Eqs. 4 / 5's masked arg-min / arg-max). Its own generator, seeded from the run's seed,
    leaves the run's coin and lambda stream as it is."""

    def __init__(self, ctx: Context):
        self.gen = torch.Generator().manual_seed(ctx.cfg.seed + 7919)

    def similarity(self, pool: Pool) -> torch.Tensor:
        return torch.rand(len(pool.y), len(pool.y), generator=self.gen).to(pool.y.device)

    def state(self):
        return {"gen": self.gen.get_state()}

    def load_state(self, state):
        if "gen" in state:
            self.gen.set_state(state["gen"])


def make_source(ctx: Context):
    sim = ctx.cfg.similarity
    if sim == "random":
        return RandomSource(ctx)
    if sim in ("gsc", "sc"):
        return ContrastiveSource(ctx, sim)
    if sim.startswith("gce-"):
        return GCESource(ctx, sim[4:])
    return BiasLabelSource(ctx)


class SelecMixMixer(Mixer):
    """Algorithm 1 per pool (one coin, partners by Eq. 4 / 5, lam = min(u, 1 - u), label y_k),
    and Algorithm 2 line 8 after each update of f (one step of ``g`` on the unmixed mini-batch).
    With ``random_warmup_pools`` = k (this book's remedy, not the paper's) the first k pools of
    the run take random partners (:class:`RandomSource`) while g trains as usual. ``on_selection``,
    if set, is called with each pool's choice (the measurements of :mod:`selecmix.experiments.pair_stats`)."""

    def __init__(self, ctx: Context):
        self.ctx, self.source, self.frozen = ctx, make_source(ctx), False
        self.pools_done = 0
        self.warmup = RandomSource(ctx) if ctx.cfg.random_warmup_pools else None
        self.on_selection = None

    def setup(self) -> None:
        epochs = self.ctx.cfg.g_pretrain_epochs
        if epochs is None or not self.source.trainable:
            return
        pretrain_source(self.ctx, self.source, epochs)
        self.frozen = True

    def prepare(self, pool: Pool) -> Selection:
        """Algorithm 1 on the pool (:func:`selecmix.mixing.selecmix_selection`), partners from the
        similarity source (random ones for the first ``random_warmup_pools`` pools)."""
        source = self.warmup if self.pools_done < self.ctx.cfg.random_warmup_pools else self.source
        selection = selecmix_selection(pool.y, lambda kind: source.partners(pool, kind), self.ctx.cfg.pairs,
                                       self.ctx.gen)
        self.pools_done += 1
        if self.on_selection is not None:
            self.on_selection(pool, selection)
        return selection

    def loss(self, f, pool: Pool, batch: torch.Tensor, selection: Selection) -> torch.Tensor:
        x_mix, y_mix = selecmix_batch(pool.x, pool.y, selection.partner, selection.lam, batch)
        return F.cross_entropy(f(x_mix), y_mix)

    def after_step(self, pool: Pool, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.frozen or not self.source.trainable:
            return {}
        return {"aux": self.source.train_step(pool, batch)}

    def modules(self):
        return self.source.modules()

    def _generators(self) -> dict[str, RandomSource]:
        return {name: src for name, src in (("aux", self.source), ("warmup", self.warmup)) if isinstance(src, RandomSource)}

    def state(self):
        extra = {name: src.state() for name, src in self._generators().items()}
        return {"frozen": self.frozen, "pools_done": self.pools_done, **extra}

    def load_state(self, state):
        self.frozen = bool(state.get("frozen", False))
        self.pools_done = int(state.get("pools_done", 0))
        for name, src in self._generators().items():
            src.load_state(state.get(name, {}))


def g_step(g: torch.nn.Module, opt: torch.optim.Optimizer, x_g: torch.Tensor, y: torch.Tensor, cfg,
           loss: str = "gsc") -> torch.Tensor:
    """One update of ``g`` on a mini-batch (Alg. 2 line 8): GSC (Eq. 3, ``cfg.tau``, ``cfg.q``) or
    SC (Eq. 2) on g's embeddings of its clean, unaugmented inputs ``x_g``; returns the loss."""
    z = g(x_g)
    value = gsc_loss(z, y, cfg.tau, cfg.q) if loss == "gsc" else supcon_loss(z, y, cfg.tau)
    opt.zero_grad(set_to_none=True)
    value.backward()
    opt.step()
    return value.detach()


def train_alone(step: Callable[[torch.Tensor], Any], n: int, batch_size: int, gen: torch.Generator, epochs: int,
                device=None, steps: int | None = None, on_step: Callable[[int], Any] | None = None,
                on_epoch: Callable[[int], Any] | None = None) -> None:
    """Train ``g`` (or any similarity source) on its own, without ``f``: every epoch a random order
    of the ``n`` training samples (from ``gen``) and ``step(idx)`` on each full mini-batch of
    ``batch_size`` indices (on ``device``); ``on_step(k)`` after the k-th step, ``on_epoch(epoch)``
    after each epoch (1, 2, ...); stops after ``steps`` steps when given. The loop of
    ``g_pretrain_epochs`` (:func:`pretrain_source`, Fig. 5) and of the book's g-alone experiments."""
    done = 0
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=gen)
        order = order if device is None else order.to(device)
        for start in range(0, n - batch_size + 1, batch_size):
            step(order[start:start + batch_size])
            done += 1
            if on_step is not None:
                on_step(done)
            if done == steps:
                return
        if on_epoch is not None:
            on_epoch(epoch)


def pretrain_source(ctx: Context, aux, epochs: int) -> None:
    """Train the similarity source alone for ``epochs`` epochs (:func:`train_alone`, mini-batches of
    ``batch_size``, each as a pool of its own)."""
    train = ctx.splits.train
    y, b = train.y.to(ctx.device), train.b.to(ctx.device)

    def step(idx: torch.Tensor) -> None:
        aux.train_step(Pool(idx, ctx.f_inputs(idx), y[idx], b[idx], ctx), torch.arange(len(idx), device=ctx.device))

    train_alone(step, len(train), ctx.cfg.batch_size, ctx.gen, epochs, ctx.device)


def build(ctx: Context) -> Method:
    """V+Ours: ``lambda_base = 0``, ``lambda_ours = 1`` -- f is updated with CE on the mixed batch only."""
    return Method(ctx, SelecMixMixer(ctx), "selecmix")
