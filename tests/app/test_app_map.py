"""The app's start-up and the Latent map page, driven through Streamlit's AppTest."""

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from media import content, pixels, recording
from streamlit.testing.v1 import AppTest

from aelab.data.registry import load_dataset
from aelab.explore import encoding, projections
from aelab.images import render
from aelab.store.checkpoints import file_digest
from aelab.ui import keys, map_detail, map_figure, map_layers, navigation

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module", autouse=True)
def env(settings, tmp_path_factory):
    with settings(runs_dir=tmp_path_factory.mktemp("runs"), cache_dir=tmp_path_factory.mktemp("appcache")):
        yield


def figure(at):
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def traces(at, group: str) -> list[dict]:
    """The map's traces of a legend group (map_figure.MAP_POINTS: one per class; MAP_CELLS), as sent."""
    return [t for t in figure(at)["data"] if t.get("legendgroup") == group]


def map_points(at) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The map's points over its traces in the projection's order (its rows ascend): x, y and customdata
    (row, label[, value])."""
    points = traces(at, map_figure.MAP_POINTS)
    xs, ys, data = (np.concatenate([values(t[k]) for t in points]) for k in ("x", "y", "customdata"))
    order = np.argsort(data[:, 0], kind="stable")
    return xs[order], ys[order], data[order]


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
    assert [t.get("legendgroup") for t in figure(at)["data"]] == [map_figure.MAP_POINTS] * 10 + [map_figure.MAP_CELLS]
    xs, _, data = map_points(at)
    assert len(xs) == 10_000 and list(data[:, 0]) == list(range(10_000))  # every test image once
    assert {t["type"] for t in figure(at)["data"]} == {"scattergl"}


def test_points_are_coloured_by_their_label_as_the_legend_says():
    at = AppTest.from_file(APP, default_timeout=180).run()
    entries = re.findall(
        r"<span style='white-space:nowrap'><span style='color:(#[0-9a-f]{6})'>●</span>&nbsp;"
        r"(\d) - ([a-z]+)</span>",
        at.get("html")[0].proto.body,
    )
    assert [name for _, _, name in entries] == [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
    ]  # each entry whole, in one unbreakable span
    legend = {int(k): c for c, k, _ in entries}
    assert len(set(legend.values())) == len(legend) == 10
    labels = load_dataset("mnist", "test").labels.numpy()
    for trace in traces(at, map_figure.MAP_POINTS):  # a trace a digit, in the legend's colour of that digit
        rows, label = values(trace["customdata"])[:, 0].astype(int), int(values(trace["customdata"])[0, 1])
        np.testing.assert_array_equal(labels[rows], label)
        assert trace["marker"]["color"] == legend[label]


def marked(at) -> tuple[list[int], list[int] | None]:
    """The dataset rows marked on the map and the marked cells (None: none), as the figure sent says."""
    rows = [
        int(values(t["customdata"])[i, 0])
        for t in traces(at, map_figure.MAP_POINTS)
        for i in t.get("selectedpoints") or []
    ]
    return sorted(rows), traces(at, map_figure.MAP_CELLS)[0].get("selectedpoints")


def test_selecting_a_point_shows_it_marks_it_and_feeds_the_other_pages(click_map):
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert marked(at) == ([], None)
    click_map(at, index=7)
    at.run()
    assert at.subheader[0].value == "Image 7"
    captions = [c for img in at.image for c in img.captions]
    assert captions[:2] == [f"original · label {load_dataset('mnist', 'test').label_name(7)}", "reconstruction"]
    assert marked(at) == ([7], None)
    # its posterior (the default model is a VAE), when asked: mu ± sigma and KL bars, decode(mu) beside six draws
    assert len(captions) == 3  # a click draws the image, its reconstruction and its nearest codes only
    at.toggle(key="map_posterior_on").set_value(True).run()
    captions = [c for img in at.image for c in img.captions]
    assert captions[2:9] == ["decode(mu)"] + [f"draw {i}" for i in range(1, 7)]
    from aelab.explore import neighbours
    from aelab.store.checkpoints import load_checkpoint

    mu = encoding.encode_all(
        load_checkpoint(Path(at.session_state["model_path"])).model, load_dataset("mnist", "test").images
    ).mu
    near = neighbours.nearest(mu, 7)
    names = ", ".join(str(int(load_dataset("mnist", "test").labels[i])) for i in near.index)
    kept = neighbours.kept(mu, projections.pca(mu).coords, 7)
    assert f"Its 10 nearest codes, nearest first (labels {names}):" in [c.value for c in at.caption]
    assert any(c.value.startswith(f"{kept} of its 10 nearest codes among this map's points") for c in at.caption)
    for dataset in traces(at, map_figure.MAP_POINTS):
        assert dataset["selected"]["marker"]["size"] > dataset["marker"]["size"]  # the mark stands out
        assert dataset["unselected"]["marker"]["opacity"] == dataset["marker"]["opacity"]  # the rest keep their look
    at.button(key="use_a").click().run()
    at.button(key="use_b").click().run()
    at.button(key="use_base").click().run()
    assert at.session_state["a_index"] == 7 and at.session_state["a_source"] == "Dataset index"
    assert at.session_state["b_index"] == 7 and at.session_state["base_index"] == 7


def test_clicking_empty_space_on_the_pca_map_decodes_that_location_and_marks_it(click_map):
    at = AppTest.from_file(APP, default_timeout=180).run()
    cells = traces(at, map_figure.MAP_CELLS)[0]
    spot = 40  # a cell of the grid: the click reports its coordinates
    location = (float(values(cells["x"])[spot]), float(values(cells["y"])[spot]))
    click_map(at, location=location)
    at.run()
    assert at.subheader[0].value == "Decoded location" and not at.exception
    assert at.image[0].captions == [f"PCA ({location[0]:.2f}, {location[1]:.2f})"]
    assert marked(at) == ([], [spot])
    assert traces(at, map_figure.MAP_CELLS)[0]["marker"]["symbol"] == "x"


def test_another_model_or_dataset_drops_the_selection(click_map):
    at = AppTest.from_file(APP, default_timeout=180).run()
    click_map(at, index=195)
    at.run()
    assert at.subheader[0].value == "Image 195"
    at.selectbox(key="model_label").set_value("conv_vae").run()  # image 195 means something else here
    assert not at.subheader and "Click a point" in at.info[0].value
    assert marked(at) == ([], None)
    at.selectbox(key="model_label").set_value("vae").run()  # dropped, not hidden
    assert not at.subheader and marked(at) == ([], None)

    click_map(at, index=195)
    at.run()
    assert at.subheader[0].value == "Image 195"
    at.selectbox(key="dataset").set_value("digits").run()
    assert not at.exception and not at.subheader and "Click a point" in at.info[0].value


def test_uploads_and_interpolation_path_are_drawn_on_the_map():
    test = load_dataset("mnist", "test", download=False)
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.session_state["uploads"] = {"seven.png": test.images[0, 0].numpy()}
    at.run()
    names = [t["name"] for t in figure(at)["data"]]
    assert "your uploads" in names
    upload = figure(at)["data"][names.index("your uploads")]
    # the upload is test image 0 itself, so its marker sits on that image's point of the PCA map
    xs, ys, data = map_points(at)
    assert data[0, 0] == 0
    assert np.allclose([values(upload["x"])[0], values(upload["y"])[0]], [xs[0], ys[0]], atol=1e-3)
    assert upload["hoverinfo"] == "skip"  # a click goes to the map beneath

    assert "map_show_path" not in [c.key for c in at.checkbox]  # no path yet: nothing to show or hide
    at.session_state["interp_path"] = np.zeros((6, 20), np.float32)
    at.session_state["interp_path_digest"] = file_digest(at.session_state["model_path"])
    at.run()
    path = figure(at)["data"][-1]
    assert path["name"] == "interpolation A→B" and len(values(path["x"])) == 6
    assert list(path["text"]) == ["A", "", "", "", "", "B"] and path["showlegend"] is True
    at.checkbox(key="map_show_path").uncheck().run()
    assert [t["name"] for t in figure(at)["data"]][-2:] == ["decode here", "your uploads"]


def test_tsne_is_computed_once_with_progress_then_served_from_the_cache():
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.radio(key="map_method").set_value("t-SNE").run()
    at.select_slider(key="tsne_points").set_value(1000).run()
    assert "not been computed" in at.info[0].value
    at.button(key="tsne_go").click().run()
    assert not at.exception
    assert len(map_points(at)[0]) == 1000
    assert not any("not been computed" in info.value for info in at.info)  # computed: the prompt is gone
    assert "tsne_go" not in [b.key for b in at.button]
    again = AppTest.from_file(APP, default_timeout=60).run()
    again.radio(key="map_method").set_value("t-SNE").run()
    again.select_slider(key="tsne_points").set_value(1000).run()
    assert "tsne_go" not in [b.key for b in again.button]
    assert len(map_points(again)[0]) == 1000


def test_a_link_opens_the_same_view_and_the_view_is_kept_in_the_link(click_map):
    """Model, dataset and selected point travel in the query string; the page is the link's path."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"model": "conv_vae", "data": "mnist", "point": "7"})
    at.run()
    assert not at.exception and at.sidebar.selectbox(key="model_label").value == "conv_vae"
    assert at.subheader[0].value == "Image 7" and marked(at) == ([7], None)
    assert at.query_params == {"model": "conv_vae", "data": "mnist", "point": "7"}
    click_map(at, index=12)
    at.run()
    assert at.query_params["point"] == "12"  # a new selection is the link's
    at.sidebar.selectbox(key="model_label").set_value("vae").run()  # another model drops the selection
    assert at.query_params == {"model": "vae", "data": "mnist"}

    odd = AppTest.from_file(APP, default_timeout=180)
    odd.query_params.update({"model": "../../etc/passwd", "data": "nope", "point": "99999"})
    odd.run()
    assert not odd.exception and odd.sidebar.selectbox(key="model_label").value == "vae"
    assert odd.query_params == {"model": "vae", "data": "mnist"}  # a point beyond the data selects nothing


