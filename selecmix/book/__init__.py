"""The book's presentation helpers: chapter set-up, Colab links and live runs (this module);
:mod:`.recorded` loads recorded results, :mod:`.plots` draws, one module per chapter that needs
helpers (``ch01_biased_datasets`` ... ``ch07_your_own_data``).

Every chapter starts with ``device = setup("NN_name.ipynb")``: it prints the package and torch
versions, the device (CUDA when present), the profile that the live runs use and where data is
read from, so a reader always knows what produced the numbers below it.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import matplotlib.pyplot as plt
import pandas as pd
import torch

from .. import __version__
from ..config import REPO_ROOT, data_root, default_profile, make_config
from ..data import BiasedSplits
from ..experiments.runs import train_run

# The repository the book is published from. It must match ``repository.url`` in _config.yml and
# the links in every chapter's first cells (tests/test_book.py checks that they agree).
REPO_URL = "https://github.com/selecmix-book/selecmix-book"
BRANCH = "main"
COLAB_CLONE = Path("/content/selecmix-book")


def colab_url(notebook: str) -> str:
    """The 'Open in Colab' address of a chapter (branch ``main``, folder ``book/``)."""
    owner_repo = REPO_URL.split("github.com/")[1]
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/book/{notebook}"


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def data_label() -> str:
    """Where raw data is read from, as the banner prints it: a path inside the checkout relative to
    it, otherwise just "the SELECMIX_DATA folder" (a page never shows a machine's own paths)."""
    root = Path(data_root()).resolve()
    try:
        return str(root.relative_to(REPO_ROOT.resolve()))
    except ValueError:
        return "the SELECMIX_DATA folder" if os.environ.get("SELECMIX_DATA") else "torchvision's download folder"


def setup(notebook: str, seed: int = 0) -> torch.device:
    """Print the run banner of a chapter, seed torch, set plot and table defaults; return the device."""
    torch.manual_seed(seed)
    pd.set_option("display.max_colwidth", None)       # a cell "mean ± std (n; k collapsed, others ...)" in full
    if default_profile() == "fast" and not torch.cuda.is_available():
        # The fast runs are small MLPs: one thread is as fast, and several threads on a busy CPU
        # can be 10-100x slower (thread oversubscription).
        torch.set_num_threads(1)
    plt.rcParams.update({"figure.dpi": 100, "axes.spines.top": False, "axes.spines.right": False,
                         "figure.figsize": (7, 3.5)})
    dev = device()
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    profile = default_profile()
    kind = ("small live runs: they illustrate the method and are NOT a reproduction of the paper"
            if profile == "fast" else "full-scale runs (the paper's hyperparameters)")
    print(f"selecmix {__version__} | torch {torch.__version__} | device: {dev} ({name})")
    print(f"profile: {profile} -- {kind}")
    print(f"raw data: {data_label()} (set SELECMIX_DATA to change) | chapter: {notebook}")
    return dev


def runs_folder() -> Path:
    """Where chapters keep their live runs: ``SELECMIX_RUNS`` if set (e.g. a Google Drive folder on
    Colab, so runs survive a disconnect), else ``/content/selecmix-runs`` on Colab, else
    ``book/.selecmix`` in the checkout."""
    env = os.environ.get("SELECMIX_RUNS")
    if env:
        return Path(env).expanduser()
    return Path("/content/selecmix-runs") if COLAB_CLONE.exists() else REPO_ROOT / "book" / ".selecmix"


@lru_cache(maxsize=1)
def code_key() -> str:
    """``<package version>-<hash>``: the hash covers the source of the method and its training loop
    (every ``selecmix/**/*.py`` except the book and experiment helpers, which train nothing), so
    results cached by an older version of that code are never read back."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if rel.parts[0] in ("book", "experiments"):
            continue
        digest.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{__version__}-{digest.hexdigest()[:12]}"


def work_dir(name: str) -> Path:
    """A folder for a chapter's live runs and checkpoints: ``<runs folder>/<code key>/<name>``
    (:func:`runs_folder`, :func:`code_key`). Train into it with ``out=work_dir(...)`` and
    ``resume=True``: an interrupted run continues from its last epoch, a finished one is read back
    -- but only by the same code."""
    path = runs_folder() / code_key() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- live runs
def live_runs(specs: dict[str, dict[str, Any]], splits: BiasedSplits, dataset: str = "cmnist",
              ratio: float = 1.0, keep: Iterable[str] = (), threads: int | None = 1,
              runs: str | None = None) -> dict[str, dict]:
    """Train one fast run per entry of ``specs`` (``label -> {"method": ..., **config overrides}``)
    on the same ``splits``; ``keep`` lists the labels whose trained method object is kept;
    ``runs`` names the chapter's checkpointing runs folder (:func:`train_quietly`).

    ``threads`` (default 1) is passed to every run's config unless the spec sets it: the small MLPs
    of the fast profile run as fast on one CPU thread as on two, and a shared machine (a class
    server, a busy laptop) slows a two-thread run down many times over. ``None`` keeps torch's setting.
    """
    keep = set(keep)
    out = {}
    for label, spec in specs.items():
        spec = dict(spec)
        if threads is not None:
            spec.setdefault("threads", threads)
        cfg = make_config(dataset, ratio, spec.pop("method"), **spec)
        out[label] = train_quietly(cfg, splits, keep=label in keep, threads=None, runs=runs)
    return out


def run_frame(results: dict[str, dict], source: str = "live fast run"):
    """One row per run: best-test (paper protocol) and last-epoch unbiased accuracy, best
    bias-conflicting accuracy, wall time -- a DataFrame whose caption names its source."""
    rows = {label: {"best test unbiased": r["best_test_unbiased"], "last-epoch unbiased": r["last_test_unbiased"],
                    "best test conflicting": r["best_test_conflicting"],
                    "epochs": len([h for h in r["history"] if h.get("stage", "main") == "main"]),
                    "seconds": r.get("wall_seconds")}
            for label, r in results.items()}
    frame = pd.DataFrame(rows).T.round(1)
    frame["epochs"] = frame["epochs"].astype(int)
    return frame.style.format(precision=1).set_caption(f"{source} (accuracies in %)")


@contextmanager
def one_thread():
    """Run torch on one thread inside the block, then restore the previous setting. The small
    MLPs of the Colored MNIST runs gain nothing from more threads, and on a busy two-core machine
    competing threads make them several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def quiet():
    """Silence scikit-learn's ConvergenceWarning of the logistic-regression probe (should L-BFGS
    stop at its iteration limit, the accuracy is settled long before) and keep BLAS / OpenMP to
    one thread."""
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def train_quietly(cfg, splits: BiasedSplits | None = None, keep: bool = False, threads: int | None = 1,
                  runs: str | None = None) -> dict[str, Any]:
    """:func:`selecmix.experiments.runs.train_run` without a progress bar and without the probe's
    ConvergenceWarning (``train`` runs Table 3's bias probe at the end of full-scale runs), on
    one torch thread unless ``threads=None`` (see :func:`one_thread`; CUDA runs are unaffected).
    ``runs``: checkpoint every epoch into the chapter's runs folder ``work_dir(runs)`` and resume
    from it, so a run survives a disconnect (on Colab, with the folder on Drive) and a finished
    one is loaded instead of retrained (one chapter, one set of splits: the folder is the
    chapter's own and is keyed by the code version)."""
    where = dict(checkpoint_dir=work_dir(runs), resume=True) if runs else {}
    with quiet(), (one_thread() if threads == 1 else nullcontext()):
        return train_run(cfg, splits=splits, progress=False, keep=keep, **where)

