"""Helpers for the book's notebooks: the set-up banner, Colab links, where recorded results live.

Every chapter starts with ``device = setup("NN_name.ipynb")``: it prints the package and torch
versions, the device (CUDA when present), the profile that the live runs use and where data is
read from, so a reader always knows what produced the numbers below it.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from . import __version__
from .config import REPO_ROOT, data_root, default_profile

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


def setup(notebook: str, seed: int = 0) -> torch.device:
    """Print the run banner of a chapter, seed torch, set plot defaults; return the device."""
    import matplotlib.pyplot as plt

    torch.manual_seed(seed)
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
    print(f"raw data: {data_root()} (set SELECMIX_DATA to change) | chapter: {notebook}")
    return dev


def results_dir() -> Path:
    """The folder of recorded full-scale results: ``book/results`` of this checkout (or of the
    clone the Colab set-up cell makes), or ``$SELECMIX_RESULTS``."""
    env = os.environ.get("SELECMIX_RESULTS")
    candidates = [Path(env)] if env else []
    candidates += [REPO_ROOT / "book" / "results", Path.cwd() / "results", COLAB_CLONE / "book" / "results"]
    for path in candidates:
        if path.is_dir():
            return path
    return candidates[0]


def work_dir(name: str) -> Path:
    """A folder for a chapter's live runs and checkpoints (``book/.selecmix/<name>``; on Colab
    ``/content/selecmix-runs/<name>`` -- mount Google Drive there to survive a disconnect)."""
    base = Path("/content/selecmix-runs") if COLAB_CLONE.exists() else REPO_ROOT / "book" / ".selecmix"
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    return path
