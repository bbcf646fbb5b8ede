"""aelab.images: MNIST's preprocessing recipe on real and drawn images, and the download formats."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from aelab.data.registry import RAW_FILES, data_dir
from aelab.images.reading import MAX_BYTES, ImageError, load_image
from aelab.images.recipe import Preprocessed, preprocess, preprocess_bytes
from aelab.images.render import (
    LABEL_PX,
    data_uri,
    enlarge,
    labelled_grid,
    make_grid,
    pad_square,
    to_gif,
    to_png,
    to_tensor,
    wrap_columns,
)

MNIST_TEST = data_dir() / "MNIST" / "raw" / RAW_FILES["test"][0]


def mnist_digits(n: int) -> np.ndarray:
    """The first n official MNIST test digits, uint8 (n, 28, 28), read straight from the IDX file."""
    return np.fromfile(MNIST_TEST, dtype=np.uint8, count=n * 28 * 28, offset=16).reshape(n, 28, 28)


def encode(img: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(image.shape)
    return float((image * ys).sum() / image.sum()), float((image * xs).sum() / image.sum())


def bbox_size(image: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def glyph(size: tuple[int, int] = (160, 100), ink: int = 0, paper: int = 255) -> Image.Image:
    """An asymmetric drawing (an 'F' with a dot), so any rotation or flip changes it."""
    w, h = size
    img = Image.new("L", size, paper)
    draw = ImageDraw.Draw(img)
    width = max(2, min(w, h) // 6)
    draw.line([(w * 0.3, h * 0.85), (w * 0.3, h * 0.15), (w * 0.7, h * 0.15)], fill=ink, width=width)
    draw.line([(w * 0.3, h * 0.5), (w * 0.55, h * 0.5)], fill=ink, width=width)
    draw.ellipse([w * 0.75, h * 0.7, w * 0.75 + 2 * width, h * 0.7 + 2 * width], fill=ink)
    return img


def test_real_mnist_digits_come_back_as_themselves() -> None:
    digits = mnist_digits(300)
    errors, shifts = [], []
    for digit in digits:
        result = preprocess_bytes(encode(Image.fromarray(digit)), "digit.png").image
        expected = digit / 255.0
        errors.append(np.abs(result - expected).mean())
        shifts.append(np.subtract(centre_of_mass(result), centre_of_mass(expected)))
    errors, shifts = np.array(errors), np.abs(np.array(shifts))
    assert errors.max() < 0.1, f"worst mean absolute difference {errors.max():.3f}"
    assert errors.mean() < 0.005, f"average mean absolute difference {errors.mean():.4f}"
    assert shifts.max() <= 1.0 and (shifts < 0.1).mean() > 0.95, f"centre shifts up to {shifts.max():.2f} px"


def test_black_on_white_is_inverted_to_mnist_convention() -> None:
    for digit in mnist_digits(20):
        dark_on_light = preprocess_bytes(encode(Image.fromarray(255 - digit)))
        light_on_dark = preprocess_bytes(encode(Image.fromarray(digit)))
        assert "inverted" in [name for name, _ in dark_on_light.steps]
        assert "inverted" not in [name for name, _ in light_on_dark.steps]
        assert np.abs(dark_on_light.image - light_on_dark.image).mean() < 0.01


def test_steps_are_named_displayable_images() -> None:
    result = preprocess(glyph((900, 700)))
    names = [name for name, _ in result.steps]
    assert names == [
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
    for name, step in result.steps:
        assert step.ndim == 2 and max(step.shape) <= 256, name
        assert step.dtype == np.float32 and 0.0 <= step.min() and step.max() <= 1.0, name
    np.testing.assert_array_equal(result.steps[-1][1], result.image)


def test_an_even_frame_skips_the_photo_steps_and_a_lit_one_takes_them() -> None:
    """A render or clean scan has no light to correct: only MNIST's own steps run (20 times faster)."""
    digit = mnist_digits(1)[0]
    clean = preprocess_bytes(encode(Image.fromarray(digit)))
    assert [name for name, _ in clean.steps] == [
        "original",
        "grayscale",
        "background removed",
        "cropped",
        "20x20 box",
        "centred by mass 28x28",
    ]
    lit = np.clip(digit + np.linspace(0, 60, 28)[None, :], 0, 255).astype(np.uint8)  # light across the picture
    photo = preprocess_bytes(encode(Image.fromarray(lit)))
    assert {"background", "thresholded", "digit kept"} <= {name for name, _ in photo.steps}
    assert np.abs(photo.image - clean.image).mean() < 0.02


