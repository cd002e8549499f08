"""Refactoring guard: short runs of every method reproduce stored reference numbers bit for bit,
and every recorded result file still loads and tabulates to the numbers it held.

The reference file was written from the code *before* the package was restructured
(``python tests/test_reference_runs.py --write``); a change that moves code must leave every
number here unchanged. A deliberate change of behaviour rewrites the file in its own commit.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
import torch

from selecmix.config import METHODS, make_config
from selecmix.experiments.runs import train_run

REFERENCE = Path(__file__).parent / "data" / "reference_runs.json"
RESULTS = Path(__file__).resolve().parent.parent / "book" / "results"
TINY = dict(epochs=2, train_size=600, large_batch=256, batch_size=64)
PAPER_EPOCH = ("selecmix", "lff_selecmix")


def _digest(module: torch.nn.Module) -> str:
    """sha256 of a model's parameters and buffers, in state-dict order."""
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _numbers(run: dict) -> dict:
    """What a run must reproduce: per-epoch losses, accuracies, aux statistics and f's weights."""
    history = [{k: v for k, v in h.items() if k != "seconds"} for h in run["history"]]
    return {"history": history, "f": _digest(run["method"].f)}


def fast_run(method: str) -> dict:
    from selecmix.data import load_splits

    splits = load_splits("cmnist", 5.0, source="embedded", train_size=600)
    torch.set_num_threads(1)
    return _numbers(train_run(make_config("cmnist", 5.0, method, "fast", **TINY), splits=splits,
                          progress=False, keep=True))


def paper_epoch(method: str) -> dict:
    cfg = make_config("cmnist", 1.0, method, "paper", seed=2)
    torch.set_num_threads(1)
    return _numbers(train_run(cfg, progress=False, stop_after=1, keep=True))


def recorded_numbers() -> dict:
    """Every recorded result file's summary numbers, by file name."""
    from selecmix.experiments.tables import load_results

    keys = ("best_test_unbiased", "last_test_unbiased", "valid_selected_test_unbiased", "label", "ratio", "seed")
    return {r["name"]: [r.get(k) for k in keys] for r in load_results(RESULTS)}


def _reference() -> dict:
    return json.loads(REFERENCE.read_text())


def _same(a, b) -> bool:
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


@pytest.mark.parametrize("method", METHODS)
def test_fast_runs_reproduce_reference(method):
    assert _same(fast_run(method), _reference()["fast"][method])


@pytest.mark.parametrize("method", PAPER_EPOCH)
def test_paper_epoch_reproduces_reference(method):
    from conftest import has_mnist

    if not has_mnist():
        pytest.skip("needs real MNIST (SELECMIX_DATA)")
    assert _same(paper_epoch(method), _reference()["paper_epoch"][method])


def test_recorded_results_still_load_to_the_same_numbers():
    stored, now = _reference()["recorded"], recorded_numbers()
    missing = sorted(set(stored) - set(now))
    assert not missing, f"recorded results no longer load: {missing[:5]}"
    changed = [name for name in stored if not _same(stored[name], now[name])]
    assert not changed, f"recorded results tabulate differently: {changed[:5]}"


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    ref = {"fast": {m: fast_run(m) for m in METHODS},
           "paper_epoch": {m: paper_epoch(m) for m in PAPER_EPOCH},
           "recorded": recorded_numbers()}
    REFERENCE.write_text(json.dumps(ref, indent=0, sort_keys=True))
    print(f"wrote {REFERENCE}: {len(ref['fast'])} fast runs, {len(ref['paper_epoch'])} paper epochs, "
          f"{len(ref['recorded'])} recorded results")
