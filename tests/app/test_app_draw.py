"""The Draw page in AppTest: the canvas is a custom component (drawn strokes are tested in Chromium, in
tests/system/browser/test_app_browser.py); here, the page before anything is drawn, and a drawing's way through it."""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from aelab.images.recipe import preprocess
from aelab.ui import navigation

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_the_page_asks_for_a_drawing_before_there_is_one():
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page(navigation.DRAW.script).run()
    assert not at.exception and at.title[0].value == "Draw"
    assert any(info.value.startswith("Draw a digit on the black square") for info in at.info)
    assert not at.get("plotly_chart")  # no map before a drawing


def test_a_canvas_drawing_becomes_an_mnist_style_digit():
    """What the canvas returns (RGBA, white strokes on black, 280x280) goes through MNIST's recipe."""
    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    ImageDraw.Draw(canvas).line([(98, 56), (182, 56), (126, 238)], fill=(255, 255, 255, 255), width=20)
    prepared = preprocess(Image.fromarray(np.asarray(canvas)), with_steps=False)
    ink = prepared.image > 0.5
    rows = np.flatnonzero(ink.any(1))
    assert prepared.image.shape == (28, 28) and rows[-1] - rows[0] + 1 in (19, 20, 21)  # fitted to MNIST's box
    assert abs(np.average(np.indices((28, 28))[0], weights=prepared.image) - 14) < 1.0  # centred by mass
