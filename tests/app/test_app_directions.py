"""The Directions page through the real app with AppTest: real shipped checkpoints, real MNIST test images.

What the page draws is compared with what aelab.explore.directions computes for the same base and direction.
The plain autoencoder (conv_ae) is encoded by torch in the app and here alike, so its pictures match exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from media import content, picture, pixels, private_app
from streamlit.testing.v1 import AppTest

from aelab.data.registry import load_labels
from aelab.explore import directions, encoding
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import load_checkpoint
from aelab.ui import navigation, text

APP = Path(__file__).resolve().parents[2] / "app.py"
SCALE = 4  # widgets.show's enlargement
TOLERANCE = 0.5 / 255 + 1e-6  # one PNG rounding


@pytest.fixture(scope="module")
def env(settings, tmp_path_factory: pytest.TempPathFactory):
    with private_app(settings, tmp_path_factory):
        yield


@pytest.fixture(scope="module")
def conv_ae(mnist_test):
    model = load_checkpoint(SHIPPED_DIR / "conv_ae.safetensors").model
    return model, encoding.encode_all(model, mnist_test.images).mu


def open_directions(model: str = "conv_ae") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.run()
    at.sidebar.selectbox(key="model_label").set_value(model).run()
    at.switch_page(navigation.DIRECTIONS.script).run()
    assert not at.exception
    return at


def decoded(at: AppTest) -> np.ndarray:
    """The current decode as shown, back at 28x28."""
    return pixels(at.image[0].value[2])[::SCALE, ::SCALE]


def direction_sliders(at: AppTest) -> list:
    return [s for s in at.slider if s.key.startswith("dir_t_")]


def test_pca_sliders_move_the_base_along_the_package_directions(env, conv_ae):
    model, codes = conv_ae
    at = open_directions()
    found = directions.principal_directions(codes, 5)
    sliders = direction_sliders(at)
    assert [s.label for s in sliders] == [
        text.direction_label(n, w, found.measure) for n, w in zip(found.names, found.weight)
    ]
    assert sliders[0].label.startswith("PC 1 · ") and sliders[0].label.endswith("% of variance")
    for s, std in zip(sliders, found.std):  # in standard deviations of the codes along each direction (#26)
        assert s.value == 0 and s.max == directions.WALK_EXTENT == -s.min and f"one is {std:.2f}" in s.help
    assert f"from −{directions.WALK_EXTENT:g} to +{directions.WALK_EXTENT:g} standard deviations" in " ".join(
        c.value for c in at.caption
    )  # the caption's range is the sliders
    base_image, recon, current = at.image[0].value
    assert current == recon  # all sliders at 0: the base code's decode
    grid, gif = at.image[1].value, at.image[2].value

    value = float(sliders[0].max)
    at.slider(key="dir_t_0").set_value(value).run()
    assert not at.exception
    assert at.image[0].value[:2] == [base_image, recon] and at.image[0].value[2] != recon
    expected = directions.walk(model, codes[0], found.vectors[0], np.array([value * found.std[0]]))[0]
    np.testing.assert_allclose(decoded(at), expected, atol=TOLERANCE)
    assert at.image[1].value == grid and at.image[2].value == gif  # the grid and GIF walk around the base

    second = float(direction_sliders(at)[1].min)  # two sliders add their steps
    at.slider(key="dir_t_1").set_value(second).run()
    steps = value * found.std[0] * found.vectors[0] + second * found.std[1] * found.vectors[1]
    both = encoding.decode(model, codes[0] + steps)[0]
    np.testing.assert_allclose(decoded(at), both, atol=TOLERANCE)

    at.button(key="dir_reset").click().run()
    assert [s.value for s in direction_sliders(at)] == [0] * 5 and at.image[0].value[2] == recon
    at.slider(key="dir_t_0").set_value(value).run()
    at.number_input(key="dir_base_index").set_value(1).run()  # a new base puts the sliders back at 0
    assert not at.exception and at.slider(key="dir_t_0").value == 0
    assert at.image[0].value[1] == at.image[0].value[2] != recon

    at.slider(key="dir_k").set_value(3).run()
    assert [s.label.split(" · ")[0] for s in direction_sliders(at)] == ["PC 1", "PC 2", "PC 3"]


def test_the_walk_grid_and_gif_downloads_are_the_package_walks(env, conv_ae):
    model, codes = conv_ae
    at = open_directions()
    at.radio(key="dir_kind").set_value(text.SEFA).run()
    assert not at.exception
    found = directions.sefa_directions(model, 5, codes)
    assert [s.label.split(" · ")[0] for s in direction_sliders(at)] == found.names
    assert direction_sliders(at)[0].label.endswith("% of eigenvalues")

    expected = directions.walk_grid(model, codes[0], found, 8, 3)
    url = at.download_button(key="dir_grid_png").proto.url
    assert url.endswith(".png") and content(url) == content(at.image[1].value[0])  # the download is what is shown
    np.testing.assert_allclose(pixels(url), expected, atol=TOLERANCE)
    assert at.image[1].captions == ["Rows, top to bottom: " + ", ".join(found.names)]
    at.slider(key="dir_grid_steps").set_value(4).run()
    np.testing.assert_allclose(
        pixels(at.download_button(key="dir_grid_png").proto.url),
        directions.walk_grid(model, codes[0], found, 4, 3),
        atol=TOLERANCE,
    )

    at.selectbox(key="dir_gif_row").set_value(found.names[2]).run()
    gif = at.download_button(key="dir_gif").proto.url
    assert gif.endswith(".gif")
    frames = directions.walk(model, codes[0], found.vectors[2], directions.walk_values(float(found.std[2]), 16))
    assert content(gif) == directions.walk_gif(frames, 6)
    shown = picture(gif)
    assert shown.n_frames == 2 * 16 - 2 and shown.size == (28 * 6, 28 * 6)


def test_the_attribute_vector_turns_a_one_into_a_seven(env, conv_ae, mnist_test):
    model, codes = conv_ae
    labels = mnist_test.labels.numpy()
    one = int(np.flatnonzero(labels == 1)[0])
    at = open_directions()
    at.number_input(key="dir_base_index").set_value(one).run()
    at.radio(key="dir_kind").set_value(text.ATTRIBUTE).run()
    assert not at.exception
    assert (at.selectbox(key="dir_class_a").value, at.selectbox(key="dir_class_b").value) == (1, 7)
    attribute = directions.attribute_vector(codes[labels == 1], codes[labels == 7])
    (slider,) = direction_sliders(at)
    names = load_labels("mnist", "test")[1]
    assert slider.label == text.direction_label(f"{names[1]} to {names[7]}", attribute.norm, "distance")

    test_pixels = mnist_test.images.numpy()[:, 0].reshape(len(mnist_test), -1)

    def votes_for(digit: int) -> float:  # the labels of the decode's 10 nearest test images, in pixels
        distance = np.linalg.norm(test_pixels - decoded(at).reshape(1, -1), axis=1)
        return float((labels[np.argsort(distance)[:10]] == digit).mean())

    assert votes_for(1) >= 0.8
    at.slider(key="dir_t_0").set_value(attribute.norm / attribute.std).run()  # A's mean code plus this lands on B's
    expected = directions.walk(model, codes[one], attribute.direction, np.array([attribute.norm]))[0]
    np.testing.assert_allclose(decoded(at), expected, atol=TOLERANCE)
    assert votes_for(7) >= 0.8

    at.selectbox(key="dir_class_b").set_value(1).run()  # one class to itself: said, not a traceback
    assert not at.exception and any("two different classes" in e.value for e in at.error)


def test_an_uploaded_image_is_a_base_and_the_mlp_vae_works_too(env, mnist_test):
    at = open_directions("vae")
    at.radio(key="dir_base_source").set_value("Upload").run()
    assert any("Reconstruct page" in info.value for info in at.info)
    upload = mnist_test.images[3, 0].numpy()
    at.session_state["uploads"] = {"a digit": upload}
    at.run()
    assert not at.exception
    np.testing.assert_allclose(pixels(at.image[0].value[0])[::SCALE, ::SCALE], upload, atol=TOLERANCE)
    model = load_checkpoint(SHIPPED_DIR / "vae.safetensors").model
    base = encoding.encode(model, upload[None])[0]
    at.slider(key="dir_t_0").set_value(float(direction_sliders(at)[0].max)).run()  # PCA of the VAE's codes
    assert not at.exception and at.image[0].value[2] != at.image[0].value[1]

    at.radio(key="dir_kind").set_value(text.SEFA).run()  # from the weights alone: the page's and the package's agree
    value = float(direction_sliders(at)[0].max)
    at.slider(key="dir_t_0").set_value(value).run()
    assert not at.exception
    sefa = directions.sefa_directions(model, 5, encoding.encode_all(model, mnist_test.images).mu)
    step = np.array([value * sefa.std[0]])
    np.testing.assert_allclose(decoded(at), directions.walk(model, base, sefa.vectors[0], step)[0], atol=TOLERANCE)


def test_two_map_selections_saved_as_groups_make_the_attribute_vector(env, mnist_test, conv_ae, lasso_map):
    model, mu = conv_ae
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    at.sidebar.selectbox(key="model_label").set_value("conv_ae").run()
    at.switch_page(navigation.DIRECTIONS.script).run()
    at.radio(key="dir_kind").set_value(text.SELECTIONS).run()
    assert not at.exception and any("Save two groups on the Latent map" in i.value for i in at.info)
    labels = mnist_test.labels.numpy()
    rows_a, rows_b = np.flatnonzero(labels == 4)[:60], np.flatnonzero(labels == 9)[:80]
    at.switch_page(navigation.MAP.script).run()
    for side, rows in (("A", rows_a), ("B", rows_b)):
        lasso_map(at, rows)
        at.run()
        at.button(key=f"group_{side}").click().run()
        assert not at.exception
    at.switch_page(navigation.DIRECTIONS.script).run()
    at.radio(key="dir_kind").set_value(text.SELECTIONS).run()
    assert any(c.value == "Group A: 60 images; group B: 80 images." for c in at.caption)
    expected = directions.attribute_vector(mu[rows_a], mu[rows_b], "selection A to B")
    slider = direction_sliders(at)[0]
    assert slider.label == text.direction_label("selection A to B", expected.norm, "distance")
    value = min(float(expected.norm / expected.std), slider.max)  # A's mean code plus the vector lands on B's
    at.slider(key=slider.key).set_value(value).run()
    base = mu[at.number_input(key="dir_base_index").value]
    step = np.array([value * expected.std])  # the slider is in standard deviations of the codes along it
    np.testing.assert_allclose(decoded(at), directions.walk(model, base, expected.direction, step)[0], atol=TOLERANCE)
