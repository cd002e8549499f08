"""What every training method shares: the selection pool, the debiased model ``f`` and one step.

A training epoch walks the training set in *pools* (the official code's "large batch", 1024
samples). Methods that select pairs (SelecMix, LISA) choose them within the pool; every method
then updates ``f`` on mini-batches of the pool (4 x 256). The loss of ``f`` is, as in paper App.
A.2, ``L = lambda_base * L_base(B) + lambda_ours * L_mix(B~)``: the base method's loss (CE for
Vanilla, LfF's re-weighted CE for LfF) plus the loss on the mixed batch of a *mixer* (mixup,
LISA, SelecMix), if any.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ..config import Config
from ..data import BiasedSplits, InputPipeline
from ..models import make_classifier


@dataclass
class Context:
    """What a method needs to know about its run."""

    cfg: Config
    splits: BiasedSplits
    pipeline: InputPipeline
    device: torch.device
    gen: torch.Generator                 # the run's RNG for shuffling, augmentation and mixing
    train_images: torch.Tensor = None    # training images on the run's device
    _inputs: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)   # see _converted_once

    @property
    def num_classes(self) -> int:
        return self.splits.train.num_classes

    def _converted_once(self, key: str, convert) -> torch.Tensor:
        """Where a model's inputs are the same every epoch (no augmentation: Colored MNIST), a whole
        split is converted once and then indexed -- the same values as converting each batch, without
        doing it again in every epoch (about 15 % of an MLP epoch on a CPU)."""
        if key not in self._inputs:
            self._inputs[key] = convert()
        return self._inputs[key]

    def f_inputs(self, idx: torch.Tensor) -> torch.Tensor:
        """f's training inputs of the training samples ``idx`` (``pipeline.f_train``)."""
        if not self.pipeline.deterministic:
            return self.pipeline.f_train(self.train_images[idx], self.gen, self.device)
        return self._converted_once("f", lambda: self.pipeline.f_eval(self.train_images, self.device))[idx]

    def g_inputs(self, idx: torch.Tensor) -> torch.Tensor:
        """The auxiliary model's inputs of the training samples ``idx`` (``pipeline.g_input``)."""
        if not self.pipeline.deterministic:
            return self.pipeline.g_input(self.train_images[idx], self.device)
        return self._converted_once("g", lambda: self.pipeline.g_input(self.train_images, self.device))[idx]

    def eval_inputs(self, split: str) -> torch.Tensor | None:
        """f's inputs of a whole evaluation split (``"valid"`` / ``"test"``), or None where they are
        not fixed (then :func:`selecmix.evaluate.predictions` converts each batch)."""
        if not self.pipeline.deterministic:
            return None
        images = getattr(self.splits, split).images
        return self._converted_once(split, lambda: self.pipeline.f_eval(images, self.device))


@dataclass
class Pool:
    """One selection pool ("large batch"): indices into the training set, f's inputs, labels."""

    idx: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    b: torch.Tensor
    ctx: Context
    _x_g: torch.Tensor | None = field(default=None, repr=False)

    @property
    def x_g(self) -> torch.Tensor:
        """The auxiliary model's input: unaugmented, clean scale (computed once per pool)."""
        if self._x_g is None:
            self._x_g = self.ctx.g_inputs(self.idx)
        return self._x_g

    def minibatches(self, size: int):
        for start in range(0, len(self.idx), size):
            yield torch.arange(start, min(start + size, len(self.idx)), device=self.y.device)


