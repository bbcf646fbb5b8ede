"""The datasets aelab knows by name: where their files live, their shapes and titles, and how each is loaded
(torchvision's files, CelebA, scikit-learn's digits, the package's shapes and dSprites-like sprites).
Torch and the folder readers are imported by the functions that load images, so what is told without
loading them (names, shapes, titles, labels) does not import them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aelab.data import shapes
from aelab.data.dataset import UNLABELLED, DatasetUnavailable, ImageData, split_indices
from aelab.images.inputs import ImageSpec
from aelab.models.config import DIGIT_SHAPE, shape_text
from aelab.settings import DEFAULT_WORKERS, LOCAL_LIMITS, STREAM_LIMITS, Limits, current, variable
from aelab.store import cache

if TYPE_CHECKING:
    from aelab.data.folders import Progress

TORCHVISION_DATASETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}
# The files torchvision reads from <root>/<class name>/raw/ (the same names for all three), and the
# class names it gives: listed here so that finding and decoding a split (the app's first start,
# through the disk cache) does not import torchvision, a slow import. Tests check both against it.
RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_DIGIT_WORDS = "zero one two three four five six seven eight nine".split()
CLASSES = {
    "mnist": [f"{d} - {word}" for d, word in enumerate(_DIGIT_WORDS)],
    "fashion_mnist": "T-shirt/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot".split("|"),
    "kmnist": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
}
# Colour datasets torchvision downloads: the folder under the data folder and the files read from it.
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_FILES = {
    "train": (*(f"data_batch_{i}" for i in range(1, 6)), "batches.meta"),
    "test": ("test_batch", "batches.meta"),
}
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CELEBA_FOLDER = "celeba"  # torchvision's layout: celeba/img_align_celeba/*.jpg and celeba/list_eval_partition.txt
CELEBA_IMAGES, CELEBA_PARTITION = "img_align_celeba", "list_eval_partition.txt"
CELEBA_SPLITS = {"train": ("0", "1"), "test": ("2",)}  # partition numbers: train (and validation) and test
# The DCGAN recipe for CelebA: the aligned 178x218 face centre-cropped to 140x140, then resized to 64x64.
CELEBA_SPEC = ImageSpec(3, 64, digits=False, crop=140)
SHAPES_SPLIT = {"train": 20_000, "test": 5_000}  # shapes drawn for each split (of 138,240 combinations)
SHAPES_SEED = 0
# dSprites' recipe made here (aelab.data.shapes.DSPRITES: 11,520 combinations), small enough to train on one core
DSPRITES_SPLIT = {"train": 9_520, "test": 2_000}
RECIPES = {"shapes": (shapes.SHAPES_RECIPE, SHAPES_SPLIT), "dsprites": (shapes.DSPRITES, DSPRITES_SPLIT)}
COLOUR_DATASETS = ("cifar10", "celeba")
DECODED = (*TORCHVISION_DATASETS, "cifar10")  # whose splits the disk cache keeps decoded: labels without pixels
DATASETS = (*TORCHVISION_DATASETS, *COLOUR_DATASETS, "digits", *RECIPES)
# The images each dataset holds; a folder's or zip's are picked by its person.
DATASET_SHAPES = {
    **{name: DIGIT_SHAPE for name in (*TORCHVISION_DATASETS, "digits")},
    "cifar10": (3, 32, 32),
    "celeba": CELEBA_SPEC.shape,
    "shapes": (3, 64, 64),
    "dsprites": (1, 32, 32),
}


DATASET_TITLES = {
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "kmnist": "KMNIST",
    "cifar10": "CIFAR-10",
    "celeba": "CelebA",
    "digits": "scikit-learn digits",
    "shapes": "shapes",
    "dsprites": "dSprites recipe",
}
FALLBACK_DATASET = "digits"  # bundled with scikit-learn, so always there: what the app shows offline


def dataset_title(name: str) -> str:
    """A dataset's name as people write it; a folder's or zip's own name (never where it lies)."""
    return DATASET_TITLES.get(name, Path(name).name or name)


def data_dir(path: str | Path | None = None) -> Path:
    """The argument, else the settings' data folder (aelab.settings: $AELAB_DATA_DIR or its default). The one
    rule the app, the CLI and the tests share, so that they all read (and `python -m aelab data` downloads
    to) the same folder."""
    return Path(path).expanduser() if path else current().data_dir


def dataset_shape(name: str) -> tuple[int, int, int] | None:
    """The (C, H, W) of a known dataset's images; None for a folder or zip (its person picks)."""
    return DATASET_SHAPES.get(name)


