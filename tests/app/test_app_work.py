"""The Denoise, Anomaly and Compare pages, driven through the real app with AppTest.

Real shipped checkpoints and the real MNIST test split; expected numbers are recomputed here
with the package, so a page that shows the wrong figure fails. Streamlit 1.67's AppTest
supports st.file_uploader, so uploads go through the real widget. Downloads and pictures
are read back with tests/media.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from media import content, pixels, private_app
from streamlit.testing.v1 import AppTest

from aelab.data import nondigits
from aelab.explore import anomaly, encoding, projections, sweep
from aelab.images import recipe, render
from aelab.models import noise
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import load_checkpoint
from aelab.ui import navigation

APP = Path(__file__).resolve().parents[2] / "app.py"
NEEDED = ("vae", "conv_ae", "denoising_conv_ae")


@pytest.fixture(scope="module")
def env(settings, tmp_path_factory: pytest.TempPathFactory):
    for name in NEEDED:
        assert (SHIPPED_DIR / f"{name}.safetensors").is_file(), f"{name} is missing: run checkpoints/train_all.sh"
    with private_app(settings, tmp_path_factory):
        yield


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    return {name: load_checkpoint(SHIPPED_DIR / f"{name}.safetensors").model for name in NEEDED}


@pytest.fixture(scope="module")
def vae_typicality(models, mnist_test) -> anomaly.Typicality:
    """The VAE's anomaly score fitted to the test images: what the Anomaly page measures a picture against."""
    return anomaly.fit_typicality(models["vae"], mnist_test.images)


@pytest.fixture(scope="module")
def vae_scores(vae_typicality) -> np.ndarray:
    """The VAE's anomaly score of every test image (anomaly.typicality_scores): the page's reference."""
    return vae_typicality.reference_scores


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def captions(at: AppTest) -> list[str]:
    return [c for image in at.image for c in image.captions]


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# --- Denoise ----------------------------------------------------------------------------


