"""Datasets: torchvision's MNIST family, CIFAR-10 and CelebA, scikit-learn's digits, procedural shapes,
a folder or zip of images.

A whole split is one (N, C, H, W) float tensor in [0, 1] (the MNIST family and digits: 1x28x28, white
ink on black; CIFAR-10 3x32x32; CelebA and shapes 3x64x64; a folder at the shape its person picks),
batched by indexing, so training never touches PIL per image; a folder, zip or CelebA too large for
that is streamed instead (aelab.streaming): its files are read per batch by DataLoader workers.
The functions that make tensors or streams import torch: the app's first page finds datasets
and reads a split's labels from the disk cache without it.
"""

from __future__ import annotations

import io
import math
import os
import stat
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, NamedTuple

import numpy as np

from aelab import cache
from aelab.images import DIGIT_SPEC, MAX_PIXELS, ImageError, ImageSpec, ImageTooLarge, prepare_bytes, to_tensor
from aelab.model_config import DIGIT_SHAPE, shape_text

if TYPE_CHECKING:
    import torch

    from aelab.streaming import ImageFiles, Images

DEFAULT_WORKERS = 2  # DataLoader processes reading a stream

DATA_DIR_ENV = "AELAB_DATA_DIR"
CHECKOUT = Path(__file__).resolve().parent.parent
SHARED_DATA_DIR = CHECKOUT.parent / "shared" / "datasets"  # where this project's machines keep MNIST
DEFAULT_DATA_DIR = CHECKOUT / "data"
TORCHVISION_DATASETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}
# The files torchvision reads from <root>/<class name>/raw/ (the same names for all three), and the
# class names it gives: listed here so that finding and decoding a split (the app's first start,
# through the disk cache) does not import torchvision (two seconds). Tests check both against it.
RAW_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
DIGITS = "zero one two three four five six seven eight nine".split()
CLASSES = {"mnist": [f"{d} - {word}" for d, word in enumerate(DIGITS)],
           "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                             "Bag", "Ankle boot"],
           "kmnist": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]}
# Colour datasets torchvision downloads: the folder under the data folder and the files read from it.
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_FILES = {"train": (*(f"data_batch_{i}" for i in range(1, 6)), "batches.meta"),
               "test": ("test_batch", "batches.meta")}
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CELEBA_FOLDER = "celeba"  # torchvision's layout: celeba/img_align_celeba/*.jpg and celeba/list_eval_partition.txt
CELEBA_IMAGES, CELEBA_PARTITION = "img_align_celeba", "list_eval_partition.txt"
CELEBA_SPLITS = {"train": ("0", "1"), "test": ("2",)}  # partition numbers: train (and validation) and test
# The DCGAN recipe for CelebA: the aligned 178x218 face centre-cropped to 140x140, then resized to 64x64.
CELEBA_SPEC = ImageSpec(3, 64, digits=False, crop=140)
SHAPES_SPLIT = {"train": 20_000, "test": 5_000}  # shapes drawn for each split (of 138,240 combinations)
SHAPES_SEED = 0
COLOUR_DATASETS = ("cifar10", "celeba")
DATASETS = (*TORCHVISION_DATASETS, *COLOUR_DATASETS, "digits", "shapes")
# The images each dataset holds; a folder's or zip's are picked by its person.
DATASET_SHAPES = {**{name: DIGIT_SHAPE for name in (*TORCHVISION_DATASETS, "digits")}, "cifar10": (3, 32, 32),
                  "celeba": CELEBA_SPEC.shape, "shapes": (3, 64, 64)}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
UNLABELLED = -1
INDEXING, READING = "indexing", "reading"  # the phases a load reports through its progress callback
PROGRESS_EVERY = 100  # files between two progress reports (and at the end of each phase)
_LIMIT = "the most aelab reads from one folder or zip"


@dataclass(frozen=True)
class Limits:
    """How much one folder or zip may bring in. Folders and zips obey the same numbers, checked
    while indexing (before any image is read) and again on the bytes really read."""

    files: int  # image files (for a zip: entries of any kind)
    bytes: int  # their total size (a zip's: unpacked)
    pixels: int  # per image, at most images.MAX_PIXELS
    seconds: float  # indexing and reading together