def test_the_map_colours_by_a_number_per_image_on_a_continuous_scale():
    from aelab.explore import anomaly, neighbours
    from aelab.store.checkpoints import load_checkpoint

    at = AppTest.from_file(APP, default_timeout=180).run()
    assert at.selectbox(key="map_colour_by").options == ["label", "recon. error", "anomaly score", "KL (nats)", "trust"]
    test = load_dataset("mnist", "test", download=False)
    model = load_checkpoint(Path(at.session_state["model_path"])).model
    codes = encoding.encode_all(model, test.images)
    expected = {
        "kl": encoding.kl_per_dim(codes).sum(1),
        "recon": anomaly.reconstruction_errors(model, test.images),
        "anomaly": anomaly.anomaly_scores(model, test.images, "mse_per_ink"),
        "trust": neighbours.trust(codes.mu, projections.pca(codes.mu).coords),
    }
    for by, truth in expected.items():
        at.selectbox(key="map_colour_by").set_value(by).run()
        assert not at.exception and not at.get("html")  # a colour bar instead of the class key
        (points,) = traces(at, map_figure.MAP_POINTS)  # one trace, coloured through a scale
        marker = points["marker"]
        assert marker["showscale"] and marker["colorscale"][0][1] != marker["colorscale"][-1][1]
        np.testing.assert_allclose(values(marker["color"]), truth, rtol=1e-4, atol=1e-6)
        assert marker["cmin"] < marker["cmax"] and (truth.max() > marker["cmax"] or by == "trust")  # nor the top 1%
    at.sidebar.selectbox(key="model_label").set_value("conv_ae").run()
    assert at.selectbox(key="map_colour_by").options == ["label", "recon. error", "anomaly score", "trust"]  # no KL


