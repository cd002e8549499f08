"""Biased datasets: sources, builders, the DFA release loader and :class:`BiasedDataset`."""
from __future__ import annotations

from ..config import default_source
from .colored_mnist import build_colored_mnist
from .dataset import BiasedDataset, BiasedSplits
from .dfa import load_dfa
from .sources import DataNotFoundError
from .transforms import InputPipeline

__all__ = ["BiasedDataset", "BiasedSplits", "DataNotFoundError", "InputPipeline", "load_splits",
           "build_colored_mnist", "build_corrupted_cifar10", "load_dfa"]


def build_corrupted_cifar10(*args, **kwargs):
    """:func:`selecmix.data.corrupted_cifar10.build_corrupted_cifar10`, imported on first use: its
    corruptions need OpenCV and SciPy, which Colored MNIST runs never load."""
    from .corrupted_cifar10 import build_corrupted_cifar10 as build
    return build(*args, **kwargs)


def load_splits(dataset: str = "cmnist", ratio: float = 1.0, source: str = "auto", data_root=None,
                seed: int = 0, severity: int | None = None, train_size: int | None = None,
                label_noise: float = 0.0, valid_fraction: float = 0.1, use_cache: bool = True,
                test_size: int | None = None, profile: str | None = None) -> BiasedSplits:
    """One entry point for every dataset: ``source`` is ``mnist`` / ``embedded`` (cmnist),
    ``cifar10`` (cifar10c), ``dfa`` (the DFA release folders) or ``auto``: the source of
    ``profile`` (default ``SELECMIX_PROFILE``), :func:`selecmix.config.default_source` -- the
    embedded MNIST sample under ``fast``, MNIST under ``paper``."""
    if dataset not in ("cmnist", "cifar10c", "bffhq"):
        raise ValueError(f"unknown dataset {dataset!r}; choose one of ('cmnist', 'cifar10c', 'bffhq')")
    if not 0 < ratio < 100:
        raise ValueError(f"ratio {ratio} is out of range: give the bias-conflicting ratio in percent, "
                         "0 < ratio < 100 (the paper uses 0.5, 1, 2, 5)")
    if source == "auto":
        source = default_source(dataset, profile)
    if source == "dfa" or dataset == "bffhq":
        return load_dfa(dataset, ratio, data_root, label_noise=label_noise, seed=seed, use_cache=use_cache)
    if dataset == "cmnist":
        return build_colored_mnist(ratio, source, data_root, seed,
                                   severity or 4, valid_fraction, train_size, label_noise, use_cache)
    if source != "cifar10":
        raise ValueError(f"unknown Corrupted CIFAR-10 source {source!r}; use 'cifar10' or 'dfa'")
    return build_corrupted_cifar10(ratio, data_root, seed, severity or 5, valid_fraction, train_size,
                                   test_size=test_size, label_noise=label_noise, use_cache=use_cache)
