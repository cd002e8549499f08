"""Your own data: tensors and folders -> BiasedSplits, the DFA layout, the easy-to-learn check."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from selecmix.data.custom import config_for, from_folders, from_tensors, to_uint8_images, write_dfa_folder
from selecmix.book.ch07_your_own_data import easy_to_learn_check, folder_summary, high_loss_indices, outcome_table, pattern_masks, pattern_mnist, train_on
from selecmix.data import load_splits
from selecmix.data.sources import mnist_embedded

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    x, y = mnist_embedded()                                       # sorted by class: shuffle
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    return x[:600], y[:600], x[600:800], y[600:800]


def test_to_uint8_images_accepts_common_layouts():
    grey = torch.rand(4, 28, 28)
    out = to_uint8_images(grey)
    assert out.shape == (4, 3, 28, 28) and out.dtype == torch.uint8
    assert torch.equal(out[:, 0], out[:, 2])                          # grey repeated to RGB
    hwc = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    assert torch.equal(to_uint8_images(hwc), torch.from_numpy(hwc).permute(0, 3, 1, 2))
    assert to_uint8_images(torch.rand(2, 3, 64, 64), size=28).shape == (2, 3, 28, 28)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_uint8_images(torch.full((1, 28, 28), 3.0))
    with pytest.raises(ValueError, match="channels"):
        to_uint8_images(torch.rand(2, 5, 8, 8))


def test_from_tensors_without_bias_labels(digits):
    x, y, xt, yt = digits
    s = from_tensors(x, y, xt, yt, valid_fraction=0.1)
    assert s.meta["bias_labels"] is False
    assert len(s.train) + len(s.valid) == 600 and len(s.test) == 200
    assert len(s.valid) == pytest.approx(60, abs=10)
    assert int(s.train.conflicting.sum()) == 0                        # no bias labels: all "aligned"
    assert s.train.num_classes == 10 and s.train.images.shape[1:] == (3, 28, 28)
    cfg = config_for(s, "vanilla")
    assert cfg.dataset == "cmnist" and cfg.input_scale == "clean" and cfg.ratio == 1.0


def test_from_tensors_with_bias_labels_and_shape_errors(digits):
    x, y, xt, yt = digits
    b = y.clone()
    b[:12] = (y[:12] + 1) % 10                                        # 12 conflicting of 600
    s = from_tensors(x, y, xt, yt, b, yt, valid_images=x[:50], valid_labels=y[:50], valid_bias=b[:50])
    assert s.meta["bias_labels"] is True and len(s.train) == 600
    assert int(s.train.conflicting.sum()) == 12
    assert config_for(s, "selecmix").ratio == 2.0
    with pytest.raises(ValueError, match="labels"):
        from_tensors(x, y[:10], xt, yt)
    with pytest.raises(ValueError, match="same image size"):
        from_tensors(x, y, torch.zeros(5, 3, 32, 32, dtype=torch.uint8), yt[:5])
    big = from_tensors(torch.zeros(20, 3, 32, 32, dtype=torch.uint8), torch.arange(20) % 2,
                       torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.arange(4) % 2)
    cfg = config_for(big, "vanilla")
    assert cfg.dataset == "cifar10c" and cfg.f_arch.startswith("resnet")   # other sizes: ResNet18 set-up


def test_dfa_folder_round_trip(tmp_path, cmnist_embedded):
    small = type(cmnist_embedded)(*(ds.subset(torch.arange(0, len(ds), 10)) for _, ds in cmnist_embedded),
                                  meta={"ratio": 1.0})
    base = write_dfa_folder(small, tmp_path)
    marker = next(base.glob(".written-1pct-*"))
    stamp = marker.stat().st_mtime_ns
    assert write_dfa_folder(small, tmp_path) == base and marker.stat().st_mtime_ns == stamp   # not rewritten
    counts = folder_summary(base)
    assert sum(v for k, v in counts.items() if k.startswith("1pct/align")) == int(small.train.aligned.sum())
    assert sum(v for k, v in counts.items() if k.startswith("1pct/conflict")) == int(small.train.conflicting.sum())
    back = load_splits("cmnist", 1.0, source="dfa", data_root=tmp_path, use_cache=False)
    for (_, a), (_, b) in zip(small, back):
        assert sorted(zip(a.y.tolist(), a.b.tolist())) == sorted(zip(b.y.tolist(), b.b.tolist()))
        assert int(a.images.long().sum()) == int(b.images.long().sum())        # PNG is lossless
    generic = from_folders([base / "1pct" / "align", base / "1pct" / "conflict"], base / "test",
                           valid=base / "1pct" / "valid")
    assert generic.train.summary() == back.train.summary() and generic.test.num_classes == 10
    (base / "test" / "0" / "broken.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="malformed DFA file name"):
        from_folders(base / "1pct" / "align", base / "test")


def test_pattern_mnist_is_faint_and_follows_alpha():
    s = pattern_mnist(ratio=5.0, amplitude=0.02)
    plain = pattern_mnist(ratio=5.0, amplitude=0.0)
    assert torch.equal(s.train.y, plain.train.y) and torch.equal(s.train.b, plain.train.b)
    diff = s.train.images.long() - plain.train.images.long()
    assert 0 <= int(diff.min()) and int(diff.max()) <= 6              # at most ~0.02 * 255 grey levels
    masks = pattern_masks()
    i = int(torch.nonzero(plain.train.images[:, 0].flatten(1).sum(1) >= 0)[0])
    changed = (diff[i] > 0) & (plain.train.images[i].long() < 250)
    assert torch.all(masks[s.train.b[i]][changed] == 1)               # only the bias value's pixels
    share = 100 * s.train.conflicting.float().mean()
    assert abs(float(share) - 5.0) < 1.5
    assert abs(100 * float(s.test.conflicting.float().mean()) - 90) < 3   # unbiased test split


def test_easy_to_learn_check_separates_easy_from_hard_bias(cmnist_embedded):
    easy = easy_to_learn_check(cmnist_embedded, "Colored MNIST", epochs=1, evals_per_epoch=2, max_probe=500)
    hard = easy_to_learn_check(pattern_mnist(1.0, 0.02), "faint pattern", epochs=1, evals_per_epoch=2, max_probe=500)
    assert easy.rows[0]["step"] == 0 and len(easy.rows) == 3
    e, h = easy.early(), hard.early()
    assert e["g neighbour: same bias"] > e["g neighbour: same label"]       # colour is what g clusters by
    assert h["g neighbour: same bias"] < h["g neighbour: same label"]       # the digit is
    assert e["aligned: accuracy"] - e["conflicting: accuracy"] > h["aligned: accuracy"] - h["conflicting: accuracy"]
    assert "plausible" in easy.verdict() and "NOT" in hard.verdict()
    top = high_loss_indices(easy, 20)
    assert len(top) == 20 and easy.train_loss[top].min() >= easy.train_loss.median()


def test_check_without_bias_labels(digits):
    x, y, xt, yt = digits
    s = from_tensors(x, y, xt, yt)
    c = easy_to_learn_check(s, "no labels", epochs=1, evals_per_epoch=1)
    assert "no bias labels" in c.verdict()
    assert len(c.train_loss) == len(s.train)


def test_train_on_writes_per_dataset_folders(tmp_path, digits):
    x, y, xt, yt = digits
    s = from_tensors(x, y, xt, yt)
    runs = train_on(s, ["vanilla"], out=tmp_path, name="My data", epochs=1, large_batch=256, batch_size=64)
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert folder.name.startswith("my-data-") and list(folder.rglob("*.json"))
    frame = outcome_table({"mine": runs})
    assert frame.loc[("mine", "vanilla"), "best-test"] > 20
    again = train_on(s, ["vanilla"], out=tmp_path, name="My data", epochs=1, large_batch=256, batch_size=64)
    assert again["vanilla"]["history"] == runs["vanilla"]["history"]    # read back, not retrained
