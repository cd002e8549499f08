"""Running a plan with another engine: ``sweep --print-commands`` (one quoted command a line on
stdout, nothing else there), ``--shard i/n`` slices, and printed commands that run as they are."""
from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest

from selecmix.experiments.cli import main
from selecmix.experiments.sweeps import parse_shard, plan, shard, with_overrides
from selecmix.experiments.records import run_name

PLAN = ["sweep", "--plan", "table1", "--ratios", "1", "5", "--seeds", "0", "--methods", "vanilla", "selecmix",
        "--profile", "fast"]


def test_print_commands_are_complete_and_alone_on_stdout(tmp_path, capsys):
    assert main([*PLAN, "--out", str(tmp_path), "--print-commands"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 4 and "4 runs in the plan, 0 recorded, 4 to train" in err
    for line in lines:
        argv = shlex.split(line)
        assert argv[:4] == [sys.executable, "-m", "selecmix", "train"]
        for flag in ("--resume", "--no-progress", "--threads", "--out", "--profile"):
            assert flag in argv
        assert argv[argv.index("--threads") + 1] == "1" and argv[argv.index("--out") + 1] == str(tmp_path)


def test_shards_are_disjoint_and_cover_the_plan(capsys):
    runs = plan("all", "cmnist")
    names = [run_name(r.config()) for r in runs]
    for n in (1, 3, 7):
        slices = [[run_name(r.config()) for r in shard(runs, i, n)] for i in range(1, n + 1)]
        assert sorted(sum(slices, [])) == sorted(names)                         # covering, disjoint
        assert slices == [[run_name(r.config()) for r in shard(plan("all", "cmnist"), i, n)]
                          for i in range(1, n + 1)]                             # deterministic
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/4", "5/4", "2", "a/b"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)
    assert main([*PLAN, "--out", "/tmp/none", "--print-commands", "--shard", "2/3"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1 and "shard 2/3 of 4 runs" in err          # runs 2 of 4: the second only


def test_two_printed_commands_run_and_tabulate(tmp_path, capsys):
    out = tmp_path / "results"
    assert main([*PLAN[:-5], "--methods", "vanilla", "--profile", "fast", "--epochs", "1", "--train-size", "300",
                 "--out", str(out), "--print-commands"]) == 0
    commands = capsys.readouterr().out.splitlines()
    assert len(commands) == 2
    for line in commands:
        proc = subprocess.run(line, shell=True, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["name"].endswith("-n300-ep1-s0-fast") and "result: " in proc.stderr
    assert len(list((out / "cmnist").glob("*.json"))) == 2 and not list(out.rglob("*.lock"))
    assert main(["table", "--results", str(out), "--profile", "fast", "--dataset", "cmnist", "--table", "1"]) == 0
    assert capsys.readouterr().out.count("(1)") == 2                           # Vanilla at 1 % and 5 %
    assert main(["table", "--results", str(out), "--profile", "fast", "--dataset", "cmnist"]) == 0
    printed = capsys.readouterr().out                                          # Tables 1, 6 and 7 by default
    assert all(f"Table {t} -- cmnist" in printed for t in "167") and printed.count("(1)") == 4
    assert main([*PLAN[:-5], "--methods", "vanilla", "--profile", "fast", "--epochs", "1", "--train-size", "300",
                 "--out", str(out), "--print-commands"]) == 0
    out_text, err = capsys.readouterr()
    assert out_text == "" and "2 recorded, 0 to train" in err


def test_sweep_shows_progress_and_a_summary(tmp_path, capsys):
    from selecmix.experiments.sweeps import sweep

    runs = with_overrides(plan("table1", "cmnist", (5.0,), (0,))[:1], epochs=1, train_size=300)
    assert sweep(runs, str(tmp_path), "fast", workers=1, poll=0.2) == 0
    text = capsys.readouterr().out
    assert "[0 done | 1 running | 0 left] started" in text and "[1 done | 0 running | 0 left] done" in text
    assert "sweep: 1 done, 0 failed, 0 skipped" in text
