"""Your own model on every page of the app (AppTest): the example of docs/own-model.md imported
(tests/own_models.py), one not allowed, one whose code fails on the page's input."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from convention_models import CASES, MODELS, imported
from own_models import EXAMPLE, ROOT
from streamlit.testing.v1 import AppTest

from aelab.models.config import OwnModelConfig
from aelab.models.own import OwnModel
from aelab.settings import variable
from aelab.store.checkpoints import save_checkpoint
from aelab.ui import navigation


@pytest.fixture
def app_env(own, settings, tmp_path: Path):
    """The app with the example's run and its entry point allowed; it gives `own`, and `settings` for a test to
    change one inside."""
    with settings(runs_dir=own["runs"], cache_dir=tmp_path, entry_points=own["entry"]):
        yield own


def open_page(page: str, model: str = "mine (yours)") -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.sidebar.selectbox(key="model_label").set_value(model).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize(
    "page", [spec for spec in navigation.PAGES if spec is not navigation.TRAIN], ids=lambda spec: spec.title
)
def test_every_page_works_with_your_own_model(app_env, page):
    at = open_page(page.script)
    assert not at.error, [e.value for e in at.error]
    assert page is navigation.DRAW or at.image or at.get("plotly_chart"), page.title
    if page is navigation.TRAVERSE:  # a slider for each of its 8 dimensions: flat codes, not principal directions
        assert len([s for s in at.slider if s.label.startswith("dim ")]) == 8
        assert not [s for s in at.slider if s.key.startswith("pc_t_")]
    card = at.sidebar.markdown[0].value
    assert card.startswith("**Your own model (autoencoder, ") and card.endswith("8-d latent, 1x28x28 gray**")
    assert f"imported from {EXAMPLE}.safetensors" in at.sidebar.caption[0].value


def test_an_own_model_that_is_not_allowed_is_listed_as_skipped(app_env, settings):
    with settings(entry_points=""):
        st.cache_data.clear()  # the listing is cached per process, whose allowed entry points never change but here
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
        assert not at.exception
        assert "mine (yours)" not in at.sidebar.selectbox(key="model_label").options
        [warning] = [w.value for w in at.sidebar.warning if "mine.safetensors" in w.value]
        assert f"{variable('entry_points')}={app_env['entry']}" in warning


def test_a_page_where_an_own_model_fails_says_so_in_one_line(app_env, settings):
    from others import nan_on_digits

    out = app_env["runs"] / "nan-on-digits.safetensors"
    model = OwnModel(OwnModelConfig("others:nan_on_digits", 3, False), nan_on_digits())
    save_checkpoint(out, model, {"dataset": "mnist"})
    try:
        with settings(entry_points=f"{app_env['entry']},others:nan_on_digits"):
            at = open_page(navigation.MAP.script, model="nan-on-digits (yours)")
            assert [e.value for e in at.error] == [
                "others:nan_on_digits: its encode gave NaN or infinity for 500 of 500 inputs"
            ]
    finally:
        out.unlink()


def test_traverse_walks_principal_directions_on_a_spatial_code(spatial_runs, settings, tmp_path):
    """The conv bottleneck's 8x4x4 codes: a slider per principal direction, not per number, and the code's 8
    channels drawn; PC 1 moves the decode and the channels."""
    with settings(runs_dir=spatial_runs, cache_dir=tmp_path, entry_points="convention_models:spatial"):
        at = open_page(navigation.TRAVERSE.script, model="spatial (yours)")
        assert not at.error, [e.value for e in at.error]
        assert not [s for s in at.slider if s.key.startswith("z_")]
        sliders = [s for s in at.slider if s.key.startswith("pc_t_")]
        assert [s.label.split(" · ")[0] for s in sliders] == [f"PC {i}" for i in range(1, 9)]
        assert all(s.label.endswith("% of variance") and s.value == 0 for s in sliders)
        assert at.image[0].captions == ["base", "reconstruction", "current decode"]
        channels = [image for image in at.image if image.captions and image.captions[0].startswith("channel ")]
        assert [image.captions[0] for image in channels] == [f"channel {c}" for c in range(8)]
        assert any("One colour scale for every channel: black is" in c.value for c in at.main.caption)
        recon, before = at.image[0].value[1], [image.value for image in channels]
        assert at.image[0].value[2] == recon  # the sliders start on the base code

        at.slider(key="pc_t_0").set_value(2.0).run()
        assert not at.exception
        assert at.image[0].value[2] != recon
        assert [image.value for image in at.image if image.captions[0].startswith("channel ")] != before
        assert at.image[-1].captions == ["Rows, top to bottom: PC 1, PC 2, PC 3, PC 4, PC 5"]


@pytest.fixture(scope="module")
def convention_runs(conventions, tmp_path_factory):
    """Each convention of tests/convention_models.py imported with the flags that say it, in one runs folder."""
    runs = tmp_path_factory.mktemp("convention-runs")
    for name, (flags, *_) in CASES.items():
        code, _, err = imported(name, conventions[name], runs / f"{name.replace('_', '-')}.safetensors", *flags)
        assert code == 0, err
    return runs


@pytest.mark.parametrize("name", list(MODELS))
def test_every_page_opens_for_each_convention(convention_runs, settings, tmp_path, name):
    entries = ",".join(f"convention_models:{n}" for n in MODELS)
    with settings(runs_dir=convention_runs, cache_dir=tmp_path, entry_points=entries):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.run()
        at.sidebar.selectbox(key="model_label").set_value(f"{name.replace('_', '-')} (yours)").run()
        card = at.sidebar.caption[0].value  # the card says the conventions its header records
        assert ("conventions: takes [-1, 1], gives [-1, 1] (tanh)" in card) == (name == "tanh"), card
        for page in navigation.PAGES:
            if page is navigation.TRAIN:
                continue
            at.switch_page(page.script).run()
            assert not at.exception and not at.error, (page.title, at.exception, [e.value for e in at.error])
            assert page is navigation.DRAW or at.image or at.get("plotly_chart"), page.title


def test_every_page_opens_for_a_diffusers_autoencoder_kl(settings, tmp_path):
    """Latent diffusion's VAE (spatial codes 2x14x14, [-1, 1] pixels) on every page, on the digits it learnt."""
    from convention_models import train_kl

    from aelab.cli import main
    from aelab.data.registry import load_dataset

    folder = train_kl(load_dataset("digits", "train").images, tmp_path / "kl")
    runs = tmp_path / "runs"
    assert main(["import", f"diffusers:{folder}", "--dataset", "digits", "--out", str(runs / "kl.safetensors")]) == 0
    with settings(runs_dir=runs, cache_dir=tmp_path / "cache", entry_points=f"diffusers:{folder}"):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.run()
        at.sidebar.selectbox(key="model_label").set_value("kl (yours)").run()
        assert "codes 2x14x14 (flattened)" in at.sidebar.caption[0].value
        for page in navigation.PAGES:
            if page is navigation.TRAIN:
                continue
            at.switch_page(page.script).run()
            assert not at.exception and not at.error, (page.title, at.exception, [e.value for e in at.error])
            if page is navigation.TRAVERSE:  # 392 numbers: principal directions' sliders, and its 2 channels
                assert [s.key for s in at.slider if s.key.startswith("pc_t_")] == [f"pc_t_{i}" for i in range(8)]
                assert [i.captions[0] for i in at.image if i.captions[0].startswith("channel ")] == [
                    "channel 0",
                    "channel 1",
                ]
