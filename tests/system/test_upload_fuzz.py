"""Hostile uploads: whatever the bytes, preprocess_bytes returns a valid image or one readable ImageError, fast.

Run with -s to see the table of what was tried; it is also in the failure message.
"""

from __future__ import annotations

import io
import random
import struct
import time
import warnings
import zlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageDraw

from aelab.images.reading import ImageError
from aelab.images.recipe import Preprocessed, preprocess, preprocess_bytes

TIME_LIMIT_S = 2.0
MUTANTS_PER_FORMAT = 100  # x 7 kinds


@dataclass
class Case:
    kind: str
    data: bytes
    name: str
    expect: str | None = None  # "accepted", "refused" or None (either is fine)
    message: str = ""  # a refusal must contain this


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def drawing(size: tuple[int, int] = (64, 48), ink: int = 0, paper: int = 255) -> Image.Image:
    w, h = size
    img = Image.new("L", size, paper)
    draw = ImageDraw.Draw(img)
    draw.line([(w * 0.2, h * 0.2), (w * 0.8, h * 0.2), (w * 0.4, h * 0.9)], fill=ink, width=max(1, min(w, h) // 8))
    return img


def one_bit_png(width: int, height: int, rows_of_zeros: int) -> bytes:
    """A valid 1-bit PNG of `width`x`height`, built by hand: PIL would need a byte per pixel to make it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = bytes(1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    block = row * rows_of_zeros
    idat = b"".join(packer.compress(block) for _ in range(height // rows_of_zeros)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def named_cases() -> list[Case]:
    rng = random.Random(0)
    valid_png = encode(drawing(), "PNG")
    valid_jpeg = encode(drawing((200, 150)), "JPEG")
    strokes = np.asarray(drawing(ink=255, paper=0)) > 127

    def rgba(stroke: tuple, background: tuple) -> bytes:
        return encode(Image.fromarray(np.where(strokes[..., None], stroke, background).astype(np.uint8), "RGBA"), "PNG")

    two_tone = np.where(strokes[..., None], (0, 0, 0, 255), (0, 0, 0, 0)).astype(np.uint8)
    two_tone[:, 32:, :3] = 255  # the right half of the strokes is white
    two_tone = encode(Image.fromarray(two_tone, "RGBA"), "PNG")
    exif = Image.Exif()
    exif[0x0112] = 6
    frames = [drawing(), drawing().rotate(90), drawing().rotate(180)]
    strip = Image.new("L", (10000, 3), 255)
    strip.paste(0, (4000, 0, 6000, 3))
    return [
        Case("empty file", b"", "empty.png", "refused", "empty"),
        *(Case("random bytes", rng.randbytes(n), "noise.png", "refused") for n in (1, 16, 500, 5000, 100_000)),
        Case(
            "text named .png", b"These are my notes.\nNot an image at all.\n" * 20, "notes.png", "refused", "text/plain"
        ),
        Case("truncated PNG", valid_png[: len(valid_png) // 2], "cut.png", "refused", "truncated or corrupt"),
        Case("truncated PNG", valid_png[:40], "cut.png", "refused"),
        Case("truncated JPEG", valid_jpeg[: len(valid_jpeg) // 2], "cut.jpg", "refused", "truncated or corrupt"),
        Case("truncated JPEG", valid_jpeg[:200], "cut.jpg", "refused"),
        Case("decompression bomb", encode(Image.new("1", (6000, 6000)), "PNG"), "bomb.png", "refused", "6000x6000"),
        Case("decompression bomb", one_bit_png(10_000, 10_000, 1000), "bomb.png", "refused", "too large"),
        Case("decompression bomb", one_bit_png(20_000, 20_000, 1000), "bomb.png", "refused", "too large"),
        Case("1x1", encode(Image.new("L", (1, 1), 0), "PNG"), "dot.png", "refused", "blank"),
        Case("10000x3", encode(strip, "PNG"), "strip.png", "accepted"),
        Case("24 MP photo", encode(drawing((6000, 4000)), "JPEG"), "IMG_0001.jpg", "accepted"),
        Case("over 10 MB", b"\xff\xd8\xff" + rng.randbytes(11 * 2**20), "huge.jpg", "refused", "limit 10 MB"),
        Case(
            "16-bit grayscale (I;16)",
            encode(Image.fromarray(np.asarray(drawing(), np.uint16) * 257), "PNG"),
            "deep.png",
            "accepted",
        ),
        Case("RGBA transparent, dark strokes", rgba((0, 0, 0, 255), (0, 0, 0, 0)), "dark.png", "accepted"),
        Case("RGBA transparent, light strokes", rgba((255, 255, 255, 255), (0, 0, 0, 0)), "light.png", "accepted"),
        Case("RGBA transparent, dark strokes", rgba((0, 0, 0, 255), (255, 255, 255, 0)), "dark.png", "accepted"),
        Case("RGBA transparent, dark and light strokes", two_tone, "both.png", "accepted"),
        Case("palette (P)", encode(drawing().convert("P"), "PNG"), "palette.png", "accepted"),
        Case(
            "palette (P) with transparency",
            encode(drawing().convert("P"), "GIF", transparency=255),
            "t.gif",
            "accepted",
        ),
        Case("CMYK JPEG", encode(drawing().convert("CMYK"), "JPEG"), "cmyk.jpg", "accepted"),
        Case(
            "animated GIF",
            encode(frames[0], "GIF", save_all=True, append_images=frames[1:], loop=0),
            "a.gif",
            "accepted",
        ),
        Case("animated WebP", encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]), "a.webp", "accepted"),
        Case("EXIF rotation", encode(drawing(), "JPEG", exif=exif), "phone.jpg", "accepted"),
        Case("all white", encode(Image.new("RGB", (64, 64), "white"), "PNG"), "white.png", "refused", "blank"),
        Case("all black", encode(Image.new("L", (64, 64), 0), "JPEG"), "black.jpg", "refused", "blank"),
    ]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """1-3 random edits (flip, insert, delete, truncate), half of them in the header where parsers decide most."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if len(out) < 2:
            break
        pos = rng.randrange(min(len(out), 64)) if rng.random() < 0.5 else rng.randrange(len(out))
        op = rng.choice(("flip", "insert", "delete", "truncate"))
        if op == "flip":
            for _ in range(rng.randint(1, 8)):
                out[pos] ^= rng.randint(1, 255)
                pos = rng.randrange(len(out))
        elif op == "insert":
            out[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif op == "delete":
            del out[pos : pos + rng.randint(1, 16)]
        else:
            del out[max(1, pos) :]
    return bytes(out)


def fix_png_crcs(data: bytes) -> bytes:
    """Recompute every chunk CRC that can still be found, so mutations reach the PNG parser and decoder."""
    out, pos = bytearray(data), 8
    while pos + 12 <= len(out):
        length = struct.unpack(">I", out[pos : pos + 4])[0]
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        out[end : end + 4] = struct.pack(">I", zlib.crc32(out[pos + 4 : end]))
        pos = end + 4
    return bytes(out)


def mutated_cases() -> list[Case]:
    rng = random.Random(0)
    exif = Image.Exif()
    exif[0x0112] = 8
    small, large = drawing(), drawing((300, 200))
    rgba = Image.merge("RGBA", [small, small, small, small.point(lambda v: 255 - v)])
    templates = {
        "PNG": [
            encode(small, "PNG"),
            encode(rgba, "PNG"),
            encode(small.convert("P"), "PNG"),
            encode(Image.fromarray(np.asarray(large, np.uint16) * 257), "PNG"),
        ],
        "JPEG": [encode(small, "JPEG", exif=exif), encode(large.convert("RGB"), "JPEG", progressive=True)],
        "GIF": [encode(small, "GIF", save_all=True, append_images=[small.rotate(90)]), encode(large, "GIF")],
        "BMP": [encode(small, "BMP"), encode(large.convert("RGB"), "BMP")],
        "WebP": [encode(small, "WEBP"), encode(rgba, "WEBP", lossless=True)],
        "TIFF": [encode(small, "TIFF"), encode(large, "TIFF", compression="tiff_lzw")],
    }
    cases = [
        Case(f"mutated {fmt}", mutate(rng.choice(options), rng), f"m.{fmt.lower()}")
        for fmt, options in templates.items()
        for _ in range(MUTANTS_PER_FORMAT)
    ]
    cases += [
        Case("mutated PNG, CRCs fixed", fix_png_crcs(mutate(rng.choice(templates["PNG"]), rng)), "m.png")
        for _ in range(MUTANTS_PER_FORMAT)
    ]
    return cases


def check_result(result: Preprocessed) -> str:
    """'' when the result is a valid model input with displayable steps, else what is wrong."""
    image = result.image
    if image.shape != (28, 28) or image.dtype != np.float32:
        return f"image is {image.dtype} {image.shape}"
    if not np.isfinite(image).all() or image.min() < 0.0 or image.max() > 1.0:
        return f"image values outside [0, 1]: {image.min()}..{image.max()}"
    for name, step in result.steps:
        if step.ndim != 2 or max(step.shape) > 256 or not np.isfinite(step).all() or step.min() < 0 or step.max() > 1:
            return f"step {name!r} is not a displayable 2-D image in [0, 1]: {step.shape}"
    return ""


def run(data: bytes, name: str) -> tuple[str, str, float]:
    """(outcome, detail, seconds); outcome is 'accepted', 'refused' or 'FAILED'."""
    start = time.perf_counter()
    try:
        result = preprocess_bytes(data, name)
    except ImageError as err:
        message = str(err)
        ok = bool(message.strip()) and "\n" not in message and "\r" not in message
        seconds = time.perf_counter() - start
        return ("refused", message, seconds) if ok else ("FAILED", f"bad message {message!r}", seconds)
    except Exception as err:  # the point of the test: nothing but ImageError may escape
        return "FAILED", f"{type(err).__name__} escaped: {err}", time.perf_counter() - start
    problem = check_result(result)
    return ("FAILED" if problem else "accepted"), problem, time.perf_counter() - start


def table(rows: dict[str, Counter], slowest: dict[str, float]) -> str:
    lines = [f"{'input':42} {'tried':>5} {'accepted':>8} {'refused':>7} {'failed':>6} {'slowest':>8}"]
    for kind, count in rows.items():
        lines.append(
            f"{kind:42} {sum(count.values()):5d} {count['accepted']:8d} {count['refused']:7d} "
            f"{count['FAILED']:6d} {slowest[kind] * 1000:6.0f}ms"
        )
    total = sum((c for c in rows.values()), Counter())
    lines.append(
        f"{'total':42} {sum(total.values()):5d} {total['accepted']:8d} {total['refused']:7d} "
        f"{total['FAILED']:6d} {max(slowest.values()) * 1000:6.0f}ms"
    )
    return "\n".join(lines)


@pytest.mark.filterwarnings("ignore::UserWarning")  # PIL says "Corrupt EXIF data" etc. on damaged files
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_hostile_uploads_are_accepted_or_refused_cleanly() -> None:
    cases = named_cases() + mutated_cases()
    rows: dict[str, Counter] = {}
    slowest: dict[str, float] = {}
    failures = []
    for case in cases:
        outcome, detail, seconds = run(case.data, case.name)
        rows.setdefault(case.kind, Counter())[outcome] += 1
        slowest[case.kind] = max(slowest.get(case.kind, 0.0), seconds)
        if outcome == "FAILED":
            failures.append(f"{case.kind}: {detail}")
        elif case.expect and outcome != case.expect:
            failures.append(f"{case.kind}: expected {case.expect}, got {outcome} ({detail})")
        elif outcome == "refused" and case.message not in detail:
            failures.append(f"{case.kind}: refusal {detail!r} does not mention {case.message!r}")
        if seconds >= TIME_LIMIT_S:
            failures.append(f"{case.kind}: took {seconds:.2f} s")
    report = table(rows, slowest)
    print("\n" + report)
    assert len(cases) >= 700 + 20
    assert not failures, report + "\n" + "\n".join(failures[:20])


@pytest.mark.parametrize("warnings_as_errors", [False, True])
def test_decompression_bomb_is_refused_before_decoding(warnings_as_errors: bool) -> None:
    bomb = one_bit_png(10_000, 10_000, 1000)  # 100 MP: PIL warns above 89 MP, refuses above 179 MP
    with warnings.catch_warnings():
        warnings.simplefilter("error" if warnings_as_errors else "ignore")
        start = time.perf_counter()
        with pytest.raises(ImageError, match="^The image is too large.*limit 25 megapixels"):
            preprocess_bytes(bomb, "bomb.png")
        assert time.perf_counter() - start < 0.5


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.uint8,
        st.tuples(st.integers(1, 48), st.integers(1, 48))
        | st.tuples(st.integers(1, 48), st.integers(1, 48), st.sampled_from([3, 4])),
    )
)
def test_any_pixel_array_gives_a_valid_image_or_a_clean_refusal(pixels: np.ndarray) -> None:
    outcome, detail, seconds = run(encode(Image.fromarray(pixels), "PNG"), "array.png")
    assert outcome != "FAILED", detail
    assert seconds < TIME_LIMIT_S


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 40), st.integers(1, 40))))
def test_any_float_image_gives_a_valid_image_or_a_clean_refusal(values: np.ndarray) -> None:
    try:
        result = preprocess(Image.fromarray(values))  # mode F: NaN, inf and huge values included
    except ImageError as err:
        assert str(err) and "\n" not in str(err)
    else:
        assert check_result(result) == ""
