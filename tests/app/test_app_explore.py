"""The Traverse, Interpolate and Sample pages, driven through the real app with AppTest.

Real shipped checkpoints (the MLP `vae` and the `conv_ae`) and the real MNIST test split.
AppTest gives each st.image a media URL named by a hash of the encoded image, so two
images are the same picture exactly when their URLs are equal.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from media import DATA_PNG, content, picture, pixels, private_app
from streamlit.proto.Block_pb2 import Block as BlockProto
from streamlit.testing.v1 import AppTest

from aelab.data.dataset import sample_indices
from aelab.explore import encoding, priors, walks
from aelab.explore.metrics import ACTIVE_UNIT_THRESHOLD
from aelab.images import render
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import file_digest, load_checkpoint, read_metadata, save_tensors
from aelab.ui import navigation, text

APP = Path(__file__).resolve().parents[2] / "app.py"
VAE = SHIPPED_DIR / "vae.safetensors"
AE = SHIPPED_DIR / "conv_ae.safetensors"
# The page's codes and the test's are two encodings of the same images (other batches, so other float32 kernels
# and summation orders): they agree to a few units in the last place on any CPU, 1e-4 is far below the
# 0.01 a slider shows, and a wrong code is off by far more.
CODE_TOL = 1e-4


@pytest.fixture(scope="module")
def env(settings, tmp_path_factory: pytest.TempPathFactory):
    """Shipped checkpoints plus one run whose header is fine but whose weights are missing."""
    for path in (VAE, AE):
        assert path.is_file(), f"{path} is missing: train it with checkpoints/train_all.sh"
    runs = tmp_path_factory.mktemp("runs")
    save_tensors(runs / "broken.safetensors", {"nothing": torch.zeros(1)}, read_metadata(VAE))
    with private_app(settings, tmp_path_factory, runs):
        yield


@pytest.fixture(scope="module")
def vae_codes(mnist_test) -> encoding.Codes:
    return encoding.encode_all(load_checkpoint(VAE).model, mnist_test.images)


def open_page(page: str, model: str = "vae") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.sidebar.selectbox(key="model_label").set_value(model).run()
    at.switch_page(page).run()
    assert not at.exception
    return at


def urls(at: AppTest) -> list[list[str]]:
    return [image.value for image in at.image]


def block_with_key(node, key: str):
    """The st.container(key=key) under `node`, or None."""
    for child in getattr(node, "children", {}).values():
        proto = getattr(child, "proto", None)
        if isinstance(proto, BlockProto) and proto.id.endswith(f"-{key}"):
            return child
        found = block_with_key(child, key)
        if found is not None:
            return found
    return None


def picker(at: AppTest):
    return next(box for box in at.selectbox if box.label == "Compare with")


def is_plain_autoencoder(label: str) -> bool:
    return read_metadata(SHIPPED_DIR / f"{label}.safetensors")["model"]["name"] == "conv_ae"


def test_traverse_sliders_follow_the_data_and_drive_the_decode(env, vae_codes):
    at = open_page(navigation.TRAVERSE.script)
    stats = encoding.dimension_stats(vae_codes)
    base = vae_codes.mu[0]  # the page starts on dataset index 0
    assert at.image[0].captions == ["base", "reconstruction", "current decode"]
    base_image, recon, decoded = at.image[0].value
    assert decoded == recon  # sliders start on the base code
    # drawn inside the page (no media file a fast rerun could delete under the browser), all one size
    assert all(url.startswith(DATA_PNG) and picture(url).size == (112, 112) for url in at.image[0].value)
    active = int((~stats.collapsed).sum())
    assert f"active units: {active}" in at.sidebar.caption[-1].value  # the card and the sliders agree
    assert any(
        f"{active} of 20 are active" in c.value and f"above {ACTIVE_UNIT_THRESHOLD:g}" in c.value
        for c in at.main.caption
    )
    box = block_with_key(at.main, "z_sliders")  # the sliders scroll in a box of fixed height, beside the pictures
    assert box.proto.height_config.WhichOneof("height_spec") == "pixel_height"
    assert sorted(s.key for s in box.slider) == sorted(f"z_{d}" for d in range(20)) and not box.image

    sliders = [s for s in at.slider if s.key.startswith("z_")]
    assert [int(s.key[2:]) for s in sliders] == stats.order.tolist()  # ranked by KL, largest first
    for s in sliders:
        d = int(s.key[2:])
        assert s.value == pytest.approx(base[d], abs=CODE_TOL)
        assert s.min == pytest.approx(min(stats.low[d], base[d]), abs=CODE_TOL)
        assert s.max == pytest.approx(max(stats.high[d], base[d]), abs=CODE_TOL)
        assert s.label.startswith(f"dim {d} · KL ")
        assert s.label.endswith("· collapsed") == bool(stats.collapsed[d])
    assert stats.collapsed.any(), "the shipped VAE is expected to leave some dimensions unused"
    tucked = next(e for e in at.expander if "collapsed" in e.label)
    assert sorted(int(s.key[2:]) for s in tucked.slider) == np.flatnonzero(stats.collapsed).tolist()

    grid = at.image[1].value
    top = f"z_{stats.order[0]}"
    at.slider(key=top).set_value(at.slider(key=top).max).run()
    assert not at.exception
    assert at.image[0].value[:2] == [base_image, recon]
    assert at.image[0].value[2] != recon
    assert at.image[1].value == grid  # the grid sweeps around the base, not the sliders
    moved = at.image[0].value[2]

    second = f"z_{stats.order[1]}"
    at.slider(key=second).set_value(at.slider(key=second).min).run()
    assert at.image[0].value[2] not in (moved, recon)

    at.button(key="z_reset").click().run()
    assert at.slider(key=top).value == pytest.approx(base[stats.order[0]], abs=CODE_TOL)
    assert at.image[0].value[2] == recon

    at.slider(key=top).set_value(at.slider(key=top).max).run()
    at.number_input(key="base_index").set_value(1).run()  # a new base puts the sliders back on its code
    assert not at.exception
    assert at.slider(key=top).value == pytest.approx(vae_codes.mu[1][stats.order[0]], abs=CODE_TOL)
    assert at.image[0].value[1] == at.image[0].value[2] != recon


def test_traverse_grid_and_other_bases(env, mnist_test, vae_codes, click_map):
    at = open_page(navigation.TRAVERSE.script)
    ranked = [int(s.key[2:]) for s in at.slider if s.key.startswith("z_")]
    assert at.multiselect(key="grid_dims").value == ranked[:5]
    grid = at.image[1].value
    # the grid names each row's dimension and, under each picture, the value it sets: as the package draws it
    stats = encoding.dimension_stats(vae_codes)
    dims = ranked[:5]
    tiles = walks.traversal_grid(load_checkpoint(VAE).model, vae_codes.mu[0], dims, stats.low, stats.high, 8)
    values = walks.traversal_values(stats.low, stats.high, dims, 8)
    expected = render.labelled_grid(
        tiles.reshape(5, 8, 28, 28), [f"dim {d}" for d in dims], [[f"{v:.2f}" for v in row] for row in values], 3
    )
    np.testing.assert_allclose(pixels(grid[0]), expected, atol=0.5 / 255 + 1e-6)
    assert content(at.download_button(key="grid_png").proto.url) == content(grid[0])  # the download is that PNG
    assert at.download_button(key="grid_png").proto.url.endswith(".png")

    at.multiselect(key="grid_dims").set_value(ranked[5:7]).run()
    assert at.image[1].captions == [f"Rows, top to bottom: dim {ranked[5]}, dim {ranked[6]}"]
    assert at.image[1].value != grid
    rows = at.image[1].value
    at.slider(key="grid_steps").set_value(4).run()
    assert at.image[1].value != rows
    at.multiselect(key="grid_dims").set_value([]).run()
    assert not at.exception and len(at.image) == 1
    assert any("at least one dimension" in info.value for info in at.info)
    at.multiselect(key="grid_dims").set_value(ranked[:2]).run()

    base_image = at.image[0].value[0]
    at.radio(key="base_source").set_value("Map selection").run()
    assert any("Latent map" in info.value for info in at.info) and len(at.image) == 0
    click_map(at, index=7)
    at.run()
    assert not at.exception and at.image[0].value[0] != base_image

    at.radio(key="base_source").set_value("Upload").run()
    assert any("Reconstruct page" in info.value for info in at.info)
    at.session_state["uploads"] = {"a seven": mnist_test.images[0, 0].numpy()}
    at.run()
    assert not at.exception
    assert at.image[0].value[0] == base_image  # the upload is index 0's picture

    at.radio(key="base_source").set_value("Random image").run()
    assert not at.exception and len(at.image) == 2
    assert at.multiselect(key="grid_dims").value == ranked[:2]  # a new base keeps the chosen rows


def test_interpolate_path_methods_steps_and_second_model(env, vae_codes):
    at = open_page(navigation.INTERPOLATE.script)
    assert is_plain_autoencoder(picker(at).value)  # by default, a model of the other kind
    assert len(at.image) == 2
    said = [image.captions[0] for image in at.image]
    assert all(c.startswith("distance from the data: ") for c in said)
    # The VAE (left) passes through real-looking digits, the conv AE (compared) through broken strokes (#26)
    vae_distance, ae_distance = (float(c.split(": ")[1].split()[0]) for c in said)
    assert vae_distance < ae_distance
    path = at.session_state["interp_path"]
    assert path.shape == (10, 20)
    assert at.session_state["interp_path_digest"] == file_digest(VAE)
    np.testing.assert_allclose(path[0], vae_codes.mu[0], atol=1e-5)
    np.testing.assert_allclose(path[-1], vae_codes.mu[1], atol=1e-5)
    assert at.download_button(key="interp_png").proto.url.endswith(".png")
    assert at.download_button(key="interp_gif").proto.url.endswith(".gif")
    gif = picture(at.download_button(key="interp_gif").proto.url)
    assert gif.size == (224, 224) and gif.n_frames == 10  # frames at 8x, not 84 px
    assert len(at.get("vega_lite_chart")) == 1
    linear = urls(at)

    at.radio(key="interp_method").set_value("slerp").run()
    assert not at.exception
    slerp = at.session_state["interp_path"]
    np.testing.assert_allclose(slerp[[0, -1]], path[[0, -1]], atol=1e-5)
    assert not np.allclose(slerp, path)
    assert urls(at)[0] != linear[0] and urls(at)[1] != linear[1]

    at.slider(key="interp_steps").set_value(5).run()
    assert at.session_state["interp_path"].shape == (5, 20)
    assert urls(at)[0] not in (linear[0], urls(at)[1])
    assert picture(urls(at)[0][0]).size == (3 * (5 * 30 + 2), 3 * 32)  # one row

    at.slider(key="interp_steps").set_value(24).run()  # wraps into two rows of 12, for both models
    assert all(picture(url[0]).size == (3 * (12 * 30 + 2), 3 * (2 * 30 + 2)) for url in urls(at))
    gif = picture(at.download_button(key="interp_gif").proto.url)
    assert gif.size == (224, 224) and gif.n_frames == 24

    picker(at).set_value("(none)").run()
    assert not at.exception and len(at.image) == 1
    picker(at).set_value("broken (yours)").run()
    assert not at.exception and len(at.image) == 1
    assert any("Could not load broken (yours)" in error.value for error in at.error)


def diversity_shown(at: AppTest) -> list[tuple[float, float]]:
    """Each grid's diversity figure and the real test images', as the page writes them."""
    found = [
        re.search(r"Diversity: \*\*([\d.]+)\*\* between samples \(real test images: ([\d.]+)\)", m.value)
        for m in at.main.markdown
    ]
    return [(float(f[1]), float(f[2])) for f in found if f]


def test_sample_controls_and_two_kinds_side_by_side(env, mnist_test):
    at = open_page(navigation.SAMPLE.script)
    assert is_plain_autoencoder(picker(at).value)
    assert at.image[0].captions == ["z ~ N(0, I), the VAE's prior"]
    assert "fitted to the autoencoder's codes" in at.image[1].captions[0]
    text = [m.value for m in at.main.markdown]
    figures = [t for t in text if t.startswith("Nearest test image: ")]
    assert len(figures) == 2 and len(at.image) == 5  # the two models' grids, then the three of "Why VAEs exist"
    why = [image.captions[0] for image in at.image[2:]]
    assert [c.split(": ", 1)[1].rsplit(" · ", 1)[0] for c in why] == [
        "autoencoder from N(0, I)",
        "autoencoder from a Gaussian fitted to its codes",
        "VAE from its prior N(0, I)",
    ]
    coverage = [float(c.rsplit("coverage ", 1)[1]) for c in why]
    assert coverage[0] < coverage[1] < coverage[2]  # the AE's N(0, I) samples are smudges, the VAE's digits
    vae = load_checkpoint(VAE).model
    prior = priors.prior_for(vae, None)
    warm = encoding.decode(vae, priors.sample(prior, 64, 1.0, 0))
    pixels_ = mnist_test.images.numpy()[:, 0]
    real = priors.diversity(pixels_[sample_indices(len(pixels_), 500, seed=0)])
    (shown, shown_real), _ = diversity_shown(at)
    assert shown == pytest.approx(priors.diversity(warm), abs=0.005) and shown_real == pytest.approx(real, abs=0.005)
    assert at.download_button(key="sample_png_0").proto.url.endswith(".png")
    first = urls(at)

    at.slider(key="sample_temperature").set_value(0.1).run()  # near-copies of one blurry digit
    cold = encoding.decode(vae, priors.sample(prior, 64, 0.1, 0))
    shown_cold = diversity_shown(at)[0][0]
    assert shown_cold == pytest.approx(priors.diversity(cold), abs=0.005) and shown_cold < 0.25 * shown

    at.slider(key="sample_temperature").set_value(0.5).run()
    assert not at.exception
    cooler = urls(at)
    assert cooler[0] != first[0] and cooler[1] != first[1]

    at.number_input(key="sample_seed").set_value(1).run()
    reseeded = urls(at)
    assert reseeded[0] != cooler[0] and reseeded[1] != cooler[1]
    at.number_input(key="sample_seed").set_value(0).run()
    assert urls(at) == cooler  # same seed and temperature, same samples

    at.slider(key="sample_side").set_value(4).run()
    assert not at.exception and urls(at)[0] != cooler[0]
    picker(at).set_value("(none)").run()
    assert not at.exception and len(at.image) == 1


def test_sample_from_a_mixture_with_density_and_coverage_as_the_package_measures(env, mnist_test):
    at = open_page(navigation.SAMPLE.script, "conv_ae")
    picker(at).set_value("(none)").run()
    ae = load_checkpoint(AE).model
    codes = encoding.encode_all(ae, mnist_test.images)
    pixels_ = mnist_test.images.numpy()[:, 0]
    real = pixels_[sample_indices(len(pixels_), priors.QUALITY_SAMPLES, seed=0)]

    def quality_line(z: np.ndarray) -> str:
        found = priors.density_coverage(real, encoding.decode(ae, z))
        return text.quality_text(found.density, found.coverage, priors.QUALITY_SAMPLES)

    def shown_quality() -> str:
        (line,) = [m.value for m in at.main.markdown if "Density **" in m.value]
        return line.rsplit("  \n", 1)[1]

    gaussian = priors.prior_for(ae, codes)
    assert at.radio(key="sample_source").value == text.PRIOR
    assert shown_quality() == quality_line(priors.sample(gaussian, priors.QUALITY_SAMPLES, 1.0, 0))
    single = urls(at)

    at.radio(key="sample_source").set_value(text.MIXTURE).run()
    assert not at.exception
    mixture = priors.fit_mixture(codes, priors.DEFAULT_COMPONENTS)
    assert at.image[0].captions == [mixture.description] and "mixture of 10 Gaussians" in mixture.description
    assert urls(at) != single
    grid = encoding.decode(ae, priors.sample_mixture(mixture, 64, 1.0, 0))
    expected = render.to_png(render.enlarge(render.make_grid(grid, ncol=8), 3))
    assert content(at.download_button(key="sample_png_0").proto.url) == expected  # the mixture's samples
    assert shown_quality() == quality_line(priors.sample_mixture(mixture, priors.QUALITY_SAMPLES, 1.0, 0))

    at.slider(key="sample_components").set_value(3).run()
    assert not at.exception and "mixture of 3 Gaussians" in at.image[0].captions[0]
    three = priors.fit_mixture(codes, 3)
    assert shown_quality() == quality_line(priors.sample_mixture(three, priors.QUALITY_SAMPLES, 1.0, 0))
