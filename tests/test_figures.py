"""selecmix.figures: Fig. 3 / Fig. 5 series, Table 4 in both protocols, aux curves -- from fake
result dicts and from one tiny real training run."""
from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")

from selecmix.book.recorded import MISSING, aux_series, cell_text, label_of, select, summarize
from selecmix.book.ch06_ablations import NOISE_BETAS, PRETRAIN_EPOCHS, last_epoch_frame, live_frame, noise_series, plot_aux, plot_noise, plot_pretrain, plot_table_rows, pretrain_frame, pretrain_pairs_frame, pretrain_runs, pretrain_series, series_frame
from selecmix.config import make_config, to_dict
from selecmix.experiments.tables import comparison_rows
from selecmix.experiments.sweeps import plan


def fake(method, value, seed=0, ratio=1.0, profile="paper", last=None, **overrides):
    cfg = make_config("cmnist", ratio, method, profile, **overrides)
    from selecmix.experiments.records import run_label

    history = [{"epoch": e, "aux": {"negative_precision": 10.0 * (e + 1) + seed}} for e in range(3)]
    return {"label": run_label(cfg), "dataset": "cmnist", "ratio": ratio, "profile": profile, "seed": seed,
            "method": method, "best_test_unbiased": value, "last_test_unbiased": value - 1 if last is None else last,
            "history": history, "config": to_dict(cfg)}


def test_labels_match_result_files():
    assert label_of("selecmix", label_noise=2) == "selecmix-noise2"
    assert label_of("vanilla", label_noise=0.5) == "vanilla-noise0.5"
    assert label_of("selecmix", label_noise=0) == "selecmix"
    assert label_of("selecmix", g_pretrain_epochs=25) == "selecmix-pre25"
    assert label_of("selecmix", similarity="sc", g_pretrain_epochs=100) == "selecmix-pre100-simsc"


def test_grids_match_the_sweep_plans():
    noise = {dict(r.overrides)["label_noise"] for r in plan("noise", ratios=(1.0,), seeds=(0,))}
    assert noise == set(NOISE_BETAS)
    pre = {dict(r.overrides)["g_pretrain_epochs"] for r in plan("pretrain", ratios=(1.0,), seeds=(0,))}
    assert pre == set(PRETRAIN_EPOCHS)
    sc = {dict(r.overrides)["g_pretrain_epochs"] for r in plan("pretrain", ratios=(1.0,), seeds=(0,))
          if dict(r.overrides)["similarity"] == "sc"}
    assert sc == set(PRETRAIN_EPOCHS) - {0}                  # k = 0 is loss-independent: run once, under GSC


def test_noise_series_and_frame():
    results = [fake("vanilla", 50.0), fake("vanilla", 40.0, label_noise=2), fake("vanilla", 44.0, seed=1, label_noise=2),
               fake("selecmix", 80.0, label_noise=2), fake("selecmix", 99.0, label_noise=2, profile="fast"),
               fake("selecmix", 70.0, ratio=5.0, label_noise=2)]
    s = noise_series(results)
    vanilla = {p["beta"]: p for p in s["Vanilla"]}
    assert vanilla[0.0]["mean"] == 50.0 and vanilla[2.0]["mean"] == 42.0 and vanilla[2.0]["n"] == 2
    assert vanilla[2.0]["std"] == pytest.approx(2.8284, abs=1e-3)
    sm = {p["beta"]: p for p in s["SelecMix (V+Ours)"]}
    assert sm[2.0]["mean"] == 80.0 and sm[2.0]["n"] == 1          # the fast and 5 % runs are not mixed in
    assert all(p["n"] == 0 for p in s["LfF"])
    frame = series_frame(s, "beta")
    assert frame.loc["LfF", "2"] == MISSING and frame.loc["Vanilla", "2"] == "42.00 ± 2.83 (n=2)"
    ax = plot_noise(s)
    assert "LfF: " + MISSING in [t.get_text() for t in ax.get_legend().get_texts()]
    assert noise_series(results, profile="fast")["SelecMix (V+Ours)"][3]["mean"] == 99.0


