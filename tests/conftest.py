"""Shared fixtures: the real MNIST files from the data folder (`aelab.data.registry.data_dir()`, the app's and
the CLI's, which tests/run.sh fills first) and a private cache folder."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

import aelab.settings

# One intra-op thread: on 2 cores shared with a Streamlit server and a browser, two OpenMP
# threads spin against each other and small models train 10-30x slower.
torch.set_num_threads(1)


def _text(value: Any) -> str:
    """A setting's value as its variable spells it: a flag 1 or 0, folders joined by os.pathsep."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (tuple, list)):
        return os.pathsep.join(str(item) for item in value)
    return str(value)


@pytest.fixture(scope="session")
def settings() -> Callable[..., AbstractContextManager[None]]:
    """`with settings(runs_dir=path, served=True, max_files="lots"):` runs its block under those aelab settings
    (field names of aelab.settings.Settings; None unsets one; a string is written as it is, so a bad value can
    be tried). It sets the AELAB_* variables, so subprocesses and AppTests see them, and has aelab read them
    again on entry and on exit. One fixture for every scope: a module's environment is a `with` in its fixture."""

    @contextmanager
    def override(**overrides: Any) -> Iterator[None]:
        try:
            with pytest.MonkeyPatch.context() as patch:
                for name, value in overrides.items():
                    if value is None:
                        patch.delenv(aelab.settings.variable(name), raising=False)
                    else:
                        patch.setenv(aelab.settings.variable(name), _text(value))
                aelab.settings.reload()
                yield
        finally:
            aelab.settings.reload()

    return override


@pytest.fixture(autouse=True, scope="session")
def _private_cache(
    settings: Callable[..., AbstractContextManager[None]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Projections computed by tests go to a fresh folder, never the user's ~/.cache."""
    with settings(cache_dir=tmp_path_factory.mktemp("cache")):
        yield


@pytest.fixture(scope="session")
def mnist_train():
    from aelab.data.registry import load_dataset

    return load_dataset("mnist", "train", download=False)


@pytest.fixture(scope="session")
def mnist_test():
    from aelab.data.registry import load_dataset

    return load_dataset("mnist", "test", download=False)


@pytest.fixture(scope="session")
def small(mnist_train):
    """The first 1,200 training digits: enough for training runs of a few seconds."""
    return mnist_train.subset(range(1200))


@pytest.fixture(scope="session")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Your own models for the unit and the app tier, built once: the example of docs/own-model.md trained and
    imported, and other networks' modules and weights, in a folder on sys.path (tests/own_models.py)."""
    from own_models import build_own

    yield from build_own(tmp_path_factory)


def _once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], object]) -> Path:
    """A folder `make` fills once per test run. Under pytest-xdist (`pytest` alone runs two workers) the workers
    share it: the first fills it under a file lock while the other waits, so models a session fixture trains are
    trained once, not once a worker."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    from filelock import FileLock

    folder = tmp_path_factory.getbasetemp().parent / name  # the run's folder, above each worker's own
    with FileLock(f"{folder}.lock"):
        if not (folder / ".done").exists():
            folder.mkdir(exist_ok=True)
            make(folder)
            (folder / ".done").touch()
    return folder


@pytest.fixture(scope="session")
def conventions(mnist_train, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Own models written to other conventions than aelab's, each trained briefly with its own loss: their weights
    by name (tests/convention_models.py)."""
    from convention_models import MODELS, train_all

    folder = _once(tmp_path_factory, "conventions", lambda into: train_all(mnist_train.images[:8000], into))
    return {name: folder / f"{name}.safetensors" for name in MODELS}


@pytest.fixture(scope="session")
def spatial_runs(mnist_train, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder holding `spatial.safetensors`: tests/convention_models.py's conv bottleneck (codes 8x4x4),
    trained alone as the `conventions` fixture trains it, and imported."""
    from convention_models import imported, train_all

    def make(folder: Path) -> None:
        weights = train_all(mnist_train.images[:8000], folder, names=("spatial",))["spatial"]
        code, _, err = imported("spatial", weights, folder / "runs" / "spatial.safetensors")
        assert code == 0, err

    return _once(tmp_path_factory, "spatial", make) / "runs"


def _app_key(at):
    """The ModelData the app's sidebar chose in an AppTest (Context.key: the model, its data at its shape)."""
    from aelab.store.checkpoints import file_digest, read_metadata
    from aelab.ui import keys
    from aelab.ui.context import Context

    path = at.session_state[keys.MODEL_PATH]
    return Context(path, file_digest(path), read_metadata(path), at.session_state[keys.DATASET]).key


@pytest.fixture(scope="session")
def click_map():
    """`click_map(at, index=None, location=None, split="test", whole=False)` stores in an AppTest what a click on
    the latent map stores: a dataset row or a spot, with the model and data of the app's sidebar (and the map's
    split, all of it when `whole`: a streamed one's)."""
    from dataclasses import replace

    from aelab.ui import keys

    def click(
        at, index: int | None = None, location: tuple[float, float] | None = None, split: str = "test", whole=False
    ) -> None:
        context = replace(_app_key(at), split=split, whole=whole)
        at.session_state[keys.MAP_CLICK] = keys.MapClick(context, index, location)
        if keys.MAP_REGION in at.session_state:  # a click replaces a box or lasso, as keys.set_map_click does
            del at.session_state[keys.MAP_REGION]

    return click


@pytest.fixture(scope="session")
def lasso_map():
    """`lasso_map(at, rows)` stores in an AppTest what a box or lasso on the latent map stores: its dataset rows."""
    from aelab.ui import keys

    def lasso(at, rows) -> None:
        context = _app_key(at)
        at.session_state[keys.MAP_REGION] = keys.MapRegion(context, tuple(int(r) for r in rows))

    return lasso
