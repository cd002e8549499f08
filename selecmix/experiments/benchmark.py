"""Speed benchmark of the training loop on full-scale Colored MNIST (paper profile).

Measures, in one process: the seconds per epoch of Vanilla and of SelecMix, and where a SelecMix
epoch goes -- ``g``'s embedding of each selection pool (a forward pass of ``g`` over 1,024 images)
and the pair selection proper (the similarity matrix, the masked arg-min / arg-max, the coin and
lambda) -- and the projected time of a 200-epoch SelecMix run. Beside the times it counts the
multiply-accumulates (MACs) per training image of each method (:func:`macs_per_image`): the floor
under the SelecMix / Vanilla ratio that no implementation of the same algorithm can go below.
``python -m selecmix benchmark`` prints the numbers as JSON.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from ..config import Config, make_config
from ..data import BiasedSplits
from ..models import ContrastiveModel, make_classifier
from ..train import build_run, load_data, resolve_device, train_epoch


def _linear_shapes(module: torch.nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, torch.nn.Linear)]


def _train_macs(shapes: list[tuple[int, int]]) -> int:
    """MACs of one forward + backward pass of an MLP, per image: the forward, the weight gradient,
    and the input gradient of every layer but the first (the input needs none)."""
    forward = sum(i * o for i, o in shapes)
    return forward + forward + (forward - shapes[0][0] * shapes[0][1])


def macs_per_image(cfg: Config) -> dict[str, float]:
    """Multiply-accumulates per training image and epoch for Vanilla and SelecMix (MLP models).

    Vanilla: one forward + backward of ``f``. SelecMix adds a forward + backward of ``g`` (its GSC
    step), a forward of ``g`` over the pool (the embedding used for selection), the pool's
    similarity matrix (``large_batch`` dot products of the 128-d embedding per image) and the GSC
    loss's mini-batch similarity matrix (forward and backward).
    """
    f = _train_macs(_linear_shapes(make_classifier(cfg.f_arch)))
    g_shapes = _linear_shapes(ContrastiveModel(cfg.g_arch))
    embed_dim = g_shapes[-1][1]
    g_step = _train_macs(g_shapes)
    g_embed = sum(i * o for i, o in g_shapes)
    selection = cfg.large_batch * embed_dim
    gsc = 3 * cfg.batch_size * embed_dim
    selecmix = f + g_step + g_embed + selection + gsc
    return {"vanilla": f, "selecmix": selecmix, "ratio": selecmix / f,
            "shares": {"f": f / selecmix, "g_step": g_step / selecmix, "g_embed": g_embed / selecmix,
                       "selection": selection / selecmix, "gsc_loss": gsc / selecmix}}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _epoch_seconds(method_name: str, splits: BiasedSplits, epochs: int, cfg_kwargs: dict) -> dict[str, float]:
    method, ctx = build_run(make_config("cmnist", 1.0, method_name, **cfg_kwargs), splits)   # seed 0
    device = ctx.device
    clock = {"partners": 0.0, "embed": 0.0}
    if method.mixer is not None:                  # time g's embedding and the whole selection
        aux = method.mixer.source

        def timed(fn, key):
            def wrapper(*args, **kwargs):
                t0 = time.perf_counter()
                out = fn(*args, **kwargs)
                _sync(device)
                clock[key] += time.perf_counter() - t0
                return out
            return wrapper

        aux.partners = timed(aux.partners, "partners")
        if hasattr(aux, "embed"):
            aux.embed = timed(aux.embed, "embed")
    y, b = splits.train.y.to(device), splits.train.b.to(device)
    counted = []
    for epoch in range(epochs + 1):               # epoch 0 warms up and is not counted
        clock.update(partners=0.0, embed=0.0)
        t0 = time.perf_counter()
        train_epoch(method, ctx, epoch, y, b)
        _sync(device)
        if epoch:
            counted.append((time.perf_counter() - t0, clock["partners"], clock["embed"]))
    n = len(counted)
    return {"epoch_seconds": sum(c[0] for c in counted) / n,
            "embed_seconds": sum(c[2] for c in counted) / n,
            "selection_seconds": sum(c[1] - c[2] for c in counted) / n}


def run_benchmark(epochs: int = 3, data_root=None, threads: int | None = None, profile: str = "paper",
                  splits: BiasedSplits | None = None, methods: tuple[str, ...] = ()) -> dict[str, Any]:
    """Vanilla vs SelecMix seconds per epoch (mean over ``epochs`` after one warm-up epoch), and
    under ``methods`` those of any further methods (``{"vanilla": ..., name: ...}``, the same
    measurement), which the training chapter reads for its cost table.

    ``selection_share``: the pair selection proper (similarity matrix, arg-min / arg-max, coin,
    lambda) as a share of a SelecMix epoch; ``embed_share``: ``g``'s forward pass over each pool
    that the selection needs. ``profile`` and ``splits`` exist for tests on small data.
    """
    if threads:
        torch.set_num_threads(threads)
    kwargs = dict(profile=profile, data_root=data_root, threads=threads)
    cfg = make_config("cmnist", 1.0, "selecmix", **kwargs)
    splits = splits if splits is not None else load_data(cfg)
    vanilla = _epoch_seconds("vanilla", splits, epochs, kwargs)
    selecmix = _epoch_seconds("selecmix", splits, epochs, kwargs)
    macs = macs_per_image(cfg)
    epoch = selecmix["epoch_seconds"]
    timed = {"vanilla": vanilla, "selecmix": selecmix}
    for name in methods:
        timed.setdefault(name, _epoch_seconds(name, splits, epochs, kwargs))
    extra = {"methods": {m: {"seconds_per_epoch": round(t["epoch_seconds"], 3)} for m, t in timed.items()}} if methods else {}
    return {
        "device": str(resolve_device("auto")), "threads": torch.get_num_threads(), "train_images": len(splits.train),
        "profile": profile, "large_batch": cfg.large_batch, "batch_size": cfg.batch_size,
        "vanilla_epoch_seconds": round(vanilla["epoch_seconds"], 3),
        "selecmix_epoch_seconds": round(epoch, 3),
        "selecmix_over_vanilla": round(epoch / vanilla["epoch_seconds"], 2),
        "selection_share": round(selecmix["selection_seconds"] / epoch, 3),
        "embed_share": round(selecmix["embed_seconds"] / epoch, 3),
        "projected_200_epoch_selecmix_minutes": round(200 * epoch / 60, 1),
        "macs_per_image": {"vanilla": macs["vanilla"], "selecmix": macs["selecmix"],
                           "selecmix_over_vanilla": round(macs["ratio"], 2),
                           "selecmix_shares": {k: round(v, 3) for k, v in macs["shares"].items()}},
        "note": "training time only; evaluating valid + test adds about 0.1-0.2 s per epoch on a CPU",
        **extra,
    }
