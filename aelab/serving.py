"""What the operator of a served aelab decides, and the rules that keep browser users apart.

`streamlit run app.py` bound to localhost is one person's app: any folder may be read and a run
replaced after confirmation, as always. Bound to any other address (Streamlit's default, all
interfaces, included), every browser is a user nobody vetted: the app is *served*, so folders
are read only inside the ones the operator allows, runs belong to the session that trained
them, loads and sessions are bounded, and training stops once its owner has gone. The operator's
choices are aelab.settings; `rules` applies them to this app's address. Streamlit-free: the pages
pass in what Streamlit knows (its address, a session's files) and act on the answers.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable, Collection, Hashable, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aelab.data.dataset import DatasetUnavailable
from aelab.settings import SERVED_SESSION_TIMEOUT, Limits, Settings, current

MAX_UPLOADS = 100  # uploaded images one session keeps
MAX_UPLOAD_BYTES = 32 * 2**20  # those images and their preprocessing steps together
MAX_SELECTIONS = 100  # entries in any per-session record of picks (chosen points, files seen by an uploader)

K = TypeVar("K", bound=Hashable)


class FolderRefused(DatasetUnavailable):
    """A typed folder this user may not read, or that is not there; the message is for that user."""


@dataclass(frozen=True)
class Rules:
    """What the operator's settings come to for this app, served or local: one value the pages read."""

    served: bool
    allowed_folders: tuple[Path, ...] | None  # resolved; None: any folder (a local app)
    shared_runs: bool
    session_timeout: float | None  # None: a run outlives its owner (a local app)
    limits: Limits
    private_folders: tuple[Path, ...] = ()  # where the server keeps things: data, runs, cache, checkpoints

    def public(self, text: str) -> str:
        """A message as this app's users may read it: served, each private or allowed folder (and what lies under
        it) is named by its own name, never by where the server keeps it; local, the message as it is."""
        if not self.served:
            return text
        folders = {form for folder in (*self.private_folders, *(self.allowed_folders or ())) for form in _forms(folder)}
        for folder in sorted(folders, key=lambda f: -len(str(f))):  # the longest first: a folder inside another
            text = text.replace(str(folder), folder.name or str(folder))
        return text


def is_local_address(address: str | None) -> bool:
    """Whether Streamlit's server.address lets only this machine in: localhost, 127.x or ::1.

    None or empty means every interface (Streamlit's default), a host name may be anything: neither is local.
    """
    text = (address or "").strip().strip("[]").lower()
    if text in ("localhost", "localhost."):
        return True
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def rules(address: str | None, chosen: Settings | None = None) -> Rules:
    """The rules for an app bound to `address` (st.get_option("server.address")) under `chosen` settings
    (this process's when not given). Served unless the address is local or AELAB_SERVED says otherwise;
    a served app opens only the data folder unless the operator names folders, and ends a run whose owner
    has gone."""
    chosen = chosen or current()
    served = not is_local_address(address) if chosen.served is None else chosen.served
    allowed = chosen.allowed_folders
    if allowed is None and served:
        allowed = (_real(chosen.data_dir),)
    timeout = chosen.session_timeout
    if timeout is None:
        timeout = SERVED_SESSION_TIMEOUT if served else 0.0
    private = (chosen.data_dir, chosen.runs_dir, chosen.cache_dir, chosen.checkpoints_dir)
    return Rules(served, allowed, chosen.shared_runs, timeout or None, chosen.limits(served), private)


# --- folders ------------------------------------------------------------------------------


def resolve_folder(text: str, allowed: Sequence[Path] | None, zips: bool = False, use: str = "training") -> Path:
    """The real folder (`~`, `..` and links resolved) a person typed, if they may read it; with `zips`, a
    zip file too. `use` is what the refusals say it is not open to.

    In a served app (`allowed` given) a relative path is read inside the allowed folders, which are named
    by their own names only: a browser user learns nothing of where they lie. Outside every allowed
    folder the refusal says the same whether or not the path exists, and never shows where a link led.
    The resolved path is what to load: a link changed after this check cannot lead elsewhere.
    """
    typed = text.strip()
    if not typed:
        raise FolderRefused("Type the path of a folder of images.")
    if allowed is None:
        real = _resolved(Path(os.path.expanduser(typed)))
    else:
        roots = [_real(root) for root in allowed]
        if not roots:
            raise FolderRefused(f"Folders on the server are not open to {use} here: upload a zip instead.")
        found = [_resolved(Path(os.path.expanduser(typed)))] if Path(typed).is_absolute() or typed[0] == "~" else []
        found += [_resolved(root / typed) for root in roots if not found]
        inside = [f for f in found if f is not None and any(f.is_relative_to(root) for root in roots)]
        real = next((f for f in inside if _readable(f, zips)), inside[0] if inside else None)
        if real is None:
            raise FolderRefused(
                f"{typed} is not open to {use} here: type a folder inside {folder_names(roots)}, "
                "relative to it (e.g. my_digits)."
            )
    if real is None or not _readable(real, zips):
        raise FolderRefused(f"There is no folder{' or zip' if zips else ''} at {typed}.")
    return real