# A person's own machine: generous (MNIST's 70,000 digits as PNGs fit) but bounded.
# serving.SERVED_LIMITS are the tighter ones for a served app.
LOCAL_LIMITS = Limits(files=100_000, bytes=1024 * 2**20, pixels=MAX_PIXELS, seconds=600.0)
# What a folder or zip streamed from disk may hold: memory keeps only its files' names.
STREAM_LIMITS = Limits(files=1_000_000, bytes=2**40, pixels=MAX_PIXELS, seconds=3600.0)
# Left to choose (`stream=None`), aelab streams a folder or zip whose decoded images would take more
# memory than this (85,000 images of 28x28 float32, 5,400 of 3x64x64); the files themselves are read one at a
# time either way.
IN_MEMORY_BYTES = 256 * 2**20
FLOAT_BYTES = 4  # decoded images are float32
IMAGE_BYTES = math.prod(DIGIT_SHAPE) * FLOAT_BYTES  # a decoded 28x28 image's; `image_bytes` for any shape
Progress = Callable[[str, int, int], None]  # (INDEXING, files seen, images found) or (READING, read, found)


class DatasetUnavailable(RuntimeError):
    """The dataset is not on disk and could not be downloaded; the message says where to put it."""


class LoadStopped(DatasetUnavailable):
    """The person stopped reading a folder or zip (its `should_stop` said so)."""


@dataclass
class ImageData:
    """A labelled split: its images in memory, or a stream's files standing for them."""

    name: str
    images: Images  # (N, C, H, W) float32 in [0, 1], or a stream's ImageFiles standing for them
    labels: torch.Tensor  # (N,) int64; UNLABELLED where unknown
    classes: list[str]
    factors: np.ndarray | None = None  # (N, F) int64 generating factors, when known (shapes)
    factor_names: tuple[str, ...] = ()  # the columns of `factors`
    note: str = ""  # what loading did that a person should know (images converted to the shape), or ""
    plain: bool = False  # a folder's or zip's files plainly converted (--side / --channels), not by MNIST's digit recipe

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image: what a model must take to be trained on or shown this data."""
        return tuple(self.images.shape[1:])

    def subset(self, index: torch.Tensor | np.ndarray | list[int]) -> ImageData:
        import torch

        from aelab.streaming import ImageFiles

        index = torch.as_tensor(index, dtype=torch.long)
        images = self.images.subset(index) if isinstance(self.images, ImageFiles) else self.images[index]
        factors = None if self.factors is None else self.factors[index.numpy()]
        return ImageData(self.name, images, self.labels[index], self.classes, factors, self.factor_names, self.note,
                         self.plain)

    def label_name(self, i: int) -> str:
        label = int(self.labels[i])
        return self.classes[label] if 0 <= label < len(self.classes) else "unlabelled"


class Splits(NamedTuple):
    """Both splits of a folder or zip: its images are decoded once, then divided."""

    train: ImageData
    test: ImageData


DATASET_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "kmnist": "KMNIST", "cifar10": "CIFAR-10",
                  "celeba": "CelebA", "digits": "scikit-learn digits", "shapes": "shapes"}
FALLBACK_DATASET = "digits"  # bundled with scikit-learn, so always there: what the app shows offline


def dataset_title(name: str) -> str:
    """A dataset's name as people write it; a folder's or zip's name as given."""
    return DATASET_TITLES.get(name, name)


def sample_indices(n: int, count: int, seed: int) -> np.ndarray:
    """`count` distinct rows of `n` (all when count >= n), sorted: the same seed picks the same images."""
    if count >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=count, replace=False))


def data_dir(path: str | Path | None = None) -> Path:
    """The argument, else $AELAB_DATA_DIR, else ../shared/datasets beside the checkout when that
    folder exists, else ./data in the checkout. The one rule the app, the CLI and the tests share,
    so that they all read (and `python -m aelab data` downloads to) the same folder."""
    chosen = path or os.environ.get(DATA_DIR_ENV)
    if chosen:
        return Path(chosen).expanduser()
    return SHARED_DATA_DIR if SHARED_DATA_DIR.is_dir() else DEFAULT_DATA_DIR


