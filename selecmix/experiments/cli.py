"""Command line: ``python -m selecmix {data,train,sweep,table,...} ...`` (``--help`` on each).

:data:`COMMANDS` lists every subcommand with the function that runs it and the one that declares
its arguments; :func:`main` builds the parser from it and turns the errors a user can fix into
one line on stderr and exit status 2 (Ctrl-C: 130). Modules that import torch are imported by
the commands that need them, so ``--help`` and ``--version`` answer at once.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..config import (
    ARCHS,
    DATASETS,
    DEVICES,
    G_MODES,
    G_OPTIMIZERS,
    INPUT_SCALES,
    METHODS,
    PAIR_SETS,
    PROFILES,
    SIMILARITIES,
    SOURCES,
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
    "g_similarity_mode": "g's mode while it embeds a pool: eval, or train (the official code's BatchNorm statistics)",
    "random_warmup_pools": "this book's collapse remedy: random partners for the first k pools (default 0)",
    "tau": "temperature of the SC / GSC losses (0.2)",
    "q": "exponent of GCE / GSC (0.7)",
    "similarity": "similarity for pair selection",
    "pairs": "pair sets (A: contradicting positives, B: negatives)",
    "lambda_base": "weight of the base method's loss (V+Ours 0, L+Ours 1)",
    "lambda_ours": "weight of the mixed-batch loss (V+Ours 1, L+Ours 0.1)",
    "jtt_epochs": "JTT: stage-1 epochs T",
    "jtt_upweight": "JTT: upsampling factor of the error set",
    "device": "auto (CUDA when present) | cpu | cuda",
    "threads": "torch CPU threads (use 1 per run when running several at once)",
    "flush_denormal": "yes | no: flush subnormal floats to zero on the CPU (default: yes for DFA, EnD, ReBias, HEX)",
}

# Enumerated options: their accepted values, from selecmix.config.
_CHOICES = {"source": SOURCES, "f_arch": ARCHS, "g_arch": ARCHS, "g_optimizer": G_OPTIMIZERS,
            "similarity": SIMILARITIES, "pairs": PAIR_SETS, "device": DEVICES,
            "g_similarity_mode": G_MODES, "input_scale": INPUT_SCALES}

_RESULTS = "book/results"


def _option(parser: argparse.ArgumentParser, name: str) -> None:
    """``--name`` for the Config field ``name`` (type from the field, choices from :data:`_CHOICES`)."""
    kind = str({f.name: f.type for f in fields(Config)}[name])
    conv = _yes_no if "bool" in kind else int if "int" in kind else float if "float" in kind else str
    parser.add_argument("--" + name.replace("_", "-"), dest=name, type=conv, default=None,
                        choices=_CHOICES.get(name), help=_OPTIONS[name])


def _yes_no(text: str) -> bool:
    if text.lower() in ("yes", "true", "1", "on"):
        return True
    if text.lower() in ("no", "false", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"use yes or no, got {text!r}")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _shard(text: str) -> tuple[int, int]:
    from .sweeps import parse_shard

    try:
        return parse_shard(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _command_line() -> str:
    return "python -m selecmix " + " ".join(sys.argv[1:])


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data
def _args_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=DATASETS, default="cmnist")
    _ratio_arg(p)
    for name in ("data_root", "source", "data_seed", "severity", "train_size", "label_noise"):
        _option(p, name)
    p.add_argument("--json", action="store_true", help="print JSON: splits (size, aligned, conflicting) and sha256")
    p.set_defaults(data_seed=0)


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


# --------------------------------------------------------------------------- train
def _args_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=DATASETS, default="cmnist")
    _ratio_arg(p)
    p.add_argument("--method", choices=METHODS, default="selecmix",
                   help="vanilla, mixup, lff, jtt, lisa (bias labels), selecmix (V+Ours), lff_selecmix (L+Ours), "
                        "lff_mixup, dfa, end, rebias, hex")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--profile", choices=PROFILES, default=None,
                   help="fast (small data, minutes on a CPU; default, or $SELECMIX_PROFILE) or paper (full scale)")
    p.add_argument("--out", default="runs", help="folder for results and checkpoints (default: runs/)")
    p.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    p.add_argument("--force", action="store_true",
                   help="train even if the result file exists; without --resume, start over from epoch 0")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    for name in _OPTIONS:
        _option(p, name)


class _UserError(Exception):
    """A bad input found before training: one line, exit status 2."""


def check_out_folder(out: str) -> None:
    """``--out`` must be (or become) a writable folder: tried by creating and removing a
    temporary entry in it, or in its nearest existing parent. Leaves nothing behind."""
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise _UserError(f"--out {out} is a file, not a folder; give a folder for results and checkpoints")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise _UserError(f"--out {out}: {existing} is a file, so the folder cannot be created; choose another --out")
    try:
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".selecmix-write-test-"))
    except OSError as err:
        raise _UserError(f"--out {out} is not writable ({err.strerror or err}: {existing}); "
                         "choose a folder you can write to") from None


def _run_config(args: argparse.Namespace):
    cfg = make_config(args.dataset, args.ratio, args.method, args.profile, seed=args.seed,
                      **{name: getattr(args, name) for name in _OPTIONS})
    from ..train import resolve_device

    resolve_device(cfg.device)            # --device cuda without CUDA: a clear error now
    return cfg


def _say_before_training(cfg, args: argparse.Namespace) -> Path | None:
    """Notices and refusals before training: an existing result is returned (the path), an existing
    checkpoint without --resume needs --force."""
    from .records import result_path, run_name
    from .runs import checkpoint_epochs, checkpoint_file

    path = result_path(args.out, cfg)
    if path.exists() and not args.force:
        _err(f"already recorded: {path}; --force to retrain")
        return path
    ckpt = checkpoint_file(cfg, args.out)
    if ckpt.exists() and not args.resume:
        done = checkpoint_epochs(ckpt)
        epochs = f"{done} epoch(s) done" if done is not None else "unreadable"
        if not args.force:
            raise _UserError(f"run {run_name(cfg)} already has a checkpoint {ckpt} ({epochs}); "
                             "add --resume to continue it, or --force to start over from epoch 0")
        _err(f"--force: starting {run_name(cfg)} over; its checkpoint {ckpt} ({epochs}) is replaced")
    return None


def _summary(result: dict) -> str:
    keys = ("name", "best_test_unbiased", "last_test_unbiased", "best_test_conflicting",
            "valid_selected_test_unbiased", "wall_seconds")
    return json.dumps({k: result.get(k) for k in keys}, indent=1)


def cmd_train(args: argparse.Namespace) -> int:
    from ..train import Interrupted
    from .records import RunLocked, read_result, result_path
    from .runs import CorruptCheckpoint, train_run

    cfg = _run_config(args)
    if (recorded := _say_before_training(cfg, args)) is not None:
        print(_summary(read_result(recorded)))
        return 0
    check_out_folder(args.out)
    try:
        result = train_run(cfg, out=args.out, resume=args.resume, force=args.force,
                       progress=False if args.no_progress else None)
    except CorruptCheckpoint as err:
        raise _UserError(f"checkpoint {err.path} cannot be read ({err.reason}); rerun with --force to start the "
                         "run over (the checkpoint is replaced)") from None
    except RunLocked as err:
        _err(f"skipped: {err}")
        from .sweeps import LOCKED_EXIT

        return LOCKED_EXIT
    except Interrupted as err:
        what = f"after epoch {err.epochs_done}" if err.epochs_done else "before the first epoch ended"
        _err(f"interrupted {what}; rerun with --resume" + (" to continue" if err.epochs_done else ""))
        return 130
    print(_summary(result))
    _err(f"result: {result_path(args.out, cfg)}")
    return 0


# --------------------------------------------------------------------------- sweep
def _args_sweep(p: argparse.ArgumentParser) -> None:
    from .sweeps import PLANS

    p.add_argument("--plan", required=True, choices=PLANS,
                   help="all (every run the book records, most useful first), table1 (Tables 1, 6, 7), remedy (this book's "
                        "collapse remedy), table4 (pair sets, LfF+mixup), table5 (LISA vs bias-label SelecMix), "
                        "table2 (similarity sources), noise (Fig. 3), pretrain (Fig. 5), sc (SC-trained g), "
                        "scale (f on clean [0, 1] inputs: the input-scaling quirk), cifar-reduced (CPU-sized Corrupted CIFAR-10 study; use --profile fast)")
    p.add_argument("--dataset", choices=DATASETS, default="cmnist")
    p.add_argument("--ratios", type=float, nargs="+", default=None, help="ratios in percent (default: the paper's)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="seeds (default: the paper's trials, 0-4 for cmnist, 0-2 otherwise)")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=None,
                   help="train only the plan's runs of these methods (default: all of them)")
    p.add_argument("--profile", choices=PROFILES, default="paper")
    p.add_argument("--epochs", type=_positive, default=None, help="set every run's epochs (a quick trial of a plan)")
    p.add_argument("--train-size", type=_positive, default=None, help="set every run's training-set size")
    p.add_argument("--out", default=_RESULTS, help="results folder (default: book/results)")
    p.add_argument("--workers", type=_positive, default=2, help="runs in parallel, one CPU thread each (default 2)")
    p.add_argument("--shard", type=_shard, default=None, metavar="I/N",
                   help="only shard I of N of the plan (1 <= I <= N; every N-th run from the I-th): "
                        "disjoint slices for several machines")
    p.add_argument("--print-commands", "--dry-run", dest="print_commands", action="store_true",
                   help="print one complete, quoted train command per pending run on stdout (for GNU parallel, "
                        "a Slurm job array, ...) and stop; everything else goes to stderr")


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweeps import only_methods, plan, print_commands, shard, sweep, with_overrides

    runs = only_methods(plan(args.plan, args.dataset, args.ratios, args.seeds), args.methods)
    runs = with_overrides(runs, epochs=args.epochs, train_size=args.train_size)
    if args.shard:
        _err(f"shard {args.shard[0]}/{args.shard[1]} of {len(runs)} runs")
        runs = shard(runs, *args.shard)
    if args.print_commands:
        print_commands(runs, args.out, args.profile)
        return 0
    check_out_folder(args.out)
    return 1 if sweep(runs, args.out, args.profile, args.workers) else 0


# --------------------------------------------------------------------------- table, status, benchmark
def _args_table(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default=_RESULTS, help="folder of result files (default: book/results)")
    p.add_argument("--dataset", choices=DATASETS, default=None)
    p.add_argument("--table", choices=("1", "4", "5", "6", "7"), default=None,
                   help="which paper table (default: Tables 1, 6 and 7, those the paper reports for the dataset); "
                        "Table 6 is bias-conflicting accuracy")
    p.add_argument("--protocol", choices=("best", "last", "valid"), default="best",
                   help="best: best test epoch (the paper's protocol); last: last epoch; valid: epoch of best validation accuracy")
    p.add_argument("--metric", choices=("unbiased", "conflicting", "aligned"), default=None,
                   help="accuracy on which test samples (default: the table's own -- unbiased, Table 6 conflicting)")
    p.add_argument("--profile", choices=PROFILES, default="paper", help="which runs to tabulate (default: paper)")


def cmd_table(args: argparse.Namespace) -> int:
    from .paper import TABLE_METRIC, dataset_tables
    from .tables import comparison_rows, format_table, load_results, table_key

    if args.table == "6" and args.metric not in (None, "conflicting"):
        raise _UserError("--table 6 is the paper's bias-conflicting accuracy; drop --metric or pass --metric conflicting")
    if args.table == "6" and args.protocol == "valid":
        raise _UserError("--protocol valid records the unbiased accuracy only, not Table 6's bias-conflicting one; "
                         "use --protocol best or last")
    results = load_results(args.results)
    datasets = [args.dataset] if args.dataset else sorted({r["dataset"] for r in results}) or ["cmnist"]
    for dataset in datasets:
        tables = [args.table] if args.table else [t for t in dataset_tables(dataset)
                                                  if not (args.protocol == "valid" and t in TABLE_METRIC)]
        for table in tables:
            key = table_key(table, args.protocol)
            if args.metric and args.protocol != "valid":
                key = f"{args.protocol}_test_{args.metric}"
            rows = comparison_rows(results, dataset, table, key, args.profile)
            title = (f"Table {table} -- {dataset}: {key} (ours: mean ± std over seeds, n; "
                     f"paper: mean; diff = ours - paper), profile {args.profile}")
            print(format_table(rows, dataset, title) if rows else f"{title}\n(the paper reports no such cell)")
            print()
    return 0


def _args_status(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default=_RESULTS, help="results folder (default: book/results)")


def cmd_status(args: argparse.Namespace) -> int:
    from .status import write_status

    path = write_status(args.results)
    print(path.read_text())
    return 0


def _args_benchmark(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=3, help="epochs measured per method, after one warm-up epoch")
    p.add_argument("--data-root", default=None, help=_OPTIONS["data_root"])
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=(),
                   help="further methods to time the same way (e.g. dfa end hex rebias)")
    p.add_argument("--out", default=None, help="also record the measurement (command, commit, date) in this JSON file")


def cmd_benchmark(args: argparse.Namespace) -> int:
    from .benchmark import run_benchmark
    from .diagnostics import write_scan

    t0 = time.perf_counter()
    report = run_benchmark(args.epochs, args.data_root, args.threads, methods=tuple(args.methods))
    print(json.dumps(report, indent=1))
    if args.out:
        print(f"wrote {write_scan(args.out, [report], _command_line(), time.perf_counter() - t0, kind='benchmark')}")
    return 0


# --------------------------------------------------------------------------- investigations
def _args_scan_common(p: argparse.ArgumentParser, out: str) -> None:
    p.add_argument("--data-root", default=None, help=_OPTIONS["data_root"])
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", default=f"{_RESULTS}/investigations/{out}", help="the JSON file written")


def _args_collapse_scan(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seeds", type=int, default=10, help="seeds 0 .. N-1 (default 10)")
    p.add_argument("--methods", nargs="+", default=["vanilla", "selecmix"], choices=METHODS)
    p.add_argument("--scales", nargs="+", default=["official", "clean"], choices=INPUT_SCALES)
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
    p.add_argument("--random-warmup-pools", nargs="+", type=int, default=[0],
                   help="SelecMix: random partners for the first k pools (this book's remedy; default 0: none)")
    _args_scan_common(p, "collapse_scan.json")


def cmd_collapse_scan(args: argparse.Namespace) -> int:
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
                              pairs=args.pairs, label_noise=beta, g_pretrain=g_pretrain,
                              warmups=args.random_warmup_pools)
    for row in collapse_summary(rows):
        print(row)
    path = write_scan(args.out, rows, _command_line(), time.perf_counter() - t0)
    print(f"wrote {path}")
    return 0


def _args_g_scan(p: argparse.ArgumentParser) -> None:
    p.add_argument("--archs", nargs="+", default=["mlp", "resnet18_cifar"], choices=ARCHS)
    p.add_argument("--ratio", type=float, default=1.0, help="bias-conflicting ratio in percent (default 1)")
    p.add_argument("--steps", type=int, default=210, help="mini-batches of g's training (default 210: one epoch)")
    p.add_argument("--every", type=int, default=30, help="score the pairs every this many steps")
    p.add_argument("--pools", type=int, default=4, help="fixed selection pools scored (default 4)")
    _args_scan_common(p, "g_scan.json")


def cmd_g_scan(args: argparse.Namespace) -> int:
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


def _args_replay(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="+", help="recorded run names, e.g. cmnist-1pct-selecmix-s0-paper")
    p.add_argument("--results", default=_RESULTS, help=f"results folder (default: {_RESULTS})")
    _args_scan_common(p, "replay.json")


def cmd_replay(args: argparse.Namespace) -> int:
    import torch

    from .records import read_result
    from .diagnostics import replay_first_epoch, write_scan

    torch.set_num_threads(args.threads)
    paths = [Path(args.results) / name.split("-")[0] / f"{name}.json" for name in args.names]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"error: no recorded result {', '.join(missing)}; give names of files under {args.results}/<dataset>/",
              file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    rows = []
    for path in paths:
        rows.append(replay_first_epoch(read_result(path)))
        print({k: rows[-1][k] for k in ("name", "loss_then", "loss_now", "test_then", "test_now", "same")}, flush=True)
    print(f"wrote {write_scan(args.out, rows, _command_line(), time.perf_counter() - t0, kind='replay')}")
    return 0


def _args_partner_scan(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoints", nargs="+", help="checkpoint files of SelecMix runs (<results>/checkpoints/*.pt)")
    p.add_argument("--pools", type=int, default=20, help="random selection pools averaged (default 20)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", default=f"{_RESULTS}/investigations/partner_scan.json", help="the JSON file written")


def cmd_partner_scan(args: argparse.Namespace) -> int:
    import torch

    from .diagnostics import partner_scan, write_scan

    torch.set_num_threads(args.threads)
    missing = [p for p in args.checkpoints if not os.path.exists(p)]
    if missing:
        raise _UserError(f"no such checkpoint: {', '.join(missing)} (runs keep them in <results>/checkpoints/)")
    t0 = time.perf_counter()
    rows = partner_scan(args.checkpoints, args.pools)
    for row in rows:
        print(row, flush=True)
    path = write_scan(args.out, rows, _command_line(), time.perf_counter() - t0, kind="partner-scan")
    print(f"wrote {path}")
    return 0


def _args_trace(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sources", nargs="+", default=["mlp", "official", "random"], choices=["mlp", "official", "random"])
    p.add_argument("--ratios", type=float, nargs="+", default=[1.0], help="ratios in percent (default 1)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=1, help="epochs traced (default 1)")
    p.add_argument("--data-root", default=None, help=_OPTIONS["data_root"])
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--force", action="store_true", help="retrace recorded (source, ratio, seed)")
    p.add_argument("--out", default=f"{_RESULTS}/investigations/traces", help="folder of the trace files")


def cmd_trace(args: argparse.Namespace) -> int:
    import torch

    from ..data import load_splits
    from .diagnostics import trace_path

    torch.set_num_threads(args.threads)
    for ratio in args.ratios:
        splits = load_splits("cmnist", ratio, source="mnist", data_root=args.data_root)
        for seed in args.seeds:
            for source in args.sources:
                path = trace_path(args.out, source, ratio, seed)
                if path.exists() and not args.force:
                    print(f"recorded {path}", flush=True)
                    continue
                _trace_one(splits, ratio, seed, source, args.epochs, path)
    return 0


def _trace_one(splits, ratio: float, seed: int, source: str, epochs: int, path: Path) -> None:
    """Trace one (source, ratio, seed) and write its record atomically."""
    import torch

    from ..data.cache import atomic_write
    from .records import device_description, git_commit
    from .diagnostics import partner_trace

    t0 = time.perf_counter()
    trace = partner_trace(splits, ratio, seed, source, epochs)
    record = {"kind": "partner-trace", "command": _command_line(), "commit": git_commit(),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "device": device_description(torch.device("cpu")), "torch": torch.__version__,
              "wall_seconds": round(time.perf_counter() - t0, 1), **trace}
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=0)))
    print(f"wrote {path}: first dead step {trace['first_dead_step']}, units at the end "
          f"{trace['final_active_units']}, test {trace['test_unbiased']}", flush=True)


def _args_reprobe(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default=_RESULTS, help="results folder (default: book/results)")
    p.add_argument("--force", action="store_true", help="also recompute probes of the current version")


def cmd_reprobe(args: argparse.Namespace) -> int:
    from .probes import PROBE_VERSION
    from .records import read_result
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


# --------------------------------------------------------------------------- the table and main
#: subcommand -> (function that runs it, function that declares its arguments, help)
COMMANDS = {
    "data": (cmd_data, _args_data, "build a biased dataset and print its group counts"),
    "train": (cmd_train, _args_train, "train one run and write its JSON result"),
    "sweep": (cmd_sweep, _args_sweep, "train the missing runs of a paper table / figure, a few at a time "
              "(or print their commands for another engine)"),
    "benchmark": (cmd_benchmark, _args_benchmark, "seconds per epoch of Vanilla vs SelecMix on full Colored MNIST, "
                  "where a SelecMix epoch goes, and the MACs per image of each"),
    "collapse-scan": (cmd_collapse_scan, _args_collapse_scan,
                      "how often f's MLP starts with a dead layer (first epochs of many seeds)"),
    "partner-scan": (cmd_partner_scan, _args_partner_scan, "who g picks as partners, by the true labels "
                     "(mislabelled vs bias-conflicting), from run checkpoints"),
    "trace": (cmd_trace, _args_trace, "V+Ours step by step over its first epoch(s), partners from the MLP g, the "
              "official g or at random (the collapse investigation)"),
    "replay": (cmd_replay, _args_replay, "retrain the first epoch of recorded runs on this machine and compare "
               "with the record (are the numbers this machine's?)"),
    "g-scan": (cmd_g_scan, _args_g_scan,
               "pairs found by g of each architecture (MLP vs the official ResNet18) while it trains alone"),
    "reprobe": (cmd_reprobe, _args_reprobe, "recompute Table 3's bias probe and f's active units of recorded runs "
                "from their checkpoints"),
    "status": (cmd_status, _args_status, "regenerate the reproduction-status table (results/STATUS.md)"),
    "table": (cmd_table, _args_table, "compare recorded results with the paper's tables"),
}


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (``prog: error: ...; --help lists the options``), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (--help lists the options)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m selecmix", description=(
        "SelecMix (NeurIPS 2022) and its baselines on biased datasets: build data, train, compare."))
    parser.add_argument("--version", action="version", version=f"selecmix {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (func, declare, text) in COMMANDS.items():
        p = sub.add_parser(name, help=text, description=text)
        declare(p)
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt as err:
        _err(str(err) or "interrupted")
        return 130
    except (_UserError, ValueError, FileNotFoundError, FloatingPointError) as err:
        _err(f"error: {err}")
        return 2
