"""A folder or zip of a person's images as a dataset: indexed under limits before anything is read, read
with progress that can be stopped, labelled by subfolder, streamed when it does not fit in memory.
Torch and the streaming reader are imported by the functions that read, so naming a folder's kinds of
picture (the app's words) does not import them.
"""

from __future__ import annotations

import io
import math
import os
import stat
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from aelab.data.dataset import (
    TEST_FRACTION,
    UNLABELLED,
    DatasetUnavailable,
    ImageData,
    LoadStopped,
    Splits,
    divided,
)
from aelab.images.inputs import DIGIT_SPEC, ImageSpec, prepare_bytes
from aelab.images.reading import ImageError, ImageTooLarge
from aelab.images.render import to_tensor
from aelab.models.config import DIGIT_SHAPE, shape_text
from aelab.settings import DEFAULT_WORKERS, LOCAL_LIMITS, Limits
from aelab.store import cache

if TYPE_CHECKING:
    import torch

    from aelab.data.streaming import ImageFiles

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
INDEXING, READING = "indexing", "reading"  # the phases a load reports through its progress callback
PROGRESS_EVERY = 100  # files between two progress reports (and at the end of each phase)
_LIMIT = "the most aelab reads from one folder or zip"


# Left to choose (`stream=None`), aelab streams a folder or zip whose decoded images would take more
# memory than this (85,000 images of 28x28 float32, 5,400 of 3x64x64); the files themselves are read one at a
# time either way.
IN_MEMORY_BYTES = 256 * 2**20
FLOAT_BYTES = 4  # decoded images are float32
IMAGE_BYTES = math.prod(DIGIT_SHAPE) * FLOAT_BYTES  # a decoded 28x28 image's; `image_bytes` for any shape
Progress = Callable[[str, int, int], None]  # (INDEXING, files seen, images found) or (READING, read, found)


def folder_spec(side: int | None = None, channels: int | None = None) -> ImageSpec:
    """What a folder's or zip's files become: MNIST's digit recipe (1x28x28) when neither is given, as before
    colour; else plainly converted to `channels` (default 1) x `side` (default 28) pixels."""
    if side is None and channels is None:
        return DIGIT_SPEC
    return ImageSpec(
        DIGIT_SHAPE[0] if channels is None else channels, DIGIT_SHAPE[1] if side is None else side, digits=False
    )


DIGITS, GRAY, COLOUR = "digits", "gray", "colour"  # how the app's Train page makes a folder's or zip's pictures
FOLDER_SIDES = (28, 32, 64)  # the sides it offers (the CLI's --side takes any from MIN_SIDE to MAX_SIDE)


def picture_options(mode: str, side: int) -> dict[str, int | None]:
    """`load_folder`'s and `load_zip`'s side and channels for a picture mode: none for MNIST's digit recipe."""
    if mode not in (DIGITS, GRAY, COLOUR):
        raise ValueError(f"Unknown picture mode {mode!r}; known: {DIGITS}, {GRAY}, {COLOUR}")
    if mode == DIGITS:
        return {"side": None, "channels": None}
    return {"side": side, "channels": 3 if mode == COLOUR else 1}


def image_bytes(shape: tuple[int, ...]) -> int:
    """Bytes of one decoded float32 image of `shape`."""
    return math.prod(shape) * FLOAT_BYTES


