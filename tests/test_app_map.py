"""The app's start-up and the Latent map page, driven through Streamlit's AppTest."""

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from aelab.checkpoints import file_digest
from aelab.data import load_dataset

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module", autouse=True)
def env(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("AELAB_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
    mp.setenv("AELAB_CACHE_DIR", str(tmp_path_factory.mktemp("appcache")))
    yield
    mp.undo()


def figure(at):
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def values(v):
    """Plotly 6+ sends arrays as typed base64 ('bdata'); older ones as lists."""
    if isinstance(v, dict) and "bdata" in v:
        arr = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return arr.reshape([int(n) for n in str(v["shape"]).split(",")]) if "shape" in v else arr
    return np.asarray(v)


def test_app_opens_on_the_vae_and_mnist_with_a_model_card():
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="model_label").value == "vae"
    assert at.selectbox(key="dataset").value == "mnist"
    card = " ".join(c.value for c in at.sidebar.caption)
    assert "trained on: mnist" in card and "test −ELBO" in card
    traces = figure(at)["data"]
    assert [t["name"] for t in traces] == ["dataset", "decode here"]
    assert len(values(traces[0]["x"])) == 10_000 and traces[0]["type"] == "scattergl"


def test_points_are_coloured_by_their_label_as_the_legend_says():
    at = AppTest.from_file(APP, default_timeout=180).run()
    legend = dict((int(k), c) for c, k in re.findall(r"color:(#[0-9a-f]{6})'>●</span> (\d) - ", at.markdown[0].value))
    assert len(set(legend.values())) == len(legend) == 10
    marker = figure(at)["data"][0]["marker"]
    np.testing.assert_array_equal(values(marker["color"]), load_dataset("mnist", "test").labels.numpy())
    scale, low, high = marker["colorscale"], marker["cmin"], marker["cmax"]
    for label, expected in legend.items():
        t = (label - low) / (high - low)
        assert next(c for (a, c), (b, _) in zip(scale, scale[1:]) if a <= t <= b and a < b) == expected


def test_a_restart_draws_the_first_page_without_torchvision_or_scikit_learn(tmp_path):
    """The slow imports are paid once: later starts read the test split and the map from the disk cache."""
    script = ("import sys; from streamlit.testing.v1 import AppTest; "
              f"at = AppTest.from_file({APP!r}, default_timeout=180).run(); "
              "assert not at.exception and at.get('plotly_chart'); "
              "print(sorted(m for m in ('torchvision', 'sklearn', 'openTSNE') if m in sys.modules))")
    env = {**os.environ, "AELAB_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
            for _ in range(2)]
    assert [run.stdout.split("\n")[-2] for run in runs] == ["['torchvision']", "[]"]


def test_selecting_a_point_shows_it_and_feeds_the_other_pages():
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.session_state["selected_index"] = 7  # what a click on point 7 sets
    at.run()
    assert at.subheader[0].value == "Image 7"
    captions = [c for img in at.image for c in img.captions]
    assert captions[:2] == [f"original · label {load_dataset('mnist', 'test').label_name(7)}", "reconstruction"]
    at.button(key="use_a").click().run()
    at.button(key="use_b").click().run()
    at.button(key="use_base").click().run()
    assert at.session_state["a_index"] == 7 and at.session_state["a_source"] == "Dataset index"
    assert at.session_state["b_index"] == 7 and at.session_state["base_index"] == 7


def test_clicking_empty_space_on_the_pca_map_decodes_that_location():
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.session_state["map_location"] = (0.5, -0.25)
    at.run()
    assert at.subheader[0].value == "Decoded location" and not at.exception


def test_uploads_and_interpolation_path_are_drawn_on_the_map():
    test = load_dataset("mnist", "test", download=False)
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.session_state["uploads"] = {"seven.png": test.images[0, 0].numpy()}
    at.run()
    names = [t["name"] for t in figure(at)["data"]]
    assert "uploads" in names
    upload = figure(at)["data"][names.index("uploads")]
    # the upload is test image 0 itself, so its marker sits on that image's point of the PCA map
    dataset = figure(at)["data"][0]
    assert values(dataset["customdata"])[0, 0] == 0
    assert np.allclose([values(upload["x"])[0], values(upload["y"])[0]],
                       [values(dataset["x"])[0], values(dataset["y"])[0]], atol=1e-3)

    at.session_state["interp_path"] = np.zeros((6, 20), np.float32)
    at.session_state["interp_path_digest"] = file_digest(at.session_state["model_path"])
    at.run()
    path = figure(at)["data"][-1]
    assert path["name"] == "interpolation" and len(values(path["x"])) == 6


def test_tsne_is_computed_once_with_progress_then_served_from_the_cache():
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.radio(key="map_method").set_value("t-SNE").run()
    at.select_slider(key="tsne_points").set_value(1000).run()
    assert "not been computed" in at.info[0].value
    at.button(key="tsne_go").click().run()
    assert not at.exception
    assert len(values(figure(at)["data"][0]["x"])) == 1000
    again = AppTest.from_file(APP, default_timeout=60).run()
    again.radio(key="map_method").set_value("t-SNE").run()
    again.select_slider(key="tsne_points").set_value(1000).run()
    assert not again.get("button") or "tsne_go" not in [b.key for b in again.button]
    assert len(values(figure(again)["data"][0]["x"])) == 1000