def dataset_shape(name: str) -> tuple[int, int, int] | None:
    """The (C, H, W) of a known dataset's images; None for a folder or zip (its person picks)."""
    return DATASET_SHAPES.get(name)


def folder_spec(side: int | None = None, channels: int | None = None) -> ImageSpec:
    """What a folder's or zip's files become: MNIST's digit recipe (1x28x28) when neither is given, as before
    colour; else plainly converted to `channels` (default 1) x `side` (default 28) pixels."""
    if side is None and channels is None:
        return DIGIT_SPEC
    return ImageSpec(DIGIT_SHAPE[0] if channels is None else channels, DIGIT_SHAPE[1] if side is None else side,
                     digits=False)


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


def load_dataset(name: str, split: str = "train", root: str | Path | None = None, download: bool = True,
                 cached: bool = False, stream: bool | None = False, workers: int = DEFAULT_WORKERS,
                 keep_decoded: bool = False, progress: Progress | None = None, side: int | None = None,
                 channels: int | None = None) -> ImageData:
    """Load `name` (a known dataset, a folder of images or a zip of them) for split 'train' or 'test'.

    With `cached`, a torchvision dataset's decoded split is kept in the disk cache, keyed by
    its raw files' size and modification time: the app's later starts then skip importing
    torchvision, which takes as long as the whole first page may. A folder or zip is read into
    memory within LOCAL_LIMITS, or streamed within STREAM_LIMITS (`stream`; None: by size, see
    `load_folder`), its files made `side` x `side` with `channels` (`folder_spec`); `progress` hears
    how indexing and reading go. A known dataset has its own shape (`dataset_shape`): asking it for
    another is a ValueError. CelebA is always streamed (162,770 training faces would take 8 GB as floats).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    native = DATASET_SHAPES.get(name)
    if native and (side not in (None, native[1]) or channels not in (None, native[0])):
        raise ValueError(f"{dataset_title(name)} is {shape_text(native)}: another side and channels are for "
                         "folders and zips")
    if name in TORCHVISION_DATASETS or name == "cifar10":
        if cached:
            return _load_cached(name, split, data_dir(root), download)
        return _load_torchvision(name, split, data_dir(root), download)
    if name == "celeba":
        return _load_celeba(split, data_dir(root), download, workers, keep_decoded)
    if name == "digits":
        return load_digits(split)
    if name == "shapes":
        return load_shapes(split)
    path = Path(name).expanduser()
    options = dict(limits=LOCAL_LIMITS if stream is False else STREAM_LIMITS, progress=progress, stream=stream,
                   workers=workers, keep_decoded=keep_decoded, side=side, channels=channels)
    if path.is_dir():
        return getattr(load_folder(path, **options), split)
    if path.is_file() and path.suffix.lower() == ".zip":
        return getattr(load_zip(path, path.name, **options), split)
    raise ValueError(f"Unknown dataset {name!r}: use one of {', '.join(DATASETS)}, a folder of images or a zip")


DOWNLOADABLE = (*TORCHVISION_DATASETS, *COLOUR_DATASETS)


def ensure_downloaded(names: Iterable[str], root: str | Path | None = None) -> Path:
    """Make sure both splits of each torchvision dataset in `names` are on disk, downloading
    what is missing; the folder they are in. Offline, the DatasetUnavailable of `load_dataset`."""
    root = data_dir(root)
    for name in names:
        if name not in DOWNLOADABLE:
            raise ValueError(f"Unknown dataset {name!r} to download: use one of {', '.join(DOWNLOADABLE)}")
        for split in RAW_FILES:
            if not all(path.exists() for path in _raw_paths(name, split, root)):
                if name == "celeba":
                    _download_celeba(root)
                else:
                    _load_torchvision(name, split, root, download=True)
    return root


def _load_torchvision(name: str, split: str, root: Path, download: bool) -> ImageData:
    import torch

    cls, train = _torchvision_class(name), split == "train"
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            raise DatasetUnavailable(_missing_message(name, root, split)) from None
        ds = _downloading(name, root, split, lambda: cls(str(root), train=train, download=True))
    if name == "cifar10":  # uint8 (N, 32, 32, 3)
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
        return ImageData(name, images, torch.as_tensor(ds.targets).long(), [str(c) for c in ds.classes])
    images = ds.data.unsqueeze(1).float().div_(255.0)
    return ImageData(name, images, ds.targets.long(), [str(c) for c in ds.classes])


def _torchvision_class(name: str) -> type:
    from torchvision import datasets

    return datasets.CIFAR10 if name == "cifar10" else getattr(datasets, TORCHVISION_DATASETS[name])


def _downloading(name: str, root: Path, split: str, make: Callable[[], object]) -> object:
    """`make()`, which downloads; any failure (offline, proxy, quota, partial file) one DatasetUnavailable."""
    try:
        return make()
    except Exception as err:  # offline, proxy, partial download: all mean "not available"
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__  # the cause
        raise DatasetUnavailable(f"{_missing_message(name, root, split)} Download failed: {reason}") from None


def _raw_paths(name: str, split: str, root: Path) -> list[Path]:
    """The files (CelebA: the folder of faces and the partition list) a split is read from."""
    if name == "cifar10":
        return [root / CIFAR_FOLDER / file for file in CIFAR_FILES[split]]
    if name == "celeba":
        return [root / CELEBA_FOLDER / CELEBA_IMAGES, root / CELEBA_FOLDER / CELEBA_PARTITION]
    return [root / TORCHVISION_DATASETS[name] / "raw" / file for file in RAW_FILES[split]]


def _load_cached(name: str, split: str, root: Path, download: bool) -> ImageData:
    import torch

    if not all(path.exists() for path in _raw_paths(name, split, root)):
        return _load_torchvision(name, split, root, download)  # downloads, or says what is missing
    arrays = _decoded_split(name, split, root)
    pixels = torch.from_numpy(arrays["pixels"])
    pixels = pixels.unsqueeze(1) if pixels.ndim == 3 else pixels.permute(0, 3, 1, 2).contiguous()
    return ImageData(name, pixels.float().div_(255.0), torch.from_numpy(arrays["labels"]).long(),
                     [str(c) for c in arrays["classes"]])


def _decoded_split(name: str, split: str, root: Path, names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """A split on disk as uint8 pixels, labels and class names (at least `names` of them, when given): from
    the disk cache, keyed by its raw files' size and date, else decoded once and stored there (the MNIST
    family read here without torchvision; CIFAR-10's pickled batches by torchvision, the one reader of
    that format)."""
    paths = _raw_paths(name, split, root)
    stamp = [(str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns) for path in paths]
    key = cache.cache_key(name, split, stamp)
    arrays = cache.load_arrays("dataset", key, names)
    if arrays is None:
        if name == "cifar10":
            ds = _torchvision_class(name)(str(root), train=split == "train", download=False)
            pixels, labels, classes = ds.data, np.asarray(ds.targets), ds.classes
        else:
            pixels, labels = (_read_idx(path) for path in paths)
            classes = CLASSES[name]
            if pixels.ndim != 3 or labels.shape != pixels.shape[:1]:
                raise DatasetUnavailable(f"{paths[0].parent}: {RAW_FILES[split][0]} and {RAW_FILES[split][1]} "
                                         "do not hold one label per image")
        arrays = {"pixels": pixels, "labels": labels.astype(np.int64), "classes": np.array(classes)}
        cache.save_arrays("dataset", key, arrays)
    return arrays


def _download_celeba(root: Path) -> None:
    """torchvision's CelebA download (Google Drive: it often refuses, a quota; then one DatasetUnavailable)."""
    from torchvision import datasets

    _downloading("celeba", root, "train", lambda: datasets.CelebA(str(root), split="all", download=True))


