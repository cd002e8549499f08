"""The collapse scan: f's active units after the first epoch(s), per method, seed and input scale."""
from __future__ import annotations

import json

import pytest

from selecmix.data import load_splits
from selecmix.experiments.diagnostics import collapse_scan, collapse_summary, read_scan, write_scan


@pytest.fixture(scope="module")
def small():
    return load_splits("cmnist", 1.0, source="embedded", train_size=1200)


def test_scan_rows_and_summary(small, tmp_path):
    rows = collapse_scan(small, methods=("vanilla",), seeds=range(2), scales=("official", "clean"), epochs=1,
                         profile="fast")
    assert [(r["input_scale"], r["seed"]) for r in rows] == [("official", 0), ("official", 1), ("clean", 0), ("clean", 1)]
    for r in rows:
        assert len(r["active_units"]) == 3 and r["active_units"][-1] <= 16
        assert r["dead_layer"] == (min(r["active_units"]) == 0)
    summary = collapse_summary(rows)
    assert {(s["input_scale"], s["seeds"]) for s in summary} == {("official", 2), ("clean", 2)}
    path = write_scan(tmp_path / "scan.json", rows, "test", 1.0)
    record = read_scan(path)
    assert record["rows"] == json.loads(json.dumps(rows)) and record["summary"] == summary
    assert read_scan(tmp_path / "missing.json") is None and not list(tmp_path.glob("*.tmp"))


def test_scan_covers_pair_sets_for_selecmix_only(small):
    from selecmix.experiments.diagnostics import scan_label

    rows = collapse_scan(small, methods=("vanilla", "selecmix"), seeds=range(1), scales=("official",), epochs=1,
                         profile="fast", pairs=("A", "B"))
    assert [scan_label(r) for r in rows] == ["vanilla", "selecmix-pairsA", "selecmix-pairsB"]
    assert [s["method"] for s in collapse_summary(rows)] == ["vanilla", "selecmix-pairsA", "selecmix-pairsB"]
    # the pair set changes what f learns from in its first epoch
    assert rows[1]["loss"] != rows[2]["loss"]


def test_scan_rows_name_the_full_run_they_foretell():
    from selecmix.experiments.diagnostics import scan_label

    noisy = load_splits("cmnist", 1.0, source="embedded", train_size=1200, label_noise=2.0)
    (row,) = collapse_scan(noisy, methods=("selecmix",), seeds=range(1), scales=("clean",), profile="fast",
                           pairs=("B",), label_noise=2.0)
    assert row["label"] == scan_label(row) == "selecmix-noise2-pairsB" and row["label_noise"] == 2.0
    # rows recorded before they carried a label
    assert scan_label({"method": "selecmix"}) == "selecmix" and scan_label({"method": "selecmix", "pairs": "A"}) == "selecmix-pairsA"


def test_summary_counts_dead_seeds():
    rows = [{"input_scale": "official", "method": "selecmix", "seed": s, "active_units": u, "dead_layer": min(u) == 0}
            for s, u in enumerate([[30, 40, 5], [20, 20, 0], [25, 30, 3]])]
    (summary,) = collapse_summary(rows)
    assert summary["dead"] == 1 and summary["dead_seeds"] == [1] and summary["mean_active_last_layer"] == pytest.approx(8 / 3, abs=0.01)


def test_g_pair_scan_learns_to_find_contradicting_positives(small, tmp_path):
    from selecmix.experiments.diagnostics import g_pair_scan

    scan = g_pair_scan(small, "mlp", 1.0, steps=6, every=3, pools=1, profile="fast")
    assert [p["step"] for p in scan["curve"]] == [0, 3, 6]
    for point in scan["curve"]:
        assert all(0 <= point[k] <= 100 for k in point if k != "step")
    # a few GSC steps are enough for the MLP g to cluster by colour: far better than at init
    assert scan["curve"][-1]["positive_precision"] > scan["curve"][0]["positive_precision"] + 20
    path = write_scan(tmp_path / "g.json", [scan], "test", 1.0, kind="g-scan")
    record = read_scan(path)
    assert record["kind"] == "g-scan" and "summary" not in record and record["rows"][0]["arch"] == "mlp"


def test_noisy_runs_log_and_scan_their_mislabelled_partners(tmp_path):
    """Fig. 3: a SelecMix run on noisy labels logs the share of its partners that carry a wrong
    label; the partner scan reads the same from its checkpoint, beside the true bias-conflicting
    share and both base rates. A run without noise logs no such share."""
    from selecmix.config import make_config
    from selecmix.experiments.diagnostics import partner_scan
    from selecmix.experiments.runs import train_run

    noisy = load_splits("cmnist", 1.0, source="embedded", train_size=1200, label_noise=5.0)
    cfg = make_config("cmnist", 1.0, "selecmix", "fast", epochs=2, label_noise=5.0)
    run = train_run(cfg, out=tmp_path, splits=noisy, progress=False)
    for record in run["history"]:          # one coin per pool: an epoch may mix one kind only
        kinds = [k for k in ("positive", "negative") if f"{k}_precision" in record["aux"]]
        assert kinds and all(0 <= record["aux"][f"{k}_mislabelled"] <= 100 for k in kinds)
    (row,) = partner_scan(tmp_path.glob("checkpoints/*.pt"), pools=2)
    assert row["label"] == "selecmix-noise5" and row["epoch"] == 2 and len(row["f_active_units"]) == 3
    assert row["base_mislabelled"] == pytest.approx(5.0, abs=0.5) and 0 < row["base_conflicting"] < 2
    assert all(0 <= row[f"{k}_{w}"] <= 100 for k in ("positive", "negative") for w in ("mislabelled", "conflicting"))
    plain = train_run(make_config("cmnist", 1.0, "selecmix", "fast", epochs=1), splits=load_splits(
        "cmnist", 1.0, source="embedded", train_size=1200), progress=False)
    assert not any(k.endswith("_mislabelled") for k in plain["history"][0]["aux"])
    vanilla = make_config("cmnist", 1.0, "vanilla", "fast", epochs=1, label_noise=5.0)
    train_run(vanilla, out=tmp_path / "v", splits=noisy, progress=False)
    with pytest.raises(ValueError, match="not a SelecMix run"):
        partner_scan((tmp_path / "v" / "checkpoints").glob("*.pt"))


def test_scan_of_a_pretrained_frozen_g(small):
    """Fig. 5's variant: g pretrained k epochs and frozen, per loss; the row names the full run."""
    from selecmix.experiments.diagnostics import scan_label

    rows = collapse_scan(small, methods=("vanilla", "selecmix"), seeds=range(1), scales=("clean",), profile="fast",
                         g_pretrain=(("gsc", 2), ("sc", 2), ("gsc", None)))
    assert [scan_label(r) for r in rows] == ["vanilla", "selecmix-pre2", "selecmix-pre2-simsc", "selecmix"]
    assert rows[1]["g_pretrain_epochs"] == 2 and rows[2]["similarity"] == "sc" and "g_pretrain_epochs" not in rows[3]
    # a frozen pretrained g picks other partners than one trained along with f, so f's first epoch differs
    assert rows[1]["loss"] != rows[3]["loss"]