def test_a_lasso_shows_its_images_counts_mean_and_exports_and_greys_the_rest(lasso_map, click_map, monkeypatch):
    import io

    from PIL import Image

    from aelab.explore import selection
    from aelab.store.checkpoints import load_checkpoint

    recording(monkeypatch)
    at = AppTest.from_file(APP, default_timeout=180).run()
    test = load_dataset("mnist", "test", download=False)
    rows = sorted(set(np.flatnonzero(test.labels.numpy() == 1)[:150].tolist()) | {3, 10})  # ones, and two zeros
    lasso_map(at, rows)
    at.run()
    assert not at.exception and at.subheader[0].value == f"{len(rows)} images selected"
    names = {int(label): test.label_name(i) for i, label in enumerate(test.labels.numpy()[:20])}
    counts = test.labels.numpy()[rows]
    expected = " · ".join(
        f"{names[label]} {int((counts == label).sum())}"
        for label in sorted(set(counts), key=lambda lab: (-(counts == lab).sum(), names[lab]))
    )
    assert f"By label: {expected}" in [c.value for c in at.caption]
    assert marked(at) == (sorted(rows), None)
    for dataset in traces(at, map_figure.MAP_POINTS):
        assert dataset["unselected"]["marker"]["color"] == map_figure.OUTSIDE
        assert "color" not in dataset["selected"]["marker"]

    model = load_checkpoint(Path(at.session_state["model_path"])).model
    pictures = test.images.numpy()[:, 0]
    shown = selection.spread_rows(np.array(sorted(rows)), selection.GALLERY)
    grid = render.enlarge(
        selection.gallery(pictures[shown], encoding.reconstruct(model, test.images[shown])), map_detail.GALLERY_SCALE
    )
    png = at.download_button(key="region_png").proto.url
    assert png.endswith(".png")
    csv = at.download_button(key="region_csv")
    assert csv.proto.label == "Indices, labels and codes (CSV)"
    lines = content(csv.proto.url).decode().splitlines()
    assert len(lines) == len(rows) + 1 and [int(line.split(",")[0]) for line in lines[1:]] == rows
    assert Image.open(io.BytesIO(content(png))).size == (grid.shape[1], grid.shape[0])
    assert content(png) == render.to_png(grid)  # the gallery as the package draws it

    for side in "AB":  # the group buttons keep the region for the Directions page's attribute vector
        at.button(key=f"group_{side}").click().run()
    assert {side: region.rows for side, region in at.session_state[keys.GROUPS].items()} == {
        "A": tuple(rows),
        "B": tuple(rows),
    }

    at.button(key="region_clear").click().run()  # the region goes, and the map's colours come back
    assert not at.exception and not [h for h in at.subheader if h.value.endswith("images selected")]
    assert marked(at) == ([], None)
    lasso_map(at, rows)
    at.run()

    click_map(at, index=7)  # a click replaces the region, and the map's look comes back
    at.run()
    assert at.subheader[0].value == "Image 7" and marked(at) == ([7], None)