def _load_celeba(split: str, root: Path, download: bool, workers: int, keep_decoded: bool) -> ImageData:
    """CelebA's aligned faces of `split` (by its partition list), read per batch: 162,770 training faces would
    take 8 GB as floats. The DCGAN recipe (`CELEBA_SPEC`) makes each a 3x64x64 picture; unlabelled."""
    import torch

    from aelab.streaming import ImageFiles

    folder, partition = _raw_paths("celeba", split, root)
    if not (folder.is_dir() and partition.is_file()):
        if not download:
            raise DatasetUnavailable(_missing_message("celeba", root, split))
        _download_celeba(root)
    wanted = CELEBA_SPLITS[split]
    try:
        lines = [line.split() for line in partition.read_text().splitlines() if line.strip()]
        names = [parts[0] for parts in lines if parts[1] in wanted]
    except (OSError, UnicodeDecodeError, IndexError):
        raise DatasetUnavailable(f"{partition} is not CelebA's partition list (a file name and 0, 1 or 2 per "
                                 "line): delete it to download it again") from None
    if not names:
        raise DatasetUnavailable(f"{partition} names no image of the {split} split")
    key = cache.cache_key(str(folder.resolve()), split, partition.stat().st_mtime_ns, *_spec_key(CELEBA_SPEC)) \
        if keep_decoded else None
    images = ImageFiles(DATASET_TITLES["celeba"], folder, (n.encode() for n in names), False, STREAM_LIMITS.pixels,
                        workers, key, CELEBA_SPEC)
    return ImageData("celeba", images, torch.full((len(names),), UNLABELLED, dtype=torch.long), [])