@pytest.mark.parametrize("orientation, stored_as", [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)])
def test_exif_rotated_jpeg_comes_out_upright(orientation: int, stored_as: Image.Transpose) -> None:
    upright = glyph()
    stored = upright.transpose(stored_as)  # what a phone writes before tagging "rotate on display"
    exif = Image.Exif()
    exif[0x0112] = orientation
    tagged = encode(stored, "JPEG", quality=95, exif=exif)

    assert load_image(tagged).size == upright.size
    result = preprocess_bytes(tagged, "photo.jpg").image
    expected = preprocess_bytes(encode(upright, "JPEG", quality=95)).image
    ignoring_exif = preprocess_bytes(encode(stored, "JPEG", quality=95)).image
    assert np.abs(result - expected).mean() < 0.02
    assert np.abs(ignoring_exif - expected).mean() > 0.1  # the check above can tell rotations apart


def test_centre_of_mass_lands_on_14_14() -> None:
    off_centre = Image.new("L", (300, 200), 0)
    ImageDraw.Draw(off_centre).ellipse([210, 10, 290, 60], fill=255)
    inputs = [glyph(), glyph((40, 300)), off_centre, *(Image.fromarray(d) for d in mnist_digits(10))]
    for img in inputs:
        cy, cx = centre_of_mass(preprocess(img).image)
        assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1, (img.size, cy, cx)


def test_large_input_is_fitted_to_a_20_px_box_keeping_aspect() -> None:
    img = Image.new("L", (1600, 1200), 255)
    ImageDraw.Draw(img).ellipse([300, 400, 1300, 1000], outline=0, width=40)  # 1000 x 600
    result = preprocess(img).image
    height, width = bbox_size(result > 0)
    assert width == 20 and abs(height - 12) <= 1, (height, width)
    assert result.dtype == np.float32 and result.shape == (28, 28) and result.max() == 1.0


@pytest.mark.parametrize("mode", ["1", "P", "RGB", "CMYK", "I;16", "I", "F", "LA", "RGBA"])
def test_every_mode_gives_the_same_digit(mode: str) -> None:
    reference = preprocess(glyph()).image
    converted = glyph().convert(mode) if mode != "I;16" else Image.fromarray(np.asarray(glyph(), np.uint16) * 257)
    assert converted.mode == mode
    assert np.abs(preprocess(converted).image - reference).mean() < 0.03


def test_coloured_ink_on_coloured_paper() -> None:
    mask = np.asarray(glyph(ink=255, paper=0)) > 127
    rgb = np.where(mask[..., None], [30, 40, 200], [250, 240, 120]).astype(np.uint8)  # blue pen, yellow paper
    result = preprocess_bytes(encode(Image.fromarray(rgb), "JPEG", quality=90)).image
    assert np.abs(result - preprocess(glyph()).image).mean() < 0.03


@pytest.mark.parametrize(
    "stroke, background",
    [
        ((0, 0, 0, 255), (0, 0, 0, 0)),  # black strokes, transparent black: only alpha differs
        ((255, 255, 255, 255), (0, 0, 0, 0)),  # white strokes
        ((0, 0, 0, 255), (255, 255, 255, 0)),
        ((200, 30, 30, 255), (200, 30, 30, 0)),
    ],
)
def test_strokes_on_transparent_background_survive(stroke: tuple, background: tuple) -> None:
    mask = np.asarray(glyph(ink=255, paper=0)) > 127
    rgba = np.where(mask[..., None], stroke, background).astype(np.uint8)
    result = preprocess_bytes(encode(Image.fromarray(rgba, "RGBA"))).image
    assert np.abs(result - preprocess(glyph()).image).mean() < 0.03


