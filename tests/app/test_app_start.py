"""The Start page under AppTest: first in the navigation, the eight ideas in order, each with a live figure of the
chosen model and a link to the page that shows it."""

from __future__ import annotations

from pathlib import Path

import pytest
from media import private_app
from streamlit.testing.v1 import AppTest

from aelab.explore import sweep
from aelab.settings import SHIPPED_DIR
from aelab.ui import navigation
from aelab.ui.lessons import IDEAS

APP = str(Path(__file__).resolve().parents[2] / "app.py")
ORDER = [
    "The bottleneck",
    "Reconstruction",
    "Sampling",
    "The posterior",
    "KL and beta",
    "Interpolation",
    "Denoising",
    "Anomalies",
]


@pytest.fixture(scope="module")
def env(settings, tmp_path_factory: pytest.TempPathFactory):
    with private_app(settings, tmp_path_factory):
        yield


def test_the_ideas_come_in_a_natural_order_each_naming_a_page():
    assert [idea.title for idea in IDEAS] == ORDER
    assert all(idea.page in navigation.PAGES and idea.page is not navigation.START for idea in IDEAS)
    assert navigation.PAGES[0] is navigation.START  # first in the navigation


def test_start_page_draws_every_idea_with_a_figure_and_a_link(env):
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page(navigation.START.script).run()
    assert not at.exception, [e.value for e in at.exception]
    ideas = [m.value for m in at.main.markdown if m.value.startswith("**") and ". " in m.value]
    assert [m.split(".** ", 1)[0].split(". ", 1)[1] for m in ideas] == ORDER
    links = [link.proto.page for link in at.main.get("page_link")]
    # a link names its page's URL path: the script's name, and none for the page the app opens on
    assert links == ["" if i.page is navigation.DEFAULT else Path(i.page.script).stem for i in IDEAS]
    captions = [c for image in at.main.image for c in image.captions]
    assert "decode(mean), then three draws" in captions  # the default model is a VAE: its posterior
    assert ["a digit", "a letter", "rebuilt", "rebuilt"] == captions[-4:]
    assert ["clean", "noisy", "this model", "denoising AE"] == captions[-8:-4]  # beside the denoising starter
    recorded = sweep.load(SHIPPED_DIR / sweep.RESULTS_FILE)  # the sweep's MIG against beta, and its sentence
    assert sweep.mig_sentence(recorded) in [c.value for c in at.main.caption]
    assert len(at.main.get("plotly_chart")) == 1

    at.sidebar.selectbox(key="model_label").set_value("conv_ae").run()
    assert not at.exception
    assert any("plain autoencoder: one code per picture" in c.value for c in at.main.caption)
    assert "codes from N(0, I), decoded by this autoencoder (it was never trained for it)" in [
        c for image in at.main.image for c in image.captions
    ]
