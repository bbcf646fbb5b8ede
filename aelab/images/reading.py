"""Untrusted image files in: every way a file can be wrong becomes one readable `ImageError`."""

from __future__ import annotations

import codecs
import io
import mimetypes

from PIL import Image, ImageOps

from aelab.settings import MAX_PIXELS

MAX_BYTES = 10 * 1024 * 1024  # matches Streamlit's server.maxUploadSize = 10 (MiB)

_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP", "DIB", "WEBP", "TIFF", "PPM", "AVIF")
HIGH_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_IMAGE_MAGIC = (b"\x89PNG", b"GIF8", b"\xff\xd8", b"BM", b"II*\x00", b"MM\x00*")
BLANK = "The image is blank: no strokes found."
CORRUPT = "The image is truncated or corrupt."


class ImageError(ValueError):
    """A file that cannot become a model input; str() is one line meant for the person who uploaded it."""


class ImageTooLarge(ImageError):
    """More pixels than allowed: a folder or zip refuses itself over one, rather than skipping it unseen."""


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
        raise ImageError(CORRUPT) from None


def _allowed_formats() -> tuple[str, ...]:
    """Common raster formats only: exotic decoders (EPS runs Ghostscript) are not worth the risk."""
    Image.init()
    return tuple(f for f in _FORMATS if f in Image.OPEN)


def _check_size(img: Image.Image, max_pixels: int) -> None:
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageError(f"The image has no pixels ({width}x{height}).")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"The image is too large: {width}x{height} pixels (limit {_megapixels(max_pixels)} megapixels)."
        )


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:g}"


def _unreadable_message(data: bytes, name: str) -> str:
    """Say what the file seems to be instead, so the person knows what to upload."""
    if data.startswith(_IMAGE_MAGIC) or data[8:12] == b"WEBP":
        return CORRUPT  # it starts like a format we read, so it is damaged rather than foreign
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
