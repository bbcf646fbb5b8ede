"""The Train page through Streamlit's AppTest: a real run started, watched, stopped and opened.

AppTest does not drive `run_every` fragments by itself, so the test reruns the page to poll.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from zips import zip_of

from aelab.images.render import to_png
from aelab.store.checkpoints import load_checkpoint
from aelab.training import jobs
from aelab.training.config import epochs_trained
from aelab.ui import navigation
from aelab.ui.text import epochs_text

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def runs(settings, tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    with settings(runs_dir=folder, cache_dir=tmp_path_factory.mktemp("appcache")):
        yield folder
    for job in jobs.running_jobs():  # never leave a thread training after a failed test
        job.stop()
        job.join(timeout=30)


def _rerun_until(at: AppTest, condition, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the page showed no progress in time"
        time.sleep(0.3)
        at.run()
        assert not at.exception, at.exception


def test_a_run_started_on_the_page_can_be_watched_stopped_and_opened(runs):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(navigation.TRAIN.script).run()
    assert not at.exception and at.title[0].value == "Train a model"
    assert at.selectbox(key="train_model").value == "vae"
    assert at.text_input(key="train_name").value == "vae-mnist-z20-10ep"  # derived from the settings

    at.text_input(key="train_name").set_value("vae").run()
    assert "ships with aelab" in at.main.error[0].value and at.button(key="train_start").disabled
    at.text_input(key="train_name").set_value("../vae").run()
    assert "path separators" in at.main.error[0].value and at.button(key="train_start").disabled
    at.text_input(key="train_name").set_value("watched").run()
    at.number_input(key="train_epochs").set_value(40).run()  # long enough to stop midway
    assert at.text_input(key="train_name").value == "watched" and not at.main.error  # an edited name stays

    at.button(key="train_start").click().run()
    job = at.session_state["train_job"]
    assert job.cfg.epochs == 40 and job.out == runs / "watched.safetensors"
    assert at.button(key="train_start").disabled and at.number_input(key="train_epochs").disabled
    _rerun_until(at, lambda: len(job.snapshot().history) >= 2)
    progress = at.get("progress")[0].proto
    assert progress.text.startswith("Epoch ") and " of 40" in progress.text and 0 < progress.value < 100
    assert len(at.get("plotly_chart")) == 1 and "reconstructions after epoch" in at.image[0].captions[0]

    at.button(key="train_stop").click().run()
    _rerun_until(at, lambda: not job.snapshot().running)
    at.run()
    assert at.info[0].value.startswith("**Stopped**") and 2 <= len(job.snapshot().history) < 40
    stopped_line = at.info[0].value
    assert not at.number_input(key="train_epochs").disabled  # the settings are free again...
    assert at.button(key="train_start").disabled and at.checkbox(key="train_replace").value is False  # ...no overwrite
    ckpt = load_checkpoint(runs / "watched.safetensors")
    assert ckpt.meta["status"] == "stopped" and ckpt.meta["metrics"]["images"] == 10_000
    assert "watched (yours)" in at.selectbox(key="model_label").options

    at.button(key="train_open_model").click().run()
    assert not at.exception and at.title[0].value == "Latent map"
    assert at.selectbox(key="model_label").value == "watched (yours)"
    card = " ".join(c.value for c in at.sidebar.caption)
    trained = epochs_text(round(epochs_trained(job.snapshot().history), 2))  # e.g. 2.28 epochs (stopped in epoch 3)
    assert "trained on: mnist" in card and f"trained for: {trained}" in card
    assert f"· {trained}." in stopped_line  # the board and the card say it alike


def test_an_uploaded_zip_is_checked_at_once_then_trained_on_and_tested_on_its_held_out_fifth(runs, mnist_test):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(navigation.TRAIN.script).run()
    at.radio(key="train_source").set_value("Upload a zip").run()
    assert at.button(key="train_start").disabled  # nothing uploaded yet
    png = to_png(mnist_test.images[0, 0].numpy())
    at.file_uploader(key="train_zip").set_value(
        ("evil.zip", zip_of({"a.png": png, "../evil.png": png}), "application/zip")
    ).run()
    assert "points outside the archive" in at.main.error[0].value and at.button(key="train_start").disabled

    digits = {str(d): [int(i) for i in (mnist_test.labels == d).nonzero()[:20, 0]] for d in (1, 4, 7)}
    entries = {
        f"my digits/{d}/{i}.png": to_png(mnist_test.images[i, 0].numpy()) for d, idx in digits.items() for i in idx
    }
    at.file_uploader(key="train_zip").set_value(("my digits.zip", zip_of(entries), "application/zip")).run()
    assert not at.main.error and "48 training images, 3 classes (1, 4, 7)" in " ".join(c.value for c in at.caption)
    at.number_input(key="train_epochs").set_value(2).run()
    assert at.text_input(key="train_name").value == "vae-my-digits-z20-2ep"
    at.button(key="train_start").click().run()
    job = at.session_state["train_job"]
    assert job.join(timeout=60)
    at.run()
    assert not at.exception and at.success[0].value.startswith("**Finished**")
    ckpt = load_checkpoint(runs / "vae-my-digits-z20-2ep.safetensors")
    assert ckpt.meta["dataset"] == "my digits" and ckpt.meta["classes"] == ["1", "4", "7"]
    assert ckpt.meta["train"]["dataset"] == "my digits.zip" and ckpt.meta["metrics"]["images"] == 12


def test_a_zip_of_colour_pictures_trains_a_colour_model_at_the_side_picked(runs):
    from aelab.data.registry import load_dataset
    from aelab.images.render import to_pictures

    pictures = to_pictures(load_dataset("shapes", "test").images[:40])  # (40, 64, 64, 3) RGB
    entries = {f"shapes/{i}.png": to_png(picture) for i, picture in enumerate(pictures)}
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(navigation.TRAIN.script).run()
    at.radio(key="train_source").set_value("Upload a zip").run()
    assert at.radio(key="train_side").disabled  # MNIST's digit recipe has its own size
    at.selectbox(key="train_pictures").set_value("colour").run()
    at.radio(key="train_side").set_value(32).run()
    at.file_uploader(key="train_zip").set_value(("colour shapes.zip", zip_of(entries), "application/zip")).run()
    assert not at.main.error and "32 training images" in " ".join(c.value for c in at.caption)
    at.number_input(key="train_epochs").set_value(1).run()
    name = at.text_input(key="train_name").value
    at.button(key="train_start").click().run()
    assert at.session_state["train_job"].join(timeout=120)
    at.run()
    assert not at.exception and at.success[0].value.startswith("**Finished**")
    ckpt = load_checkpoint(runs / f"{name}.safetensors")
    assert ckpt.model.image_shape == (3, 32, 32)
    assert "--side 32 --channels 3" in ckpt.meta["command"]


def test_a_zip_made_gray_at_28_px_records_its_shape_unlike_the_digit_recipe(runs, mnist_test):
    entries = {f"digits/{i}.png": to_png(mnist_test.images[i, 0].numpy()) for i in range(20)}
    for mode, flags in (("gray", True), ("digits", False)):
        at = AppTest.from_file(APP, default_timeout=120).run()
        at.switch_page(navigation.TRAIN.script).run()
        at.radio(key="train_source").set_value("Upload a zip").run()
        at.selectbox(key="train_pictures").set_value(mode).run()
        at.file_uploader(key="train_zip").set_value((f"{mode}.zip", zip_of(entries), "application/zip")).run()
        at.number_input(key="train_epochs").set_value(1).run()
        at.button(key="train_start").click().run()
        job = at.session_state["train_job"]
        assert job.join(timeout=60)
        assert ("--side 28 --channels 1" in job.command) is flags, job.command
