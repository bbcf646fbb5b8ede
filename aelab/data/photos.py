"""Photo-like pictures of digits, made here, and the probe that says how well uploads are read.

The most natural upload is a phone photo of a digit on paper: uneven light, a shadow over a
corner, paper texture, blur, JPEG noise, a small tilt, blue ink, a thin ballpoint line, or
chalk on a dark board.
`photo_set` renders every digit in the machine's fonts (Debian's fonts-dejavu-core, found by
PIL in the system font folders) and puts it through what paper, light and a camera do,
deterministically for a seed; each photo comes with a clean twin, the same glyph black on white,
so the cost of the photo conditions can be measured apart from the gap between fonts and
handwriting. `vote_accuracy` is that measure: whether a picture's nearest MNIST codes agree on
its digit.

It lives in the package, not in bench/, because the test suite and bench/photo_uploads.py both
measure with it and bench/ is not importable.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from skimage.filters import gaussian
from skimage.morphology import dilation, disk, skeletonize

FONT_PACKAGE = "fonts-dejavu-core"
FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
)  # every face of FONT_PACKAGE
CONDITIONS = (
    "gradient",
    "corner shadow",
    "texture and JPEG",
    "blue ink",
    "table edge and specks",
    "chalkboard",
    "ballpoint pen",
)
GLYPH_PX = 160  # font size of the rendered digit, before it is tilted and placed
CLEAN_SIDE = 200  # the clean twin: the glyph centred on a white square this size
NEIGHBOURS = 10


@dataclass(frozen=True)
class Photo:
    """One picture of a digit as a file a person would upload, and its clean twin."""

    digit: int
    font: str
    condition: str
    data: bytes  # JPEG, as a phone saves it
    clean: bytes  # the same tilted glyph, black on white, PNG


def photo_set(
    seed: int = 0, digits: tuple[int, ...] = tuple(range(10)), conditions: tuple[str, ...] = CONDITIONS
) -> list[Photo]:
    """Every digit under every condition; the font cycles so each digit appears in several faces."""
    photos = []
    for c, condition in enumerate(conditions):
        if condition not in CONDITIONS:
            raise ValueError(f"Unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")
        for digit in digits:
            rng = np.random.default_rng([seed, digit, CONDITIONS.index(condition)])
            font = FONTS[(digit + 5 * c) % len(FONTS)]
            glyph = _glyph(digit, font, rng)
            if condition == "ballpoint pen":
                glyph = _pen_line(glyph, rng)
            photos.append(Photo(digit, font, condition, _photograph(glyph, condition, rng), _clean(glyph)))
    return photos


def vote_accuracy(
    reference_codes: np.ndarray,
    reference_labels: np.ndarray,
    codes: np.ndarray,
    labels: np.ndarray,
    k: int = NEIGHBOURS,
) -> float:
    """Share of `codes` whose k nearest reference codes (Euclidean) vote most often for their label.

    It asks of a picture what a person asks: does the model put it among the digits it is?
    """
    from sklearn.neighbors import KNeighborsClassifier

    vote = KNeighborsClassifier(n_neighbors=k).fit(reference_codes, reference_labels)
    return float(vote.score(codes, labels))


def _font(name: str) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(name, GLYPH_PX)  # PIL looks in the system font folders
    except OSError:
        raise FileNotFoundError(f"The font {name} is missing: install Debian's {FONT_PACKAGE}.") from None


def _glyph(digit: int, font: str, rng: np.random.Generator) -> np.ndarray:
    """The digit's ink coverage in [0, 1], tilted, sheared and stretched a little as a hand would."""
    face = _font(font)
    # Pillow types the box as floats; at a whole font size its edges are whole pixels
    left, top, right, bottom = (round(edge) for edge in face.getbbox(str(digit)))
    pad = GLYPH_PX // 2
    canvas = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(canvas).text((pad - left, pad - top), str(digit), fill=255, font=face)
    angle = np.deg2rad(rng.uniform(-7.0, 7.0))
    shear, stretch = rng.uniform(-0.15, 0.15), rng.uniform(0.9, 1.1)
    # output -> input map about the centre: rotation, shear and horizontal stretch
    matrix = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.array(
        [[1.0 / stretch, shear], [0.0, 1.0]]
    )
    centre = np.array(canvas.size) / 2.0
    offset = centre - matrix @ centre
    warped = canvas.transform(
        canvas.size, Image.Transform.AFFINE, (*matrix[0], offset[0], *matrix[1], offset[1]), Image.Resampling.BICUBIC
    )
    box = warped.getbbox()
    return np.asarray(warped.crop(box), dtype=np.float64) / 255.0


