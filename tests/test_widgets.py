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