def factor_names(name: str) -> tuple[str, ...]:
    """The generating factors a dataset knows (shapes' six), told without loading it; () for the others."""
    from aelab import shapes

    return tuple(shapes.FACTOR_NAMES) if name == "shapes" else ()


def load_shapes(split: str = "train", side: int = 64, channels: int = 3) -> ImageData:
    """aelab.shapes' coloured shapes, drawn here (no download; the same for SHAPES_SEED on every machine),
    SHAPES_SPLIT[split] of them, train and test disjoint; labelled by shape, with all six factors kept."""
    import torch

    from aelab import shapes

    pixels, factors = shapes.shapes_split(split, SHAPES_SPLIT["train"], SHAPES_SPLIT["test"], SHAPES_SEED, side,
                                          channels)
    column = shapes.FACTOR_NAMES.index("shape")
    return ImageData("shapes", torch.from_numpy(pixels), torch.from_numpy(factors[:, column]),
                     list(shapes.SHAPES), factors, shapes.FACTOR_NAMES)


def _read_idx(path: Path) -> np.ndarray:
    """An array of bytes in the idx format the MNIST family ships in (what torchvision reads): two zero
    bytes, 0x08 (unsigned bytes), the number of dimensions, each size as a big-endian uint32, the data."""
    data = bytearray(path.read_bytes())  # writable, like every array the loaders return
    rank = data[3] if len(data) > 4 else 0
    sizes = np.frombuffer(data, ">u4", count=rank, offset=4) if len(data) >= 4 + 4 * rank else None
    if data[:3] != b"\x00\x00\x08" or sizes is None or len(data) != 4 + 4 * rank + int(np.prod(sizes)):
        raise DatasetUnavailable(f"{path} is not an idx file of bytes (the MNIST format): delete it to download "
                                 "it again")
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(sizes)


def load_labels(name: str, split: str = "test", root: str | Path | None = None) -> tuple[np.ndarray, list[str]]:
    """A split's labels (int64, UNLABELLED where unknown) and class names, never downloading. For the
    MNIST family and CIFAR-10 they come from the disk cache without torch: the first page colours its map
    with them."""
    root = data_dir(root)
    decoded = (*TORCHVISION_DATASETS, "cifar10")
    if name in decoded and all(path.exists() for path in _raw_paths(name, split, root)):
        arrays = _decoded_split(name, split, root, ("labels", "classes"))  # not the pixels: the first page's
        return arrays["labels"].astype(np.int64), [str(c) for c in arrays["classes"]]
    data = load_dataset(name, split, root, download=False, cached=True)
    return data.labels.numpy(), data.classes


def load_pixels(name: str, split: str = "test", root: str | Path | None = None) -> np.ndarray | None:
    """A split's images as float32 (N, 1, 28, 28) in [0, 1] without torch, for the MNIST family on disk
    (the disk cache's decoded split, bit for bit what load_dataset gives); None for any other dataset."""
    root = data_dir(root)
    if name not in TORCHVISION_DATASETS or not all(path.exists() for path in _raw_paths(name, split, root)):
        return None
    pixels = _decoded_split(name, split, root)["pixels"]
    return (pixels.astype(np.float32) / np.float32(255.0))[:, None]


