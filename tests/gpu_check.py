"""GPU check for maintainers: ``make gpu-check`` (about 8 minutes at most on one GPU).

    python tests/gpu_check.py [--data ROOT] [--epochs 2] [--budget 480] [--tests FILE ...]

On a machine with CUDA, three parts, each printed with its time:

1. **Unit tests on CUDA.** The device-relevant test files (training, methods, losses, selection,
   diagnostics, embeddings; ``--tests`` overrides) run under pytest in a child process. Every
   config's ``device`` is ``auto``, which :func:`selecmix.train.resolve_device` turns into CUDA when
   present; a small pytest plugin wraps that function, fails the run if ``auto`` would give the CPU,
   and counts the runs that resolved to CUDA. ``tests/test_reference_runs.py`` is left out on
   purpose: its stored numbers are CPU references, bit for bit, and CUDA kernels differ in the last
   bits.
2. **Paper-profile epochs.** ``--epochs`` (default 2) epochs of ``vanilla`` and ``selecmix`` with
   the paper profile (the paper's data size, models and batch sizes) on every dataset the data root
   has: Colored MNIST from MNIST, Corrupted CIFAR-10 from CIFAR-10; seconds per epoch are printed
   (each epoch's time includes evaluating the valid and test splits).
3. **CPU vs CUDA agreement.** The same initial model (the paper's f for each dataset: the MLP of
   Colored MNIST, the ResNet-18 of Corrupted CIFAR-10) takes ``STEPS`` Adam steps on the same
   batch (the first training images of part 2's data; GCE + cross-entropy, as SelecMix's f and g
   use) on the CPU and on CUDA, TF32 off. They
   agree when every step's losses differ by at most ``LOSS_RTOL`` times max(|loss|, 1) and each parameter tensor's
   distance between the two runs is below ``PARAM_RTOL`` of how far it moved from the
   initialisation (Adam divides by sqrt of the second moment, so near-zero gradients can round
   differently; a relative-to-the-update tolerance is the fair one).

Without CUDA (``torch.cuda.is_available()`` false) the script says so on its first line, runs the
CPU half of part 3 for the MLP on seeded noise (seconds) so the script itself is exercised, skips the rest, and exits 0.
Exit status 1 when a part fails on a CUDA machine; the last line says PASS, FAIL or SKIPPED.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DEVICE_TESTS = ("test_train*.py", "test_method*.py", "test_losses*.py", "test_selection*.py",
                "test_mixing*.py", "test_diagnostics*.py", "test_embedding*.py", "test_custom*.py")
STEPS = 5
BATCH = 64
LOSS_RTOL = 1e-3
PARAM_RTOL = 2e-2


def _attr(name: str, *modules: str):
    """``name`` from the first of ``modules`` that has it (the package is being reorganised)."""
    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"none of {modules} defines {name}")


# ------------------------------------------------------------------ part 1: unit tests on CUDA


class CudaPlugin:
    """pytest plugin: every ``resolve_device('auto')`` must give CUDA; counts the CUDA runs."""

    def __init__(self):
        self.cuda_runs = 0
        self.cpu_runs = 0

    def pytest_sessionstart(self, session):
        train_module = sys.modules[_attr("resolve_device", "selecmix.train").__module__]
        original = train_module.resolve_device

        def resolve(name: str = "auto"):
            device = original(name)
            if name == "auto" and device.type != "cuda":
                raise RuntimeError("gpu check: device 'auto' resolved to the CPU on a CUDA machine")
            if device.type == "cuda":
                self.cuda_runs += 1
            else:
                self.cpu_runs += 1
            return device

        train_module.resolve_device = resolve

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_line(f"gpu check: {self.cuda_runs} training runs on CUDA, "
                                    f"{self.cpu_runs} pinned to the CPU by their test")


def run_tests(files: list[str], timeout: float) -> tuple[bool, str]:
    if not files:
        return False, "no test files matched"
    cmd = [sys.executable, __file__, "--pytest-child", "--", "-q", "-x", "-p", "no:cacheprovider", *files]
    print("$", " ".join(cmd[0:1] + ["tests/gpu_check.py"] + cmd[2:]), flush=True)
    try:
        proc = subprocess.run(cmd, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f} s"
    return proc.returncode == 0, f"pytest exit status {proc.returncode}"


# ------------------------------------------------------------------ part 2: paper-profile epochs


def datasets_present(data_root: str | None) -> list[tuple[str, str]]:
    root = Path(data_root) if data_root else None
    found = []
    if root and (root / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        found.append(("cmnist", "mnist"))
    if root and ((root / "cifar10" / "train").is_dir() or (root / "cifar-10-batches-py").is_dir()):
        found.append(("cifar10c", "cifar10"))
    return found


def paper_epochs(data_root: str | None, epochs: int, built: dict) -> bool:
    make_config = _attr("make_config", "selecmix.config")
    train = _attr("train_run", "selecmix.experiments.runs")
    load_data = _attr("load_data", "selecmix.train")
    found = datasets_present(data_root)
    if not found:
        print(f"  no MNIST or CIFAR-10 under {data_root!r}: paper-profile epochs SKIPPED")
        return True
    ok = True
    for dataset, source in found:
        t = time.perf_counter()
        cfg = make_config(dataset, 1.0, "vanilla", "paper", data_root=data_root, source=source, epochs=epochs)
        splits = built[dataset] = load_data(cfg)
        print(f"  {dataset}: data built in {time.perf_counter() - t:.0f} s "
              f"({len(splits.train)} train / {len(splits.valid)} valid / {len(splits.test)} test)", flush=True)
        for method in ("vanilla", "selecmix"):
            cfg = make_config(dataset, 1.0, method, "paper", data_root=data_root, source=source, epochs=epochs)
            t = time.perf_counter()
            try:
                r = train(cfg, splits=splits, progress=False)
            except Exception as exc:  # noqa: BLE001 -- report and go on with the other runs
                ok = False
                print(f"  {dataset} {method}: FAILED {type(exc).__name__}: {exc}")
                continue
            per_epoch = [h["seconds"] for h in r["history"]]
            print(f"  {dataset} {method:9s} ({cfg.f_arch}, batch {cfg.batch_size}, pool {cfg.large_batch}): "
                  f"s/epoch {', '.join(f'{s:.1f}' for s in per_epoch)}; "
                  f"unbiased test {r['last_test_unbiased']:.1f} % after {len(per_epoch)} epochs; "
                  f"device {r.get('device', '?')}; {time.perf_counter() - t:.0f} s in all", flush=True)
    return ok


# ------------------------------------------------------------------ part 3: CPU vs CUDA steps


def _batch(dataset: str, splits) -> tuple[torch.Tensor, torch.Tensor, str]:
    """A fixed batch of f's inputs: the first training images of part 2's data when it was built,
    else seeded noise (shaped like the dataset's images)."""
    if splits is not None:
        x = splits.train.images[:BATCH].float() / 255.0
        x = x.flatten(1) if dataset == "cmnist" else (x - 0.5) / 0.25
        return x, splits.train.y[:BATCH].long(), f"first {len(x)} training images"
    gen = torch.Generator().manual_seed(0)
    shape = (BATCH, 3 * 28 * 28) if dataset == "cmnist" else (BATCH, 3, 32, 32)
    return torch.rand(shape, generator=gen), torch.randint(0, 10, (BATCH,), generator=gen), "seeded noise"


def _steps(model, x, y, device) -> tuple[list[float], dict[str, torch.Tensor]]:
    gce_loss = _attr("gce_loss", "selecmix.losses")
    model = model.to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)     # the default (non-fused) path on both
    x, y = x.to(device), y.to(device)
    losses = []
    for _ in range(STEPS):
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits, y) + gce_loss(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, {k: v.detach().cpu().double() for k, v in model.state_dict().items()}


def agreement(built: dict, cuda: bool) -> bool:
    make_classifier = _attr("make_classifier", "selecmix.models")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ok = True
    for dataset, arch in (("cmnist", "mlp"), ("cifar10c", "resnet18")):
        if not cuda and arch != "mlp":
            print(f"  {dataset} ({arch}): SKIPPED without CUDA (the CPU half alone takes a minute on a small machine)")
            continue
        t = time.perf_counter()
        x, y, what = _batch(dataset, built.get(dataset))
        torch.manual_seed(0)
        init = make_classifier(arch, 10)
        start = {k: v.detach().double().clone() for k, v in init.state_dict().items()}
        cpu_losses, cpu_params = _steps(copy.deepcopy(init), x, y, "cpu")
        line = f"  {dataset} ({arch}, {what}, batch {len(x)}): CPU losses {', '.join(f'{v:.5f}' for v in cpu_losses)}"
        if not cuda:
            print(line + f"; CUDA side SKIPPED ({time.perf_counter() - t:.1f} s)")
            continue
        gpu_losses, gpu_params = _steps(copy.deepcopy(init), x, y, "cuda")
        loss_err = max(abs(a - b) / max(abs(a), 1.0) for a, b in zip(cpu_losses, gpu_losses))
        worst, worst_name = 0.0, ""
        for name, p in cpu_params.items():
            if not p.is_floating_point() or p.numel() == 0:
                continue
            moved = (p - start[name]).norm().item()
            if moved == 0.0:
                continue   # untouched buffers (e.g. BatchNorm's counters)
            rel = (p - gpu_params[name]).norm().item() / moved
            if rel > worst:
                worst, worst_name = rel, name
        agree = loss_err <= LOSS_RTOL and worst <= PARAM_RTOL
        ok &= agree
        print(line + f"\n    CUDA losses {', '.join(f'{v:.5f}' for v in gpu_losses)}\n"
              f"    max loss difference / max(|loss|, 1) {loss_err:.2e} (tolerance {LOSS_RTOL:g}); worst parameter "
              f"distance / its update {worst:.2e} at {worst_name} (tolerance {PARAM_RTOL:g}): "
              f"{'AGREE' if agree else 'DISAGREE'} ({time.perf_counter() - t:.1f} s)", flush=True)
    return ok


# ------------------------------------------------------------------ main


def main() -> int:
    if "--pytest-child" in sys.argv:
        import pytest
        args = sys.argv[sys.argv.index("--") + 1:]
        return pytest.main(args, plugins=[CudaPlugin()])

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("SELECMIX_DATA", ""),
                        help="data root with MNIST/ and/or cifar10/ (default: $SELECMIX_DATA)")
    parser.add_argument("--epochs", type=int, default=2, help="paper-profile epochs per run (default 2)")
    parser.add_argument("--budget", type=float, default=480, help="seconds for the whole check (default 480)")
    parser.add_argument("--tests", nargs="*", help="test files for part 1 (default: the device-relevant ones)")
    args = parser.parse_args()
    data_root = args.data or None
    start = time.perf_counter()
    os.environ.setdefault("SELECMIX_CACHE", tempfile.mkdtemp(prefix="selecmix-gpu-check-cache-"))

    cuda = torch.cuda.is_available()
    if cuda:
        print(f"gpu check: CUDA available: {torch.cuda.get_device_name(0)}; torch {torch.__version__}, "
              f"CUDA {torch.version.cuda}; data root {data_root!r}", flush=True)
    else:
        print(f"gpu check: CUDA NOT AVAILABLE on this machine (torch {torch.__version__}, built with CUDA "
              f"{torch.version.cuda}): the CUDA parts are SKIPPED; only the CPU half of the agreement "
              "check runs", flush=True)

    results, built = {}, {}
    if cuda:
        files = args.tests if args.tests else sorted(
            str(p.relative_to(ROOT)) for pattern in DEVICE_TESTS for p in (ROOT / "tests").glob(pattern))
        t = time.perf_counter()
        print(f"[1/3] unit tests on CUDA: {', '.join(files)}", flush=True)
        passed, why = run_tests(files, timeout=max(60.0, 0.45 * args.budget))
        results["unit tests on CUDA"] = passed
        print(f"[1/3] {'passed' if passed else 'FAILED'} ({why}) in {time.perf_counter() - t:.0f} s", flush=True)

        t = time.perf_counter()
        print(f"[2/3] paper-profile epochs ({args.epochs} per run)", flush=True)
        results["paper-profile epochs"] = paper_epochs(data_root, args.epochs, built)
        print(f"[2/3] done in {time.perf_counter() - t:.0f} s", flush=True)
    else:
        print("[1/3] unit tests on CUDA: SKIPPED (no CUDA)")
        print("[2/3] paper-profile epochs on CUDA: SKIPPED (no CUDA)")

    t = time.perf_counter()
    print(f"[3/3] CPU vs CUDA: {STEPS} Adam steps from the same initialisation", flush=True)
    results["CPU vs CUDA agreement"] = agreement(built, cuda)
    print(f"[3/3] done in {time.perf_counter() - t:.0f} s", flush=True)

    total = time.perf_counter() - start
    if not cuda:
        print(f"gpu check: SKIPPED (no CUDA; the CPU side ran in {total:.0f} s)")
        return 0 if results["CPU vs CUDA agreement"] else 1
    failed = [name for name, passed in results.items() if not passed]
    over = total > args.budget
    print(f"gpu check: {'FAIL' if failed else 'PASS'} in {total:.0f} s"
          + (f" (over the {args.budget:.0f} s budget)" if over else "")
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
