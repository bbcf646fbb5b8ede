"""A folder of one's own pictures explored in the app (AppTest): three class folders of coloured shapes, trained
small through the real trainer (`python -m aelab train --dataset FOLDER`), open on every page with their own
held-out images; a folder or zip added in the sidebar; a model whose folder is gone; a served app's folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from folders import write_celeba, write_shapes
from media import colourful, pixels, recording
from streamlit.testing.v1 import AppTest

from aelab import cli
from aelab.data import folders, sources
from aelab.data.dataset import sample_indices
from aelab.data.folders import load_folder
from aelab.store.checkpoints import load_checkpoint, update_metadata
from aelab.ui import data_choice, map_detail, navigation
from aelab.ui.text import markdown_safe

APP = str(Path(__file__).resolve().parents[2] / "app.py")
IMAGES = 60  # 12 held out for testing
MODEL = "pics (yours)"


@pytest.fixture(scope="module")
def env(settings, tmp_path_factory: pytest.TempPathFactory):
    """The folder, a VAE trained on it for one epoch, and a copy of that run whose folder has gone."""
    data, runs = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("runs")
    folder = write_shapes(data / "pics", IMAGES)
    argv = ["train", "--dataset", str(folder), "--side", "32", "--channels", "3", "--model", "conv_vae"]
    assert (
        cli.main([*argv, "--epochs", "1", "--threads", "1", "--workers", "0", "--out", str(runs / "pics.safetensors")])
        == 0
    )
    shutil.copy(runs / "pics.safetensors", runs / "gone.safetensors")
    recorded = load_checkpoint(runs / "pics.safetensors").meta["folder"]
    update_metadata(runs / "gone.safetensors", {"folder": recorded | {"path": str(data / "gone")}})
    with settings(cache_dir=tmp_path_factory.mktemp("cache"), runs_dir=runs), pytest.MonkeyPatch.context() as mp:
        recording(mp)
        yield folder


def opened(model: str = MODEL) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.sidebar.selectbox(key="model_label").set_value(model).run()
    assert not at.exception, at.exception
    return at


SHOWING_TEST_IMAGES = (
    navigation.TRAVERSE,
    navigation.DIRECTIONS,
    navigation.DENOISE,
    navigation.ANOMALY,
)


@pytest.mark.parametrize(
    "page", [spec for spec in navigation.PAGES if spec is not navigation.TRAIN], ids=lambda spec: spec.title
)
def test_a_model_trained_on_a_folder_opens_on_its_own_images_on_every_page(env, page):
    at = opened()
    assert at.sidebar.selectbox(key="dataset").value == str(env.resolve())  # the model brought its folder
    at.switch_page(page.script).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert page is navigation.DRAW or at.image or at.get("plotly_chart"), page.title
    assert "trained on: pics, shown on pics" in at.sidebar.caption[0].value
    if page in SHOWING_TEST_IMAGES:  # its coloured shapes, not MNIST made RGB (gray)
        assert any(colourful(url) for image in at.image for url in image.value), page.title
    if page is navigation.MAP:
        assert any(
            f"{IMAGES // 5} of the {IMAGES // 5} images of the test split of pics." in c.value for c in at.caption
        )


def test_the_maps_clicked_point_is_one_of_the_folders_pictures(env, click_map):
    at = opened()
    at.switch_page(navigation.MAP.script).run()
    click_map(at, index=3)
    at.run()
    assert not at.exception and any(colourful(url) for image in at.image for url in image.value)


def test_a_folder_or_zip_added_in_the_sidebar_is_listed_by_its_name_and_shown(env, tmp_path):
    archive = shutil.make_archive(str(tmp_path / "more"), "zip", env)
    at = opened()
    at.sidebar.text_input(key=data_choice.FOLDER_INPUT).set_value(str(tmp_path / "nothing")).run()
    missing = markdown_safe(f"There is no folder or zip at {tmp_path / 'nothing'}.")
    assert [e.value for e in at.sidebar.error] == [missing]
    at.sidebar.text_input(key=data_choice.FOLDER_INPUT).set_value(archive).run()
    picker = at.sidebar.selectbox(key="dataset")
    assert picker.value == archive and not at.sidebar.error
    assert picker.options[-2:] == ["pics", "more.zip"]  # by their names: the model's folder, then the one added
    at.switch_page(navigation.MAP.script).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(
        f"{IMAGES // 5} of the {IMAGES // 5} images of the test split of more.zip." in c.value for c in at.caption
    )


def test_a_model_whose_folder_is_gone_says_so_in_one_line(env):
    at = opened("gone (yours)")
    shown = at.sidebar.selectbox(key="dataset").value
    assert shown != str(env.resolve().parent / "gone")
    [note] = [i.value for i in at.sidebar.info if "Trained on" in i.value]
    assert note == f"Trained on {env.parent / 'gone'}, which is not on this machine: shown on MNIST instead."


def test_a_served_app_offers_and_takes_folders_only_inside_its_allowed_ones(env, settings, tmp_path):
    with settings(served=True, allowed_folders=tmp_path):  # the model's folder lies outside
        at = opened()
        assert "pics" not in at.sidebar.selectbox(key="dataset").options
        [note] = [i.value for i in at.sidebar.info if "Trained on" in i.value]
        assert note == "Trained on pics, which is not on this server or not open here: shown on MNIST instead."
        at.sidebar.text_input(key=data_choice.FOLDER_INPUT).set_value(str(env)).run()
        refusal = f"{env} is not open to exploring here: type a folder inside {tmp_path.name}/, relative to it "
        assert [e.value for e in at.sidebar.error] == [markdown_safe(refusal + "(e.g. my_digits).")]
        shutil.copytree(env, tmp_path / "mine")
        at.sidebar.text_input(key=data_choice.FOLDER_INPUT).set_value("mine").run()
        assert at.sidebar.selectbox(key="dataset").value == str((tmp_path / "mine").resolve())
        assert at.query_params["data"] == f"{tmp_path.name}/mine"  # its link names no folder of the server's
        at.switch_page(navigation.MAP.script).run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert any("images of the test split of mine." in c.value for c in at.caption)


def test_celeba_is_listed_when_its_files_are_there_and_shown_in_part(env, settings, tmp_path):
    with settings(data_dir=write_celeba(tmp_path, 12)):  # a fake CelebA in torchvision's layout: 4 test faces
        at = opened()
        at.sidebar.selectbox(key="dataset").set_value("celeba").run()
        at.switch_page(navigation.MAP.script).run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert any("4 of the 4 images of the test split of CelebA." in c.value for c in at.caption)
        assert any(c.value.startswith("CelebA resized from 64 to 32 px") for c in at.caption)  # the model's side
        held = "CelebA: 4 of its 4 images, drawn with seed 0, are held in memory: the pages show them"
        assert held in [c.value for c in at.caption]


def test_a_served_app_that_opens_no_server_folder_offers_no_folder_box(env, settings):
    with settings(served=True, allowed_folders=""):
        at = opened()
        assert not [box for box in at.sidebar.text_input if box.key == data_choice.FOLDER_INPUT]
        assert "pics" not in at.sidebar.selectbox(key="dataset").options


def test_a_views_link_names_its_folder_by_path_and_opens_on_it(env):
    at = opened()
    assert at.query_params["data"] == str(env.resolve())  # the link the app wrote
    linked = AppTest.from_file(APP, default_timeout=300)
    linked.query_params.update({"model": "gone (yours)", "data": str(env.resolve()), "point": "3"})
    linked.run()
    assert not linked.exception and linked.sidebar.selectbox(key="model_label").value == "gone (yours)"
    assert linked.sidebar.selectbox(key="dataset").value == str(env.resolve())  # not the model's own: the link's


def test_a_streamed_folders_map_draws_every_code_and_reads_a_clicked_image_from_its_file(
    env, tmp_path, monkeypatch, click_map
):
    big = shutil.copytree(env, tmp_path / "big")
    monkeypatch.setattr(folders, "IN_MEMORY_BYTES", 0)  # streamed from its files, as 100,000 pictures would be
    monkeypatch.setattr(sources, "APP_IMAGES", 5)  # the other pages hold 5 of its 12 test images
    at = opened()
    at.sidebar.text_input(key=data_choice.FOLDER_INPUT).set_value(str(big)).run()
    at.switch_page(navigation.MAP.script).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    captions = [c.value for c in at.caption]
    assert "big: 5 of its 12 images, drawn with seed 0, are held in memory: the pages show them" in captions
    assert any(c.startswith("The map covers all 12 images of the test split, read from their files") for c in captions)
    at.button(key="map_encode").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("12 of the 12 images of the test split of big." in c.value for c in at.caption)  # every code drawn
    colourings = at.selectbox(key="map_colour_by").options
    assert "label" in colourings and "recon. error" not in colourings and "anomaly score" not in colourings

    row = next(r for r in range(12) if r not in sample_indices(12, 5, sources.HELD_SEED))  # a row no page holds
    click_map(at, index=row, whole=True)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [h.value for h in at.subheader] == [f"Image {row}"]
    whole = load_folder(big, side=32, channels=3).test  # the same folder read into memory: the same split
    [original] = [image for image in at.image if image.captions[0] == f"original · label {whole.label_name(row)}"]
    shown = pixels(original.value[0])  # the clicked image as the page drew it, from its file, enlarged
    step = shown.shape[0] // 32
    drawn = whole.images[row].permute(1, 2, 0).numpy()
    assert np.abs(shown[::step, ::step] - drawn).max() <= 0.5 / 255 + 1e-6  # the same pixels, rounded to 8 bits
    assert map_detail.NOT_SHARED in [c.value for c in at.caption]  # its row is not the other pages' row
    assert not [b for b in at.button if b.key in ("use_a", "use_b", "use_base")]