def _pen_line(glyph: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The glyph's centre line drawn with a thin pen: strokes 3-4% of the digit's height, as a ballpoint writes."""
    radius = max(1, round(rng.uniform(0.015, 0.02) * glyph.shape[0]))
    line = dilation(skeletonize(glyph > 0.5), disk(radius))
    return np.clip(gaussian(line.astype(np.float64), 0.7), 0.0, 1.0)


def _clean(glyph: np.ndarray) -> bytes:
    """The glyph, black on white, filling 70% of a square: what a clean render of the digit looks like."""
    scale = 0.7 * CLEAN_SIDE / max(glyph.shape)
    ink = _resized(glyph, scale)
    page = np.ones((CLEAN_SIDE, CLEAN_SIDE))
    y, x = (CLEAN_SIDE - ink.shape[0]) // 2, (CLEAN_SIDE - ink.shape[1]) // 2
    page[y : y + ink.shape[0], x : x + ink.shape[1]] -= ink
    return _encode(page, "PNG")


def _photograph(glyph: np.ndarray, condition: str, rng: np.random.Generator) -> bytes:
    """Paper (or a board), ink, light and a camera: reflectance times illumination, blurred, noisy, JPEG."""
    height, width = (360, 480) if rng.random() < 0.5 else (480, 360)
    ink = _placed(glyph, (height, width), rng)
    ys, xs = np.mgrid[0:height, 0:width] / max(height, width)
    if condition == "chalkboard":
        board = np.array([0.10, 0.16, 0.13]) + 0.04 * _smooth_noise((height, width), rng, sigma=40)[..., None]
        grain = np.clip(0.85 + 0.5 * _smooth_noise((height, width), rng, sigma=1.0), 0.3, 1.0)
        stroke = (ink * grain)[..., None]
        reflectance = board * (1 - stroke) + np.array([0.85, 0.87, 0.85]) * stroke
    else:
        texture = _smooth_noise((height, width), rng, sigma=rng.uniform(1.5, 4.0))
        paper = np.array([0.93, 0.91, 0.86]) * (1 + 0.03 * texture)[..., None]
        pen = {"blue ink": np.array([0.15, 0.22, 0.62]), "ballpoint pen": np.array([0.12, 0.14, 0.3])}.get(
            condition, np.full(3, rng.uniform(0.08, 0.2))
        )
        reflectance = paper * (1 - ink[..., None]) + pen * ink[..., None]
        if condition == "texture and JPEG":
            reflectance *= (1 + 0.08 * texture)[..., None]
        if condition == "table edge and specks":
            reflectance = _table_edge(reflectance, rng)
            reflectance = _specks(reflectance, rng)
    direction = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(0.45, 0.65) if condition == "gradient" else rng.uniform(0.15, 0.35)
    light = 1 - strength * (0.5 + 0.5 * np.clip(np.cos(direction) * (xs - 0.5) + np.sin(direction) * (ys - 0.5), -1, 1))
    light = light * rng.uniform(0.8, 1.0)
    if condition == "corner shadow":
        light = light * _corner_shadow((height, width), rng)
    warm = np.array([1.0, 0.96, 0.88])
    picture = Image.fromarray(np.clip(reflectance * light[..., None] * warm * 255, 0, 255).astype(np.uint8))
    picture = picture.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.6)))
    noisy = np.asarray(picture, dtype=np.float64) / 255 + rng.normal(0, rng.uniform(0.01, 0.03), (height, width, 3))
    quality = int(rng.integers(40, 60)) if condition == "texture and JPEG" else int(rng.integers(60, 90))
    return _encode(noisy, "JPEG", quality=quality)


def _placed(glyph: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The glyph scaled to 35-60% of the picture's height, somewhere off-centre."""
    height, width = shape
    scale = min(rng.uniform(0.35, 0.6) * height / glyph.shape[0], 0.8 * width / glyph.shape[1])
    ink = _resized(glyph, scale)
    y = int(rng.uniform(0.3, 0.7) * (height - ink.shape[0]))
    x = int(rng.uniform(0.3, 0.7) * (width - ink.shape[1]))
    canvas = np.zeros(shape)
    canvas[y : y + ink.shape[0], x : x + ink.shape[1]] = ink
    return canvas


def _resized(plane: np.ndarray, scale: float) -> np.ndarray:
    size = (max(1, round(plane.shape[1] * scale)), max(1, round(plane.shape[0] * scale)))
    image = Image.fromarray(plane.astype(np.float32)).resize(size, Image.Resampling.BICUBIC)
    return np.clip(np.asarray(image, dtype=np.float64), 0, 1)


def _smooth_noise(shape: tuple[int, int], rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Gaussian noise blurred to a grain of about `sigma` px, rescaled to unit standard deviation."""
    values = gaussian(rng.normal(0, 1, shape), sigma)
    return values / (values.std() or 1.0)


def _corner_shadow(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A soft-edged shadow (a hand or phone) over one corner: 45-65% of the light is lost under it."""
    height, width = shape
    mask = Image.new("L", (width, height), 0)
    reach_x, reach_y = rng.uniform(0.4, 0.75) * width, rng.uniform(0.4, 0.75) * height
    corner = (width - 1 if rng.random() < 0.5 else 0, height - 1 if rng.random() < 0.5 else 0)
    toward = (1 if corner[0] == 0 else -1, 1 if corner[1] == 0 else -1)
    ImageDraw.Draw(mask).polygon(
        [corner, (corner[0] + toward[0] * reach_x, corner[1]), (corner[0], corner[1] + toward[1] * reach_y)], fill=255
    )
    soft = gaussian(np.asarray(mask, dtype=np.float64) / 255, rng.uniform(3, 12))
    return 1 - rng.uniform(0.45, 0.65) * soft


def _table_edge(reflectance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The sheet does not fill the photo: a dark table shows beyond a slanted edge along one side."""
    height, width = reflectance.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width]
    side = rng.integers(4)
    along, across, extent = (xs, ys, height) if side < 2 else (ys, xs, width)
    edge = rng.uniform(0.05, 0.12) * extent + rng.uniform(-0.05, 0.05) * along
    beyond = across < edge if side % 2 == 0 else across > extent - 1 - edge
    return np.where(beyond[..., None], np.array([0.30, 0.20, 0.12]), reflectance)


def _specks(reflectance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A few dark dots of dust or pencil lead on the paper."""
    height, width = reflectance.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width]
    out = reflectance.copy()
    for _ in range(int(rng.integers(4, 9))):
        cy, cx, radius = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(1.0, 3.0)
        out[(ys - cy) ** 2 + (xs - cx) ** 2 <= radius**2] *= 0.3
    return out


def _encode(values: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.round(np.clip(values, 0, 1) * 255).astype(np.uint8)).save(buffer, format=fmt, **options)
    return buffer.getvalue()
