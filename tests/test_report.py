"""Result summaries of the training chapter, on real (tiny) runs and copies relabelled as full scale."""
from __future__ import annotations

import copy
import math

import pytest

from selecmix.config import make_config, to_dict
from selecmix.book.ch05_training import curves_explorer, curves_static, lambda_table, mean_curve, plot_mean_curves, plot_runs, protocol_summary, protocol_table, recorded_summary, reduced_table, scale_pairs, train_runs
from selecmix.book.recorded import full_scale
from selecmix.experiments.tables import comparison_rows
from selecmix.experiments.records import run_label, run_name, write_result

TINY = dict(epochs=2, train_size=600, large_batch=256, batch_size=64)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny():
    from selecmix.data import load_splits

    return load_splits("cmnist", 5.0, source="embedded", train_size=600)


@pytest.fixture(scope="module")
def live(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return train_runs(["vanilla", "selecmix"], tiny, out=out, ratio=5.0, profile="fast", **TINY), out


def as_paper(result: dict, seed: int, shift: float = 0.0, **overrides) -> dict:
    """A copy of a real run relabelled as a full-scale paper-profile run (for the table logic)."""
    r = copy.deepcopy(result)
    cfg = make_config("cmnist", 1.0, r["method"], "paper", seed=seed, **overrides)
    r.update(profile="paper", ratio=1.0, seed=seed, config=to_dict(cfg), label=run_label(cfg), name=run_name(cfg))
    for key in ("best_test_unbiased", "last_test_unbiased", "valid_selected_test_unbiased", "best_test_conflicting"):
        r[key] += shift
    return r


def test_lambda_table_matches_the_paper():
    t = lambda_table()
    assert tuple(t.loc["V+Ours", ["lambda_base", "lambda_ours"]]) == (0.0, 1.0)
    assert tuple(t.loc["L+Ours", ["lambda_base", "lambda_ours"]]) == (1.0, 0.1)
    assert tuple(t.loc["Vanilla", ["lambda_base", "lambda_ours"]]) == (1.0, 0.0)


def test_live_runs_resume_and_tables(live, tiny):
    runs, out = live
    assert set(runs) == {"Vanilla", "V+Ours"}
    assert list(out.rglob("*.json")) and list((out / "checkpoints").glob("*.pt"))
    again = train_runs(["vanilla"], tiny, out=out, ratio=5.0, profile="fast", **TINY)
    assert again["Vanilla"]["history"] == runs["Vanilla"]["history"]      # read back, not retrained
    t = protocol_table(runs)
    assert (t["best-test"] >= t["last-epoch"]).all() and (t["best-test"] >= t["valid-selected"]).all()
    assert t.loc["Vanilla", "(epoch)"] in (1, 2)
    plot_runs(runs, "tiny")


def test_recorded_tables(live):
    runs, _ = live
    van, sel = runs["Vanilla"], runs["V+Ours"]
    recorded = [as_paper(van, 0), as_paper(van, 1, 2.0), as_paper(sel, 0, 1.0),
                as_paper(van, 0, input_scale="clean")]
    stuck = as_paper(sel, 1)
    stuck.update(best_test_unbiased=10.2, last_test_unbiased=10.1, valid_selected_test_unbiased=10.1,
                 f_active_units=[30, 20, 0])
    assert full_scale([van, sel]) == []                                 # fast runs are never full scale
    assert len(full_scale(recorded, "cmnist")) == 4
    reduced = as_paper(van, 0)
    reduced["config"]["epochs"] = 10
    assert full_scale([reduced]) == []
    counts = recorded_summary(recorded)
    assert counts.loc["Vanilla", "1 %"] == 2 and counts.loc["V+Ours", "1 %"] == 1
    summary = protocol_summary(recorded)
    assert list(summary.index.get_level_values(0).unique()) == ["1"]      # only recorded ratios
    assert summary.loc[("1", "Vanilla"), "best-test"].endswith("(2)")
    assert summary.loc[("1", "LfF"), "last-epoch"] == "not yet recorded"
    one = summary.loc[("1", "V+Ours"), "best-test"]
    assert one.endswith("(1)") and "±" not in one                       # one run: no spread shown
    assert summary.loc[("1", "V+Ours"), "paper (best-test)"] == "83.55 ± 0.42"
    assert len(protocol_summary([])) == 24
    with_stuck = protocol_summary(recorded + [stuck]).loc[("1", "V+Ours")]      # a collapsed run counts, and is counted
    assert with_stuck["best-test"].endswith(f"(2; 1 collapsed, others {one.split()[0]})")
    assert "1 collapsed" in with_stuck["last-epoch"]
    assert protocol_summary([stuck]).loc[("1", "V+Ours"), "best-test"] == "10.20 (1; all collapsed)"
    rows = {(r["label"], r["ratio"]): r for r in comparison_rows(recorded, "cmnist", "6")}
    assert rows[("vanilla", 1.0)]["n"] == 2 and rows[("vanilla", 1.0)]["paper_mean"] == 44.14
    assert rows[("dfa", 2.0)]["n"] == 0 and rows[("dfa", 2.0)]["paper_mean"] == 81.39
    assert {r["ratio"] for r in comparison_rows(recorded, "cmnist", "7")} == {1.0, 2.0}
    pairs = scale_pairs(recorded)
    assert list(pairs.index) == ["Vanilla, 1 %"]
    assert pairs.iloc[0][("official [0, 1/255]", "best-test")].endswith("(1)")   # paired: seed 0 only
    ep, m, s, n = mean_curve(recorded, "vanilla", 1.0)
    assert n == 2 and len(ep) == 2 and not math.isnan(m[0])
    assert plot_mean_curves(recorded, 1.0) is not None and plot_mean_curves(recorded, 5.0) is None
    curves_static(recorded)
    curves_static([])
    explorer = curves_explorer(recorded)
    ratio = explorer.children[0].children[0]
    assert bytes(explorer.children[-1].value).startswith(b"\x89PNG") and ratio.options == (1.0,)
    assert "no recorded cmnist run at 1 % yet" in curves_explorer([]).children[1].value


def test_reduced_table(live, tmp_path):
    runs, _ = live
    assert reduced_table([]) is None
    r = copy.deepcopy(runs["Vanilla"])
    r["dataset"] = "cifar10c"
    write_result(tmp_path / "x.json", r)
    t = reduced_table([r])
    assert t.iloc[0]["scale"] == "600 train images, 2 epochs"
    assert t.iloc[0]["paper, full scale (best-test)"] == "41.98 ± 0.12"  # Table 1, Corrupted CIFAR-10 5 % Vanilla


def _fake(method: str, value: float, seed: int = 0, ratio: float = 1.0) -> dict:
    cfg = make_config("cmnist", ratio, method, "paper", seed=seed)
    return {"dataset": "cmnist", "method": method, "ratio": ratio, "seed": seed, "profile": "paper",
            "label": run_label(cfg), "config": to_dict(cfg), "best_test_unbiased": value,
            "last_test_unbiased": value}


def test_gap_summary_flags_distance_and_order():
    from selecmix.book.ch05_training import gap_summary

    runs = [_fake("vanilla", 51.0), _fake("lff", 70.0), _fake("lff", 72.0, seed=1),
            _fake("selecmix", 85.0), _fake("selecmix", 11.0, seed=1), _fake("lff_selecmix", 83.0)]
    g = gap_summary(runs)
    assert g.loc[("1", "Vanilla"), "within 2"] and g.loc[("1", "Vanilla"), "diff"] == round(51.0 - 50.51, 2)
    assert not g.loc[("1", "LfF"), "within 2"] and g.loc[("1", "LfF"), "ours"] == "71.00 ± 1.41"
    # the collapsed V+Ours seed counts in the comparison, and is counted
    assert g.loc[("1", "V+Ours"), "n"] == 2 and g.loc[("1", "V+Ours"), "collapsed"] == 1
    assert g.loc[("1", "V+Ours"), "diff"] == round(48.0 - 83.55, 2)
    assert g.loc[("1", "V+Ours"), "order vs paper"] == "V+Ours below Vanilla; V+Ours below LfF"
    assert (g.drop(index=("1", "V+Ours"))["order vs paper"] == "V+Ours below Vanilla; V+Ours below LfF").all()
    runs[4] = _fake("selecmix", 84.0, seed=1)                           # no collapse: the paper's order
    # L+Ours above V+Ours: both within a point in the paper, so not an order change
    assert (gap_summary(runs[:-1] + [_fake("lff_selecmix", 86.0)])["order vs paper"] == "as paper").all()
    # Vanilla above LfF is: the paper puts LfF 28 points higher
    flipped = gap_summary(runs + [_fake("vanilla", 95.0, seed=1)])
    assert (flipped["order vs paper"] == "LfF below Vanilla").all()
    assert gap_summary([]) is None


def test_cost_table_is_robust_to_a_paused_run():
    from selecmix.book.ch05_training import cost_table

    steady = dict(_fake("vanilla", 50.0), wall_seconds=600.0, device="cpu",
                  history=[{"seconds": 3.0}] * 200)
    paused = dict(_fake("vanilla", 50.0, seed=1), wall_seconds=600.0 + 1800.0, device="cpu",
                  history=[{"seconds": 3.0}] * 199 + [{"seconds": 1803.0}])
    t = cost_table([steady, paused])
    assert t.loc["Vanilla", "runs"] == 2
    assert t.loc["Vanilla", "typical minutes per run"] == 10.0     # 3 s x 200 epochs, pause ignored
    assert t.loc["Vanilla", "median wall minutes"] == 25.0
    assert cost_table([]) is None


def test_g_scan_table():
    from selecmix.book.ch05_training import g_scan_table

    scan = {"rows": [{"arch": "mlp", "curve": [{"step": 0, "positive_precision": 1.0, "positive_recall": 2.0},
                                               {"step": 30, "positive_precision": 50.0, "positive_recall": 90.0}]},
                     {"arch": "resnet18_cifar", "curve": [{"step": 0, "positive_precision": 40.0, "positive_recall": 60.0}]}]}
    t = g_scan_table(scan)
    assert t.loc[("MLP (ours)", 30), "positive precision (%)"] == 50.0
    assert t.loc[("ResNet18, CIFAR stem (official)", 0), "positive recall (%)"] == 60.0
    assert g_scan_table(None) is None


def test_scan_provenance_names_date_commit_device_time_and_command():
    from selecmix.book.recorded import scan_provenance

    scan = {"date": "2026-11-30T10:19:38+00:00", "commit": "402d07c37a36", "device": "cpu: x86_64",
            "wall_seconds": 2505.4, "command": "python -m selecmix collapse-scan --seeds 0 1 2"}
    assert scan_provenance(scan, "scan") == ("scan: recorded 2026-11-30 at commit 402d07c on cpu: x86_64 (41.8 min): "
                                             "python -m selecmix collapse-scan --seeds 0 1 2")
    assert scan_provenance(scan, "scan", width=18).endswith(": python -m selecmix ...")
    assert scan_provenance(None, "partner scan") == "partner scan: not yet recorded"


def test_collapse_by_ratio_checks_the_scan_against_full_runs(live):
    from selecmix.book.recorded import collapse_by_ratio, scan_ratio

    runs, _ = live
    trained = as_paper(runs["V+Ours"], seed=0)
    collapsed = as_paper(runs["V+Ours"], seed=1)
    collapsed.update(best_test_unbiased=10.3, last_test_unbiased=10.1, f_active_units=[30, 20, 0])   # dead, at chance
    row = lambda seed, dead: {"method": "selecmix", "seed": seed, "input_scale": "official", "dead_layer": dead,
                              "active_units": [30, 20, 0 if dead else 6]}
    scan = {"command": "python -m selecmix collapse-scan --seeds 3 --ratio 1",
            "rows": [row(0, False), row(1, True), row(2, True), {**row(1, False), "input_scale": "clean"}]}
    assert scan_ratio(scan) == 1.0 and scan_ratio({"command": "collapse-scan --seeds 3"}) == 1.0
    t = collapse_by_ratio([scan, None], [trained, collapsed])
    assert t.loc["1", "seeds scanned"] == 3 and t.loc["1", "dead after epoch 1"] == 2
    assert t.loc["1", "which seeds"] == "1, 2" and t.loc["1", "collapsed full runs"] == "1"
    assert t.loc["1", "full runs (seeds)"] == "0, 1" and bool(t.loc["1", "scan foretold each"])
    assert t.loc["1", "mean active units, 16-unit layer"] == 2.0
    wrong = {**scan, "rows": [row(0, True), row(1, True)]}                 # seed 0 trained: not foretold
    assert not bool(collapse_by_ratio([wrong], [trained, collapsed]).loc["1", "scan foretold each"])
    assert collapse_by_ratio([None], []) is None


def test_collapse_by_variant_separates_pair_sets(live):
    from selecmix.book.recorded import collapse_by_variant

    runs, _ = live
    plain = as_paper(runs["V+Ours"], seed=0)
    with_b = {**as_paper(runs["V+Ours"], seed=0), "label": "selecmix-pairsB", "best_test_unbiased": 11.3,
              "last_test_unbiased": 10.1, "f_active_units": [30, 20, 0]}
    row = lambda seed, dead, **pairs: {"method": "selecmix", "seed": seed, "input_scale": "official",
                                       "dead_layer": dead, "active_units": [30, 20, 0 if dead else 3], **pairs}
    old_scan = {"command": "collapse-scan --seeds 2", "rows": [row(0, False), row(1, False)]}     # no "pairs": AB
    pair_scan = {"command": "collapse-scan --seeds 2 --pairs A B",
                 "rows": [row(0, False, pairs="A"), row(1, True, pairs="A"), row(0, True, pairs="B"), row(1, False, pairs="B")]}
    t = collapse_by_variant([old_scan, pair_scan], [plain, with_b], ["selecmix", "selecmix-pairsA", "selecmix-pairsB"])
    assert list(t.index) == [("1", "V+Ours"), ("1", "V+Ours (pairs A)"), ("1", "V+Ours (pairs B)")]
    assert t.loc[("1", "V+Ours"), "dead after epoch 1"] == 0 and t.loc[("1", "V+Ours"), "collapsed full runs"] == "-"
    assert t.loc[("1", "V+Ours (pairs A)"), "which seeds"] == "1" and t.loc[("1", "V+Ours (pairs A)"), "scan foretold each"] is None
    b = t.loc[("1", "V+Ours (pairs B)")]
    assert b["which seeds"] == "0" and b["collapsed full runs"] == "0" and bool(b["scan foretold each"])
    assert b["mean active units, 16-unit layer"] == 1.5
    assert collapse_by_variant([None], [], ["selecmix"]) is None


def test_tables_average_five_seeds_and_collapse_effect_follows_the_one_rule():
    from selecmix.book.recorded import collapse_effect
    from selecmix.experiments.tables import comparison_rows

    runs = [_fake("selecmix", 86.0), _fake("selecmix", 11.0, seed=1), _fake("selecmix", 84.0, seed=2),
            _fake("selecmix", 88.0, seed=3), _fake("selecmix", 91.0, seed=4), _fake("selecmix", 99.0, seed=5)]
    assert len(full_scale(runs)) == 5 and len(full_scale(runs, seeds=None)) == 6
    row = [r for r in comparison_rows(runs, "cmnist", "1") if r["label"] == "selecmix" and r["ratio"] == 1.0][0]
    assert row["n"] == 5 and row["collapsed"] == 1            # seed 5 stays out of Table 1
    e = collapse_effect(runs).loc[("V+Ours", "1")]
    assert e["runs"] == 5 and e["collapsed"] == 1 and e["mean, every run"] == 72.0
    assert e["diff"] == round(72.0 - 83.55, 2) and e["mean of the others"] == 87.25
    assert collapse_effect(runs[:1]) is None


def _trace(source: str, seed: int, dead: int | None, ratio: float = 1.0) -> dict:
    steps = [{"step": s, "loss": 2.3, "active_units": [50, 40, 0 if dead and s >= dead else 4], "kind": "negative",
              "partners_conflicting": 40.0 if source == "mlp" else 1.0, "precision": 0.5, "max_shared": 3}
             for s in range(1, 21)]
    return {"source": source, "ratio": ratio, "seed": seed, "first_dead_step": dead,
            "final_active_units": steps[-1]["active_units"], "test_unbiased": [10.1 if dead else 30.0], "steps": steps}


def test_collapse_figure_table_and_counts_from_traces():
    from selecmix.book.ch05_training import conflicting_share, plot_collapse, trace_counts, trace_table

    traces = [_trace("mlp", 2, 16), _trace("mlp", 0, None), _trace("random", 2, None), _trace("random", 2, None, 5.0)]
    counts = trace_counts(traces)
    assert counts["mlp"] == {"n": 2, "dead": 1} and counts["official"] == {"n": 0, "dead": 0}
    fig = plot_collapse(traces)
    assert len(fig.axes) == 6                                    # one row per source, two panels each
    for ax in fig.axes[2:4]:                                     # the official g's row: nothing recorded
        assert "not recorded yet" in [t.get_text() for t in ax.texts]
    t = trace_table(traces)
    assert t.loc[("1", 2), ("MLP g", "layer died at update")] == "16"
    assert t.loc[("1", 0), ("MLP g", "layer died at update")] == "alive: 4 units"
    assert t.loc[("1", 2), ("official g", "test (%)")] == "–"       # not recorded: shown as such
    assert t.shape[1] <= 8 and trace_table([]) is None
    runs = [_fake("selecmix", 11.3, seed=2), _fake("selecmix", 86.0), _fake("vanilla", 50.0, seed=2)]
    runs[0]["last_test_unbiased"] = 10.1                          # chance: the recorded seed 2 collapsed
    with_runs = trace_table(traces, runs)
    assert with_runs.loc[("1", 2), ("recorded run", "MLP g, 200 epochs")] == "collapsed (11.3)"
    assert with_runs.loc[("1", 0), ("recorded run", "MLP g, 200 epochs")] == "trained (86.0)"
    assert with_runs.loc[("5", 2), ("recorded run", "MLP g, 200 epochs")] == "–"   # no run recorded there
    assert with_runs.shape[1] == 7
    from selecmix.book.ch05_training import official_verdict
    assert official_verdict(traces) == "No first epoch with the official *g* is traced yet."
    official = [dict(_trace("official", 2, None), seconds=2400.0, epochs=1), dict(_trace("official", 0, 12), seconds=2400.0, epochs=1)]
    text = official_verdict(traces + official)
    assert text.startswith("The official *g* kept *f*'s 16-unit layer alive through the first epoch in 1 of 2 traced runs; "
                           "of the 1 traced (ratio, seed) pairs whose MLP-*g* trace lost the layer, it kept 1 alive.")
    assert "about 6 days of one CPU core" in text                     # 200 epochs x 2,400 s
    assert conflicting_share(traces, "mlp", 16) == 40.0 and conflicting_share(traces, "official", 16) is None
    mixed = _trace("mlp", 3, None)
    for s in mixed["steps"]:
        if s["step"] > 12:                                       # a pool of positives from update 13 on
            s.update(kind="positive", partners_conflicting=90.0)
    assert conflicting_share([mixed], "mlp", 16) == 40.0         # the latest pool of negatives counts
    assert conflicting_share([mixed], "mlp", 16, kind="positive") == 90.0


def test_table1_frame_verdict_and_collapse_count_follow_the_one_rule():
    from selecmix.book.ch05_training import collapsed_frame, rows_frame, scale_margins, table1_frame
    from selecmix.book.recorded import collapse_count, verdict_frame
    from selecmix.experiments.tables import comparison_rows

    runs = [_fake("selecmix", 86.0), _fake("selecmix", 11.0, seed=1), _fake("selecmix", 84.0, seed=2),
            _fake("vanilla", 51.0), _fake("lff_selecmix", 83.0)]
    t = table1_frame(runs)
    assert t.shape[1] == 8 and t.loc["V+Ours", ("1 %", "ours")] == "60.33 ± 42.74 (3; 1 collapsed)"
    assert t.loc["DFA", ("1 %", "ours")] == "not run" and t.loc["DFA", ("1 %", "paper")] == "80.20"
    assert collapsed_frame(runs).loc[("V+Ours", "1"), "mean of the others"] == 85.0
    v = verdict_frame(runs)
    assert v.loc[("V+Ours", "1"), "ours: mean ± std (n)"] == "60.33 ± 42.74 (3; 1 collapsed, others 85.00 ± 1.41)"
    assert v.loc[("V+Ours", "1"), "collapsed"] == 1 and v.loc[("V+Ours", "1"), "diff"] == f"{60.33333 - 83.55:+.2f}"
    assert ("Vanilla", "1") not in v.index and v.shape[1] <= 5
    assert collapse_count(runs) == {"runs": 3, "collapsed": 1, "cells": 1}
    f = rows_frame(comparison_rows(runs, "cmnist", "7"))
    assert f.loc["V+Ours", ("1 %", "ours")] == "60.33 ± 42.74 (3; 1 collapsed, others 85.00 ± 1.41)"
    assert scale_margins(runs) is None


def test_method_costs_come_from_a_recorded_benchmark_only():
    from selecmix.book.ch05_training import method_costs

    frame, where = method_costs()
    assert frame is None and "not measured" in where             # no number without a measurement
    report = {"threads": 1, "methods": {"vanilla": {"seconds_per_epoch": 2.0}, "dfa": {"seconds_per_epoch": 3.0}}}
    frame, where = method_costs({"device": "cpu: x86_64", "date": "2026-12-02T03:00", "rows": [report]})
    assert frame.loc["DFA", "x Vanilla"] == 1.5 and "cpu: x86_64" in where and "2026-12-02" in where


def test_baseline_checks_compare_with_the_paper_and_read_the_histories(tiny):
    """HEX / ReBias / EnD / DFA beside the paper: the one rule's cell, the difference, the clean-input
    control, and the history check (DFA: accuracy just before the swap epoch vs the best after)."""
    from selecmix.book.ch05_training import baseline_checks
    from selecmix.experiments.runs import train_run

    run = train_run(make_config("cmnist", 5.0, "dfa", "fast", **{**TINY, "epochs": 3}), splits=tiny, progress=False)
    runs = [as_paper(run, seed=s, shift=s) for s in (0, 1)]
    for r in runs:     # the paper profile's swap schedule: curr_step 10,000 updates of 208 per epoch
        r["config"].update(dfa_curr_step=208, large_batch=1024, batch_size=256, train_size=None)
    clean = as_paper(run, seed=0, input_scale="clean")
    frame = baseline_checks(runs + [clean])
    row = frame.loc["DFA, 1 %"]
    values = [r["best_test_unbiased"] for r in runs]
    assert row["paper"] == "80.20"
    assert row["diff"] == f"{sum(values) / 2 - 80.20:+.2f}"
    assert row["ours, official scaling"].endswith("(2)") and row["ours, clean inputs"].endswith("(1)")
    before = sum(r["history"][0]["test"]["unbiased"] for r in runs) / 2
    assert f"swap starts in epoch 1: test {before:.1f} %" in row["what the runs show"]
    units = run["f_active_units"]                  # DFA's intrinsic encoder, counted by the run itself
    assert row["what the runs show"].endswith(f"live units per layer at the end {units[0]}-{units[0]} / "
                                              f"{units[1]}-{units[1]} / {units[2]}-{units[2]}")
    assert list(frame.index) == ["DFA, 1 %"]                           # no other baseline or ratio recorded
    other = dict(copy.deepcopy(runs[0]), ratio=2.0)
    assert list(baseline_checks(runs + [other]).index) == ["DFA, 1 %", "DFA, 2 %"]


def test_replay_table_sets_recorded_beside_retrained():
    from selecmix.book.ch05_training import replay_table

    rows = [{"name": "cmnist-0.5pct-selecmix-s3-paper", "label": "selecmix", "loss_then": 2.3, "loss_now": 2.29,
             "test_then": 15.3, "test_now": 10.1, "same": False},
            {"name": "cmnist-1pct-vanilla-s0-paper", "label": "vanilla", "loss_then": 0.82, "loss_now": 0.82,
             "test_then": 21.46, "test_now": 21.46, "same": True}]
    t = replay_table({"rows": rows})
    assert list(t.index) == ["V+Ours, 0.5 %, seed 3", "Vanilla, 1 %, seed 0"]
    assert t.loc["V+Ours, 0.5 %, seed 3", "test (%): here"] == 10.1 and t.loc["Vanilla, 1 %, seed 0", "same"] == "yes"
    assert replay_table(None) is None


def test_remedy_cost_compares_with_the_runs_that_did_not_collapse():
    from selecmix.book.ch05_training import remedy_cost

    vours = [_fake("selecmix", v, seed=s) for s, v in enumerate((86.0, 11.3, 84.0))]
    vours[1]["last_test_unbiased"] = 10.1                          # seed 1 collapsed
    assert remedy_cost(vours) is None                              # no remedy run yet
    remedy = []
    for s, v in enumerate((83.0, 84.0)):
        r = _fake("selecmix", v, seed=s)
        r["config"]["random_warmup_pools"] = 10
        r["label"] = run_label(make_config("cmnist", 1.0, "selecmix", "paper", random_warmup_pools=10))
        remedy.append(r)
    cost = remedy_cost(vours + remedy).loc["1"]
    assert cost["runs"] == 2 and cost["collapsed"] == 0 and cost["remedy (every run)"] == "83.50 ± 0.71"
    assert cost["V+Ours, runs that did not collapse"] == "85.00 ± 1.41 (n=2)"
    assert cost["diff"] == -1.5 and cost["costs > 1 point"] == "yes"
