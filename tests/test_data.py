"""The data layer on real data: group counts, determinism, colouring, splits, caching, errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import has_mnist, shared_data
from selecmix.data import DataNotFoundError, InputPipeline, load_splits
from selecmix.data.cache import images_sha256
from selecmix.data.colored_mnist import COLORS, build_colored_mnist
from selecmix.data.dataset import assign_bias_labels


# --------------------------------------------------------------------------- Colored MNIST
@pytest.mark.parametrize("ratio", [0.5, 1.0, 2.0, 5.0])
def test_group_counts_follow_alpha(ratio):
    """Within each class, a share 1 - alpha is aligned; the rest is spread over the 9 other colours."""
    labels = torch.arange(10).repeat_interleave(5400)        # a real-MNIST-sized class balance
    b = assign_bias_labels(labels, 1 - ratio / 100, 10, torch.Generator().manual_seed(0))
    for c in range(10):
        counts = torch.bincount(b[labels == c], minlength=10)
        assert counts[c] == round(5400 * (1 - ratio / 100))
        others = torch.cat([counts[:c], counts[c + 1:]])
        assert others.max() - others.min() <= 1              # evenly spread
    assert abs((b != labels).float().mean().item() * 100 - ratio) < 0.05


def test_embedded_splits(cmnist_embedded):
    s = cmnist_embedded.summary()["splits"]
    assert s["train"]["size"] + s["valid"]["size"] + s["test"]["size"] == 5000
    assert s["train"]["conflicting"] == 36                   # 1 % of 3,600
    assert s["test"]["conflicting"] == 900                   # unbiased: 90 % conflicting
    assert cmnist_embedded.train.images.shape[1:] == (3, 28, 28)


@pytest.mark.skipif(not has_mnist(), reason="real MNIST not available (set SELECMIX_DATA)")
def test_real_mnist_counts_and_cli():
    """The foundation issue's check: train + valid = 60,000, ~1 % conflicting, ~90 % in test,
    the same sha256 twice (second run from a fresh cache)."""
    cmd = [sys.executable, "-m", "selecmix", "data", "--dataset", "cmnist", "--ratio", "1",
           "--source", "mnist",
           "--data-root", str(shared_data()), "--json"]
    first = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    env = dict(os.environ, SELECMIX_CACHE=os.environ["SELECMIX_CACHE"] + "-second")
    second = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout)
    sp = first["splits"]
    assert sp["train"]["size"] + sp["valid"]["size"] == 60000
    assert sp["test"]["size"] == 10000
    assert 0.95 <= 100 * sp["train"]["conflicting"] / sp["train"]["size"] <= 1.05
    assert 89.5 <= 100 * sp["test"]["conflicting"] / sp["test"]["size"] <= 90.5
    assert first == second and len(first["sha256"]) == 64


def test_rebuild_is_byte_identical():
    a = build_colored_mnist(2.0, "embedded", use_cache=False)
    b = build_colored_mnist(2.0, "embedded", use_cache=False)
    c = build_colored_mnist(2.0, "embedded", seed=1, use_cache=False)
    for split in ("train", "valid", "test"):
        assert torch.equal(getattr(a, split).images, getattr(b, split).images)
        assert torch.equal(getattr(a, split).b, getattr(b, split).b)
    assert images_sha256(a.train.images) != images_sha256(c.train.images)


def test_colour_only_on_the_stroke(cmnist_embedded):
    """Background pixels stay black; stroke pixels carry the colour of the bias label."""
    from selecmix.data import sources

    ds = cmnist_embedded.train
    img = ds.images.float() / 255
    brightness = img.max(1).values                         # (N, 28, 28)
    assert (img.sum(1)[brightness == 0] == 0).all()
    # the brightest stroke pixel of each image is (colour + small noise) * 1.0
    flat = img.flatten(2)
    peak = flat.gather(2, flat.sum(1, keepdim=True).argmax(2, keepdim=True).expand(-1, 3, 1)).squeeze(2)
    err = (peak - COLORS[ds.b]).abs().max(1).values
    assert err.median() < 0.03
    # and the pattern of lit pixels is the grey digit's
    x, _ = sources.mnist_embedded()
    assert ((ds.images.max(1).values > 0).float().mean() - (x > 0).float().mean()).abs() < 0.02


def test_test_split_is_unbiased(cmnist_embedded):
    counts = cmnist_embedded.test.group_counts()
    assert (counts.min() >= 8) and (counts.max() <= 12)   # 100 per class spread over 10 colours
    valid = cmnist_embedded.valid
    assert valid.conflicting.float().mean() <= 0.02        # validation keeps the training bias


def test_label_noise_replaces_labels_deterministically():
    a = build_colored_mnist(1.0, "embedded", label_noise=5.0, use_cache=False)
    b = build_colored_mnist(1.0, "embedded", label_noise=5.0, use_cache=False)
    changed = (a.train.y != a.train.y_clean)
    assert changed.sum() == round(0.05 * len(a.train))
    assert torch.equal(a.train.y, b.train.y)
    assert torch.equal(a.test.y, a.test.y_clean)


# --------------------------------------------------------------------------- Corrupted CIFAR-10
def test_corrupted_cifar10_one_corruption_per_class(cifar_root):
    from selecmix.data.corruptions import CORRUPTIONS

    splits = load_splits("cifar10c", 5.0, data_root=cifar_root, train_size=400)
    train, test = splits.train, splits.test
    assert train.images.shape[1:] == (3, 32, 32) and train.images.dtype == torch.uint8
    assert train.bias_names == list(CORRUPTIONS)
    assert (train.aligned.float().mean() - 0.95).abs() < 0.02
    counts = test.group_counts()
    assert counts.shape == (10, 10) and counts.sum() == len(test)
    assert test.conflicting.float().mean() > 0.85            # unbiased test split
    # the images really are corrupted: compare one aligned training image per class with the source
    assert train.images.float().std() > 10


def test_corruption_matches_bias_label(cifar_root):
    """Contrast-corrupted images (bias 1) have far lower per-image spread than the rest."""
    splits = load_splits("cifar10c", 5.0, data_root=cifar_root, train_size=400)
    imgs = splits.train.images.float()
    spread = imgs.flatten(1).std(1)
    contrast = splits.train.b == 1
    assert spread[contrast].mean() < 0.5 * spread[~contrast].mean()


# --------------------------------------------------------------------------- DFA release folders
def _write_dfa(root, dataset="cmnist", ratio="1pct", size=28):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    n_cls = 2 if dataset == "bffhq" else 10
    paths = []
    for kind in ("align", "conflict"):
        for c in range(n_cls):
            d = root / dataset / ratio / kind / str(c)
            d.mkdir(parents=True, exist_ok=True)
            for i in range(3 if kind == "align" else 1):
                b = c if kind == "align" else (c + 1) % n_cls
                paths.append(d / f"{kind}{i}_{c}_{b}.png")
    for c in range(n_cls):
        for i in range(2):
            paths.append(root / dataset / ratio / "valid" / f"v{c}{i}_{c}_{c if i == 0 else (c + 1) % n_cls}.png")
            paths.append(root / dataset / "test" / str(c) / f"t{c}{i}_{c}_{c if i == 0 else (c + 1) % n_cls}.png")
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(p)
    return paths


def test_dfa_folder_labels_come_from_names(tmp_path):
    _write_dfa(tmp_path)
    splits = load_splits("cmnist", 1.0, source="dfa", data_root=tmp_path)
    assert splits.summary()["splits"]["train"] == {"size": 40, "aligned": 30, "conflicting": 10}
    assert splits.summary()["splits"]["test"] == {"size": 20, "aligned": 10, "conflicting": 10}


def test_bffhq_test_keeps_conflicting_only(tmp_path):
    _write_dfa(tmp_path, "bffhq", "0.5pct", size=16)
    splits = load_splits("bffhq", 0.5, data_root=tmp_path)
    assert len(splits.test) == 2 and bool(splits.test.conflicting.all())


def test_dfa_name_parsing():
    from selecmix.data.dfa import parse_name

    assert parse_name("00012_3_7.png") == (3, 7)
    assert parse_name("a/b/img_1_0.JPG") == (1, 0)
    with pytest.raises(ValueError, match="malformed DFA file name.*<label>_<bias>"):
        parse_name("digit-3.png")


def test_dfa_malformed_name_leaves_no_cache(tmp_path):
    paths = _write_dfa(tmp_path)
    paths[0].rename(paths[0].with_name("broken.png"))
    cache = os.environ["SELECMIX_CACHE"]
    before = set(os.listdir(cache))
    with pytest.raises(ValueError, match="malformed DFA file name"):
        load_splits("cmnist", 1.0, source="dfa", data_root=tmp_path)
    assert set(os.listdir(cache)) == before


def test_dfa_unreadable_image(tmp_path):
    paths = _write_dfa(tmp_path)
    paths[1].write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read image .*Fix"):
        load_splits("cmnist", 1.0, source="dfa", data_root=tmp_path)


def test_dfa_missing_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match="incomplete.*download the release"):
        load_splits("cifar10c", 2.0, source="dfa", data_root=tmp_path)


# --------------------------------------------------------------------------- errors and cache
@pytest.mark.parametrize("ratio", [0, -1, 100, 150])
def test_ratio_out_of_range(ratio):
    with pytest.raises(ValueError, match="out of range.*percent"):
        load_splits("cmnist", ratio, source="embedded")


def test_the_profile_picks_the_default_source(monkeypatch):
    from selecmix.config import default_source, make_config

    assert default_source("cmnist", "fast") == "embedded" and default_source("cmnist", "paper") == "mnist"
    assert default_source("cifar10c", "fast") == "cifar10" and default_source("bffhq", "paper") == "dfa"
    for profile in ("fast", "paper"):
        assert default_source("cmnist", profile) == make_config("cmnist", 1.0, "vanilla", profile).source
    monkeypatch.setenv("SELECMIX_PROFILE", "fast")
    assert load_splits("cmnist", 1.0).meta["source"] == "embedded"


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'.*cmnist"):
        load_splits("imagenet", 1.0)


def test_missing_mnist_without_download(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    def offline(self):
        raise OSError("no network")

    monkeypatch.setattr(MNIST, "download", offline)
    with pytest.raises(DataNotFoundError, match="MNIST was not found.*SELECMIX_DATA.*embedded"):
        load_splits("cmnist", 1.0, source="mnist", data_root=tmp_path / "empty")


def test_corrupt_cache_is_rebuilt(monkeypatch, tmp_path):
    monkeypatch.setenv("SELECMIX_CACHE", str(tmp_path))
    first = load_splits("cmnist", 5.0, source="embedded")
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))
    files[0].write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="rebuilding"):
        again = load_splits("cmnist", 5.0, source="embedded")
    assert torch.equal(first.train.images, again.train.images)


# --------------------------------------------------------------------------- inputs
def test_input_scaling_quirk(cmnist_embedded):
    images = cmnist_embedded.train.images[:8]
    official = InputPipeline("cmnist", "official").f_eval(images)
    clean = InputPipeline("cmnist", "clean").f_eval(images)
    assert torch.allclose(official * 255, clean) and clean.max() <= 1 and official.max() <= 1 / 255 + 1e-9
    assert torch.equal(InputPipeline("cmnist", "official").g_input(images), clean)   # g always clean


def test_random_crop_and_flip_on_tensors():
    from selecmix.data.transforms import random_crop, random_flip

    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    gen = torch.Generator().manual_seed(0)
    out = random_crop(x, 2, gen)
    gen = torch.Generator().manual_seed(0)
    top = torch.randint(0, 5, (2,), generator=gen)
    left = torch.randint(0, 5, (2,), generator=gen)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        assert torch.equal(out[i], padded[i, :, top[i]:top[i] + 8, left[i]:left[i] + 8])
    flipped = random_flip(x, torch.Generator().manual_seed(3))
    for i in range(2):
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(-1))
