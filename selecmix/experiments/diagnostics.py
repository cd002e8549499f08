"""Why a Colored MNIST run collapses: dead ReLU layers in the MLP ``f``.

One of our three full-scale SelecMix runs at 1 % (seed 2) never left chance (11 %): every unit of
f's 16-unit hidden layer was inactive on every input from the first epoch on. A layer with no
active unit passes nothing forward and no gradient back, so it cannot recover: 200 epochs later it
is still dead. The official input scale feeds f images in [0, 1/255]; the first layer's output is
then almost only its bias, the net's outputs barely depend on the input, and one bad Adam step
can push a whole narrow layer below zero.

:func:`collapse_scan` measures how often that happens: it trains the first epoch(s) of many seeds
and counts f's active units, for each method and input scale. ``python -m selecmix collapse-scan``
records the scan as a JSON file that the training chapter shows.
"""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import torch

from ..config import OFFICIAL_G, from_dict, make_config
from ..data import BiasedSplits
from ..data.cache import atomic_write
from ..data.transforms import InputPipeline
from ..evaluate import active_units
from ..methods.base import Pool
from ..methods.selecmix import g_optimizer, g_step, train_alone
from ..models import ContrastiveModel
from ..selection import KINDS, pairs_from_similarity
from .pair_stats import pair_precision_recall, partner_sources
from .probes import f_active_units, load_checkpointed
from .records import device_description, git_commit, run_label, run_name
from .runs import train_run


def first_epochs(method: str, seed: int, splits: BiasedSplits, input_scale: str, epochs: int = 1,
                 ratio: float = 1.0, profile: str = "paper", pairs: str = "AB",
                 label_noise: float = 0.0, g_pretrain_epochs: int | None = None,
                 similarity: str = "gsc", random_warmup_pools: int = 0) -> dict[str, Any]:
    """Train the first ``epochs`` epochs of one run (``profile`` settings, ``input_scale`` for f,
    SelecMix's pair set ``pairs`` of Table 4, ``label_noise`` of Fig. 3 -- ``splits`` must carry
    that noise -- and, for Fig. 5, ``g`` pretrained alone for ``g_pretrain_epochs`` epochs with
    ``similarity``'s loss and then frozen; ``random_warmup_pools``: this book's remedy, random
    partners for the first pools) and return f's active units per hidden layer, its loss
    and its unbiased test accuracy then. ``label`` names the full run of the same method and
    variant (:func:`selecmix.experiments.records.run_label`, the input scale left out: it is a column of its own)."""
    frozen_g = ({"g_pretrain_epochs": g_pretrain_epochs, "similarity": similarity}
                if "selecmix" in method and (g_pretrain_epochs is not None or similarity != "gsc") else {})
    remedy = {"random_warmup_pools": random_warmup_pools} if "selecmix" in method and random_warmup_pools else {}
    variant = {"pairs": pairs, "label_noise": float(label_noise), **frozen_g, **remedy}
    cfg = make_config("cmnist", ratio, method, profile, seed=seed, input_scale=input_scale, **variant)
    run = train_run(cfg, splits=splits, progress=False, stop_after=epochs, keep=True)
    images = InputPipeline("cmnist", input_scale).f_eval(splits.test.images[:2048])
    units = active_units(run["method"].f, images)
    last = run["history"][-1]
    return {"method": method, "label": run_label(make_config("cmnist", ratio, method, profile, **variant)),
            **variant, "seed": seed, "input_scale": input_scale,
            "epochs": epochs, "active_units": units, "dead_layer": min(units) == 0,
            "loss": round(last["loss"]["loss"], 4), "test_unbiased": round(last["test"]["unbiased"], 2)}