def load_folder(
    folder: Path,
    test_fraction: float = TEST_FRACTION,
    limits: Limits = LOCAL_LIMITS,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    stream: bool | None = False,
    workers: int = DEFAULT_WORKERS,
    keep_decoded: bool = False,
    side: int | None = None,
    channels: int | None = None,
    title: str | None = None,
) -> Splits:
    """A folder of images, labelled by subfolder when there are subfolders; each file made a picture as
    `folder_spec(side, channels)` says (by default MNIST's digit recipe at 1x28x28, like a digit upload;
    else converted to that many channels and pixels, the data's `note` counting what was converted).

    The folder is indexed first (names and sizes only), stopping at the first limit passed, so a
    folder too big is one DatasetUnavailable line and never a full memory. Linked folders are not
    entered; linked files are read. `folder` is trusted: serving.resolve_folder checks a typed one.

    With `stream` (None: when the decoded images would take more than IN_MEMORY_BYTES) the images
    are not read now but per batch, by `workers` DataLoader processes, unreadable ones skipped and
    counted; `keep_decoded` keeps what they decode in the disk cache for the next epochs. Messages name the
    folder `title` (a served app's: relative to its allowed folder), by default its path.
    """
    from aelab.data.streaming import ImageFiles, read_file

    spec = folder_spec(side, channels)
    guard = _Guard(title or str(folder), limits, progress, should_stop)
    files = _index_folder(folder, guard)
    if _streams(stream, len(files), spec):
        stamp = [(relative, size, mtime) for relative, _, size, mtime in files]
        images = ImageFiles(
            folder.name,
            folder,
            (os.fsencode(relative) for relative, *_ in files),
            False,
            limits.pixels,
            workers,
            cache.cache_key(str(folder.resolve()), stamp, *spec_key(spec)),
            keep_decoded,
            spec,
        )
        return _streamed(folder.name, images, [relative for relative, *_ in files], test_fraction, _source(folder))
    pairs = ((relative, read_file(path)) for relative, path, *_ in files)
    return _from_files(pairs, len(files), folder.name, test_fraction, guard, spec, _source(folder))


def spec_key(spec: ImageSpec) -> tuple[str, ...]:
    """What a decoded cache's key adds for `spec`: nothing for the digit recipe (keys from before colour hold)."""
    return () if spec == DIGIT_SPEC else (spec.describe(), str(spec.crop))


def _streams(stream: bool | None, n_files: int, spec: ImageSpec = DIGIT_SPEC) -> bool:
    """Whether to stream: as asked, else when the decoded images would not fit IN_MEMORY_BYTES."""
    return stream if stream is not None else n_files * image_bytes(spec.shape) > IN_MEMORY_BYTES


def _index_folder(folder: Path, guard: _Guard) -> list[tuple[str, Path, int, int]]:
    """(relative path, path, size, modification time in ns) of each image file, in the order sorted
    Paths had (it fixes the split)."""
    found: list[tuple[tuple[str, ...], Path, int, int]] = []
    seen = size = 0
    pending = [folder]
    while pending:
        for entry in _listing(pending.pop()):
            seen += 1
            guard.check(INDEXING, seen, len(found))
            if _hidden(entry.name):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):  # a linked folder is no folder here, and no image
                    pending.append(Path(entry.path))
                    continue
                info = entry.stat() if Path(entry.name).suffix.lower() in IMAGE_SUFFIXES else None
            except OSError:  # a broken link, or removed meanwhile
                continue
            if info is not None and stat.S_ISREG(info.st_mode):
                found.append(
                    (Path(entry.path).relative_to(folder).parts, Path(entry.path), info.st_size, info.st_mtime_ns)
                )
                size += info.st_size
                guard.within(len(found), size)
    guard.report(INDEXING, seen, len(found))
    return [("/".join(parts), path, size, mtime) for parts, path, size, mtime in sorted(found)]


def _listing(directory: Path) -> Iterator[os.DirEntry]:
    """A directory's entries, listed lazily, so even one of millions of entries stops at a limit;
    an unreadable directory (or one removed meanwhile) has none."""
    try:
        with os.scandir(directory) as entries:
            yield from entries
    except OSError:
        return


