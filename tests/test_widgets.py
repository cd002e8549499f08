"""The book's explorers: controls that redraw a figure shown as a PNG image."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

ipywidgets = pytest.importorskip("ipywidgets")

from selecmix.book.ch01_biased_datasets import alpha_explorer
from selecmix.book.plots import figure_explorer, render_png

PNG = b"\x89PNG"


def _parts(box):
    controls, message, image = box.children
    return controls.children, message, image


def test_render_png_returns_the_new_figure_and_closes_it():
    open_before = plt.get_fignums()
    png, text = render_png(lambda a: plt.subplots()[1].plot([0, a]), {"a": 1})
    assert png.startswith(PNG) and text == ""
    assert plt.get_fignums() == open_before
    png, text = render_png(lambda: "not yet recorded", {})
    assert png == b"" and text == "not yet recorded"


def test_figure_explorer_redraws_when_a_control_changes():
    slider = ipywidgets.IntSlider(value=1, min=1, max=5)
    box = figure_explorer(lambda n: plt.subplots()[1].plot(range(n)) if n < 5 else "too many", n=slider)
    controls, message, image = _parts(box)
    assert controls == (slider,) and bytes(image.value).startswith(PNG) and message.value == ""
    first = bytes(image.value)
    slider.value = 3
    assert bytes(image.value).startswith(PNG) and bytes(image.value) != first
    slider.value = 5                       # draw returned a message: shown instead of the figure
    assert message.value == "too many" and image.layout.display == "none"


def test_no_explorer_uses_an_output_widget():
    """``interactive`` / ``Output`` make nbclient stall now and then (jupyter/nbclient#312)."""
    box = alpha_explorer()
    kinds = {type(c).__name__ for c in box.children} | {type(c).__name__ for c in box.children[0].children}
    assert "Output" not in kinds and "interactive" not in kinds
    assert bytes(_parts(box)[2].value).startswith(PNG)


def test_chapter1_figures_have_colour_bars_and_the_overview_draws(tmp_path):
    import torch

    from selecmix.book.ch01_biased_datasets import CIFAR_GRID_PNG, CIFAR_GROUPS_PNG, FIGURES, alpha_static, group_heatmap
    from selecmix.book.overview import overview_figure, write_overview
    from selecmix.data import load_splits

    fig = alpha_static()
    assert len(fig.axes) == 5, "four heat maps and one colour bar"
    plt.close(fig)
    fig = group_heatmap(load_splits("cmnist", 1.0, source="embedded").train)
    assert len(fig.axes) == 2 and len(fig.axes[0].texts) == 100, "annotated counts and a colour bar"
    plt.close(fig)
    fig = overview_figure()
    assert len(fig.axes) >= 20          # the pool, the query, the two partners and the two mixes
    plt.close(fig)
    assert write_overview(tmp_path / "o.png").read_bytes().startswith(PNG)
    # the committed Corrupted CIFAR-10 samples for offline readers: present, small
    sizes = [(FIGURES / name).stat().st_size for name in (CIFAR_GRID_PNG, CIFAR_GROUPS_PNG, "selecmix_overview.png")]
    assert sum(sizes) < 1_000_000
    del torch


def test_tsne_points_use_the_colored_mnist_colours():
    import numpy as np
    import torch

    from selecmix.book.ch03_sc_vs_gsc import plot_tsne_grid
    from selecmix.data.colored_mnist import COLORS

    b = torch.arange(10)
    fig = plot_tsne_grid({("r", "c"): (np.random.default_rng(0).normal(size=(10, 2)), b)})
    faces = fig.axes[0].collections[0].get_facecolors()[:, :3]
    assert np.allclose(faces, COLORS.numpy(), atol=1e-3)
    plt.close(fig)


def test_show_code_displays_a_python_fence(monkeypatch):
    import inspect

    from selecmix.book import plots

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    plots.show_code(inspect.getsource(plots.show_code))
    assert shown[0].startswith("````python\ndef show_code") and shown[0].endswith("````")


def test_cifar10c_sample_figures_draw_from_cifar10(tmp_path):
    from conftest import has_cifar

    if not has_cifar():
        pytest.skip("CIFAR-10 is not in SELECMIX_DATA")
    from selecmix.book.ch01_biased_datasets import write_cifar10c_samples

    paths = write_cifar10c_samples(tmp_path)
    assert len(paths) == 2 and all(p.read_bytes().startswith(PNG) for p in paths)
    assert sum(p.stat().st_size for p in paths) < 900_000
