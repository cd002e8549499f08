"""Aggregating results and comparing them with the paper's numbers."""
from __future__ import annotations

import json
import re

import pytest

from selecmix.config import make_config, to_dict
from selecmix.experiments.tables import aggregate, comparison_rows, format_table, is_collapsed, short_of_trials, table_key
from selecmix.experiments.paper import REMEDY_LABEL, dataset_tables, paper_numbers
from selecmix.experiments.records import run_label, run_name
from selecmix.experiments.status import status_markdown


def _fake(label_method, ratio, seed, best, last, **overrides):
    cfg = make_config("cmnist", ratio, label_method, "paper", seed=seed, **overrides)
    return {"schema": 1, "dataset": "cmnist", "ratio": ratio, "seed": seed, "profile": "paper",
            "method": label_method, "config": to_dict(cfg), "label": run_label(cfg),
            "best_test_unbiased": best, "last_test_unbiased": last}


def test_labels_and_names():
    cfg = make_config("cmnist", 1.0, "selecmix", "paper", similarity="gt", pairs="A", seed=2)
    assert run_label(cfg) == "selecmix-simgt-pairsA"
    assert run_name(cfg) == "cmnist-1pct-selecmix-simgt-pairsA-s2-paper"
    assert run_label(make_config("cmnist", 5.0, "selecmix", "paper")) == "selecmix"   # g_lr 0.02 is the 5 % default


def test_aggregate_mean_std():
    results = [_fake("selecmix", 1.0, s, b, b - 3) for s, b in enumerate((82.0, 84.0, 86.0))]
    cell = aggregate(results)[("selecmix", 1.0)]
    assert cell.n == 3 and cell.mean == pytest.approx(84.0) and cell.std == pytest.approx(2.0)
    assert str(cell) == "84.00 ± 2.00 (n=3)"


def test_comparison_with_the_paper():
    results = [_fake("vanilla", 1.0, s, 50.0 + s, 49.0) for s in range(3)]
    rows = comparison_rows(results, "cmnist", "1")
    vanilla = next(r for r in rows if r["label"] == "vanilla" and r["ratio"] == 1.0)
    assert vanilla["paper_mean"] == 50.51 and vanilla["diff"] == pytest.approx(51.0 - 50.51)
    missing = next(r for r in rows if r["label"] == "selecmix" and r["ratio"] == 0.5)
    assert missing["n"] == 0 and missing["paper_mean"] == 70.47
    text = format_table(rows, "cmnist")
    assert "not run" in text and "51.00±1.00 (3)" in text
    last = comparison_rows(results, "cmnist", "1", key="last_test_unbiased")
    assert all(r["diff"] is None for r in last)          # the paper has no last-epoch numbers


def test_paper_numbers_cover_the_tables():
    cm = paper_numbers("cmnist")
    assert cm["selecmix"][1.0] == (83.55, 0.42) and cm["lff_selecmix-pairsB"][0.5] == (70.26, 1.70)
    assert cm["selecmix-simgt"][5.0] == (90.23, 0.58) and cm["jtt"][2.0] == (74.04, 1.33)
    assert paper_numbers("bffhq")["selecmix"] == {0.5: (71.60, 1.91)}


def test_reduced_runs_stay_out_of_paper_tables():
    short = _fake("selecmix", 1.0, 0, 99.0, 99.0, epochs=20)
    assert aggregate([short]) == {}
    assert aggregate([short], profile=None)[("selecmix", 1.0)].mean == 99.0


def test_status_markdown():
    text = status_markdown([_fake("selecmix", 1.0, 0, 85.0, 80.0)])
    assert "| cmnist | 1 % | V+Ours | 83.55 ± 0.42 | 85.00 | 80.00 | 1 |" in text
    assert "not yet recorded" in text


def test_compute_spent_in_status():
    from selecmix.experiments.status import compute_spent

    runs = [dict(_fake("vanilla", 1.0, 0, 50.0, 49.0), wall_seconds=1800.0, device="cpu A"),
            dict(_fake("lff", 1.0, 0, 80.0, 79.0), wall_seconds=5400.0, device="cpu A"),
            dict(_fake("lff", 5.0, 0, 88.0, 87.0), wall_seconds=360.0, device="cuda B"),
            _fake("selecmix", 1.0, 0, 85.0, 80.0)]                      # no wall time: not counted
    assert compute_spent(runs) == {"cpu A": (2, 7200.0), "cuda B": (1, 360.0)}
    text = status_markdown(runs)
    assert "3 runs, 2.1 hours -- 2 on cpu A (2.0 h); 1 on cuda B (0.1 h)." in text
    assert "Compute spent" not in status_markdown([_fake("selecmix", 1.0, 0, 85.0, 80.0)])


