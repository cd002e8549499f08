"""What a run leaves behind: its name, its result file and its checkpoint, written atomically,
with provenance (command, commit -- ``commits`` too when it was resumed under another commit --,
date, device, torch version).

A result is one JSON file per run (dataset, ratio, method, variant, seed) holding the full config,
the per-epoch history and the summary numbers. Accuracies are in percent.

* ``best_test_*`` -- the best test accuracy over epochs: the paper's ("oracle") protocol;
* ``last_test_*`` -- the last epoch's: what a user without an unbiased test set would get;
* ``valid_selected_test_unbiased`` -- test accuracy at the epoch of best (biased) validation
  accuracy: an honest model-selection rule that never looks at the test set.

:func:`selecmix.experiments.runs.train_run` writes them; :mod:`selecmix.experiments.tables` reads them back.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from ..config import REPO_ROOT, Config, make_config, to_dict
from ..data.cache import atomic_write

SCHEMA = 1


METRICS = ("unbiased", "aligned", "conflicting")


_SHORT = {"pairs": "pairs", "similarity": "sim", "label_noise": "noise", "input_scale": "scale",
          "g_pretrain_epochs": "pre", "epochs": "ep", "train_size": "n", "test_size": "nt", "g_arch": "g", "f_arch": "f",
          "jtt_epochs": "T", "jtt_upweight": "up", "lambda_ours": "lo", "lambda_base": "lb", "source": "src",
          "g_similarity_mode": "gmode", "random_warmup_pools": "warm"}


_IGNORED = {"seed", "data_root", "device", "threads", "flush_denormal", "extra", "dataset", "ratio", "method", "profile"}


# Fields that set the scale of a run, not the method: in file names, not in table labels.
SCHEDULE_FIELDS = {"epochs", "train_size", "test_size", "large_batch", "batch_size", "source", "valid_fraction", "data_seed"}


def variant(cfg: Config, schedule: bool = True) -> str:
    """The fields that differ from the profile's defaults, e.g. ``simgt-pairsA`` ('' if none);
    ``schedule=False`` leaves out the fields that only change the run's scale (epochs, sizes)."""
    base = to_dict(make_config(cfg.dataset, cfg.ratio, cfg.method, cfg.profile))
    parts = []
    for key, value in to_dict(cfg).items():
        if key in _IGNORED or base.get(key) == value or (not schedule and key in SCHEDULE_FIELDS):
            continue
        text = f"{value:g}" if isinstance(value, float) else str(value)
        parts.append(f"{_SHORT.get(key, key)}{text}".replace("/", "_"))
    return "-".join(parts)


def run_label(cfg: Config) -> str:
    """Method plus variant, e.g. ``selecmix`` or ``selecmix-pairsA``: one row of a table."""
    v = variant(cfg, schedule=False)
    return f"{cfg.method}-{v}" if v else cfg.method


def run_name(cfg: Config) -> str:
    """File stem of a run, unique per config: ``cmnist-1pct-selecmix-s0-paper`` (plus variant)."""
    v = variant(cfg)
    return f"{cfg.dataset}-{cfg.ratio:g}pct-{cfg.method}{'-' + v if v else ''}-s{cfg.seed}-{cfg.profile}"


def result_path(out: str | os.PathLike, cfg: Config) -> Path:
    return Path(out) / cfg.dataset / f"{run_name(cfg)}.json"


def write_result(path: str | os.PathLike, result: dict[str, Any]) -> None:
    """Write a result as JSON atomically (NaN written as null)."""
    text = json.dumps(_clean(result), indent=1)
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text))


def read_result(path: str | os.PathLike) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read result file {path}: {err}. Fix: delete it and rerun the run") from None


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN / inf -> null, floats rounded to 4 decimals (accuracies are in percent)."""
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else round(obj, 4)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def git_commit() -> str:
    """The checkout's commit (``+dirty`` when tracked files changed), or ``unknown``."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (head + ("+dirty" if dirty else "")) if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.machine()}{cpu_model()}, {torch.get_num_threads()} thread(s), {os.cpu_count()} core(s)"


