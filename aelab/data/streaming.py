"""Images read when training needs them, for folders and zips larger than memory.

An `ImageFiles` holds only the names of a folder's or zip's image files; DataLoader worker
processes read, decode and preprocess each one (like an upload) when a batch asks for it. A file
that cannot be read is skipped and counted, never the end of a run. The decoded images can be kept
on disk (`DecodedCache`), so that epochs after the first only read the decoded floats back (28x28, or the
shape the files are made: `ImageSpec`).

`batches` is the one way training and evaluation go through images, in memory or streamed.
"""

from __future__ import annotations

import copy
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from aelab.data.dataset import DatasetUnavailable
from aelab.images.inputs import DIGIT_SPEC, ImageSpec, prepare_bytes
from aelab.images.reading import MAX_BYTES, ImageError
from aelab.settings import DEFAULT_WORKERS
from aelab.store import cache

UNKNOWN, DECODED, UNREADABLE = 0, 1, 2  # a DecodedCache's flag for each file
SAMPLE = 1024  # images decoded to stand for a stream where statistics need its pixels (the mean image)


def read_file(path: Path) -> bytes | None:
    """At most one byte more than an image may have (that byte makes load_image refuse it); None when unreadable."""
    try:
        with path.open("rb") as file:
            return file.read(MAX_BYTES + 1)
    except OSError:
        return None


def read_member(archive: zipfile.ZipFile, member: str | zipfile.ZipInfo) -> bytes | None:
    """A zip member's bytes, at most one byte more than an image may have whatever its header says;
    None for a damaged or exotically compressed entry."""
    try:
        with archive.open(member) as file:
            return file.read(MAX_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError, KeyError):
        return None