def _readable(path: Path, zips: bool) -> bool:
    """A folder, or (with `zips`) a zip file."""
    return path.is_dir() or (zips and path.is_file() and path.suffix.lower() == ".zip")


def folder_names(allowed: Sequence[Path]) -> str:
    """The allowed folders as a served app names them: by their own names, never where they lie."""
    return " or ".join(f"{root.name or root}/" for root in allowed)


def shown_folder(folder: Path, allowed: Sequence[Path] | None) -> str:
    """A folder as messages name it: inside an allowed one, relative to it (under its name); a local app's whole."""
    for root in [_real(root) for root in allowed or ()]:
        if folder.is_relative_to(root):
            return str(Path(root.name or str(root), folder.relative_to(root)))
    return str(folder)


def _forms(folder: Path) -> tuple[Path, ...]:
    """A folder as a message may spell it: as given, absolute, and with its links resolved."""
    return (folder, folder.absolute(), _real(folder))


def _resolved(path: Path) -> Path | None:
    try:
        return _real(path)
    except (ValueError, OSError):  # a NUL byte, a path too long: no folder anybody has
        return None


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


# --- runs ---------------------------------------------------------------------------------


def replace_problem(path: Path, created_in_session: Collection[Path], settings: Rules, shipped_dir: Path) -> str | None:
    """Why this session may not write the run file `path`, or None when it may.

    A new file may always be written; one this session created may be replaced; a shipped model
    never; in a served app another's run only in shared-runs mode; in a local app, any (the page
    asks first, as before).
    """
    if not path.exists():
        return None
    real = _real(path)
    if real in {_real(p) for p in created_in_session}:
        return None
    if real.is_relative_to(_real(shipped_dir)):
        return f"{path.stem} is a model that ships with aelab and is never replaced: choose another name."
    if settings.served and not settings.shared_runs:
        return f"A model named {path.stem} exists already, trained in another session: choose another name."
    return None


# --- sessions -----------------------------------------------------------------------------


def evict_oldest(
    store: MutableMapping[K, Any], max_items: int, max_bytes: int | None = None, size: Callable[[K], int] | None = None
) -> list[K]:
    """Delete the oldest entries (a dict keeps insertion order) until at most `max_items` remain
    and, with `max_bytes`, their `size(key)` sum to at most that; return the deleted keys, oldest first.

    Call it after each addition, so a session holds a bounded amount however long it stays.
    """
    sizes = {key: size(key) for key in store} if max_bytes is not None and size is not None else {}
    total, dropped = sum(sizes.values()), []
    for key in list(store):
        if len(store) <= max_items and (max_bytes is None or total <= max_bytes):
            break
        total -= sizes.get(key, 0)
        del store[key]
        dropped.append(key)
    return dropped


class OwnerWatch:
    """Whether the session that started a run is still there: a run's should_stop uses `expired`.

    Its owner's page runs call `beat()`; `alive`, when given, asks the server whether the
    session is still connected (so an open but idle tab counts) and must not raise. The run
    should end once neither has been heard from for `timeout` seconds; None never expires.
    Beats come from the script thread and checks from the run's: a float is written whole.
    """

    def __init__(self, timeout: float | None, alive: Callable[[], bool] | None = None) -> None:
        self.timeout, self.alive = timeout, alive
        self.last = time.monotonic()

    def beat(self) -> None:
        self.last = time.monotonic()

    def expired(self) -> bool:
        if self.timeout is None:
            return False
        if self.alive is not None and self.alive():
            self.beat()
            return False
        return time.monotonic() - self.last > self.timeout
