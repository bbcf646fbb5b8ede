"""A widget shows what its page uses, as the browser draws it, and the words under it are true.

The browser draws a widget from the message the server sends: a widget it has not drawn before shows the
message's default unless the server sets a value (`set_value`), and one it has drawn keeps what it showed
unless the server sets one. `shown_*` read that message as the browser does, not the server's own state.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from media import private_app
from streamlit.testing.v1 import AppTest

from aelab.explore import encoding
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import load_checkpoint
from aelab.ui import keys, navigation

APP = str(Path(__file__).resolve().parents[2] / "app.py")
INDEX = keys.TRAVERSE_BASE.index


@pytest.fixture(scope="module", autouse=True)
def env(settings, tmp_path_factory):
    with private_app(settings, tmp_path_factory):
        yield


def shown_number(at: AppTest, key: str) -> float:
    """The number a newly drawn st.number_input shows in the browser."""
    proto = at.number_input(key=key).proto
    return proto.value if proto.set_value else proto.default


def shown_option(at: AppTest, key: str, before: tuple[str, str] | None = None) -> tuple[str, str]:
    """(widget id, the option the browser shows) of an st.selectbox; `before` is what it showed on the last run."""
    proto = at.selectbox(key=key).proto
    if proto.set_value:
        return proto.id, proto.raw_value
    if before is not None and before[0] == proto.id:
        return before
    return proto.id, proto.options[proto.default]


def base_decode(at: AppTest) -> str:
    return at.image[0].value[0]  # the base picture, drawn inside the page: equal URIs are equal pictures


def test_a_link_opens_traverse_on_its_point_and_the_index_box_reads_it():
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"model": "conv_vae", "data": "mnist", "point": "7"})
    at.switch_page(navigation.TRAVERSE.script)  # the link's path: the page is the first one drawn
    at.run()
    assert not at.exception and at.title[0].value == "Traverse"
    assert at.number_input(key=INDEX).value == 7 and shown_number(at, INDEX) == 7
    seven = base_decode(at)
    at.number_input(key=INDEX).set_value(6).run()
    assert base_decode(at) != seven
    at.number_input(key=INDEX).increment().run()  # + moves from the image shown
    assert at.number_input(key=INDEX).value == 7 and base_decode(at) == seven


def test_use_as_traversal_base_sets_the_index_box_the_traverse_page_shows(click_map):
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page(navigation.TRAVERSE.script).run()  # Traverse drawn once: its box has shown 0
    assert shown_number(at, INDEX) == 0
    at.switch_page(navigation.MAP.script).run()
    click_map(at, index=7)
    at.run()
    at.button(key="use_base").click().run()
    at.switch_page(navigation.TRAVERSE.script).run()
    assert not at.exception
    assert at.number_input(key=INDEX).value == 7 and shown_number(at, INDEX) == 7
    seven = base_decode(at)
    at.number_input(key=INDEX).decrement().run()
    assert at.number_input(key=INDEX).value == 6 and base_decode(at) != seven


def test_the_gif_direction_box_follows_the_chosen_directions():
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page(navigation.DIRECTIONS.script).run()
    shown = shown_option(at, "dir_gif_row")
    assert shown[1] == "PC 1" and at.image[-1].captions[0].startswith("PC 1:")
    for kind in ("sefa", "attribute", "pca"):
        at.radio(key="dir_kind").set_value(kind).run()
        assert not at.exception
        shown = shown_option(at, "dir_gif_row", shown)
        named = at.image[-1].captions[0].split(":")[0]  # the GIF's caption names the direction it walks
        assert shown[1] == named, kind


def test_traverse_says_collapsed_only_when_some_dimensions_are(mnist_test):
    codes = encoding.encode_all(load_checkpoint(SHIPPED_DIR / "conv_ae.safetensors").model, mnist_test.images)
    n = len(encoding.dimension_stats(codes).collapsed)
    assert not encoding.dimension_stats(codes).collapsed.any(), "the shipped conv_ae is expected to use every dim"
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.sidebar.selectbox(key=keys.MODEL_LABEL).set_value("conv_ae").run()
    at.switch_page(navigation.TRAVERSE.script).run()
    words = " ".join(c.value for c in at.main.caption)
    assert f"{n} of {n} are active" in words and "collapsed" not in words
    at.sidebar.selectbox(key=keys.MODEL_LABEL).set_value("vae").run()  # the shipped VAE leaves some unused
    assert "The others are collapsed." in " ".join(c.value for c in at.main.caption)
