"""A served aelab through Streamlit's AppTest: each way one browser user could reach the server's files,
another user's model or unbounded memory is refused with one line, and the local app is as it was.

Served here means AELAB_SERVED=1 (what any address but localhost gives); AppTest has no address.
"""

from __future__ import annotations

import re
import shlex
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from aelab.cli import build_parser
from aelab.images.render import to_png
from aelab.models.autoencoders import build_model
from aelab.models.config import ModelConfig
from aelab.serving import MAX_SELECTIONS, MAX_UPLOADS
from aelab.store.checkpoints import load_checkpoint, save_checkpoint
from aelab.training import jobs
from aelab.training.flags import train_config
from aelab.ui import keys, loading, navigation
from aelab.ui.text import markdown_safe

APP = str(Path(__file__).resolve().parents[2] / "app.py")
FOLDER = "Folder on the server"


@pytest.fixture
def tree(tmp_path, mnist_test):
    """allowed/digits/{1,7}/*.png, a secret folder of images beside allowed/, and links out of and inside it."""
    for folder, label in ((tmp_path / "allowed" / "digits", 1), (tmp_path / "secret", 7)):
        for digit in (label, 9):
            (folder / str(digit)).mkdir(parents=True)
            for i in (mnist_test.labels == digit).nonzero()[:10, 0].tolist():
                (folder / str(digit) / f"{i}.png").write_bytes(to_png(mnist_test.images[i, 0].numpy()))
    (tmp_path / "allowed" / "link-out").symlink_to(tmp_path / "secret", target_is_directory=True)
    return tmp_path


@pytest.fixture
def env(settings, tmp_path):
    """A served app with its own runs folder and caches; AELAB_ALLOWED_FOLDERS is tmp_path/allowed. It gives
    the `settings` fixture, for a test to change one inside."""
    with settings(
        served=True, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", allowed_folders=tmp_path / "allowed"
    ):
        yield settings
    for job in jobs.running_jobs():  # never leave a thread training after a failed test
        job.stop()
        job.join(timeout=30)


@pytest.fixture
def folders_read(monkeypatch) -> list[Path]:
    """Every folder the app starts reading images from."""
    read, load = [], loading.load_folder

    def spy(folder: Path, **kwargs):
        read.append(folder)
        return load(folder, **kwargs)

    monkeypatch.setattr(loading, "load_folder", spy)
    return read


def page(script: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(script).run()
    assert not at.exception, at.exception
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.main.error]


def test_typed_paths_outside_the_allowed_folders_are_refused_and_nothing_is_read(env, tree, folders_read):
    at = page(navigation.TRAIN.script)
    at.radio(key="train_source").set_value(FOLDER).run()
    allowed = tree / "allowed"
    for typed in (
        "/",
        "~",
        str(tree / "secret"),
        f"{allowed}/link-out",
        f"{allowed}/link-out/9",
        f"{allowed}/digits/../../secret",
        "../secret",
        f"{tree}/nothing-here",
    ):
        at.text_input(key="train_folder").set_value(typed).run()
        assert not at.exception
        assert errors(at) == [markdown_safe(refusal(typed))]
        assert at.button(key="train_start").disabled and not any("training images" in c.value for c in at.caption)
    assert folders_read == [] and not (tree / "runs").exists()  # nothing read, nothing written

    at.text_input(key="train_folder").set_value(f"{allowed}/digits/1/..").run()  # inside: read, labelled
    assert not errors(at) and folders_read == [allowed / "digits"]
    assert any(c.value.startswith("16 training images, 2 classes (1, 9)") for c in at.caption)
    at.run()  # a rerun takes the folder from the cache: its progress bar was drawn outside the cache's replay
    assert not at.exception and folders_read == [allowed / "digits"]
    assert at.text_input(key="train_name").value.startswith("vae-digits-z20-10ep-")


def refusal(typed: str) -> str:
    return f"{typed} is not open to training here: type a folder inside allowed/, relative to it (e.g. my_digits)."


