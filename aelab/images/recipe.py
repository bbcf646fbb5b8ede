"""MNIST's recipe for a photo or drawing of a digit: find the digit on the paper with scikit-image
(background divided out, Otsu and hysteresis thresholds, connected pieces), then white on black, cropped,
fitted to a 20x20 box and centred by mass in 28x28, so it looks to a model like the digits it learnt.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from aelab.images.reading import BLANK, HIGH_DEPTH, ImageError, load_image
from aelab.models.config import DIGIT_SHAPE
from aelab.settings import MAX_PIXELS

SIDE = DIGIT_SHAPE[1]  # MNIST canvas
BOX = 20  # MNIST fits each digit into a 20x20 box...
CENTRE = 14.0  # ...and puts its centre of mass here (measured on MNIST: 14.0 in pixel indices)
WORK_SIDE = 512  # larger images are shrunk first: the result is 20 px, this keeps 25 MP fast and averages noise
DISPLAY_SIDE = 256  # longest side of each step kept for display
MIN_CONTRAST = 0.05  # of full scale: below this the picture is one flat colour plus noise
NOISE_FLOOR = 0.05  # of the brightest ink: fainter pixels are paper texture or JPEG noise
POLARITY_MARGIN = 0.2  # of full scale: ink must reach this much further beyond the edge's range at one end
BACKGROUND_SIDE = 128  # px: the background is estimated on a copy this small
BACKGROUND_RADIUS = 1 / 6  # of the long side: the opening disk is a third of it wide, wider than any stroke
# A frame this even (of full scale) is a render or a clean scan (MNIST's own digits, a folder of them):
# the photo steps below would find nothing to correct, at 20 times the cost.
FLAT_FRAME = 2 / 255
MIN_PAPER = 0.1  # floor of the paper's level when dividing by it: deep shadow is not amplified without bound
SMOOTHING = 300  # the ink is smoothed over 1/300 of the short side before thresholding
NOISE_SIGMAS = 5  # ink fainter than this many times the paper's noise is not ink
ALONG_EDGE = 0.4  # a piece with more of its outline than this on the picture's edge lies along it
NEAR = 0.5  # pieces within half the digit's size of it belong to it...
SPECK = 0.02  # ...unless they hold under 2% of its ink...
SAME_INK = 0.8  # ...or their darkest tenth is fainter than this share of the digit's
SOLID_PERCENTILE = 90  # of the kept ink's values: this level and above is a solid stroke, as in MNIST
DROPPED_SHADE = 0.35  # the "digit kept" step shows dropped pieces in this grey


@dataclass
class Preprocessed:
    """A model-ready image and the named intermediate images that show how it was made."""

    image: np.ndarray  # a picture, float32 in [0, 1]: (28, 28) white ink on black from the digit recipe
    steps: list[tuple[str, np.ndarray]]  # (name, picture float32 in [0, 1], <= 256 px), in order
    converted: bool = False  # `convert`: its colour mode or size was not the target's
    upscaled: bool = False  # `convert`: smaller than the target side, so enlarged


def preprocess(img: Image.Image, with_steps: bool = True) -> Preprocessed:
    """MNIST's recipe for any loaded PIL image, photos of paper included; ImageError when there is nothing to see.

    A photo is paper (or a board) under uneven light with the digit somewhere on it. So the
    background is estimated and divided out, the ink is thresholded, and of the connected
    pieces only the digit's are kept (specks, the table beyond the sheet and the edges of
    shadows are dropped) before MNIST's own steps: crop, fit a 20x20 box, centre by mass.
    Without `with_steps` the display copies of each step are not made: a dataset's images are
    never shown step by step.
    """
    steps: list[tuple[str, np.ndarray]] = []

    def note(name: str, make: Callable[[], np.ndarray]) -> None:
        if with_steps:
            steps.append((name, make()))

    gray, alpha = _planes(img)
    note("original", lambda: _original_for_display(gray, alpha))
    if alpha is not None:
        gray = _flatten_alpha(gray, alpha)
    stretched = _stretch(gray)
    if not (gray.min() >= 0.0 and gray.max() <= 1.0):
        gray = stretched  # a float image with no fixed full scale: its range is all there is
    note("grayscale", lambda: _for_display(gray))
    if _dark_ink(stretched):
        gray = 1.0 - gray
        note("inverted", lambda: _for_display(gray))
    frame = _frame(gray)
    if np.ptp(frame) <= FLAT_FRAME:  # a render or a clean scan: no light to correct, no specks or shadows to drop
        ink = np.clip(gray - np.median(frame), 0.0, 1.0)
        note("background removed", lambda: _for_display(ink))
        kept = ink > NOISE_FLOOR * ink.max()
        if not kept.any():
            raise ImageError(BLANK)
    else:
        background = _background(gray)
        note("background", lambda: _for_display(background))
        # Light is multiplicative: on the unstretched plane, dividing by the paper's own level gives
        # ink the same strength in a shadow as in full light, at any exposure (for light ink on a
        # dark board the denominator is about 1).
        paper = np.maximum(1.0 - background, MIN_PAPER)
        residual = (gray - background) / paper
        ink = np.clip(residual, 0.0, 1.0)
        note("background removed", lambda: _for_display(ink))
        found = _threshold(residual, paper)
        note("thresholded", lambda: _for_display(found))
        kept = _digit_components(found, ink)
        note("digit kept", lambda: _for_display(np.where(kept, 1.0, DROPPED_SHADE * found)))
    rows, cols = np.flatnonzero(kept.any(axis=1)), np.flatnonzero(kept.any(axis=0))
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    cropped = np.where(kept, ink, 0.0)[window]
    solid = np.percentile(cropped[kept[window]], SOLID_PERCENTILE)
    if not solid > 0.0:
        raise ImageError(BLANK)
    cropped = np.clip(cropped / solid, 0.0, 1.0)
    note("cropped", lambda: _for_display(cropped))
    box = _fit_box(cropped)
    note("20x20 box", box.copy)
    image = _centre_by_mass(box)
    note("centred by mass 28x28", image.copy)
    return Preprocessed(image, steps)


def preprocess_bytes(
    data: bytes, name: str = "", max_pixels: int = MAX_PIXELS, with_steps: bool = True
) -> Preprocessed:
    """Bytes of an uploaded file to a model-ready image; only ImageError escapes."""
    return preprocess(load_image(data, name, max_pixels), with_steps)


def _planes(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Gray (nominally [0, 1]) and alpha planes at working size, whatever the PIL mode."""
    try:
        if img.mode in HIGH_DEPTH:
            work = img.convert("F")
        elif img.has_transparency_data:
            work = img.convert("RGBA")
        else:
            work = img.convert("L")
    except ValueError:
        raise ImageError(f"This image's colour mode ({img.mode}) is not supported.") from None
    if max(work.size) > WORK_SIDE:
        scale = WORK_SIDE / max(work.size)
        size = (max(1, round(work.width * scale)), max(1, round(work.height * scale)))
        work = work.resize(size, Image.Resampling.BOX)  # RGBA is resized premultiplied
    if work.mode == "RGBA":
        alpha = np.asarray(work.getchannel("A"), dtype=np.float64) / 255.0
        return np.asarray(work.convert("L"), dtype=np.float64) / 255.0, alpha
    if work.mode == "L":
        return np.asarray(work, dtype=np.float64) / 255.0, None
    return full_scale(np.asarray(work, dtype=np.float64), img.mode), None