class _Guard:
    """One load's limits: files and bytes, time, the person's stop request; and its progress reports."""

    def __init__(
        self, where: str, limits: Limits, progress: Progress | None, should_stop: Callable[[], bool] | None
    ) -> None:
        self.where, self.limits, self.progress, self.should_stop = where, limits, progress, should_stop
        self.start, self.bytes_read = time.monotonic(), 0

    def check(self, phase: str, done: int, total: int) -> None:
        """Called for every file: stop when asked or out of time; report every PROGRESS_EVERY files."""
        if self.should_stop is not None and self.should_stop():
            raise LoadStopped(f"Stopped reading {self.where}.")
        if time.monotonic() - self.start > self.limits.seconds:
            raise DatasetUnavailable(
                f"Reading {self.where} took more than {self.limits.seconds:g} s, "
                "the most aelab spends on one folder or zip."
            )
        if done and done % PROGRESS_EVERY == 0:
            self.report(phase, done, total)

    def report(self, phase: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(phase, done, total)

    def within(self, files: int, size: int) -> None:
        """Refuse more image files, or more bytes, than the limits allow."""
        if files > self.limits.files:
            raise DatasetUnavailable(f"{self.where} holds more than {self.limits.files:,} images, {_LIMIT}.")
        self._bytes_within(size)

    def spend(self, n_bytes: int) -> None:
        """Count bytes really read: files can grow after indexing, and zip headers can lie."""
        self.bytes_read += n_bytes
        self._bytes_within(self.bytes_read)

    def _bytes_within(self, size: int) -> None:
        if size > self.limits.bytes:
            raise DatasetUnavailable(
                f"{self.where} holds more than {_megabytes(self.limits.bytes)} of images, {_LIMIT}."
            )


def _megabytes(n_bytes: int) -> str:
    megabytes = n_bytes / 2**20
    return f"{megabytes:,.0f} MB" if megabytes >= 10 else f"{megabytes:.2g} MB"


def _is_image_name(relative: str) -> bool:
    """An image suffix, outside hidden folders and macOS's __MACOSX/._* resource forks."""
    parts = PurePosixPath(relative).parts
    return bool(parts) and PurePosixPath(relative).suffix.lower() in IMAGE_SUFFIXES and not any(map(_hidden, parts))


def _hidden(part: str) -> bool:
    return part.startswith(".") or part == "__MACOSX"


def _from_files(
    files: Iterable[tuple[str, bytes | None]],
    n_files: int,
    name: str,
    test_fraction: float,
    guard: _Guard,
    spec: ImageSpec = DIGIT_SPEC,
    source: str = "",
) -> Splits:
    """(relative path, bytes or None when unreadable) pairs made pictures as `spec` says; a path's first
    folder is its class. Folders and zips share this, so both label, skip, limit and split the same way.
    """
    where, images, tops, converted, upscaled = guard.where, [], [], 0, 0
    guard.report(READING, 0, n_files)
    for done, (relative, data) in enumerate(files, start=1):
        guard.check(READING, done, n_files)
        if data is None:
            continue
        guard.spend(len(data))
        try:
            made = prepare_bytes(data, relative, spec, guard.limits.pixels, with_steps=False)
        except ImageTooLarge as err:
            raise DatasetUnavailable(f"{relative} in {where}: {err}") from None
        except ImageError:
            continue  # unreadable or blank files are skipped, as a person would expect
        images.append(made.image)
        converted, upscaled = converted + made.converted, upscaled + made.upscaled
        parts = PurePosixPath(relative).parts
        tops.append(parts[0] if len(parts) > 1 else None)
    guard.report(READING, n_files, n_files)
    if len(images) < 2:
        raise DatasetUnavailable(_too_few(where))
    tensor = to_tensor(np.stack(images), spec.shape)
    note = conversion_note(len(images), converted, upscaled, spec)
    whole = ImageData(name, tensor, *_labelled(tops), note=note, plain=spec != DIGIT_SPEC, source=source)
    return divided(whole, test_fraction)


def conversion_note(n_images: int, converted: int, upscaled: int, spec: ImageSpec) -> str:
    """What converting a folder did, in one line ("" when nothing): '3 of 40 images were converted to 3x32x32
    RGB (another colour mode or size); 1 of them, smaller than 32x32, was enlarged.'"""
    if not converted:
        return ""
    text = (
        f"{converted:,} of {n_images:,} images {'was' if converted == 1 else 'were'} converted to "
        f"{shape_text(spec.shape)} (another colour mode or size)"
    )
    if upscaled:
        text += (
            f"; {upscaled:,} of them, smaller than {spec.side}x{spec.side}, "
            f"{'was' if upscaled == 1 else 'were'} enlarged"
        )
    return text + "."


def _source(path: Path) -> str:
    """What ImageData.source records of a folder or zip file read: its resolved path."""
    return str(path.resolve())


def _streamed(name: str, images: ImageFiles, relatives: list[str], test_fraction: float, source: str) -> Splits:
    """A stream's splits, labelled like `_from_files`; refused when no two of a sample of its files can be read."""
    if not images.readable(2):
        raise DatasetUnavailable(_too_few(images.source.where))
    tops = [parts[0] if len(parts) > 1 else None for parts in (PurePosixPath(r).parts for r in relatives)]
    plain = images.source.spec != DIGIT_SPEC
    return divided(ImageData(name, images, *_labelled(tops), plain=plain, source=source), test_fraction)


def _too_few(where: str) -> str:
    return f"{where} holds fewer than two readable images ({', '.join(sorted(IMAGE_SUFFIXES))})."


def _labelled(tops: list[str | None]) -> tuple[torch.Tensor, list[str]]:
    """Labels and class names from each image's first folder (None: no folder, unlabelled)."""
    import torch

    classes = sorted({top for top in tops if top is not None})
    number = {name: i for i, name in enumerate(classes)}
    labels = [number[top] if top is not None else UNLABELLED for top in tops]
    return torch.tensor(labels, dtype=torch.long), classes


def load_zip(
    data: bytes | Path,
    name: str,
    test_fraction: float = TEST_FRACTION,
    limits: Limits = LOCAL_LIMITS,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    stream: bool | None = False,
    workers: int = DEFAULT_WORKERS,
    keep_decoded: bool = False,
    side: int | None = None,
    channels: int | None = None,
) -> Splits:
    """A zip of images (uploaded bytes, or a file on disk), labelled by subfolder and split like
    `load_folder`, within the same limits; one on disk can be streamed like a folder.

    The archive is untrusted: nothing of it is written to disk, and it is refused
    with a one-line DatasetUnavailable when it is not a zip, has more entries than `limits.files`,
    would unpack to more than `limits.bytes` (a zip bomb: refused before inflating, and what is
    really inflated is counted too), names a path outside itself, or is encrypted. A single
    folder wrapping everything (zip -r digits.zip digits/) is not a class: the classes are the
    folders inside it.
    """
    from aelab.data.streaming import ImageFiles

    spec = folder_spec(side, channels)
    title = Path(name).name
    if stream and isinstance(data, bytes):
        raise ValueError("Only a zip file on disk can be streamed.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data)
    except (zipfile.BadZipFile, ValueError, OSError):
        raise DatasetUnavailable(f"{title} is not a zip file.") from None
    guard = _Guard(title, limits, progress, should_stop)
    with archive:
        members = archive.infolist()
        if len(members) > limits.files:
            raise DatasetUnavailable(f"{title} holds more than {limits.files:,} files, {_LIMIT}.")
        paths = {
            info.filename: info.filename.replace("\\", "/") for info in members
        }  # some Windows zips use backslashes
        for path in paths.values():
            parts = path.split("/")
            if path.startswith("/") or ".." in parts or parts[0].endswith(":"):
                raise DatasetUnavailable(f"{title} is refused: the entry {path!r} points outside the archive.")
        total = sum(info.file_size for info in members)
        if total > limits.bytes:
            raise DatasetUnavailable(
                f"{title} would unpack to {_megabytes(total)}, more than {_megabytes(limits.bytes)}, {_LIMIT}."
            )
        files = [info for info in members if not info.is_dir() and _is_image_name(paths[info.filename])]
        if any(info.flag_bits & 0x1 for info in files):
            raise DatasetUnavailable(f"{title} is encrypted: zip the images without a password.")
        guard.report(INDEXING, len(members), len(files))
        names = _unwrapped([PurePosixPath(paths[info.filename]).parts for info in files])
        if isinstance(data, Path) and _streams(stream, len(files), spec):
            where = data.stat()
            key = cache.cache_key(str(data.resolve()), where.st_size, where.st_mtime_ns, *spec_key(spec))
            images = ImageFiles(
                title,
                data,
                (info.filename.encode() for info in files),
                True,
                limits.pixels,
                workers,
                key,
                keep_decoded,
                spec,
            )
            return _streamed(Path(name).stem, images, names, test_fraction, _source(data))
        source = _source(data) if isinstance(data, Path) else ""
        return _from_files(
            _read_members(archive, files, names), len(files), Path(name).stem, test_fraction, guard, spec, source
        )


def _unwrapped(paths: list[tuple[str, ...]]) -> list[str]:
    """Drop leading folders that every path shares, so a zipped folder's own name is no class."""
    while paths and all(len(p) > 1 for p in paths) and len({p[0] for p in paths}) == 1:
        paths = [p[1:] for p in paths]
    return ["/".join(p) for p in paths]


def _read_members(
    archive: zipfile.ZipFile, files: list[zipfile.ZipInfo], names: list[str]
) -> Iterator[tuple[str, bytes | None]]:
    """Each member's bytes (None when damaged: skipped like an unreadable image)."""
    from aelab.data.streaming import read_member

    for info, relative in zip(files, names):
        yield relative, read_member(archive, info)