def test_collapsed_runs_are_flagged_and_kept():
    results = [_fake("selecmix", 1.0, 0, 86.0, 82.0), _fake("selecmix", 1.0, 1, 84.0, 76.0),
               _fake("selecmix", 1.0, 2, 11.3, 10.1)]
    assert [is_collapsed(r) for r in results] == [False, False, True]
    cell = aggregate(results)[("selecmix", 1.0)]
    assert cell.n == 3 and cell.collapsed == [11.3]
    assert cell.mean == pytest.approx((86 + 84 + 11.3) / 3)          # kept in the mean: it happened
    assert cell.healthy.n == 2 and cell.healthy.mean == pytest.approx(85.0)
    text = format_table(comparison_rows(results, "cmnist", "1"), "cmnist")
    assert "(3, 1 coll.)" in text and "1 of 3 runs collapsed" in text and "85.00 ± 1.41 (n=2)" in text
    assert "1 collapsed; others 85.00 ± 1.41" in status_markdown(results)


def test_format_runs():
    from selecmix.experiments.tables import format_runs

    assert format_runs([]) == "not yet recorded"
    assert format_runs([83.123]) == "83.12 (1)"  # one seed has no spread: no "± 0.00"
    assert format_runs([80.0, 82.0]) == "81.00 ± 1.41 (2)"  # sample std
    # the one rule: every run in the mean, the collapsed count and the others' mean beside it
    assert format_runs([86.0, 84.0, 11.3], [11.3]) == "60.43 ± 42.56 (3; 1 collapsed, others 85.00 ± 1.41)"
    assert format_runs([86.0, 11.3], [11.3], n_prefix="n=") == "48.65 ± 52.82 (n=2; 1 collapsed, others 86.00)"
    assert format_runs([11.3], [11.3]) == "11.30 (1; all collapsed)"


def test_tables_average_the_papers_trials():
    """App. A.2: five trials per Colored MNIST cell, three elsewhere; further seeds stay out."""
    from selecmix.experiments.tables import table_runs, table_seeds

    runs = [dict(_fake("selecmix", 1.0, s, 80.0, 79.0)) for s in range(7)]
    assert table_seeds("cmnist") == (0, 1, 2, 3, 4) and table_seeds("cifar10c") == (0, 1, 2)
    assert [r["seed"] for r in table_runs(runs)] == [0, 1, 2, 3, 4]
    assert aggregate(runs)[("selecmix", 1.0)].n == 5
    cifar = [dict(r, dataset="cifar10c") for r in runs]
    assert [r["seed"] for r in table_runs(cifar)] == [0, 1, 2]
    assert len(table_runs(runs, seeds=None)) == 7 and len(table_runs(runs, seeds=(6,))) == 1


def test_collapse_needs_a_dead_layer_and_chance():
    """One definition: a dead layer of f and a last epoch within 5 points of chance."""
    stuck = dict(_fake("selecmix", 1.0, 0, 11.3, 10.1), f_active_units=[20, 15, 0])
    assert is_collapsed(stuck)
    assert not is_collapsed(dict(stuck, f_active_units=[20, 15, 3]))        # alive: just a poor run
    assert not is_collapsed(dict(stuck, last_test_unbiased=40.0))           # dead layer, but it learned
    assert is_collapsed(dict(stuck, f_active_units=None))                    # no unit count (ResNet f): accuracy decides


def test_write_status_counts_investigation_time(tmp_path):
    from selecmix.experiments.status import write_status

    (tmp_path / "investigations").mkdir()
    (tmp_path / "investigations" / "scan.json").write_text(json.dumps({"wall_seconds": 5400.0, "rows": []}))
    text = write_status(tmp_path).read_text()
    assert "took another 1.5 hours" in text and "| cmnist | 1 % | V+Ours |" in text
    assert not list(tmp_path.glob("*.tmp*"))          # written atomically: no temporary file left


