"""The code the book prints is the code that runs: every function or method a chapter shows with
``inspect.getsource`` is patched with a counting wrapper, and a tiny fast-profile training (or, for
the data-building functions, the data builder) must call it."""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest
import torch

from selecmix.config import make_config
from selecmix.data import load_splits
from selecmix.experiments.runs import train_run

BOOK = Path(__file__).resolve().parent.parent / "book"
TINY = dict(epochs=1, train_size=600, large_batch=256, batch_size=64, threads=1)


def printed_sources() -> list[tuple[str, str]]:
    """(chapter, expression) of every object a chapter passes to ``inspect.getsource``, with the
    chapter's ``selecmix`` imports resolved (``for fn in (a, b): getsource(fn)`` counts a and b)."""
    found = []
    for nb in sorted(BOOK.glob("*.ipynb")):
        cells = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
        for cell in cells:
            src = "".join(cell["source"])
            if "getsource" not in src:
                continue
            tree = ast.parse("\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("!", "%"))))
            loops = {node.target.id: [ast.unparse(e) for e in node.iter.elts] for node in ast.walk(tree)
                     if isinstance(node, ast.For) and isinstance(node.iter, ast.Tuple)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("getsource"):
                    arg = ast.unparse(node.args[0])
                    found += [(nb.stem, e) for e in loops.get(arg, [arg])]
    return found


def imports_of(chapter: str) -> dict:
    """The namespace of a chapter's ``selecmix`` imports."""
    ns: dict = {}
    nb = BOOK / f"{chapter}.ipynb"
    for cell in json.loads(nb.read_text())["cells"]:
        for line in "".join(cell["source"]).splitlines():
            if cell["cell_type"] == "code" and line.startswith(("from selecmix", "import selecmix")):
                exec(line, ns)
    return ns


# How each printed object is exercised: a tiny training run of this config (fast profile), or
# ``build`` for functions that build data rather than train (named in the test's report).
RUN = {"LfF.base_loss": dict(method="lff"), "losses.gce_loss": dict(method="lff"),
       "LisaMixer.loss": dict(method="lisa"), "lisa_partners": dict(method="lisa"),
       "mixup_batch": dict(method="mixup"), "beta_sample": dict(method="mixup"),
       "bias_label_pairs": dict(method="selecmix", similarity="gt"),
       "bias_label_similarity": dict(method="selecmix", similarity="gt"),
       "losses.supcon_loss": dict(method="selecmix", similarity="sc"),
       "SelecMixMixer.setup": dict(method="selecmix", g_pretrain_epochs=1),
       "pretrain_source": dict(method="selecmix", g_pretrain_epochs=1),
       "dfa_loss": dict(method="dfa"), "end_regularisers": dict(method="end"),
       "hsic_unbiased": dict(method="rebias"), "ReBias.f_step": dict(method="rebias"),
       "project_out": dict(method="hex"), "HEX.base_loss": dict(method="hex"),
       "add_label_noise": "build", "colorize": "build", "pattern_mnist": "build", "probe_bias": "probe"}


def _patch_everywhere(obj, wrapper, monkeypatch) -> int:
    """Replace ``obj`` by ``wrapper`` wherever a loaded selecmix module or class holds it."""
    n = 0
    for name, module in list(sys.modules.items()):
        if not (name == "selecmix" or name.startswith("selecmix.")):
            continue
        for attr, value in list(vars(module).items()):
            if value is obj:
                monkeypatch.setattr(module, attr, wrapper)
                n += 1
            elif isinstance(value, type) and vars(value).get(obj.__name__) is obj:
                monkeypatch.setattr(value, obj.__name__, wrapper)
                n += 1
    return n


@pytest.fixture(scope="module")
def tiny():
    return load_splits("cmnist", 5.0, source="embedded", train_size=600)


SOURCES = printed_sources()


def test_the_chapters_print_sources():
    names = {e for _, e in SOURCES}
    assert {"pairs_from_similarity", "selecmix_selection", "SelecMixMixer.prepare"} <= names


@pytest.mark.parametrize("chapter,expr", SOURCES, ids=[f"{c[:2]}-{e}" for c, e in SOURCES])
def test_printed_source_runs(chapter, expr, tiny, monkeypatch):
    obj = eval(expr, imports_of(chapter))
    assert obj.__module__.startswith("selecmix"), f"{expr} is not the package's"
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return obj(*args, **kwargs)

    assert _patch_everywhere(obj, counting, monkeypatch), f"{expr} not found in the package"
    how = RUN.get(expr, dict(method="selecmix"))
    torch.manual_seed(0)
    if how == "build":                       # data builders: not on the training path
        from selecmix.book import ch07_your_own_data
        from selecmix.data import colored_mnist

        if expr == "pattern_mnist":
            ch07_your_own_data.pattern_mnist(1.0)
        else:
            colored_mnist.build_colored_mnist(5.0, source="embedded", train_size=600, label_noise=2.0,
                                              use_cache=False)
    elif how == "probe":                     # the book's Table 3 probe calls the one the runs record
        from selecmix.book import ch03_sc_vs_gsc
        from selecmix.experiments import probes

        run = train_run(make_config("cmnist", 5.0, "selecmix", "fast", **TINY), splits=tiny, progress=False, keep=True)
        probe_calls = []
        original = probes.bias_probe_on
        monkeypatch.setattr(ch03_sc_vs_gsc, "bias_probe_on", lambda *a, **k: probe_calls.append(1) or original(*a, **k))
        ch03_sc_vs_gsc.probe_bias(run["method"], tiny, max_train=300)
        assert probe_calls
    else:
        cfg = dict(how)
        train_run(make_config("cmnist", 5.0, cfg.pop("method"), "fast", **{**TINY, **cfg}), splits=tiny, progress=False)
    assert calls, f"{chapter} prints {expr}, but {how} never calls it"
