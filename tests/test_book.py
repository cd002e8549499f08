"""The book's structure: table of contents, notebooks without outputs, Colab links, exercises."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from selecmix.book import BRANCH, REPO_URL, colab_url

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
CHAPTERS = ["01_biased_datasets", "02_mixup_with_bias_labels", "03_sc_vs_gsc", "04_pair_selection",
            "05_training", "06_ablations", "07_your_own_data"]


def _toc_files() -> list[str]:
    return re.findall(r"file:\s*book/(\S+)", (ROOT / "_toc.yml").read_text())


def test_toc_order_and_files_exist():
    files = _toc_files()
    assert files[:len(CHAPTERS)] == CHAPTERS
    assert "intro" in (ROOT / "_toc.yml").read_text()
    for name in files:
        assert list(BOOK.glob(name + ".*")), f"{name} is in _toc.yml but not in book/"
    for nb in BOOK.glob("*.ipynb"):
        assert nb.stem in files, f"{nb.name} is not in _toc.yml"


def test_repository_url_in_one_place():
    config = (ROOT / "_config.yml").read_text()
    assert re.search(rf"url:\s*{re.escape(REPO_URL)}\s*$", config, re.M)
    assert re.search(rf"branch:\s*{BRANCH}\s*$", config, re.M)


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_first_cells(name):
    nb = json.loads((BOOK / f"{name}.ipynb").read_text())
    cells = nb["cells"]
    assert all(not c.get("outputs") and not c.get("execution_count") for c in cells if c["cell_type"] == "code"), \
        "notebooks are committed without outputs"
    first, second = "".join(cells[0]["source"]), "".join(cells[1]["source"])
    assert cells[0]["cell_type"] == "markdown" and colab_url(f"{name}.ipynb") in first
    assert cells[1]["cell_type"] == "code"
    assert "try:\n    import selecmix\nexcept ImportError:" in second
    install = [line for line in second.splitlines() if "pip install" in line]
    assert install and not any("torch" in line for line in install), "the install must not touch torch"
    assert REPO_URL in second and f"setup(\"{name}.ipynb\")" in second


@pytest.mark.parametrize("number, name", list(enumerate(CHAPTERS, start=1)))
def test_exercises_and_solutions(number, name):
    """Solutions are numbered like the chapters (solutions/ch01.md ... ch07.md, label
    solutions-ch01 ...); chapters 5-7 may still use the labels of the old numbering, which the
    solution files keep as second labels."""
    text = (BOOK / f"{name}.ipynb").read_text()
    label, legacy = f"solutions-ch{number:02d}", f"solutions-ch{number + 1}"
    solutions = BOOK / "solutions" / f"ch{number:02d}.md"
    body = solutions.read_text()
    assert "## Exercises" in text and (label in text or (number >= 5 and f"{{ref}}`{legacy}`" in text))
    assert body.startswith(f"({label})=")
    assert body.count("{dropdown}") >= 2, "at least two exercises, each solution folded"
    assert f"solutions/ch{number:02d}.md" in (BOOK / "appendix_solutions.md").read_text()


def test_status_table_is_current():
    """book/results/STATUS.md must be regenerated whenever result files change."""
    from selecmix.experiments.tables import load_results
    from selecmix.experiments.status import status_markdown

    results_dir = BOOK / "results"
    status = (results_dir / "STATUS.md").read_text()
    assert status_markdown(load_results(results_dir)) in status, "run: python -m selecmix status"


def test_live_runs_checkpoint_into_the_chapters_runs_folder(tmp_path, monkeypatch):
    """Chapters 1-4's live runs survive a disconnect: each epoch is checkpointed into the
    chapter's runs folder (SELECMIX_RUNS moves it), and a finished run is loaded, not retrained."""
    from selecmix.book import train_quietly
    from selecmix.config import make_config
    from selecmix.data import load_splits

    monkeypatch.setenv("SELECMIX_RUNS", str(tmp_path))
    splits = load_splits("cmnist", 5.0, source="embedded", train_size=600)
    cfg = make_config("cmnist", 5.0, "selecmix", "fast", epochs=2, train_size=600, large_batch=256, batch_size=64)
    first = train_quietly(cfg, splits, keep=True, runs="chapter")
    assert list(tmp_path.rglob("chapter/*.pt")), "no checkpoint in the chapter's runs folder"
    again = train_quietly(cfg, splits, keep=True, runs="chapter")
    assert again["history"] == first["history"] and "method" in again
