"""Every bad input of the command line gives one clear line on stderr and exit status 2, before
any training and with nothing half-written; work is never discarded (issue 23)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from selecmix.experiments.cli import main

TINY = ["--method", "vanilla", "--profile", "fast", "--source", "embedded", "--ratio", "5",
        "--train-size", "300", "--no-progress", "--threads", "1"]


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selecmix", *args], capture_output=True, text=True, **kwargs)


def _one_line_error(capsys, code: int, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def _train(out, *extra: str) -> int:
    return main(["train", *TINY, "--epochs", "1", "--out", str(out), *extra])


def test_version(capsys):
    proc = _run("--version")
    assert proc.returncode == 0 and proc.stdout.strip().startswith("selecmix ")


@pytest.mark.parametrize("option, value", [("--source", "nowhere"), ("--f-arch", "vgg"), ("--g-arch", "vgg"),
                                           ("--similarity", "euclid"), ("--pairs", "C"), ("--device", "bogus"),
                                           ("--g-similarity-mode", "half"), ("--input-scale", "huge")])
def test_enumerated_options_are_choices(option, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", option, value])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1
    assert f"argument {option}: invalid choice: '{value}'" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_device_cuda_without_cuda(tmp_path, capsys):
    _one_line_error(capsys, _train(tmp_path / "out", "--device", "cuda"), "device 'cuda'", "no CUDA device",
                    "use device 'cpu' or 'auto'")
    assert not (tmp_path / "out").exists()


def test_out_is_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    _one_line_error(capsys, _train(tmp_path / "file"), f"--out {tmp_path / 'file'} is a file")
    _one_line_error(capsys, _train(tmp_path / "file" / "sub"), "is a file, so the folder cannot be created")


def test_out_not_writable(tmp_path, capsys):
    if os.geteuid() == 0:            # root writes into read-only folders: use a read-only file system
        out = Path("/sys/selecmix-out")
    else:
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o555)
        out = tmp_path / "ro" / "out"
    _one_line_error(capsys, _train(out), f"--out {out} is not writable", "choose a folder you can write to")
    assert not out.exists()


def test_missing_data_root_leaves_no_folders(tmp_path, capsys):
    root = tmp_path / "no-data"
    code = main(["train", "--method", "vanilla", "--profile", "fast", "--source", "mnist", "--data-root", str(root),
                 "--epochs", "1", "--out", str(tmp_path / "out"), "--no-progress"])
    _one_line_error(capsys, code, "MNIST was not found", "Fix:")
    assert not root.exists() and not (tmp_path / "out").exists()


def test_workers_zero_is_an_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--plan", "table1", "--workers", "0"])
    assert exit_.value.code == 2 and "--workers: must be at least 1" in capsys.readouterr().err


def test_rerun_refuses_resumes_or_starts_over(tmp_path, capsys):
    """A checkpoint without --resume: refused, naming --resume and --force; --resume continues;
    --force starts over (and says so); a recorded result is returned with a notice."""
    from selecmix.config import make_config
    from selecmix.experiments.runs import checkpoint_file, train_run

    out = tmp_path / "out"
    cfg = make_config("cmnist", 5.0, "vanilla", "fast", source="embedded", train_size=300, epochs=2, threads=1)
    train_run(cfg, out=out, progress=False, stop_after=1)                  # an interrupted run: epoch 1 of 2
    ckpt = checkpoint_file(cfg, out)
    assert ckpt.exists()
    _one_line_error(capsys, _train(out, "--epochs", "2"), str(ckpt), "1 epoch(s) done", "--resume", "--force")
    with pytest.raises(ValueError, match="resume=True .* force=True"):
        train_run(cfg, out=out, progress=False)                              # the library refuses too
    assert main(["train", *TINY, "--epochs", "2", "--out", str(out), "--force"]) == 0
    captured = capsys.readouterr()
    assert "--force: starting" in captured.err and "over" in captured.err and "result: " in captured.err
    assert main(["train", *TINY, "--epochs", "2", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "already recorded: " in captured.err and "--force to retrain" in captured.err
    assert json.loads(captured.out)["name"].startswith("cmnist-5pct-vanilla")
    assert not list(out.rglob("*.lock"))


def test_corrupt_checkpoint_with_resume(tmp_path, capsys):
    from selecmix.config import make_config
    from selecmix.experiments.runs import checkpoint_file

    out = tmp_path / "out"
    ckpt = checkpoint_file(make_config("cmnist", 5.0, "vanilla", "fast", source="embedded", train_size=300,
                                       epochs=1, threads=1), out)
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"not a checkpoint")
    _one_line_error(capsys, _train(out, "--resume"), f"checkpoint {ckpt} cannot be read", "--force")
    assert ckpt.read_bytes() == b"not a checkpoint" and not (out / "cmnist").exists()


def test_a_live_lock_skips_the_run_and_a_stale_one_is_taken_over(tmp_path, capsys):
    import platform

    from selecmix.config import make_config
    from selecmix.experiments.records import lock_path
    from selecmix.experiments.runs import checkpoint_file

    out = tmp_path / "out"
    cfg = make_config("cmnist", 5.0, "vanilla", "fast", source="embedded", train_size=300, epochs=1, threads=1)
    lock = lock_path(checkpoint_file(cfg, out))
    lock.parent.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(json.dumps({"pid": sleeper.pid, "host": platform.node(), "time": "now"}))
        assert _train(out) == 3
        assert "skipped: run is being trained by pid" in capsys.readouterr().err
    finally:
        sleeper.kill()
        sleeper.wait()
    assert _train(out) == 0                               # the holder is gone: its lock is stale
    assert "taking over the stale lock" in capsys.readouterr().err and not lock.exists()


def _interruptible(args: list[str]) -> subprocess.Popen:
    """Start ``args`` as the user's terminal would: SIGINT at its default, even when pytest itself was
    started in the background by a shell without job control (which leaves SIGINT ignored, and an
    ignored SIGINT is inherited by the child: Ctrl-C would never reach it)."""
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)


def test_ctrl_c_during_training(tmp_path):
    from selecmix.config import make_config
    from selecmix.experiments.runs import checkpoint_file

    out = tmp_path / "out"
    ckpt = checkpoint_file(make_config("cmnist", 5.0, "vanilla", "fast", source="embedded", train_size=300,
                                       epochs=200, threads=1), out)
    proc = _interruptible([sys.executable, "-m", "selecmix", "train", *TINY, "--epochs", "200", "--out", str(out)])
    _wait_for(ckpt, proc)                                  # the first epoch is done
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted after epoch" in stderr and "rerun with --resume" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert ckpt.exists() and not list(out.rglob("*.lock"))


def test_ctrl_c_in_sweep(tmp_path):
    """The sweep stops its runs (no traceback in the terminal or in their logs) and says how to go on."""
    out = tmp_path / "out"
    proc = _interruptible([sys.executable, "-m", "selecmix", "sweep", "--plan", "table1", "--ratios", "5",
                           "--seeds", "0", "--methods", "vanilla", "mixup", "--profile", "fast", "--epochs", "200",
                           "--train-size", "300", "--workers", "2", "--out", str(out)])
    _wait_for(out / "checkpoints", proc)
    deadline = time.monotonic() + 240          # a loaded machine: wait for both runs' first checkpoint
    while len(list((out / "checkpoints").glob("*.pt"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr
    assert "rerun the same command to continue" in stderr and "0 done" in stdout
    logs = list((out / "logs").glob("*.log"))
    assert len(logs) == 2
    for log in logs:
        text = log.read_text()
        # "after epoch k" once a checkpoint exists; "before the first epoch ended" on a slow machine
        assert "Traceback" not in text and "interrupted " in text and "rerun with --resume" in text, text
    assert not list(out.rglob("*.lock"))
    ps = subprocess.run(["pgrep", "-f", str(out)], capture_output=True, text=True)
    assert not ps.stdout.strip(), "children still running"
