"""The Reconstruct page through the real app with AppTest, real uploads included.

Streamlit 1.67's AppTest can upload: `at.file_uploader(key=...).set_value([(name, bytes, mime)])`
registers the bytes with the test's upload manager, and the page gets real UploadedFile
objects (with a file_id that stays the same over reruns, as in a browser). It does not
enforce server.maxUploadSize (the browser and server do), so the page's own size check is
what an enormous file meets here. The MLP `vae` checkpoint and the real MNIST test split.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from streamlit.testing.v1 import AppTest

from aelab.data import nondigits
from aelab.explore import anomaly, encoding
from aelab.images import inputs, reading, render
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import load_checkpoint
from aelab.ui import navigation
from aelab.ui.uploads import STEP_PX

APP = Path(__file__).resolve().parents[2] / "app.py"
PAGE = navigation.RECONSTRUCT.script
VAE = SHIPPED_DIR / "vae.safetensors"
SENTENCE = re.compile(
    r"^score \S+ — (higher than|no higher than) .*MNIST test image.*: "
    r"\*\*(typical|unusual|flagged)\*\* \(flagged above \S+\)$"
)
STEP_NAMES = [
    "original",
    "grayscale",
    "inverted",
    "background",
    "background removed",
    "thresholded",
    "digit kept",
    "cropped",
    "20x20 box",
    "centred by mass 28x28",
]


@pytest.fixture(scope="module")
def env(settings, tmp_path_factory: pytest.TempPathFactory):
    assert VAE.is_file(), f"{VAE} is missing: train it with checkpoints/train_all.sh"
    with settings(cache_dir=tmp_path_factory.mktemp("cache"), runs_dir=tmp_path_factory.mktemp("runs")):
        yield


@pytest.fixture(scope="module")
def reference(mnist_test) -> tuple:
    """The model, its anomaly score's reference (the test set) and the test set's scores: what the page's
    sentences must agree with."""
    model = load_checkpoint(VAE).model
    typicality = anomaly.fit_typicality(model, mnist_test.images)
    return model, typicality, typicality.reference_scores


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def mnist_png(mnist, index: int) -> bytes:
    """A real test digit as a person would draw it: black on white, four times the size."""
    pixels = np.round(255 * (1 - mnist.images[index, 0].numpy())).astype(np.uint8)
    return png(Image.fromarray(pixels).resize((112, 112), Image.Resampling.BILINEAR))


def photo_jpeg() -> bytes:
    """A photo-like picture: a pen-drawn 7 on unevenly lit, grainy paper, in colour, as JPEG."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:240, 0:320]
    paper = 200 + 40 * xs / 320 - 20 * ys / 240 + rng.normal(0, 6, (240, 320))
    rgb = np.clip(np.stack([paper, paper * 0.97, paper * 0.9], axis=-1), 0, 255).astype(np.uint8)
    img = Image.fromarray(rgb)
    ImageDraw.Draw(img).line([(110, 60), (210, 60), (150, 190)], fill=(40, 40, 70), width=14)
    buffer = io.BytesIO()
    img.filter(ImageFilter.GaussianBlur(1.5)).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def open_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.sidebar.selectbox(key="model_label").set_value("vae").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def sentences(at: AppTest) -> list[str]:
    return [m.value for m in at.main.markdown if m.value.startswith("score ")]


def expected(reference, picture: np.ndarray) -> str:
    model, typicality, scores = reference
    score = float(anomaly.typicality_scores(model, render.to_tensor(picture), typicality)[0])
    return anomaly.score_sentence(score, scores, "MNIST test")


def test_a_file_that_cannot_be_read_is_not_called_nothing_uploaded(env, mnist_test, reference):
    at = open_page()
    corrupt = ("photo.png", b"\x89PNG\r\n\x1a\n not really a png", "image/png")
    at.file_uploader(key="uploader").set_value([corrupt]).run()
    assert not at.exception
    assert [e.value for e in at.main.error] == ["**photo.png**: The image is truncated or corrupt."]
    assert not any("Nothing uploaded yet" in i.value for i in at.main.info)  # the error says what happened
    at.file_uploader(key="uploader").set_value([]).run()
    assert any("Nothing uploaded yet" in i.value for i in at.main.info)