def _missing_message(name: str, root: Path, split: str) -> str:
    """One line: the folder a split should be in, the files expected there, and the two ways to get them."""
    if name == "cifar10":
        title, where, files = DATASET_TITLES[name], CIFAR_FOLDER, CIFAR_FILES[split]
    elif name == "celeba":
        title, where, files = DATASET_TITLES[name], CELEBA_FOLDER, (f"{CELEBA_IMAGES}/ (the aligned faces, "
                                                                    "000001.jpg ...)", CELEBA_PARTITION)
    else:
        title = TORCHVISION_DATASETS[name]
        where, files = f"{title}/raw", RAW_FILES[split]
    listed = ", ".join(files[:-1]) + f" and {files[-1]}"
    return (f"{title} ({split} split) is not in {root / where}: expected {listed} there. Set {DATA_DIR_ENV} "
            f"to a folder holding {where}/, or connect to the internet to download it.")


def load_digits(split: str = "train", test_fraction: float = 0.2) -> ImageData:
    """scikit-learn's bundled 8x8 digits, made MNIST-like: scaled into a 20x20 box inside 28x28."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    small = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    box = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False, antialias=True)
    images = F.pad(box, (4, 4, 4, 4)).clamp(0.0, 1.0)
    labels = torch.tensor(bunch.target, dtype=torch.long)
    train_idx, test_idx = _split_indices(len(images), test_fraction, seed=0)
    idx = train_idx if split == "train" else test_idx
    return ImageData("digits", images[idx], labels[idx], [str(d) for d in range(10)])


def load_folder(folder: Path, test_fraction: float = 0.2, limits: Limits = LOCAL_LIMITS,
                progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                stream: bool | None = False, workers: int = DEFAULT_WORKERS, keep_decoded: bool = False,
                side: int | None = None, channels: int | None = None) -> Splits:
    """A folder of images, labelled by subfolder when there are subfolders; each file made a picture as
    `folder_spec(side, channels)` says (by default MNIST's digit recipe at 1x28x28, like a digit upload;
    else converted to that many channels and pixels, the data's `note` counting what was converted).

    The folder is indexed first (names and sizes only), stopping at the first limit passed, so a
    folder too big is one DatasetUnavailable line and never a full memory. Linked folders are not
    entered; linked files are read. `folder` is trusted: serving.resolve_folder checks a typed one.

    With `stream` (None: when the decoded images would take more than IN_MEMORY_BYTES) the images
    are not read now but per batch, by `workers` DataLoader processes, unreadable ones skipped and
    counted; `keep_decoded` keeps what they decode in the disk cache for the next epochs.
    """
    from aelab.streaming import ImageFiles, read_file

    spec = folder_spec(side, channels)
    guard = _Guard(str(folder), limits, progress, should_stop)
    files = _index_folder(folder, guard)
    if _streams(stream, len(files), spec):
        stamp = [(relative, size, mtime) for relative, _, size, mtime in files] if keep_decoded else None
        key = cache.cache_key(str(folder.resolve()), stamp, *_spec_key(spec)) if stamp else None
        images = ImageFiles(folder.name, folder, (os.fsencode(relative) for relative, *_ in files), False,
                            limits.pixels, workers, key, spec)
        return _streamed(folder.name, images, [relative for relative, *_ in files], test_fraction)
    pairs = ((relative, read_file(path)) for relative, path, *_ in files)
    return _from_files(pairs, len(files), folder.name, test_fraction, guard, spec)


def _spec_key(spec: ImageSpec) -> tuple[str, ...]:
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
                found.append((Path(entry.path).relative_to(folder).parts, Path(entry.path), info.st_size,
                              info.st_mtime_ns))
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

    def __init__(self, where: str, limits: Limits, progress: Progress | None,
                 should_stop: Callable[[], bool] | None) -> None:
        self.where, self.limits, self.progress, self.should_stop = where, limits, progress, should_stop
        self.start, self.bytes_read = time.monotonic(), 0

    def check(self, phase: str, done: int, total: int) -> None:
        """Called for every file: stop when asked or out of time; report every PROGRESS_EVERY files."""
        if self.should_stop is not None and self.should_stop():
            raise LoadStopped(f"Stopped reading {self.where}.")
        if time.monotonic() - self.start > self.limits.seconds:
            raise DatasetUnavailable(f"Reading {self.where} took more than {self.limits.seconds:g} s, "
                                     "the most aelab spends on one folder or zip.")
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
            raise DatasetUnavailable(f"{self.where} holds more than {_megabytes(self.limits.bytes)} of images, "
                                     f"{_LIMIT}.")


def _megabytes(n_bytes: int) -> str:
    megabytes = n_bytes / 2**20
    return f"{megabytes:,.0f} MB" if megabytes >= 10 else f"{megabytes:.2g} MB"


def _is_image_name(relative: str) -> bool:
    """An image suffix, outside hidden folders and macOS's __MACOSX/._* resource forks."""
    parts = PurePosixPath(relative).parts
    return bool(parts) and PurePosixPath(relative).suffix.lower() in IMAGE_SUFFIXES and not any(map(_hidden, parts))


def _hidden(part: str) -> bool:
    return part.startswith(".") or part == "__MACOSX"


def _from_files(files: Iterable[tuple[str, bytes | None]], n_files: int, name: str, test_fraction: float,
                guard: _Guard, spec: ImageSpec = DIGIT_SPEC) -> Splits:
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
    return _divided(ImageData(name, tensor, *_labelled(tops), note=note, plain=spec != DIGIT_SPEC), test_fraction)


def conversion_note(n_images: int, converted: int, upscaled: int, spec: ImageSpec) -> str:
    """What converting a folder did, in one line ("" when nothing): '3 of 40 images were converted to 3x32x32
    RGB (another colour mode or size); 1 of them, smaller than 32x32, was enlarged.'"""
    if not converted:
        return ""
    text = (f"{converted:,} of {n_images:,} images {'was' if converted == 1 else 'were'} converted to "
            f"{shape_text(spec.shape)} (another colour mode or size)")
    if upscaled:
        text += (f"; {upscaled:,} of them, smaller than {spec.side}x{spec.side}, "
                 f"{'was' if upscaled == 1 else 'were'} enlarged")
    return text + "."


def _streamed(name: str, images: ImageFiles, relatives: list[str], test_fraction: float) -> Splits:
    """A stream's splits, labelled like `_from_files`; refused when no two of a sample of its files can be read."""
    if not images.readable(2):
        raise DatasetUnavailable(_too_few(images.source.where))
    tops = [parts[0] if len(parts) > 1 else None for parts in (PurePosixPath(r).parts for r in relatives)]
    return _divided(ImageData(name, images, *_labelled(tops), plain=images.source.spec != DIGIT_SPEC), test_fraction)


def _too_few(where: str) -> str:
    return f"{where} holds fewer than two readable images ({', '.join(sorted(IMAGE_SUFFIXES))})."


def _labelled(tops: list[str | None]) -> tuple[torch.Tensor, list[str]]:
    """Labels and class names from each image's first folder (None: no folder, unlabelled)."""
    import torch

    classes = sorted({top for top in tops if top is not None})
    number = {name: i for i, name in enumerate(classes)}
    labels = [number[top] if top is not None else UNLABELLED for top in tops]
    return torch.tensor(labels, dtype=torch.long), classes


def _divided(whole: ImageData, test_fraction: float) -> Splits:
    return Splits(*(whole.subset(idx) for idx in _split_indices(len(whole), test_fraction, seed=0)))


def _split_indices(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random split, so train and test never overlap across calls."""
    import torch

    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_held = max(1, int(round(n * fraction)))
    return perm[n_held:], perm[:n_held]


def random_shift(images: torch.Tensor, max_px: int, gen: torch.Generator) -> torch.Tensor:
    """Each image moved by its own whole-pixel offset in [-max_px, max_px] on both axes, zeros
    coming in: augmentation that keeps MNIST's pixel values (no resampling blur)."""
    import torch
    import torch.nn.functional as F

    (n, channels, height, width), k = images.shape, max_px
    padded = F.pad(images, (k, k, k, k))
    offsets = torch.randint(0, 2 * k + 1, (n, 2), generator=gen)
    rows = (offsets[:, 0, None] + torch.arange(height))[:, None, :, None]
    cols = (offsets[:, 1, None] + torch.arange(width))[:, None, None, :]
    return padded[torch.arange(n)[:, None, None, None], torch.arange(channels)[None, :, None, None], rows, cols]


def split_validation(data: ImageData, fraction: float, seed: int) -> tuple[ImageData, ImageData]:
    """Hold out `fraction` of a training split for validation (early stopping)."""
    train_idx, val_idx = _split_indices(len(data), fraction, seed)
    return data.subset(train_idx), data.subset(val_idx)


def available_datasets(root: str | Path | None = None) -> dict[str, bool]:
    """Which datasets the app can show without a download (digits and shapes, made here, always can).

    Not CelebA: it is streamed (its test split alone would take 1 GB as floats), and the app's pages hold
    the split they show in memory; train on it with the command line."""
    root = data_dir(root)
    found = {name: all(path.exists() for split in RAW_FILES for path in _raw_paths(name, split, root))
             for name in (*TORCHVISION_DATASETS, "cifar10")}
    return found | {FALLBACK_DATASET: True, "shapes": True}


def load_zip(data: bytes | Path, name: str, test_fraction: float = 0.2, limits: Limits = LOCAL_LIMITS,
             progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
             stream: bool | None = False, workers: int = DEFAULT_WORKERS, keep_decoded: bool = False,
             side: int | None = None, channels: int | None = None) -> Splits:
    """A zip of images (uploaded bytes, or a file on disk), labelled by subfolder and split like
    `load_folder`, within the same limits; one on disk can be streamed like a folder.

    The archive is untrusted: nothing of it is written to disk, and it is refused
    with a one-line DatasetUnavailable when it is not a zip, has more entries than `limits.files`,
    would unpack to more than `limits.bytes` (a zip bomb: refused before inflating, and what is
    really inflated is counted too), names a path outside itself, or is encrypted. A single
    folder wrapping everything (zip -r digits.zip digits/) is not a class: the classes are the
    folders inside it.
    """
    from aelab.streaming import ImageFiles

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
        paths = {info.filename: info.filename.replace("\\", "/") for info in members}  # some Windows zips use backslashes
        for path in paths.values():
            parts = path.split("/")
            if path.startswith("/") or ".." in parts or parts[0].endswith(":"):
                raise DatasetUnavailable(f"{title} is refused: the entry {path!r} points outside the archive.")
        total = sum(info.file_size for info in members)
        if total > limits.bytes:
            raise DatasetUnavailable(f"{title} would unpack to {_megabytes(total)}, more than "
                                     f"{_megabytes(limits.bytes)}, {_LIMIT}.")
        files = [info for info in members if not info.is_dir() and _is_image_name(paths[info.filename])]
        if any(info.flag_bits & 0x1 for info in files):
            raise DatasetUnavailable(f"{title} is encrypted: zip the images without a password.")
        guard.report(INDEXING, len(members), len(files))
        names = _unwrapped([PurePosixPath(paths[info.filename]).parts for info in files])
        if isinstance(data, Path) and _streams(stream, len(files), spec):
            where = data.stat()
            key = cache.cache_key(str(data.resolve()), where.st_size, where.st_mtime_ns, *_spec_key(spec)) \
                if keep_decoded else None
            images = ImageFiles(title, data, (info.filename.encode() for info in files), True, limits.pixels,
                                workers, key, spec)
            return _streamed(Path(name).stem, images, names, test_fraction)
        return _from_files(_read_members(archive, files, names), len(files), Path(name).stem, test_fraction, guard,
                           spec)


def _unwrapped(paths: list[tuple[str, ...]]) -> list[str]:
    """Drop leading folders that every path shares, so a zipped folder's own name is no class."""
    while paths and all(len(p) > 1 for p in paths) and len({p[0] for p in paths}) == 1:
        paths = [p[1:] for p in paths]
    return ["/".join(p) for p in paths]


def _read_members(archive: zipfile.ZipFile, files: list[zipfile.ZipInfo],
                  names: list[str]) -> Iterator[tuple[str, bytes | None]]:
    """Each member's bytes (None when damaged: skipped like an unreadable image)."""
    from aelab.streaming import read_member

    for info, relative in zip(files, names):
        yield relative, read_member(archive, info)
