"""User images in, downloadable images out.

Uploads and folders of images are untrusted: `load_image` turns every way a file can be
wrong into one readable `ImageError`. A digit model's inputs are made by `preprocess`: it finds
the digit on the paper with scikit-image (background divided out, Otsu and hysteresis thresholds,
connected pieces) and applies MNIST's own recipe (white on black, crop, fit a 20x20 box, centre
by mass in 28x28) so a photo of a digit looks to a model like the digits it was trained on. Any
other model's are made by `convert`: the picture in the model's colour mode (gray or RGB), centre-
cropped to a square and resized to its side. `prepare_for` is the one rule choosing between them.

Pictures, as NumPy arrays, are (H, W) gray or (H, W, 3) RGB in [0, 1], the layout PNGs, grids and
the page show; models take tensors (N, C, H, W): `to_pictures` and `to_tensor` convert. The other
half turns model outputs into grids, PNGs and GIFs. Only `to_tensor` needs torch, and imports it,
so the app's first page can use the rest before torch is loaded.
"""

from __future__ import annotations

import base64
import codecs
import io
import math
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from aelab.model_config import CHANNELS, DIGIT_SHAPE, MAX_SIDE, MIN_SIDE, shape_text

if TYPE_CHECKING:
    import torch

MAX_BYTES = 10 * 1024 * 1024  # matches Streamlit's server.maxUploadSize = 10 (MiB)
MAX_PIXELS = 25_000_000  # a large phone photo; anything bigger is refused before decoding
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

_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP", "DIB", "WEBP", "TIFF", "PPM", "AVIF")
_HIGH_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_IMAGE_MAGIC = (b"\x89PNG", b"GIF8", b"\xff\xd8", b"BM", b"II*\x00", b"MM\x00*")
_BLANK = "The image is blank: no strokes found."
_CORRUPT = "The image is truncated or corrupt."


class ImageError(ValueError):
    """A file that cannot become a model input; str() is one line meant for the person who uploaded it."""


class ImageTooLarge(ImageError):
    """More pixels than allowed: a folder or zip refuses itself over one, rather than skipping it unseen."""


@dataclass
class Preprocessed:
    """A model-ready image and the named intermediate images that show how it was made."""

    image: np.ndarray  # a picture, float32 in [0, 1]: (28, 28) white ink on black from the digit recipe
    steps: list[tuple[str, np.ndarray]]  # (name, picture float32 in [0, 1], <= 256 px), in order
    converted: bool = False  # `convert`: its colour mode or size was not the target's
    upscaled: bool = False  # `convert`: smaller than the target side, so enlarged


