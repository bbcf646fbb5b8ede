"""Background training jobs and uploaded zips of images, on the real MNIST files."""

from __future__ import annotations

import importlib
import io
import sys
import time
import zipfile

import pytest
import torch
from zips import zip_of

from aelab.data.dataset import DatasetUnavailable
from aelab.data.folders import load_zip
from aelab.images.render import to_png
from aelab.models.config import ModelConfig
from aelab.serving import OwnerWatch
from aelab.settings import Limits
from aelab.store.checkpoints import load_checkpoint
from aelab.training import jobs
from aelab.training.config import Status, TrainConfig


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(model=ModelConfig.for_model("vae"), dataset="mnist", batch_size=64, patience=0, **kw)


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the job made no progress in time"
        time.sleep(0.05)


def test_a_job_trains_in_the_background_and_saves_a_loadable_model(small, mnist_test, tmp_path):
    out = tmp_path / "bg.safetensors"
    job = jobs.TrainingJob()
    job.start(_cfg(epochs=2), small, out, mnist_test.subset(range(500)))
    assert job.snapshot().status == "running"  # start() returned while the thread trains
    assert job.join(timeout=120)
    snap = job.snapshot()
    assert snap.status == "finished", snap.error
    assert [h.epoch for h in snap.history] == [1, 2] and snap.fraction == 1.0
    assert snap.epoch == 2 and snap.batch == snap.n_batches == 17  # 1080 training images in batches of 64
    assert snap.reconstructions.shape == snap.originals.shape == (jobs.N_PREVIEW, 28, 28)
    assert snap.preview_epoch == 2 and 0.0 <= snap.reconstructions.min() <= snap.reconstructions.max() <= 1.0
    assert ((snap.reconstructions - snap.originals) ** 2).mean() < (snap.originals**2).mean()  # beats a blank
    ckpt = load_checkpoint(out)
    assert ckpt.meta["status"] == "finished" and ckpt.meta["epochs"] == 2 and job.snapshot().result.path == out
    assert ckpt.meta["metrics"] == snap.metrics and snap.metrics["images"] == 500
    assert (
        ckpt.meta["command"]
        == job.command
        == (  # as the CLI records the command it ran
            f"python -m aelab train --model vae --dataset mnist --epochs 2 --batch-size 64 --patience 0 --out {out}"
        )
    )


def test_a_stopped_job_ends_stopped_and_keeps_a_loadable_model(small, tmp_path):
    out = tmp_path / "stopped.safetensors"
    job = jobs.TrainingJob()
    job.start(_cfg(epochs=200), small, out)
    _wait_for(lambda: len(job.snapshot().history) >= 2)
    job.stop()
    assert job.join(timeout=60)
    assert job.snapshot().status == "stopped" and 2 <= len(job.snapshot().history) < 200
    assert job.snapshot().stop_requested and job.snapshot().result.path == out
    assert load_checkpoint(out).meta["status"] == "stopped"


def test_a_diverging_job_says_so(small, tmp_path):
    job = jobs.TrainingJob()
    job.start(_cfg(epochs=3, lr=1e9), small, tmp_path / "diverged.safetensors")
    assert job.join(timeout=60)
    assert job.snapshot().status == "diverged" and "Try a lower learning rate" in job.snapshot().result.message