def test_dark_and_light_strokes_on_one_transparent_canvas_all_survive() -> None:
    mask = np.asarray(glyph(ink=255, paper=0)) > 127
    rgba = np.where(mask[..., None], (0, 0, 0, 255), (128, 128, 128, 0)).astype(np.uint8)
    rgba[:, 80:, :3] = 255  # the right half of the drawing is in white
    result = preprocess_bytes(encode(Image.fromarray(rgba, "RGBA"))).image
    assert np.abs(result - preprocess(glyph()).image).mean() < 0.03


def test_transparent_padding_around_an_opaque_picture_is_background() -> None:
    page = np.full((200, 260, 4), 0, np.uint8)  # transparent margin...
    page[20:180, 30:230] = [255, 255, 255, 255]  # ...around a white page...
    page[20:180, 30:230, :3] = np.asarray(glyph((200, 160)))[..., None]  # ...with a dark drawing on it
    result = preprocess_bytes(encode(Image.fromarray(page, "RGBA"))).image
    assert np.abs(result - preprocess(glyph((200, 160))).image).mean() < 0.03


def test_animated_gif_uses_its_first_frame() -> None:
    first, second = glyph(), glyph().transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    animated = encode(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    assert Image.open(io.BytesIO(animated)).n_frames == 2
    result = preprocess_bytes(animated).image
    np.testing.assert_allclose(result, preprocess(first).image, atol=0.02)
    assert np.abs(result - preprocess(second).image).mean() > 0.1


@pytest.mark.parametrize("colour", [0, 255, 128])
def test_flat_images_are_blank(colour: int) -> None:
    with pytest.raises(ImageError, match="^The image is blank: no strokes found.$"):
        preprocess_bytes(encode(Image.new("L", (50, 40), colour)))


def test_refusals_say_why_in_one_line() -> None:
    cases = {
        b"": "The file is empty.",
        b"just some notes\n": "This is not an image file PIL can read (text/plain?).",
        b"%PDF-1.7\n%\xe2\xe3": "This is not an image file PIL can read (application/pdf?).",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>': (
            "This image format (image/svg+xml) is not supported: save it as PNG or JPEG."
        ),
        bytes(2 * MAX_BYTES): "The file is too large: 20.0 MB (limit 10 MB).",
        encode(Image.new("1", (6000, 5000))): "The image is too large: 6000x5000 pixels (limit 25 megapixels).",
        encode(glyph())[:300]: "The image is truncated or corrupt.",
    }
    for data, message in cases.items():
        with pytest.raises(ImageError) as caught:
            preprocess_bytes(data, "upload.png")
        assert str(caught.value) == message


def test_to_tensor_shapes() -> None:
    one = np.random.default_rng(0).random((28, 28))
    assert to_tensor(one).shape == (1, 1, 28, 28) and to_tensor(one).dtype == torch.float32
    batch = np.random.default_rng(1).random((5, 28, 28)).astype(np.float32)
    tensor = to_tensor(batch)
    assert tensor.shape == (5, 1, 28, 28)
    np.testing.assert_array_equal(tensor[:, 0].numpy(), batch)
    batch[0, 0, 0] = 7.0
    assert tensor[0, 0, 0, 0] != 7.0  # a copy: later edits to the array do not leak in
    with pytest.raises(ValueError):
        to_tensor(np.zeros((2, 28, 27)))


def test_make_grid_layout() -> None:
    images = np.stack([np.full((4, 3), i / 10, dtype=np.float32) for i in range(5)])
    grid = make_grid(images, ncol=3, pad=1, pad_value=0.5)
    assert grid.shape == (2 * 4 + 3, 3 * 3 + 4)
    np.testing.assert_array_equal(grid[1:5, 1:4], images[0])
    np.testing.assert_array_equal(grid[6:10, 5:8], images[4])
    np.testing.assert_array_equal(grid[6:10, 9:12], 0.5)  # the missing sixth image is padding
    assert (grid[0] == 0.5).all() and (grid[:, 0] == 0.5).all()
    assert make_grid(images[:2], ncol=8).shape == (4 + 4, 2 * 3 + 6)


