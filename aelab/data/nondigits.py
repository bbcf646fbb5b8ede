"""Pictures that are not digits, made here: the yardstick an anomaly score must pass on a digit model.

Letters (PIL's default font) and outline or filled shapes go through MNIST's recipe
(images.recipe), exactly as an upload of one would, so they are centred 20x20 white ink on black
like the digits; textures (noise, stripes, checks) fill the whole 28x28 canvas, as a photo of
something that is not a drawing would. Deterministic: the same call gives the same pictures.
"""

from __future__ import annotations

import string

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from aelab.images.recipe import preprocess

LETTERS, SHAPES, TEXTURES = "letters", "shapes", "textures"
KINDS = (LETTERS, SHAPES, TEXTURES)
CANVAS = 96  # px: letters and shapes are drawn this large, then made 28x28 by the digit recipe
FONT_SIZE = 72
SIDE = 28
TEXTURE_SEEDS = 8  # noise pictures per noise level


def letter_drawing(char: str) -> Image.Image:
    """One character in PIL's default font, dark on white as written on paper: what a person would upload."""
    img = Image.new("L", (CANVAS, CANVAS), 255)
    font = ImageFont.load_default(size=FONT_SIZE)
    ImageDraw.Draw(img).text((CANVAS / 2, CANVAS / 2), char, fill=0, font=font, anchor="mm")
    return img


def letter(char: str) -> np.ndarray:
    """`letter_drawing(char)` through the digit recipe, as an upload of it is prepared."""
    return preprocess(letter_drawing(char), with_steps=False).image


def _shape_pictures() -> list[np.ndarray]:
    """Circles, squares, triangles and a cross, outlined and filled, through the digit recipe."""
    lo, hi, mid = 16, CANVAS - 16, CANVAS // 2
    drawings = []
    for width in (6, 0):  # outline, then filled
        fill = 0 if width == 0 else None
        for draw_one in (
            lambda d, f, w: d.ellipse((lo, lo, hi, hi), outline=0, fill=f, width=w or 1),
            lambda d, f, w: d.rectangle((lo, lo, hi, hi), outline=0, fill=f, width=w or 1),
            lambda d, f, w: d.polygon([(mid, lo), (hi, hi), (lo, hi)], outline=0, fill=f, width=w or 1),
            lambda d, f, w: d.ellipse((lo, lo + 20, hi, hi - 20), outline=0, fill=f, width=w or 1),
        ):
            img = Image.new("L", (CANVAS, CANVAS), 255)
            draw_one(ImageDraw.Draw(img), fill, width)
            drawings.append(img)
    for img_lines in (((mid, lo, mid, hi), (lo, mid, hi, mid)), ((lo, lo, hi, hi), (lo, hi, hi, lo))):
        img = Image.new("L", (CANVAS, CANVAS), 255)
        for line in img_lines:
            ImageDraw.Draw(img).line(line, fill=0, width=8)
        drawings.append(img)  # a plus and an x
    return [preprocess(img, with_steps=False).image for img in drawings]


def _textures() -> list[np.ndarray]:
    """Full-canvas textures: uniform noise at three levels, stripes both ways, checks, a gradient."""
    rng = np.random.default_rng(0)
    pictures = [rng.uniform(0.0, level, (SIDE, SIDE)) for level in (0.3, 0.6, 1.0) for _ in range(TEXTURE_SEEDS)]
    rows, cols = np.mgrid[0:SIDE, 0:SIDE]
    for period in (4, 7):
        pictures += [((rows // (period // 2 or 1)) % 2).astype(float), ((cols // (period // 2 or 1)) % 2).astype(float)]
        pictures.append((((rows // period) + (cols // period)) % 2).astype(float))
    pictures.append(cols / (SIDE - 1))
    return pictures


def nondigits() -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28) float32 pictures in [0, 1] and each one's kind (KINDS): the 26 capital and 26 small
    letters, shapes, textures."""
    letters = [letter(c) for c in string.ascii_uppercase + string.ascii_lowercase]
    groups = {LETTERS: letters, SHAPES: _shape_pictures(), TEXTURES: _textures()}
    pictures = np.stack([p for kind in KINDS for p in groups[kind]]).astype(np.float32)
    kinds = np.array([kind for kind in KINDS for _ in groups[kind]])
    return pictures, kinds