def test_uploads_good_and_bad_together(env, mnist_test, reference, monkeypatch):
    digit = mnist_png(mnist_test, 0)
    files = [
        ("seven.png", digit, "image/png"),
        ("photo.jpg", photo_jpeg(), "image/jpeg"),
        ("truncated.png", digit[: len(digit) // 2], "image/png"),
        ("notes.png", b"These are notes, not a picture.\n", "image/png"),
        ("empty.png", b"", "image/png"),
        ("huge.png", digit + bytes(reading.MAX_BYTES), "image/png"),
    ]
    prepared = []
    real = inputs.prepare_bytes
    monkeypatch.setattr(
        inputs, "prepare_bytes", lambda data, name, spec: prepared.append(name) or real(data, name, spec)
    )

    at = open_page()
    assert any("Nothing uploaded yet" in i.value for i in at.main.info)
    assert at.button(key="clear_uploads").disabled
    at.file_uploader(key="uploader").set_value(files).run()
    assert not at.exception
    assert sorted(prepared) == sorted(name for name, _, _ in files)

    errors = [e.value for e in at.main.error]
    assert len(errors) == 4 and all("\n" not in e for e in errors)
    for name, words in [
        ("truncated.png", "truncated or corrupt"),
        ("notes.png", "not an image"),
        ("empty.png", "empty"),
        ("huge.png", "too large"),
    ]:
        assert sum(e.startswith(f"**{name}**: ") and words in e for e in errors) == 1, (name, errors)

    uploads = at.session_state["uploads"]
    assert list(uploads) == ["seven.png", "photo.jpg"]
    assert all(u.shape == (28, 28) and u.dtype == np.float32 for u in uploads.values())
    assert np.abs(uploads["seven.png"] - mnist_test.images[0, 0].numpy()).mean() < 0.05  # came back as itself

    # newest first, each with its preprocessing steps, then the test image's row
    said = sentences(at)
    assert len(said) == 3 and all(SENTENCE.match(s) for s in said), said
    assert said[0] == expected(reference, uploads["photo.jpg"])
    assert said[1] == expected(reference, uploads["seven.png"])
    assert "**typical**" in said[1]  # a real MNIST digit is nothing unusual
    step_rows = [image for image in at.main.image if image.captions and image.captions[0] == "original"]
    assert [row.captions for row in step_rows] == [STEP_NAMES, STEP_NAMES]
    for name in uploads:  # square steps, shown STEP_PX wide: every step of a row is as tall as the others
        shapes = {Image.open(io.BytesIO(png)).size for _, png in at.session_state["upload_steps"][name]}
        assert all(w == h >= STEP_PX for w, h in shapes), (name, shapes)
    photo = dict(at.session_state["upload_steps"]["photo.jpg"])
    original = np.asarray(Image.open(io.BytesIO(photo["original"])))
    assert (original[0] == 128).all() and (original[-1] == 128).all()  # the 4:3 photo, centred on gray
    assert [image.captions for image in at.main.image].count(["model input", "reconstruction", "difference"]) == 3

    at.number_input(key="test_index").set_value(5).run()  # any rerun: nothing is prepared twice
    assert not at.exception and len(prepared) == len(files) and len(at.main.error) == 4

    at.file_uploader(key="uploader").set_value(None).run()  # files leave the uploader: the uploads stay
    assert not at.exception and not at.main.error
    assert list(at.session_state["uploads"]) == ["seven.png", "photo.jpg"]
    at.file_uploader(key="uploader").set_value(
        [("seven.png", mnist_png(mnist_test, 1), "image/png"), ("copy.png", digit, "image/png")]
    ).run()
    assert list(at.session_state["uploads"]) == ["seven.png", "photo.jpg", "seven.png (2)", "copy.png"]
    assert len(sentences(at)) == 5

    at.button(key="clear_uploads").click().run()
    assert not at.exception and at.session_state["uploads"] == {}
    assert len(sentences(at)) == 1 and at.button(key="clear_uploads").disabled
    at.run()  # the files still listed in the uploader do not come back
    assert at.session_state["uploads"] == {} and len(prepared) == len(files) + 2


def test_test_index_shows_its_reconstruction_and_score(env, mnist_test, reference):
    at = open_page()
    assert at.number_input(key="test_index").value == 0
    assert sentences(at) == [expected(reference, mnist_test.images[0, 0].numpy())]
    first = at.main.image[0].value

    at.number_input(key="test_index").set_value(3).run()
    assert not at.exception
    assert sentences(at) == [expected(reference, mnist_test.images[3, 0].numpy())]
    assert any(c.value == f"Label: {mnist_test.classes[int(mnist_test.labels[3])]}" for c in at.main.caption)
    assert at.main.image[0].value != first

    at.button(key="test_random").click().run()
    assert not at.exception and 0 <= at.number_input(key="test_index").value < len(mnist_test)
    assert len(sentences(at)) == 1 and at.session_state["uploads"] == {}


def test_the_verdict_follows_the_anomaly_pages_threshold(env, mnist_test, reference):
    """A threshold set on the Anomaly page is the one Reconstruct's verdict uses: the two pages never disagree."""
    at = open_page()
    assert "**typical**" in sentences(at)[0]  # test image 0 under the default, the 99th percentile
    errors = reference[2]
    low = float(np.percentile(errors, 1))
    at.switch_page(navigation.ANOMALY.script).run()
    slider = next(s for s in at.slider if s.key.startswith("anomaly_threshold_"))
    slider.set_value(low).run()
    at.switch_page(PAGE).run()
    said = sentences(at)[0]
    assert not at.exception and "**flagged**" in said and f"(flagged above {low:.3g})" in said


def test_an_uploaded_letter_is_not_called_typical(env, reference):
    """Issue #26: a capital A once read "not flagged" here; the graded verdict must not call it typical."""
    at = open_page()
    at.file_uploader(key="uploader").set_value([("A.png", png(nondigits.letter_drawing("A")), "image/png")]).run()
    assert not at.exception
    said = sentences(at)[0]
    assert said == expected(reference, at.session_state["uploads"]["A.png"])
    assert "**typical**" not in said


def test_the_posterior_of_the_test_image_or_an_upload(env, mnist_test):
    """Issue #26: mu and sigma per dimension, the KL of each, and decodes of z = mu + sigma * eps."""
    at = open_page()
    found = encoding.posterior_of(load_checkpoint(VAE).model, mnist_test.images[:1], 6, 0)
    draws = next(image for image in at.main.image if image.captions and image.captions[0] == "decode(mu)")
    assert draws.captions == ["decode(mu)"] + [f"draw {i}" for i in range(1, 7)]
    total = f"KL of this posterior from the prior: {found.kl.sum():.2f} nats in all"
    assert any(c.value.startswith(total) for c in at.main.caption)
    at.file_uploader(key="uploader").set_value([("A.png", png(nondigits.letter_drawing("A")), "image/png")]).run()
    at.selectbox(key="posterior_image").set_value("A.png").run()
    assert not at.exception and not any(c.value.startswith(total) for c in at.main.caption)  # the letter's own
    at.sidebar.selectbox(key="model_label").set_value("conv_ae").run()
    assert not at.exception and any("no" in i.value and "posterior" in i.value for i in at.main.info)
