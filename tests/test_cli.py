"""The command line: data, train, table, status, sweep."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from selecmix.experiments.cli import main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selecmix", *args], capture_output=True, text=True)


def test_data_json_schema():
    proc = _run("data", "--dataset", "cmnist", "--ratio", "2", "--source", "embedded", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"splits", "sha256"}
    assert set(out["splits"]) == {"train", "valid", "test"}
    assert set(out["splits"]["train"]) == {"size", "aligned", "conflicting"}
    assert out["splits"]["train"]["conflicting"] == 72


def test_help_explains_every_option():
    proc = _run("train", "--help")
    for option in ("--ratio", "--method", "--profile", "--resume", "--out", "--similarity", "--pairs",
                   "--label-noise", "--g-pretrain-epochs", "--input-scale", "--epochs", "--lr", "--data-root"):
        assert option in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["train", "--method", "magic"], "invalid choice: 'magic'"),
    (["train", "--ratio", "0"], "ratio 0.0 is out of range"),
    (["data", "--ratio", "100", "--source", "embedded"], "out of range"),
    (["table", "--results", "/nonexistent/folder"], "results folder /nonexistent/folder does not exist"),
    (["table", "--table", "6", "--metric", "unbiased"], "--table 6 is the paper's bias-conflicting accuracy"),
    (["table", "--table", "6", "--protocol", "valid"], "--protocol valid records the unbiased accuracy only"),
])
def test_bad_input_gives_a_clear_error(args, message):
    proc = _run(*args)
    assert proc.returncode == 2 and message in proc.stderr


def test_train_then_table_and_status(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["train", "--method", "vanilla", "--ratio", "5", "--epochs", "1", "--train-size", "500",
                 "--out", str(out), "--no-progress"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["name"].startswith("cmnist-5pct-vanilla") and 0 <= printed["best_test_unbiased"] <= 100
    assert main(["table", "--results", str(out), "--profile", "fast", "--dataset", "cmnist"]) == 0
    table = capsys.readouterr().out
    assert "82.12" in table and "Vanilla" in table and "(1)" in table     # paper's 5 % Vanilla beside ours
    assert [l.split(" --")[0] for l in table.splitlines() if l.startswith("Table ")] == ["Table 1", "Table 6", "Table 7"]
    assert "44.14" in table and "62.35" in table                          # Table 6's Vanilla, Table 7's JTT
    assert main(["status", "--results", str(out)]) == 0
    assert (out / "STATUS.md").exists()


def test_sweep_dry_run_lists_runs(capsys):
    assert main(["sweep", "--plan", "table4", "--ratios", "1", "--seeds", "0", "--dry-run", "--out", "/tmp/none"]) == 0
    text = "".join(capsys.readouterr())
    assert "5 runs in the plan" in text and "--pairs A" in text and "lff_mixup" in text


def test_sweep_methods_filter_and_jtt_only_at_table7_ratios(capsys):
    assert main(["sweep", "--plan", "table1", "--ratios", "0.5", "1", "--seeds", "0", "--methods", "jtt", "vanilla",
                 "--dry-run", "--out", "/tmp/none"]) == 0
    text = "".join(capsys.readouterr())
    # vanilla at both ratios, JTT only at 1 % (Table 7 has no 0.5 % column)
    assert "3 runs in the plan" in text
    assert "--ratio 0.5 --method vanilla" in text and "--ratio 1 --method jtt" in text
    assert "--ratio 0.5 --method jtt" not in text and "lff" not in text


def test_sweep_scale_plan_feeds_clean_inputs(capsys):
    assert main(["sweep", "--plan", "scale", "--ratios", "1", "--seeds", "0", "--dry-run", "--out", "/tmp/none"]) == 0
    text = "".join(capsys.readouterr())
    assert "7 runs in the plan" in text and text.count("--input-scale clean") == 7     # Table 1's MLP methods


def test_plan_all_is_every_plan_once_headline_first():
    from selecmix.experiments.records import run_name
    from selecmix.experiments.sweeps import plan

    runs = plan("all", "cmnist")
    names = [run_name(r.config()) for r in runs]
    assert len(names) == len(set(names))
    # seed 0 of Table 1's four headline methods at every ratio comes first
    assert [(r.ratio, r.method, r.seed) for r in runs[:16]] == [
        (ratio, m, 0) for ratio in (0.5, 1.0, 2.0, 5.0) for m in ("vanilla", "lff", "selecmix", "lff_selecmix")]
    for name, ratios in (("table1", None), ("remedy", None), ("table2", (1.0,)), ("noise", (1.0,)), ("pretrain", (1.0,)),
                         ("table4", None), ("table5", None), ("scale", (1.0,))):
        assert {run_name(r.config()) for r in plan(name, "cmnist", ratios)} <= set(names), name


def test_plan_progress_counts_recorded_runs_of_every_plan(tmp_path):
    """The status page's progress table: recorded / planned per plan, from the files present (the
    same set `plan all` trains), and '-' where the book plans no runs at the other ratios."""
    from selecmix.experiments.records import result_path
    from selecmix.experiments.status import write_status
    from selecmix.experiments.sweeps import PLAN_FIGURES, plan, plan_progress

    rows = {row["plan"]: row for row in plan_progress(str(tmp_path))}
    assert set(rows) == set(PLAN_FIGURES)
    # five seeds per Colored MNIST cell (App. A.2)
    assert rows["table5"]["1 %"] == (0, 30) and rows["table5"]["other ratios"] == (0, 90)
    assert rows["noise"]["1 %"] == (0, 80) and rows["noise"]["other ratios"] is None
    assert rows["remedy"]["1 %"] == (0, 5) and rows["remedy"]["other ratios"] == (0, 15)
    # together the rows cover exactly the runs of `plan all` (Table 2's GSC column shares its 9 runs
    # with Table 1's and Table 4's L+Ours rows, so the counts add up to 15 more than that)
    planned = sum(row[cell][1] for row in rows.values() for cell in ("1 %", "other ratios") if row[cell])
    assert planned == len(plan("all", "cmnist")) + 15
    for run in plan("table5", "cmnist", (1.0,))[:2]:               # two recorded runs (any content)
        path = result_path(tmp_path, run.config())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    assert {row["plan"]: row for row in plan_progress(str(tmp_path))}["table5"]["1 %"] == (2, 30)
    (tmp_path / "cmnist").rename(tmp_path / "elsewhere")          # write_status reads real results only
    assert "| `noise` | Fig. 3 | 0 / 80 | - |" in write_status(tmp_path).read_text()