def test_an_exception_in_the_thread_becomes_a_one_line_error(small, tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("the checkpoint cannot be saved under a file")
    job = jobs.TrainingJob()
    job.start(_cfg(epochs=1), small.subset(range(300)), not_a_folder / "m.safetensors")
    assert job.join(timeout=60)
    assert job.snapshot().status == "error" and job.snapshot().result is None
    assert (
        job.snapshot().error.startswith(("FileExistsError", "NotADirectoryError")) and "\n" not in job.snapshot().error
    )


def test_a_clashing_name_and_a_job_beyond_the_limit_are_refused_even_after_a_reimport(small, tmp_path):
    running = [jobs.submit(_cfg(epochs=200), small, tmp_path / f"r{i}.safetensors") for i in range(jobs.MAX_RUNNING)]
    original = sys.modules.pop(
        "aelab.training.jobs"
    )  # what Streamlit does to the app's modules when a source file changes
    try:
        fresh = importlib.import_module("aelab.training.jobs")
        assert fresh is not original and set(fresh.running_jobs()) == set(running)
        with pytest.raises(fresh.JobRefused, match="r0 is being trained right now"):
            fresh.submit(_cfg(epochs=1), small, tmp_path / "r0.safetensors")
        with pytest.raises(fresh.JobRefused, match="already training"):
            fresh.submit(_cfg(epochs=1), small, tmp_path / "third.safetensors")
    finally:
        sys.modules["aelab.training.jobs"] = original
        for job in running:
            job.stop()
    assert all(job.join(timeout=60) for job in running) and not jobs.running_jobs()
    assert [job.snapshot().status for job in running] == ["stopped"] * jobs.MAX_RUNNING
    again = jobs.submit(_cfg(epochs=1), small.subset(range(300)), tmp_path / "again.safetensors")
    assert again.join(timeout=60) and again.snapshot().status == "finished"


# --- zips ------------------------------------------------------------------------------------


def test_a_zip_of_digits_in_class_folders_loads_with_their_labels(mnist_test):
    sources = {digit: torch.nonzero(mnist_test.labels == digit)[:15, 0].tolist() for digit in (3, 7)}
    entries = {
        f"digits/{digit}/{i}.png": to_png(mnist_test.images[i, 0].numpy())
        for digit, indices in sources.items()
        for i in indices
    }
    entries |= {"__MACOSX/digits/3/._0.png": b"resource fork", "digits/notes.txt": b"not an image"}
    data = zip_of(entries)
    train, test = load_zip(data, "digits.zip")
    assert train.name == "digits" and train.classes == test.classes == ["3", "7"]  # the wrapping folder is no class
    assert (len(train), len(test)) == (24, 6)
    originals = torch.stack([mnist_test.images[i, 0] for indices in sources.values() for i in indices])
    truth = torch.tensor([c for c, indices in enumerate(sources.values()) for _ in indices])
    for part in (train, test):  # each image keeps the label of the digit it was made from
        distance = ((part.images[:, None, 0] - originals[None]) ** 2).flatten(2).mean(2)
        assert torch.equal(part.labels, truth[distance.argmin(1)])


@pytest.mark.parametrize("evil", ["../evil.png", "digits/../../evil.png", "/etc/evil.png", "..\\evil.png"])
def test_a_zip_with_a_path_outside_itself_is_refused(mnist_test, evil):
    png = to_png(mnist_test.images[0, 0].numpy())
    with pytest.raises(DatasetUnavailable, match="points outside the archive"):
        load_zip(zip_of({"ok/1.png": png, "ok/2.png": png, evil: png}), "evil.zip")


LIMITS = Limits(files=100, bytes=50 * 2**20, pixels=1_000_000, seconds=60.0)


def test_a_zip_bomb_is_refused_before_it_is_inflated():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("bomb.png", "w") as member:
        chunk = bytes(1 << 20)
        for _ in range(LIMITS.bytes // len(chunk) + 1):
            member.write(chunk)
    assert len(buffer.getvalue()) < 1 << 20  # small to upload, over the limit once inflated
    with pytest.raises(DatasetUnavailable, match="would unpack to 51 MB, more than 50 MB, the most aelab reads"):
        load_zip(buffer.getvalue(), "bomb.zip", limits=LIMITS)


def test_a_zip_with_too_many_entries_or_no_zip_at_all_is_refused():
    with pytest.raises(DatasetUnavailable, match="many.zip holds more than 100 files"):
        load_zip(zip_of({f"{i}.png": b"" for i in range(LIMITS.files + 1)}), "many.zip", limits=LIMITS)
    with pytest.raises(DatasetUnavailable, match="not a zip file"):
        load_zip(b"PNG? no: plain text", "fake.zip")


def test_a_job_whose_owner_left_stops_itself_and_says_so(small, tmp_path):
    job = jobs.submit(_cfg(epochs=500), small, tmp_path / "left.safetensors", watch=OwnerWatch(0.5))
    beating = jobs.submit(_cfg(epochs=500), small, tmp_path / "here.safetensors", watch=OwnerWatch(0.5))
    try:
        deadline = time.monotonic() + 60
        while not job.snapshot().finished:  # one owner keeps beating (its page reruns), the other is gone
            assert time.monotonic() < deadline, "the job whose owner left kept training"
            beating.watch.beat()
            time.sleep(0.1)
        snap = job.snapshot()
        assert snap.status == Status.STOPPED and snap.owner_left and snap.label == jobs.OWNER_LEFT_LABEL
        assert beating.snapshot().running and not beating.snapshot().owner_left
    finally:
        beating.stop()
        assert beating.join(timeout=60)
    assert beating.snapshot().label == "Stopped"  # stopped by its owner: the plain word
    local = OwnerWatch(None)  # a local app's watch never expires, however long the owner is silent
    local.last -= 10**6
    assert not local.expired()
