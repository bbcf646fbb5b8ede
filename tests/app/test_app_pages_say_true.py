"""Compare and Denoise say what is true of the models they show (AppTest, real checkpoints and data)."""

from __future__ import annotations

from pathlib import Path

import pytest
from media import picture, private_app
from streamlit.testing.v1 import AppTest

from aelab.models.config import describe, from_header
from aelab.store.checkpoints import read_metadata
from aelab.ui import keys, navigation

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def open_page(page: str, model: str, dataset: str = "mnist") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.sidebar.selectbox(key=keys.MODEL_LABEL).set_value(model).run()
    at.sidebar.selectbox(key=keys.DATASET).set_value(dataset).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_compare_labels_its_rows_and_shows_an_own_models_name_whole(own, settings, tmp_path_factory):
    with settings(entry_points=own["entry"]), private_app(settings, tmp_path_factory, own["runs"]):
        at = open_page(navigation.COMPARE.script, "mine (yours)")
        a, b = at.selectbox(key="compare_a").value, at.selectbox(key="compare_b").value
        assert a == "mine (yours)" and b != a
        grid = at.image[0]
        assert (
            grid.captions[0].startswith("Columns: test images ")
            and "Rows: the originals, then A = " in (grid.captions[0])
        )
        drawn = picture(grid.value[0])
        assert drawn.width > 8 * (28 * 3 + 2)  # 8 columns of digits and, left of them, the rows' names
        table = at.table[0].value
        mine = read_metadata(own["runs"] / "mine.safetensors")
        column = next(c for c in table.columns if c.startswith("A: "))
        assert table.loc["model", column] == describe(from_header(mine["model"]))  # whole, in a table that wraps
        assert table.loc["epochs (best)", column] == "not recorded (trained elsewhere)"
        assert "?" not in " ".join(table[column])


def test_denoise_without_a_denoiser_says_so_and_never_compares_a_model_with_itself():
    at = open_page(navigation.DENOISE.script, "shapes_vae", "shapes")
    [info] = [i.value for i in at.info if "trained to denoise" in i.value]
    assert "none here removes noise" in info
    a, b = at.selectbox(key="denoise_model_a"), at.selectbox(key="denoise_model_b")
    assert a.value != b.value and a.label == "Model A" and b.label == "Model B"  # no "Denoising model": there is none
    table = at.dataframe[0].value
    assert list(table[""]) == ["noisy input", a.value, b.value]
    b.set_value(a.value).run()
    assert not at.exception
    assert list(at.dataframe[0].value[""]) == ["noisy input", a.value]  # shown once, and said
    assert any("same model" in c.value for c in at.caption)
    assert all(len(image.value) == 1 for image in at.image)
    assert len(at.image) == 3 * 4  # clean, noisy and the one model's output for each of the 4 images

    at = open_page(navigation.DENOISE.script, "vae")  # MNIST has the shipped denoiser: no such line
    assert not [i for i in at.info if "trained to denoise" in i.value]
    assert at.selectbox(key="denoise_model_a").label == "Denoising model"


@pytest.fixture(scope="module", autouse=True)
def _env(settings, tmp_path_factory):
    with private_app(settings, tmp_path_factory):
        yield
