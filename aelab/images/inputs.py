"""What a model takes from a picture: the digit recipe for digit models, else the picture in the model's
colour mode, centre-cropped to a square and resized to its side. `prepare_for` is the one rule choosing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from aelab.images.reading import CORRUPT, HIGH_DEPTH, ImageError, load_image
from aelab.images.recipe import DISPLAY_SIDE, Preprocessed, full_scale, preprocess
from aelab.models.config import CHANNELS, DIGIT_SHAPE, MAX_SIDE, MIN_SIDE, shape_text
from aelab.settings import MAX_PIXELS


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


def prepare_for(
    model_shape: tuple[int, int, int], img: Image.Image, digits: bool, with_steps: bool = True
) -> Preprocessed:
    """An upload made ready for a model taking `model_shape` images (`spec_for` says how): a grayscale
    picture for a colour model and a colour one for a gray model are converted; ImageError when it cannot be."""
    return prepare(img, spec_for(model_shape, digits), with_steps)


def prepare(img: Image.Image, spec: ImageSpec, with_steps: bool = True) -> Preprocessed:
    """`img` as `spec` says: the digit recipe or a plain conversion."""
    if spec.digits:
        return preprocess(img, with_steps)
    return convert(img, spec.channels, spec.side, with_steps, spec.crop)


def prepare_bytes(
    data: bytes, name: str, spec: ImageSpec, max_pixels: int = MAX_PIXELS, with_steps: bool = True
) -> Preprocessed:
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
    if img.mode in HIGH_DEPTH:
        plane = np.clip(full_scale(np.asarray(img.convert("F"), dtype=np.float64), img.mode), 0.0, 1.0)
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
        raise ImageError(CORRUPT)
    steps = (
        [("original", _for_display_any(work, scale)), (f"{shape_text((channels, side, side))}", picture.copy())]
        if with_steps
        else []
    )
    target = "L" if channels == 1 else "RGB"
    return Preprocessed(
        picture, steps, converted=img.mode != target or img.size != (side, side), upscaled=min(img.size) < side
    )


def _for_display_any(img: Image.Image, scale: float) -> np.ndarray:
    """A picture of `img` (any of L, RGB, F) at most DISPLAY_SIDE px long."""
    if max(img.size) > DISPLAY_SIDE:
        ratio = DISPLAY_SIDE / max(img.size)
        img = img.resize((max(1, round(img.width * ratio)), max(1, round(img.height * ratio))), Image.Resampling.BOX)
    return np.clip(np.asarray(img, dtype=np.float32) / scale, 0.0, 1.0)