def test_gray_and_rgb_pictures_make_one_rgb_grid() -> None:
    """An image, its reconstruction and a coloured error map side by side: one picture, nothing drifts."""
    gray = np.full((4, 3), 0.25, dtype=np.float32)
    colour = np.zeros((4, 3, 3), dtype=np.float32)
    colour[..., 0] = 1.0
    grid = make_grid([gray, gray * 2, colour], ncol=3, pad=1, pad_value=0.5)
    assert grid.shape == (4 + 2, 3 * 3 + 4, 3)
    np.testing.assert_array_equal(grid[1:5, 1:4], 0.25)  # gray stays gray in every channel
    np.testing.assert_array_equal(grid[1:5, 9:12], colour)
    assert (grid[0] == 0.5).all()
    assert make_grid([gray, gray], ncol=2).ndim == 2  # no colour: still one gray plane
    for bad in ([], [gray, np.zeros((5, 3))], [np.zeros((4, 3, 4))]):
        with pytest.raises(ValueError, match="of one size"):
            make_grid(bad, ncol=2)


def test_long_strips_wrap_into_even_rows() -> None:
    assert [wrap_columns(n, 12) for n in (3, 12, 13, 24)] == [3, 12, 7, 12]
    frames = np.zeros((24, 28, 28), dtype=np.float32)
    assert make_grid(frames, ncol=wrap_columns(24, 12)).shape == (2 * 30 + 2, 12 * 30 + 2)


def test_steps_of_any_shape_pad_to_one_square() -> None:
    wide = np.ones((2, 6), dtype=np.float32)
    square = pad_square(wide, value=0.5)
    assert square.shape == (6, 6)
    np.testing.assert_array_equal(square[2:4], 1.0)
    assert (square[:2] == 0.5).all() and (square[4:] == 0.5).all()
    assert pad_square(np.ones((5, 3))).shape == (5, 5)


def test_labelled_grid_names_each_row_and_value() -> None:
    levels = np.array([[50, 80, 110], [140, 170, 200]], dtype=np.float32) / 255  # each tile one gray, found by it
    tiles = np.broadcast_to(levels[:, :, None, None], (2, 3, 28, 28))
    values = [["-1.00", "0.00", "1.00"], ["-2.50", "0.00", "2.50"]]
    grid = labelled_grid(tiles, ["dim 7", "dim 12"], values, scale=3)
    assert grid.ndim == 2 and grid.min() >= 0 and grid.max() <= 1
    boxes = {}
    for (r, c), level in np.ndenumerate(levels):
        same = np.abs(grid - level) < 0.5 / 255  # the tile, and perhaps a few antialiased text pixels
        ys, xs = np.nonzero(same.sum(1) >= 84)[0], np.nonzero(same.sum(0) >= 84)[0]
        assert len(ys) == len(xs) == 84 and np.ptp(ys) == np.ptp(xs) == 83  # whole, three times enlarged
        assert same[ys[0] : ys[0] + 84, xs[0] : xs[0] + 84].all()
        boxes[r, c] = (ys[0], xs[0])
    assert boxes[0, 0][0] == boxes[0, 2][0] < boxes[1, 0][0] and boxes[0, 0][1] == boxes[1, 0][1] < boxes[0, 1][1]
    top, left = boxes[1, 2]
    assert (grid[top + 84 : top + 84 + LABEL_PX + 4, left : left + 84] < 0.5).any()  # its value, under it
    assert (grid[top : top + 84, : boxes[1, 0][1]] < 0.5).any()  # its row's name, left of the row
    other = labelled_grid(tiles, ["dim 7", "dim 99"], values, scale=3)
    assert other.shape == grid.shape and not np.array_equal(other, grid)  # the text drawn is the text given
    with pytest.raises(ValueError, match="labels"):
        labelled_grid(tiles, ["dim 7"], values)
    with pytest.raises(ValueError, match="labels"):
        labelled_grid(tiles, ["a", "b"], [["1", "2"], ["1", "2"]])


