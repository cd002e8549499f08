"""The solutions appendix: one file per chapter, numbered like the chapters, every code block a
fenced Python block that parses -- and, with SELECMIX_RUN_SOLUTIONS=1, runs (each file's blocks in
order, in one namespace, as a reader would paste them; several minutes on a laptop CPU)."""
from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parent.parent / "book"
FILES = sorted((BOOK / "solutions").glob("ch*.md"))
FENCE = re.compile(r"^```python\n(.*?)^```\s*$", re.M | re.S)


def blocks(path: Path) -> list[str]:
    return FENCE.findall(path.read_text())


def test_numbered_like_the_chapters():
    chapters = sorted(p.stem[:2] for p in BOOK.glob("0[1-9]_*.ipynb"))
    assert [p.stem for p in FILES] == [f"ch{n}" for n in chapters]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_code_is_fenced_python_that_parses(path):
    text = path.read_text()
    assert blocks(path), f"{path.name}: no ```python block"
    for code in blocks(path):
        ast.parse(code)
    # no indented code blocks (they render as prose inside a directive) and no curly quotes in code
    outside = FENCE.sub("", text)
    assert not re.search(r"^    \S", outside, re.M), f"{path.name}: indented code outside a ```python fence"
    for code in blocks(path):
        assert not re.search("[\u2018\u2019\u201c\u201d]", code), f"{path.name}: curly quotes in code"


@pytest.mark.skipif(os.environ.get("SELECMIX_RUN_SOLUTIONS") != "1", reason="set SELECMIX_RUN_SOLUTIONS=1 to run the solutions")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_solutions_run(path, monkeypatch, tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    monkeypatch.chdir(tmp_path)
    namespace = {"display": print, "__name__": "__solution__"}
    for code in blocks(path):
        exec(compile(code, f"{path.name}", "exec"), namespace)
        plt.close("all")