def psnr_table(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value.set_index("")


def expected_psnr(model, clean: torch.Tensor, kind: str, level: float) -> tuple[float, float]:
    noisy = noise.add_noise(clean, kind, level, torch.Generator().manual_seed(0))
    out = torch.from_numpy(encoding.reconstruct(model, noisy)).unsqueeze(1)
    return float(noise.psnr(clean, noisy).mean()), float(noise.psnr(clean, out).mean())


def test_denoise_compares_the_two_shipped_models_and_follows_the_noise(env, models, mnist_test):
    at = open_page(navigation.DENOISE.script)
    assert at.selectbox(key="denoise_model_a").value == "denoising_conv_ae"
    assert at.selectbox(key="denoise_model_b").value == "conv_ae"
    shown = mnist_test.images[:4]  # the default indices 0, 1, 2, 3, noise seed 0
    noisy = noise.add_noise(shown, "gaussian", 0.3, torch.Generator().manual_seed(0))
    out = torch.from_numpy(encoding.reconstruct(models["denoising_conv_ae"], noisy)).unsqueeze(1)
    shown_captions = captions(at)  # row by row, one row per image: clean, noisy, denoising model, plain model
    assert len(shown_captions) == 16
    assert shown_captions[:4] == [
        "test 0",
        f"{float(noise.psnr(shown, noisy)[0]):.1f} dB",
        f"{float(noise.psnr(shown, out)[0]):.1f} dB",
        shown_captions[3],
    ]
    assert shown_captions[4::4] == ["test 1", "test 2", "test 3"]
    assert {pixels(url).shape for image in at.image for url in image.value} == {(84, 84)}  # one size for all

    table = psnr_table(at)
    clean = mnist_test.images[:500]
    noisy_psnr, denoised = expected_psnr(models["denoising_conv_ae"], clean, "gaussian", 0.3)
    _, plain = expected_psnr(models["conv_ae"], clean, "gaussian", 0.3)
    assert table.loc["noisy input", "mean PSNR (dB)"] == pytest.approx(noisy_psnr, abs=0.01)
    assert table.loc["denoising_conv_ae", "mean PSNR (dB)"] == pytest.approx(denoised, abs=0.01)
    assert table.loc["conv_ae", "mean PSNR (dB)"] == pytest.approx(plain, abs=0.01)
    assert denoised > plain + 3  # trained for this noise, it clearly wins

    before = captions(at)
    at.radio(key="denoise_kind").set_value("salt_pepper")
    rerun(at)
    assert captions(at) != before
    assert psnr_table(at).loc["conv_ae", "mean PSNR (dB)"] == pytest.approx(
        expected_psnr(models["conv_ae"], clean, "salt_pepper", 0.3)[1], abs=0.01
    )

    salt = psnr_table(at)
    at.slider(key="denoise_level").set_value(0.1)
    rerun(at)
    lighter = psnr_table(at)
    assert (lighter["mean PSNR (dB)"] > salt["mean PSNR (dB)"]).loc[["noisy input", "denoising_conv_ae"]].all()


def test_denoise_image_sources_and_bad_input(env):
    at = open_page(navigation.DENOISE.script)
    at.text_input(key="denoise_indices").set_value("5, x")
    rerun(at)
    assert at.error and "whole numbers" in at.error[0].value
    at.text_input(key="denoise_indices").set_value("7 99999")
    rerun(at)
    assert "outside the test set" in at.error[0].value

    at.radio(key="denoise_source").set_value("Random")
    rerun(at)
    assert not at.error and len(captions(at)) == 6 * 4  # six random images
    at.radio(key="denoise_source").set_value("Uploads")
    rerun(at)
    assert "No uploads yet" in at.info[0].value
    at.session_state["uploads"] = {"mine": np.zeros((28, 28), np.float32) + np.eye(28, dtype=np.float32)}
    rerun(at)
    assert captions(at)[0] == "mine"


# --- Anomaly ----------------------------------------------------------------------------


def flagged(at: AppTest) -> int:
    return int(next(m for m in at.metric if m.label == "Flagged test images").value)


def digit_png(mnist_test, index: int) -> bytes:
    """A real test digit as dark ink on white paper, three times enlarged: what a person would upload."""
    return render.to_png(render.enlarge(1.0 - mnist_test.images[index, 0].numpy(), 3))


def test_anomaly_threshold_drives_the_flagged_count(env, mnist_test, vae_scores):
    at = open_page(navigation.ANOMALY.script)
    errors = vae_scores
    slider = next(s for s in at.slider if s.key.startswith("anomaly_threshold_"))
    assert slider.value == pytest.approx(np.percentile(errors, 99))
    assert flagged(at) == int((errors > slider.value).sum()) == 100

    low = float(np.percentile(errors, 80))
    slider.set_value(low)
    rerun(at)
    assert flagged(at) == int((errors > low).sum()) == 2000

    at.select_slider(key="anomaly_percentile").set_value(90.0)
    rerun(at)
    at.button(key="anomaly_use_suggested").click()
    rerun(at)
    assert flagged(at) == 1000

    worst = np.argsort(-errors)[:9]
    shown = [c for c in captions(at) if c.startswith("#")]  # row by row, three to a row
    assert shown == [
        f"#{r}: test {i}, label {mnist_test.label_name(int(i))} · score {errors[i]:.1f} · flagged"
        for r, i in enumerate(worst, 1)
    ]  # the 90th percentile flags all nine


def test_anomaly_draws_each_image_reconstruction_and_error_map_as_one_picture(env, models, mnist_test, vae_scores):
    at = open_page(navigation.ANOMALY.script)
    worst = np.argsort(-vae_scores)[:9]
    x = mnist_test.images[worst]
    maps = anomaly.error_maps(models["vae"], x)
    recon = encoding.reconstruct(models["vae"], x)
    strips = [url for image in at.image for url, c in zip(image.value, image.captions) if c.startswith("#")]
    assert len(strips) == 9
    for k in (0, 8):  # the worst and the ninth: image | reconstruction | error map, coloured on one scale
        expected = render.enlarge(
            render.make_grid([x[k, 0].numpy(), recon[k], anomaly.heatmap(maps[k], maps.max())], ncol=3), 3
        )
        np.testing.assert_allclose(pixels(strips[k]), expected, atol=0.5 / 255 + 1e-6)
    assert {pixels(url).shape for url in strips} == {(3 * 32, 3 * 92, 3)}  # one size, RGB, nothing drifts

    at.slider(key="anomaly_top").set_value(3)
    rerun(at)
    assert len([c for c in captions(at) if c.startswith("#")]) == 3


def test_anomaly_upload_scores_good_files_and_names_bad_ones(env, models, mnist_test, vae_scores, vae_typicality):
    at = open_page(navigation.ANOMALY.script)
    good = digit_png(mnist_test, 3)
    at.file_uploader(key="anomaly_uploader").set_value(
        [("good.png", good, "image/png"), ("notes.png", b"this is not a picture", "image/png")]
    )
    rerun(at)
    assert len(at.error) == 1 and "notes.png" in at.error[0].value and "not an image" in at.error[0].value
    assert list(at.session_state["uploads"]) == ["good.png"]

    strip = next(image for image in at.image if image.captions == ["good.png"])
    assert pixels(strip.value[0]).shape == (3 * 32, 3 * 92, 3)  # the upload's own strip, like the test images'

    row = at.dataframe[0].value.set_index("image").loc["good.png"]
    picture = recipe.preprocess_bytes(good, "good.png").image
    error = float(anomaly.typicality_scores(models["vae"], render.to_tensor(picture), vae_typicality)[0])
    assert row["score"] == pytest.approx(error, abs=0.051)  # shown to 1 decimal
    assert row["percentile"] == pytest.approx(float(anomaly.percentile_of(error, vae_scores)), abs=0.051)  # 1 decimal
    assert row["percentile"] < 95 and row["verdict"] == anomaly.TYPICAL  # a real digit is ordinary

    # uploads from other pages are scored the same way: here pure noise, flagged
    at.session_state["uploads"] = {"static": np.random.default_rng(0).random((28, 28)).astype(np.float32)}
    at.file_uploader(key="anomaly_uploader").clear()
    rerun(at)
    row = at.dataframe[0].value.set_index("image").loc["static"]
    assert row["verdict"] == anomaly.FLAGGED and row["percentile"] == 100.0

    # a capital A, drawn in PIL's font: not a digit, and not called typical
    at.session_state["uploads"] = {"letter": nondigits.letter("A")}
    rerun(at)
    assert at.dataframe[0].value.set_index("image").loc["letter"]["verdict"] != anomaly.TYPICAL


def test_anomaly_one_class_experiment_runs_in_the_page(env):
    at = open_page(navigation.ANOMALY.script)
    assert "Run the experiment" in at.info[-1].value
    at.radio(key="oc_mode").set_value("one_only")
    at.slider(key="oc_epochs").set_value(2)
    rerun(at)
    at.button(key="oc_run").click()
    rerun(at)
    auroc = float(next(m for m in at.metric if m.label == "AUROC").value)
    assert auroc > 0.7
    assert next(m for m in at.metric if m.label == "Training images").value == "500"


# --- Compare ----------------------------------------------------------------------------


def test_compare_pickers_drive_every_view_and_the_metrics(env, models, mnist_test):
    vae_mse = anomaly.reconstruction_errors(models["vae"], mnist_test.images)  # Compare's table: MSE per pixel
    at = open_page(navigation.COMPARE.script)
    assert at.selectbox(key="compare_a").value == "vae"  # the sidebar's model
    assert at.selectbox(key="compare_b").value == "beta_vae"
    table = at.table[0].value
    assert list(table.columns) == ["A: vae", "B: beta_vae"]
    assert table.loc["model", "B: beta_vae"] == "MLP VAE, 20-d latent, beta 4"
    assert float(table.loc["measured test MSE per pixel", "A: vae"]) == pytest.approx(vae_mse.mean(), abs=1e-5)
    before = [image.value for image in at.image]

    at.selectbox(key="compare_b").set_value("conv_ae")
    rerun(at)
    table = at.table[0].value
    assert list(table.columns) == ["A: vae", "B: conv_ae"]
    assert table.loc["model", "B: conv_ae"] == "Convolutional autoencoder, 32-d latent"
    recorded = load_checkpoint(SHIPPED_DIR / "conv_ae.safetensors").meta["metrics"]["recon"]
    assert table.loc["recorded test recon (BCE, nats)", "B: conv_ae"] == f"{recorded:.2f}"  # from its metadata
    after = [image.value for image in at.image]
    assert len(after) == len(before) == 4  # reconstructions, A's and B's samples, interpolations
    assert after[1] == before[1]  # A's samples did not change
    assert all(a != b for i, (a, b) in enumerate(zip(before, after)) if i != 1)

    at.selectbox(key="compare_a").set_value("beta_vae")
    rerun(at)
    assert list(at.table[0].value.columns) == ["A: beta_vae", "B: conv_ae"]
    assert [image.value for image in at.image][1] != after[1]  # now A's samples did
    assert len(at.download_button) == 5  # 4 PNG grids and the CSV


def test_compare_csv_export_has_every_test_image(env, models, mnist_test):
    at = open_page(navigation.COMPARE.script)
    assert at.radio(key="compare_export_model").value == "A"  # the sidebar's model, vae
    button = at.download_button(key="compare_csv")
    csv = content(button.proto.url)
    table = pd.read_csv(io.BytesIO(csv))
    codes = encoding.encode_all(models["vae"], mnist_test.images).mu
    dim = codes.shape[1]
    assert list(table.columns) == ["index", "label", *[f"z_{d}" for d in range(dim)], "pca_x", "pca_y"]
    assert len(table) == 10000
    np.testing.assert_array_equal(table["index"], np.arange(10000))
    np.testing.assert_array_equal(table["label"], mnist_test.labels.numpy())
    np.testing.assert_allclose(table.iloc[:, 2 : 2 + dim].to_numpy(), codes, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        table[["pca_x", "pca_y"]].to_numpy(), projections.pca(codes).coords, rtol=1e-3, atol=1e-3
    )


def test_compare_draws_the_recorded_beta_sweep_seed_by_seed_with_what_it_shows(env):
    found = sweep.load(SHIPPED_DIR / sweep.RESULTS_FILE)
    at = open_page(navigation.COMPARE.script)
    charts = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    mig, plane = charts[-2:]  # the sweep tab's two, after nothing else drawn as a chart
    per_config = {trace["name"]: trace for trace in mig["data"] if trace["name"] != "mean over seeds"}
    for group in sweep.summarise(found):
        runs = [r for r in found.runs if r.config == group.config]
        assert per_config[group.config]["y"] == [r.mig for r in runs]  # every seed's own point
        assert per_config[group.config]["marker"]["symbol"] == ("diamond" if group.tcvae else "circle")
        rd = next(trace for trace in plane["data"] if trace["name"] == group.config)
        assert (rd["x"], rd["y"]) == ([r.recon for r in runs], [r.kl for r in runs])
    held, said = sweep.verdict(found)
    shown = [e.value for e in (at.success if held else at.warning)]
    assert said in shown
    notes = [c.value for c in at.caption]
    assert sweep.mig_sentence(found) in notes and sweep.rate_distortion_sentence(found) in notes
