"""Colour models in the app: every page runs on 3x64x64 shapes and draws its pictures in colour; a model and
a dataset of different shapes get one line. AppTest over the real app, two small colour models trained here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from media import colourful, recording
from streamlit.testing.v1 import AppTest

from aelab.data.registry import load_dataset
from aelab.explore import encoding
from aelab.models.autoencoders import build_model
from aelab.models.config import ModelConfig
from aelab.store.checkpoints import save_checkpoint
from aelab.ui import navigation

APP = Path(__file__).resolve().parents[2] / "app.py"
SMALL = {"channels": 3, "side": 64, "latent_dim": 4, "widths": (8, 16, 16, 16)}


@pytest.fixture(scope="module")
def env(settings, tmp_path_factory: pytest.TempPathFactory):
    """Two colour models, a VAE and an autoencoder, fitted a little to shapes so that they decode colours."""
    runs = tmp_path_factory.mktemp("runs")
    x = load_dataset("shapes", "train").images[:256]
    for name, kind in (("colour-vae", "conv_vae"), ("colour-ae", "conv_ae")):
        torch.manual_seed(0)
        model = build_model(ModelConfig.for_model(kind, hidden=0, **SMALL))
        model.init_output_bias(x)
        optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
        for step in range(20):
            loss = model.loss(x[step * 12 % 240 :][:16], generator=torch.Generator().manual_seed(step))["loss"]
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        save_checkpoint(runs / f"{name}.safetensors", model.eval(), {"dataset": "shapes"})
    with settings(cache_dir=tmp_path_factory.mktemp("cache"), runs_dir=runs), pytest.MonkeyPatch.context() as mp:
        recording(mp)
        yield


def open_page(page: str, model: str = "colour-vae (yours)", dataset: str = "shapes") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()
    at.sidebar.selectbox(key="model_label").set_value(model).run()
    at.sidebar.selectbox(key="dataset").set_value(dataset).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize(
    "page",
    [
        navigation.TRAVERSE,
        navigation.DIRECTIONS,
        navigation.INTERPOLATE,
        navigation.SAMPLE,
        navigation.RECONSTRUCT,
        navigation.DENOISE,
        navigation.ANOMALY,
        navigation.COMPARE,
    ],
    ids=lambda page: page.title,
)
def test_every_page_draws_a_colour_model_in_colour(env, page):
    at = open_page(page.script)
    assert not at.main.error, [e.value for e in at.main.error]
    urls = [url for image in at.image for url in image.value]
    assert urls and any(colourful(url) for url in urls), page.title


def test_the_map_draws_a_colour_model_and_its_clicked_image_in_colour(env, click_map):
    at = open_page(navigation.MAP.script)
    assert not at.main.error and not at.main.warning
    click_map(at, index=3)
    at.run()
    assert not at.exception
    assert any(colourful(url) for image in at.image for url in image.value)


def test_a_model_picked_brings_data_of_its_shape_and_other_data_is_fitted_to_it(env):
    at = open_page(navigation.MAP.script)
    at.sidebar.selectbox(key="model_label").set_value("vae").run()  # a 1x28x28 model, shown shapes (3x64x64)
    assert at.sidebar.selectbox(key="dataset").value == "mnist"  # the dataset it learnt, of its shape
    assert not at.main.warning and not at.main.error and not at.exception
    at.sidebar.selectbox(key="dataset").set_value("shapes").run()  # the person asks for shapes all the same
    assert not at.main.warning and not at.main.error and not at.exception
    note = "shapes resized from 64 to 28 px, made gray, as models of 1x28x28 gray take it."
    assert note in [c.value for c in at.main.caption]
    assert len(at.get("plotly_chart")) == 1  # the map of the shapes, as the model sees them


def test_on_shapes_the_map_colours_by_a_factor_and_traverse_says_what_each_dimension_follows(env):
    import json

    from aelab.data import shapes
    from aelab.explore import disentangle
    from aelab.store.checkpoints import load_checkpoint
    from aelab.ui import text

    at = open_page(navigation.MAP.script)
    options = at.selectbox(key="map_colour_by").options
    assert options[-6:] == [f"factor: {name}" for name in shapes.FACTOR_NAMES]
    at.selectbox(key="map_colour_by").set_value("factor: x").run()
    assert not at.exception
    marker = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["marker"]
    test = load_dataset("shapes", "test")
    color = marker["color"]
    shown = (
        np.frombuffer(__import__("base64").b64decode(color["bdata"]), color["dtype"])
        if isinstance(color, dict)
        else np.asarray(color)
    )
    np.testing.assert_array_equal(shown, test.factors[:, shapes.FACTOR_NAMES.index("x")])

    at = open_page(navigation.TRAVERSE.script, model="colour-ae (yours)")  # the barely trained VAE's dims collapsed
    model = load_checkpoint(Path(at.session_state["model_path"])).model
    found = disentangle.mig(encoding.encode_all(model, test.images).mu, test.factors)
    labels = {s.key: s.label for s in at.slider if s.key.startswith("z_")}
    for d, top in enumerate(disentangle.top_factors(found.normalised)):
        if f"z_{d}" in labels and "collapsed" not in labels[f"z_{d}"]:
            named = [(test.factor_names[k], share) for k, share in top]
            assert labels[f"z_{d}"].endswith(text.follows(named))
    assert any("follows" in label or "mixes" in label for label in labels.values()), labels


def test_the_maps_pictures_of_a_colour_model_are_in_colour(env, click_map, lasso_map):
    """The neighbours of a clicked point, a lasso's gallery, pictures in place of dots and the decoded plane."""
    import json

    at = open_page(navigation.MAP.script)
    click_map(at, index=5)
    at.run()
    assert not at.exception and sum(colourful(url) for image in at.image for url in image.value) >= 2
    lasso_map(at, range(0, 400, 4))
    at.checkbox(key="map_thumbnails").check()
    at.checkbox(key="map_plane").check().run()
    assert not at.exception and at.subheader[0].value == "100 images selected"
    assert any(colourful(url) for image in at.image for url in image.value)
    layout = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]
    thumbnails = [image for image in layout["images"] if image["layer"] == "above"]
    assert len(layout["images"]) == 151 and all(colourful(image["source"]) for image in thumbnails[:5])
