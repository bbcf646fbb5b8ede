"""The app with pieces missing, and the promises that keep users safe from each other."""

from pathlib import Path

import pytest
import tomllib
import torch
from streamlit.testing.v1 import AppTest

from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import load_checkpoint
from aelab.ui import navigation, text

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
EXPLORE = [page for page in navigation.PAGES if page.group == "Explore"]


@pytest.fixture
def env(settings, tmp_path):
    """The app with its own runs folder and cache; it gives the `settings` fixture, for a test to change one inside."""
    with settings(runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache"):
        yield settings


def test_without_a_dataset_on_disk_the_app_opens_on_digits_and_says_why(env, tmp_path):
    with env(data_dir=tmp_path / "empty"):
        at = AppTest.from_file(APP, default_timeout=180).run()
        assert not at.exception
        assert at.selectbox(key="dataset").value == "digits"
        assert at.selectbox(key="dataset").options == [
            "scikit-learn digits (offline)",
            "shapes",
            "dSprites recipe",
        ]  # all made here
        assert any("MNIST is not on disk" in i.value for i in at.sidebar.info)
        assert "images of the test split of scikit-learn digits" in " ".join(c.value for c in at.caption)
        assert "trained on: mnist, shown on scikit-learn digits" in at.sidebar.caption[-1].value  # the card says so
        assert "showing scikit-learn digits instead" in text.OFFLINE_NOTE
        for page in navigation.PAGES:  # and every page says so in its body, not only the sidebar
            at.switch_page(page.script).run()
            assert not at.exception, page.title
            assert text.OFFLINE_NOTE in [i.value for i in at.main.info], page.title


def test_without_checkpoints_the_app_says_so_and_offers_training(env, tmp_path):
    with env(checkpoints_dir=tmp_path / "none"):
        at = AppTest.from_file(APP, default_timeout=120).run()
        assert not at.exception
        assert any("No checkpoints found" in e.value for e in at.sidebar.error)
        assert any("No model is available" in w.value for w in at.warning)
        for page in [page for page in navigation.PAGES if page is not navigation.DEFAULT]:
            at.switch_page(page.script).run()
            assert not at.exception, page.title


def test_pages_never_change_the_shared_cached_model(env, click_map):
    at = AppTest.from_file(APP, default_timeout=180).run()
    click_map(at, index=3)
    at.run()
    for page in EXPLORE[1:]:
        at.switch_page(page.script).run()
        assert not at.exception, page.title
    from aelab.ui.caches import models  # the same process-wide cache the pages used

    path = str(SHIPPED_DIR / "vae.safetensors")
    cached = models.load_model(path, models.digest(path)).model
    fresh = load_checkpoint(path).model
    assert not cached.training and all(p.grad is None for p in cached.parameters())
    assert all(torch.equal(a, b) for a, b in zip(cached.state_dict().values(), fresh.state_dict().values()))


def test_users_never_see_a_traceback():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    assert config["server"]["maxUploadSize"] == 10


def test_a_training_run_neither_changes_nor_blocks_another_session(env, tmp_path, mnist_train, click_map):
    import time

    from aelab.models.config import ModelConfig
    from aelab.training import jobs
    from aelab.training.config import TrainConfig

    viewer = AppTest.from_file(APP, default_timeout=180).run()  # warm: codes and map cached
    cfg = TrainConfig(model=ModelConfig.for_model("vae"), epochs=500, batch_size=64, patience=0)
    job = jobs.submit(cfg, mnist_train, tmp_path / "runs" / "busy.safetensors")
    try:
        while not job.snapshot().history:  # a whole epoch in: the trainer is busy, and has saved a model
            time.sleep(0.1)
        for index in (5, 11, 42):
            click_map(viewer, index=index)
            start = time.perf_counter()
            viewer.run()
            took = time.perf_counter() - start
            assert not viewer.exception and viewer.subheader[0].value == f"Image {index}"
            assert took < 10, f"a rerun took {took:.1f} s while another session trained"
        assert viewer.selectbox(key="model_label").value == "vae"  # the new model did not take over
        assert job.snapshot().running
    finally:
        job.stop()
        job.join(120)
    assert job.snapshot().status == "stopped"
