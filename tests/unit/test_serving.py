"""A served aelab's rules: settings from the environment, folders, run files, session bounds, owners."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from aelab import serving
from aelab.models.config import ModelConfig
from aelab.serving import FolderRefused, OwnerWatch, Rules, resolve_folder, rules, shown_folder
from aelab.settings import LOCAL_LIMITS, SERVED_LIMITS, SERVED_SESSION_TIMEOUT, Limits, SettingsError, read
from aelab.training.config import TrainConfig
from aelab.training.trainer import train


def rules_for(address: str | None, environ: dict[str, str]) -> Rules:
    """The rules of an app bound to `address` under the settings `environ` gives."""
    return rules(address, read(environ))


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1", "127.4.5.6", "::1", "[::1]", "::ffff:127.0.0.1"])
def test_loopback_addresses_are_local(address):
    assert serving.is_local_address(address)


@pytest.mark.parametrize(
    "address", [None, "", "0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "aelab.example.org", "localhost.example.org"]
)
def test_every_other_address_is_served(address):
    assert not serving.is_local_address(address)


def test_a_local_app_reads_any_folder_and_keeps_training_as_before():
    local = rules_for("localhost", {})
    assert local == Rules(
        served=False,
        allowed_folders=None,
        shared_runs=False,
        session_timeout=None,
        limits=LOCAL_LIMITS,
        private_folders=local.private_folders,
    )
    data = str(local.private_folders[0])
    assert local.public(f"No MNIST in {data}") == f"No MNIST in {data}"  # a local app's messages say where


def test_a_served_apps_messages_name_its_folders_by_their_names_only(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data", target_is_directory=True)
    environ = {"AELAB_DATA_DIR": str(tmp_path / "link"), "AELAB_RUNS_DIR": str(tmp_path / "runs")}
    served = rules_for("0.0.0.0", environ)
    assert served.private_folders[:2] == (tmp_path / "link", tmp_path / "runs")
    message = (
        f"MNIST's test split is not in {tmp_path}/link/MNIST/raw (nor in {tmp_path}/data/MNIST/raw); "
        f"{tmp_path}/runs/mine.safetensors is not a checkpoint"
    )
    assert served.public(message) == (
        "MNIST's test split is not in link/MNIST/raw (nor in data/MNIST/raw); runs/mine.safetensors is not a checkpoint"
    )


def test_a_served_app_opens_only_the_data_folder_and_has_tighter_limits(tmp_path):
    served = rules_for("0.0.0.0", {"AELAB_DATA_DIR": str(tmp_path)})
    assert served.served and served.allowed_folders == (tmp_path.resolve(),)
    assert served.session_timeout == SERVED_SESSION_TIMEOUT and not served.shared_runs
    assert served.limits == SERVED_LIMITS
    assert all(getattr(served.limits, f) <= getattr(LOCAL_LIMITS, f) for f in ("files", "bytes", "pixels", "seconds"))


def test_the_operator_overrides_every_default(tmp_path):
    env = {
        "AELAB_SERVED": "0",
        "AELAB_ALLOWED_FOLDERS": f"{tmp_path}{os.pathsep} {os.pathsep}~",
        "AELAB_SHARED_RUNS": "1",
        "AELAB_SESSION_TIMEOUT": "30",
        "AELAB_MAX_FILES": "500",
        "AELAB_MAX_MB": "2.5",
        "AELAB_MAX_MEGAPIXELS": "4",
        "AELAB_MAX_SECONDS": "9",
    }
    chosen = rules_for(None, env)  # all interfaces, yet local because the operator says so
    assert chosen == Rules(
        False,
        (tmp_path.resolve(), Path(os.path.realpath(Path.home()))),
        True,
        30.0,
        Limits(files=500, bytes=int(2.5 * 2**20), pixels=4_000_000, seconds=9.0),
        chosen.private_folders,
    )
    assert rules_for("127.0.0.1", {"AELAB_SERVED": "yes"}).served
    assert rules_for("::", {"AELAB_ALLOWED_FOLDERS": ""}).allowed_folders == ()  # set but empty: no folders
    assert rules_for("::", {"AELAB_SESSION_TIMEOUT": "0"}).session_timeout is None


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("AELAB_SERVED", "maybe", "AELAB_SERVED is 'maybe': use 1 or 0."),
        ("AELAB_MAX_FILES", "lots", "AELAB_MAX_FILES is 'lots': use a positive number."),
        ("AELAB_MAX_SECONDS", "0", "AELAB_MAX_SECONDS is '0': use a positive number."),
        ("AELAB_MAX_MB", "inf", "AELAB_MAX_MB is 'inf': use a positive number."),
        ("AELAB_SESSION_TIMEOUT", "-5", "AELAB_SESSION_TIMEOUT is '-5': use a positive number (or 0 for none)."),
        ("AELAB_MAX_MEGAPIXELS", "30", "AELAB_MAX_MEGAPIXELS is 30: aelab decodes images of at most 25 megapixels."),
    ],
)
def test_an_unusable_setting_names_its_variable(name, value, message):
    with pytest.raises(SettingsError) as err:
        rules_for("localhost", {name: value})
    assert str(err.value) == message


# --- folders ---------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path):
    """allowed/{digits,link-out,link-in}, a secret folder beside it, and `root`, a link to allowed."""
    (tmp_path / "allowed" / "digits" / "sub").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (tmp_path / "allowed" / "link-out").symlink_to(tmp_path / "secret", target_is_directory=True)
    (tmp_path / "allowed" / "link-in").symlink_to(tmp_path / "allowed" / "digits", target_is_directory=True)
    (tmp_path / "root").symlink_to(tmp_path / "allowed", target_is_directory=True)
    return tmp_path


def test_folders_inside_an_allowed_one_resolve_to_their_real_path(tree):
    allowed = [tree / "allowed"]
    assert resolve_folder(f"  {tree}/allowed/digits  ", allowed) == tree / "allowed" / "digits"
    assert resolve_folder(f"{tree}/allowed/digits/sub/..", allowed) == tree / "allowed" / "digits"
    assert resolve_folder(f"{tree}/allowed/link-in", allowed) == tree / "allowed" / "digits"
    assert resolve_folder(f"{tree}/allowed", [tree / "root"]) == tree / "allowed"  # an allowed link is resolved too
    with pytest.raises(FolderRefused, match=f"^There is no folder at {tree}/allowed/nothing.$"):
        resolve_folder(f"{tree}/allowed/nothing", allowed)  # inside, saying so gives nothing away


def test_a_served_app_reads_relative_paths_inside_the_allowed_folders_and_names_them_so(tree):
    allowed = [tree / "other", tree / "allowed"]
    assert resolve_folder("digits", allowed) == tree / "allowed" / "digits"  # in whichever allowed folder has it
    assert resolve_folder("link-in/sub/..", allowed) == tree / "allowed" / "digits"
    with pytest.raises(FolderRefused, match="^There is no folder at nothing.$"):
        resolve_folder("nothing", allowed)
    assert shown_folder(tree / "allowed" / "digits" / "sub", allowed) == "allowed/digits/sub"
    assert shown_folder(tree / "secret", None) == str(tree / "secret")  # a local app's own folders, whole


@pytest.mark.parametrize(
    "typed",
    [
        "{tree}/secret",
        "{tree}/allowed/../secret",
        "{tree}/allowed/digits/../../secret",
        "{tree}/allowed/link-out",
        "{tree}/allowed/link-out/..",
        "/",
        "~",
        "../secret",
    ],
)
def test_paths_leaving_the_allowed_folders_are_refused(tree, typed, monkeypatch):
    monkeypatch.chdir(tree)  # "secret" is relative to the server's working folder
    text = typed.format(tree=tree)
    with pytest.raises(FolderRefused) as err:
        resolve_folder(text, [tree / "allowed"])
    assert (
        str(err.value)
        == f"{text} is not open to training here: type a folder inside allowed/, relative to it (e.g. my_digits)."
    )


def test_the_refusal_is_the_same_whether_or_not_the_path_exists(tree):
    messages = []
    for typed in (f"{tree}/secret", f"{tree}/nothing-here", f"{tree}/allowed/link-out", f"{tree}/allowed/../x\0y"):
        with pytest.raises(FolderRefused) as err:
            resolve_folder(typed, [tree / "allowed", tree / "other"])
        messages.append(str(err.value).replace(typed, "TYPED"))
        assert "secret" not in str(err.value).replace(typed, "")  # where a link leads is never shown
    assert set(messages) == {
        "TYPED is not open to training here: type a folder inside allowed/ or other/, relative to it (e.g. my_digits)."
    }


def test_no_allowed_folder_refuses_every_path_and_none_allows_any(tree):
    with pytest.raises(FolderRefused, match="^Folders on the server are not open to training here: upload a zip"):
        resolve_folder(f"{tree}/allowed/digits", [])
    assert resolve_folder(f"{tree}/secret", None) == tree / "secret"  # a local app, as before
    with pytest.raises(FolderRefused, match=f"^There is no folder at {tree}/nothing.$"):
        resolve_folder(f"{tree}/nothing", None)
    with pytest.raises(FolderRefused, match="^Type the path"):
        resolve_folder("   ", None)


# --- run files -------------------------------------------------------------------------------


def test_who_may_replace_a_run_file(tmp_path):
    runs, shipped = tmp_path / "runs", tmp_path / "checkpoints"
    runs.mkdir(), shipped.mkdir()
    mine, theirs, starter, new = (
        runs / "mine.safetensors",
        runs / "theirs.safetensors",
        shipped / "vae.safetensors",
        runs / "new.safetensors",
    )
    for path in (mine, theirs, starter):
        path.write_bytes(b"model")
    served, local = rules_for("0.0.0.0", {}), rules_for("localhost", {})
    shared = rules_for("0.0.0.0", {"AELAB_SHARED_RUNS": "1"})
    created = {runs / "." / "mine.safetensors"}  # compared as real paths

    def problem(path: Path, chosen: Rules) -> str | None:
        return serving.replace_problem(path, created, chosen, shipped)

    for chosen in (served, shared, local):
        assert problem(new, chosen) is None and problem(mine, chosen) is None
        assert problem(starter, chosen) == (
            "vae is a model that ships with aelab and is never replaced: choose another name."
        )
    assert problem(theirs, served) == (
        "A model named theirs exists already, trained in another session: choose another name."
    )
    assert problem(theirs, shared) is None and problem(theirs, local) is None  # the page asks first, as before


# --- sessions --------------------------------------------------------------------------------


def test_the_oldest_uploads_go_first_when_a_session_holds_too_many_or_too_much():
    uploads = {f"u{i}": bytes(10 * i) for i in range(1, 6)}
    assert serving.evict_oldest(uploads, max_items=3) == ["u1", "u2"]
    assert list(uploads) == ["u3", "u4", "u5"]
    uploads["u6"] = bytes(30)

    def size(key: str) -> int:
        return len(uploads[key])

    assert serving.evict_oldest(uploads, 10, max_bytes=120, size=size) == ["u3"]  # 30 + 40 + 50 + 30 bytes
    assert list(uploads) == ["u4", "u5", "u6"]
    assert serving.evict_oldest(uploads, 10, max_bytes=120, size=size) == []
    assert serving.evict_oldest(uploads, 10, max_bytes=20, size=size) == ["u4", "u5", "u6"]  # even the newest


def test_an_owner_watch_expires_only_after_its_owner_is_silent_for_the_timeout():
    assert not OwnerWatch(None).expired()  # a local app: never
    watch = OwnerWatch(0.2)
    assert not watch.expired()
    time.sleep(0.25)
    assert watch.expired()
    watch.beat()
    assert not watch.expired()
    connected = [True]
    watch = OwnerWatch(0.2, alive=lambda: connected[0])
    time.sleep(0.25)
    assert not watch.expired()  # an open, idle tab keeps its run
    connected[0] = False
    assert not watch.expired()
    time.sleep(0.25)
    assert watch.expired()


def test_a_run_whose_owner_left_stops_itself(mnist_train, tmp_path):
    watch = OwnerWatch(0.5)
    cfg = TrainConfig(model=ModelConfig.for_model("vae"), dataset="mnist", epochs=500, batch_size=64, patience=0)
    start = time.perf_counter()
    result = train(cfg, mnist_train.subset(range(600)), tmp_path / "left.safetensors", should_stop=watch.expired)
    assert result.status == "stopped" and time.perf_counter() - start < 30
    assert result.path is not None and result.path.exists()  # what it learnt is kept