def cpu_model() -> str:
    """' (<model name>, avx512)' from /proc/cpuinfo where it exists ('' elsewhere): float kernels
    differ between CPU families, and so can a run's numbers (see ``python -m selecmix replay``)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    isa = "avx512" if " avx512f" in flags else "avx2" if " avx2" in flags else ""
    return f" ({', '.join(x for x in (model, isa) if x)})" if model or isa else ""


def _command() -> str:
    """How this process was started (``python -m selecmix ...`` for the command line)."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(os.path.join("selecmix", "__main__.py")):
        argv = ["-m", "selecmix"] + argv[1:]
    return " ".join(shlex.quote(a) for a in ["python"] + argv)


def _best(history: list[dict], split: str, metric: str) -> float | None:
    values = [h[split][metric] for h in history if h[split][metric] is not None and not math.isnan(h[split][metric])]
    return max(values) if values else None


def build_result(cfg: Config, history: list[dict[str, Any]], wall: float, device: torch.device,
                 commits: list[str] | None = None) -> dict[str, Any]:
    """The result dict of a run from its per-epoch history (only the main stage counts).

    ``commits``: the checkout's commit when each process that trained part of the run started
    (a run resumed from a checkpoint can span several); ``commit`` is the last of them, and the
    whole list is kept as ``commits`` when there are several. Default: the commit now."""
    commits = commits or [git_commit()]
    main = [h for h in history if h.get("stage", "main") == "main"] or history
    result: dict[str, Any] = {
        "schema": SCHEMA, "name": run_name(cfg), "label": run_label(cfg),
        "dataset": cfg.dataset, "method": cfg.method, "ratio": cfg.ratio, "seed": cfg.seed,
        "profile": cfg.profile, "epochs": cfg.epochs, "config": to_dict(cfg),
        "command": _command(),
        "commit": commits[-1], "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "device": device_description(device), "torch": torch.__version__,
        "python": platform.python_version(), "wall_seconds": round(wall, 2),
    }
    if len(commits) > 1:
        result["commits"] = list(commits)
    if main:
        for metric in METRICS:
            result[f"best_test_{metric}"] = _best(main, "test", metric)
            result[f"last_test_{metric}"] = main[-1]["test"][metric]
        best_epoch = max(main, key=lambda h: h["test"]["unbiased"])
        by_valid = max(main, key=lambda h: (h["valid"]["unbiased"], -h["epoch"]))
        result.update(best_epoch=best_epoch["epoch"], valid_selected_epoch=by_valid["epoch"],
                      valid_selected_test_unbiased=by_valid["test"]["unbiased"])
    result["history"] = history
    return _clean(result)


# --------------------------------------------------------------------------- run locks
class RunLocked(RuntimeError):
    """Another live process holds the run's lock file (it is training the run now)."""

    def __init__(self, lock: Path, holder: dict[str, Any]):
        self.lock, self.holder = lock, holder
        super().__init__(
            f"run is being trained by pid {holder.get('pid')} on {holder.get('host')} since {holder.get('time')} "
            f"(lock file {lock}); wait for it, or delete the lock file if that process is gone")


def lock_path(checkpoint: str | os.PathLike) -> Path:
    """The lock file of a run: ``<checkpoint>.lock``, beside its checkpoint."""
    return Path(str(checkpoint) + ".lock")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # alive, owned by someone else
        return True
    return True


def _read_lock(lock: Path) -> dict[str, Any]:
    try:
        return json.loads(lock.read_text())
    except (OSError, ValueError):
        return {}


def acquire_lock(checkpoint: str | os.PathLike, notice=print) -> Path:
    """Create the run's lock file atomically (``O_EXCL``) holding pid, host and time; return its
    path. A lock left by a dead process on this host is taken over (with a ``notice``); a live
    holder, or one on another host, raises :class:`RunLocked`."""
    lock = lock_path(checkpoint)
    lock.parent.mkdir(parents=True, exist_ok=True)
    host = platform.node()
    me = {"pid": os.getpid(), "host": host, "time": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_lock(lock)
            pid = holder.get("pid")
            if holder.get("host") == host and isinstance(pid, int) and not _pid_alive(pid):
                notice(f"taking over the stale lock {lock} (pid {pid} on {host} is gone)")
                try:
                    os.remove(lock)
                except FileNotFoundError:
                    pass
                continue
            raise RunLocked(lock, holder) from None
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return lock
    raise RunLocked(lock, _read_lock(lock))


def release_lock(lock: Path) -> None:
    """Remove a lock file this process holds (left alone if another process took it over)."""
    if _read_lock(lock).get("pid") in (os.getpid(), None):
        try:
            os.remove(lock)
        except FileNotFoundError:
            pass