def collapse_scan(splits: BiasedSplits, methods: Iterable[str] = ("vanilla", "selecmix"),
                  seeds: Iterable[int] = range(10), scales: Iterable[str] = ("official", "clean"),
                  epochs: int = 1, ratio: float = 1.0, profile: str = "paper",
                  pairs: Iterable[str] = ("AB",), label_noise: float = 0.0,
                  g_pretrain: Iterable[tuple[str, int | None]] = (("gsc", None),),
                  warmups: Iterable[int] = (0,)) -> list[dict[str, Any]]:
    """:func:`first_epochs` for every (input scale, method, pair set, auxiliary model, random
    warm-up length, seed): the rows of the scan. The pair set and ``g_pretrain`` -- (similarity, pretraining epochs or None for
    g trained with f) pairs, Fig. 5 -- only matter to the SelecMix methods; the others are scanned
    once. ``splits`` carry ``label_noise`` (percent), the same for every row."""
    pairs, g_pretrain, warmups = tuple(pairs), tuple(g_pretrain), tuple(warmups)
    return [first_epochs(m, s, splits, scale, epochs, ratio, profile, p, label_noise, k, sim, w)
            for scale in scales for m in methods for p in (pairs if "selecmix" in m else ("AB",))
            for sim, k in (g_pretrain if "selecmix" in m else (("gsc", None),))
            for w in (warmups if "selecmix" in m else (0,)) for s in seeds]


def scan_label(row: dict[str, Any]) -> str:
    """The table label of a scanned run (``selecmix``, ``selecmix-pairsB``, ``selecmix-noise0.5``),
    as :func:`selecmix.experiments.records.run_label` names the full run of the same config. Scans recorded
    before rows carried a label scanned the pair set AB (or ``pairs``) without label noise."""
    if "label" in row:
        return row["label"]
    pairs = row.get("pairs", "AB")
    return row["method"] if pairs == "AB" else f"{row['method']}-pairs{pairs}"


def collapse_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (input scale, method and pair set -- :func:`scan_label`): how many seeds ended the scan
    with a dead layer, and the mean number of active units in f's narrowest (16-unit) layer."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["input_scale"], scan_label(r)), []).append(r)
    return [{"input_scale": scale, "method": method, "seeds": len(rs),
             "dead": sum(r["dead_layer"] for r in rs),
             "dead_seeds": [r["seed"] for r in rs if r["dead_layer"]],
             "mean_active_last_layer": round(sum(r["active_units"][-1] for r in rs) / len(rs), 2)}
            for (scale, method), rs in groups.items()]