def full_scale(gray: np.ndarray, mode: str) -> np.ndarray:
    """A high-depth plane nominally in [0, 1]: 16-bit by 65535, the others (no fixed full scale) by their
    largest magnitude; NaN and infinities become the smallest finite value."""
    finite = np.isfinite(gray)
    gray = np.where(finite, gray, gray[finite].min() if finite.any() else 0.0)
    if mode.startswith("I;16"):
        return gray / 65535.0
    top = np.abs(gray).max()  # 32-bit int and float images have no fixed full scale
    return gray / top if top > 0 else gray


def _flatten_alpha(gray: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """One plane in which the drawing survives, whatever colour it was drawn in.

    Strokes on a transparent canvas are where the alpha is, so alpha is the ink. Otherwise
    (an opaque picture, perhaps with transparent holes or padding) transparency becomes the
    picture's dominant colour, i.e. its background.
    """
    opaque = alpha >= 0.5
    if np.median(_frame(alpha)) < 0.5 and opaque.mean() < 0.5:
        return alpha
    background = np.median(gray[opaque])
    return alpha * gray + (1.0 - alpha) * background


def _stretch(gray: np.ndarray) -> np.ndarray:
    """Full contrast, so the light/dark decision means the same for any exposure; ImageError if flat."""
    lo, hi = gray.min(), gray.max()
    if not hi - lo > MIN_CONTRAST:
        raise ImageError(BLANK)
    return (gray - lo) / (hi - lo)


def _dark_ink(gray: np.ndarray) -> bool:
    """Whether the ink is darker than the paper, from where the picture's edge is not.

    The edge (the outer 5%) is paper, board or table, rarely ink; the ink is whichever end of
    the picture's range the edge does not reach: darker than the darkest twentieth of the
    edge, or lighter than its lightest. That holds when a shadow darkens half the sheet, where
    the edge's median sits between lit and shaded paper. When both ends are equally far (a
    digit running off a tight crop), the edge's median decides: light paper, dark ink.
    """
    frame = _frame(gray)  # gray is stretched: its darkest pixel is 0, its lightest 1
    beyond_dark, beyond_light = np.percentile(frame, 5), 1.0 - np.percentile(frame, 95)
    if abs(beyond_dark - beyond_light) > POLARITY_MARGIN:
        return bool(beyond_dark > beyond_light)
    return bool(np.median(frame) > 0.5)


def _background(gray: np.ndarray) -> np.ndarray:
    """The paper's (or board's) own level at every pixel, ink left out: a morphological opening.

    An opening with a disk a third of the picture's long side wide removes every stroke
    narrower than that and follows what is broader: lighting gradients, vignetting, a shadow
    across a corner. It runs on a copy at most BACKGROUND_SIDE px wide (a 25 MP photo must
    stay fast), which blurs the sharp edge of a shadow; a reconstruction by dilation under the
    (lightly smoothed) picture then lifts that estimate back up to every level it can reach
    without climbing a stroke, so the edge is followed within a pixel or two.
    """
    from skimage.filters import gaussian
    from skimage.morphology import disk, opening, reconstruction
    from skimage.transform import resize

    scale = min(1.0, BACKGROUND_SIDE / max(gray.shape))
    small = resize(
        gray, (max(1, round(gray.shape[0] * scale)), max(1, round(gray.shape[1] * scale))), anti_aliasing=scale < 1.0
    )
    radius = max(1, round(BACKGROUND_RADIUS * max(small.shape)))
    level = gaussian(opening(small, disk(radius, decomposition="sequence"), mode="nearest"), 1.0, mode="nearest")
    below = gaussian(gray, min(gray.shape) / SMOOTHING)  # the pixel noise is not background to follow
    coarse = np.minimum(resize(level, gray.shape), below)
    return np.clip(reconstruction(coarse, below, method="dilation"), 0.0, 1.0)


def _threshold(residual: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """Where the ink is: Otsu's threshold finds the strokes, hysteresis adds their fainter edges.

    Pixels above the paper's noise count only where they connect to a pixel above Otsu's
    level, so grain and JPEG noise stay out while antialiased and pale parts of a stroke stay
    in. The camera's noise is measured (median absolute deviation) before the division by the
    paper's level `paper`, on the pixels below Otsu's level, and divided like the ink: in a
    shadow it weighs more. On a clean drawing it is nil and every trace of ink is kept, as
    MNIST keeps it.
    """
    from skimage.filters import apply_hysteresis_threshold, gaussian, threshold_otsu

    smoothed = gaussian(residual, min(residual.shape) / SMOOTHING)  # noise finer than a pixel of the result
    peak = smoothed.max()
    if not peak > max(smoothed.min(), 0.0):
        raise ImageError(BLANK)
    otsu = max(threshold_otsu(smoothed), NOISE_FLOOR * peak)
    below = smoothed < otsu
    undivided = (smoothed * paper)[below]
    noise = 1.4826 * np.median(np.abs(undivided - np.median(undivided))) if below.any() else 0.0
    low = np.maximum(NOISE_SIGMAS * noise / paper, NOISE_FLOOR * peak)
    return apply_hysteresis_threshold(smoothed, low, np.maximum(low, otsu))


def _digit_components(found: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """The connected pieces of ink that make up the digit, as a mask.

    The digit is the piece with the most ink among those that do not lie along the picture's
    edge (the table beyond the sheet, a shadow's rim and the frame of a photographed screen
    do; a stroke that merely runs off a tight crop touches the edge only at its end). Pieces
    near it join it when they are of the same ink, as dark as the digit and not mere specks (a
    '5' drawn in two strokes); fainter ones (what is left of a shadow's edge), specks and
    anything far away are dropped. If every piece lies along the edge, the largest is the digit.
    """
    from skimage.measure import label, regionprops_table

    labels = label(found, connectivity=2)
    if labels.max() == 0:
        raise ImageError(BLANK)
    props = regionprops_table(
        labels,
        intensity_image=ink,
        extra_properties=(_strong_ink,),
        properties=("label", "bbox", "area", "perimeter", "intensity_mean"),
    )
    top, left, bottom, right = (props[f"bbox-{i}"] for i in range(4))  # bottom and right are exclusive
    weight = props["area"] * props["intensity_mean"]
    frame = np.zeros(found.shape, dtype=bool)
    frame[[0, -1], :] = frame[:, [0, -1]] = True
    contact = np.bincount(labels[frame], minlength=labels.max() + 1)[props["label"]]
    candidates = contact <= ALONG_EDGE * props["perimeter"]
    if not candidates.any():
        candidates[:] = True
    main = int(np.argmax(np.where(candidates, weight, -1.0)))
    reach = NEAR * max(bottom[main] - top[main], right[main] - left[main])
    near = (
        (top < bottom[main] + reach)
        & (bottom > top[main] - reach)
        & (left < right[main] + reach)
        & (right > left[main] - reach)
    )
    same_ink = props["_strong_ink"] >= SAME_INK * props["_strong_ink"][main]
    keep = candidates & near & same_ink & (weight >= SPECK * weight[main])
    keep[main] = True
    return np.isin(labels, props["label"][keep])


def _strong_ink(region: np.ndarray, ink: np.ndarray) -> float:
    """How dark a piece's ink is where it is darkest, robust to a stray pixel: its 90th percentile."""
    return float(np.percentile(ink[region], 90))


def _frame(plane: np.ndarray) -> np.ndarray:
    """The outer 5% of the image (at least one pixel), where the background is."""
    k = max(1, min(plane.shape) // 20)
    return np.concatenate([plane[:k].ravel(), plane[-k:].ravel(), plane[:, :k].ravel(), plane[:, -k:].ravel()])


def _fit_box(cropped: np.ndarray) -> np.ndarray:
    """Longer side to 20 px, aspect ratio kept, antialiased (as NIST became MNIST)."""
    h, w = cropped.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    box = Image.fromarray(cropped.astype(np.float32)).resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(box, dtype=np.float32), 0.0, 1.0)


def _centre_by_mass(box: np.ndarray) -> np.ndarray:
    """Paste into 28x28 with the intensity centre of mass at (14, 14); what falls outside is cut."""
    ys, xs = np.indices(box.shape)
    mass = box.sum()
    top = math.floor(CENTRE - (box * ys).sum() / mass + 0.5)
    left = math.floor(CENTRE - (box * xs).sum() / mass + 0.5)
    canvas = np.zeros((SIDE, SIDE), dtype=np.float32)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + box.shape[0], SIDE), min(left + box.shape[1], SIDE)
    canvas[y0:y1, x0:x1] = box[y0 - top : y1 - top, x0 - left : x1 - left]
    return canvas / canvas.max()


def _for_display(plane: np.ndarray) -> np.ndarray:
    """A float32 copy in [0, 1], shrunk so its longest side is at most 256 px."""
    img = Image.fromarray(np.clip(plane, 0.0, 1.0).astype(np.float32))
    if max(img.size) > DISPLAY_SIDE:
        scale = DISPLAY_SIDE / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BOX)
    return np.asarray(img, dtype=np.float32).copy()


def _original_for_display(gray: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """The upload as a person sees it: transparent parts over a checkerboard."""
    shown = _for_display(gray)
    if alpha is None:
        return shown
    a = _for_display(alpha)
    ys, xs = np.indices(shown.shape)
    checker = np.where((ys // 8 + xs // 8) % 2 == 0, 0.4, 0.6).astype(np.float32)
    return a * shown + (1.0 - a) * checker