def test_pretrain_series_frame_and_plot():
    results = [fake("selecmix", 60.0, g_pretrain_epochs=0), fake("selecmix", 80.0, g_pretrain_epochs=25),
               fake("selecmix", 82.0), fake("selecmix", 70.0, similarity="sc", g_pretrain_epochs=25)]
    gsc, sc = pretrain_series(results, "gsc"), pretrain_series(results, "sc")
    assert [p["mean"] for p in gsc["points"]][:4] == [60.0, None, None, 80.0]
    assert gsc["simultaneous"]["mean"] == 82.0 and sc["simultaneous"]["n"] == 0
    assert sc["points"][3]["label"] == "selecmix-pre25-simsc" and sc["points"][3]["mean"] == 70.0
    assert sc["points"][0]["mean"] == 60.0 and sc["points"][0]["n"] == 1   # k = 0: the GSC file serves SC too
    frame = pretrain_frame([gsc, sc])
    assert frame.loc["SC (frozen after k epochs)", "simultaneous"] == MISSING
    fig = plot_pretrain([gsc, sc])
    assert len(fig.axes) == 2
    empty = plot_pretrain([pretrain_series([], "gsc")])
    assert "GSC (simultaneous): " + MISSING in [t.get_text() for t in empty.axes[0].get_legend().get_texts()]


def test_pretrain_pairs_frame_averages_epochs_then_seeds():
    # fake histories: negative precision 10, 20, 30 (+ seed) over three epochs -> 20 + seed per run
    results = [fake("selecmix", 80.0, g_pretrain_epochs=25), fake("selecmix", 81.0, seed=1, g_pretrain_epochs=25),
               fake("selecmix", 11.35, similarity="sc", g_pretrain_epochs=200)]
    frame = pretrain_pairs_frame(results, stats=("negative_precision",))
    assert frame.loc["GSC: negative precision", "25"] == "20.5 (n=2)"
    assert frame.loc["SC: negative precision", "200"] == "20.0 (n=1)"      # a collapsed f keeps g's pairs
    assert frame.loc["GSC: negative precision", "simultaneous"] == MISSING
    assert list(frame.columns) == [str(k) for k in PRETRAIN_EPOCHS] + ["simultaneous"]


def test_pretrain_runs_share_k0_between_losses_one_per_seed():
    results = [fake("selecmix", 63.0, g_pretrain_epochs=0), fake("selecmix", 64.0, similarity="sc", g_pretrain_epochs=0),
               fake("selecmix", 65.0, seed=1, g_pretrain_epochs=0), fake("selecmix", 70.0, similarity="sc", g_pretrain_epochs=1)]
    sc0 = pretrain_runs(results, "sc", 0)
    assert [(r["seed"], r["best_test_unbiased"]) for r in sc0] == [(0, 64.0), (1, 65.0)]   # own file first
    assert [r["best_test_unbiased"] for r in pretrain_runs(results, "gsc", 0)] == [63.0, 65.0]
    assert pretrain_runs(results, "gsc", 1) == []                # k > 0: the loss matters
    frame = pretrain_pairs_frame(results, stats=("negative_precision",))
    assert frame.loc["SC: negative precision", "0"] == "20.5 (n=2)"


def test_table4_both_protocols():
    results = [fake("selecmix", 84.0, pairs="A", last=70.0), fake("mixup", 47.0)]
    best = comparison_rows(results, "cmnist", "4", "best_test_unbiased")
    last = comparison_rows(results, "cmnist", "4", "last_test_unbiased")
    frame = last_epoch_frame(last)
    assert ("1 %", "last epoch (ours)") in frame.columns and ("1 %", "paper (best test)") in frame.columns
    assert not any(c[1] == "diff" for c in frame.columns)
    assert frame.loc["+ Ours (A)", ("1 %", "last epoch (ours)")].startswith("70.00")
    assert frame.loc["+ Ours (B)", ("1 %", "last epoch (ours)")] == MISSING
    ax = plot_table_rows(best, 1.0)
    assert len(ax.get_xticklabels()) == len([r for r in best if r["ratio"] == 1.0])


def test_aux_series_averages_seeds():
    results = [fake("selecmix", 80.0, seed=0), fake("selecmix", 80.0, seed=2)]
    s = aux_series(results, "selecmix", ["negative_precision"])
    assert s["n"] == 2 and s["epoch"] == [1, 2, 3] and s["negative_precision"] == [11.0, 21.0, 31.0]
    fig = plot_aux(results, {"selecmix": "GSC", "selecmix-simsc": "SC"}, ["negative_precision"])
    assert MISSING in " ".join(t.get_text() for t in fig.axes[1].texts)