@dataclass(frozen=True)
class ImageSpec:
    """What image files become: MNIST's digit recipe (`digits`, 1x28x28 only), or plainly `channels` x
    `side` x `side` (`convert`). Folders default to digits, as before colour."""

    channels: int = DIGIT_SHAPE[0]
    side: int = DIGIT_SHAPE[1]
    digits: bool = True
    crop: int = 0  # `convert`: the centred square cut out first, in source pixels (0: the largest there is)

    def __post_init__(self) -> None:
        if isinstance(self.channels, bool) or self.channels not in CHANNELS:
            raise ValueError(f"channels must be 1 (gray) or 3 (RGB), not {self.channels!r}")
        if isinstance(self.side, bool) or not isinstance(self.side, int) or not MIN_SIDE <= self.side <= MAX_SIDE:
            raise ValueError(f"side must be a whole number from {MIN_SIDE} to {MAX_SIDE}, not {self.side!r}")
        if self.digits and (self.shape != DIGIT_SHAPE or self.crop):
            raise ValueError(f"The digit recipe makes {shape_text(DIGIT_SHAPE)} images, not {shape_text(self.shape)}")
        if isinstance(self.crop, bool) or not isinstance(self.crop, int) or self.crop < 0:
            raise ValueError(f"crop must be a whole number of pixels >= 0, not {self.crop!r}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.channels, self.side, self.side

    def describe(self) -> str:
        return f"{shape_text(self.shape)}{' digits' if self.digits else ''}"


DIGIT_SPEC = ImageSpec()


def spec_for(model_shape: tuple[int, int, int], digits: bool) -> ImageSpec:
    """What an upload becomes for a model taking `model_shape` images: MNIST's digit recipe only for a digit
    model (`digits`, and 1x28x28), else the picture converted to the model's channels and side."""
    channels, side, _ = model_shape
    return ImageSpec(channels, side, digits and tuple(model_shape) == DIGIT_SHAPE)


def prepare_for(model_shape: tuple[int, int, int], img: Image.Image, digits: bool,
                with_steps: bool = True) -> Preprocessed:
    """An upload made ready for a model taking `model_shape` images (`spec_for` says how): a grayscale
    picture for a colour model and a colour one for a gray model are converted; ImageError when it cannot be."""
    return prepare(img, spec_for(model_shape, digits), with_steps)


def prepare(img: Image.Image, spec: ImageSpec, with_steps: bool = True) -> Preprocessed:
    """`img` as `spec` says: the digit recipe or a plain conversion."""
    if spec.digits:
        return preprocess(img, with_steps)
    return convert(img, spec.channels, spec.side, with_steps, spec.crop)


def prepare_bytes(data: bytes, name: str, spec: ImageSpec, max_pixels: int = MAX_PIXELS,
                  with_steps: bool = True) -> Preprocessed:
    """Bytes of a file to a model-ready picture as `spec` says; only ImageError escapes."""
    return prepare(load_image(data, name, max_pixels), spec, with_steps)


def convert(img: Image.Image, channels: int, side: int, with_steps: bool = True, crop: int = 0) -> Preprocessed:
    """`img` as a side x side picture with `channels` (1: luminance, 3: RGB), in [0, 1].

    The picture is centre-cropped to a square (`crop` pixels wide when given and it fits: CelebA's 140)
    and resized with PIL's antialiased bilinear filter (torchvision's default); a smaller picture is
    enlarged, and says so. 16-bit and float images keep
    their full range (a 16-bit PNG's 65535 is white, not clipped at 255); transparent parts become black,
    the background of the datasets here.
    """
    if img.mode in _HIGH_DEPTH:
        plane = np.clip(_full_scale(np.asarray(img.convert("F"), dtype=np.float64), img.mode), 0.0, 1.0)
        work, scale = Image.fromarray(plane.astype(np.float32), "F"), 1.0
    else:
        try:
            rgba = img.convert("RGBA") if img.has_transparency_data else None
            if rgba is not None:
                img = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
            work, scale = img.convert("L" if channels == 1 else "RGB"), 255.0
        except ValueError:
            raise ImageError(f"This image's colour mode ({img.mode}) is not supported.") from None
    if 0 < crop <= min(work.size):
        left, top = (work.width - crop) // 2, (work.height - crop) // 2
        work = work.crop((left, top, left + crop, top + crop))
    fitted = ImageOps.fit(work, (side, side), Image.Resampling.BILINEAR)
    picture = np.clip(np.asarray(fitted, dtype=np.float32) / scale, 0.0, 1.0)
    if channels == 3 and picture.ndim == 2:
        picture = np.repeat(picture[..., None], 3, axis=2)
    if not np.isfinite(picture).all():
        raise ImageError(_CORRUPT)
    steps = [("original", _for_display_any(work, scale)), (f"{shape_text((channels, side, side))}", picture.copy())] \
        if with_steps else []
    target = "L" if channels == 1 else "RGB"
    return Preprocessed(picture, steps, converted=img.mode != target or img.size != (side, side),
                        upscaled=min(img.size) < side)


def _for_display_any(img: Image.Image, scale: float) -> np.ndarray:
    """A picture of `img` (any of L, RGB, F) at most DISPLAY_SIDE px long."""
    if max(img.size) > DISPLAY_SIDE:
        ratio = DISPLAY_SIDE / max(img.size)
        img = img.resize((max(1, round(img.width * ratio)), max(1, round(img.height * ratio))), Image.Resampling.BOX)
    return np.clip(np.asarray(img, dtype=np.float32) / scale, 0.0, 1.0)


def load_image(data: bytes, name: str = "", max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode untrusted bytes fully (first frame, EXIF orientation applied) or raise ImageError.

    The pixel count is checked before any pixel is decoded, so a small file that claims huge
    dimensions (a decompression bomb) costs nothing. `max_pixels` (at most MAX_PIXELS: a folder
    or zip may set less) is then refused with ImageTooLarge. MAX_PIXELS is below PIL's own bomb limits,
    so PIL's DecompressionBombWarning never precedes a decode; warning filters are left alone
    (changing them is process-wide, and Streamlit sessions run in threads), and where the
    process turns warnings into errors that one becomes an ImageError like the rest.
    """
    limit = min(max_pixels, MAX_PIXELS)
    if not data:
        raise ImageError("The file is empty.")
    if len(data) > MAX_BYTES:
        raise ImageError(f"The file is too large: {len(data) / 2**20:.1f} MB (limit {MAX_BYTES // 2**20} MB).")
    try:
        img = Image.open(io.BytesIO(data), formats=_allowed_formats())
        _check_size(img, limit)
        img.load()  # animated files stay on their first frame
        return ImageOps.exif_transpose(img)
    except ImageError:
        raise
    except Image.UnidentifiedImageError:
        raise ImageError(_unreadable_message(data, name)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(f"The image is too large (limit {_megapixels(limit)} megapixels).") from None
    except MemoryError:
        raise ImageError("The image is too large to decode.") from None
    except Exception:  # decoders signal corrupt data with OSError, SyntaxError, ValueError, struct.error...
        raise ImageError(_CORRUPT) from None


def _allowed_formats() -> tuple[str, ...]:
    """Common raster formats only: exotic decoders (EPS runs Ghostscript) are not worth the risk."""
    Image.init()
    return tuple(f for f in _FORMATS if f in Image.OPEN)


def _check_size(img: Image.Image, max_pixels: int) -> None:
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageError(f"The image has no pixels ({width}x{height}).")
    if width * height > max_pixels:
        raise ImageTooLarge(f"The image is too large: {width}x{height} pixels "
                            f"(limit {_megapixels(max_pixels)} megapixels).")


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:g}"


def _unreadable_message(data: bytes, name: str) -> str:
    """Say what the file seems to be instead, so the person knows what to upload."""
    if data.startswith(_IMAGE_MAGIC) or data[8:12] == b"WEBP":
        return _CORRUPT  # it starts like a format we read, so it is damaged rather than foreign
    kind = _sniff(data[:512])
    if kind is None:
        guessed = mimetypes.guess_type(name)[0]  # an image extension on foreign bytes says nothing
        kind = guessed if guessed and not guessed.startswith("image/") else None
    if kind and kind.startswith("image/"):
        return f"This image format ({kind}) is not supported: save it as PNG or JPEG."
    return f"This is not an image file PIL can read ({kind}?)." if kind else "This is not an image file PIL can read."


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"%PDF"):
        return "application/pdf"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return "image/heic"
    if b"<svg" in head.lower():
        return "image/svg+xml"
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head)  # tolerates a character cut at 512
    except UnicodeDecodeError:
        return None
    return "text/plain" if all(c.isprintable() or c in "\t\n\r\f" for c in text) else None


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
            raise ImageError(_BLANK)
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
        raise ImageError(_BLANK)
    cropped = np.clip(cropped / solid, 0.0, 1.0)
    note("cropped", lambda: _for_display(cropped))
    box = _fit_box(cropped)
    note("20x20 box", box.copy)
    image = _centre_by_mass(box)
    note("centred by mass 28x28", image.copy)
    return Preprocessed(image, steps)


def preprocess_bytes(data: bytes, name: str = "", max_pixels: int = MAX_PIXELS,
                     with_steps: bool = True) -> Preprocessed:
    """Bytes of an uploaded file to a model-ready image; only ImageError escapes."""
    return preprocess(load_image(data, name, max_pixels), with_steps)


def _planes(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Gray (nominally [0, 1]) and alpha planes at working size, whatever the PIL mode."""
    try:
        if img.mode in _HIGH_DEPTH:
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
    return _full_scale(np.asarray(work, dtype=np.float64), img.mode), None


def _full_scale(gray: np.ndarray, mode: str) -> np.ndarray:
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
        raise ImageError(_BLANK)
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
    small = resize(gray, (max(1, round(gray.shape[0] * scale)), max(1, round(gray.shape[1] * scale))),
                   anti_aliasing=scale < 1.0)
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
        raise ImageError(_BLANK)
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
        raise ImageError(_BLANK)
    props = regionprops_table(labels, intensity_image=ink, extra_properties=(_strong_ink,),
                              properties=("label", "bbox", "area", "perimeter", "intensity_mean"))
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
    near = ((top < bottom[main] + reach) & (bottom > top[main] - reach)
            & (left < right[main] + reach) & (right > left[main] - reach))
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
    canvas[y0:y1, x0:x1] = box[y0 - top:y1 - top, x0 - left:x1 - left]
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


def to_tensor(pictures: np.ndarray, shape: tuple[int, int, int] = DIGIT_SHAPE) -> torch.Tensor:
    """One picture or N of them ((H, W) / (N, H, W) gray, (H, W, 3) / (N, H, W, 3) RGB) to the (N, C, H, W)
    float32 batch a model taking `shape` images takes (a copy); ValueError when they are another shape."""
    import torch

    array = np.asarray(pictures, dtype=np.float32)
    channels, height, width = shape
    one = (height, width) if channels == 1 else (height, width, channels)
    if array.shape[-len(one):] != one or array.ndim not in (len(one), len(one) + 1):
        raise ValueError(f"expected pictures {one} or (N, {', '.join(map(str, one))}), got shape {array.shape}")
    array = array.reshape(-1, *one)
    return torch.tensor(array if channels == 1 else array.transpose(0, 3, 1, 2)).reshape(-1, *shape)


def fit(picture: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """A picture as a model taking `shape` images takes it: itself when it is that shape already, else
    converted (`convert`: gray and colour either way, resized) - an upload prepared for another model."""
    channels, side, _ = shape
    picture = np.asarray(picture, dtype=np.float32)
    if picture.shape == ((side, side) if channels == 1 else (side, side, channels)):
        return picture
    pixels = np.round(np.clip(np.nan_to_num(picture), 0.0, 1.0) * 255.0).astype(np.uint8)
    return convert(Image.fromarray(pixels), channels, side, with_steps=False).image


def fit_all(pictures: np.ndarray | Sequence[np.ndarray], shape: tuple[int, int, int]) -> np.ndarray:
    """One picture or several (an array of them, or a list, perhaps of different shapes), each `fit` to
    `shape`: an (N, ...) array of pictures. A single picture is 2-D, or (H, W, 3) (no picture is 3 px wide)."""
    if not isinstance(pictures, np.ndarray):
        return np.stack([fit(p, shape) for p in pictures])
    one = pictures.ndim == 2 or (pictures.ndim == 3 and pictures.shape[2] == 3)
    return np.stack([fit(p, shape) for p in ([pictures] if one else pictures)])


def to_pictures(batch: np.ndarray | torch.Tensor) -> np.ndarray:
    """(N, C, H, W) images (a tensor or an array) as N pictures: (N, H, W) for one channel, (N, H, W, 3) for
    three, float32 NumPy: what grids, PNGs and the page show."""
    array = np.asarray(batch.detach().cpu() if hasattr(batch, "detach") else batch, dtype=np.float32)
    if array.ndim != 4 or array.shape[1] not in CHANNELS:
        raise ValueError(f"expected (N, C, H, W) images with 1 or 3 channels, got shape {array.shape}")
    return array[:, 0] if array.shape[1] == 1 else np.ascontiguousarray(array.transpose(0, 2, 3, 1))


def make_grid(images: Sequence[np.ndarray] | np.ndarray, ncol: int, pad: int = 2,
              pad_value: float = 0.5) -> np.ndarray:
    """Images of one size in rows of `ncol`, `pad` px of `pad_value` between and around them.

    Each image is 2-D (gray) or (H, W, 3) (RGB); one RGB image makes the grid RGB, the gray
    ones shown gray in it, so a digit, its reconstruction and a coloured error map make one picture.
    """
    arrays = [np.asarray(image, dtype=np.float32) for image in images]
    if not arrays or any(not _is_picture(a) for a in arrays) or len({a.shape[:2] for a in arrays}) != 1:
        raise ValueError("expected one or more images of one size, each (H, W) or (H, W, 3), got shapes "
                         f"{sorted({a.shape for a in arrays})}")
    if ncol < 1 or pad < 0:
        raise ValueError(f"ncol must be >= 1 and pad >= 0, got ncol={ncol}, pad={pad}")
    rgb = any(a.ndim == 3 for a in arrays)
    if rgb:
        arrays = [a if a.ndim == 3 else np.repeat(a[..., None], 3, axis=2) for a in arrays]
    n, (h, w) = len(arrays), arrays[0].shape[:2]
    ncol = min(ncol, n)
    nrow = -(-n // ncol)
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad) + ((3,) if rgb else ()), pad_value,
                   dtype=np.float32)
    for i, image in enumerate(arrays):
        y, x = pad + (i // ncol) * (h + pad), pad + (i % ncol) * (w + pad)
        grid[y:y + h, x:x + w] = image
    return grid


def _is_picture(array: np.ndarray) -> bool:
    return array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)


def wrap_columns(n: int, most: int) -> int:
    """Columns for `n` frames in rows of at most `most`, the rows as even as can be (24 -> 12, 13 -> 7)."""
    rows = -(-n // most)
    return -(-n // rows)


def pad_square(image: np.ndarray, value: float = 0.5) -> np.ndarray:
    """A picture (gray or RGB) centred on a square canvas of `value`: pictures of any aspect ratio then show at
    one height."""
    h, w = image.shape[:2]
    side = max(h, w)
    canvas = np.full((side, side, *image.shape[2:]), value, dtype=np.float32)
    top, left = (side - h) // 2, (side - w) // 2
    canvas[top:top + h, left:left + w] = image
    return canvas


LABEL_PX = 13  # font size of a labelled grid's text


def labelled_grid(tiles: np.ndarray, row_labels: list[str], cell_labels: list[list[str]], scale: int = 3,
                  gap: int = 4) -> np.ndarray:
    """(rows, cols, H, W) gray or (rows, cols, H, W, 3) RGB pictures enlarged `scale` times, a label left of each
    row and one under each picture.

    A white figure with black text (Pillow's own font), so that a downloaded traversal grid says
    which dimension each row moves and to what value each column sets it.
    """
    tiles = np.asarray(tiles, dtype=np.float32)
    rgb = tiles.ndim == 5 and tiles.shape[4] == 3
    if tiles.ndim != 4 + rgb or 0 in tiles.shape:
        raise ValueError(f"expected (rows, cols, H, W) or (rows, cols, H, W, 3) pictures, got shape {tiles.shape}")
    rows, cols, h, w = tiles.shape[:4]
    if len(row_labels) != rows or len(cell_labels) != rows or any(len(row) != cols for row in cell_labels):
        raise ValueError(f"expected {rows} row labels and {rows}x{cols} cell labels")
    font = ImageFont.load_default(size=LABEL_PX)
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    left = gap + max(measure.textbbox((0, 0), label, font=font)[2] for label in row_labels) + 2 * gap
    th, tw, below = h * scale, w * scale, LABEL_PX + 2 * gap
    mode, white, black = ("RGB", (255, 255, 255), (0, 0, 0)) if rgb else ("L", 255, 0)
    canvas = Image.new(mode, (left + cols * (tw + gap), gap + rows * (th + below)), white)
    draw = ImageDraw.Draw(canvas)
    for r in range(rows):
        top = gap + r * (th + below)
        draw.text((gap, top + th // 2), row_labels[r], fill=black, font=font, anchor="lm")
        for c in range(cols):
            x = left + c * (tw + gap)
            canvas.paste(_to_pil(enlarge(tiles[r, c], scale)), (x, top))
            draw.text((x + tw // 2, top + th + gap // 2), cell_labels[r][c], fill=black, font=font, anchor="mt")
    return np.asarray(canvas, dtype=np.float32) / 255.0


def display_scale(scale: int, height: int) -> int:
    """The enlargement showing a picture `height` px high about as large as a 28-px digit enlarged `scale` times:
    `scale` itself up to twice MNIST's side (28 and 32 px, and strips of them), less above (64 px: about half),
    so that a page laid out for digits holds larger pictures too."""
    return scale if height <= 2 * SIDE else max(1, round(scale * SIDE / height))


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling: browsers blur small images, this keeps 28x28 pixels crisp."""
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    return np.repeat(np.repeat(np.asarray(image), factor, axis=0), factor, axis=1)


def to_png(image: np.ndarray) -> bytes:
    """2-D [0, 1] floats to an 8-bit grayscale PNG, or (H, W, 3) floats to an RGB PNG."""
    buffer = io.BytesIO()
    _to_pil(image).save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    """A PNG as a data: URI, for a picture drawn inside the page itself rather than fetched from the server."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def to_gif(frames: list[np.ndarray], duration_ms: int = 120, loop: bool = True) -> bytes:
    """Frames (2-D or (H, W, 3), [0, 1], all one shape) to an animated GIF, looping forever or played once.

    GIF merges identical consecutive frames into one longer frame; the animation looks the same.
    """
    if not frames:
        raise ValueError("to_gif needs at least one frame")
    if len({np.shape(f) for f in frames}) != 1:
        raise ValueError("all frames must have the same shape")
    first, *rest = [_to_pil(f) for f in frames]
    buffer = io.BytesIO()
    options = {"loop": 0} if loop else {}
    first.save(buffer, format="GIF", save_all=True, append_images=rest, duration=duration_ms, **options)
    return buffer.getvalue()


def _to_pil(image: np.ndarray) -> Image.Image:
    array = np.asarray(image, dtype=np.float64)
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"expected an (H, W) or (H, W, 3) array, got shape {array.shape}")
    pixels = np.round(np.clip(np.nan_to_num(array), 0.0, 1.0) * 255.0).astype(np.uint8)
    return Image.fromarray(pixels)


def unique_name(name: str, image: np.ndarray, existing: dict[str, np.ndarray]) -> str:
    """The key to keep an upload under: its file name, or "name (2)" when another picture already has it
    (the same picture again keeps its name, so uploading a file twice stores it once)."""
    key, n = name, 1
    while key in existing and not np.array_equal(existing[key], image):
        n += 1
        key = f"{name} ({n})"
    return key