def test_table_columns_hold_their_widest_cell():
    """A cell with a collapsed count is wider than a plain one: each cell stays centred under its
    ratio's header (cells are runs of single-spaced words, at least two spaces apart)."""
    results = [_fake("selecmix", r, s, b, b - 3) for r in (0.5, 1.0, 2.0, 5.0) for s, b in enumerate((82.0, 84.0))]
    results += [_fake("selecmix", 1.0, 2, 11.3, 10.1), _fake("vanilla", 2.0, 0, 60.0, 59.0)]
    results += [_fake("selecmix", 2.0, s, 11.3, 10.1) for s in (2, 3)] + [_fake("selecmix", 2.0, 4, 90.0, 89.0)]
    lines = format_table(comparison_rows(results, "cmnist", "1"), "cmnist").splitlines()
    spans = lambda line: [(m.start() + m.end()) / 2 for m in re.finditer(r"\S+(?: \S+)*", line)]
    header = spans(lines[0])[1:]                                   # the ratios, after "method"
    v_ours = next(l for l in lines if l.startswith("V+Ours"))
    assert "(3, 1 coll.)" in v_ours and "(5, 2 coll.) | 87.03 | -31.31" in v_ours
    for line in (lines[1], v_ours):
        cells = spans(line)[-4:]
        assert len(cells) == 4 and all(abs(c - h) <= 1 for c, h in zip(cells, header)), line


def test_table_names_the_cells_short_of_the_papers_trials():
    """Colored MNIST cells average 5 trials (App. A.2): a cell with fewer runs is named with its n,
    a full cell and a cell never run are not, and the table prints the sentence under it."""
    results = [_fake("selecmix", 1.0, s, 84.0, 83.0) for s in range(5)]
    results += [_fake("selecmix", 2.0, s, 88.0, 87.0) for s in range(3)] + [_fake("vanilla", 0.5, 0, 40.0, 39.0)]
    rows = comparison_rows(results, "cmnist", "1")
    assert short_of_trials(rows, "cmnist") == "Vanilla at 0.5 % (n=1); V+Ours at 2 % (n=3)"
    assert format_table(rows, "cmnist").splitlines()[-1].endswith("trains them): Vanilla at 0.5 % (n=1); V+Ours at 2 % (n=3)")
    full = comparison_rows([r for r in results if r["ratio"] == 1.0], "cmnist", "1")
    assert short_of_trials(full, "cmnist") == "" and "fewer runs" not in format_table(full, "cmnist")


def test_table6_is_bias_conflicting_accuracy_at_the_papers_ratios():
    """Table 6 averages ``best_test_conflicting`` (not the unbiased accuracy) at 1 and 2 %, beside
    the paper's bias-conflicting numbers, with the collapsed count by the one rule."""
    results = [dict(_fake("vanilla", 1.0, s, 50.0, 49.0), best_test_conflicting=40.0 + 2 * s) for s in range(3)]
    results += [dict(_fake("vanilla", 0.5, 0, 40.0, 39.0), best_test_conflicting=30.0)]   # no Table 6 ratio
    rows = {(r["label"], r["ratio"]): r for r in comparison_rows(results, "cmnist", "6")}
    assert {ratio for _, ratio in rows} == {1.0, 2.0}
    v = rows[("vanilla", 1.0)]
    assert v["n"] == 3 and v["ours_mean"] == pytest.approx(42.0) and v["paper_mean"] == 44.14
    assert v["diff"] == pytest.approx(42.0 - 44.14)
    assert rows[("end", 1.0)]["paper_mean"] == 62.92 and rows[("dfa", 2.0)]["paper_mean"] == 81.39
    assert table_key("6") == "best_test_conflicting" and table_key("1", "last") == "last_test_unbiased"
    with pytest.raises(ValueError, match="unbiased accuracy only"):
        table_key("6", "valid")
    assert dataset_tables("cmnist") == ("1", "6", "7") and dataset_tables("bffhq") == ("1", "7")


def test_remedy_row_reads_not_run_until_recorded():
    """Table 1 on Colored MNIST always shows the book's remedy row (it has no paper number) and
    says which sweep trains it; it takes its runs once they are recorded."""
    rows = comparison_rows([_fake("vanilla", 1.0, 0, 50.0, 49.0)], "cmnist", "1")
    remedy = [r for r in rows if r["label"] == REMEDY_LABEL]
    assert len(remedy) == 4 and all(r["n"] == 0 and r["paper_mean"] is None for r in remedy)
    text = format_table(rows, "cmnist")
    assert "(book's, not paper's)" in text and "--plan remedy" in text
    ran = [_fake("selecmix", 1.0, s, 85.0 + s, 84.0, random_warmup_pools=10) for s in range(5)]
    row = next(r for r in comparison_rows(ran, "cmnist", "1") if r["label"] == REMEDY_LABEL and r["ratio"] == 1.0)
    assert row["n"] == 5 and row["ours_mean"] == pytest.approx(87.0)
    assert all(r["label"] != REMEDY_LABEL for r in comparison_rows(ran, "cifar10c", "1"))