def test_the_decoded_plane_lies_behind_the_pca_map_when_asked():
    from aelab.store.checkpoints import load_checkpoint

    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not figure(at)["layout"].get("images")
    at.checkbox(key="map_plane").check().run()
    background = figure(at)["layout"]["images"]
    model = load_checkpoint(Path(at.session_state["model_path"])).model
    mu = encoding.encode_all(model, load_dataset("mnist", "test").images).mu
    picture, (x0, x1, y0, y1) = projections.decoded_plane(model, projections.pca(mu))
    assert len(background) == 1 and background[0]["layer"] == "below"
    np.testing.assert_allclose(pixels(background[0]["source"]), picture, atol=2 / 255)  # the package's plane
    assert np.allclose([background[0][k] for k in ("x", "y", "sizex", "sizey")], [x0, y1, x1 - x0, y1 - y0], atol=1e-4)
    at.radio(key="map_method").set_value("t-SNE").run()  # a t-SNE map has no plane to decode
    assert not at.exception and "map_plane" not in [c.key for c in at.checkbox]


def test_pictures_of_some_points_are_drawn_where_their_dots_are():
    from aelab.data.dataset import sample_indices

    at = AppTest.from_file(APP, default_timeout=180).run()
    at.checkbox(key="map_thumbnails").check().run()
    assert not at.exception
    thumbnails = figure(at)["layout"]["images"]
    xs, ys, data = map_points(at)
    rows = data[:, 0]
    shown = sample_indices(len(xs), map_layers.THUMBNAILS, seed=0)
    assert len(thumbnails) == map_layers.THUMBNAILS
    test = load_dataset("mnist", "test", download=False)
    for thumbnail, position in list(zip(thumbnails, shown))[:10]:
        size = thumbnail["sizex"]
        assert np.isclose(thumbnail["x"] + size / 2, xs[position], atol=1e-4)
        assert np.isclose(thumbnail["y"] - size / 2, ys[position], atol=1e-4)
        np.testing.assert_allclose(
            pixels(thumbnail["source"]), test.images[int(rows[position]), 0].numpy(), atol=0.5 / 255 + 1e-6
        )  # the image of the very point it covers
    at.checkbox(key="map_thumbnails").uncheck().run()
    assert not figure(at)["layout"].get("images")