def adam(module: torch.nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam; the fused kernel where this torch has it (same numbers, ~10 % faster on a CPU)."""
    try:
        return torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)


class Mixer:
    """A source of mixed samples for ``f`` (mixup, LISA, SelecMix)."""

    def setup(self) -> None:
        """Called once before the first epoch (e.g. to pretrain an auxiliary model)."""

    def prepare(self, pool: Pool) -> Any:
        """Per-pool work (pair selection); the result is passed to :meth:`loss`."""

    def loss(self, f: torch.nn.Module, pool: Pool, batch: torch.Tensor, state: Any) -> torch.Tensor:
        raise NotImplementedError

    def after_step(self, pool: Pool, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Called after f's update on mini-batch ``batch`` (SelecMix trains ``g`` here, Alg. 2 line 8)."""
        return {}

    def modules(self) -> dict[str, Any]:
        """Models and optimisers to checkpoint."""
        return {}

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        pass


class Method:
    """Vanilla training (ERM with cross-entropy) and the machinery every method reuses."""

    name = "vanilla"

    def __init__(self, ctx: Context, mixer: Mixer | None = None, name: str | None = None):
        self.ctx, self.cfg, self.mixer = ctx, ctx.cfg, mixer
        self.name = name or self.name
        self.f = make_classifier(self.cfg.f_arch, ctx.num_classes).to(ctx.device)
        self.opt_f = adam(self.f, self.cfg.lr, self.cfg.weight_decay)
        self.observer = None          # optional callback after each update of f (see train(on_step=))

    # ---- schedule hooks
    def total_epochs(self) -> int:
        return self.cfg.epochs

    def stage(self, epoch: int) -> str:
        return "main"

    def setup(self) -> None:
        if self.mixer is not None:
            self.mixer.setup()

    def on_epoch_start(self, epoch: int) -> None:
        pass

    def epoch_order(self, epoch: int) -> torch.Tensor:
        return torch.randperm(len(self.ctx.splits.train), generator=self.ctx.gen)

    # ---- one pool, one step
    def train_pool(self, pool: Pool) -> dict[str, torch.Tensor]:
        state = self.mixer.prepare(pool) if self.mixer is not None else None
        totals: dict[str, torch.Tensor] = {}
        for batch in pool.minibatches(self.cfg.batch_size):
            logs = self.step(pool, batch, state)
            if self.observer is not None:
                self.observer(self, pool, batch, state, logs)
            for key, value in logs.items():
                totals[key] = totals.get(key, 0.0) + value.detach()
        return totals

    def base_loss(self, pool: Pool, batch: torch.Tensor) -> torch.Tensor:
        """L_base: plain cross-entropy on the unmixed mini-batch."""
        return F.cross_entropy(self.f(pool.x[batch]), pool.y[batch])

    def step(self, pool: Pool, batch: torch.Tensor, state: Any) -> dict[str, torch.Tensor]:
        """One update of f with ``lambda_base * L_base + lambda_ours * L_mix``, then the mixer's hook."""
        logs, loss = {}, 0.0
        if self.mixer is None or self.cfg.lambda_base:
            weight = self.cfg.lambda_base if self.mixer is not None else 1.0
            logs["base"] = self.base_loss(pool, batch)
            loss = loss + weight * logs["base"]
        if self.mixer is not None and self.cfg.lambda_ours:
            logs["mix"] = self.mixer.loss(self.f, pool, batch, state)
            loss = loss + self.cfg.lambda_ours * logs["mix"]
        logs["loss"] = loss
        self.opt_f.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_f.step()
        if self.mixer is not None:
            logs.update(self.mixer.after_step(pool, batch))
        return logs

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The debiased model's logits on f-inputs (evaluation)."""
        return self.f(x)

    @property
    def f_body(self) -> torch.nn.Module:
        """The network whose hidden units count as f's (the collapse rule's dead layer): ``f``
        itself; methods that wrap ``f``'s MLP in a larger net name that MLP."""
        return self.f

    def train_mode(self, on: bool) -> None:
        for m in self.all_modules().values():
            if isinstance(m, torch.nn.Module):
                m.train(on)

    # ---- state for checkpoints
    def modules(self) -> dict[str, Any]:
        return {"f": self.f, "opt_f": self.opt_f}

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def all_modules(self) -> dict[str, Any]:
        mixer = self.mixer.modules() if self.mixer is not None else {}
        return {**self.modules(), **{f"mixer.{k}": v for k, v in mixer.items()}}

    def state_dict(self) -> dict[str, Any]:
        state = {name: obj.state_dict() for name, obj in self.all_modules().items()}
        state["extra"] = self.extra_state()
        state["mixer"] = self.mixer.state() if self.mixer is not None else {}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, obj in self.all_modules().items():
            obj.load_state_dict(state[name])
        self.load_extra_state(state.get("extra", {}))
        if self.mixer is not None:
            self.mixer.load_state(state.get("mixer", {}))