def _text_height(grid: np.ndarray, rows: slice) -> int:
    """How many pixel rows within `rows` of a labelled grid's label column hold ink."""
    return int((grid[rows, :30] < 0.5).any(1).sum())


def test_labelled_grid_text_grows_with_its_pictures() -> None:
    """A 64 px picture's grid is shrunk about twice as much as a digit's to fit a page: its text is drawn
    about twice as large, so both read alike on screen."""
    digit = labelled_grid(np.full((1, 2, 28, 28), 0.5), ["dim 7"], [["-1.00", "1.00"]], scale=3)
    large = labelled_grid(np.full((1, 2, 64, 64), 0.5), ["dim 7"], [["-1.00", "1.00"]], scale=3)
    small_text = _text_height(digit, slice(4, 4 + 84))
    large_text = _text_height(large, slice(4, 4 + 192))
    assert small_text >= 0.6 * LABEL_PX and large_text >= 0.9 * small_text * 192 / 84
    assert large.shape[0] - 4 - 192 >= 1.7 * (digit.shape[0] - 4 - 84)  # room for the larger values under them


def test_pictures_travel_as_data_uris_that_decode_back() -> None:
    picture = enlarge(np.random.default_rng(2).random((28, 28)), 4)
    uri = data_uri(to_png(picture))
    assert uri.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    np.testing.assert_allclose(np.asarray(decoded) / 255.0, picture, atol=0.5 / 255 + 1e-6)


def test_enlarge_is_crisp() -> None:
    image = np.array([[0.0, 1.0], [0.25, 0.5]])
    big = enlarge(image, 3)
    assert big.shape == (6, 6)
    np.testing.assert_array_equal(big[:3, 3:], 1.0)
    np.testing.assert_array_equal(big[3:, :3], 0.25)
    assert enlarge(np.zeros((2, 2, 3)), 4).shape == (8, 8, 3)


def test_png_decodes_back() -> None:
    image = np.random.default_rng(0).random((28, 28))
    grid = make_grid(np.stack([image] * 6), ncol=3)
    decoded = Image.open(io.BytesIO(to_png(enlarge(grid, 4))))
    assert decoded.format == "PNG" and decoded.mode == "L"
    assert decoded.size == (4 * grid.shape[1], 4 * grid.shape[0])
    np.testing.assert_allclose(np.asarray(decoded)[::4, ::4] / 255.0, grid, atol=0.5 / 255 + 1e-6)

    heatmap = Image.open(io.BytesIO(to_png(np.random.default_rng(1).random((10, 12, 3)))))
    assert heatmap.mode == "RGB" and heatmap.size == (12, 10)


@pytest.mark.parametrize("loop", [True, False])
def test_gif_decodes_back(loop: bool) -> None:
    frames = [np.full((28, 28), i / 7) for i in range(8)]
    gif = Image.open(io.BytesIO(to_gif([enlarge(f, 2) for f in frames], duration_ms=80, loop=loop)))
    assert gif.format == "GIF" and gif.size == (56, 56) and gif.n_frames == 8
    assert gif.info["duration"] == 80
    assert ("loop" in gif.info) == loop
    for i in range(8):
        gif.seek(i)
        assert abs(np.asarray(gif.convert("L"), dtype=float).mean() - 255 * i / 7) < 1.0


def test_preprocessed_image_is_float32_unit_range() -> None:
    result = preprocess_bytes(encode(glyph((3000, 2000)), "JPEG"), "big.jpg")
    assert isinstance(result, Preprocessed)
    assert result.image.shape == (28, 28) and result.image.dtype == np.float32
    assert result.image.min() == 0.0 and result.image.max() == 1.0