def test_umap_is_computed_once_then_served_from_the_disk_and_places_uploads():
    from aelab.store.checkpoints import load_checkpoint

    at = AppTest.from_file(APP, default_timeout=600).run()
    at.radio(key="map_method").set_value("UMAP").run()
    at.select_slider(key="umap_points").set_value(1000).run()
    assert "UMAP map has not been computed" in at.info[0].value
    at.button(key="umap_go").click().run()
    assert not at.exception and "umap_go" not in [b.key for b in at.button]
    xs, ys, data = map_points(at)
    rows = data[:, 0].astype(int)
    assert len(xs) == 1000

    test = load_dataset("mnist", "test", download=False)
    upload_row = int(rows[0])  # an upload that is a mapped image lands among its own neighbours
    again = AppTest.from_file(APP, default_timeout=120)
    again.session_state["uploads"] = {"mine.png": test.images[upload_row, 0].numpy()}
    again.run()
    again.radio(key="map_method").set_value("UMAP").run()
    again.select_slider(key="umap_points").set_value(1000).run()
    assert "umap_go" not in [b.key for b in again.button]  # read back from the disk cache
    traces = figure(again)["data"]
    upload = next(t for t in traces if t["name"] == "your uploads")
    mu = encoding.encode_all(load_checkpoint(Path(again.session_state["model_path"])).model, test.images).mu
    projection = projections.Projection("umap", np.c_[xs, ys].astype(np.float32), rows)
    expected = projections.place_by_neighbours(projection, mu, mu[upload_row][None])[0]
    np.testing.assert_allclose([values(upload["x"])[0], values(upload["y"])[0]], expected, atol=1e-3)
    assert np.hypot(*(expected - [xs[0], ys[0]])) < 0.1 * np.ptp(xs)  # beside the image's own point


def test_the_map_covers_the_training_split_when_asked_encoded_once_then_read_from_disk(click_map):
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert at.radio(key="map_split").value == "test"
    at.radio(key="map_split").set_value("train").run()
    assert not at.exception and not at.get("plotly_chart")  # nothing encoded before the person asks
    train = load_dataset("mnist", "train")
    n = len(train)  # 60,000, or the data folder's subset
    assert f"{n:,} codes of the training split are not encoded yet" in at.info[0].value
    at.button(key="map_encode").click().run()
    assert not at.exception and not at.error
    xs, _, data = map_points(at)
    assert len(xs) == n > len(load_dataset("mnist", "test")) // 10 and list(data[:, 0]) == list(range(n))  # all drawn
    np.testing.assert_array_equal(data[:, 1], train.labels.numpy())
    assert f"{n:,} of the {n:,} images of the training split of MNIST" in " ".join(c.value for c in at.caption)
    click_map(at, index=n - 1, split="train")
    at.run()
    captions = [c for img in at.image for c in img.captions]
    assert at.subheader[0].value == f"Image {n - 1}"  # the training image, not a test image's row
    assert captions[0] == f"original · label {train.label_name(n - 1)}"
    assert map_detail.NOT_SHARED in [c.value for c in at.caption]  # not sent as a test row to the other pages
    assert not [b for b in at.button if b.key in ("use_a", "use_b", "use_base")]
    at.radio(key="map_method").set_value("t-SNE").run()
    at.switch_page(navigation.TRAVERSE.script).run()
    at.switch_page(navigation.MAP.script).run()  # back from another page: the map as it was left
    assert (at.radio(key="map_split").value, at.radio(key="map_method").value) == ("train", "t-SNE")
    again = AppTest.from_file(APP, default_timeout=300).run()  # a new session: the codes come from the disk cache
    again.radio(key="map_split").set_value("train").run()
    assert not again.exception and "map_encode" not in [b.key for b in again.button]
    assert len(map_points(again)[0]) == n