def load_dataset(
    name: str,
    split: str = "train",
    root: str | Path | None = None,
    download: bool = True,
    cached: bool = False,
    stream: bool | None = False,
    workers: int = DEFAULT_WORKERS,
    keep_decoded: bool = False,
    progress: Progress | None = None,
    side: int | None = None,
    channels: int | None = None,
    limits: Limits | None = None,
) -> ImageData:
    """Load `name` (a known dataset, a folder of images or a zip of them) for split 'train' or 'test'.

    With `cached`, a torchvision dataset's decoded split is kept in the disk cache, keyed by
    its raw files' size and modification time: the app's later starts then skip importing
    torchvision, which takes as long as the whole first page may. A folder or zip is read into
    memory within LOCAL_LIMITS, or streamed within STREAM_LIMITS, or within `limits` (`stream`; None: by size, see
    `load_folder`), its files made `side` x `side` with `channels` (`folder_spec`); `progress` hears
    how indexing and reading go. A known dataset asked for another side or channels is padded or resized
    to them (`fitted`), as models of that shape are trained on it. CelebA is always streamed (162,770 training
    faces would take 8 GB as floats).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    native = DATASET_SHAPES.get(name)
    if native and (side not in (None, native[1]) or channels not in (None, native[0])):
        data = load_dataset(name, split, root, download, cached, stream, workers, keep_decoded, progress)
        return fitted(data, channels or native[0], side or native[1])
    if name in TORCHVISION_DATASETS or name == "cifar10":
        if cached:
            return _load_cached(name, split, data_dir(root), download)
        return _load_torchvision(name, split, data_dir(root), download)
    if name == "celeba":
        return _load_celeba(split, data_dir(root), download, workers, keep_decoded)
    if name == "digits":
        return load_digits(split)
    if name in RECIPES:
        return load_shapes(split, name)
    from aelab.data.folders import load_folder, load_zip

    path = Path(name).expanduser()
    if path.is_dir():
        read = functools.partial(load_folder, path)
    elif path.is_file() and path.suffix.lower() == ".zip":
        read = functools.partial(load_zip, path, path.name)
    else:
        raise ValueError(f"Unknown dataset {name!r}: use one of {', '.join(DATASETS)}, a folder of images or a zip")
    splits = read(
        limits=limits or (LOCAL_LIMITS if stream is False else STREAM_LIMITS),
        progress=progress,
        stream=stream,
        workers=workers,
        keep_decoded=keep_decoded,
        side=side,
        channels=channels,
    )
    return getattr(splits, split)


PAD_AT_MOST = 4  # a side up to this many pixels larger is padded, as LeNet and DCGAN take MNIST at 32 px; more: resized


def fitted(data: ImageData, channels: int, side: int) -> ImageData:
    """A known dataset's split at another side and channels: padded with black when the side grows by at most
    PAD_AT_MOST pixels, else resized; gray repeated to RGB or RGB made gray (ITU-R 601 luma). Its note says so."""
    import torch
    import torch.nn.functional as F

    if not isinstance(data.images, torch.Tensor):
        raise ValueError(f"{dataset_title(data.name)} is streamed from its files: it is read at its own shape only")
    x, (was_channels, was_side) = data.images, data.images.shape[1:3]
    if side != was_side:
        grow = side - was_side
        if 0 < grow <= PAD_AT_MOST:
            x = F.pad(x, (grow // 2, grow - grow // 2, grow // 2, grow - grow // 2))
        else:
            x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    if channels != was_channels:
        luma = torch.tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)
        x = x.repeat(1, 3, 1, 1) if channels == 3 else (x * luma).sum(1, keepdim=True)
    note = fitted_note(data.name, (was_channels, was_side, was_side), (channels, side, side))
    return dataclasses.replace(data, images=x.contiguous(), note=note)


def fitted_note(name: str, native: tuple[int, int, int], shape: tuple[int, int, int]) -> str:
    """What `fitted` does to dataset `name` (of shape `native`) to give it `shape`, in one line."""
    steps = []
    if shape[1] != native[1]:
        padded = 0 < shape[1] - native[1] <= PAD_AT_MOST
        steps.append(f"{'padded' if padded else 'resized'} from {native[1]} to {shape[1]} px")
    if shape[0] != native[0]:
        steps.append("gray repeated to 3 channels" if shape[0] == 3 else "made gray")
    return f"{dataset_title(name)} {', '.join(steps)}, as models of {shape_text(shape)} take it"


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

    from torchvision import datasets  # only to download or to read CIFAR-10: a slow import, not on the cached path

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
    return ImageData(
        name, pixels.float().div_(255.0), torch.from_numpy(arrays["labels"]).long(), [str(c) for c in arrays["classes"]]
    )


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
                raise DatasetUnavailable(
                    f"{paths[0].parent}: {RAW_FILES[split][0]} and {RAW_FILES[split][1]} "
                    "do not hold one label per image"
                )
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

    from aelab.data.folders import spec_key
    from aelab.data.streaming import ImageFiles

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
        raise DatasetUnavailable(
            f"{partition} is not CelebA's partition list (a file name and 0, 1 or 2 per "
            "line): delete it to download it again"
        ) from None
    if not names:
        raise DatasetUnavailable(f"{partition} names no image of the {split} split")
    images = ImageFiles(
        DATASET_TITLES["celeba"],
        folder,
        (n.encode() for n in names),
        False,
        STREAM_LIMITS.pixels,
        workers,
        cache.cache_key(str(folder.resolve()), split, partition.stat().st_mtime_ns, *spec_key(CELEBA_SPEC)),
        keep_decoded,
        CELEBA_SPEC,
    )
    return ImageData("celeba", images, torch.full((len(names),), UNLABELLED, dtype=torch.long), [])


def factor_names(name: str) -> tuple[str, ...]:
    """The generating factors a dataset knows (shapes' six, dsprites' five), told without loading it; () for
    the others."""

    return RECIPES[name][0].names if name in RECIPES else ()


def load_shapes(split: str = "train", name: str = "shapes") -> ImageData:
    """A dataset of aelab.data.shapes' recipes (RECIPES), drawn here at its DATASET_SHAPES (no download; the same
    for SHAPES_SEED on every machine), its split's size of them, train and test disjoint; labelled by shape,
    with all its factors kept."""
    import torch

    recipe, sizes = RECIPES[name]
    channels, side, _ = DATASET_SHAPES[name]
    pixels, factors = shapes.shapes_split(split, sizes["train"], sizes["test"], SHAPES_SEED, side, channels, recipe)
    column = recipe.names.index("shape")
    return ImageData(
        name,
        torch.from_numpy(pixels),
        torch.from_numpy(factors[:, column]),
        list(recipe.factors[column].labels),
        factors,
        recipe.names,
    )


def _read_idx(path: Path) -> np.ndarray:
    """An array of bytes in the idx format the MNIST family ships in (what torchvision reads): two zero
    bytes, 0x08 (unsigned bytes), the number of dimensions, each size as a big-endian uint32, the data."""
    data = bytearray(path.read_bytes())  # writable, like every array the loaders return
    rank = data[3] if len(data) > 4 else 0
    sizes = np.frombuffer(data, ">u4", count=rank, offset=4) if len(data) >= 4 + 4 * rank else None
    if data[:3] != b"\x00\x00\x08" or sizes is None or len(data) != 4 + 4 * rank + int(np.prod(sizes)):
        raise DatasetUnavailable(
            f"{path} is not an idx file of bytes (the MNIST format): delete it to download it again"
        )
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(sizes)


def load_labels(name: str, split: str = "test", root: str | Path | None = None) -> tuple[np.ndarray, list[str]]:
    """A split's labels (int64, UNLABELLED where unknown) and class names, never downloading. For the
    MNIST family and CIFAR-10 they come from the disk cache without the pixels: the map colours by them."""
    root = data_dir(root)
    if name in DECODED and all(path.exists() for path in _raw_paths(name, split, root)):
        arrays = _decoded_split(name, split, root, ("labels", "classes"))
        return arrays["labels"].astype(np.int64), [str(c) for c in arrays["classes"]]
    data = load_dataset(name, split, root, download=False, cached=True)
    return data.labels.numpy(), data.classes


def _missing_message(name: str, root: Path, split: str) -> str:
    """One line: the folder a split should be in, the files expected there, and the two ways to get them."""
    if name == "cifar10":
        title, where, files = DATASET_TITLES[name], CIFAR_FOLDER, CIFAR_FILES[split]
    elif name == "celeba":
        faces = f"{CELEBA_IMAGES}/ (the aligned faces, 000001.jpg ...)"
        title, where, files = DATASET_TITLES[name], CELEBA_FOLDER, (faces, CELEBA_PARTITION)
    else:
        title = TORCHVISION_DATASETS[name]
        where, files = f"{title}/raw", RAW_FILES[split]
    listed = ", ".join(files[:-1]) + f" and {files[-1]}"
    return (
        f"{title} ({split} split) is not in {root / where}: expected {listed} there. Set {variable('data_dir')} "
        f"to a folder holding {where}/, or connect to the internet to download it."
    )


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
    train_idx, test_idx = split_indices(len(images), test_fraction, seed=0)
    idx = train_idx if split == "train" else test_idx
    return ImageData("digits", images[idx], labels[idx], [str(d) for d in range(10)])


def available_datasets(root: str | Path | None = None) -> dict[str, bool]:
    """Which datasets the app can show without a download (digits and the shapes recipes, made here, always can).
    CelebA is streamed: the app holds a seeded part of its test split (aelab.data.sources.held)."""
    root = data_dir(root)
    found = {
        name: all(path.exists() for split in RAW_FILES for path in _raw_paths(name, split, root))
        for name in (*TORCHVISION_DATASETS, *COLOUR_DATASETS)
    }
    return found | {FALLBACK_DATASET: True} | dict.fromkeys(RECIPES, True)
