"""Command line: ``python -m selecmix {data,train,table} ...`` (``--help`` on each)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields

from ..config import (
    DATASETS,
    METHODS,
    PAIR_SETS,
    PROFILES,
    SIMILARITIES,
    Config,
    make_config,
)

# Config fields exposed as --options, with their help text.
_OPTIONS = {
    "data_root": "folder with the raw data (default: $SELECMIX_DATA, else the repository's data/)",
    "source": "where images come from: mnist | embedded (cmnist), cifar10 (cifar10c), dfa (release folders)",
    "data_seed": "seed of the dataset build (colours, bias assignment, splits); default 0",
    "severity": "cmnist colour-noise severity 1..5 (LfF, default 4); cifar10c CIFAR-10-C level (default 5)",
    "train_size": "keep a class-stratified subset of this many training images",
    "test_size": "cifar10c: keep a class-stratified subset of this many test images",
    "label_noise": "beta in percent: share of training labels replaced by another class (Fig. 3)",
    "input_scale": "cmnist input of f: official ([0, 1/255], the paper's double /255) or clean ([0, 1])",
    "epochs": "training epochs (paper: cmnist 200, cifar10c 300, bffhq 200)",
    "large_batch": "selection pool size (official: 1024, BFFHQ 256)",
    "batch_size": "mini-batch size of each update (paper: 256, BFFHQ 64)",
    "lr": "learning rate of f (Adam)",
    "weight_decay": "weight decay of f",
    "f_arch": "architecture of f: mlp | resnet18 | resnet18_cifar",
    "g_arch": "architecture of g: mlp | resnet18 | resnet18_cifar (the official code's)",
    "g_optimizer": "optimiser of g: adam | sgd",
    "g_lr": "learning rate of g",
    "g_weight_decay": "weight decay of g",
    "g_pretrain_epochs": "pretrain g alone for this many epochs, then freeze it (Fig. 5); default: train with f",
    "tau": "temperature of the SC / GSC losses (0.2)",
    "q": "exponent of GCE / GSC (0.7)",
    "similarity": f"similarity for pair selection: {' | '.join(SIMILARITIES)}",
    "pairs": f"pair sets: {' | '.join(PAIR_SETS)} (A: contradicting positives, B: negatives)",
    "lambda_base": "weight of the base method's loss (V+Ours 0, L+Ours 1)",
    "lambda_ours": "weight of the mixed-batch loss (V+Ours 1, L+Ours 0.1)",
    "jtt_epochs": "JTT: stage-1 epochs T",
    "jtt_upweight": "JTT: upsampling factor of the error set",
    "device": "auto (CUDA when present) | cpu | cuda",
    "threads": "torch CPU threads (use 1 per run when running several at once)",
}


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    types = {f.name: f.type for f in fields(Config)}
    for name, text in _OPTIONS.items():
        kind = types[name]
        conv = int if "int" in str(kind) else float if "float" in str(kind) else str
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=conv, default=None, help=text)


def _ratio_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ratio", type=float, default=1.0,
                        help="bias-conflicting ratio alpha in percent (paper: 0.5, 1, 2, 5)")


def cmd_data(args: argparse.Namespace) -> int:
    from ..data import load_splits

    splits = load_splits(args.dataset, args.ratio, args.source or "auto", args.data_root, args.data_seed,
                         args.severity, args.train_size, args.label_noise or 0.0)
    summary = splits.summary()
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(f"{args.dataset} at {args.ratio:g} % bias-conflicting")
    print(f"{'split':<8}{'size':>8}{'aligned':>10}{'conflicting':>13}{'conflicting %':>15}")
    for name, s in summary["splits"].items():
        print(f"{name:<8}{s['size']:>8}{s['aligned']:>10}{s['conflicting']:>13}{100 * s['conflicting'] / max(s['size'], 1):>14.2f}%")
    print(f"sha256 of the training images: {summary['sha256']}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from ..train import train

    overrides = {name: getattr(args, name) for name in _OPTIONS}
    cfg = make_config(args.dataset, args.ratio, args.method, args.profile, seed=args.seed, **overrides)
    result = train(cfg, out=args.out, resume=args.resume, force=args.force,
                   progress=False if args.no_progress else None)
    print(json.dumps({k: result.get(k) for k in ("name", "best_test_unbiased", "last_test_unbiased",
                                                  "best_test_conflicting", "valid_selected_test_unbiased",
                                                  "wall_seconds")}, indent=1))
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from .paper import TABLES
    from .tables import comparison_rows, format_table, load_results

    results = load_results(args.results)
    datasets = [args.dataset] if args.dataset else sorted({r["dataset"] for r in results}) or ["cmnist"]
    key = f"{args.protocol}_test_{args.metric}" if args.protocol != "valid" else "valid_selected_test_unbiased"
    for dataset in datasets:
        rows = comparison_rows(results, dataset, args.table, key, args.profile)
        title = (f"Table {args.table} -- {dataset}: {key} (ours: mean ± std over seeds, n; "
                 f"paper: mean; diff = ours - paper), profile {args.profile}")
        print(format_table(rows, dataset, title))
        print()
    if args.table not in TABLES:
        return 2
    return 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    from .benchmark import run_benchmark

    print(json.dumps(run_benchmark(args.epochs, args.data_root, args.threads), indent=1))
    return 0


def cmd_collapse_scan(args: argparse.Namespace) -> int:
    import time

    import torch

    from ..data import load_splits
    from .diagnostics import collapse_scan, collapse_summary, write_scan

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    g_pretrain = [(sim, k) for sim in args.similarity for k in (args.g_pretrain_epochs or [None])]
    rows = []
    for beta in args.label_noise:          # one dataset per noise level, as the full runs load it
        splits = load_splits("cmnist", args.ratio, source="mnist", data_root=args.data_root, label_noise=beta)
        rows += collapse_scan(splits, args.methods, range(args.seeds), args.scales, args.epochs, args.ratio,
                              pairs=args.pairs, label_noise=beta, g_pretrain=g_pretrain)
    for row in collapse_summary(rows):
        print(row)
    path = write_scan(args.out, rows, _command_line(), time.perf_counter() - t0)
    print(f"wrote {path}")
    return 0


def cmd_g_scan(args: argparse.Namespace) -> int:
    import time

    import torch

    from ..data import load_splits
    from .diagnostics import g_pair_scan, write_scan

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    splits = load_splits("cmnist", args.ratio, source="mnist", data_root=args.data_root)
    rows = []
    for arch in args.archs:
        rows.append(g_pair_scan(splits, arch, args.ratio, args.steps, args.every, args.pools))
        last = rows[-1]["curve"][-1]
        print(arch, f"{rows[-1]['seconds']} s", {k: v for k, v in last.items() if k != "step"}, flush=True)
    path = write_scan(args.out, rows, _command_line(), time.perf_counter() - t0, kind="g-scan")
    print(f"wrote {path}")
    return 0


def cmd_partner_scan(args: argparse.Namespace) -> int:
    import time

    import torch

    from .diagnostics import partner_scan, write_scan

    torch.set_num_threads(args.threads)
    missing = [p for p in args.checkpoints if not os.path.exists(p)]
    if missing:
        print(f"error: no such checkpoint: {', '.join(missing)} (runs keep them in <results>/checkpoints/)", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    rows = partner_scan(args.checkpoints, args.pools)
    for row in rows:
        print(row, flush=True)
    path = write_scan(args.out, rows, _command_line(), time.perf_counter() - t0, kind="partner-scan")
    print(f"wrote {path}")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    import time
    from datetime import datetime, timezone
    from pathlib import Path

    import torch

    from ..data import load_splits
    from ..records import atomic_write, device_description, git_commit
    from .diagnostics import partner_trace, trace_path

    torch.set_num_threads(args.threads)
    for ratio in args.ratios:
        splits = load_splits("cmnist", ratio, source="mnist", data_root=args.data_root)
        for seed in args.seeds:
            for source in args.sources:
                path = trace_path(args.out, source, ratio, seed)
                if path.exists() and not args.force:
                    print(f"recorded {path}", flush=True)
                    continue
                t0 = time.perf_counter()
                trace = partner_trace(splits, ratio, seed, source, args.epochs)
                record = {"kind": "partner-trace", "command": _command_line(), "commit": git_commit(),
                          "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          "device": device_description(torch.device("cpu")), "torch": torch.__version__,
                          "wall_seconds": round(time.perf_counter() - t0, 1), **trace}
                atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=0)))
                print(f"wrote {path}: first dead step {trace['first_dead_step']}, units at the end "
                      f"{trace['final_active_units']}, test {trace['test_unbiased']}", flush=True)
    return 0


def _command_line() -> str:
    import sys

    return "python -m selecmix " + " ".join(sys.argv[1:])


def cmd_reprobe(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..records import read_result
    from ..train import PROBE_VERSION
    from .probes import reprobe

    for path in sorted(Path(args.results).rglob("*.json")):
        if "checkpoints" in path.parts or (r := read_result(path)).get("profile") != "paper":
            continue
        current = "aux_bias_probe" not in r or r.get("aux_bias_probe_version", 1) >= PROBE_VERSION
        if current and ("f_active_units" in r or r["config"]["f_arch"] != "mlp") and not args.force:
            continue
        ckpt = Path(args.results) / "checkpoints" / f"{r['name']}.pt"
        if not ckpt.exists():
            print(f"skipped {path.name}: no checkpoint {ckpt}")
            continue
        probe = reprobe(path, ckpt)
        units = read_result(path).get("f_active_units")
        print(f"{path.name}: probe {r.get('aux_bias_probe')} -> {probe}; f's active units {units}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .status import write_status

    path = write_status(args.results)
    print(path.read_text())
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweeps import only_methods, plan, sweep

    runs = only_methods(plan(args.plan, args.dataset, args.ratios, tuple(args.seeds)), args.methods)
    return 1 if sweep(runs, args.out, args.profile, args.workers, args.dry_run) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selecmix", description=(
        "SelecMix (NeurIPS 2022) and its baselines on biased datasets: build data, train, compare."))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="build a biased dataset and print its group counts")
    p.add_argument("--dataset", choices=DATASETS, default="cmnist")
    _ratio_arg(p)
    for name in ("data_root", "source", "data_seed", "severity", "train_size", "label_noise"):
        p.add_argument("--" + name.replace("_", "-"), dest=name, default=None,
                       type=int if name in ("data_seed", "severity", "train_size") else float if name == "label_noise" else str,
                       help=_OPTIONS[name])
    p.add_argument("--json", action="store_true", help="print JSON: splits (size, aligned, conflicting) and sha256")
    p.set_defaults(func=cmd_data, data_seed=0)

    p = sub.add_parser("train", help="train one run and write its JSON result")
    p.add_argument("--dataset", choices=DATASETS, default="cmnist")
    _ratio_arg(p)
    p.add_argument("--method", choices=METHODS, default="selecmix",
                   help="vanilla, mixup, lff, jtt, lisa (bias labels), selecmix (V+Ours), lff_selecmix (L+Ours), lff_mixup")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--profile", choices=PROFILES, default=None,
                   help="fast (small data, minutes on a CPU; default, or $SELECMIX_PROFILE) or paper (full scale)")
    p.add_argument("--out", default="runs", help="folder for results and checkpoints (default: runs/)")
    p.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    p.add_argument("--force", action="store_true", help="train even if the result file exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_config_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sweep", help="train the missing runs of a paper table / figure, a few at a time")
    from .sweeps import PLANS
    p.add_argument("--plan", required=True, choices=PLANS,
                   help="all (every run the book records, most useful first), table1 (Tables 1, 6, 7), table4 (pair sets, LfF+mixup), table5 (LISA vs bias-label SelecMix), "
                        "table2 (similarity sources), noise (Fig. 3), pretrain (Fig. 5), sc (SC-trained g), "
                        "scale (f on clean [0, 1] inputs: the input-scaling quirk), cifar-reduced (CPU-sized Corrupted CIFAR-10 study; use --profile fast)")
    p.add_argument("--dataset", choices=DATASETS, default="cmnist")
    p.add_argument("--ratios", type=float, nargs="+", default=None, help="ratios in percent (default: the paper's)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="seeds (default: the paper's trials, 0-4 for cmnist, 0-2 otherwise)")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=None,
                   help="train only the plan's runs of these methods (default: all of them)")
    p.add_argument("--profile", choices=PROFILES, default="paper")
    p.add_argument("--out", default="book/results", help="results folder (default: book/results)")
    p.add_argument("--workers", type=int, default=2, help="runs in parallel, one CPU thread each (default 2)")
    p.add_argument("--dry-run", action="store_true", help="list the pending runs' commands and stop")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("benchmark", help="seconds per epoch of Vanilla vs SelecMix on full Colored MNIST, "
                       "where a SelecMix epoch goes, and the MACs per image of each")
    p.add_argument("--epochs", type=int, default=3, help="epochs measured per method, after one warm-up epoch")
    p.add_argument("--data-root", default=None, help=_OPTIONS["data_root"])
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser("collapse-scan", help="how often f's MLP starts with a dead layer (first epochs of many seeds)")
    p.add_argument("--seeds", type=int, default=10, help="seeds 0 .. N-1 (default 10)")
    p.add_argument("--methods", nargs="+", default=["vanilla", "selecmix"], choices=METHODS)
    p.add_argument("--scales", nargs="+", default=["official", "clean"], choices=["official", "clean"])
    p.add_argument("--pairs", nargs="+", default=["AB"], choices=list(PAIR_SETS),
                   help="SelecMix pair sets to scan (Table 4; default AB, the method's own)")
    p.add_argument("--label-noise", nargs="+", type=float, default=[0.0],
                   help="label noise levels beta in percent to scan (Fig. 3; default 0)")
    p.add_argument("--g-pretrain-epochs", nargs="+", type=int, default=None,
                   help="pretrain SelecMix's g alone for each of these epoch counts, then freeze it (Fig. 5); "
                        "default: g trained with f")
    p.add_argument("--similarity", nargs="+", default=["gsc"], choices=["gsc", "sc"],
                   help="the loss g is trained with, GSC or SC (Fig. 5; default gsc)")
    p.add_argument("--epochs", type=int, default=1, help="epochs trained per seed before counting (default 1)")
    p.add_argument("--ratio", type=float, default=1.0, help="bias-conflicting ratio in percent (default 1)")
    p.add_argument("--data-root", default=None, help=_OPTIONS["data_root"])
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", default="book/results/investigations/collapse_scan.json", help="the JSON file written")
    p.set_defaults(func=cmd_collapse_scan)

    p = sub.add_parser("partner-scan", help="who g picks as partners, by the true labels (mislabelled vs bias-conflicting), from run checkpoints")
    p.add_argument("checkpoints", nargs="+", help="checkpoint files of SelecMix runs (<results>/checkpoints/*.pt)")
    p.add_argument("--pools", type=int, default=20, help="random selection pools averaged (default 20)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", default="book/results/investigations/partner_scan.json", help="the JSON file written")
    p.set_defaults(func=cmd_partner_scan)

    p = sub.add_parser("trace", help="V+Ours step by step over its first epoch(s), partners from the MLP g, the "
                       "official g or at random (the collapse investigation)")
    p.add_argument("--sources", nargs="+", default=["mlp", "official", "random"], choices=["mlp", "official", "random"])
    p.add_argument("--ratios", type=float, nargs="+", default=[1.0], help="ratios in percent (default 1)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=1, help="epochs traced (default 1)")
    p.add_argument("--data-root", default=None, help=_OPTIONS["data_root"])
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--force", action="store_true", help="retrace recorded (source, ratio, seed)")
    p.add_argument("--out", default="book/results/investigations/traces", help="folder of the trace files")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("g-scan", help="pairs found by g of each architecture (MLP vs the official ResNet18) while it trains alone")
    p.add_argument("--archs", nargs="+", default=["mlp", "resnet18_cifar"], choices=["mlp", "resnet18", "resnet18_cifar"])
    p.add_argument("--ratio", type=float, default=1.0, help="bias-conflicting ratio in percent (default 1)")
    p.add_argument("--steps", type=int, default=210, help="mini-batches of g's training (default 210: one epoch)")
    p.add_argument("--every", type=int, default=30, help="score the pairs every this many steps")
    p.add_argument("--pools", type=int, default=4, help="fixed selection pools scored (default 4)")
    p.add_argument("--data-root", default=None, help=_OPTIONS["data_root"])
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", default="book/results/investigations/g_scan.json", help="the JSON file written")
    p.set_defaults(func=cmd_g_scan)

    p = sub.add_parser("reprobe", help="recompute Table 3's bias probe and f's active units of recorded runs from their checkpoints")
    p.add_argument("--results", default="book/results", help="results folder (default: book/results)")
    p.add_argument("--force", action="store_true", help="also recompute probes of the current version")
    p.set_defaults(func=cmd_reprobe)

    p = sub.add_parser("status", help="regenerate the reproduction-status table (results/STATUS.md)")
    p.add_argument("--results", default="book/results", help="results folder (default: book/results)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("table", help="compare recorded results with the paper's tables")
    p.add_argument("--results", default="book/results", help="folder of result files (default: book/results)")
    p.add_argument("--dataset", choices=DATASETS, default=None)
    p.add_argument("--table", choices=("1", "4", "5", "7"), default="1", help="which paper table (default 1)")
    p.add_argument("--protocol", choices=("best", "last", "valid"), default="best",
                   help="best: best test epoch (the paper's protocol); last: last epoch; valid: epoch of best validation accuracy")
    p.add_argument("--metric", choices=("unbiased", "conflicting", "aligned"), default="unbiased")
    p.add_argument("--profile", choices=PROFILES, default="paper", help="which runs to tabulate (default: paper)")
    p.set_defaults(func=cmd_table)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
