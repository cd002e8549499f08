"""Probes of trained runs: Table 3's linear probe for bias labels on a run's biased model, f's
active units, and both recomputed for recorded runs from their checkpoints (``python -m
selecmix reprobe``).
"""
from __future__ import annotations

import os
from typing import Any, Callable

import torch

from ..config import from_dict
from ..data import BiasedSplits
from ..evaluate import active_units
from ..methods import Context, Method
from ..train import build_run
from .records import read_result, write_result

PROBE_VERSION = 2   # 2: logistic regression on standardised features (1: unstandardised)


def bias_probe(features_train: torch.Tensor, b_train: torch.Tensor, features_test: torch.Tensor,
               b_test: torch.Tensor, seed: int = 0) -> float:
    """Table 3: accuracy (percent) of a linear classifier predicting the *bias* label from frozen
    features (a multinomial logistic regression on standardised training features)."""
    # scikit-learn takes about a second to import and only the probes need it
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    clf.fit(features_train.cpu().numpy(), b_train.cpu().numpy())
    return 100 * float(clf.score(features_test.cpu().numpy(), b_test.cpu().numpy()))


@torch.no_grad()
def bias_probe_on(features: Callable[[torch.Tensor], torch.Tensor], splits, max_train: int = 10000) -> float:
    """Table 3's protocol: :func:`bias_probe` on ``features`` (a function of uint8 images) of up to
    ``max_train`` training images (a fixed random subset) and of the whole test split."""
    train, test = splits.train, splits.test
    keep = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:max_train]

    def embed(images):
        return torch.cat([features(chunk).cpu() for chunk in images.split(2048)])

    return bias_probe(embed(train.images[keep]), train.b[keep], embed(test.images), test.b)


def f_active_units(method: Method, ctx: Context, n: int = 2048) -> list[int] | None:
    """Active units per hidden layer of the MLP ``f`` on the first ``n`` test images, as ``f``
    sees them (:func:`selecmix.evaluate.active_units`) -- of ``method.f_body``, the MLP inside
    HEX's and DFA's larger nets; None for a ResNet ``f``."""
    images = ctx.pipeline.f_eval(ctx.splits.test.images[:n].to(ctx.device), ctx.device)
    return active_units(method.f_body, images)


def biased_features(method: Method, ctx: Context):
    """The features of the run's biased model as a function of uint8 images: SelecMix's ``g``
    (the embedding of its similarity source) or LfF's biased model; None for other methods."""
    source = getattr(method.mixer, "source", None)
    if hasattr(source, "embed"):
        return lambda images: source.embed(ctx.pipeline.g_input(images.to(ctx.device), ctx.device))
    if hasattr(method, "b_model"):
        def features(images):
            method.b_model.eval()
            return method.b_model.features(ctx.pipeline.f_eval(images.to(ctx.device), ctx.device))
        return features
    return None


@torch.no_grad()
def bias_probe_of(method: Method, ctx: Context, max_train: int = 10000) -> float | None:
    """Table 3's bias-label probe (:func:`bias_probe_on`) on the run's biased
    model (:func:`biased_features`); None for methods without one."""
    features = biased_features(method, ctx)
    return None if features is None else bias_probe_on(features, ctx.splits, max_train)


def load_checkpointed(checkpoint: str | os.PathLike, splits: BiasedSplits | None = None,
                      finished: bool = True) -> tuple[Method, Context, dict[str, Any]]:
    """The method of a run as its checkpoint left it (models and optimisers), with its context and
    the checkpoint itself (``epoch_done``, ``history``, ``config``). ``finished``: refuse a
    checkpoint of a run that stopped before its last epoch."""
    state = torch.load(checkpoint, weights_only=True, map_location="cpu")
    method, ctx = build_run(from_dict(state["config"]), splits)
    if finished and state["epoch_done"] < method.total_epochs():
        raise ValueError(f"checkpoint {checkpoint} is not a finished run")
    method.load_state_dict(state["method"])        # copies onto the models' device
    return method, ctx, state


def reprobe(result_file: str | os.PathLike, checkpoint: str | os.PathLike, splits: BiasedSplits | None = None) -> float | None:
    """Recompute Table 3's probe of a recorded run from its final checkpoint with the current probe,
    and f's active units (:func:`f_active_units`), and store them in the result file
    (``aux_bias_probe``, ``aux_bias_probe_version``, ``f_active_units``)."""

    result = read_result(result_file)
    method, ctx, _ = load_checkpointed(checkpoint, splits)
    probe = bias_probe_of(method, ctx)
    if probe is not None:
        result.update(aux_bias_probe=probe, aux_bias_probe_version=PROBE_VERSION)
    if (units := f_active_units(method, ctx)) is not None:
        result["f_active_units"] = units
    write_result(result_file, result)
    return probe
