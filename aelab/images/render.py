"""Pictures out: NumPy arrays, (H, W) gray or (H, W, 3) RGB in [0, 1], to and from a model's (N, C, H, W)
tensors, and as grids, PNGs and GIFs. Only `to_tensor` imports torch: drawing pictures does not.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from aelab.images.inputs import convert
from aelab.images.recipe import SIDE
from aelab.models.config import CHANNELS, DIGIT_SHAPE

if TYPE_CHECKING:
    import torch


def to_tensor(pictures: np.ndarray, shape: tuple[int, int, int] = DIGIT_SHAPE) -> torch.Tensor:
    """One picture or N of them ((H, W) / (N, H, W) gray, (H, W, 3) / (N, H, W, 3) RGB) to the (N, C, H, W)
    float32 batch a model taking `shape` images takes (a copy); ValueError when they are another shape."""
    import torch

    array = np.asarray(pictures, dtype=np.float32)
    channels, height, width = shape
    one = (height, width) if channels == 1 else (height, width, channels)
    if array.shape[-len(one) :] != one or array.ndim not in (len(one), len(one) + 1):
        raise ValueError(f"expected pictures {one} or (N, {', '.join(map(str, one))}), got shape {array.shape}")
    array = array.reshape(-1, *one)
    # contiguous in (N, C, H, W) order: a transposed view would keep channels-last strides, and a network calling
    # `.view` on its input fails on those
    return torch.tensor(np.ascontiguousarray(array if channels == 1 else array.transpose(0, 3, 1, 2))).reshape(
        -1, *shape
    )


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


def make_grid(images: Sequence[np.ndarray] | np.ndarray, ncol: int, pad: int = 2, pad_value: float = 0.5) -> np.ndarray:
    """Images of one size in rows of `ncol`, `pad` px of `pad_value` between and around them.

    Each image is 2-D (gray) or (H, W, 3) (RGB); one RGB image makes the grid RGB, the gray
    ones shown gray in it, so a digit, its reconstruction and a coloured error map make one picture.
    """
    arrays = [np.asarray(image, dtype=np.float32) for image in images]
    if not arrays or any(not _is_picture(a) for a in arrays) or len({a.shape[:2] for a in arrays}) != 1:
        raise ValueError(
            "expected one or more images of one size, each (H, W) or (H, W, 3), got shapes "
            f"{sorted({a.shape for a in arrays})}"
        )
    if ncol < 1 or pad < 0:
        raise ValueError(f"ncol must be >= 1 and pad >= 0, got ncol={ncol}, pad={pad}")
    rgb = any(a.ndim == 3 for a in arrays)
    if rgb:
        arrays = [a if a.ndim == 3 else np.repeat(a[..., None], 3, axis=2) for a in arrays]
    n, (h, w) = len(arrays), arrays[0].shape[:2]
    ncol = min(ncol, n)
    nrow = -(-n // ncol)
    grid = np.full(
        (nrow * (h + pad) + pad, ncol * (w + pad) + pad) + ((3,) if rgb else ()), pad_value, dtype=np.float32
    )
    for i, image in enumerate(arrays):
        y, x = pad + (i // ncol) * (h + pad), pad + (i % ncol) * (w + pad)
        grid[y : y + h, x : x + w] = image
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
    canvas[top : top + h, left : left + w] = image
    return canvas


LABEL_PX = 13  # font size of a labelled grid's text beside pictures LABEL_TILE_PX high; larger ones get larger text
LABEL_TILE_PX = 3 * SIDE  # a digit enlarged 3 times


def labelled_grid(
    tiles: np.ndarray, row_labels: list[str], cell_labels: list[list[str]], scale: int = 3, gap: int = 4
) -> np.ndarray:
    """(rows, cols, H, W) gray or (rows, cols, H, W, 3) RGB pictures enlarged `scale` times, a label left of each
    row and one under each picture, its text in proportion to the pictures.

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
    th, tw = h * scale, w * scale
    size = max(LABEL_PX, round(LABEL_PX * th / LABEL_TILE_PX))  # shrunk to fit a page, the text stays legible
    font = ImageFont.load_default(size=size)
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    left = gap + max(measure.textbbox((0, 0), label, font=font)[2] for label in row_labels) + 2 * gap
    below = size + 2 * gap
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


def display_width(scale: int, height: int, width: int) -> int:
    """The on-screen width of a picture `height` x `width` px shown at `scale` (display_scale's enlargement): at
    most a digit's at `scale` when display_scale rounded it up (64 px: 112, not 128, at 4), so that rows laid out
    for digits (Traverse's three pictures) still fit; never below the picture's own size."""
    shown = width * display_scale(scale, height)
    return shown if height <= 2 * SIDE else max(width, min(shown, scale * SIDE * width // height))


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
