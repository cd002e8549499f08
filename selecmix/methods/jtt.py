"""Just Train Twice (JTT, Liu et al., 2021).

Stage 1: train an ERM model for ``T = jtt_epochs`` epochs and collect its *error set*, the
training samples it misclassifies. Stage 2: train a fresh model on the training set with the
error set repeated ``jtt_upweight`` times in total (upsampled). The paper grid-searched T and the
upsampling factor on the test set; we use fixed defaults (overridable) and say so.
The run's history covers both stages; the reported accuracies are those of stage 2.
"""
from __future__ import annotations

import torch

from ..models import make_classifier
from .base import Context, Method, adam


class JTT(Method):
    name = "jtt"

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        self.error_set: torch.Tensor | None = None

    def total_epochs(self) -> int:
        return self.cfg.jtt_epochs + self.cfg.epochs

    def stage(self, epoch: int) -> str:
        return "identification" if epoch < self.cfg.jtt_epochs else "main"

    def on_epoch_start(self, epoch: int) -> None:
        if epoch == self.cfg.jtt_epochs:
            self.error_set = self.find_errors()
            self.f = make_classifier(self.cfg.f_arch, self.ctx.num_classes).to(self.ctx.device)
            self.opt_f = adam(self.f, self.cfg.lr, self.cfg.weight_decay)

    @torch.no_grad()
    def find_errors(self) -> torch.Tensor:
        """Indices of training samples the stage-1 model misclassifies."""
        train, wrong = self.ctx.splits.train, []
        self.f.eval()
        for start in range(0, len(train), 4096):
            images = self.ctx.train_images[start:start + 4096]
            pred = self.f(self.ctx.pipeline.f_eval(images, self.ctx.device)).argmax(1).cpu()
            wrong.append(pred != train.y[start:start + 4096])
        self.f.train()
        return torch.nonzero(torch.cat(wrong)).flatten()

    def epoch_order(self, epoch: int) -> torch.Tensor:
        n = len(self.ctx.splits.train)
        if self.error_set is None or epoch < self.cfg.jtt_epochs:
            return torch.randperm(n, generator=self.ctx.gen)
        upsampled = torch.cat([torch.arange(n), self.error_set.repeat(self.cfg.jtt_upweight - 1)])
        return upsampled[torch.randperm(len(upsampled), generator=self.ctx.gen)]

    def extra_state(self):
        return {"error_set": self.error_set}

    def load_extra_state(self, state):
        self.error_set = state.get("error_set")


def build(ctx: Context) -> Method:
    return JTT(ctx)
