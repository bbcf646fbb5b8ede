"""The one settings object: every AELAB_* variable, its table in docs/settings.md, and the tests' fixture."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from aelab import settings as aelab_settings
from aelab.settings import SHARED_DATA_DIR, Settings, current, read, variable

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
ROW = re.compile(r"^\| `(AELAB_\w+)` \| (.*) \| (.*) \|$")


def table_rows() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) of each field of Settings, in order: what docs/settings.md must list."""
    return [(variable(f.name), f.metadata["default"], f.metadata["meaning"]) for f in fields(Settings)]


def test_the_documented_table_lists_exactly_the_settings():
    documented = [match.groups() for line in DOC.read_text().splitlines() if (match := ROW.match(line))]
    assert documented == table_rows()


def test_every_variable_is_aelab_and_the_field_name():
    assert [variable(f.name) for f in fields(Settings)] == [f"AELAB_{f.name.upper()}" for f in fields(Settings)]
    with pytest.raises(KeyError):
        variable("no_such_setting")


def test_an_empty_environment_gives_the_defaults(tmp_path, monkeypatch):
    monkeypatch.setattr(aelab_settings, "SHARED_DATA_DIR", tmp_path / "absent")
    chosen = read({})
    assert chosen.data_dir == aelab_settings.DEFAULT_DATA_DIR
    assert chosen.cache_dir == Path.home() / ".cache" / "aelab"
    assert chosen.runs_dir == aelab_settings.SHIPPED_DIR.parent / "runs"
    assert chosen.checkpoints_dir == aelab_settings.SHIPPED_DIR
    assert chosen.entry_points == () and chosen.served is None and chosen.allowed_folders is None
    assert not chosen.shared_runs and chosen.session_timeout is None
    assert chosen.limits(False) == aelab_settings.LOCAL_LIMITS and chosen.limits(True) == aelab_settings.SERVED_LIMITS


def test_every_variable_is_read(tmp_path):
    env = {variable(name): str(tmp_path / name) for name in ("data_dir", "cache_dir", "runs_dir", "checkpoints_dir")}
    chosen = read({**env, "AELAB_ENTRY_POINTS": " a.b:c, ,/x/y.py:z ", "AELAB_SERVED": "on"})
    assert [chosen.data_dir, chosen.cache_dir, chosen.runs_dir, chosen.checkpoints_dir] == [
        tmp_path / name for name in ("data_dir", "cache_dir", "runs_dir", "checkpoints_dir")
    ]
    assert chosen.entry_points == ("a.b:c", "/x/y.py:z") and chosen.served is True
    assert read({"AELAB_DATA_DIR": "~/datasets"}).data_dir == Path.home() / "datasets"


def test_settings_are_read_once_and_the_fixture_sets_them_for_this_process_and_its_children(settings, tmp_path):
    before = current()
    assert current() is before  # read once
    with settings(runs_dir=tmp_path, served=True, allowed_folders=(tmp_path, tmp_path / "b"), data_dir=None):
        assert current().runs_dir == tmp_path and current().served is True
        assert current().allowed_folders == (tmp_path.resolve(), (tmp_path / "b").resolve())
        assert os.environ["AELAB_ALLOWED_FOLDERS"] == f"{tmp_path}{os.pathsep}{tmp_path / 'b'}"
        assert "AELAB_DATA_DIR" not in os.environ and current().data_dir in (
            SHARED_DATA_DIR,
            aelab_settings.DEFAULT_DATA_DIR,
        )
        child = subprocess.run(
            [sys.executable, "-c", "from aelab.settings import current; print(current().runs_dir)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert child == str(tmp_path)
    assert current() == before
