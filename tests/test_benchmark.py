"""The speed benchmark: its arithmetic floor and a short timed run on the embedded sample."""
from __future__ import annotations

import pytest

from selecmix.experiments.benchmark import macs_per_image, run_benchmark
from selecmix.config import make_config


def test_macs_per_image_counts_the_mlps_by_hand():
    cfg = make_config("cmnist", 1.0, "selecmix", "paper")
    macs = macs_per_image(cfg)
    f_forward = 2352 * 100 + 100 * 100 + 100 * 16 + 16 * 10          # f: 2352-100-100-16-10
    assert macs["vanilla"] == 3 * f_forward - 2352 * 100           # no input gradient for layer 1
    g_forward = 2352 * 100 + 2 * 100 * 100 + 100 * 100 + 100 * 128   # g: 2352-100-100-100, head 100-100-128
    expected = macs["vanilla"] + (3 * g_forward - 2352 * 100) + g_forward + 1024 * 128 + 3 * 256 * 128
    assert macs["selecmix"] == expected
    assert macs["ratio"] == pytest.approx(expected / macs["vanilla"])
    assert sum(macs["shares"].values()) == pytest.approx(1.0)
    assert macs["ratio"] > 2.5      # the arithmetic alone puts SelecMix above 2.5x Vanilla


def test_benchmark_runs_on_the_embedded_sample():
    from selecmix.data import load_splits

    splits = load_splits("cmnist", 5.0, source="embedded", train_size=600)
    out = run_benchmark(epochs=1, profile="fast", splits=splits)
    assert out["train_images"] == len(splits.train)
    assert out["vanilla_epoch_seconds"] > 0 and out["selecmix_epoch_seconds"] > 0
    assert 0 < out["selection_share"] < 1 and 0 < out["embed_share"] < 1
    assert out["selection_share"] + out["embed_share"] < 1
    assert out["macs_per_image"]["selecmix_over_vanilla"] > 2
