"""What the pages drew, read back in AppTest: pictures embedded as data URIs, and files in the media store.

Download buttons and served pictures only carry a media URL, so a page's files are read back from
the media storage the test runtime keeps (recorded by a subclass of Streamlit's in-memory storage;
nothing is replaced). Use `recording(monkeypatch)` before the AppTest is created.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import app_test as app_test_module

DATA_PNG = "data:image/png;base64,"


class RecordingStorage(MemoryMediaFileStorage):
    """Streamlit's in-memory media storage that also keeps every file by id for the test to read."""

    files: dict[str, bytes] = {}

    def load_and_get_id(self, path_or_data, mimetype, kind, filename=None) -> str:
        file_id = super().load_and_get_id(path_or_data, mimetype, kind, filename)
        RecordingStorage.files[file_id] = self.get_file(file_id).content
        return file_id


def recording(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the AppTests created after this keep their media files in RecordingStorage.files."""
    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", RecordingStorage)


def content(url: str) -> bytes:
    """The bytes behind an st.image or download URL: a data URI's own, else the media file's."""
    if url.startswith(DATA_PNG):
        return base64.b64decode(url[len(DATA_PNG) :])
    return RecordingStorage.files[url.rsplit("/", 1)[1].split(".")[0]]


def picture(url: str) -> Image.Image:
    return Image.open(io.BytesIO(content(url)))


def pixels(url: str) -> np.ndarray:
    """The picture as floats in [0, 1], (H, W) or (H, W, 3)."""
    return np.asarray(picture(url), dtype=np.float32) / 255.0


def colourful(url: str) -> bool:
    """Whether a drawn picture is RGB with pixels whose channels differ (not gray shown as RGB)."""
    picture = pixels(url)
    return picture.ndim == 3 and float(np.ptp(picture, axis=2).max()) > 0.2


@contextmanager
def private_app(
    settings: Callable[..., AbstractContextManager[None]],
    tmp_path_factory: pytest.TempPathFactory,
    runs: Path | None = None,
) -> Iterator[None]:
    """The AppTests run inside get a disk cache and runs folder of their own (`runs` when given), set through
    the `settings` fixture, and their media files are recorded for reading back."""
    with (
        settings(cache_dir=tmp_path_factory.mktemp("cache"), runs_dir=runs or tmp_path_factory.mktemp("runs")),
        pytest.MonkeyPatch.context() as mp,
    ):
        recording(mp)
        yield