def g_pair_scan(splits: BiasedSplits, arch: str, ratio: float, steps: int, every: int = 25, pools: int = 4,
                seed: int = 0, profile: str = "paper") -> dict[str, Any]:
    """How well ``g`` of architecture ``arch`` finds contradicting pairs while it trains.

    ``g`` is trained alone, as inside SelecMix (GSC, the profile's optimiser and mini-batches, clean
    unaugmented input), for ``steps`` mini-batches; before the first and after every ``every``
    steps, the pairs it would select (Eqs. 4, 5) in ``pools`` fixed selection pools of the
    training split are scored against the bias labels (:func:`.pair_stats.pair_precision_recall`,
    mean over the pools). Comparing ``mlp`` (ours for Colored MNIST) with ``resnet18_cifar`` (the
    official code's g) isolates what g's architecture does to the pairs SelecMix mixes, without
    the days a full ResNet18 run takes on a CPU.
    """
    cfg = make_config("cmnist", ratio, "selecmix", profile, seed=seed, g_arch=arch)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    pipeline = InputPipeline("cmnist", cfg.input_scale)
    train = splits.train
    g = ContrastiveModel(arch)
    opt = g_optimizer(g, cfg)
    pool_gen = torch.Generator().manual_seed(1234)
    pool_idx = [torch.randperm(len(train), generator=pool_gen)[:cfg.large_batch] for _ in range(pools)]
    curve: list[dict[str, Any]] = []

    def score(step: int) -> None:
        g.eval()
        found = {f"{k}_{m}": 0.0 for k in KINDS for m in ("precision", "recall")}
        with torch.no_grad():
            for idx in pool_idx:
                z = torch.cat([g(c) for c in pipeline.g_input(train.images[idx]).split(256)])
                for kind in KINDS:
                    pr = pair_precision_recall(pairs_from_similarity(z @ z.T, train.y[idx], kind),
                                               train.y[idx], train.b[idx], kind)
                    found[f"{kind}_precision"] += pr["precision"] / pools
                    found[f"{kind}_recall"] += pr["recall"] / pools
        g.train()
        curve.append({"step": step, **{k: round(v, 2) for k, v in found.items()}})

    t0 = time.perf_counter()
    score(0)
    epochs = -(-steps // (len(train) // cfg.batch_size))          # enough epochs to make ``steps``
    x_g = pipeline.g_input(train.images)
    train_alone(lambda idx: g_step(g, opt, x_g[idx], train.y[idx], cfg), len(train), cfg.batch_size, gen, epochs,
                steps=steps, on_step=lambda step: score(step) if step % every == 0 or step == steps else None)
    return {"arch": arch, "ratio": ratio, "seed": seed, "steps": steps, "batch_size": cfg.batch_size,
            "large_batch": cfg.large_batch, "pools": pools, "seconds": round(time.perf_counter() - t0, 1),
            "curve": curve}


def partner_sources_of(method, ctx, pools: int = 20, seed: int = 0) -> dict[str, float]:
    """Who SelecMix's ``g`` picks as partners, by the true labels (:func:`selecmix.experiments.pair_stats.partner_sources`),
    averaged over ``pools`` random selection pools of the training set: per pair kind, the share of
    chosen partners that are mislabelled and that are genuine bias-conflicting samples. The base
    rates -- their share of the training set -- come with them."""
    train, cfg = ctx.splits.train, ctx.cfg
    gen = torch.Generator().manual_seed(seed)
    sums = {f"{kind}_{what}": 0.0 for kind in KINDS for what in ("mislabelled", "conflicting")}
    for _ in range(pools):
        idx = torch.randperm(len(train), generator=gen)[:cfg.large_batch]
        y, y_clean, b = (t[idx].to(ctx.device) for t in (train.y, train.y_clean, train.b))
        pool = Pool(idx.to(ctx.device), None, y, b, ctx)
        for kind in KINDS:
            for what, share in partner_sources(method.mixer.source.partners(pool, kind), y, y_clean, b).items():
                sums[f"{kind}_{what}"] += share / pools
    base = partner_sources(torch.arange(len(train)), train.y, train.y_clean, train.b)   # every sample "chosen"
    return {**{k: round(v, 2) for k, v in sums.items()}, **{f"base_{k}": round(v, 2) for k, v in base.items()}}


def partner_scan(checkpoints: Iterable[str | os.PathLike], pools: int = 20) -> list[dict[str, Any]]:
    """:func:`partner_sources_of` for the ``g`` of each checkpointed SelecMix run (as it ended, or
    where an unfinished run stands), with the run's label, seed, epoch and f's active units."""
    rows = []
    for path in checkpoints:
        method, ctx, state = load_checkpointed(path, finished=False)
        if method.mixer is None or not hasattr(method.mixer, "source"):
            raise ValueError(f"{path} is not a SelecMix run ({ctx.cfg.method}): it has no partners to scan")
        rows.append({"name": run_name(ctx.cfg), "label": run_label(ctx.cfg), "seed": ctx.cfg.seed,
                     "label_noise": ctx.cfg.label_noise, "epoch": state["epoch_done"],
                     "f_active_units": f_active_units(method, ctx), **partner_sources_of(method, ctx, pools)})
    return rows


def write_scan(path: str | os.PathLike, rows: list[dict[str, Any]], command: str, seconds: float,
               kind: str = "collapse-scan") -> Path:
    """Record a scan (rows, summary, command, commit, date, device, torch) atomically as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"kind": kind, "command": command, "commit": git_commit(),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "device": device_description(torch.device("cpu")), "torch": torch.__version__,
              "wall_seconds": round(seconds, 1), "rows": rows}
    if kind == "collapse-scan":
        record["summary"] = collapse_summary(rows)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=1)))
    return path


def read_scan(path: str | os.PathLike) -> dict[str, Any] | None:
    """A recorded scan, or None when the file does not exist yet."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None


#: Partner sources of the collapse investigation: the paper profile's MLP g, the official code's g
#: (CIFAR-stem ResNet18 + head, similarities in train mode) and random partners (same coin,
#: lambda and label rule); all three with the official double-scaled inputs for f.
TRACE_SOURCES = {"mlp": {}, "official": OFFICIAL_G, "random": {"similarity": "random"}}


def partner_trace(splits: BiasedSplits, ratio: float, seed: int, source: str, epochs: int = 1,
                  profile: str = "paper", probe: int = 2048) -> dict[str, Any]:
    """V+Ours for its first ``epochs`` epochs with partners from ``source`` (:data:`TRACE_SOURCES`),
    recorded after every update of f: its loss, the active units of each hidden layer of f (on the
    first ``probe`` test images), the pair kind of the pool, and, over the pool's 1,024 queries,
    the share of chosen partners that are bias-conflicting samples, the share of pairs that are
    truly contradicting (precision by the bias labels) and the largest number of queries that
    share one partner. Ends with the unbiased test accuracy after each epoch."""
    if source not in TRACE_SOURCES:
        raise ValueError(f"unknown partner source {source!r}; choose one of {sorted(TRACE_SOURCES)}")
    cfg = make_config("cmnist", ratio, "selecmix", profile, seed=seed, **TRACE_SOURCES[source])
    images = InputPipeline("cmnist", cfg.input_scale).f_eval(splits.test.images[:probe])
    steps: list[dict[str, Any]] = []
    pool_stats: dict[int, dict[str, Any]] = {}

    def observe(method, pool, q, selection, logs):
        key = id(selection)
        if key not in pool_stats:                      # partners are chosen once per pool
            pool_stats.clear()
            k = selection.partner[selection.partner >= 0]
            conflicting = (pool.b[k] != pool.y[k]).float().mean() if len(k) else torch.tensor(0.0)
            pool_stats[key] = {
                "kind": selection.kind, "partners_conflicting": round(100 * float(conflicting), 2),
                "precision": round(pair_precision_recall(selection.partner, pool.y, pool.b, selection.kind)["precision"], 2),
                "max_shared": int(torch.bincount(k).max()) if len(k) else 0}
        steps.append({"step": len(steps) + 1, "loss": round(float(logs["loss"].detach()), 4),
                      "active_units": active_units(method.f, images), **pool_stats[key]})

    t0 = time.perf_counter()
    run = train_run(cfg, splits=splits, progress=False, stop_after=epochs, on_step=observe)
    dead = next((s["step"] for s in steps if min(s["active_units"]) == 0), None)
    return {"source": source, "ratio": ratio, "seed": seed, "epochs": epochs, "config": {
                k: getattr(cfg, k) for k in ("g_arch", "g_similarity_mode", "similarity", "input_scale")},
            "first_dead_step": dead, "final_active_units": steps[-1]["active_units"],
            "test_unbiased": [h["test"]["unbiased"] for h in run["history"]],
            "seconds": round(time.perf_counter() - t0, 1), "steps": steps}


def trace_path(folder: str | os.PathLike, source: str, ratio: float, seed: int) -> Path:
    """Where :func:`partner_trace` of one (source, ratio, seed) is recorded."""
    return Path(folder) / f"trace-{source}-{ratio:g}pct-s{seed}.json"


def read_traces(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """Every recorded trace under ``folder`` (see :func:`trace_path`)."""
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob("trace-*.json"))]


# --------------------------------------------------------------------------- replaying recorded runs
def replay_first_epoch(result: dict[str, Any], splits: BiasedSplits | None = None) -> dict[str, Any]:
    """Retrain the first epoch of a recorded run from its stored config on this machine and
    compare it with the record: the epoch's mean training loss and unbiased test accuracy, then
    and now. Same code, seed and data give the same numbers on one machine; across machines (a
    different CPU and so different float kernels) a method whose pair selection is an arg-max over
    similarities can part after the first rounding difference, a method without one cannot."""
    cfg = from_dict({**result["config"], "threads": 1})
    run = train_run(cfg, splits=splits, progress=False, stop_after=1)
    then, now = result["history"][0], run["history"][0]
    return {"name": result["name"], "label": result["label"], "recorded_commit": result.get("commit"),
            "recorded_device": result.get("device"),
            "loss_then": then["loss"]["loss"], "loss_now": round(now["loss"]["loss"], 4),
            "test_then": then["test"]["unbiased"], "test_now": round(now["test"]["unbiased"], 4),
            "same": round(now["loss"]["loss"], 4) == then["loss"]["loss"]
                    and round(now["test"]["unbiased"], 4) == then["test"]["unbiased"]}