def test_figures_use_the_tables_seeds_and_count_collapsed_runs():
    """As the tables: the paper's trials only (seeds 0-4 on Colored MNIST; seed 5 stays out), and a
    run stuck at chance counts in the mean like any other and is counted (the one rule)."""
    runs = [fake("selecmix", 86.0, seed=0), fake("selecmix", 84.0, seed=1), fake("selecmix", 11.35, seed=2),
            fake("selecmix", 70.0, seed=5)]
    assert [r["seed"] for r in select(runs, "selecmix")] == [0, 1, 2]
    assert len(select(runs, "selecmix", seeds=None)) == 4
    point = summarize(select(runs, "selecmix"))
    assert point["mean"] == pytest.approx((86 + 84 + 11.35) / 3) and point["n"] == 3 and point["collapsed"] == 1
    assert cell_text(point) == "60.45 ± 42.53 (n=3; 1 collapsed, others 85.00 ± 1.41)"
    assert cell_text(summarize([runs[2]])) == "11.35 (n=1; all collapsed)"
    simultaneous = pretrain_series(runs)["simultaneous"]
    assert simultaneous["mean"] == point["mean"] and simultaneous["collapsed"] == 1
    clean = noise_series(runs)["SelecMix (V+Ours)"][0]
    assert clean["beta"] == 0.0 and clean["mean"] == point["mean"] and clean["n"] == 3
    every_seed = noise_series(runs, seeds=None)["SelecMix (V+Ours)"][0]
    assert every_seed["values"] == [86.0, 84.0, 11.35, 70.0] and every_seed["collapsed"] == 1
    assert aux_series(runs, "selecmix", ["negative_precision"])["n"] == 3


def test_plot_noise_marks_collapsed_points():
    runs = [fake("selecmix", 86.0), fake("selecmix", 11.35, seed=1),            # one of two clean runs collapsed
            fake("selecmix", 11.35, label_noise=1), fake("selecmix", 11.36, seed=1, label_noise=1),
            fake("lff", 11.35, label_noise=1)]
    series = noise_series(runs, methods={"selecmix": "SelecMix", "lff": "LfF"})
    ax = plot_noise(series)
    crosses = [c.get_offsets().tolist() for c in ax.collections if len(c.get_offsets())]
    assert [1.0, 10.0] in [xy for group in crosses for xy in group]     # beta 1 %: every run dead, marked at chance
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["1 collapsed"]                                       # beta 0: in the mean of two, and counted
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "LfF (n=1)" in legend and "x: every run collapsed (f at chance)" in legend


def test_one_real_tiny_run_flows_through():
    from selecmix.data import load_splits
    from selecmix.book import train_quietly

    splits = load_splits("cmnist", 5.0, source="embedded", train_size=600, label_noise=2.0)
    cfg = make_config("cmnist", 5.0, "selecmix", "fast", label_noise=2.0, epochs=2, train_size=600,
                      large_batch=256, batch_size=64)
    r = train_quietly(cfg, splits)
    assert r["label"] == "selecmix-noise2"
    s = noise_series([r], ratio=5.0, profile="fast", methods={"selecmix": "SelecMix"}, betas=(2.0,))
    assert s["SelecMix"][1]["mean"] == r["best_test_unbiased"] and s["SelecMix"][0]["n"] == 0
    aux = aux_series([r], "selecmix-noise2", ["sim_positive", "negative_precision"], ratio=5.0, profile="fast")
    assert aux["n"] == 1 and len(aux["sim_positive"]) == 2
    frame = live_frame({"SelecMix": r})
    assert frame.loc["SelecMix", "best-test unbiased"] == round(r["best_test_unbiased"], 1)


def test_table4_frame_both_protocols_by_the_one_rule():
    from selecmix.book.ch06_ablations import table4_frame
    from selecmix.config import make_config, to_dict
    from selecmix.experiments.records import run_label

    def fake(method, value, seed=0, **kw):
        cfg = make_config("cmnist", 1.0, method, "paper", seed=seed, **kw)
        return {"dataset": "cmnist", "method": method, "ratio": 1.0, "seed": seed, "profile": "paper",
                "label": run_label(cfg), "config": to_dict(cfg), "best_test_unbiased": value,
                "last_test_unbiased": value - 1}

    runs = [fake("vanilla", 50.0), fake("vanilla", 52.0, seed=1), fake("selecmix", 11.0, pairs="B"),
            fake("selecmix", 82.0, seed=1, pairs="B")]
    t = table4_frame(runs)
    assert list(t.columns) == ["paper (best-test)", "ours: best-test", "ours: last-epoch"]
    assert t.loc["Vanilla", "ours: best-test"] == "51.00 ± 1.41 (2)"
    assert "1 collapsed, others 82.00" in t.loc["+ Ours (B)", "ours: best-test"]
    assert t.loc["LfF + mixup", "ours: best-test"] == "not run"
