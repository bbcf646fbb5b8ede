"""User images in, downloadable images out.

Uploads and folders of images are untrusted: `load_image` turns every way a file can be
wrong into one readable `ImageError`, and `preprocess` applies MNIST's own recipe
(invert to white-on-black, crop, fit a 20x20 box, centre by mass in 28x28) so a photo of a
digit looks to a model like the digits it was trained on. The other half turns model
outputs (arrays in [0, 1]) into tensors, grids, PNGs and GIFs. Only `to_tensor` needs torch,
and imports it, so the app's first page can use the rest before torch is loaded.
"""

from __future__ import annotations

import codecs
import io
import math
import mimetypes
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

if TYPE_CHECKING:
    import torch

MAX_BYTES = 10 * 1024 * 1024  # matches Streamlit's server.maxUploadSize = 10 (MiB)
MAX_PIXELS = 25_000_000  # a large phone photo; anything bigger is refused before decoding
SIDE = 28  # MNIST canvas
BOX = 20  # MNIST fits each digit into a 20x20 box...
CENTRE = 14.0  # ...and puts its centre of mass here (measured on MNIST: 14.0 in pixel indices)
WORK_SIDE = 1024  # larger images are shrunk first: the result is 20 px, this keeps 25 MP fast
DISPLAY_SIDE = 256  # longest side of each step kept for display
MIN_CONTRAST = 0.05  # of full scale: below this the picture is one flat colour plus noise
NOISE_FLOOR = 0.05  # of the brightest ink: fainter pixels are paper texture or JPEG noise

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

    image: np.ndarray  # (28, 28) float32 in [0, 1], white ink on black
    steps: list[tuple[str, np.ndarray]]  # (name, 2-D float32 in [0, 1], <= 256 px), in order


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


def preprocess(img: Image.Image) -> Preprocessed:
    """MNIST's recipe for any loaded PIL image; raises ImageError when there is nothing to see."""
    gray, alpha = _planes(img)
    steps = [("original", _original_for_display(gray, alpha))]
    if alpha is not None:
        gray = _flatten_alpha(gray, alpha)
    gray = _stretch(gray)
    steps.append(("grayscale", _for_display(gray)))
    if np.median(_frame(gray)) > 0.5:  # light paper, dark ink
        gray = 1.0 - gray
        steps.append(("inverted", _for_display(gray)))
    ink = np.clip(gray - np.median(_frame(gray)), 0.0, None)  # background to exactly 0
    peak = ink.max()
    if peak <= 0.0:
        raise ImageError(_BLANK)
    ink[ink < NOISE_FLOOR * peak] = 0.0
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    cropped = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] / peak
    steps.append(("cropped", _for_display(cropped)))
    box = _fit_box(cropped)
    steps.append(("20x20 box", box.copy()))
    image = _centre_by_mass(box)
    steps.append(("centred by mass 28x28", image.copy()))
    return Preprocessed(image, steps)


def preprocess_bytes(data: bytes, name: str = "", max_pixels: int = MAX_PIXELS) -> Preprocessed:
    """Bytes of an uploaded file to a model-ready image; only ImageError escapes."""
    return preprocess(load_image(data, name, max_pixels))


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
    gray = np.asarray(work, dtype=np.float64)
    finite = np.isfinite(gray)
    gray = np.where(finite, gray, gray[finite].min() if finite.any() else 0.0)
    if img.mode.startswith("I;16"):
        return gray / 65535.0, None
    top = np.abs(gray).max()  # 32-bit int and float images have no fixed full scale
    return (gray / top if top > 0 else gray), None


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
    """Full contrast, so the light/dark decision and thresholds mean the same for any exposure."""
    lo, hi = gray.min(), gray.max()
    if not hi - lo > MIN_CONTRAST:
        raise ImageError(_BLANK)
    return (gray - lo) / (hi - lo)


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


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(28, 28) or (N, 28, 28) floats to the (N, 1, 28, 28) float32 batch the models take (a copy)."""
    import torch

    array = np.asarray(images, dtype=np.float32)
    if array.shape[-2:] != (SIDE, SIDE) or array.ndim not in (2, 3):
        raise ValueError(f"expected (28, 28) or (N, 28, 28) images, got shape {array.shape}")
    return torch.tensor(array.reshape(-1, 1, SIDE, SIDE))


def make_grid(images: np.ndarray, ncol: int, pad: int = 2, pad_value: float = 0.5) -> np.ndarray:
    """(N, H, W) images in rows of `ncol`, `pad` px of `pad_value` between and around them."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"expected a non-empty (N, H, W) array, got shape {images.shape}")
    if ncol < 1 or pad < 0:
        raise ValueError(f"ncol must be >= 1 and pad >= 0, got ncol={ncol}, pad={pad}")
    n, h, w = images.shape
    ncol = min(ncol, n)
    nrow = -(-n // ncol)
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad), pad_value, dtype=np.float32)
    for i, image in enumerate(images):
        y, x = pad + (i // ncol) * (h + pad), pad + (i % ncol) * (w + pad)
        grid[y:y + h, x:x + w] = image
    return grid


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