def test_a_served_app_names_its_folders_relative_to_the_allowed_ones(env, tree, folders_read):
    """Nothing a browser user reads says where the server keeps its folders: not a refusal, a help text, the
    name of a folder read or refused for a limit."""
    at = page(navigation.TRAIN.script)
    at.radio(key="train_source").set_value(FOLDER).run()
    box = at.text_input(key="train_folder")
    said = [box.proto.help, box.proto.placeholder, at.text_input(key="train_name").proto.help]
    assert "inside allowed/: type a path relative to it" in said[0] and said[1] == "my_digits"
    for typed in ("../secret", "/"):
        at.text_input(key="train_folder").set_value(typed).run()
        said += errors(at)
    assert errors(at) == [markdown_safe(refusal("/"))]
    at.text_input(key="train_folder").set_value("digits").run()  # relative to the allowed folder
    assert not errors(at) and folders_read == [tree / "allowed" / "digits"]
    with env(max_files=5):
        at.text_input(key="train_folder").set_value("digits/9").run()
        said += errors(at)
        assert errors(at) == [
            markdown_safe("allowed/digits/9 holds more than 5 images, the most aelab reads from one folder or zip.")
        ]
    assert not [text for text in said if str(tree) in text or "/tmp" in text], said


def test_no_allowed_folder_hides_the_folder_box(env):
    with env(allowed_folders=""):
        at = page(navigation.TRAIN.script)
        assert at.radio(key="train_source").options == ["Built-in dataset", "Upload a zip"]


def test_a_session_replaces_only_the_models_it_trained(env, tmp_path):
    owner, other = page(navigation.TRAIN.script), page(navigation.TRAIN.script)
    suggested = [at.text_input(key="train_name").value for at in (owner, other)]
    assert all(re.fullmatch(r"vae-mnist-z20-10ep-[0-9a-f]{4}", name) for name in suggested)
    assert suggested[0] != suggested[1]  # two people's default names differ

    owner.text_input(key="train_name").set_value("ours").run()
    owner.number_input(key="train_epochs").set_value(1).run()
    owner.button(key="train_start").click().run()
    assert owner.session_state[keys.TRAIN_JOB].join(timeout=120)
    owner.run()
    trained = tmp_path / "runs" / "ours.safetensors"
    before = trained.read_bytes()

    other.text_input(key="train_name").set_value("ours").run()
    assert errors(other) == ["A model named ours exists already, trained in another session: choose another name."]
    assert other.button(key="train_start").disabled and not other.checkbox
    other.text_input(key="train_name").set_value("vae").run()
    assert errors(other) == ["vae is the name of a model that ships with aelab: choose another."]
    assert trained.read_bytes() == before  # nothing written

    assert not errors(owner) and owner.checkbox(key="train_replace").label == "Replace my existing model"
    assert "A model named ours exists already" in owner.checkbox(key="train_replace").help
    with env(served=False):  # a local app asks before replacing, whoever trained it, as before
        local = page(navigation.TRAIN.script)
        assert local.text_input(key="train_name").value == "vae-mnist-z20-10ep"  # no session suffix
        local.text_input(key="train_name").set_value("ours").run()
        assert not errors(local) and local.checkbox(key="train_replace").value is False


def test_the_file_is_named_from_the_settings_trained_and_records_its_command(env, tmp_path):
    with env(served=False):
        at = page(navigation.TRAIN.script)
        assert at.text_input(key="train_name").value == "vae-mnist-z20-10ep"
        at.select_slider(key="train_latent_vae").set_value(8)
        at.number_input(key="train_epochs").set_value(2)
        at.text_input(key="train_name").set_value("vae-mnist-z20-10ep")  # the browser still held the old suggestion
        at.button(key="train_start").click().run()
        job = at.session_state[keys.TRAIN_JOB]
        assert job.out.name == "vae-mnist-z8-2ep.safetensors" and job.cfg.model.latent_dim == 8
        assert job.join(timeout=120)
        command = load_checkpoint(job.out).meta["command"]
        assert command.startswith("python -m aelab train --model vae --dataset mnist --epochs 2 ")
        assert train_config(build_parser().parse_args(shlex.split(command)[3:])) == job.cfg
        at.run()
        assert at.sidebar.selectbox(key=keys.MODEL_LABEL) is not None and not at.exception


def test_a_training_whose_owner_left_stops_itself(env, tmp_path):
    with env(session_timeout=1):
        at = page(navigation.TRAIN.script)
        at.number_input(key="train_epochs").set_value(500).run()
        at.button(key="train_start").click().run()
        job = at.session_state[keys.TRAIN_JOB]
        deadline = time.monotonic() + 90
        while not job.snapshot().finished:  # no rerun: nobody is there any more
            assert time.monotonic() < deadline, "the run went on without its owner"
            time.sleep(0.2)
        at.run()
        assert at.info[0].value.startswith(f"**{jobs.OWNER_LEFT_LABEL}** after ")
        assert job.snapshot().history and len(job.snapshot().history) < 500