class DecodedCache:
    """Decoded images on disk, one row per file, filled as files are first read.

    One file in the cache folder: a flag byte per image (unknown, decoded, unreadable) and then
    the images as float32. It is created whole and at once (a sparse file linked into place, never
    replacing one another process made), and every process that reads the same files (DataLoader
    workers, several training processes on one machine) maps it shared: each writes the rows it
    decoded, the row before its flag.
    """

    def __init__(self, key: str, count: int, shape: tuple[int, int, int]) -> None:
        self.path, self.count, self.shape = cache.cache_dir() / f"decoded-{key}.bin", count, shape
        self.offset = -(-count // 64) * 64  # the images start aligned after the flags
        self._maps: tuple[int, np.memmap, np.memmap] | None = None
        if not self.path.exists():
            self._create()

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            os.ftruncate(fd, self.offset + self.count * int(np.prod(self.shape)) * 4)  # zeros: every flag unknown
            os.close(fd)
            os.link(tmp, self.path)  # atomic, and refuses to replace a cache another process created
        except FileExistsError:
            pass
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _mapped(self) -> tuple[np.memmap, np.memmap]:
        """The flags and images, mapped once per process (a forked worker maps them anew)."""
        if self._maps is None or self._maps[0] != os.getpid():
            flags = np.memmap(self.path, np.uint8, "r+", shape=(self.count,))
            images = np.memmap(self.path, np.float32, "r+", offset=self.offset, shape=(self.count, *self.shape))
            self._maps = (os.getpid(), flags, images)
        return self._maps[1], self._maps[2]

    def get(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The flags of files `indices`, and the images of those DECODED (in their order), read at once."""
        flags, images = self._mapped()
        found = flags[indices]
        return found, images[indices[found == DECODED]]

    def put(self, index: int, image: np.ndarray | None) -> None:
        flags, images = self._mapped()
        if image is not None:
            images[index] = image
        flags[index] = DECODED if image is not None else UNREADABLE

    def __getstate__(self) -> dict:
        return self.__dict__ | {"_maps": None}  # mappings do not travel to spawned workers


@dataclass(eq=False)
class _Source:
    """What a stream and its subsets share: where the files are, how to read them, what was skipped."""

    where: str  # the folder's or zip's name, for messages
    root: Path  # the folder, or the zip file
    zipped: bool
    names: np.ndarray  # each file's path in the folder (file-system bytes) or its zip member name (UTF-8)
    max_pixels: int
    workers: int
    cache: DecodedCache | None
    spec: ImageSpec  # what each file becomes
    skipped: set[int] = field(default_factory=set)  # files found unreadable, each counted once
    _archive: tuple[int, zipfile.ZipFile] | None = None

    def __getstate__(self) -> dict:
        return self.__dict__ | {"_archive": None}  # an open zip does not travel to spawned workers

    def read(self, index: int) -> bytes | None:
        if not self.zipped:
            return read_file(self.root / os.fsdecode(self.names[index]))
        if self._archive is None or self._archive[0] != os.getpid():  # a zip handle is never shared across forks
            self._archive = (os.getpid(), zipfile.ZipFile(self.root))
        return read_member(self._archive[1], self.names[index].decode())

    def decode(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The images (k, C, H, W) of files `indices` that can become one, and the file numbers of the
        others; from the decoded cache where it has them."""
        flags = np.full(len(indices), UNKNOWN, np.uint8)
        images = np.zeros((len(indices), *self.spec.shape), np.float32)
        if self.cache is not None:
            flags, cached = self.cache.get(indices)
            images[flags == DECODED] = cached
        for j in np.flatnonzero(flags == UNKNOWN):
            image = self._decoded(int(indices[j]))
            flags[j] = UNREADABLE if image is None else DECODED
            if image is not None:
                images[j] = image
            if self.cache is not None:
                self.cache.put(int(indices[j]), image)
        readable = flags == DECODED
        return images[readable], indices[~readable]

    def _decoded(self, index: int) -> np.ndarray | None:
        """File `index` as a (C, H, W) image, or None."""
        data, name = self.read(index), self.names[index].decode(errors="replace")
        if data is None:
            return None
        try:
            picture = prepare_bytes(data, name, self.spec, self.max_pixels, False).image
        except ImageError:  # corrupt, blank or too large: skipped, as a person would expect
            return None
        return picture.reshape(self.spec.shape) if picture.ndim == 2 else picture.transpose(2, 0, 1)


class ImageFiles(Dataset):
    """Image files decoded when a DataLoader asks: the stand-in for an (N, C, H, W) tensor.

    A batch of positions (`__getitems__`, which DataLoader prefers to one call per item) is the
    (k, C, H, W) tensor of its readable files and the file numbers of the others.
    """

    def __init__(
        self,
        where: str,
        root: Path,
        names: Iterable[bytes],
        zipped: bool,
        max_pixels: int,
        workers: int = DEFAULT_WORKERS,
        key: str = "",
        keep_decoded: bool = False,
        spec: ImageSpec = DIGIT_SPEC,
    ) -> None:
        """`key`: names these exact files (their names, sizes, dates) and `spec`: the stream's identity in the disk
        cache (its codes and maps), under which `keep_decoded` also keeps the decoded images (else every file is
        read anew each epoch). `spec`: what each file becomes (by default MNIST's digit recipe, 1x28x28)."""
        names = np.array(list(names), dtype=np.bytes_)  # one array, not N Python objects each worker touches
        decoded = DecodedCache(key, len(names), spec.shape) if keep_decoded and key else None
        self.source = _Source(where, root, zipped, names, max_pixels, workers, decoded, spec)
        self.ids = np.arange(len(names))
        self.key = key

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(N, C, H, W), as the tensor it stands for would have."""
        return (len(self), *self.source.spec.shape)

    def __getitems__(self, positions: list[int]) -> tuple[torch.Tensor, list[int]]:
        images, unreadable = self.source.decode(self.ids[positions])
        return torch.from_numpy(images), unreadable.tolist()

    def __getitem__(self, i: int) -> torch.Tensor | None:
        """Image i, (C, H, W), or None when its file cannot become one."""
        images, _ = self.__getitems__([i])
        return images[0] if len(images) else None

    def rows(self, positions: np.ndarray | list[int]) -> torch.Tensor:
        """The images at `positions` (k, C, H, W), decoded now: rows a person picked (a map's points), each of
        which was read before, so one that no longer can be is a DatasetUnavailable naming it."""
        images, unreadable = self.source.decode(self.ids[np.asarray(positions, dtype=np.int64)])
        if len(unreadable):
            name = self.source.names[unreadable[0]].decode(errors="replace")
            raise DatasetUnavailable(f"{name} in {self.source.where} can no longer be read: was it changed?")
        return torch.from_numpy(images)

    def subset(self, index: torch.Tensor | np.ndarray | list[int]) -> ImageFiles:
        """The files at positions `index`, sharing this stream's source (and its count of unreadable files)."""
        part = copy.copy(self)
        part.ids = self.ids[np.asarray(index, dtype=np.int64)]
        return part

    def readable(self, count: int) -> bool:
        """Whether at least `count` of up to SAMPLE files spread over the stream can be read (stops as soon as
        they are found)."""
        found = 0
        for i in _spread(len(self)):
            found += self[int(i)] is not None
            if found >= count:
                return True
        return False

    @property
    def skipped(self) -> int:
        """Files of the whole folder or zip found unreadable so far."""
        return len(self.source.skipped)

    def stream(self, index: list[torch.Tensor]) -> Iterator[torch.Tensor]:
        """The readable images of each batch of positions in `index`, read by DataLoader workers."""
        # torch's stub types collate_fn for a list of items; with __getitems__ it gets that method's batch
        loader = DataLoader(
            self,
            batch_sampler=[batch.tolist() for batch in index],
            collate_fn=_as_is,  # type: ignore[arg-type]
            num_workers=self.source.workers,
        )
        for images, skipped in loader:
            self.source.skipped.update(skipped)
            yield images


def _as_is(batch: tuple[torch.Tensor, list[int]]) -> tuple[torch.Tensor, list[int]]:
    """`__getitems__` returns batches whole: nothing left to collate."""
    return batch


Images = torch.Tensor | ImageFiles


def batches(images: Images, index: list[torch.Tensor]) -> Iterator[torch.Tensor]:
    """The images at each batch of positions: rows of a tensor, or a stream's readable files."""
    if isinstance(images, ImageFiles):
        return images.stream(index)
    return (images[batch] for batch in index)


def in_order(n: int, size: int) -> list[torch.Tensor]:
    """Positions 0..n-1 in batches of `size`: a pass over the images as they are stored."""
    return list(torch.arange(n).split(size))


def representative(images: Images) -> torch.Tensor:
    """The images themselves, or up to SAMPLE readable ones spread evenly over a stream: enough for a mean image."""
    if not isinstance(images, ImageFiles):
        return images
    part = images.subset(_spread(len(images)))
    return torch.cat(list(batches(part, in_order(len(part), 256))))


def _spread(n: int) -> np.ndarray:
    """Up to SAMPLE positions spread evenly over 0..n-1."""
    return np.unique(np.linspace(0, n - 1, min(n, SAMPLE)).round().astype(np.int64))