def test_a_session_keeps_a_bounded_number_of_uploads_the_oldest_going_first(env):
    at = page(navigation.RECONSTRUCT.script)

    def pngs(start: int, n: int) -> list[tuple[str, bytes, str]]:
        return [(f"{i}.png", to_png(_bar(i)), "image/png") for i in range(start, start + n)]

    at.file_uploader(key="uploader").set_value(pngs(0, 60)).run()
    assert len(at.session_state[keys.UPLOADS]) == 60 and not at.toast
    at.file_uploader(key="uploader").set_value(pngs(60, 60)).run()
    uploads, steps = at.session_state[keys.UPLOADS], at.session_state[keys.UPLOAD_STEPS]
    assert list(uploads) == [f"{i}.png" for i in range(20, 120)] and list(steps) == list(uploads)
    assert at.toast[0].value == (
        "Dropped the oldest uploads (0.png, 1.png, 2.png and 17 more): a session keeps at "
        f"most {MAX_UPLOADS} images, 32 MB."
    )
    at.file_uploader(key="uploader").set_value(pngs(200, MAX_SELECTIONS + 5)).run()
    assert f"Only the newest {MAX_SELECTIONS} files here are read: 5 older ones were not." in errors(at)
    assert len(at.session_state[keys.UPLOADS]) == MAX_UPLOADS and "204.png" not in at.session_state[keys.UPLOADS]
    assert len(at.session_state["upload_seen"]) == MAX_SELECTIONS


def _bar(i: int):
    import numpy as np

    pixels = np.zeros((28, 28), np.float32)
    pixels[4 + i % 10 : 24, 6 + i % 15 : 10 + i % 15] = 1.0
    return pixels


def test_a_stopped_load_stays_stopped_until_read_again(env, tree, folders_read):
    at = page(navigation.TRAIN.script)
    at.radio(key="train_source").set_value(FOLDER).run()
    digits = tree / "allowed" / "digits"
    at.session_state["load_stopped"] = str(digits)  # what the Stop reading button's click leaves
    at.text_input(key="train_folder").set_value(str(digits)).run()
    assert at.info[0].value == markdown_safe("Stopped reading allowed/digits.") and folders_read == []
    assert at.button(key="train_start").disabled
    at.button(key="load_again").click().run()
    assert folders_read == [digits] and any("16 training images" in c.value for c in at.caption)


def test_unusable_settings_stop_the_app_with_one_line(env):
    with env(max_files="lots"):
        at = AppTest.from_file(APP, default_timeout=120).run()
        assert not at.exception and [e.value for e in at.error] == ["AELAB_MAX_FILES is 'lots': use a positive number."]
        assert not at.title and not at.sidebar.selectbox


def test_with_an_auth_section_only_signed_in_people_get_in(env):
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x" * 32,
        "client_id": "aelab",
        "client_secret": "s",
        "server_metadata_url": "https://id.example.org/.well-known/openid-configuration",
    }
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception and at.button[0].label == "Sign in" and not at.sidebar.selectbox
    at.user = {"is_logged_in": True, "email": "ada@example.org"}
    at.run()
    assert not at.exception and at.title[0].value == "Latent map"


def test_a_served_apps_sidebar_names_no_folder_of_the_servers(env, tree, tmp_path):
    """A model trained on a folder records where it was and the command with its paths; a broken file sits
    beside it. The card, its command and the skipped file's line name folders by their own names only."""
    digits, runs = tree / "allowed" / "digits", tmp_path / "runs"
    runs.mkdir()
    command = f"python -m aelab train --model vae --dataset {digits} --out {runs / 'mine.safetensors'}"
    model = build_model(ModelConfig.for_model("vae", latent_dim=2, widths=(8,)))
    save_checkpoint(runs / "mine.safetensors", model, {"dataset": str(digits), "command": command})
    (runs / "broken.safetensors").write_bytes(b"not a checkpoint")
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.selectbox(key=keys.MODEL_LABEL).set_value("mine (yours)").run()
    shown = [c.value for c in at.sidebar.caption] + [m.value for m in at.sidebar.markdown]
    shown += [w.value for w in at.sidebar.warning]
    assert any("trained on: allowed/digits" in text for text in shown), shown  # as the folder box names it
    assert any("--dataset allowed/digits --out runs/mine.safetensors" in text for text in shown), shown
    assert any(text.startswith("Skipped broken.safetensors") for text in shown), shown
    assert not [text for text in shown if str(tmp_path) in text], shown
    with env(served=False):  # a local app's card says where, as before
        local = AppTest.from_file(APP, default_timeout=120).run()
        local.sidebar.selectbox(key=keys.MODEL_LABEL).set_value("mine (yours)").run()
        assert any(str(digits) in c.value for c in local.sidebar.caption)
